//! Collate: turning a list of items into one batch (PyTorch's `collate_fn`).
//!
//! [`DefaultCollate`] stacks like PyTorch's `default_collate`: tensors along a new first dimension, numbers
//! into a 1-D tensor (`usize` labels become `u32`, Candle's index type), tuples and `Vec<Tensor>` rows position
//! by position. [`PadCollate`] pads sequences of different lengths and returns their lengths and a mask. Any
//! closure `Fn(Vec<Item>, &Device) -> Result<Batch>` is a collate too.
//!
//! ```
//! use candlelit::data::{Collate, DefaultCollate, PadCollate};
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let dev = Device::Cpu;
//! let items = vec![(Tensor::new(&[1f32, 2.], &dev)?, 0u32), (Tensor::new(&[3f32, 4.], &dev)?, 1)];
//! let (x, y) = DefaultCollate.collate(items, &dev)?;
//! assert_eq!((x.dims(), y.to_vec1::<u32>()?), (&[2usize, 2][..], vec![0, 1]));
//!
//! let sentences = vec![vec![5u32, 6, 7], vec![8]];
//! let padded = PadCollate::new(0).collate(sentences, &dev)?;
//! assert_eq!(padded.values.to_vec2::<u32>()?, [[5, 6, 7], [8, 0, 0]]);
//! assert_eq!(padded.lengths.to_vec1::<u32>()?, [3, 1]);
//! assert_eq!(padded.mask.to_vec2::<u8>()?, [[1, 1, 1], [1, 0, 0]]);
//! # Ok(()) }
//! ```

use candle_core::{DType, Device, Result, Tensor, bail};

/// Makes one batch from a list of items, on `device`.
pub trait Collate<T>: Send + Sync {
    /// What a batch is: a tensor, a tuple of tensors, a [`Padded`] sequence batch, ...
    type Batch: Send;

    /// The batch holding `items` (in order), with its tensors on `device`.
    ///
    /// # Errors
    /// When the items do not fit together (tensors of different shapes for [`DefaultCollate`], say).
    fn collate(&self, items: Vec<T>, device: &Device) -> Result<Self::Batch>;
}

impl<T, B: Send, F: Fn(Vec<T>, &Device) -> Result<B> + Send + Sync> Collate<T> for F {
    type Batch = B;
    fn collate(&self, items: Vec<T>, device: &Device) -> Result<B> {
        self(items, device)
    }
}

/// Stacks items into batch tensors, like PyTorch's `default_collate`; see [`Stack`] for what can be stacked.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultCollate;

impl<T: Stack> Collate<T> for DefaultCollate {
    type Batch = T::Batch;
    fn collate(&self, items: Vec<T>, device: &Device) -> Result<T::Batch> {
        T::stack(items, device)
    }
}

/// An item type that [`DefaultCollate`] knows how to stack.
pub trait Stack: Sized + Send {
    /// The stacked form.
    type Batch: Send;
    /// Stacks `items` along a new first dimension, on `device`.
    ///
    /// # Errors
    /// When the items have different shapes, or there are none.
    fn stack(items: Vec<Self>, device: &Device) -> Result<Self::Batch>;
}

impl Stack for Tensor {
    type Batch = Tensor;
    fn stack(items: Vec<Tensor>, device: &Device) -> Result<Tensor> {
        if items.is_empty() {
            bail!("cannot make a batch from no items")
        }
        let first = items[0].dims().to_vec();
        if let Some((k, t)) = items.iter().enumerate().find(|(_, t)| t.dims() != first.as_slice()) {
            bail!(
                "cannot stack items of different shapes into one batch: item 0 is {first:?} but item {k} is {:?}. \
                 Resize them to one shape in a transform, or use PadCollate for sequences of different lengths.",
                t.dims()
            )
        }
        Tensor::stack(&items, 0)?.to_device(device)
    }
}

macro_rules! stack_numbers {
    ($($t:ty => $stored:ty),*) => {$(
        impl Stack for $t {
            type Batch = Tensor;
            fn stack(items: Vec<$t>, device: &Device) -> Result<Tensor> {
                let n = items.len();
                let values: Vec<$stored> = items.into_iter().map(|v| v as $stored).collect();
                Tensor::from_vec(values, n, device)
            }
        }

        impl Stack for Vec<$t> {
            type Batch = Tensor;
            fn stack(items: Vec<Vec<$t>>, device: &Device) -> Result<Tensor> {
                let width = items.first().map_or(0, Vec::len);
                if let Some((k, v)) = items.iter().enumerate().find(|(_, v)| v.len() != width) {
                    bail!(
                        "cannot stack rows of different lengths into one batch: item 0 has {width} values but item \
                         {k} has {}. Use PadCollate for sequences of different lengths.",
                        v.len()
                    )
                }
                let n = items.len();
                let values: Vec<$stored> = items.into_iter().flatten().map(|v| v as $stored).collect();
                Tensor::from_vec(values, (n, width), device)
            }
        }
    )*};
}

