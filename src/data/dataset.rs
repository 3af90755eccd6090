//! The [`Dataset`] trait and the adapters that build one dataset from another (PyTorch's `torch.utils.data`).
//!
//! A dataset is anything with a length and a way to fetch item `i`. Items are whatever the data naturally is —
//! a `(Tensor, u32)` image and label, a `Vec<u32>` of token ids, a row of floats — and a
//! [collate](super::collate) turns a list of them into batch tensors.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let x = Tensor::arange(0f32, 10., &Device::Cpu)?.reshape((5, 2))?;
//! let y = Tensor::new(&[0u32, 1, 0, 1, 1], &Device::Cpu)?;
//! let ds = TensorDataset::new(vec![x, y])?;            // like torch's TensorDataset(x, y)
//! assert_eq!(ds.len(), 5);
//! let row = ds.get(2)?;                                // [x[2], y[2]]
//! assert_eq!(row[0].to_vec1::<f32>()?, [4., 5.]);
//! let [train, val] = random_split(ds, [0.8, 0.2], 42)?;
//! assert_eq!((train.len(), val.len()), (4, 1));
//! # Ok(()) }
//! ```

use std::sync::Arc;

use candle_core::{IndexOp, Result, Tensor, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::random::PreludeRng;

/// A collection of items that can be fetched by position, like `torch.utils.data.Dataset`.
///
/// Implement [`len`](Dataset::len) and [`get`](Dataset::get); everything else (loaders, [`map`](DatasetExt::map),
/// [`subset`](DatasetExt::subset), [`random_split`], [`concat`]) works from those two. `Send + Sync` lets
/// a [`DataLoader`](super::DataLoader) fetch items on worker threads.
///
/// ```
/// use candlelit::prelude::*;
/// /// The squares 0, 1, 4, 9, ... as (x, x²) pairs.
/// struct Squares(usize);
/// impl Dataset for Squares {
///     type Item = (f32, f32);
///     fn len(&self) -> usize { self.0 }
///     fn get(&self, i: usize) -> Result<(f32, f32)> { Ok((i as f32, (i * i) as f32)) }
/// }
/// # fn main() -> Result<()> {
/// assert_eq!(Squares(4).get(3)?, (3., 9.));
/// # Ok(()) }
/// ```
pub trait Dataset: Send + Sync {
    /// What one item is: tensors, a tuple of tensors and labels, or plain values a collate turns into tensors.
    type Item: Send;

    /// How many items there are.
    fn len(&self) -> usize;

    /// Item number `index` (from 0).
    ///
    /// # Errors
    /// When `index >= len()` or the item cannot be read or transformed.
    fn get(&self, index: usize) -> Result<Self::Item>;

    /// Whether there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<D: Dataset + ?Sized> Dataset for Arc<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        (**self).get(index)
    }
}

impl<D: Dataset + ?Sized> Dataset for Box<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        (**self).len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        (**self).get(index)
    }
}

/// Any dataset with items of type `T`, behind a shared pointer. Notebook variables need types with names, and a
/// dataset made with a closure has none: `ds.map(|x| ...).boxed()` gives it one.
pub type BoxedDataset<T> = Arc<dyn Dataset<Item = T>>;

/// The error for an index past the end, worded the same by every dataset.
pub(crate) fn check_index(index: usize, len: usize) -> Result<()> {
    if index >= len {
        bail!("index {index} is out of range: the dataset has {len} items (valid indices are 0 to {})", len.max(1) - 1)
    }
    Ok(())
}

/// Adapters every dataset gets: [`map`](DatasetExt::map), [`subset`](DatasetExt::subset),
/// [`concat`](DatasetExt::concat) and [`shared`](DatasetExt::shared).
pub trait DatasetExt: Dataset + Sized {
    /// A dataset whose items are `f(item)`: the place for per-item transforms.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// let ds = TensorDataset::new(vec![Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?])?;
    /// let doubled = ds.map(|row: Vec<Tensor>| row[0].affine(2., 0.));
    /// assert_eq!(doubled.get(2)?.to_scalar::<f32>()?, 6.);
    /// # Ok(()) }
    /// ```
    fn map<T, F>(self, f: F) -> Mapped<Self, F>
    where
        F: Fn(Self::Item) -> Result<T> + Send + Sync,
        T: Send,
    {
        Mapped { inner: self, f }
    }

    /// The items at `indices`, in that order (PyTorch's `Subset`).
    ///
    /// # Errors
    /// When an index is past the end of this dataset.
    fn subset(self, indices: Vec<usize>) -> Result<Subset<Self>> {
        Subset::new(self, indices)
    }

    /// This dataset's items followed by `other`'s (PyTorch's `ConcatDataset`, or `a + b`).
    fn concat<B: Dataset<Item = Self::Item>>(self, other: B) -> Concat<Self, B> {
        Concat { first: self, second: other }
    }

