//! Data the way PyTorch users load it (`torch.utils.data`, `torchvision.datasets`), in idiomatic Rust.
//!
//! - [`Dataset`] and its adapters ([`TensorDataset`], [`map`](DatasetExt::map), [`subset`](DatasetExt::subset),
//!   [`random_split`], [`concat`]);
//! - [`DataLoader`]: batch size, seeded shuffle, samplers, collate, `drop_last`, worker threads with prefetch, the
//!   device batches land on;
//! - [`transforms`] for images and labels;
//! - real datasets: [`mnist`] and [`fashion_mnist`] from their IDX files, CSV tables ([`Table`], [`CsvDataset`],
//!   [`breast_cancer`]), and [`text`] (tokenizer, vocabulary, corpus, question–answer pairs);
//! - [`download`]: fetch once, check the sha256, keep in `$CANDLELIT_DATA`, or take from `CANDLELIT_DATA_MIRROR`.
//!
//! A whole input pipeline, as a lesson writes it:
//!
//! ```no_run
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let dev = device()?;
//! let tf = ToTensor.then(Normalize::new(&[0.2860], &[0.3530])?);
//! let data = image_splits("fashion-mnist")?;             // or "mnist"
//! let train = data.train.with_transform(tf);
//! let loader = DataLoader::new(train).batch_size(64).shuffle(true).num_workers(2).device(&dev);
//! for batch in &loader {
//!     let (images, labels) = batch?;                      // [64, 1, 28, 28] f32 and [64] u32, on `dev`
//!     # let _ = (images, labels);
//! }
//! # Ok(()) }
//! ```

pub mod collate;
pub mod dataset;
pub mod download;
pub mod idx;
pub mod loader;
pub mod sampler;
pub mod tabular;
pub mod text;
pub mod transforms;
pub mod vision;

pub use collate::{Collate, DefaultCollate, PadCollate, PadItem, Padded, Stack};
pub use dataset::{
    BoxedDataset, Concat, Dataset, DatasetExt, Mapped, Subset, TensorDataset, concat, random_split, split_sizes,
};
pub use download::{Fetcher, Mirror, RemoteFile, data_dir, fetch};
pub use loader::{DataLoader, LoaderIter, with_item_rng};
pub use sampler::{
    BatchSampler, Batches, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler,
    epoch_rng,
};
pub use tabular::{CsvDataset, StandardScaler, Table, breast_cancer, iris};
pub use vision::{ImageDataset, ImageSplits, Split, fashion_mnist, image_splits, mnist};