stack_numbers!(f32 => f32, f64 => f64, u8 => u8, u32 => u32, i64 => i64, usize => u32);

impl Stack for Vec<Tensor> {
    type Batch = Vec<Tensor>;
    fn stack(items: Vec<Vec<Tensor>>, device: &Device) -> Result<Vec<Tensor>> {
        let width = items.first().map_or(0, Vec::len);
        let mut columns: Vec<Vec<Tensor>> = (0..width).map(|_| Vec::with_capacity(items.len())).collect();
        for (k, row) in items.into_iter().enumerate() {
            if row.len() != width {
                bail!(
                    "cannot batch rows with different numbers of tensors: item 0 has {width}, item {k} has {}",
                    row.len()
                )
            }
            for (column, t) in columns.iter_mut().zip(row) {
                column.push(t);
            }
        }
        columns.into_iter().map(|column| <Tensor as Stack>::stack(column, device)).collect()
    }
}

impl<A: Stack, B: Stack> Stack for (A, B) {
    type Batch = (A::Batch, B::Batch);
    fn stack(items: Vec<(A, B)>, device: &Device) -> Result<Self::Batch> {
        let (a, b): (Vec<A>, Vec<B>) = items.into_iter().unzip();
        Ok((A::stack(a, device)?, B::stack(b, device)?))
    }
}

impl<A: Stack, B: Stack, C: Stack> Stack for (A, B, C) {
    type Batch = (A::Batch, B::Batch, C::Batch);
    fn stack(items: Vec<(A, B, C)>, device: &Device) -> Result<Self::Batch> {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for (x, y, z) in items {
            a.push(x);
            b.push(y);
            c.push(z);
        }
        Ok((A::stack(a, device)?, B::stack(b, device)?, C::stack(c, device)?))
    }
}

/// A batch of sequences padded to the longest one.
#[derive(Clone, Debug)]
pub struct Padded {
    /// `[batch, longest, ...]`: each sequence, then the pad value up to the longest length.
    pub values: Tensor,
    /// `[batch]` `u32`: the true length of each sequence.
    pub lengths: Tensor,
    /// `[batch, longest]` `u8`: 1 where a position holds a real element, 0 where it is padding. For a masked mean
    /// of a loss, `mask.to_dtype(DType::F32)?`; for `where_cond`, use it as it is.
    pub mask: Tensor,
}

/// Pads sequences of different lengths to the longest in the batch (on the right), and returns their lengths and
/// a mask as a [`Padded`]; labels beside the sequences are stacked as usual. For text models, where sentences
/// differ in length.
///
/// Items can be `Vec<u32>` (token ids), `Vec<f32>`, tensors whose first dimension is the sequence, or pairs of
/// these with a label or a second sequence: `(Vec<u32>, u32)` gives `(Padded, Tensor)`, `(Vec<u32>, Vec<u32>)`
/// gives `(Padded, Padded)` for question/answer pairs.
#[derive(Clone, Copy, Debug)]
pub struct PadCollate {
    pad: f64,
}

impl PadCollate {
    /// Pads with `pad` (for token ids, the vocabulary's `<pad>` id).
    pub fn new(pad: impl Into<f64>) -> Self {
        PadCollate { pad: pad.into() }
    }
}

impl<T: PadItem> Collate<T> for PadCollate {
    type Batch = T::Batch;
    fn collate(&self, items: Vec<T>, device: &Device) -> Result<T::Batch> {
        T::pad(items, self.pad, device)
    }
}

/// An item type that [`PadCollate`] knows how to batch: sequences are padded, labels are stacked.
pub trait PadItem: Sized + Send {
    /// The batched form.
    type Batch: Send;
    /// Batches `items`, padding sequences with `pad`.
    ///
    /// # Errors
    /// When sequences differ in anything but length.
    fn pad(items: Vec<Self>, pad: f64, device: &Device) -> Result<Self::Batch>;
}

/// Pads 1-D sequences of plain values.
fn pad_values<T: candle_core::WithDType>(items: Vec<Vec<T>>, pad: T, device: &Device) -> Result<Padded> {
    let lengths: Vec<usize> = items.iter().map(Vec::len).collect();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let mut values = Vec::with_capacity(items.len() * longest);
    for item in items {
        let n = item.len();
        values.extend(item);
        values.extend(std::iter::repeat_n(pad, longest - n));
    }
    padded(Tensor::from_vec(values, (lengths.len(), longest), device)?, &lengths, device)
}

fn padded(values: Tensor, lengths: &[usize], device: &Device) -> Result<Padded> {
    let longest = values.dims().get(1).copied().unwrap_or(0);
    let mask: Vec<u8> = lengths.iter().flat_map(|&n| (0..longest).map(move |p| u8::from(p < n))).collect();
    Ok(Padded {
        values,
        lengths: Tensor::from_vec(lengths.iter().map(|&n| n as u32).collect::<Vec<u32>>(), lengths.len(), device)?,
        mask: Tensor::from_vec(mask, (lengths.len(), longest), device)?,
    })
}

