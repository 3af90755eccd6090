//! Residual networks (He et al., 2016) as [`Sequential`] models whose variable names are those of the published
//! PyTorch weights, so the weights load by name: the CIFAR-10 ResNets ([`resnet_cifar`]: 20, 32, 44, 56, 110
//! layers, "option A" shortcuts; `conv1.weight`, `layer1.0.bn2.running_mean`, `linear.bias`, ...) and
//! torchvision's ImageNet ResNet-18 ([`resnet18`]: projection shortcuts; `layer2.0.downsample.0.weight`, `fc.bias`).
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

// Each name from its own module, not through `super`: `nn` also re-exports all of `candle_nn`, which has its own
// `Sequential`, `Conv2d` and `linear`, and the variable types evcxr works out for notebook cells must be these.
use super::conv::{Conv2d, conv2d_no_bias};
use super::cpu_relu::relu;
use super::layers::{Flatten, GlobalAvgPool2d, Relu};
use super::linear::linear;
use super::model::Sequential;
use super::norm::{BatchNorm2d, batch_norm2d};

/// How a residual block whose output shape differs from its input's (fewer pixels, more channels) makes its
/// shortcut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// Every other pixel, new channels zero-padded: no weights (He et al.'s option A, the CIFAR ResNets).
    OptionA,
    /// A 1×1 convolution with the block's stride and a batch norm, `downsample.0` and `downsample.1` (option B,
    /// torchvision's ImageNet ResNets).
    Projection,
}

#[derive(Debug, Clone)]
enum ShortcutPath {
    Identity,
    /// Channels of zeros added on each side.
    PadChannels(usize),
    Projection(Conv2d, BatchNorm2d),
}

/// A residual block of two 3×3 convolutions with batch norm (PyTorch's `BasicBlock`): `relu(bn2(conv2(relu(bn1(
/// conv1(x))))) + shortcut(x))`, the shortcut `x` itself when the shapes match, else as [`Shortcut`] says.
#[derive(Debug, Clone)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    shortcut: ShortcutPath,
}

impl BasicBlock {
    /// A block from `in_channels` to `channels`, its first convolution `stride` apart (1, or 2 to halve the image).
    ///
    /// # Errors
    /// When the variables cannot be made, or an option-A shortcut would need weights (it only widens by padding:
    /// `channels = in_channels` with stride 1, or `channels = 2 · in_channels` with stride 2).
    pub fn new(in_channels: usize, channels: usize, stride: usize, shortcut: Shortcut, vb: VarBuilder) -> Result<Self> {
        let same_shape = stride == 1 && in_channels == channels;
        let conv3 = |cin, stride, vb| {
            conv2d_no_bias(cin, channels, 3, Conv2dConfig { padding: 1, stride, ..Default::default() }, vb)
        };
        let shortcut = match shortcut {
            _ if same_shape => ShortcutPath::Identity,
            Shortcut::OptionA if stride == 2 && channels == 2 * in_channels => ShortcutPath::PadChannels(channels / 4),
            Shortcut::OptionA => candle_core::bail!(
                "an option-A residual block goes from C to C channels with stride 1, or from C to 2C with stride 2; \
                 got {in_channels} → {channels} with stride {stride} (use Shortcut::Projection)"
            ),
            Shortcut::Projection => {
                let vb = vb.pp("downsample");
                let one = Conv2dConfig { stride, ..Default::default() };
                ShortcutPath::Projection(
                    conv2d_no_bias(in_channels, channels, 1, one, vb.pp("0"))?,
                    batch_norm2d(channels, vb.pp("1"))?,
                )
            }
        };
        Ok(Self {
            conv1: conv3(in_channels, stride, vb.pp("conv1"))?,
            bn1: batch_norm2d(channels, vb.pp("bn1"))?,
            conv2: conv3(channels, 1, vb.pp("conv2"))?,
            bn2: batch_norm2d(channels, vb.pp("bn2"))?,
            shortcut,
        })
    }

