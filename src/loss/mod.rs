//! Loss functions, as `loss::…` in the prelude: Candle's ([`candle_nn::loss`]: `nll`, `mse`,
//! `binary_cross_entropy`), with [`binary_cross_entropy_with_logit`] replaced by one that stays finite and exact
//! for confident predictions, like PyTorch's `BCEWithLogitsLoss`, and [`cross_entropy`] computed in two passes on
//! the CPU.

use candle_core::{DType, Device, Result, Tensor};

pub use candle_nn::loss::*;

mod cpu_cross_entropy;

/// The mean cross-entropy of `(n, classes)` logits against `n` class indices (`u8`, `u32` or `i64`): PyTorch's
/// `F.cross_entropy(logits, targets)`, the softmax and the logarithm taken together so that it stays finite for
/// confident logits.
///
/// On the CPU with `f32` logits it runs as one pass forwards and one backwards (the gradient is
/// `(softmax − one-hot) / n`); elsewhere it is Candle's `log_softmax` followed by `nll`.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let logits = Tensor::new(&[[2f32, 0., 0.], [0., 0., 0.]], &Device::Cpu)?;
/// let targets = Tensor::new(&[0u32, 2], &Device::Cpu)?;
/// let l = loss::cross_entropy(&logits, &targets)?.to_scalar::<f32>()?;
/// let want = (-(2f32.exp() / (2f32.exp() + 2.)).ln() + 3f32.ln()) / 2.;   // each row's −ln p(target), averaged
/// assert!((l - want).abs() < 1e-6);
/// # Ok(()) }
/// ```
///
/// # Errors
/// When `logits` is not of rank 2, the targets are not one class index per row, or a target is not a class.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let Ok((rows, _)) = logits.dims2() else {
        candle_core::bail!(
            "cross_entropy takes logits of shape (batch, classes), got {:?}; for (batch, time, classes) reshape to \
             (batch·time, classes) and the targets to (batch·time)",
            logits.dims()
        )
    };
    if targets.rank() != 1 || targets.dim(0)? != rows {
        candle_core::bail!(
            "cross_entropy takes one class index per row of logits: {rows} rows, but targets of shape {:?}",
            targets.dims()
        )
    }
    if matches!(logits.device(), Device::Cpu) && logits.dtype() == DType::F32 {
        logits.apply_op2(&targets.contiguous()?, cpu_cross_entropy::CrossEntropy)
    } else {
        candle_nn::loss::cross_entropy(logits, targets)
    }
}

/// Below this logit, `ln σ(z)` is `z` to within `e^z < 1e-13`, and `e^(−z)` would overflow `f32` further down.
const LOG_SIGMOID_LINEAR_BELOW: f64 = -30.0;

/// The mean binary cross-entropy of the probabilities `σ(logits)` against `targets` (0/1 or soft labels), computed
/// from the logits without ever taking the logarithm of 0 (PyTorch's `F.binary_cross_entropy_with_logits`).
///
/// Candle's own version takes `ln(1 − σ(z))`, which is `ln 0 = −∞` once `σ(z)` rounds to 1 (`z` above about 17 in
/// `f32`): one confident wrong answer makes the loss infinite and the gradients NaN. This one uses
/// `(1 − y)·z − ln σ(z)`, with `ln σ(z) = −ln(1 + e^(−z))`, and `ln σ(z) = z` far below 0; its gradient is
/// `σ(z) − y` everywhere, zero logits included.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let logits = Tensor::new(&[40f32, -40., 0.], &Device::Cpu)?;
/// let targets = Tensor::new(&[0f32, 1., 1.], &Device::Cpu)?;
/// let l = loss::binary_cross_entropy_with_logit(&logits, &targets)?.to_scalar::<f32>()?;
/// assert!((l - (40.0 + 40.0 + 2f32.ln()) / 3.0).abs() < 1e-4); // two confident mistakes cost 40 each, not ∞
/// # Ok(()) }
/// ```
///
/// # Errors
/// When the shapes differ or the dtype is not a float type.
pub fn binary_cross_entropy_with_logit(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let not_target = targets.ones_like()?.sub(targets)?;
    let exact = logits.gt(LOG_SIGMOID_LINEAR_BELOW)?;
    let safe = logits.maximum(LOG_SIGMOID_LINEAR_BELOW)?;
    let log_sigmoid = safe.neg()?.exp()?.affine(1.0, 1.0)?.log()?.neg()?;
    let log_sigmoid = exact.where_cond(&log_sigmoid, logits)?;
    not_target.mul(logits)?.sub(&log_sigmoid)?.mean_all()
}
