//! Batch normalisation for feature vectors and for images: Candle's layers and parameters, with the CPU `f32`
//! passes of the prelude's `cpu_batch_norm` kernels (same results and running statistics as Candle's).

use candle_core::{DType, ModuleT, Result, Tensor, Var};
use candle_nn::{BatchNorm, BatchNormConfig, VarBuilder};

use super::cpu_batch_norm;

/// Batch norm over `(N, C)` features or `(N, C, L)` sequences (`nn.BatchNorm1d`): in training it normalises with
/// the batch's mean and variance and updates running statistics (momentum 0.1, unbiased variance); in evaluation
/// it uses the running statistics. The running statistics are saved with the weights.
#[derive(Debug, Clone)]
pub struct BatchNorm1d(pub BatchNorm);

/// Batch norm over `(N, C, H, W)` images, per channel (`nn.BatchNorm2d`); see [`BatchNorm1d`].
#[derive(Debug, Clone)]
pub struct BatchNorm2d(pub BatchNorm);

/// A [`BatchNorm1d`] for `features` channels, with PyTorch's defaults (eps 1e-5, momentum 0.1, affine).
///
/// # Errors
/// When the variables cannot be made (a name already used with another shape).
pub fn batch_norm1d(features: usize, vb: VarBuilder) -> Result<BatchNorm1d> {
    Ok(BatchNorm1d(candle_nn::batch_norm(features, BatchNormConfig::default(), vb)?))
}

/// A [`BatchNorm2d`] for `channels` channels, with PyTorch's defaults (eps 1e-5, momentum 0.1, affine).
///
/// # Errors
/// When the variables cannot be made (a name already used with another shape).
pub fn batch_norm2d(channels: usize, vb: VarBuilder) -> Result<BatchNorm2d> {
    Ok(BatchNorm2d(candle_nn::batch_norm(channels, BatchNormConfig::default(), vb)?))
}

fn check(name: &str, bn: &BatchNorm, x: &Tensor, ranks: &[usize], train: bool, expected: &str) -> Result<()> {
    let channels = bn.running_mean().dim(0)?;
    if !ranks.contains(&x.rank()) || x.dim(1)? != channels {
        candle_core::bail!("{name}({channels}) expects {expected} with C = {channels}, got shape {:?}", x.dims());
    }
    if train && x.elem_count() / channels < 2 {
        candle_core::bail!(
            "{name} in training mode needs more than one value per channel to compute a variance (got shape {:?}); \
             use a batch of 2 or more, or call `.eval()` to predict one example",
            x.dims()
        );
    }
    Ok(())
}

impl ModuleT for BatchNorm1d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        check("BatchNorm1d", &self.0, x, &[2, 3], train, "(N, C) or (N, C, L)")?;
        forward(&self.0, x, train).map(crate::grad_mode::layer_output)
    }
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        check("BatchNorm2d", &self.0, x, &[4], train, "images (N, C, H, W)")?;
        forward(&self.0, x, train).map(crate::grad_mode::layer_output)
    }
}

/// The layer's weight and bias when the CPU `f32` kernels apply to it and to `x`.
fn cpu_f32_parts<'a>(bn: &'a BatchNorm, x: &Tensor) -> Option<(&'a Tensor, &'a Tensor)> {
    let (w, b) = bn.weight_and_bias()?;
    let on_cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32;
    [x, w, b, bn.running_mean(), bn.running_var()].into_iter().all(on_cpu_f32).then_some((w, b))
}

/// Training: normalise with the batch's statistics and move the running ones towards them (`momentum`, with the
/// unbiased variance, as PyTorch and Candle do). Evaluation: the running statistics, as one affine map per channel.
fn forward(bn: &BatchNorm, x: &Tensor, train: bool) -> Result<Tensor> {
    let Some((w, b)) = cpu_f32_parts(bn, x) else { return bn.forward_t(x, train) };
    let eps = bn.eps();
    if !train {
        let scale = w.broadcast_div(&(bn.running_var().detach() + eps)?.sqrt()?)?;
        let shift = (b - (bn.running_mean().detach() * &scale)?)?;
        return cpu_batch_norm::affine(x, &scale, &shift);
    }
    let (y, batch) = cpu_batch_norm::train(x, w, b, eps)?;
    let m = bn.momentum();
    let unbiased = batch.count as f64 / (batch.count as f64 - 1.0);
    let mix = |running: &Tensor, batch: &[f32], factor: f64| -> Result<()> {
        let old = running.to_vec1::<f32>()?;
        let new: Vec<f32> = old
            .iter()
            .zip(batch)
            .map(|(&r, &v)| ((1.0 - m) * f64::from(r) + m * factor * f64::from(v)) as f32)
            .collect();
        Var::from_tensor(running)?.set(&Tensor::from_vec(new, old.len(), running.device())?)
    };
    mix(bn.running_mean(), &batch.mean, 1.0)?;
    mix(bn.running_var(), &batch.var, unbiased)?;
    Ok(y)
}
