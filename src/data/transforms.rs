//! Per-item transforms for images and labels, composable like `torchvision.transforms`.
//!
//! A [`Transform`] maps one tensor to another. Chain them with [`then`](Transform::then) (or collect boxed ones in
//! a [`Compose`]); any closure `Fn(Tensor) -> Result<Tensor>` is a transform too. Random transforms draw from
//! [`with_item_rng`](super::with_item_rng), so a seeded [`DataLoader`](super::DataLoader) gives the same
//! augmented batches on every run.
//!
//! ```
//! use candlelit::data::transforms::{Normalize, RandomHorizontalFlip, ToTensor, Transform};
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let pixels = Tensor::new(&[[0u8, 255], [255, 0]], &Device::Cpu)?;      // a 2×2 grey image
//! let tf = ToTensor.then(Normalize::new(&[0.5], &[0.5])?).then(RandomHorizontalFlip::new(0.0));
//! let x = tf.apply(pixels)?;                                                // [1, 2, 2] f32, scaled to -1..1
//! assert_eq!(x.dims(), [1, 2, 2]);
//! assert_eq!(x.flatten_all()?.to_vec1::<f32>()?, [-1., 1., 1., -1.]);
//! # Ok(()) }
//! ```

use std::sync::Arc;

use candle_core::{DType, Result, Tensor, bail};
use rand::Rng;

use super::loader::with_item_rng;

/// Maps one item's tensor to another (an image to a normalised image, a label to a one-hot vector).
pub trait Transform: Send + Sync {
    /// The transformed tensor.
    ///
    /// # Errors
    /// When the input does not fit the transform (wrong dtype, rank or number of channels); the message says which.
    fn apply(&self, x: Tensor) -> Result<Tensor>;

    /// This transform, then `next` (torchvision's `Compose([self, next])`).
    fn then<T: Transform>(self, next: T) -> Chain<Self, T>
    where
        Self: Sized,
    {
        Chain { first: self, second: next }
    }
}

impl<F: Fn(Tensor) -> Result<Tensor> + Send + Sync> Transform for F {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        self(x)
    }
}

impl<T: Transform + ?Sized> Transform for Arc<T> {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        (**self).apply(x)
    }
}

/// Two transforms one after the other; made by [`Transform::then`].
#[derive(Clone, Debug)]
pub struct Chain<A, B> {
    first: A,
    second: B,
}

impl<A: Transform, B: Transform> Transform for Chain<A, B> {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        self.second.apply(self.first.apply(x)?)
    }
}

/// A list of transforms applied in order (torchvision's `Compose`), for when the list is built at run time.
#[derive(Clone, Default)]
pub struct Compose {
    steps: Vec<Arc<dyn Transform>>,
}

impl Compose {
    /// No transforms yet: returns its input.
    pub fn new() -> Self {
        Compose::default()
    }

    /// Adds `step` at the end.
    pub fn push(mut self, step: impl Transform + 'static) -> Self {
        self.steps.push(Arc::new(step));
        self
    }

    /// How many steps there are.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl Transform for Compose {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        self.steps.iter().try_fold(x, |x, step| step.apply(x))
    }
}

/// Image dimensions `(channels, height, width)` of a `[H, W]` or `[C, H, W]` tensor.
fn chw(x: &Tensor, what: &str) -> Result<(usize, usize, usize)> {
    match *x.dims() {
        [h, w] => Ok((1, h, w)),
        [c, h, w] => Ok((c, h, w)),
        ref other => bail!("{what} expects an image of shape [H, W] or [C, H, W], got {other:?}"),
    }
}

/// `u8` pixels `[H, W]` or `[C, H, W]` → `f32` `[C, H, W]` scaled to 0–1 (torchvision's `ToTensor`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ToTensor;

impl Transform for ToTensor {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        if x.dtype() != DType::U8 {
            bail!(
                "ToTensor expects u8 pixels (0–255), got {:?}; a float image is already a tensor, skip ToTensor",
                x.dtype()
            )
        }
        let (c, h, w) = chw(&x, "ToTensor")?;
        x.reshape((c, h, w))?.to_dtype(DType::F32)?.affine(1.0 / 255.0, 0.0)
    }
}

/// `(x - mean[c]) / std[c]` for each channel `c` of a `[C, H, W]` float image (torchvision's `Normalize`).
#[derive(Clone, Debug)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// Per-channel `mean` and `std` (one value each for a grey image: Fashion-MNIST's are 0.2860 and 0.3530).
    ///
    /// # Errors
    /// When the lists differ in length or are empty, or a std is not above 0.
    pub fn new(mean: &[f32], std: &[f32]) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            bail!("Normalize needs one mean and one std per channel, got {} means and {} stds", mean.len(), std.len())
        }
        if let Some(bad) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            bail!("Normalize: every std must be above 0, got {bad}")
        }
        Ok(Normalize { mean: mean.to_vec(), std: std.to_vec() })
    }
}

