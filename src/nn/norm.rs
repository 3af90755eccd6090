//! Batch normalisation for feature vectors and for images.

use candle_core::{ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, BatchNormConfig, VarBuilder};

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
        self.0.forward_t(x, train).map(crate::grad_mode::layer_output)
    }
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        check("BatchNorm2d", &self.0, x, &[4], train, "images (N, C, H, W)")?;
        self.0.forward_t(x, train).map(crate::grad_mode::layer_output)
    }
}
