//! Batch normalisation on the CPU in a few passes over the values, for `(N, C, L…)` `f32` tensors.
//!
//! Training: one pass for each channel's mean, one for its variance, one that writes `x·scale + shift`; backward:
//! one pass for `Σ dy` and `Σ dy·(x − mean)` per channel and one that writes `dx` (the batch statistics are kept
//! from the forward pass, not recomputed). Evaluation is the per-channel affine map alone. Candle's batch norm
//! transposes the batch into a contiguous copy and runs about ten broadcast operations, each a full pass with its
//! own temporary, and as many again backward: in the Day 8 CNN its two batch norms made a training step 2.8×
//! longer (BENCHMARKS.md, "the batch norms").

use std::sync::{Arc, OnceLock};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_values::{contiguous_f32, lane_sum, lane_sum_pairs, with_values};

/// A batch's per-channel statistics: the mean and the biased variance (divided by the count), and how many values
/// each channel had.
#[derive(Debug, Clone)]
pub(crate) struct BatchStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub count: usize,
}

/// `(n, c, l)` of an `(N, C, L…)` shape: images, channels, values per channel and image.
fn planes(shape: &Shape) -> Result<(usize, usize, usize)> {
    let dims = shape.dims();
    if dims.len() < 2 {
        candle_core::bail!("batch norm needs (N, C, …), got shape {dims:?}")
    }
    Ok((dims[0], dims[1], dims[2..].iter().product()))
}

/// Channel `ch`'s values in each image, as `n` slices of `l`.
fn channel(values: &[f32], (n, c, l): (usize, usize, usize), ch: usize) -> impl Iterator<Item = &[f32]> {
    (0..n).map(move |i| &values[(i * c + ch) * l..][..l])
}

/// Each channel's mean and biased variance: two passes (the mean, then the squared deviations from it), each image's
/// plane summed in `f32` lanes and the planes in `f64`.
fn channel_stats(x: &[f32], dims: (usize, usize, usize)) -> BatchStats {
    let count = dims.0 * dims.2;
    let (mean, var) = (0..dims.1)
        .into_par_iter()
        .map(|ch| {
            let sum: f64 = channel(x, dims, ch).map(|p| f64::from(lane_sum(p))).sum();
            let mean = (sum / count as f64) as f32;
            let squares: f64 =
                channel(x, dims, ch).map(|p| f64::from(lane_sum_pairs(p, p, |v, _| (v - mean) * (v - mean)))).sum();
            (mean, (squares / count as f64) as f32)
        })
        .unzip();
    BatchStats { mean, var, count }
}

/// `out[i] = a[i]·ka[ch] + b[i]·kb[ch] + k0[ch]` for the channel `ch` of each value, images spread over the threads.
fn per_channel_map(a: &[f32], b: &[f32], k: (&[f32], &[f32], &[f32]), (_, c, l): (usize, usize, usize)) -> Vec<f32> {
    let mut out = vec![0f32; a.len()];
    let image = (c * l).max(1);
    let min_images = ((1 << 16) / image).max(1);
    out.par_chunks_mut(image).zip(a.par_chunks(image).zip(b.par_chunks(image))).with_min_len(min_images).for_each(
        |(o, (a, b))| {
            for ch in 0..c {
                let (ka, kb, k0) = (k.0[ch], k.1[ch], k.2[ch]);
                let span = ch * l..(ch + 1) * l;
                for (o, (&a, &b)) in o[span.clone()].iter_mut().zip(a[span.clone()].iter().zip(&b[span])) {
                    *o = a * ka + b * kb + k0;
                }
            }
        },
    );
    out
}

/// `(Σ dy, Σ dy·(x − mean))` for each channel.
fn channel_grad_sums(dy: &[f32], x: &[f32], mean: &[f32], dims: (usize, usize, usize)) -> (Vec<f64>, Vec<f64>) {
    (0..dims.1)
        .into_par_iter()
        .map(|ch| {
            let m = mean[ch];
            channel(dy, dims, ch).zip(channel(x, dims, ch)).fold((0f64, 0f64), |(s, sx), (g, x)| {
                (s + f64::from(lane_sum(g)), sx + f64::from(lane_sum_pairs(g, x, |g, x| g * (x - m))))
            })
        })
        .unzip()
}

/// Batch norm in training mode: `y = (x − mean) / √(var + eps) · gamma + beta` with the batch's statistics per
/// channel, differentiable in `x`, `gamma` and `beta`. Returns the statistics too, for the running averages.
///
/// # Errors
/// When `x` has fewer than two dimensions or `gamma`/`beta` do not have one value per channel.
pub(crate) fn train(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<(Tensor, BatchStats)> {
    let stats = Arc::new(OnceLock::new());
    let y = x.apply_op3(gamma, beta, TrainOp { eps, stats: Arc::clone(&stats) })?;
    let Some(stats) = stats.get().cloned() else { candle_core::bail!("batch norm: the CPU kernel kept no statistics") };
    Ok((y, stats.batch))
}

/// `x·scale + shift` per channel (batch norm in evaluation mode, with `scale` and `shift` folded from the running
/// statistics), differentiable in all three.
///
/// # Errors
/// When `x` has fewer than two dimensions or `scale`/`shift` do not have one value per channel.
pub(crate) fn affine(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
    x.apply_op3(scale, shift, AffineOp)
}

/// The statistics a training forward pass leaves for its backward pass.
#[derive(Debug, Clone)]
struct Kept {
    batch: BatchStats,
    inv_std: Vec<f32>,
}

struct TrainOp {
    eps: f64,
    stats: Arc<OnceLock<Kept>>,
}

/// One value per channel from a `(C)` tensor, checked.
fn per_channel<'a>(what: &str, s: &'a CpuStorage, l: &Layout, c: usize) -> Result<std::borrow::Cow<'a, [f32]>> {
    let v = contiguous_f32(s, l)?;
    if v.len() != c {
        candle_core::bail!("batch norm: {c} channels but {} values of {what}", v.len())
    }
    Ok(v)
}

