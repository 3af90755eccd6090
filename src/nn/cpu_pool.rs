//! 2-D max pooling on the CPU with a one-pass backward: each window's gradient goes to the first of its largest
//! inputs (as in PyTorch). Candle's backward upsamples the output, compares, averages and multiplies — several
//! full-size passes — and was 12× slower than PyTorch's in the Day 8 CNN (BENCHMARKS.md).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_values::contiguous_f32;

/// The largest value of each `kernel × kernel` window, `stride` apart, over `(N, C, H, W)`; windows that would
/// run past the edge are left out (PyTorch's default). Fast path on CPU `f32`; Candle's `max_pool2d` elsewhere.
///
/// # Errors
/// When `x` is not 4-D, or the window is larger than the image.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.apply_op1(MaxPoolOp { kernel, stride })
    } else {
        x.max_pool2d_with_stride(kernel, stride)
    }
}

/// The larger of two values, NaN winning (as in [`MaxPoolOp::argmax`] and PyTorch).
fn larger(a: f32, b: f32) -> f32 {
    if a > b || a.is_nan() { a } else { b }
}

/// The bits of `v` with -0 made +0, so a value and the window maximum copied from it (or a zero equal to it)
/// compare equal as integers. Comparing bits rather than floats keeps the backward's loop free of branches,
/// which on random activations mispredict half the time (a branchy version of this backward was 4× slower).
fn canonical_bits(v: f32) -> u32 {
    (v + 0.0).to_bits()
}

#[derive(Clone, Copy)]
struct MaxPoolOp {
    kernel: usize,
    stride: usize,
}

/// `(planes, h, w, out_h, out_w)` of a pooling over `shape`.
fn geometry(shape: &Shape, kernel: usize, stride: usize) -> Result<(usize, usize, usize, usize, usize)> {
    let (n, c, h, w) = shape.dims4()?;
    if kernel == 0 || stride == 0 || kernel > h || kernel > w {
        candle_core::bail!("max_pool2d: a {kernel}×{kernel} window (stride {stride}) does not fit a {h}×{w} image")
    }
    Ok((n * c, h, w, (h - kernel) / stride + 1, (w - kernel) / stride + 1))
}

impl MaxPoolOp {
    /// Index (within its plane) of the first largest input of output position `(oy, ox)`.
    fn argmax(&self, plane: &[f32], w: usize, oy: usize, ox: usize) -> usize {
        let (y0, x0) = (oy * self.stride, ox * self.stride);
        let mut best = y0 * w + x0;
        for y in y0..y0 + self.kernel {
            for x in x0..x0 + self.kernel {
                let i = y * w + x;
                // `>` keeps the first of equal maxima; NaN wins, as in PyTorch, so it shows.
                if plane[i] > plane[best] || plane[i].is_nan() && !plane[best].is_nan() {
                    best = i;
                }
            }
        }
        best
    }
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "max-pool2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (planes, h, w, oh, ow) = geometry(layout.shape(), self.kernel, self.stride)?;
        let x = contiguous_f32(storage, layout)?;
        let mut out = vec![0f32; planes * oh * ow];
        out.par_chunks_mut(oh * ow).zip(x.par_chunks(h * w)).for_each(|(out, plane)| {
            if self.kernel == 2 && self.stride == 2 {
                // The CNNs' pooling: two input rows at a time, no index bookkeeping.
                for (oy, out) in out.chunks_mut(ow).enumerate() {
                    let (top, bottom) = (&plane[2 * oy * w..][..w], &plane[(2 * oy + 1) * w..][..w]);
                    for (ox, o) in out.iter_mut().enumerate() {
                        let left = larger(top[2 * ox], bottom[2 * ox]);
                        *o = larger(left, larger(top[2 * ox + 1], bottom[2 * ox + 1]));
                    }
                }
                return;
            }
            for oy in 0..oh {
                for ox in 0..ow {
                    out[oy * ow + ox] = plane[self.argmax(plane, w, oy, ox)];
                }
            }
        });
        let (n, c, _, _) = layout.shape().dims4()?;
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op3_no_bwd(res, grad_res, &MaxPoolGradOp(*self))?))
    }
}

/// The gradient of the input `x`, from the pooled output `y` and its gradient `g`: each output's gradient added at
/// its window's first largest input.
struct MaxPoolGradOp(MaxPoolOp);

impl candle_core::CustomOp3 for MaxPoolGradOp {
    fn name(&self) -> &'static str {
        "max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        y: &CpuStorage,
        yl: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.0;
        let (planes, h, w, oh, ow) = geometry(xl.shape(), op.kernel, op.stride)?;
        let (x, y, g) = (contiguous_f32(x, xl)?, contiguous_f32(y, yl)?, contiguous_f32(g, gl)?);
        if g.len() != planes * oh * ow || y.len() != g.len() {
            candle_core::bail!(
                "max_pool2d backward: the gradient has {} values, expected {}",
                g.len(),
                planes * oh * ow
            )
        }
        let mut dx = vec![0f32; planes * h * w];
        let planes_in = x.par_chunks(h * w).zip(y.par_chunks(oh * ow).zip(g.par_chunks(oh * ow)));
        dx.par_chunks_mut(h * w).zip(planes_in).for_each(|(dx, (plane, (y, g)))| {
            if op.kernel == 2 && op.stride == 2 {
                // Each window's maximum is a copy of one of its inputs: find the first input with its bits.
                for (oy, (y, g)) in y.chunks_exact(ow).zip(g.chunks_exact(ow)).enumerate() {
                    let rows = 2 * oy * w..(2 * oy + 2) * w;
                    let (pair, dx_pair) = (&plane[rows.clone()], &mut dx[rows]);
                    for (ox, (&max, &g)) in y.iter().zip(g).enumerate() {
                        let max = canonical_bits(max);
                        let is_max = |i: usize| u32::from(canonical_bits(pair[i]) == max);
                        let left = 2 * ox;
                        // 0..=3: the first of top left, top right, bottom left (else bottom right) equal to it.
                        let first = (is_max(left) | is_max(left + 1) << 1 | is_max(w + left) << 2 | 8).trailing_zeros();
                        let first = first as usize;
                        dx_pair[(first >> 1) * w + left + (first & 1)] = g;
                    }
                }
                return;
            }
            for oy in 0..oh {
                for ox in 0..ow {
                    dx[op.argmax(plane, w, oy, ox)] += g[oy * ow + ox];
                }
            }
        });
        Ok((CpuStorage::F32(dx), xl.shape().clone()))
    }
}
