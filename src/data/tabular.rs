//! Tables from CSV files and the datasets made from them: pick the label column, encode string labels as class
//! numbers, and standardise features with statistics from the training rows only.
//!
//! ```
//! use candlelit::data::{CsvDataset, StandardScaler, Table};
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let csv = "height,weight,kind\n1.0,10,cat\n2.0,20,dog\n3.0,30,dog\n4.0,40,cat\n5.0,50,dog\n";
//! let table = Table::from_csv_text(csv)?;
//! let data = CsvDataset::new(&table, "kind")?;           // features: every other column
//! assert_eq!(data.classes(), ["cat", "dog"]);             // labels encoded in sorted order
//! let (train, test) = data.train_test_split(0.4, 7)?;     // 3 rows and 2 rows
//! let scaler = StandardScaler::fit(&train)?;              // mean and std of the training rows only
//! let (train, test) = (train.scaled(&scaler)?, test.scaled(&scaler)?);
//! let (x, y) = train.get(0)?;                             // [2] f32 features, u32 label
//! assert_eq!((x.dims(), train.len(), test.len()), (&[2usize][..], 3, 2));
//! # let _ = y;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Result, Tensor, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::dataset::{Dataset, check_index};
use super::download::{RemoteFile, fetch};
use crate::random::PreludeRng;

/// A table of text cells with named columns, as read from a CSV file with a header row.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    categories: HashMap<String, Vec<String>>,
}

impl Table {
    /// A table from column names and rows of cells.
    ///
    /// # Errors
    /// When a row has a different number of cells than there are columns, or two columns share a name.
    pub fn new(columns: Vec<String>, rows: Vec<Vec<String>>) -> Result<Self> {
        for (i, name) in columns.iter().enumerate() {
            if columns[..i].contains(name) {
                bail!("the table has two columns called {name:?}")
            }
        }
        if let Some((r, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != columns.len()) {
            bail!("row {r} has {} cells but the table has {} columns", row.len(), columns.len())
        }
        Ok(Table { columns, rows, categories: HashMap::new() })
    }

    /// Reads a CSV file whose first line names the columns (gzipped when it ends in `.gz`).
    ///
    /// # Errors
    /// When the file cannot be read or is not well-formed CSV; the message gives the file and line.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let text = read_text(path)?;
        Table::from_csv_text(&text).map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))
    }

    /// Reads a CSV file without a header line, naming its columns `columns` (gzipped when it starts like gzip).
    ///
    /// # Errors
    /// When the file cannot be read, is not well-formed CSV, or a row does not have one cell per name.
    pub fn read_csv_with_columns(path: &Path, columns: &[&str]) -> Result<Self> {
        let text = read_text(path)?;
        let mut reader = csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for record in reader.records() {
            let record =
                record.map_err(csv_error).map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))?;
            rows.push(record.iter().map(str::to_string).collect());
        }
        Table::new(columns.iter().map(|c| (*c).to_string()).collect(), rows)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))
    }

    /// Parses CSV text whose first line names the columns.
    ///
    /// # Errors
    /// When the text is not well-formed CSV, or rows have different lengths (the message gives the line).
    pub fn from_csv_text(text: &str) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(text.as_bytes());
        let columns: Vec<String> = reader.headers().map_err(csv_error)?.iter().map(str::to_string).collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            rows.push(record.map_err(csv_error)?.iter().map(str::to_string).collect());
        }
        Table::new(columns, rows)
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row `index`'s cells.
    ///
    /// # Errors
    /// When `index` is past the end.
    pub fn row(&self, index: usize) -> Result<&[String]> {
        check_index(index, self.rows.len())?;
        Ok(&self.rows[index])
    }

    /// The position of column `name`.
    ///
    /// # Errors
    /// When there is no such column; the message lists the ones there are.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => Ok(i),
            None => bail!("there is no column {name:?}; the columns are {:?}", self.columns),
        }
    }

    /// Declares the classes of column `name` in label order (so `"malignant"` is 0 and `"benign"` 1, as the
    /// dataset's authors number them). Without it, [`CsvDataset`] numbers classes in sorted order.
    pub fn with_categories(mut self, name: &str, classes: &[&str]) -> Self {
        self.categories.insert(name.to_string(), classes.iter().map(|c| (*c).to_string()).collect());
        self
    }
}

fn csv_error(e: csv::Error) -> candle_core::Error {
    let place = e.position().map(|p| format!("line {}: ", p.line())).unwrap_or_default();
    candle_core::Error::Msg(format!("{place}malformed CSV: {e}"))
}

