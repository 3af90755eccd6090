//! MNIST and Fashion-MNIST: 28×28 grey images with 10 classes, read from the original gzipped IDX files
//! (like `torchvision.datasets.MNIST` and `FashionMNIST`).
//!
//! Both have 60,000 training and 10,000 test images. Files are fetched once into the data folder (see
//! [`download`](super::download)); without internet, point `CANDLELIT_DATA_MIRROR` at a folder or a local server
//! that holds them.
//!
//! ```no_run
//! use candlelit::prelude::*;
//! use candlelit::data::transforms::{Normalize, ToTensor, Transform};
//! # fn main() -> Result<()> {
//! let tf = ToTensor.then(Normalize::new(&[0.2860], &[0.3530])?);
//! let train = fashion_mnist(Split::Train)?.with_transform(tf);
//! let (image, label) = train.get(0)?;                       // [1, 28, 28] f32, and 9
//! println!("{} is a {}", image.show(), train.classes()[label as usize]); // ... is a Ankle boot
//! # Ok(()) }
//! ```

use std::sync::Arc;

use candle_core::{Device, Result, Tensor, bail};

use super::dataset::{Dataset, check_index};
use super::download::{RemoteFile, fetch};
use super::idx::read_idx_file;
use super::transforms::Transform;

/// Which part of a dataset: the training images or the held-out test images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The training set (60,000 images for MNIST and Fashion-MNIST).
    Train,
    /// The test set (10,000 images).
    Test,
}

/// Fashion-MNIST's classes, in label order (label 0 is `"T-shirt/top"`).
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// MNIST's classes, in label order, named as torchvision names them.
pub const MNIST_CLASSES: [&str; 10] = [
    "0 - zero",
    "1 - one",
    "2 - two",
    "3 - three",
    "4 - four",
    "5 - five",
    "6 - six",
    "7 - seven",
    "8 - eight",
    "9 - nine",
];

const MNIST_HOSTS: &[&str] =
    &["https://storage.googleapis.com/cvdf-datasets/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"];
const FASHION_HOSTS: &[&str] = &[
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
];

/// The four MNIST files: train images, train labels, test images, test labels.
pub const MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile {
        folder: "mnist",
        name: "train-images-idx3-ubyte.gz",
        hosts: MNIST_HOSTS,
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        size: 9_912_422,
    },
    RemoteFile {
        folder: "mnist",
        name: "train-labels-idx1-ubyte.gz",
        hosts: MNIST_HOSTS,
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        size: 28_881,
    },
    RemoteFile {
        folder: "mnist",
        name: "t10k-images-idx3-ubyte.gz",
        hosts: MNIST_HOSTS,
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        size: 1_648_877,
    },
    RemoteFile {
        folder: "mnist",
        name: "t10k-labels-idx1-ubyte.gz",
        hosts: MNIST_HOSTS,
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        size: 4_542,
    },
];

/// The four Fashion-MNIST files: train images, train labels, test images, test labels.
pub const FASHION_MNIST_FILES: [RemoteFile; 4] = [
    RemoteFile {
        folder: "fashion-mnist",
        name: "train-images-idx3-ubyte.gz",
        hosts: FASHION_HOSTS,
        sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        size: 26_421_880,
    },
    RemoteFile {
        folder: "fashion-mnist",
        name: "train-labels-idx1-ubyte.gz",
        hosts: FASHION_HOSTS,
        sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        size: 29_515,
    },
    RemoteFile {
        folder: "fashion-mnist",
        name: "t10k-images-idx3-ubyte.gz",
        hosts: FASHION_HOSTS,
        sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        size: 4_422_102,
    },
    RemoteFile {
        folder: "fashion-mnist",
        name: "t10k-labels-idx1-ubyte.gz",
        hosts: FASHION_HOSTS,
        sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        size: 5_148,
    },
];

/// Grey images with a class label each, held in memory as bytes; item `i` is `(image, label)`.
///
/// Without a transform the image is a `u8` tensor `[1, H, W]` (0–255); add [`ToTensor`](super::transforms::ToTensor)
/// and friends with [`with_transform`](Self::with_transform). Cloning is cheap: the pixels are shared.
#[derive(Clone)]
pub struct ImageDataset {
    name: String,
    pixels: Arc<[u8]>,
    labels: Arc<[u8]>,
    height: usize,
    width: usize,
    classes: Arc<[String]>,
    transform: Option<Arc<dyn Transform>>,
}

impl std::fmt::Debug for ImageDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} images of {}×{}, {} classes",
            self.name,
            self.labels.len(),
            self.height,
            self.width,
            self.classes.len()
        )
    }
}

