//! Gradient clipping: [`clip_grad_norm`] (`torch.nn.utils.clip_grad_norm_`) and [`clip_grad_value`]
//! (`clip_grad_value_`), applied to a [`GradStore`] between `backward` and the optimizer's `step` — what keeps an
//! RNN's exploding gradients from throwing its weights away.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let w = Var::new(&[3f32, 4.], &Device::Cpu)?;
//! let mut opt = Sgd::new(vec![w.clone()], 0.1)?;
//! let loss = (w.as_tensor() * 10.0)?.sum_all()?;       // gradient (10, 10): norm 14.14
//! let mut grads = loss.backward()?;
//! let norm = clip_grad_norm(&mut grads, &[w.clone()], 1.0)?;
//! assert!((norm - 14.142).abs() < 1e-3);               // the norm before clipping, as PyTorch returns it
//! let clipped = grads.get(&w).map(|g| g.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()).transpose()?;
//! assert!((clipped.unwrap_or(0.0) - 1.0).abs() < 1e-4);
//! opt.step(&grads)?;
//! # Ok(()) }
//! ```

use candle_core::backprop::GradStore;
use candle_core::{Result, Var};

/// Scales the gradients of `vars` in `grads` so that their joint Euclidean norm (all of them as one vector) is at
/// most `max_norm`, and returns the norm they had before. Variables without a gradient are skipped. A norm that is
/// not finite is reported as an error (the step would ruin the weights) rather than clipped into garbage.
///
/// # Errors
/// When `max_norm` is not positive, or the gradients' norm is infinite or NaN.
pub fn clip_grad_norm(grads: &mut GradStore, vars: &[Var], max_norm: f64) -> Result<f64> {
    if !(max_norm > 0.0 && max_norm.is_finite()) {
        candle_core::bail!("clip_grad_norm needs a positive max_norm, got {max_norm}")
    }
    let mut squares = 0.0f64;
    for var in vars {
        if let Some(g) = grads.get(var.as_tensor()) {
            squares += g.to_dtype(candle_core::DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
        }
    }
    let norm = squares.sqrt();
    if !norm.is_finite() {
        candle_core::bail!(
            "the gradients' norm is {norm}: a NaN or an overflow happened in the forward or backward pass; lower the \
             learning rate, or look for a log of 0 or a division by 0 in the loss"
        )
    }
    // PyTorch's rule: scale by max_norm / (norm + 1e-6) when that is below 1.
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for var in vars {
            if let Some(g) = grads.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), g.affine(scale, 0.0)?);
            }
        }
    }
    Ok(norm)
}

/// Clamps every gradient value of `vars` into `[-limit, limit]` (`clip_grad_value_`).
///
/// # Errors
/// When `limit` is not positive.
pub fn clip_grad_value(grads: &mut GradStore, vars: &[Var], limit: f64) -> Result<()> {
    if !(limit > 0.0 && limit.is_finite()) {
        candle_core::bail!("clip_grad_value needs a positive limit, got {limit}")
    }
    for var in vars {
        if let Some(g) = grads.remove(var.as_tensor()) {
            grads.insert(var.as_tensor(), g.clamp(-limit, limit)?);
        }
    }
    Ok(())
}
