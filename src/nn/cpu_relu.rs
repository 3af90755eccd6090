//! ReLU on the CPU in one pass each way: `max(x, 0)` forward, and backward the gradient where the output is
//! positive. Candle's own backward builds a mask, converts it and multiplies (three passes and two temporaries),
//! which made ReLU's backward 17× slower than PyTorch's in the Day 8 CNN (BENCHMARKS.md).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_values::contiguous_f32;

/// `max(x, 0)`, with the fast path on CPU `f32` and Candle's `relu` elsewhere.
///
/// # Errors
/// As Candle's `relu`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 { x.apply_op1(ReluOp) } else { x.relu() }
}

/// `f(a[i], b[i])` for every `i`, in a pass the compiler vectorises: sequential below 2^18 values, and above that
/// split over the threads in runs of 2^16 written straight into the result (a CNN's first ReLU, 1.6 M values:
/// the Day 8 CNN's step 11% faster than sequential on 2 cores; splitting small tensors, or zero-filling the
/// result first, measured slower).
pub(crate) fn map_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    if a.len() >= 1 << 18 {
        return a.par_iter().zip(b.par_iter()).with_min_len(1 << 16).map(|(&x, &y)| f(x, y)).collect();
    }
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}

struct ReluOp;

impl CustomOp1 for ReluOp {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout)?;
        let out = map_pairs(&x, &x, |v, _| v.max(0.0));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad_res.apply_op2_no_bwd(res, &ReluGradOp)?))
    }
}

/// `grad` where `out > 0`, else 0.
struct ReluGradOp;

impl CustomOp2 for ReluGradOp {
    fn name(&self) -> &'static str {
        "relu-grad"
    }

    fn cpu_fwd(&self, g: &CpuStorage, gl: &Layout, out: &CpuStorage, ol: &Layout) -> Result<(CpuStorage, Shape)> {
        let (g, out) = (contiguous_f32(g, gl)?, contiguous_f32(out, ol)?);
        // A mask, not a branch: on random activations a branch mispredicts half the time.
        let dx = map_pairs(&g, &out, |g, o| f32::from_bits(g.to_bits() & 0u32.wrapping_sub(u32::from(o > 0.0))));
        Ok((CpuStorage::F32(dx), gl.shape().clone()))
    }
}