impl ImageDataset {
    /// Images from raw bytes: `pixels` holds `labels.len()` images of `height × width`, row-major.
    ///
    /// # Errors
    /// When the sizes disagree, or a label is not below the number of classes.
    pub fn from_bytes(
        name: impl Into<String>,
        pixels: Vec<u8>,
        labels: Vec<u8>,
        height: usize,
        width: usize,
        classes: &[&str],
    ) -> Result<Self> {
        let name = name.into();
        if pixels.len() != labels.len() * height * width {
            bail!(
                "{name}: {} labels need {} pixels of {height}×{width} images, but there are {}",
                labels.len(),
                labels.len() * height * width,
                pixels.len()
            )
        }
        if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= classes.len()) {
            bail!("{name}: label {bad} is out of range for {} classes", classes.len())
        }
        Ok(ImageDataset {
            name,
            pixels: pixels.into(),
            labels: labels.into(),
            height,
            width,
            classes: classes.iter().map(|c| (*c).to_string()).collect(),
            transform: None,
        })
    }

    /// The same images with `transform` applied to each image as it is fetched (torchvision's `transform=`).
    pub fn with_transform(mut self, transform: impl Transform + 'static) -> Self {
        self.transform = Some(Arc::new(transform));
        self
    }

    /// What this dataset is (`"Fashion-MNIST train"`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The class names, in label order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// `(height, width)` of every image.
    pub fn image_size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Every label, in order.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The raw pixels of image `index` (`height × width` bytes, row-major).
    ///
    /// # Errors
    /// When `index` is past the end.
    pub fn pixels(&self, index: usize) -> Result<&[u8]> {
        check_index(index, self.labels.len())?;
        let size = self.height * self.width;
        Ok(&self.pixels[index * size..(index + 1) * size])
    }

    /// All images as one `u8` tensor `[N, 1, H, W]`, without the transform (for statistics and whole-set maths).
    ///
    /// # Errors
    /// When the tensor cannot be made on `device`.
    pub fn images_tensor(&self, device: &Device) -> Result<Tensor> {
        Tensor::from_slice(&self.pixels, (self.labels.len(), 1, self.height, self.width), device)
    }

    /// All labels as a `u32` tensor `[N]`.
    ///
    /// # Errors
    /// When the tensor cannot be made on `device`.
    pub fn labels_tensor(&self, device: &Device) -> Result<Tensor> {
        Tensor::from_vec(self.labels.iter().map(|&l| u32::from(l)).collect::<Vec<u32>>(), self.labels.len(), device)
    }

    /// A new dataset holding copies of the images at `indices`, in that order, with the same transform.
    ///
    /// # Errors
    /// When an index is past the end.
    pub fn select(&self, name: impl Into<String>, indices: &[usize]) -> Result<ImageDataset> {
        let size = self.height * self.width;
        let mut pixels = Vec::with_capacity(indices.len() * size);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.pixels(i)?);
            labels.push(self.labels[i]);
        }
        Ok(ImageDataset { name: name.into(), pixels: pixels.into(), labels: labels.into(), ..self.clone() })
    }

    /// Splits the images at random into `N` image datasets with the given fractions, reproducibly for `seed` —
    /// [`random_split`](super::random_split) (PyTorch's `random_split`), with parts that stay `ImageDataset`s
    /// (their pixels and labels at hand, the transform kept). The same seed gives the same parts; the sizes are
    /// those of [`split_sizes`](super::split_sizes).
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// let images = ImageDataset::from_bytes("ten", (0..40).collect(), vec![0; 10], 2, 2, &["only"])?;
    /// let [fit, valid] = images.random_split([0.8, 0.2], 0)?;
    /// assert_eq!((fit.len(), valid.len()), (8, 2));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When a fraction is negative or not finite, or the fractions do not add up to 1.
    pub fn random_split<const N: usize>(&self, fractions: [f64; N], seed: u64) -> Result<[ImageDataset; N]> {
        let parts = super::dataset::split_indices(self.len(), &fractions, seed)?;
        let mut out = Vec::with_capacity(N);
        for (k, indices) in parts.iter().enumerate() {
            out.push(self.select(format!("{} (part {} of {N})", self.name, k + 1), indices)?);
        }
        out.try_into().map_err(|_| candle_core::Error::Msg("random_split: wrong number of parts".into()))
    }

    /// The images repeated `times` times (a bigger in-memory set for benchmarks).
    pub fn repeat(&self, times: usize) -> ImageDataset {
        ImageDataset {
            name: format!("{} ×{times}", self.name),
            pixels: self.pixels.repeat(times).into(),
            labels: self.labels.repeat(times).into(),
            ..self.clone()
        }
    }
}

impl Dataset for ImageDataset {
    type Item = (Tensor, u32);

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn get(&self, index: usize) -> Result<(Tensor, u32)> {
        let image = Tensor::from_slice(self.pixels(index)?, (1, self.height, self.width), &Device::Cpu)?;
        let image = match &self.transform {
            Some(transform) => transform.apply(image)?,
            None => image,
        };
        Ok((image, u32::from(self.labels[index])))
    }
}

