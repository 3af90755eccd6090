//! The real dataset files in `../shared/data`, read through candlelit's IDX and CSV code: counts, shapes, label
//! ranges, first labels, one image's pixels, and the published md5 of every IDX file.

mod common;

use candlelit::data::idx::read_idx_file;
use candlelit::data::tabular::{breast_cancer_feature_names, read_sklearn_table};
use candlelit::data::vision::{FASHION_MNIST_CLASSES, MNIST_CLASSES, read_idx_images};
use candlelit::data::{CsvDataset, Dataset, StandardScaler};
use candlelit::prelude::{DType, Device};
use common::shared_data;
use md5::{Digest, Md5};

fn md5_hex(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_idx_file_has_its_published_md5() {
    let root = shared_data();
    for (file, md5) in [
        ("mnist/t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("mnist/t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ("mnist/train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("fashion-mnist/t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ("fashion-mnist/train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ] {
        assert_eq!(md5_hex(&root.join(file)), md5, "{file}");
    }
}

#[test]
fn label_files_have_their_counts_ranges_and_first_labels() {
    let root = shared_data();
    for (file, count, first) in [
        ("mnist/t10k-labels-idx1-ubyte.gz", 10_000, [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
        ("mnist/train-labels-idx1-ubyte.gz", 60_000, [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
        ("fashion-mnist/t10k-labels-idx1-ubyte.gz", 10_000, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]),
        ("fashion-mnist/train-labels-idx1-ubyte.gz", 60_000, [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]),
    ] {
        let idx = read_idx_file(&root.join(file)).expect(file);
        assert_eq!(idx.dims, [count], "{file}");
        let labels = idx.into_u8().expect("u8 labels");
        assert_eq!(labels[..10], first, "{file}");
        let mut per_class = [0usize; 10];
        for &l in &labels {
            per_class[usize::from(l)] += 1; // panics on a label above 9
        }
        assert!(per_class.iter().all(|&n| n > 0), "{file}: every class appears: {per_class:?}");
        if file.starts_with("fashion") {
            assert!(per_class.iter().all(|&n| n == count / 10), "Fashion-MNIST is balanced: {per_class:?}");
        }
    }
}

#[test]
fn the_mnist_test_images_load_with_their_labels_and_pixels() {
    let root = shared_data();
    let ds = read_idx_images(
        "MNIST test",
        &root.join("mnist/t10k-images-idx3-ubyte.gz"),
        &root.join("mnist/t10k-labels-idx1-ubyte.gz"),
        &MNIST_CLASSES,
    )
    .expect("MNIST test set");
    assert_eq!((ds.len(), ds.image_size()), (10_000, (28, 28)));
    let pixels = ds.pixels(0).expect("image 0");
    assert_eq!(pixels.iter().map(|&p| u32::from(p)).sum::<u32>(), 18_454, "pixel sum of image 0");
    assert_eq!(pixels.iter().filter(|&&p| p > 0).count(), 116, "ink pixels of image 0");
    assert_eq!(*pixels.iter().max().expect("max"), 255);
    let (image, label) = ds.get(0).expect("item 0");
    assert_eq!((image.dims(), image.dtype(), label), (&[1usize, 28, 28][..], DType::U8, 7));
    let all = ds.images_tensor(&Device::Cpu).expect("all images");
    assert_eq!(all.dims(), [10_000, 1, 28, 28]);
    assert_eq!(ds.classes()[7], "7 - seven");
    // Labels from another file of another length do not pair up with these images.
    let err = read_idx_images(
        "mixed",
        &root.join("mnist/t10k-images-idx3-ubyte.gz"),
        &root.join("mnist/train-labels-idx1-ubyte.gz"),
        &MNIST_CLASSES,
    )
    .expect_err("mismatched files")
    .to_string();
    assert!(err.contains("do not belong together"), "{err}");
    assert_eq!(FASHION_MNIST_CLASSES[9], "Ankle boot");
}

#[test]
fn the_embedded_breast_cancer_table_is_the_real_file_byte_for_byte() {
    let real = std::fs::read(shared_data().join("sklearn/breast_cancer.csv")).expect("the real file");
    assert_eq!(candlelit::data::tabular::BREAST_CANCER_CSV.as_bytes(), real.as_slice());
    let embedded = candlelit::data::breast_cancer().expect("embedded table");
    let from_file =
        read_sklearn_table(&shared_data().join("sklearn/breast_cancer.csv"), &breast_cancer_feature_names())
            .expect("breast cancer");
    assert_eq!(embedded.len(), from_file.len());
    assert_eq!(embedded.row(568).expect("last row"), from_file.row(568).expect("last row"));
}

#[test]
fn the_breast_cancer_table_has_569_rows_of_30_features() {
    let table = read_sklearn_table(&shared_data().join("sklearn/breast_cancer.csv"), &breast_cancer_feature_names())
        .expect("breast cancer");
    assert_eq!((table.len(), table.columns().len()), (569, 31));
    assert_eq!(table.columns()[0], "mean radius");
    assert_eq!(table.row(0).expect("row 0")[0], "17.99");
    let data = CsvDataset::new(&table, "target").expect("dataset");
    assert_eq!(data.classes(), ["malignant", "benign"], "the authors' numbering: 0 malignant, 1 benign");
    assert_eq!(data.labels().iter().filter(|&&l| l == 0).count(), 212, "212 malignant, 357 benign");
    let (train, test) = data.train_test_split(0.2, 0).expect("split");
    assert_eq!((train.len(), test.len()), (455, 114));
    let scaler = StandardScaler::fit(&train).expect("fit");
    let scaled = train.scaled(&scaler).expect("scale");
    let x = scaled.features_tensor(&Device::Cpu).expect("features");
    let means = x.mean(0).expect("means").to_vec1::<f32>().expect("values");
    assert!(means.iter().all(|m| m.abs() < 1e-4), "training features have mean 0 after scaling: {means:?}");
    let test_means = test.scaled(&scaler).expect("scale").features_tensor(&Device::Cpu).expect("x").mean(0).expect("m");
    let off = test_means.to_vec1::<f32>().expect("values").iter().map(|m| m.abs()).fold(0f32, f32::max);
    assert!(off > 1e-3, "the test rows are scaled with the training statistics, so their means are not exactly 0");
}

#[test]
fn the_iris_and_digits_tables_load() {
    let root = shared_data();
    let names: Vec<String> = (0..4).map(|i| format!("f{i}")).collect();
    let iris = read_sklearn_table(&root.join("sklearn/iris.csv"), &names).expect("iris");
    let data = CsvDataset::new(&iris, "target").expect("dataset");
    assert_eq!((data.len(), data.classes().len()), (150, 3));
    assert_eq!(data.classes()[0], "setosa");
    // digits.csv.gz is gzipped and has no header line: 64 pixel columns (0-16) and the digit.
    let mut columns: Vec<String> = (0..64).map(|i| format!("pixel{i}")).collect();
    columns.push("digit".into());
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let digits = candlelit::data::Table::read_csv_with_columns(&root.join("sklearn/digits.csv.gz"), &names)
        .expect("gzipped CSV");
    let data = CsvDataset::new(&digits, "digit").expect("dataset");
    assert_eq!((data.len(), data.num_features()), (1_797, 64));
    assert_eq!(data.classes(), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let (x, _) = data.get(0).expect("row 0");
    assert!(x.max(0).expect("max").to_scalar::<f32>().expect("value") <= 16.0);
    let err = candlelit::data::Table::read_csv_with_columns(&root.join("sklearn/digits.csv.gz"), &names[..10]);
    assert!(err.expect_err("wrong count").to_string().contains("has 65 cells but the table has 10 columns"));
}