/// The gradients of a per-channel map's three arguments, each when tracked.
type Gradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

fn channel_tensor(values: Vec<f64>, like: &Tensor) -> Result<Tensor> {
    let n = values.len();
    Tensor::from_vec(values.into_iter().map(|v| v as f32).collect::<Vec<f32>>(), n, like.device())
}

impl CustomOp3 for TrainOp {
    fn name(&self) -> &'static str {
        "batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = planes(xl.shape())?;
        let (gamma, beta) = (per_channel("gamma", g, gl, dims.1)?, per_channel("beta", b, bl, dims.1)?);
        let x = contiguous_f32(x, xl)?;
        let batch = channel_stats(&x, dims);
        let inv_std: Vec<f32> = batch.var.iter().map(|&v| (1.0 / (f64::from(v) + self.eps).sqrt()) as f32).collect();
        let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
        let shift: Vec<f32> = beta.iter().zip(&batch.mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        let y = per_channel_map(&x, &x, (&scale, &vec![0.0; dims.1], &shift), dims);
        // A second forward through the same op cannot happen (each call builds its own), so the first set wins.
        let _ = self.stats.set(Kept { batch, inv_std });
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, gamma: &Tensor, beta: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<Gradients> {
        let Some(kept) = self.stats.get() else { candle_core::bail!("batch norm: backward before forward") };
        let dims = planes(x.shape())?;
        let count = kept.batch.count as f64;
        let (sums, dx) = with_values(x, |xv| {
            with_values(dy, |g| {
                let (s_dy, s_dyx) = channel_grad_sums(g, xv, &kept.batch.mean, dims);
                if !x.track_op() {
                    return Ok(((s_dy, s_dyx), None));
                }
                let gamma = gamma.to_vec1::<f32>()?;
                // dx = γ·σ⁻¹·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), x̂ = (x − mean)·σ⁻¹: a map `dy·k1 + x·k2 + k0` per channel.
                let (mut k1, mut k2, mut k0) = (vec![0f32; dims.1], vec![0f32; dims.1], vec![0f32; dims.1]);
                for ch in 0..dims.1 {
                    let (gs, is) = (f64::from(gamma[ch]) * f64::from(kept.inv_std[ch]), f64::from(kept.inv_std[ch]));
                    let b = -gs * is * is * s_dyx[ch] / count;
                    k1[ch] = gs as f32;
                    k2[ch] = b as f32;
                    k0[ch] = (-gs * s_dy[ch] / count - b * f64::from(kept.batch.mean[ch])) as f32;
                }
                Ok(((s_dy, s_dyx), Some(per_channel_map(g, xv, (&k1, &k2, &k0), dims))))
            })
        })?;
        let (s_dy, s_dyx) = sums;
        let d_gamma: Vec<f64> = s_dyx.iter().zip(&kept.inv_std).map(|(s, is)| s * f64::from(*is)).collect();
        Ok((
            dx.map(|v| Tensor::from_vec(v, x.shape(), x.device())).transpose()?,
            if gamma.track_op() { Some(channel_tensor(d_gamma, gamma)?) } else { None },
            if beta.track_op() { Some(channel_tensor(s_dy, beta)?) } else { None },
        ))
    }
}

struct AffineOp;

impl CustomOp3 for AffineOp {
    fn name(&self) -> &'static str {
        "batch-norm-affine"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        s: &CpuStorage,
        sl: &Layout,
        t: &CpuStorage,
        tl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = planes(xl.shape())?;
        let (scale, shift) = (per_channel("scale", s, sl, dims.1)?, per_channel("shift", t, tl, dims.1)?);
        let x = contiguous_f32(x, xl)?;
        let y = per_channel_map(&x, &x, (&scale, &vec![0.0; dims.1], &shift), dims);
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, scale: &Tensor, shift: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<Gradients> {
        let dims = planes(x.shape())?;
        let zeros = vec![0f32; dims.1];
        let (sums, dx) = with_values(x, |xv| {
            with_values(dy, |g| {
                let sums = channel_grad_sums(g, xv, &zeros, dims);
                let dx = if x.track_op() {
                    Some(per_channel_map(g, g, (&scale.to_vec1::<f32>()?, &zeros, &zeros), dims))
                } else {
                    None
                };
                Ok((sums, dx))
            })
        })?;
        let (s_dy, s_dyx) = sums;
        Ok((
            dx.map(|v| Tensor::from_vec(v, x.shape(), x.device())).transpose()?,
            if scale.track_op() { Some(channel_tensor(s_dyx, scale)?) } else { None },
            if shift.track_op() { Some(channel_tensor(s_dy, shift)?) } else { None },
        ))
    }
}
