//! One line of advice for the errors every learner meets: shapes, dtypes and devices that do not match.
//!
//! Candle's messages say what went wrong ("shape mismatch in matmul, lhs: [2, 3], rhs: [2, 3]"); the hint says what
//! to check or do ("inner dimensions 3 and 2 differ — did you mean `b.t()?`"). [`hint_for`] computes the hint for
//! any Candle error; [`LearnerError`] carries the original error with its hint; [`Hint::hint`] turns a Candle
//! `Result` into one whose error shows both.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let a = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
//! let b = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
//! let err = a.matmul(&b).hint().unwrap_err();
//! let text = err.to_string();
//! assert!(text.starts_with("shape mismatch in matmul, lhs: [2, 3], rhs: [2, 3]"));
//! assert!(text.contains("inner dimensions 3 and 2 differ — did you mean `b.t()?`"));
//! # Ok(()) }
//! ```

use std::fmt;

use candle_core::{DType, DeviceLocation, Error, Shape};

/// A Candle error together with the hint for it (when there is one). Its text is Candle's message, without
/// backtrace noise, followed by a line `hint: ...`.
pub struct LearnerError {
    error: Error,
    hint: Option<String>,
}

impl LearnerError {
    /// Wraps `error` and works out its hint.
    pub fn new(error: Error) -> Self {
        let hint = hint_for(&error);
        Self { error, hint }
    }

    /// The original Candle error, untouched.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The hint, if this kind of error has one.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Gives back the original Candle error.
    pub fn into_error(self) -> Error {
        self.error
    }
}

impl From<Error> for LearnerError {
    fn from(error: Error) -> Self {
        Self::new(error)
    }
}

impl From<LearnerError> for Error {
    fn from(error: LearnerError) -> Self {
        Error::Wrapped(Box::new(error))
    }
}

impl fmt::Display for LearnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&message(&self.error))?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for LearnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for LearnerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// `.hint()` on a Candle `Result`: the same value, or the same error with a hint attached.
pub trait Hint<T> {
    /// Keeps an `Ok` as it is; turns an `Err` into a [`LearnerError`] that also says what to check or do.
    fn hint(self) -> std::result::Result<T, LearnerError>;
}

impl<T> Hint<T> for candle_core::Result<T> {
    fn hint(self) -> std::result::Result<T, LearnerError> {
        self.map_err(LearnerError::new)
    }
}

/// Candle's message for `error` without the backtrace that Candle may have captured.
pub fn message(error: &Error) -> String {
    match error {
        Error::WithBacktrace { inner, .. } => message(inner),
        Error::Context { inner, context } => format!("{context}\n{}", message(inner)),
        Error::WithPath { inner, path } => format!("path: {path:?} {}", message(inner)),
        other => other.to_string(),
    }
}

/// The error beneath Candle's wrappers (backtrace, context, path).
fn root(error: &Error) -> &Error {
    match error {
        Error::WithBacktrace { inner, .. } | Error::Context { inner, .. } | Error::WithPath { inner, .. } => {
            root(inner)
        }
        other => other,
    }
}

/// What a learner should check or do about `error`, for shape, dtype, device and indexing mistakes.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let a = Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?;
/// let b = Tensor::zeros(3, DType::F32, &Device::Cpu)?;
/// let hint = hint_for(&(&a + &b).unwrap_err()).unwrap();
/// assert!(hint.contains("a.broadcast_add(&b)?"), "{hint}");
/// # Ok(()) }
/// ```
pub fn hint_for(error: &Error) -> Option<String> {
    match root(error) {
        Error::ShapeMismatchBinaryOp { lhs, rhs, op } => Some(match *op {
            "matmul" => matmul_hint(lhs.dims(), rhs.dims()),
            "reshape" => reshape_hint(lhs, rhs),
            op => elementwise_hint(lhs.dims(), rhs.dims(), op),
        }),
        Error::BroadcastIncompatibleShapes { src_shape, dst_shape } => Some(format!(
            "a tensor of shape {src_shape:?} cannot be stretched to {dst_shape:?}: compared from the right, each \
             dimension must be equal or 1. Check both shapes with `.dims()`; a `reshape` or `unsqueeze` may be missing."
        )),
        Error::ShapeMismatch { buffer_size, shape } => Some(format!(
            "{buffer_size} values cannot fill shape {shape:?}, which holds {} — the number of values and the product \
             of the shape's dimensions must be equal.",
            shape.elem_count()
        )),
        Error::ShapeMismatchCat { dim, first_shape, nth_shape, .. } => Some(format!(
            "`cat` along dimension {dim} needs every other dimension to match, but {first_shape:?} and \
             {nth_shape:?} differ elsewhere. Did you mean to stack them (`Tensor::stack`) or cat along another dim?"
        )),
        Error::DTypeMismatchBinaryOp { lhs, rhs, op } => Some(dtype_hint(*lhs, *rhs, op)),
        Error::UnexpectedDType { expected, got, .. } => Some(format!(
            "this needs {} values but got {}: convert with `.to_dtype(DType::{expected:?})?`.",
            expected.as_str(),
            got.as_str()
        )),
        Error::UnsupportedDTypeForOp(dtype, op) => Some(format!(
            "`{op}` does not work on {} tensors: convert first, e.g. `.to_dtype(DType::F32)?`.",
            dtype.as_str()
        )),
        Error::DeviceMismatchBinaryOp { lhs, rhs, op } => Some(device_hint(lhs, rhs, op)),
        Error::DimOutOfRange { shape, dim, .. } => Some(format!(
            "dimension {dim} does not exist: shape {shape:?} has {} dimension(s), numbered 0 to {} \
             (or `D::Minus1` for the last).",
            shape.rank(),
            shape.rank().saturating_sub(1)
        )),
        Error::UnexpectedNumberOfDims { expected, got, shape } => Some(format!(
            "this needs a {expected}-d tensor but got a {got}-d one {shape:?}: add a dimension with `.unsqueeze(0)?`, \
             drop one of size 1 with `.squeeze(0)?`, or `.reshape(..)?` it."
        )),
        Error::NarrowInvalidArgs { shape, dim, start, len, .. } => Some(format!(
            "taking {len} entries from index {start} of dimension {dim} goes past its end: shape {shape:?} has {} \
             there.",
            shape.dims().get(*dim).copied().unwrap_or(0)
        )),
        _ => None,
    }
}

