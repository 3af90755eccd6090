//! Figures for lessons, drawn with plotters: build a [`Figure`], and it shows itself inline in a notebook.
//!
//! | kind | start with | PyTorch-world equivalent |
//! | --- | --- | --- |
//! | lines (several series, legend, log scale) | [`Figure::new`] + [`line`](Figure::line) | `plt.plot` |
//! | scatter, coloured by class, with decision regions | [`scatter_classes`](Figure::scatter_classes), [`regions`](Figure::regions) | `plt.scatter(c=y)` |
//! | histogram | [`Figure::histogram`] | `plt.hist` |
//! | bar chart | [`Figure::bar`] | `plt.bar` |
//! | grid of images with captions | [`Figure::images`] | `torchvision.utils.make_grid` |
//! | confusion-matrix heat map | [`Figure::confusion`] | `ConfusionMatrixDisplay` |
//! | a function and its derivative | [`plot_fn`] | — |
//!
//! A figure renders to SVG ([`Figure::to_svg`], the default inline form) or PNG ([`Figure::to_png`]), and
//! [`Figure::save`] writes either by the file's extension. Text uses fonts compiled into candlelit, so it renders
//! on machines with no system fonts at all.
//!
//! Building never fails: a problem with the data (say a 3-d tensor given as scatter points) is kept and reported
//! when the figure is rendered, shown or saved, so builder calls chain without `?`.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let fig = Figure::new()
//!     .title("Training")
//!     .xlabel("epoch")
//!     .ylabel("loss")
//!     .log_y()
//!     .line("train", &[2.3f32, 0.9, 0.5, 0.4])
//!     .line("validation", &[2.4f32, 1.1, 0.7, 0.65]);
//! let svg = fig.to_svg()?;
//! assert!(svg.contains("validation"));
//! # Ok(()) }
//! ```

mod bars;
mod confusion;
mod frame;
mod images;
mod render;
mod style;
mod values;
mod xy;

use std::ops::Range;

use candle_core::{DType, Device, Result, Tensor, Var};

pub use style::{PALETTE, color, tick};
pub use values::{IntoValues, Number};

/// A figure being described; it draws itself only when rendered, shown or saved.
#[derive(Debug, Clone)]
pub struct Figure {
    title: Option<String>,
    x_label: Option<String>,
    y_label: Option<String>,
    size: Option<(u32, u32)>,
    log_x: bool,
    log_y: bool,
    class_names: Vec<String>,
    content: Content,
    problem: Option<String>,
}

#[derive(Debug, Clone)]
enum Content {
    Xy { series: Vec<Series>, regions: Option<xy::Regions> },
    Histogram { values: Vec<f64>, bins: usize },
    Bar { labels: Vec<String>, values: Vec<f64> },
    Images(images::ImageGrid),
    Confusion { counts: Vec<Vec<f64>> },
}

#[derive(Debug, Clone)]
struct Series {
    name: String,
    xs: Vec<f64>,
    ys: Vec<f64>,
    points: bool,
    color: usize,
}

impl Default for Figure {
    fn default() -> Self {
        Self::new()
    }
}

impl Figure {
    /// An empty line/scatter figure; add series with [`line`](Self::line), [`scatter`](Self::scatter) and friends.
    pub fn new() -> Self {
        Self::with_content(Content::Xy { series: Vec::new(), regions: None })
    }

    fn with_content(content: Content) -> Self {
        Self {
            title: None,
            x_label: None,
            y_label: None,
            size: None,
            log_x: false,
            log_y: false,
            class_names: Vec::new(),
            content,
            problem: None,
        }
    }

    /// A histogram of `values` in `bins` equal-width bins, like `plt.hist(values, bins)`.
    pub fn histogram(values: impl IntoValues, bins: usize) -> Self {
        let mut fig = Self::with_content(Content::Histogram { values: Vec::new(), bins: bins.max(1) });
        if let Some(v) = fig.take(values.into_values()) {
            fig.content = Content::Histogram { values: v, bins: bins.max(1) };
        }
        fig.y_label = Some("count".to_string());
        fig
    }

    /// A bar chart: one bar per label, like `plt.bar(labels, values)`.
    pub fn bar<L: ToString>(labels: impl IntoIterator<Item = L>, values: impl IntoValues) -> Self {
        let labels: Vec<String> = labels.into_iter().map(|l| l.to_string()).collect();
        let mut fig = Self::with_content(Content::Bar { labels: Vec::new(), values: Vec::new() });
        if let Some(v) = fig.take(values.into_values()) {
            if v.len() != labels.len() {
                fig.fail(format!(
                    "bar chart: {} labels but {} values; give one value per label",
                    labels.len(),
                    v.len()
                ));
            } else {
                fig.content = Content::Bar { labels, values: v };
            }
        }
        fig
    }

