//! Parameter-free layers, so that a [`Sequential`](super::Sequential) reads like PyTorch's.

use candle_core::{Module, Result, Tensor};

/// `max(x, 0)` element-wise (`nn.ReLU`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relu;

impl Module for Relu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::cpu_relu::relu(x)
    }
}

/// `1 / (1 + e^−x)` element-wise (`nn.Sigmoid`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sigmoid;

impl Module for Sigmoid {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::sigmoid(x)
    }
}

/// `tanh(x)` element-wise (`nn.Tanh`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tanh;

impl Module for Tanh {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.tanh()
    }
}

/// Flattens every dimension after the batch one: `(N, C, H, W)` → `(N, C·H·W)` (`nn.Flatten`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() < 2 {
            candle_core::bail!("Flatten keeps the batch dimension and needs at least 2 dimensions, got {:?}", x.dims());
        }
        x.flatten_from(1)
    }
}

/// Largest value in each `k×k` window with stride `k` over `(N, C, H, W)` (`nn.MaxPool2d(k)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d(pub usize);

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_pool_input("MaxPool2d", x, self.0)?;
        super::cpu_pool::max_pool2d(x, self.0, self.0)
    }
}

/// Mean of each `k×k` window with stride `k` over `(N, C, H, W)` (`nn.AvgPool2d(k)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d(pub usize);

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_pool_input("AvgPool2d", x, self.0)?;
        x.avg_pool2d(self.0)
    }
}

fn check_pool_input(name: &str, x: &Tensor, k: usize) -> Result<()> {
    match x.dims() {
        [_, _, h, w] if *h >= k && *w >= k && k > 0 => Ok(()),
        [_, _, h, w] => candle_core::bail!("{name}({k}) needs images of at least {k}×{k} (and k ≥ 1), got {h}×{w}"),
        dims => candle_core::bail!(
            "{name} expects a batch of images (N, C, H, W), got shape {dims:?} — one image needs `.unsqueeze(0)`"
        ),
    }
}