    /// This dataset behind an [`Arc`], so several loaders or splits can share it without copying.
    fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// This dataset as a [`BoxedDataset`]: a type a notebook can name, for a dataset built with closures
    /// ([`map`](DatasetExt::map)) that a later cell uses.
    fn boxed(self) -> BoxedDataset<Self::Item>
    where
        Self: 'static,
    {
        Arc::new(self)
    }
}

impl<D: Dataset> DatasetExt for D {}

/// Rows of one or more tensors that share their first dimension (PyTorch's `TensorDataset`).
///
/// Item `i` is `vec![t[i] for each tensor t]`; the default collate stacks each position into a batch tensor.
/// Fetching an item is a view, not a copy.
#[derive(Clone, Debug)]
pub struct TensorDataset {
    tensors: Vec<Tensor>,
    len: usize,
}

impl TensorDataset {
    /// Rows of `tensors`, which must all have the same size along dimension 0.
    ///
    /// # Errors
    /// When `tensors` is empty, a tensor is a scalar, or the first dimensions differ.
    pub fn new(tensors: Vec<Tensor>) -> Result<Self> {
        let Some(first) = tensors.first() else { bail!("TensorDataset needs at least one tensor") };
        let len = match first.dims().first() {
            Some(&n) => n,
            None => bail!("TensorDataset needs tensors with a first dimension to index; tensor 0 is a scalar"),
        };
        for (k, t) in tensors.iter().enumerate() {
            if t.dims().first() != Some(&len) {
                bail!(
                    "TensorDataset: every tensor needs the same first dimension; tensor 0 has {len} rows but tensor \
                     {k} has shape {:?}",
                    t.dims()
                )
            }
        }
        Ok(TensorDataset { tensors, len })
    }

    /// The tensors the rows come from.
    pub fn tensors(&self) -> &[Tensor] {
        &self.tensors
    }
}

impl Dataset for TensorDataset {
    type Item = Vec<Tensor>;
    fn len(&self) -> usize {
        self.len
    }
    fn get(&self, index: usize) -> Result<Vec<Tensor>> {
        check_index(index, self.len)?;
        self.tensors.iter().map(|t| t.i(index)).collect()
    }
}

/// The dataset made by [`DatasetExt::map`].
#[derive(Clone)]
pub struct Mapped<D, F> {
    inner: D,
    f: F,
}

impl<D, F, T> Dataset for Mapped<D, F>
where
    D: Dataset,
    F: Fn(D::Item) -> Result<T> + Send + Sync,
    T: Send,
{
    type Item = T;
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn get(&self, index: usize) -> Result<T> {
        (self.f)(self.inner.get(index)?)
    }
}

/// Some items of a dataset, in a given order (PyTorch's `Subset`); made by [`DatasetExt::subset`] and
/// [`random_split`].
#[derive(Clone, Debug)]
pub struct Subset<D> {
    inner: D,
    indices: Arc<[usize]>,
}

impl<D: Dataset> Subset<D> {
    /// The items of `inner` at `indices`.
    ///
    /// # Errors
    /// When an index is past the end of `inner`.
    pub fn new(inner: D, indices: Vec<usize>) -> Result<Self> {
        let len = inner.len();
        if let Some(bad) = indices.iter().find(|&&i| i >= len) {
            bail!("subset index {bad} is out of range: the dataset has {len} items")
        }
        Ok(Subset { inner, indices: indices.into() })
    }

    /// Positions in the underlying dataset, in this subset's order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// The dataset the items come from.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Dataset> Dataset for Subset<D> {
    type Item = D::Item;
    fn len(&self) -> usize {
        self.indices.len()
    }
    fn get(&self, index: usize) -> Result<D::Item> {
        check_index(index, self.indices.len())?;
        self.inner.get(self.indices[index])
    }
}

/// Two datasets one after the other; made by [`DatasetExt::concat`] or [`concat`].
#[derive(Clone, Debug)]
pub struct Concat<A, B> {
    first: A,
    second: B,
}

impl<A: Dataset, B: Dataset<Item = A::Item>> Dataset for Concat<A, B> {
    type Item = A::Item;
    fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }
    fn get(&self, index: usize) -> Result<A::Item> {
        check_index(index, self.len())?;
        let n = self.first.len();
        if index < n { self.first.get(index) } else { self.second.get(index - n) }
    }
}

/// `a`'s items followed by `b`'s (PyTorch's `ConcatDataset([a, b])`).
pub fn concat<A: Dataset, B: Dataset<Item = A::Item>>(a: A, b: B) -> Concat<A, B> {
    a.concat(b)
}

