//! Reading a CPU `f32` tensor's values for the prelude's CPU kernels ([`conv`](super::conv),
//! [`cpu_pool`](super::cpu_pool), [`cpu_relu`](super::cpu_relu), [`cpu_batch_norm`](super::cpu_batch_norm)):
//! as one contiguous slice, copied only when the layout is strided, and summed in vector-friendly lanes.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result, Storage, Tensor};

/// The values of an `f32` tensor as one contiguous slice (copied, with Candle's strided copy, only when the layout
/// is not contiguous).
pub(crate) fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<std::borrow::Cow<'a, [f32]>> {
    let CpuStorage::F32(data) = storage else { candle_core::bail!("expected an f32 tensor") };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(std::borrow::Cow::Borrowed(&data[start..end])),
        None => {
            let mut copy = CpuStorage::F32(vec![0f32; layout.shape().elem_count()]);
            storage.copy_strided_src(&mut copy, 0, layout)?;
            let CpuStorage::F32(values) = copy else { candle_core::bail!("expected an f32 copy") };
            Ok(std::borrow::Cow::Owned(values))
        }
    }
}

/// The values of a CPU `f32` tensor, borrowed when contiguous, and a closure's result on them.
pub(crate) fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("a CPU kernel of the prelude got a tensor on {:?}", t.device())
    };
    f(&contiguous_f32(cpu, layout)?)
}

/// The sum of `values` in eight interleaved running sums, which the compiler can keep in one vector register (a
/// single running sum is one dependent addition after another).
pub(crate) fn lane_sum(values: &[f32]) -> f32 {
    lane_sum_pairs(values, values, |v, _| v)
}

/// `Σ f(a[i], b[i])` over two slices of one length, in the eight lanes of [`lane_sum`].
pub(crate) fn lane_sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| f(x, y)).sum();
    for (xa, xb) in ca.zip(cb) {
        lanes.iter_mut().zip(xa.iter().zip(xb)).for_each(|(lane, (&x, &y))| *lane += f(x, y));
    }
    lanes.iter().sum::<f32>() + tail
}