    /// The shortcut: `x` itself, `x[:, :, ::2, ::2]` with zero channels on each side, or the projection.
    fn shortcut(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        match &self.shortcut {
            ShortcutPath::Identity => Ok(x.clone()),
            ShortcutPath::Projection(conv, bn) => bn.forward_t(&x.apply(conv)?, train),
            ShortcutPath::PadChannels(pad) => {
                let (n, c, h, w) = x.dims4()?;
                // Every other row and column, as in PyTorch's `x[:, :, ::2, ::2]` (an odd size keeps its last row).
                let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
                let padded = x.pad_with_zeros(2, 0, 2 * h2 - h)?.pad_with_zeros(3, 0, 2 * w2 - w)?;
                let sub = padded.reshape((n, c, h2, 2, w2, 2))?.narrow(3, 0, 1)?.narrow(5, 0, 1)?;
                sub.reshape((n, c, h2, w2))?.pad_with_zeros(1, *pad, *pad)
            }
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let out = relu(&self.bn1.forward_t(&x.apply(&self.conv1)?, train)?)?;
        let out = self.bn2.forward_t(&out.apply(&self.conv2)?, train)?;
        relu(&(out + self.shortcut(x, train)?)?)
    }
}

/// `blocks` residual blocks one after the other (PyTorch's `layer1`, `layer2`, ...), named `0`, `1`, ...; the first
/// goes from `in_channels` to `channels` with `stride`, the others keep the shape.
#[derive(Debug, Clone)]
pub struct ResStage(Vec<BasicBlock>);

impl ResStage {
    /// # Errors
    /// As [`BasicBlock::new`].
    pub fn new(
        in_channels: usize,
        channels: usize,
        blocks: usize,
        stride: usize,
        shortcut: Shortcut,
        vb: VarBuilder,
    ) -> Result<Self> {
        (0..blocks)
            .map(|i| {
                let (cin, s) = if i == 0 { (in_channels, stride) } else { (channels, 1) };
                BasicBlock::new(cin, channels, s, shortcut, vb.pp(i.to_string()))
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
        .add("layer1", move |vb| ResStage::new(16, 16, n, 1, Shortcut::OptionA, vb))?
        .add("layer2", move |vb| ResStage::new(16, 32, n, 2, Shortcut::OptionA, vb))?
        .add("layer3", move |vb| ResStage::new(32, 64, n, 2, Shortcut::OptionA, vb))?
        .push(GlobalAvgPool2d)
        .push(Flatten)
        .add("linear", |vb| linear(64, 10, vb))
}

/// The 3×3 max-pool of an ImageNet ResNet's stem, stride 2 and padding 1. It follows a ReLU, so its inputs are
/// never negative and zero padding picks the same maxima as PyTorch's −∞ padding.
#[derive(Debug, Clone, Copy, Default)]
pub struct StemMaxPool;

impl candle_core::Module for StemMaxPool {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::cpu_pool::max_pool2d(&x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?, 3, 2)
    }
}

/// torchvision's ResNet-18 for `3 × 224 × 224` ImageNet images and `classes` outputs (1,000 for ImageNet's
/// weights), with torchvision's variable names (`layer2.0.downsample.0.weight`, `fc.weight`, ...): `conv1` (7×7,
/// 64, stride 2) → `bn1` → ReLU → 3×3 max-pool → `layer1`…`layer4` (64, 128, 256, 512 channels) → global average
/// pool → flatten → `fc`. Load ImageNet weights (`resnet18-f37072fd.pth` from PyTorch's model hub, or a file of
/// your own) with `model.load_state_dict(read_state_dict(path)?, &LoadOptions::strict())`.
///
/// # Errors
/// When the variables cannot be made.
pub fn resnet18(classes: usize, device: &Device) -> Result<Sequential> {
    let stem = Conv2dConfig { padding: 3, stride: 2, ..Default::default() };
    Sequential::new(device)
        .add("conv1", move |vb| conv2d_no_bias(3, 64, 7, stem, vb))?
        .add("bn1", |vb| batch_norm2d(64, vb))?
        .push(Relu)
        .push(StemMaxPool)
        .add("layer1", projection_stage(64, 64, 1))?
        .add("layer2", projection_stage(64, 128, 2))?
        .add("layer3", projection_stage(128, 256, 2))?
        .add("layer4", projection_stage(256, 512, 2))?
        .push(GlobalAvgPool2d)
        .push(Flatten)
        .add("fc", move |vb| linear(512, classes, vb))
}

/// Two blocks with projection shortcuts, as `Sequential::add` builds them.
fn projection_stage(cin: usize, c: usize, stride: usize) -> impl Fn(VarBuilder) -> Result<ResStage> + Send + Sync {
    move |vb| ResStage::new(cin, c, 2, stride, Shortcut::Projection, vb)
}