fn read_text(path: &Path) -> Result<String> {
    let raw =
        std::fs::read(path).map_err(|e| candle_core::Error::Msg(format!("cannot read {}: {e}", path.display())))?;
    let mut text = String::new();
    let outcome = if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_string(&mut text).map(|_| ())
    } else {
        String::from_utf8(raw).map(|t| text = t).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    };
    outcome.map_err(|e| candle_core::Error::Msg(format!("{} is not readable text ({e})", path.display())))?;
    Ok(text)
}

/// Rows of numeric features with a class label each; item `i` is `(features [F] f32, label u32)`.
#[derive(Clone, Debug)]
pub struct CsvDataset {
    features: Arc<[f32]>,
    labels: Arc<[u32]>,
    feature_names: Arc<[String]>,
    classes: Arc<[String]>,
}

impl CsvDataset {
    /// Every column but `label` as features.
    ///
    /// # Errors
    /// When there is no such column, or a feature cell is not a number (the message gives row and column).
    pub fn new(table: &Table, label: &str) -> Result<Self> {
        let features: Vec<&str> = table.columns.iter().map(String::as_str).filter(|c| *c != label).collect();
        CsvDataset::with_features(table, &features, label)
    }

    /// The given feature columns, in that order, and the `label` column.
    ///
    /// # Errors
    /// When a column does not exist or a feature cell is not a number.
    pub fn with_features(table: &Table, features: &[&str], label: &str) -> Result<Self> {
        let label_at = table.column_index(label)?;
        let feature_at: Vec<usize> = features.iter().map(|f| table.column_index(f)).collect::<Result<_>>()?;
        if feature_at.contains(&label_at) {
            bail!("column {label:?} is the label; it cannot also be a feature")
        }
        let mut values = Vec::with_capacity(table.len() * features.len());
        for (r, row) in table.rows.iter().enumerate() {
            for (&c, name) in feature_at.iter().zip(features) {
                let cell = &row[c];
                let value: f32 = cell.parse().map_err(|_| {
                    candle_core::Error::Msg(format!(
                        "row {r}, column {name:?}: {cell:?} is not a number; pick numeric feature columns with \
                         CsvDataset::with_features"
                    ))
                })?;
                values.push(value);
            }
        }
        let classes: Vec<String> = match table.categories.get(label) {
            Some(known) => known.clone(),
            None => {
                let mut seen: Vec<String> = table.rows.iter().map(|row| row[label_at].clone()).collect();
                seen.sort_by(|a, b| natural_order(a, b));
                seen.dedup();
                seen
            }
        };
        let index: HashMap<&str, u32> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
        let mut labels = Vec::with_capacity(table.len());
        for (r, row) in table.rows.iter().enumerate() {
            match index.get(row[label_at].as_str()) {
                Some(&k) => labels.push(k),
                None => bail!("row {r}: label {:?} is not one of the classes {classes:?}", row[label_at]),
            }
        }
        Ok(CsvDataset {
            features: values.into(),
            labels: labels.into(),
            feature_names: features.iter().map(|f| (*f).to_string()).collect(),
            classes: classes.into(),
        })
    }

    /// The feature column names, in order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The class names, in label order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Features per row.
    pub fn num_features(&self) -> usize {
        self.feature_names.len()
    }

    /// Every label, in order.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Row `index`'s features.
    ///
    /// # Errors
    /// When `index` is past the end.
    pub fn row(&self, index: usize) -> Result<&[f32]> {
        check_index(index, self.labels.len())?;
        let f = self.num_features();
        Ok(&self.features[index * f..(index + 1) * f])
    }

    /// All features as one `f32` tensor `[N, F]`.
    ///
    /// # Errors
    /// When the tensor cannot be made on `device`.
    pub fn features_tensor(&self, device: &Device) -> Result<Tensor> {
        Tensor::from_slice(&self.features, (self.labels.len(), self.num_features()), device)
    }

    /// All labels as a `u32` tensor `[N]`.
    ///
    /// # Errors
    /// When the tensor cannot be made on `device`.
    pub fn labels_tensor(&self, device: &Device) -> Result<Tensor> {
        Tensor::from_slice(&self.labels, self.labels.len(), device)
    }

