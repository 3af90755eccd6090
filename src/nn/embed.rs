//! Embedding tables, with an optional padding index.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

/// A lookup table from token ids to vectors (`nn.Embedding`): ids of any shape `(…)` give `(…, dim)`.
///
/// With a padding index (PyTorch's `padding_idx`), that row starts at zero, the lookup of it always gives zeros and
/// it receives no gradient, so padding never moves the model.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let emb = nn::embedding_with_padding(10, 4, 0, vb.pp("emb"))?;
/// let ids = Tensor::new(&[[3u32, 7, 0, 0]], &Device::Cpu)?;   // one sequence, padded with 0
/// let vectors = emb.forward(&ids)?;
/// assert_eq!(vectors.dims(), &[1, 4, 4]);
/// assert_eq!(vectors.get(0)?.get(3)?.to_vec1::<f32>()?, [0.0; 4]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Embedding {
    table: Tensor,
    padding_idx: Option<u32>,
}

/// An embedding of `vocab` ids into `dim` numbers, weights drawn from N(0, 1) with the prelude's seeded generator
/// (as PyTorch does; Candle's own draws are not seeded on the CPU).
///
/// # Errors
/// When the variable cannot be made.
pub fn embedding(vocab: usize, dim: usize, vb: VarBuilder) -> Result<Embedding> {
    make(vocab, dim, None, vb)
}

/// An embedding whose row `padding_idx` is zero and gets no gradient (PyTorch's `padding_idx=`).
///
/// # Errors
/// When `padding_idx` is not below `vocab`, or the variable cannot be made.
pub fn embedding_with_padding(vocab: usize, dim: usize, padding_idx: u32, vb: VarBuilder) -> Result<Embedding> {
    if padding_idx as usize >= vocab {
        candle_core::bail!("padding index {padding_idx} must be below the vocabulary size {vocab}");
    }
    make(vocab, dim, Some(padding_idx), vb)
}

fn make(vocab: usize, dim: usize, padding_idx: Option<u32>, vb: VarBuilder) -> Result<Embedding> {
    let table = vb.get_with_hints((vocab, dim), "weight", Init::Const(0.0))?;
    let mut init = crate::random::randn((vocab, dim), table.device())?.to_dtype(table.dtype())?;
    if let Some(pad) = padding_idx {
        init = init.broadcast_mul(&keep_mask(vocab, pad, table.device())?.to_dtype(table.dtype())?)?;
    }
    // A table just created by this builder is all zeros: give it the seeded values. One that already held values
    // (loaded weights, a model rebuilt on another device) keeps them.
    let fresh = table.abs()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()? == 0.0;
    if fresh && table.is_variable() {
        candle_core::Var::from_tensor(&table)?.set(&init)?;
    }
    Ok(Embedding { table, padding_idx })
}

/// `(vocab, 1)` with 1 everywhere but 0 at `pad`.
fn keep_mask(vocab: usize, pad: u32, device: &candle_core::Device) -> Result<Tensor> {
    let ids = Tensor::arange(0u32, vocab as u32, device)?;
    ids.ne(pad)?.to_dtype(DType::F32)?.reshape((vocab, 1))
}

impl Embedding {
    /// The `(vocab, dim)` table.
    pub fn table(&self) -> &Tensor {
        &self.table
    }

    /// The padding index, if any.
    pub fn padding_idx(&self) -> Option<u32> {
        self.padding_idx
    }
}

impl Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        if !ids.dtype().is_int() {
            candle_core::bail!(
                "an embedding looks up integer token ids, got {:?} — convert with `.to_dtype(DType::U32)?`",
                ids.dtype()
            );
        }
        let vocab = self.table.dim(0)?;
        let flat = ids.flatten_all()?.to_dtype(DType::U32)?;
        let max = if flat.elem_count() == 0 { 0 } else { flat.max(0)?.to_scalar::<u32>()? as usize };
        if flat.elem_count() > 0 && max >= vocab {
            candle_core::bail!("token id {max} is outside the embedding's vocabulary of {vocab} ids");
        }
        // Masking the table (not the output) keeps the padding row's gradient at exactly zero.
        let table = match self.padding_idx {
            Some(pad) => {
                self.table.broadcast_mul(&keep_mask(vocab, pad, self.table.device())?.to_dtype(self.table.dtype())?)?
            }
            None => self.table.clone(),
        };
        let mut dims = ids.dims().to_vec();
        dims.push(self.table.dim(1)?);
        table.index_select(&flat, 0)?.reshape(dims).map(crate::grad_mode::layer_output)
    }
}
