//! Tensors for people: text laid out by rows with a header line, and HTML tables for notebooks.
//!
//! [`show`] (or [`Show::show`]) wraps a tensor in a [`Shown`] value. Printing it with `{}` gives text in the style
//! of PyTorch's `print(tensor)`: a header with the shape, dtype and device, then the values by rows, aligned, with
//! large tensors summarised by `...` at the edges. As the last expression of a notebook cell it shows itself
//! through [`Shown::evcxr_display`]: an HTML table for 1-D and 2-D tensors, the text otherwise.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let t = Tensor::new(&[[1f32, 2., 3.], [4., 5., 6.]], &Device::Cpu)?;
//! assert_eq!(
//!     t.show().to_string(),
//!     "Tensor(shape=[2, 3], dtype=f32, device=cpu)\n[[1., 2., 3.],\n [4., 5., 6.]]"
//! );
//! # Ok(()) }
//! ```

mod html;
mod last_value;
mod number;
mod text;
mod values;

use std::fmt;

use candle_core::{Result, Tensor};

pub use last_value::CellValue;
pub use number::NumberFormat;

/// How tensors are printed; the defaults are PyTorch's.
#[derive(Debug, Clone, PartialEq)]
pub struct PrintOptions {
    /// Digits after the decimal point for floats (PyTorch: 4).
    pub precision: usize,
    /// Tensors with more elements than this are summarised with `...` (PyTorch: 1000).
    pub threshold: usize,
    /// How many items are kept at each edge of a summarised dimension (PyTorch: 3).
    pub edge_items: usize,
    /// Rows of a 1-D slice wrap to stay within this many characters (PyTorch: 80).
    pub line_width: usize,
    /// `Some(true)` forces scientific notation, `Some(false)` forbids it, `None` decides from the values.
    pub sci_mode: Option<bool>,
}

impl Default for PrintOptions {
    fn default() -> Self {
        Self { precision: 4, threshold: 1000, edge_items: 3, line_width: 80, sci_mode: None }
    }
}

/// A tensor ready to be read by a person: print it with `{}`, or end a notebook cell with it.
///
/// Made by [`show`] or [`Show::show`]; the builder methods change how it prints.
#[derive(Debug, Clone)]
pub struct Shown {
    tensor: Tensor,
    options: PrintOptions,
}

/// Wraps `tensor` for display, like `print(tensor)` in PyTorch.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let x = Tensor::new(2.5f32, &Device::Cpu)?;
/// assert_eq!(show(&x).to_string(), "2.5000");
/// # Ok(()) }
/// ```
pub fn show(tensor: &Tensor) -> Shown {
    Shown { tensor: tensor.clone(), options: PrintOptions::default() }
}

/// `t.show()` for tensors (and, through deref, for `Var`s).
pub trait Show {
    /// Wraps the tensor for display; see [`show`].
    fn show(&self) -> Shown;
}

impl Show for Tensor {
    fn show(&self) -> Shown {
        show(self)
    }
}

impl Shown {
    /// Digits after the decimal point (default 4).
    pub fn precision(mut self, digits: usize) -> Self {
        self.options.precision = digits;
        self
    }

    /// Prints every element, however large the tensor (use with care).
    pub fn full(mut self) -> Self {
        self.options.threshold = usize::MAX;
        self
    }

    /// Replaces all the options at once.
    pub fn options(mut self, options: PrintOptions) -> Self {
        self.options = options;
        self
    }

    /// The header line: shape, dtype and device, e.g. `Tensor(shape=[2, 3], dtype=f32, device=cpu)`.
    pub fn header(&self) -> String {
        format!(
            "Tensor(shape={:?}, dtype={}, device={})",
            self.tensor.dims(),
            self.tensor.dtype().as_str(),
            crate::device::device_name(self.tensor.device())
        )
    }

    /// The text form: the header, then the values by rows (a 0-d tensor is just its number).
    pub fn to_text(&self) -> Result<String> {
        let grid = values::Grid::of(&self.tensor, &self.options)?;
        let format = NumberFormat::for_values(&grid.values, &self.options);
        if self.tensor.rank() == 0 {
            return Ok(format.format(grid.values.get(0)).trim_start().to_string());
        }
        Ok(format!("{}\n{}", self.header(), text::layout(&grid, &format, &self.options)))
    }

    /// The HTML form: a table with row and column numbers for 1-D and 2-D tensors, else the text in a `<pre>`.
    pub fn to_html(&self) -> Result<String> {
        if matches!(self.tensor.rank(), 1 | 2) {
            let grid = values::Grid::of(&self.tensor, &self.options)?;
            let format = NumberFormat::for_values(&grid.values, &self.options);
            Ok(html::table(&self.header(), &grid, &format))
        } else {
            Ok(format!("<pre>{}</pre>", crate::mime::escape_html(&self.to_text()?)))
        }
    }

    /// The forms a notebook can choose from: `text/plain` and `text/html`.
    pub fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        Ok(vec![("text/plain", self.to_text()?), ("text/html", self.to_html()?)])
    }

    /// Shows the tensor in a notebook: its [`mime_bundle`](Self::mime_bundle) as mime blocks on stdout (see
    /// [`crate::mime`]).
    pub fn evcxr_display(&self) {
        match self.mime_bundle() {
            Ok(bundle) => crate::mime::emit(&bundle),
            Err(e) => eprintln!("candlelit: cannot display this tensor: {}", crate::hints::message(&e)),
        }
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_text() {
            Ok(text) => f.write_str(&text),
            Err(e) => write!(f, "{} (values cannot be shown: {e})", self.header()),
        }
    }
}