    /// The rows at `indices`, in that order.
    ///
    /// # Errors
    /// When an index is past the end.
    pub fn select(&self, indices: &[usize]) -> Result<CsvDataset> {
        let mut features = Vec::with_capacity(indices.len() * self.num_features());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            features.extend_from_slice(self.row(i)?);
            labels.push(self.labels[i]);
        }
        Ok(CsvDataset { features: features.into(), labels: labels.into(), ..self.clone() })
    }

    /// Shuffles the rows with `seed` and splits off `test_fraction` of them as a test set (scikit-learn's
    /// `train_test_split`, test size rounded up).
    ///
    /// # Errors
    /// When `test_fraction` is not between 0 and 1.
    pub fn train_test_split(&self, test_fraction: f64, seed: u64) -> Result<(CsvDataset, CsvDataset)> {
        if !(0.0..=1.0).contains(&test_fraction) {
            bail!("test_fraction must be between 0 and 1, got {test_fraction}")
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut PreludeRng::seed_from_u64(seed));
        let test = (test_fraction * self.len() as f64).ceil() as usize;
        Ok((self.select(&order[test..])?, self.select(&order[..test])?))
    }

    /// Every feature standardised with `scaler`'s statistics.
    ///
    /// # Errors
    /// When the scaler was fitted on a different number of features.
    pub fn scaled(&self, scaler: &StandardScaler) -> Result<CsvDataset> {
        if scaler.mean.len() != self.num_features() {
            bail!("the scaler was fitted on {} features, this dataset has {}", scaler.mean.len(), self.num_features())
        }
        let f = self.num_features();
        let features: Vec<f32> =
            self.features.iter().enumerate().map(|(k, &v)| (v - scaler.mean[k % f]) / scaler.std[k % f]).collect();
        Ok(CsvDataset { features: features.into(), ..self.clone() })
    }
}

/// Numbers in numeric order, other text alphabetically (so labels "2" < "10").
fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

impl Dataset for CsvDataset {
    type Item = (Tensor, u32);
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn get(&self, index: usize) -> Result<(Tensor, u32)> {
        Ok((Tensor::from_slice(self.row(index)?, self.num_features(), &Device::Cpu)?, self.labels[index]))
    }
}

/// Per-feature mean and standard deviation, to standardise features to mean 0 and std 1 (scikit-learn's
/// `StandardScaler`). Fit it on the training rows only, then scale every split with it — fitting on the test rows
/// would leak them into training.
#[derive(Clone, Debug, PartialEq)]
pub struct StandardScaler {
    /// The mean of each feature over the rows it was fitted on.
    pub mean: Vec<f32>,
    /// The standard deviation (population, like scikit-learn) of each feature; 1 where a feature is constant.
    pub std: Vec<f32>,
}