impl Transform for Normalize {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        let (c, _, _) = chw(&x, "Normalize")?;
        if !x.dtype().is_float() {
            bail!("Normalize expects a float image, got {:?}; put ToTensor before it", x.dtype())
        }
        if c != self.mean.len() {
            bail!("Normalize was given {} channel means but the image has {c} channels", self.mean.len())
        }
        if c == 1 {
            let (m, s) = (f64::from(self.mean[0]), f64::from(self.std[0]));
            return x.affine(1.0 / s, -m / s);
        }
        let mean = Tensor::from_slice(&self.mean, (c, 1, 1), x.device())?.to_dtype(x.dtype())?;
        let std = Tensor::from_slice(&self.std, (c, 1, 1), x.device())?.to_dtype(x.dtype())?;
        x.broadcast_sub(&mean)?.broadcast_div(&std)
    }
}

/// Mirrors the image left to right with probability `p` (torchvision's `RandomHorizontalFlip`).
#[derive(Clone, Copy, Debug)]
pub struct RandomHorizontalFlip {
    p: f64,
}

impl RandomHorizontalFlip {
    /// Flips with probability `p` (torchvision's default is 0.5); `p` is clamped to 0–1.
    pub fn new(p: f64) -> Self {
        RandomHorizontalFlip { p: p.clamp(0.0, 1.0) }
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        chw(&x, "RandomHorizontalFlip")?;
        let flip = with_item_rng(|rng| rng.random_bool(self.p));
        // `flip` gathers with index_select, which needs contiguous memory (a crop before it is a strided view).
        if flip { x.contiguous()?.flip(&[x.rank() - 1]) } else { Ok(x) }
    }
}

/// A random `size × size` window of the image, after padding each side with `padding` zeros (torchvision's
/// `RandomCrop(size, padding)`): the classic CIFAR augmentation.
#[derive(Clone, Copy, Debug)]
pub struct RandomCrop {
    size: usize,
    padding: usize,
}

impl RandomCrop {
    /// Crops `size × size`, without padding.
    pub fn new(size: usize) -> Self {
        RandomCrop { size, padding: 0 }
    }

    /// Pads each side with `padding` zeros before cropping.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }
}

impl Transform for RandomCrop {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        let (_, h, w) = chw(&x, "RandomCrop")?;
        let (ph, pw) = (h + 2 * self.padding, w + 2 * self.padding);
        if self.size > ph || self.size > pw {
            bail!("RandomCrop of {0}×{0} does not fit a {h}×{w} image padded by {1}", self.size, self.padding)
        }
        let (hd, wd) = (x.rank() - 2, x.rank() - 1);
        let padded =
            x.pad_with_zeros(hd, self.padding, self.padding)?.pad_with_zeros(wd, self.padding, self.padding)?;
        let (top, left) =
            with_item_rng(|rng| (rng.random_range(0..=ph - self.size), rng.random_range(0..=pw - self.size)));
        padded.narrow(hd, top, self.size)?.narrow(wd, left, self.size)?.contiguous()
    }
}

/// Bilinear resize of a float `[C, H, W]` image (torchvision's `Resize`, without antialiasing).
#[derive(Clone, Copy, Debug)]
pub struct Resize {
    target: ResizeTarget,
}

#[derive(Clone, Copy, Debug)]
enum ResizeTarget {
    ShorterSide(usize),
    Exact(usize, usize),
}

impl Resize {
    /// Scales so the shorter side becomes `size`, keeping the aspect ratio (`Resize(256)` before a center crop).
    pub fn new(size: usize) -> Self {
        Resize { target: ResizeTarget::ShorterSide(size) }
    }

    /// Scales to exactly `height × width`.
    pub fn exact(height: usize, width: usize) -> Self {
        Resize { target: ResizeTarget::Exact(height, width) }
    }
}

impl Transform for Resize {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        let (c, h, w) = chw(&x, "Resize")?;
        if !x.dtype().is_float() {
            bail!("Resize works on float images; put ToTensor before it")
        }
        let (th, tw) = match self.target {
            ResizeTarget::Exact(th, tw) => (th, tw),
            ResizeTarget::ShorterSide(s) if h <= w => (s, (w * s + h / 2) / h.max(1)),
            ResizeTarget::ShorterSide(s) => ((h * s + w / 2) / w.max(1), s),
        };
        if th == 0 || tw == 0 {
            bail!("Resize to {th}×{tw}: both sides must be at least 1")
        }
        x.reshape((1, c, h, w))?.upsample_bilinear2d(th, tw, false)?.reshape((c, th, tw))
    }
}