fn matmul_hint(a: &[usize], b: &[usize]) -> String {
    if a.len() < 2 || a.len() != b.len() {
        return format!(
            "matmul multiplies matrices of the same rank (2 or more), but these are {}-d and {}-d. Make a vector a \
             matrix with `.unsqueeze(0)?` (a row) or `.unsqueeze(1)?` (a column), or use `broadcast_matmul` to \
             multiply a batch by one matrix.",
            a.len(),
            b.len()
        );
    }
    let r = a.len();
    let (m, k, k2, n) = (a[r - 2], a[r - 1], b[r - 2], b[r - 1]);
    if k != k2 {
        let fix = if k == n {
            format!(" — did you mean `b.t()?` (then it is ({m}, {k}) @ ({n}, {k2}) → ({m}, {k2}))")
        } else if m == k2 {
            format!(" — did you mean `a.t()?` (then it is ({k}, {m}) @ ({k2}, {n}) → ({k}, {n}))")
        } else {
            " — the left side's last dimension must equal the right side's second-to-last".to_string()
        };
        return format!("inner dimensions {k} and {k2} differ{fix}.");
    }
    format!(
        "the batch dimensions {:?} and {:?} differ; use `broadcast_matmul` when one side has no batch.",
        &a[..r - 2],
        &b[..r - 2]
    )
}

fn reshape_hint(from: &Shape, to: &Shape) -> String {
    format!(
        "reshape keeps every element: {from:?} has {} and {to:?} would have {}. Pick dimensions whose product is {}, \
         or leave one for Candle to work out with `()`, e.g. `.reshape(((), {}))?`.",
        from.elem_count(),
        to.elem_count(),
        from.elem_count(),
        to.dims().last().copied().unwrap_or(1)
    )
}

fn elementwise_hint(a: &[usize], b: &[usize], op: &str) -> String {
    let broadcast_name = match op {
        "add" | "sub" | "mul" | "div" | "maximum" | "minimum" => Some(format!("broadcast_{op}")),
        _ => None,
    };
    match (broadcast_shape(a, b), broadcast_name) {
        (Some(out), Some(name)) => format!(
            "Candle does not broadcast `{op}` by itself (PyTorch does): use `a.{name}(&b)?`, which stretches \
             {a:?} and {b:?} to {out:?}."
        ),
        (Some(out), None) => format!(
            "the shapes differ; they broadcast to {out:?}, so call `.broadcast_as({out:?})?` on each side first."
        ),
        (None, _) => {
            let (d, x, y) = first_clash(a, b);
            format!(
                "`{op}` works element by element, so the shapes must match: dimension {d} counted from the end has \
                 size {x} in lhs and {y} in rhs (sizes must be equal, or one of them 1). A `reshape`, `unsqueeze` \
                 or `t()` may be missing."
            )
        }
    }
}

/// The shape both sides broadcast to, PyTorch's rule: align from the right, each pair equal or one of them 1.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let at = |s: &[usize], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
    (0..r)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// The first position, counted from the last dimension (1 = last), where two shapes cannot broadcast, with both
/// sizes.
fn first_clash(a: &[usize], b: &[usize]) -> (usize, usize, usize) {
    (1..=a.len().min(b.len()))
        .map(|i| (i, a[a.len() - i], b[b.len() - i]))
        .find(|&(_, x, y)| x != y && x != 1 && y != 1)
        .unwrap_or((0, 0, 0))
}

fn dtype_hint(lhs: DType, rhs: DType, op: &str) -> String {
    let mut hint = format!(
        "both sides of `{op}` must have the same dtype, but one is {} and the other {}: convert one, e.g. \
         `b.to_dtype(DType::{lhs:?})?`.",
        lhs.as_str(),
        rhs.as_str()
    );
    if lhs == DType::F64 || rhs == DType::F64 {
        hint.push_str(" (A plain float literal such as `1.0` makes f64; write `1f32` for f32.)");
    } else if lhs.is_int() != rhs.is_int() {
        hint.push_str(" (Labels and indices are integers; the maths on them usually wants f32.)");
    }
    hint
}

fn device_hint(lhs: &DeviceLocation, rhs: &DeviceLocation, op: &str) -> String {
    let name = crate::device::location_name;
    format!(
        "`{op}` needs both tensors on one device, but one is on {} and the other on {}: move one with \
         `b.to_device(a.device())?`, or create every tensor (and the model) with the `dev` from `device()?`.",
        name(lhs),
        name(rhs)
    )
}