    /// A grid of images from a `(N, H, W)` or `(N, C, H, W)` tensor (C = 1 or 3), or one `(H, W)` image.
    ///
    /// `u8` values are used as they are; float images in `[0, 1]` are scaled to 0–255, other float images are
    /// stretched from their own minimum to maximum (like `make_grid(normalize=True)`). Add captions with
    /// [`captions`](Self::captions) and choose the width with [`columns`](Self::columns).
    pub fn images(images: &Tensor) -> Self {
        let mut fig = Self::with_content(Content::Images(images::ImageGrid::default()));
        if let Some(grid) = fig.take(images::ImageGrid::from_tensor(images)) {
            fig.content = Content::Images(grid);
        }
        fig
    }

    /// A confusion matrix as a heat map: `counts[i][j]` is how often true class `i` was predicted as `j`.
    ///
    /// Accepts a `(C, C)` tensor (any dtype) or anything with [`IntoValues`] holding C×C numbers row by row.
    /// Name the classes with [`class_names`](Self::class_names).
    pub fn confusion(counts: impl IntoValues) -> Self {
        let mut fig = Self::with_content(Content::Confusion { counts: Vec::new() });
        fig.x_label = Some("predicted".to_string());
        fig.y_label = Some("true".to_string());
        if let Some(v) = fig.take(counts.into_values()) {
            let c = (v.len() as f64).sqrt().round() as usize;
            if c * c != v.len() || c == 0 {
                fig.fail(format!("confusion matrix: {} numbers do not make a square C×C matrix", v.len()));
            } else {
                fig.content = Content::Confusion { counts: v.chunks(c).map(<[f64]>::to_vec).collect() };
            }
        }
        fig
    }

    /// The title above the plot.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The label of the horizontal axis.
    pub fn xlabel(mut self, label: impl Into<String>) -> Self {
        self.x_label = Some(label.into());
        self
    }

    /// The label of the vertical axis.
    pub fn ylabel(mut self, label: impl Into<String>) -> Self {
        self.y_label = Some(label.into());
        self
    }