/// The central `height × width` window (torchvision's `CenterCrop`).
#[derive(Clone, Copy, Debug)]
pub struct CenterCrop {
    height: usize,
    width: usize,
}

impl CenterCrop {
    /// A `size × size` center crop.
    pub fn new(size: usize) -> Self {
        CenterCrop { height: size, width: size }
    }
}

impl Transform for CenterCrop {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        let (_, h, w) = chw(&x, "CenterCrop")?;
        if self.height > h || self.width > w {
            bail!("CenterCrop of {}×{} is larger than the {h}×{w} image; Resize first", self.height, self.width)
        }
        let (hd, wd) = (x.rank() - 2, x.rank() - 1);
        x.narrow(hd, (h - self.height) / 2, self.height)?.narrow(wd, (w - self.width) / 2, self.width)
    }
}

/// Adds a border of `fill` around the image: `left`, `top`, `right`, `bottom` pixels (torchvision's `Pad`), e.g. a
/// 28 × 28 Fashion-MNIST image padded by 2 on every side becomes the 32 × 32 a CIFAR network expects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad {
    left: usize,
    top: usize,
    right: usize,
    bottom: usize,
    fill: f32,
}

impl Pad {
    /// `padding` pixels of zeros on every side.
    pub fn new(padding: usize) -> Self {
        Pad { left: padding, top: padding, right: padding, bottom: padding, fill: 0.0 }
    }

    /// Different amounts per side, in torchvision's order: left, top, right, bottom.
    pub fn sides(left: usize, top: usize, right: usize, bottom: usize) -> Self {
        Pad { left, top, right, bottom, fill: 0.0 }
    }

    /// The border's value instead of 0 (in the image's own units: 0–255 before `ToTensor`, 0–1 after).
    pub fn fill(mut self, fill: f32) -> Self {
        self.fill = fill;
        self
    }
}

impl Transform for Pad {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        chw(&x, "Pad")?;
        let (hd, wd) = (x.rank() - 2, x.rank() - 1);
        let padded = x.pad_with_zeros(hd, self.top, self.bottom)?.pad_with_zeros(wd, self.left, self.right)?;
        if self.fill == 0.0 {
            return Ok(padded);
        }
        // The border is where a padded tensor of ones is zero: `padded + fill · (1 − inside)`.
        let ones = Tensor::ones(x.shape(), DType::F32, x.device())?;
        let inside = ones.pad_with_zeros(hd, self.top, self.bottom)?.pad_with_zeros(wd, self.left, self.right)?;
        let border = inside.affine(-f64::from(self.fill), f64::from(self.fill))?;
        padded.to_dtype(DType::F32)?.add(&border)?.to_dtype(x.dtype())
    }
}

/// A grey image with `channels` equal channels (torchvision's `Grayscale(num_output_channels)`): a 1-channel image
/// is repeated, a 3-channel one is first turned grey with the ITU-R 601 weights `0.299 R + 0.587 G + 0.114 B`.
/// `Grayscale::new(3)` lets a network trained on colour photos take Fashion-MNIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grayscale {
    channels: usize,
}

impl Grayscale {
    /// Grey images with `channels` channels (1 or 3).
    pub fn new(channels: usize) -> Self {
        Grayscale { channels }
    }
}

impl Transform for Grayscale {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        let (c, h, w) = chw(&x, "Grayscale")?;
        if !matches!(self.channels, 1 | 3) {
            bail!("Grayscale gives 1 or 3 channels, not {}", self.channels)
        }
        let x = x.reshape((c, h, w))?;
        let grey = match c {
            1 => x,
            3 => {
                let weights = Tensor::new(&[0.299f32, 0.587, 0.114], x.device())?.reshape((3, 1, 1))?;
                let dtype = x.dtype();
                x.to_dtype(DType::F32)?.broadcast_mul(&weights)?.sum_keepdim(0)?.to_dtype(dtype)?
            }
            _ => bail!("Grayscale takes a 1- or 3-channel image, got {c} channels"),
        };
        grey.repeat((self.channels, 1, 1))
    }
}

/// Class labels (`u32`, any shape) → one-hot `f32` vectors with `num_classes` entries (PyTorch's `F.one_hot`).
#[derive(Clone, Copy, Debug)]
pub struct OneHot {
    num_classes: usize,
}

impl OneHot {
    /// One-hot over `num_classes` classes.
    pub fn new(num_classes: usize) -> Self {
        OneHot { num_classes }
    }
}

impl Transform for OneHot {
    fn apply(&self, x: Tensor) -> Result<Tensor> {
        one_hot(&x, self.num_classes)
    }
}