/// Reads an images file and a labels file in IDX format into an [`ImageDataset`].
///
/// # Errors
/// When a file is not valid IDX, the counts differ, or a label is out of range.
pub fn read_idx_images(
    name: &str,
    images: &std::path::Path,
    labels: &std::path::Path,
    classes: &[&str],
) -> Result<ImageDataset> {
    let image_idx = read_idx_file(images)?;
    let label_idx = read_idx_file(labels)?;
    let [n, h, w] = image_idx.dims[..] else {
        bail!("{}: expected images of shape [N, H, W], found dimensions {:?}", images.display(), image_idx.dims)
    };
    if label_idx.dims != [n] {
        bail!(
            "{} holds {n} images but {} holds labels of shape {:?}: the files do not belong together",
            images.display(),
            labels.display(),
            label_idx.dims
        )
    }
    ImageDataset::from_bytes(name, image_idx.into_u8()?, label_idx.into_u8()?, h, w, classes)
}

fn load(title: &str, files: &[RemoteFile; 4], split: Split, classes: &[&str]) -> Result<ImageDataset> {
    let (images, labels, part) = match split {
        Split::Train => (&files[0], &files[1], "train"),
        Split::Test => (&files[2], &files[3], "test"),
    };
    read_idx_images(&format!("{title} {part}"), &fetch(images)?, &fetch(labels)?, classes)
}

/// MNIST handwritten digits: 60,000 training or 10,000 test images, downloaded once.
///
/// # Errors
/// When the files cannot be fetched or read; the message says where to put them offline.
pub fn mnist(split: Split) -> Result<ImageDataset> {
    load("MNIST", &MNIST_FILES, split, &MNIST_CLASSES)
}

/// Fashion-MNIST clothing images: 60,000 training or 10,000 test images, downloaded once.
///
/// # Errors
/// When the files cannot be fetched or read; the message says where to put them offline.
pub fn fashion_mnist(split: Split) -> Result<ImageDataset> {
    load("Fashion-MNIST", &FASHION_MNIST_FILES, split, &FASHION_MNIST_CLASSES)
}

/// A training set and a test set.
#[derive(Clone, Debug)]
pub struct ImageSplits {
    /// What to train on.
    pub train: ImageDataset,
    /// What to measure on, never trained on.
    pub test: ImageDataset,
}

/// The names [`image_splits`] knows.
pub const IMAGE_DATASETS: [&str; 2] = ["fashion-mnist", "mnist"];

/// The train and test sets of the image dataset called `name` — what a lesson's `dataset` parameter picks:
///
/// - `"fashion-mnist"`: 60,000 / 10,000 clothes (the lessons' default);
/// - `"mnist"`: 60,000 / 10,000 handwritten digits.
///
/// For a quick run on fewer images, take a subset with [`ImageDataset::select`].
///
/// # Errors
/// When the name is unknown or the files cannot be fetched.
pub fn image_splits(name: &str) -> Result<ImageSplits> {
    match name {
        "fashion-mnist" => Ok(ImageSplits { train: fashion_mnist(Split::Train)?, test: fashion_mnist(Split::Test)? }),
        "mnist" => Ok(ImageSplits { train: mnist(Split::Train)?, test: mnist(Split::Test)? }),
        other => bail!("there is no image dataset called {other:?}; choose one of {IMAGE_DATASETS:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_must_fit_the_classes_and_the_pixels() {
        assert!(ImageDataset::from_bytes("t", vec![0; 8], vec![0, 1], 2, 2, &["a", "b"]).is_ok());
        let err = ImageDataset::from_bytes("t", vec![0; 8], vec![0, 2], 2, 2, &["a", "b"]).expect_err("label");
        assert!(err.to_string().contains("label 2 is out of range for 2 classes"));
        assert!(ImageDataset::from_bytes("t", vec![0; 7], vec![0, 1], 2, 2, &["a", "b"]).is_err());
    }

    #[test]
    fn select_copies_in_order_and_keeps_the_transform() {
        let ds = ImageDataset::from_bytes("t", vec![1, 1, 2, 2, 3, 3], vec![0, 1, 0], 1, 2, &["a", "b"])
            .expect("dataset")
            .with_transform(|x: Tensor| x.to_dtype(candle_core::DType::F32));
        let picked = ds.select("picked", &[2, 0]).expect("select");
        let (image, label) = picked.get(0).expect("item");
        assert_eq!((image.flatten_all().expect("f").to_vec1::<f32>().expect("v"), label), (vec![3., 3.], 0));
        assert_eq!(ds.repeat(2).len(), 6);
        assert!(image_splits("cifar").expect_err("unknown").to_string().contains("fashion-mnist"));
    }
}
