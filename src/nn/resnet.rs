//! The CIFAR-10 ResNets of He et al. (2016, section 4.2): ResNet-20, -32, -44, -56, -110, with the "option A"
//! shortcut, built as a [`Sequential`] whose variable names are those of the published PyTorch weights
//! (`conv1.weight`, `layer1.0.bn2.running_mean`, `linear.bias`, ...), so the weights load by name.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let model = nn::resnet_cifar(20, &Device::Cpu)?;
//! assert_eq!(model.param_count(), 269_722);        // the paper's "0.27M"
//! model.eval();
//! let logits = model.forward(&Tensor::zeros((2, 3, 32, 32), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(logits.dims(), &[2, 10]);
//! # Ok(()) }
//! ```

use candle_core::{Device, ModuleT, Result, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};

use super::{BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Relu, Sequential, batch_norm2d, conv2d_no_bias, linear};

/// A residual block of two 3×3 convolutions with batch norm (PyTorch's `BasicBlock`): `relu(bn2(conv2(relu(bn1(
/// conv1(x))))) + shortcut(x))`. When the block halves the image and widens the channels, the shortcut ("option A")
/// takes every other pixel and pads the new channels with zeros, so it adds no weights.
#[derive(Debug, Clone)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    /// Channels of zeros added on each side of the shortcut (0 when the shapes already match).
    pad_channels: usize,
}

impl BasicBlock {
    /// A block from `in_channels` to `channels`, its first convolution `stride` apart (1, or 2 to halve the image).
    ///
    /// # Errors
    /// When the variables cannot be made, or the shortcut would need weights (option A only widens by padding: it
    /// needs `channels = in_channels` with stride 1, or `channels = 2 · in_channels` with stride 2).
    pub fn new(in_channels: usize, channels: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let same_shape = stride == 1 && in_channels == channels;
        if !(same_shape || stride == 2 && channels == 2 * in_channels) {
            candle_core::bail!(
                "an option-A residual block goes from C to C channels with stride 1, or from C to 2C with stride 2; \
                 got {in_channels} → {channels} with stride {stride}"
            )
        }
        let conv = |cin, stride, vb| {
            conv2d_no_bias(cin, channels, 3, Conv2dConfig { padding: 1, stride, ..Default::default() }, vb)
        };
        Ok(Self {
            conv1: conv(in_channels, stride, vb.pp("conv1"))?,
            bn1: batch_norm2d(channels, vb.pp("bn1"))?,
            conv2: conv(channels, 1, vb.pp("conv2"))?,
            bn2: batch_norm2d(channels, vb.pp("bn2"))?,
            pad_channels: if same_shape { 0 } else { channels / 4 },
        })
    }

    /// The shortcut: `x` itself, or `x[:, :, ::2, ::2]` with `pad_channels` zero channels on each side.
    fn shortcut(&self, x: &Tensor) -> Result<Tensor> {
        if self.pad_channels == 0 {
            return Ok(x.clone());
        }
        let (n, c, h, w) = x.dims4()?;
        // Every other row and column, as in PyTorch's `x[:, :, ::2, ::2]` (an odd size keeps its last row).
        let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
        let padded = x.pad_with_zeros(2, 0, 2 * h2 - h)?.pad_with_zeros(3, 0, 2 * w2 - w)?;
        let sub = padded.reshape((n, c, h2, 2, w2, 2))?.narrow(3, 0, 1)?.narrow(5, 0, 1)?.reshape((n, c, h2, w2))?;
        sub.pad_with_zeros(1, self.pad_channels, self.pad_channels)
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let out = super::cpu_relu::relu(&self.bn1.forward_t(&x.apply(&self.conv1)?, train)?)?;
        let out = self.bn2.forward_t(&out.apply(&self.conv2)?, train)?;
        super::cpu_relu::relu(&(out + self.shortcut(x)?)?)
    }
}

/// `blocks` residual blocks one after the other (PyTorch's `layer1`, `layer2`, `layer3`), named `0`, `1`, ...; the
/// first goes from `in_channels` to `channels` with `stride`, the others keep the shape.
#[derive(Debug, Clone)]
pub struct ResStage(Vec<BasicBlock>);

impl ResStage {
    /// # Errors
    /// As [`BasicBlock::new`].
    pub fn new(in_channels: usize, channels: usize, blocks: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        (0..blocks)
            .map(|i| {
                let (cin, s) = if i == 0 { (in_channels, stride) } else { (channels, 1) };
                BasicBlock::new(cin, channels, s, vb.pp(i.to_string()))
            })
            .collect::<Result<Vec<_>>>()
            .map(Self)
    }
}

impl ModuleT for ResStage {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.0.iter().try_fold(x.clone(), |x, block| block.forward_t(&x, train))
    }
}

/// A CIFAR ResNet of `depth` layers (20, 32, 44, 56, 110: `6n + 2` with `n` blocks per stage) for `3 × 32 × 32`
/// images and 10 classes: `conv1` (16) → `bn1` → ReLU → `layer1` (16) → `layer2` (32, half size) → `layer3` (64,
/// half size) → global average pool → flatten → `linear`. The 64 pooled numbers before `linear` are the features a new head
/// is trained on in transfer learning (`forward_trace` gives them under the name `flatten7`).
///
/// # Errors
/// When `depth` is not `6n + 2`.
pub fn resnet_cifar(depth: usize, device: &Device) -> Result<Sequential> {
    if depth < 8 || !(depth - 2).is_multiple_of(6) {
        candle_core::bail!("a CIFAR ResNet has 6n + 2 layers (20, 32, 44, 56, 110), not {depth}")
    }
    let n = (depth - 2) / 6;
    let stem = Conv2dConfig { padding: 1, ..Default::default() };
    Sequential::new(device)
        .add("conv1", move |vb| conv2d_no_bias(3, 16, 3, stem, vb))?
        .add("bn1", |vb| batch_norm2d(16, vb))?
        .push(Relu)
        .add("layer1", move |vb| ResStage::new(16, 16, n, 1, vb))?
        .add("layer2", move |vb| ResStage::new(16, 32, n, 2, vb))?
        .add("layer3", move |vb| ResStage::new(32, 64, n, 2, vb))?
        .push(GlobalAvgPool2d)
        .push(Flatten)
        .add("linear", |vb| linear(64, 10, vb))
}