/// One-hot `f32` vectors for `labels` (`u32`, any shape): the result has one more dimension, of size
/// `num_classes`.
///
/// # Errors
/// When a label is not below `num_classes`, or the labels are not whole numbers.
pub fn one_hot(labels: &Tensor, num_classes: usize) -> Result<Tensor> {
    let values: Vec<u32> = labels.to_dtype(DType::U32)?.flatten_all()?.to_vec1()?;
    if let Some(bad) = values.iter().find(|&&v| v as usize >= num_classes) {
        bail!("one_hot over {num_classes} classes got label {bad}; labels must be 0 to {}", num_classes.max(1) - 1)
    }
    let mut out = vec![0f32; values.len() * num_classes];
    for (row, &v) in values.iter().enumerate() {
        out[row * num_classes + v as usize] = 1.0;
    }
    let mut shape = labels.dims().to_vec();
    shape.push(num_classes);
    Tensor::from_vec(out, shape, labels.device())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn image() -> Tensor {
        Tensor::arange(0f32, 12., &Device::Cpu).and_then(|t| t.reshape((1, 3, 4))).expect("image")
    }

    #[test]
    fn flips_mirror_columns_and_crops_stay_inside_the_padding() {
        let flipped = RandomHorizontalFlip::new(1.0).apply(image()).expect("flip");
        assert_eq!(flipped.to_vec3::<f32>().expect("v")[0][0], [3., 2., 1., 0.]);
        let cropped = RandomCrop::new(3).padding(1).apply(image()).expect("crop");
        assert_eq!(cropped.dims(), [1, 3, 3]);
        assert!(RandomCrop::new(7).apply(image()).is_err());
    }

    #[test]
    fn resize_and_center_crop_give_the_asked_size() {
        let big = Resize::new(6).apply(image()).expect("resize");
        assert_eq!(big.dims(), [1, 6, 8]);
        let square = CenterCrop::new(6).apply(big).expect("crop");
        assert_eq!(square.dims(), [1, 6, 6]);
        let same = Resize::exact(3, 4).apply(image()).expect("same size");
        assert_eq!(same.to_vec3::<f32>().expect("v"), image().to_vec3::<f32>().expect("v"));
    }

    #[test]
    fn pad_adds_a_border_and_grayscale_repeats_or_mixes_channels() {
        let padded = Pad::new(2).apply(image()).expect("pad");
        assert_eq!(padded.dims(), [1, 7, 8]);
        assert_eq!(padded.sum_all().expect("sum").to_scalar::<f32>().expect("v"), 66.0, "the image's values kept");
        let filled = Pad::sides(1, 0, 0, 0).fill(9.0).apply(image()).expect("fill");
        assert_eq!(filled.to_vec3::<f32>().expect("v")[0][0], [9., 0., 1., 2., 3.]);
        let pixels = Tensor::new(&[[7u8]], &Device::Cpu).expect("u8");
        let white = Pad::new(1).fill(255.0).apply(pixels).expect("u8 fill").to_vec2::<u8>().expect("v");
        assert_eq!(white, [[255, 255, 255], [255, 7, 255], [255, 255, 255]]);
        let three = Grayscale::new(3).apply(image()).expect("grey");
        assert_eq!(three.dims(), [3, 3, 4]);
        assert_eq!(
            three.get(2).expect("c").to_vec2::<f32>().expect("v"),
            image().get(0).expect("c").to_vec2::<f32>().expect("v")
        );
        let rgb = Tensor::new(&[[[1f32]], [[0.]], [[0.]]], &Device::Cpu).expect("red");
        let grey = Grayscale::new(1).apply(rgb).expect("to grey");
        assert!((grey.flatten_all().expect("f").to_vec1::<f32>().expect("v")[0] - 0.299).abs() < 1e-6);
        assert!(Grayscale::new(2).apply(image()).is_err());
    }

    #[test]
    fn normalize_checks_channels_and_one_hot_checks_labels() {
        let rgb = Tensor::ones((3, 2, 2), DType::F32, &Device::Cpu).expect("rgb");
        let n = Normalize::new(&[0.5, 0.5, 0.0], &[0.5, 0.25, 1.0]).expect("normalize").apply(rgb).expect("apply");
        assert_eq!(n.to_vec3::<f32>().expect("v").iter().map(|c| c[0][0]).collect::<Vec<_>>(), [1., 2., 1.]);
        let err = Normalize::new(&[0.5], &[0.5]).expect("n").apply(image().repeat((2, 1, 1)).expect("2ch"));
        assert!(err.expect_err("channels").to_string().contains("1 channel means but the image has 2"));
        let labels = Tensor::new(&[2u32, 0], &Device::Cpu).expect("labels");
        assert_eq!(one_hot(&labels, 3).expect("one hot").to_vec2::<f32>().expect("v"), [[0., 0., 1.], [1., 0., 0.]]);
        assert!(one_hot(&labels, 2).is_err());
    }
}