/// Splits `dataset` at random into `N` parts with the given fractions, reproducibly for a given `seed`
/// (PyTorch's `random_split(ds, [0.8, 0.2], generator=torch.Generator().manual_seed(seed))`).
///
/// Part sizes are `floor(fraction × len)`, with the items left over given one each to the first parts, so the
/// sizes always add up to `len`. The parts share the dataset (it is put behind an [`Arc`] once).
///
/// # Errors
/// When a fraction is negative or not finite, or the fractions do not add up to 1 (within 1e-6).
pub fn random_split<D: Dataset, const N: usize>(
    dataset: D,
    fractions: [f64; N],
    seed: u64,
) -> Result<[Subset<Arc<D>>; N]> {
    let parts = split_indices(dataset.len(), &fractions, seed)?;
    let shared = Arc::new(dataset);
    Ok(parts.map(|indices| Subset { inner: Arc::clone(&shared), indices: indices.into() }))
}

/// The indices of each part of a [`random_split`] of `len` items: a seeded shuffle of `0..len` cut into parts of
/// [`split_sizes`].
///
/// # Errors
/// As [`split_sizes`].
pub(crate) fn split_indices<const N: usize>(len: usize, fractions: &[f64; N], seed: u64) -> Result<[Vec<usize>; N]> {
    let sizes = split_sizes(len, fractions)?;
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut PreludeRng::seed_from_u64(seed));
    let mut start = 0;
    Ok(sizes.map(|size| {
        let part = order[start..start + size].to_vec();
        start += size;
        part
    }))
}

/// The part sizes [`random_split`] uses for `len` items.
///
/// # Errors
/// When a fraction is negative or not finite, or they do not add up to 1.
pub fn split_sizes<const N: usize>(len: usize, fractions: &[f64; N]) -> Result<[usize; N]> {
    if N == 0 {
        bail!("random_split needs at least one fraction, like [0.8, 0.2]")
    }
    if let Some(bad) = fractions.iter().find(|f| !f.is_finite() || **f < 0.0) {
        bail!("random_split fractions must be between 0 and 1, got {bad}")
    }
    let total: f64 = fractions.iter().sum();
    if (total - 1.0).abs() > 1e-6 {
        bail!("random_split fractions must add up to 1, but {fractions:?} add up to {total}")
    }
    let mut sizes = fractions.map(|f| (f * len as f64).floor() as usize);
    // Rounding down can leave a few items over (never more than N): give them one each to the first parts.
    let left = len.saturating_sub(sizes.iter().sum());
    for size in sizes.iter_mut().take(left) {
        *size += 1;
    }
    // Fractions a hair over 1 in total can round up one too many: take it back from the largest part.
    while sizes.iter().sum::<usize>() > len {
        if let Some(largest) = sizes.iter_mut().max() {
            *largest -= 1;
        }
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn tensor_rows_are_views_and_lengths_must_match() {
        let x = Tensor::arange(0u32, 6, &Device::Cpu).and_then(|t| t.reshape((3, 2))).expect("x");
        let y = Tensor::new(&[7u32, 8, 9], &Device::Cpu).expect("y");
        let ds = TensorDataset::new(vec![x.clone(), y]).expect("dataset");
        let row = ds.get(1).expect("row");
        assert_eq!(row[0].to_vec1::<u32>().expect("x"), [2, 3]);
        assert_eq!(row[1].to_scalar::<u32>().expect("y"), 8);
        let err = ds.get(3).expect_err("past the end").to_string();
        assert!(err.contains("index 3 is out of range: the dataset has 3 items"), "{err}");
        let short = Tensor::new(&[1u32, 2], &Device::Cpu).expect("short");
        let err = TensorDataset::new(vec![x, short]).expect_err("mismatch").to_string();
        assert!(err.contains("tensor 1 has shape [2]"), "{err}");
    }

    #[test]
    fn concat_and_subset_index_through() {
        let a = TensorDataset::new(vec![Tensor::new(&[1u32, 2], &Device::Cpu).expect("a")]).expect("a");
        let b = TensorDataset::new(vec![Tensor::new(&[3u32], &Device::Cpu).expect("b")]).expect("b");
        let both = concat(a, b).subset(vec![2, 0]).expect("subset");
        let values: Vec<u32> =
            (0..both.len()).map(|i| both.get(i).expect("item")[0].to_scalar::<u32>().expect("v")).collect();
        assert_eq!(values, [3, 1]);
        assert!(both.inner().clone().subset(vec![3]).is_err());
    }

    #[test]
    fn split_sizes_always_add_up() {
        assert_eq!(split_sizes(10, &[0.8, 0.2]).expect("sizes"), [8, 2]);
        assert_eq!(split_sizes(10, &[0.33, 0.33, 0.34]).expect("sizes"), [4, 3, 3]);
        assert!(split_sizes(10, &[0.5, 0.6]).is_err());
        assert!(split_sizes(10, &[1.5, -0.5]).is_err());
    }
}