    /// The size in pixels (default 640×420 for plots; image grids size themselves).
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = Some((width.max(64), height.max(64)));
        self
    }

    /// A logarithmic horizontal axis (every x must be positive).
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    /// A logarithmic vertical axis (every y must be positive) — the usual way to look at a loss curve.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Names for classes, used by [`scatter_classes`](Self::scatter_classes) and [`confusion`](Self::confusion).
    pub fn class_names<L: ToString>(mut self, names: impl IntoIterator<Item = L>) -> Self {
        self.class_names = names.into_iter().map(|n| n.to_string()).collect();
        self
    }

    /// A line through `ys` at x = 0, 1, 2, …, named `name` in the legend.
    pub fn line(self, name: &str, ys: impl IntoValues) -> Self {
        self.add_series(name, None::<Vec<f64>>, ys, false)
    }

    /// A line through the points (`xs[i]`, `ys[i]`).
    pub fn line_xy(self, name: &str, xs: impl IntoValues, ys: impl IntoValues) -> Self {
        self.add_series(name, Some(xs), ys, false)
    }

    /// Points at (`xs[i]`, `ys[i]`), in one colour.
    pub fn scatter(self, name: &str, xs: impl IntoValues, ys: impl IntoValues) -> Self {
        self.add_series(name, Some(xs), ys, true)
    }

    /// A line through (`xs[i]`, `ys[i]`) in palette colour `color`, for figures that draw many lines in a few
    /// colours (an empty `name` keeps it out of the legend).
    pub(crate) fn line_in_color(self, name: &str, xs: Vec<f64>, ys: Vec<f64>, color: usize) -> Self {
        if xs.len() != ys.len() {
            return self.failed(format!("series `{name}`: {} x values but {} y values", xs.len(), ys.len()));
        }
        self.push_series(Series { name: name.to_string(), xs, ys, points: false, color })
    }

    /// Points from an `(N, 2)` tensor, coloured by their class in `labels` (N integers): one legend entry per
    /// class. Combine with [`regions`](Self::regions) to show a classifier's decision boundary.
    pub fn scatter_classes(mut self, points: &Tensor, labels: &Tensor) -> Self {
        let Some((xs, ys)) = self.take(xy::columns(points)) else { return self };
        let Some(classes) = self.take(labels.into_values()) else { return self };
        if classes.len() != xs.len() {
            return self.failed(format!("scatter_classes: {} points but {} labels", xs.len(), classes.len()));
        }
        let max_class = classes.iter().fold(0f64, |m, &c| m.max(c)) as usize;
        for class in 0..=max_class {
            let picked: Vec<usize> = (0..xs.len()).filter(|&i| classes[i] as usize == class).collect();
            if picked.is_empty() {
                continue;
            }
            let name = self.class_name(class);
            let (cx, cy): (Vec<f64>, Vec<f64>) = picked.iter().map(|&i| (xs[i], ys[i])).unzip();
            self = self.push_series(Series { name, xs: cx, ys: cy, points: true, color: class });
        }
        self
    }

    /// Colours the background by the class `classify` predicts, to show a decision boundary.
    ///
    /// `classify` gets an `(M, 2)` f32 tensor of grid points covering the points plotted so far and returns
    /// either class numbers `(M,)` or scores `(M, C)` (the class is the largest score). `resolution` points are
    /// used along each axis.
    pub fn regions<F>(mut self, classify: F, resolution: usize) -> Self
    where
        F: Fn(&Tensor) -> Result<Tensor>,
    {
        let Content::Xy { series, .. } = &self.content else {
            return self.failed("regions() draws behind scatter points; add them to a Figure::new() first".into());
        };
        if let Some(regions) = self.take(xy::Regions::compute(series, &classify, resolution.clamp(2, 400)))
            && let Content::Xy { regions: slot, .. } = &mut self.content
        {
            *slot = Some(regions);
        }
        self
    }

    /// Image captions, one per image; for a grid of class predictions, `captions(labels.iter())` is handy.
    pub fn captions<L: ToString>(mut self, captions: impl IntoIterator<Item = L>) -> Self {
        if let Content::Images(grid) = &mut self.content {
            grid.captions = captions.into_iter().map(|c| c.to_string()).collect();
        } else {
            self.fail("captions() applies to Figure::images(..)".into());
        }
        self
    }

    /// How many images per row (default: up to 8).
    pub fn columns(mut self, columns: usize) -> Self {
        if let Content::Images(grid) = &mut self.content {
            grid.columns = Some(columns.max(1));
        } else {
            self.fail("columns() applies to Figure::images(..)".into());
        }
        self
    }

    fn add_series(mut self, name: &str, xs: Option<impl IntoValues>, ys: impl IntoValues, points: bool) -> Self {
        let Some(ys) = self.take(ys.into_values()) else { return self };
        let xs = match xs {
            Some(xs) => match self.take(xs.into_values()) {
                Some(xs) => xs,
                None => return self,
            },
            None => (0..ys.len()).map(|i| i as f64).collect(),
        };
        if xs.len() != ys.len() {
            return self.failed(format!("series `{name}`: {} x values but {} y values", xs.len(), ys.len()));
        }
        let color = match &self.content {
            Content::Xy { series, .. } => series.len(),
            _ => 0,
        };
        self.push_series(Series { name: name.to_string(), xs, ys, points, color })
    }

    fn push_series(mut self, s: Series) -> Self {
        match &mut self.content {
            Content::Xy { series, .. } => series.push(s),
            _ => self.fail(format!("series `{}` can only be added to a line/scatter figure (Figure::new())", s.name)),
        }
        self
    }

    fn class_name(&self, class: usize) -> String {
        self.class_names.get(class).cloned().unwrap_or_else(|| format!("class {class}"))
    }

    /// Keeps the first problem met while building; it is reported when the figure is rendered.
    fn fail(&mut self, problem: String) {
        self.problem.get_or_insert(problem);
    }

    pub(crate) fn failed(mut self, problem: String) -> Self {
        self.fail(problem);
        self
    }

    fn take<T>(&mut self, result: Result<T>) -> Option<T> {
        result.map_err(|e| self.fail(crate::hints::message(&e))).ok()
    }
}

/// A function and its derivative on `range`, the derivative computed by autograd: `plot_fn(|x| x.tanh(), -3.0..3.0)`.
///
/// `f` must work element by element (each output depends only on the input at the same position), as activation
/// functions do; the derivative shown is then d f(x) / dx at each point.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let svg = plot_fn(|x| x.sqr(), -2.0..2.0).to_svg()?;
/// assert!(svg.contains("f&apos;(x)")); // f'(x), escaped in SVG text
/// # Ok(()) }
/// ```
pub fn plot_fn<F>(f: F, range: Range<f64>) -> Figure
where
    F: Fn(&Tensor) -> Result<Tensor>,
{
    const POINTS: usize = 201;
    let fig = Figure::new().xlabel("x");
    let xs: Vec<f64> =
        (0..POINTS).map(|i| range.start + (range.end - range.start) * i as f64 / (POINTS - 1) as f64).collect();
    let curves = || -> Result<(Vec<f64>, Vec<f64>)> {
        let x = Var::from_tensor(&Tensor::new(xs.as_slice(), &Device::Cpu)?.to_dtype(DType::F32)?)?;
        let y = f(x.as_tensor())?;
        if y.dims() != x.dims() {
            candle_core::bail!(
                "plot_fn: f(x) has shape {:?} but x has {:?}; f must work element by element",
                y.dims(),
                x.dims()
            );
        }
        let grads = y.sum_all()?.backward()?;
        let dy = match grads.get(&x) {
            Some(g) => g.into_values()?,
            None => vec![0.0; POINTS],
        };
        Ok((y.into_values()?, dy))
    };
    let mut fig = fig;
    match fig.take(curves()) {
        Some((ys, dys)) => fig.line_xy("f(x)", &xs, ys).line_xy("f'(x)", &xs, dys),
        None => fig,
    }
}
