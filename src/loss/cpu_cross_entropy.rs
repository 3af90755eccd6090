//! Cross-entropy of CPU `f32` logits in two passes over the data instead of Candle's dozen: the forward pass takes
//! each row's log-sum-exp and the target's logit; the backward pass writes `(softmax − one-hot) · g / N` straight
//! into the gradient. Candle's `log_softmax` + `nll` make and read a full-size temporary at every step (max,
//! subtract, exp, sum, log, subtract, gather, and as many again backwards), which for a language model's
//! `(batch·time, vocabulary)` logits is most of a training step.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::nn::cpu_values::{contiguous_f32, lane_sum_pairs};

/// Rows per rayon task: enough work per task that splitting pays, small enough to keep both cores busy.
const ROWS_PER_TASK: usize = 16;

/// The class index of every row, checked against the number of classes.
fn class_indices(storage: &CpuStorage, layout: &Layout, classes: usize) -> Result<Vec<usize>> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("cross_entropy: the targets must be contiguous")
    };
    let indices: Vec<i64> = match storage {
        CpuStorage::U8(v) => v[start..end].iter().map(|&t| i64::from(t)).collect(),
        CpuStorage::U32(v) => v[start..end].iter().map(|&t| i64::from(t)).collect(),
        CpuStorage::I64(v) => v[start..end].to_vec(),
        other => candle_core::bail!(
            "cross_entropy: the targets are class indices (u8, u32 or i64), got {:?}; use `.to_dtype(DType::U32)`",
            other.dtype()
        ),
    };
    indices
        .into_iter()
        .map(|t| match usize::try_from(t) {
            Ok(i) if i < classes => Ok(i),
            _ => candle_core::bail!(
                "cross_entropy: the target {t} is not a class: the logits have {classes} classes (0 to {})",
                classes.saturating_sub(1)
            ),
        })
        .collect()
}

/// The largest value of a row and `ln Σ exp(x − max)`.
fn row_max_and_log_sum(row: &[f32]) -> (f32, f32) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum = if max.is_finite() { lane_sum_pairs(row, row, |x, _| (x - max).exp()) } else { 1.0 };
    (max, sum.ln())
}

/// The rows of `(n, classes)` logits and their class indices.
fn rows_and_targets<'a>(
    logits: (&'a CpuStorage, &Layout),
    targets: (&CpuStorage, &Layout),
) -> Result<(std::borrow::Cow<'a, [f32]>, Vec<usize>, usize)> {
    let (n, classes) = logits.1.shape().dims2()?;
    let values = contiguous_f32(logits.0, logits.1)?;
    let indices = class_indices(targets.0, targets.1, classes)?;
    if indices.len() != n {
        candle_core::bail!("cross_entropy: {n} rows of logits but {} targets; give one class per row", indices.len())
    }
    Ok((values, indices, classes))
}

/// The mean cross-entropy of `(n, classes)` logits against `n` class indices.
pub(super) struct CrossEntropy;

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (values, targets, classes) = rows_and_targets((s1, l1), (s2, l2))?;
        let n = targets.len();
        let total: f64 = values
            .par_chunks(classes.max(1) * ROWS_PER_TASK)
            .zip(targets.par_chunks(ROWS_PER_TASK))
            .map(|(rows, targets)| {
                rows.chunks(classes.max(1))
                    .zip(targets)
                    .map(|(row, &t)| {
                        let (max, log_sum) = row_max_and_log_sum(row);
                        f64::from(max + log_sum - row[t])
                    })
                    .sum::<f64>()
            })
            .sum();
        let mean = if n == 0 { f32::NAN } else { (total / n as f64) as f32 };
        Ok((CpuStorage::F32(vec![mean]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let scale = grad_res.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? / logits.dim(0)?.max(1) as f32;
        let grad = logits.apply_op2_no_bwd(targets, &CrossEntropyGrad { scale })?;
        Ok((Some(grad), None))
    }
}

/// `(softmax(x) − one-hot(target)) · scale` for every row: the gradient of [`CrossEntropy`].
struct CrossEntropyGrad {
    scale: f32,
}

impl CustomOp2 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "cross-entropy-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (values, targets, classes) = rows_and_targets((s1, l1), (s2, l2))?;
        let width = classes.max(1);
        let mut grad = vec![0f32; values.len()];
        grad.par_chunks_mut(width * ROWS_PER_TASK)
            .zip(values.par_chunks(width * ROWS_PER_TASK))
            .zip(targets.par_chunks(ROWS_PER_TASK))
            .for_each(|((out, rows), targets)| {
                for ((out, row), &t) in out.chunks_mut(width).zip(rows.chunks(width)).zip(targets) {
                    let (max, log_sum) = row_max_and_log_sum(row);
                    let shift = max + log_sum;
                    for (o, &x) in out.iter_mut().zip(row) {
                        *o = (x - shift).exp() * self.scale;
                    }
                    out[t] -= self.scale;
                }
            });
        Ok((CpuStorage::F32(grad), l1.shape().clone()))
    }
}
