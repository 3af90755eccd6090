//! Pretrained backbones: the weights file fetched once and checked like the datasets' files (upstream's address on
//! a learner's machine, `CANDLELIT_DATA_MIRROR` offline, kept under the data folder), then loaded by name.
//!
//! The CIFAR-10 ResNets are Yerlan Idelbayev's (github.com/akamaster/pytorch_resnet_cifar10, BSD 2-Clause; 91.78%
//! and 93.62% CIFAR-10 test accuracy by upstream's measure). Upstream publishes them as legacy PyTorch files,
//! which [`read_state_dict`](crate::train::read_state_dict) reads directly: no Python involved.
//!
//! ```no_run
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let backbone = nn::pretrained::resnet_cifar10(20, &Device::Cpu)?;   // downloads 1.1 MB the first time
//! backbone.eval();
//! # Ok(()) }
//! ```

use candle_core::{Device, Result};

use super::model::Sequential; // not `super::Sequential`: `nn` re-exports candle_nn's type of that name too
use super::resnet::resnet_cifar;
use crate::data::download::{RemoteFile, fetch};
use crate::train::{LoadOptions, read_state_dict};

const AKAMASTER: &[&str] = &["https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"];

/// ResNet-20 trained on CIFAR-10, upstream's file (the tag in its name is the start of its sha256).
pub const RESNET20_CIFAR10: RemoteFile = RemoteFile {
    folder: "pretrained/resnet-cifar10",
    name: "resnet20-12fca82f.th",
    hosts: AKAMASTER,
    sha256: "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8",
    size: 1_099_231,
};

/// ResNet-56 trained on CIFAR-10, upstream's file.
pub const RESNET56_CIFAR10: RemoteFile = RemoteFile {
    folder: "pretrained/resnet-cifar10",
    name: "resnet56-4bfd9763.th",
    hosts: AKAMASTER,
    sha256: "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367",
    size: 3_471_733,
};

/// The input statistics these models were trained with (upstream normalised CIFAR images with ImageNet's mean
/// and standard deviation per channel): give them to `Normalize` before the backbone.
pub const CIFAR_RESNET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// See [`CIFAR_RESNET_MEAN`].
pub const CIFAR_RESNET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// [`resnet_cifar`] of `depth` 20 or 56 with the published CIFAR-10 weights, on `device`, in training mode like
/// any new model (call `.eval()` to use it as a fixed feature extractor).
///
/// # Errors
/// When `depth` is not 20 or 56, or the weights cannot be fetched (the message says where to put the file by
/// hand) or do not fit.
pub fn resnet_cifar10(depth: usize, device: &Device) -> Result<Sequential> {
    let file = match depth {
        20 => &RESNET20_CIFAR10,
        56 => &RESNET56_CIFAR10,
        _ => candle_core::bail!("pretrained CIFAR-10 weights exist for ResNet-20 and ResNet-56, not ResNet-{depth}"),
    };
    let model = resnet_cifar(depth, device)?;
    model.load_state_dict(read_state_dict(fetch(file)?)?, &LoadOptions::strict().strip_prefix("module."))?;
    Ok(model)
}