impl StandardScaler {
    /// The statistics of `data`'s features.
    ///
    /// # Errors
    /// When `data` has no rows.
    pub fn fit(data: &CsvDataset) -> Result<Self> {
        let (n, f) = (data.len(), data.num_features());
        if n == 0 {
            bail!("cannot fit a scaler on a dataset with no rows")
        }
        let mut mean = vec![0f64; f];
        for (k, &v) in data.features.iter().enumerate() {
            mean[k % f] += f64::from(v);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut var = vec![0f64; f];
        for (k, &v) in data.features.iter().enumerate() {
            var[k % f] += (f64::from(v) - mean[k % f]).powi(2);
        }
        let std = var.iter().map(|v| (v / n as f64).sqrt()).map(|s| if s > 1e-12 { s as f32 } else { 1.0 }).collect();
        Ok(StandardScaler { mean: mean.into_iter().map(|m| m as f32).collect(), std })
    }
}

const SKLEARN_HOSTS: &[&str] =
    &["https://raw.githubusercontent.com/scikit-learn/scikit-learn/main/sklearn/datasets/data/"];

/// scikit-learn's copy of the breast cancer table (Wisconsin Diagnostic): 569 rows, 30 features, target
/// 0 = malignant, 1 = benign. Embedded in the crate under CC BY 4.0, with its notice in
/// `src/data/embedded/README.md`, so the lessons that use it need no download.
pub const BREAST_CANCER_CSV: &str = include_str!("embedded/breast_cancer.csv");

/// scikit-learn's iris table: 150 rows, 4 features, 3 species.
pub const IRIS_FILE: RemoteFile = RemoteFile {
    folder: "sklearn",
    name: "iris.csv",
    hosts: SKLEARN_HOSTS,
    sha256: "f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449",
    size: 2_734,
};

/// The names of the breast cancer table's 30 features: mean, standard error and worst of ten measurements.
pub fn breast_cancer_feature_names() -> Vec<String> {
    let measures = [
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    ];
    let mut names: Vec<String> = measures.iter().map(|m| format!("mean {m}")).collect();
    names.extend(measures.iter().map(|m| format!("{m} error")));
    names.extend(measures.iter().map(|m| format!("worst {m}")));
    names
}

/// Reads a table in scikit-learn's bundled format: a first line `ROWS,FEATURES,CLASS0,CLASS1,...`, then rows of
/// features and an integer target. The target column is called `"target"` and holds the class names.
///
/// # Errors
/// When the file does not follow that format; the message gives the line.
pub fn read_sklearn_table(path: &Path, feature_names: &[String]) -> Result<Table> {
    parse_sklearn_table(&read_text(path)?, &path.display().to_string(), feature_names)
}

/// [`read_sklearn_table`] on text in memory; `source` names it in error messages.
fn parse_sklearn_table(text: &str, source: &str, feature_names: &[String]) -> Result<Table> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let (Some(rows), Some(features)) =
        (header.first().and_then(|v| v.parse::<usize>().ok()), header.get(1).and_then(|v| v.parse::<usize>().ok()))
    else {
        bail!("{source}: line 1 should be ROWS,FEATURES,CLASS NAMES..., got {:?}", header.join(","))
    };
    let classes: Vec<&str> = header[2..].to_vec();
    if feature_names.len() != features {
        bail!("{source}: the file has {features} features but {} names were given", feature_names.len())
    }
    let mut table_rows = Vec::with_capacity(rows);
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let mut cells: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
        let target = cells.pop().and_then(|t| t.parse::<usize>().ok()).and_then(|t| classes.get(t));
        match target {
            Some(class) if cells.len() == features => {
                cells.push((*class).to_string());
                table_rows.push(cells);
            }
            _ => bail!("{source} line {}: expected {features} features and a target below {}", n + 2, classes.len()),
        }
    }
    if table_rows.len() != rows {
        bail!("{source}: line 1 promises {rows} rows but the file has {}", table_rows.len())
    }
    let mut columns = feature_names.to_vec();
    columns.push("target".to_string());
    Ok(Table::new(columns, table_rows)?.with_categories("target", &classes))
}

/// The breast cancer table: 569 rows, 30 named features and `"target"` (malignant or benign). It is embedded in
/// candlelit ([`BREAST_CANCER_CSV`]), so this works offline and never downloads anything.
///
/// ```
/// use candlelit::prelude::*;
/// let table = breast_cancer()?;
/// assert_eq!((table.len(), table.columns().len()), (569, 31));
/// assert_eq!(table.columns()[30], "target");
/// # Ok::<(), candlelit::prelude::Error>(())
/// ```
///
/// # Errors
/// Only if the embedded copy were damaged; it is checked by the tests.
pub fn breast_cancer() -> Result<Table> {
    parse_sklearn_table(BREAST_CANCER_CSV, "the embedded breast cancer table", &breast_cancer_feature_names())
}

/// The iris table (downloaded once): 150 rows, 4 features in cm and `"target"` (setosa, versicolor, virginica).
///
/// # Errors
/// When the file cannot be fetched or read.
pub fn iris() -> Result<Table> {
    let names: Vec<String> =
        ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"].map(String::from).to_vec();
    read_sklearn_table(&fetch(&IRIS_FILE)?, &names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_cells_name_their_row_and_column() {
        let table = Table::from_csv_text("a,b,y\n1,2,x\n3,oops,z\n").expect("table");
        let err = CsvDataset::new(&table, "y").expect_err("not a number").to_string();
        assert!(err.contains("row 1, column \"b\": \"oops\" is not a number"), "{err}");
        assert!(CsvDataset::new(&table, "label").expect_err("no column").to_string().contains("[\"a\", \"b\", \"y\"]"));
        assert!(Table::from_csv_text("a,b\n1,2\n3\n").expect_err("short row").to_string().contains("line 3"));
    }

    #[test]
    fn scaling_uses_the_fitted_statistics() {
        let table = Table::from_csv_text("x,y\n1,a\n3,b\n100,a\n").expect("table");
        let data = CsvDataset::new(&table, "y").expect("data");
        let scaler = StandardScaler::fit(&data.select(&[0, 1]).expect("train")).expect("fit");
        assert_eq!((scaler.mean.clone(), scaler.std.clone()), (vec![2.0], vec![1.0]));
        let scaled = data.scaled(&scaler).expect("scaled");
        assert_eq!(scaled.row(2).expect("row"), [98.0]);
        assert_eq!(natural_order("2", "10"), std::cmp::Ordering::Less);
    }
}
