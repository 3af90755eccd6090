//! Dropout that `manual_seed` makes reproducible.

use candle_core::{DType, ModuleT, Result, Tensor};

/// Zeroes each element with probability `p` in training and scales the rest by `1 / (1 − p)`, so the expected
/// value is unchanged; in evaluation it passes the input through (PyTorch's `nn.Dropout`).
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let drop = nn::Dropout::new(0.5);
/// let x = Tensor::ones((2, 4), DType::F32, &Device::Cpu)?;
/// assert_eq!(drop.forward_t(&x, false)?.to_vec2::<f32>()?, x.to_vec2::<f32>()?); // eval: identity
/// let y = drop.forward_t(&x, true)?.flatten_all()?.to_vec1::<f32>()?;             // train: 0 or 2
/// assert!(y.iter().all(|v| *v == 0.0 || *v == 2.0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    /// Dropout with drop probability `p` (between 0 and 1; 1 would drop everything).
    pub fn new(p: f64) -> Self {
        Self { p }
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl ModuleT for Dropout {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !(0.0..1.0).contains(&self.p) {
            candle_core::bail!("Dropout probability must be in 0 ≤ p < 1, got {}", self.p);
        }
        if !train || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = crate::random::rand(x.shape(), x.device())?.ge(self.p)?.to_dtype(DType::F32)?;
        let scale = (keep * (1.0 / (1.0 - self.p)))?.to_dtype(x.dtype())?;
        x * scale
    }
}
