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

/// The largest value in each `kernel × kernel` window, windows `stride` apart, over `(N, C, H, W)`
/// (`nn.MaxPool2d(kernel, stride)`); the stride is the kernel size unless you set it. Windows that would run past
/// the edge are left out, as in PyTorch (no padding).
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let x = Tensor::arange(0f32, 16., &Device::Cpu)?.reshape((1, 1, 4, 4))?;
/// assert_eq!(nn::MaxPool2d::new(2).forward(&x)?.dims(), &[1, 1, 2, 2]);
/// // Overlapping 3×3 windows one pixel apart (stride ≠ kernel): 2×2 outputs from 4×4.
/// let y = nn::MaxPool2d::new(3).stride(1).forward(&x)?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [10., 11., 14., 15.]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    kernel: usize,
    stride: usize,
}

impl MaxPool2d {
    /// Windows of `kernel × kernel`, `kernel` apart.
    pub fn new(kernel: usize) -> Self {
        Self { kernel, stride: kernel }
    }

    /// Windows `stride` apart (PyTorch's `stride=`).
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_pool_input("MaxPool2d", x, self.kernel, self.stride)?;
        super::cpu_pool::max_pool2d(x, self.kernel, self.stride)
    }
}

/// The mean of each `kernel × kernel` window, windows `stride` apart, over `(N, C, H, W)` (`nn.AvgPool2d`); the
/// stride is the kernel size unless you set it.
///
/// With a stride other than the kernel size it runs as a convolution of each channel with a constant
/// `1 / kernel²` filter, whose gradient the prelude's `Conv2d` computes (Candle's own average pooling has no
/// gradient for that case).
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let x = Tensor::arange(0f32, 9., &Device::Cpu)?.reshape((1, 1, 3, 3))?;
/// let y = nn::AvgPool2d::new(2).stride(1).forward(&x)?;
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [2., 3., 5., 6.]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d {
    kernel: usize,
    stride: usize,
}

impl AvgPool2d {
    /// Windows of `kernel × kernel`, `kernel` apart.
    pub fn new(kernel: usize) -> Self {
        Self { kernel, stride: kernel }
    }

    /// Windows `stride` apart (PyTorch's `stride=`).
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_pool_input("AvgPool2d", x, self.kernel, self.stride)?;
        let (k, s) = (self.kernel, self.stride);
        if k == s {
            return x.avg_pool2d(k);
        }
        let (n, c, h, w) = x.dims4()?;
        let filter = (Tensor::ones((1, 1, k, k), x.dtype(), x.device())? / (k * k) as f64)?;
        let conv = super::conv::Conv2d::new(filter, None, candle_nn::Conv2dConfig { stride: s, ..Default::default() });
        let y = conv.forward(&x.reshape((n * c, 1, h, w))?)?;
        let (oh, ow) = (y.dim(2)?, y.dim(3)?);
        y.reshape((n, c, oh, ow))
    }
}

/// The mean of each channel over the whole image: `(N, C, H, W)` → `(N, C, 1, 1)`, whatever `H × W` is
/// (`nn.AdaptiveAvgPool2d(1)`, the "global average pooling" that ends ResNets before their last linear layer).
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let x = Tensor::arange(0f32, 8., &Device::Cpu)?.reshape((1, 2, 2, 2))?;
/// let y = nn::GlobalAvgPool2d.forward(&x)?;
/// assert_eq!(y.dims(), &[1, 2, 1, 1]);
/// assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [1.5, 5.5]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GlobalAvgPool2d;

impl Module for GlobalAvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        check_pool_input("GlobalAvgPool2d", x, 1, 1)?;
        x.mean_keepdim(3)?.mean_keepdim(2)
    }
}

fn check_pool_input(name: &str, x: &Tensor, k: usize, stride: usize) -> Result<()> {
    if k == 0 || stride == 0 {
        candle_core::bail!("{name}: the window ({k}) and the stride ({stride}) must both be at least 1");
    }
    match x.dims() {
        [_, _, h, w] if *h >= k && *w >= k => Ok(()),
        [_, _, h, w] => candle_core::bail!("{name}({k}) needs images of at least {k}×{k}, got {h}×{w}"),
        dims => candle_core::bail!(
            "{name} expects a batch of images (N, C, H, W), got shape {dims:?} — one image needs `.unsqueeze(0)`"
        ),
    }
}