impl PadItem for Vec<u32> {
    type Batch = Padded;
    fn pad(items: Vec<Self>, pad: f64, device: &Device) -> Result<Padded> {
        if pad < 0.0 || pad.fract() != 0.0 || pad > f64::from(u32::MAX) {
            bail!("PadCollate: the pad value for token ids must be a whole number, got {pad}")
        }
        pad_values(items, pad as u32, device)
    }
}

impl PadItem for Vec<f32> {
    type Batch = Padded;
    fn pad(items: Vec<Self>, pad: f64, device: &Device) -> Result<Padded> {
        pad_values(items, pad as f32, device)
    }
}

impl PadItem for Tensor {
    type Batch = Padded;
    fn pad(items: Vec<Self>, pad: f64, device: &Device) -> Result<Padded> {
        let Some(first) = items.first() else { bail!("cannot make a batch from no items") };
        let (dtype, rest) = (first.dtype(), first.dims().get(1..).unwrap_or_default().to_vec());
        let lengths: Vec<usize> = items.iter().map(|t| t.dims().first().copied().unwrap_or(0)).collect();
        let longest = lengths.iter().copied().max().unwrap_or(0);
        let mut rows = Vec::with_capacity(items.len());
        for (k, t) in items.into_iter().enumerate() {
            if t.rank() == 0 || t.dims()[1..] != rest[..] || t.dtype() != dtype {
                bail!(
                    "PadCollate pads along the first dimension only: item 0 is {:?} {dtype:?} but item {k} is {:?} \
                     {:?}",
                    [&[lengths[0]][..], &rest].concat(),
                    t.dims(),
                    t.dtype()
                )
            }
            let missing = longest - lengths[k];
            let row = if missing == 0 {
                t
            } else {
                let mut shape = vec![missing];
                shape.extend(&rest);
                let filler = Tensor::full(pad, shape, t.device())?.to_dtype(dtype)?;
                Tensor::cat(&[&t, &filler], 0)?
            };
            rows.push(row);
        }
        padded(Tensor::stack(&rows, 0)?.to_device(device)?, &lengths, device)
    }
}

macro_rules! pad_labels {
    ($($t:ty),*) => {$(
        impl PadItem for $t {
            type Batch = Tensor;
            fn pad(items: Vec<$t>, _: f64, device: &Device) -> Result<Tensor> {
                <$t as Stack>::stack(items, device)
            }
        }
    )*};
}

pad_labels!(f32, f64, u8, u32, i64, usize);

impl<A: PadItem, B: PadItem> PadItem for (A, B) {
    type Batch = (A::Batch, B::Batch);
    fn pad(items: Vec<(A, B)>, pad: f64, device: &Device) -> Result<Self::Batch> {
        let (a, b): (Vec<A>, Vec<B>) = items.into_iter().unzip();
        Ok((A::pad(a, pad, device)?, B::pad(b, pad, device)?))
    }
}

/// The number of elements `mask` marks as real, as `f32` (the denominator of a masked mean).
///
/// # Errors
/// When `mask` cannot be converted (it is not a tensor of 0s and 1s).
pub fn mask_count(mask: &Tensor) -> Result<f32> {
    mask.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacking_refuses_mismatched_shapes_and_suggests_padding() {
        let dev = Device::Cpu;
        let items =
            vec![Tensor::zeros(3, DType::F32, &dev).expect("a"), Tensor::zeros(2, DType::F32, &dev).expect("b")];
        let err = DefaultCollate.collate(items, &dev).expect_err("shapes differ").to_string();
        assert!(err.contains("item 0 is [3] but item 1 is [2]") && err.contains("PadCollate"), "{err}");
        let rows = vec![vec![1u32, 2], vec![3]];
        assert!(DefaultCollate.collate(rows, &dev).is_err());
    }

    #[test]
    fn padding_tensors_keeps_trailing_dims_and_labels() {
        let dev = Device::Cpu;
        let a = Tensor::ones((2, 3), DType::F32, &dev).expect("a");
        let b = Tensor::ones((1, 3), DType::F32, &dev).expect("b");
        let (batch, labels) = PadCollate::new(-1.0).collate(vec![(a, 4usize), (b, 5)], &dev).expect("batch");
        assert_eq!(batch.values.dims(), [2, 2, 3]);
        assert_eq!(batch.values.to_vec3::<f32>().expect("v")[1][1], [-1., -1., -1.]);
        assert_eq!(labels.to_vec1::<u32>().expect("labels"), [4, 5]);
        assert_eq!(mask_count(&batch.mask).expect("count"), 3.0);
    }
}
