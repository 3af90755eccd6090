//! Pulling the values a display needs out of a tensor: on the CPU, summarised to the edges when large.

use candle_core::{DType, Device, Result, Tensor};

use super::PrintOptions;

/// The numbers to print, as wide types: floats as `f64`, integers as `i64`.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Values of a float tensor (f16, bf16, f32, f64, ...).
    Float(Vec<f64>),
    /// Values of an integer tensor (u8, u32, i16, i32, i64).
    Int(Vec<i64>),
}

impl Values {
    /// How many values there are.
    pub fn len(&self) -> usize {
        match self {
            Values::Float(v) => v.len(),
            Values::Int(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor's values laid out for display: the kept part of each dimension, and where `...` goes.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    /// The tensor's own dimensions.
    pub full: Vec<usize>,
    /// How many entries of each dimension are kept (all of them, or `2 * edge_items` when summarised).
    pub dims: Vec<usize>,
    /// For each dimension, the position after which `...` stands, when that dimension is summarised.
    pub elided_after: Vec<Option<usize>>,
    /// The kept values, row-major.
    pub values: Values,
}

impl Grid {
    /// Copies the values of `tensor` to the CPU, keeping only the edges of long dimensions when the tensor has
    /// more than `options.threshold` elements.
    pub fn of(tensor: &Tensor, options: &PrintOptions) -> Result<Self> {
        let summarise = tensor.elem_count() > options.threshold;
        let edge = options.edge_items.max(1);
        let mut kept = tensor.to_device(&Device::Cpu)?;
        let mut dims = Vec::with_capacity(tensor.rank());
        let mut elided_after = Vec::with_capacity(tensor.rank());
        for (d, &size) in tensor.dims().iter().enumerate() {
            if summarise && size > 2 * edge {
                let head = kept.narrow(d, 0, edge)?;
                let tail = kept.narrow(d, size - edge, edge)?;
                kept = Tensor::cat(&[&head, &tail], d)?;
                dims.push(2 * edge);
                elided_after.push(Some(edge));
            } else {
                dims.push(size);
                elided_after.push(None);
            }
        }
        let flat = kept.flatten_all()?;
        let values = match tensor.dtype() {
            DType::U8 | DType::U32 | DType::I16 | DType::I32 | DType::I64 => {
                Values::Int(flat.to_dtype(DType::I64)?.to_vec1::<i64>()?)
            }
            _ => Values::Float(flat.to_dtype(DType::F64)?.to_vec1::<f64>()?),
        };
        Ok(Self { full: tensor.dims().to_vec(), dims, elided_after, values })
    }
}
