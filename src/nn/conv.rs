//! [`Conv2d`]: Candle's 2-D convolution layer, with a CPU `f32` path whose backward is as fast as its forward.
//!
//! Both ways are im2col plus matrix products, one image at a time, images spread over the threads. Forward: the
//! image's `k×k` patches become the columns of `cols (C·k·k, L)` (`L` output positions), and `W (O, C·k·k) · cols`
//! is that image's output, already in `(O, H, W)` order, plus the bias. Backward: `dW = Σ dY_i · cols_iᵀ` (each
//! thread sums its own images) and `dX_i` is `Wᵀ · dY_i` folded back onto the image's pixels (col2im); the input's
//! gradient is skipped when the input is data. One image's patch matrix fits in a core's cache (the Day 8 CNN's
//! second convolution: 220 KiB, against 14 MiB for the whole batch's), and each product runs on one core without
//! a thread split. Candle's backward runs a transposed convolution and a convolution with the batch as channels
//! instead; in the Day 8 CNN that made conv2d's backward 6× slower than PyTorch's (BENCHMARKS.md). Off the CPU,
//! for other dtypes, and with dilation or groups, the layer is Candle's exactly.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};
use rayon::prelude::*;

use super::cpu_gemm::{MatRef, matmul_into};
use super::cpu_values::{contiguous_f32, lane_sum, with_values};

/// A 2-D convolution over `(N, C, H, W)` (`nn.Conv2d`); build it with [`conv2d`] or [`conv2d_no_bias`].
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
}

impl Conv2d {
    /// A layer from its weight `(O, C / groups, k, k)`, optional bias `(O)` and configuration.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Conv2d { weight, bias, config }
    }

    /// The weight, `(O, C / groups, k, k)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(O)`, when the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// Padding, stride, dilation and groups.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }

    fn fast_path(&self, x: &Tensor) -> bool {
        x.device().is_cpu()
            && x.dtype() == DType::F32
            && self.weight.dtype() == DType::F32
            && self.config.dilation == 1
            && self.config.groups == 1
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_recorded(x).map(crate::grad_mode::layer_output)
    }
}

impl Conv2d {
    /// The forward pass, recorded for autograd (`forward` drops the record inside `no_grad`).
    fn forward_recorded(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.config;
        if !self.fast_path(x) {
            let y = x.conv2d(&self.weight, c.padding, c.stride, c.dilation, c.groups)?;
            return match &self.bias {
                Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
                None => Ok(y),
            };
        }
        let op = Conv2dOp { padding: c.padding, stride: c.stride };
        match &self.bias {
            Some(b) if b.dtype() == DType::F32 && b.rank() == 1 => x.apply_op3(&self.weight, b, op),
            Some(b) => x.apply_op2(&self.weight, op)?.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
            None => x.apply_op2(&self.weight, op),
        }
    }
}

impl From<candle_nn::Conv2d> for Conv2d {
    fn from(layer: candle_nn::Conv2d) -> Self {
        Conv2d::new(layer.weight().clone(), layer.bias().cloned(), *layer.config())
    }
}

/// A convolution from `in_channels` to `out_channels` with `kernel × kernel` windows, weights and bias under `vb`
/// (`nn.Conv2d(in, out, k, padding=…, stride=…)`), initialised as Candle's `conv2d` initialises them.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let conv = nn::conv2d(1, 32, 3, nn::Conv2dConfig { padding: 1, ..Default::default() }, vb.pp("conv1"))?;
/// let y = conv.forward(&Tensor::zeros((8, 1, 28, 28), DType::F32, &Device::Cpu)?)?;
/// assert_eq!(y.dims(), &[8, 32, 28, 28]);
/// # Ok(()) }
/// ```
///
/// # Errors
/// When the variables cannot be created.
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    config: Conv2dConfig,
    vb: VarBuilder,
) -> Result<Conv2d> {
    candle_nn::conv2d(in_channels, out_channels, kernel, config, vb).map(Conv2d::from)
}

/// [`conv2d`] without a bias.
///
/// # Errors
/// When the variables cannot be created.
pub fn conv2d_no_bias(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    config: Conv2dConfig,
    vb: VarBuilder,
) -> Result<Conv2d> {
    candle_nn::conv2d_no_bias(in_channels, out_channels, kernel, config, vb).map(Conv2d::from)
}

/// Sizes of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k_h: usize,
    k_w: usize,
    out_h: usize,
    out_w: usize,
    padding: usize,
    stride: usize,
}

impl Geometry {
    fn new(x: &Shape, k_h: usize, k_w: usize, padding: usize, stride: usize) -> Result<Self> {
        let (n, c, h, w) = x.dims4()?;
        if stride == 0 || h + 2 * padding < k_h || w + 2 * padding < k_w {
            candle_core::bail!(
                "conv2d: a {k_h}×{k_w} kernel (padding {padding}, stride {stride}) does not fit a {h}×{w} input"
            )
        }
        let (out_h, out_w) = ((h + 2 * padding - k_h) / stride + 1, (w + 2 * padding - k_w) / stride + 1);
        Ok(Geometry { n, c, h, w, k_h, k_w, out_h, out_w, padding, stride })
    }

    /// Output positions per image.
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Rows of the patch matrix: one per (channel, kernel row, kernel column).
    fn patch_rows(&self) -> usize {
        self.c * self.k_h * self.k_w
    }

    /// The input coordinate under kernel offset `k` at output coordinate `o`, if inside the image of size `size`.
    fn source(&self, o: usize, k: usize, size: usize) -> Option<usize> {
        (o * self.stride + k).checked_sub(self.padding).filter(|&i| i < size)
    }

    /// Values of one input image, `C·H·W`.
    fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// A 1×1 kernel with stride 1 and no padding: the image itself is its patch matrix.
    fn pointwise(&self) -> bool {
        self.k_h == 1 && self.k_w == 1 && self.stride == 1 && self.padding == 0
    }

    /// The output columns `ox` whose window column `kx` falls inside the image, and the first one's source column.
    fn inside(&self, kx: usize) -> (std::ops::Range<usize>, usize) {
        let first = (0..self.out_w).find(|&ox| self.source(ox, kx, self.w).is_some());
        let last = (0..self.out_w).rev().find(|&ox| self.source(ox, kx, self.w).is_some());
        match (first, last) {
            (Some(first), Some(last)) => (first..last + 1, first * self.stride + kx - self.padding),
            _ => (0..0, 0),
        }
    }
}

/// The patch matrix `(C·kh·kw, L)` of one image `(C, H, W)` into `cols`: row `(c, ky, kx)` holds, for every output
/// position, the input value under that kernel tap, or 0 where the window hangs over the padding.
fn im2col_image(x: &[f32], g: &Geometry, cols: &mut [f32]) {
    let l = g.positions();
    for (row, dst) in cols.chunks_exact_mut(l).enumerate() {
        let (ci, ky, kx) = (row / (g.k_h * g.k_w), row / g.k_w % g.k_h, row % g.k_w);
        let plane = &x[ci * g.h * g.w..][..g.h * g.w];
        let (inside, first_ix) = g.inside(kx);
        for (oy, dst) in dst.chunks_exact_mut(g.out_w).enumerate() {
            let Some(iy) = g.source(oy, ky, g.h) else {
                dst.fill(0.0);
                continue;
            };
            dst[..inside.start].fill(0.0);
            dst[inside.end..].fill(0.0);
            let src = &plane[iy * g.w + first_ix..];
            if g.stride == 1 {
                dst[inside.clone()].copy_from_slice(&src[..inside.len()]);
            } else {
                for (d, s) in dst[inside.clone()].iter_mut().zip(src.iter().step_by(g.stride)) {
                    *d = *s;
                }
            }
        }
    }
}

/// The inverse of [`im2col_image`]: adds every entry of `cols` onto the input pixel it was read from, in `dx`.
fn col2im_image(cols: &[f32], g: &Geometry, dx: &mut [f32]) {
    let l = g.positions();
    for (row, src) in cols.chunks_exact(l).enumerate() {
        let (ci, ky, kx) = (row / (g.k_h * g.k_w), row / g.k_w % g.k_h, row % g.k_w);
        let plane = &mut dx[ci * g.h * g.w..][..g.h * g.w];
        let (inside, first_ix) = g.inside(kx);
        for (oy, src) in src.chunks_exact(g.out_w).enumerate() {
            let Some(iy) = g.source(oy, ky, g.h) else { continue };
            let (src, dst) = (&src[inside.clone()], &mut plane[iy * g.w + first_ix..]);
            if g.stride == 1 {
                dst[..src.len()].iter_mut().zip(src).for_each(|(d, s)| *d += *s);
            } else {
                dst.iter_mut().step_by(g.stride).zip(src).for_each(|(d, s)| *d += *s);
            }
        }
    }
}

/// The convolution of a batch, image by image over the threads: `Y_i (O, L) = W (O, C·k·k) · cols_i`, plus the
/// bias. One image's patch matrix fits in a core's cache, and each product runs on one thread.
fn forward_cpu(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &Geometry, o: usize) -> Result<Vec<f32>> {
    let (rows, l) = (g.patch_rows(), g.positions());
    let weights = MatRef::row_major(w, o, rows)?;
    let per = images_per_thread(g.n);
    let mut out = vec![0f32; g.n * o * l];
    out.par_chunks_mut(per * o * l).enumerate().try_for_each(|(group, out)| -> Result<()> {
        let mut cols = vec![0f32; if g.pointwise() { 0 } else { rows * l }];
        for (i, y) in out.chunks_exact_mut(o * l).enumerate() {
            let image = &x[(group * per + i) * g.image_len()..][..g.image_len()];
            let patches = if g.pointwise() {
                image
            } else {
                im2col_image(image, g, &mut cols);
                &cols
            };
            matmul_into(y, weights, MatRef::row_major(patches, rows, l)?, false)?;
            if let Some(bias) = bias {
                for (plane, &b) in y.chunks_exact_mut(l).zip(bias) {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// How many consecutive images each thread takes: the batch in one run per thread, so that each thread sets up
/// its scratch buffers once (split finer, setting them up cost more than the products).
fn images_per_thread(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// A gradient's values, when it was asked for.
type MaybeValues = Option<Vec<f32>>;

/// The gradients of a convolution, image by image: `dW = Σ_i dY_i · cols_iᵀ` (each thread sums its images, then
/// the threads' sums are added) and `dX_i = col2im(Wᵀ · dY_i)`. Each is computed only when asked for.
fn backward_cpu(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    g: &Geometry,
    o: usize,
    need_dx: bool,
    need_dw: bool,
) -> Result<(MaybeValues, MaybeValues)> {
    let (rows, l) = (g.patch_rows(), g.positions());
    let weights_t = MatRef::transposed(w, rows, o)?;
    let per = images_per_thread(g.n);
    // One thread's run of images: its sum of `dW` over them, and (into `dx`) their input gradients.
    let run = |group: usize, mut dx: Option<&mut [f32]>| -> Result<Vec<f32>> {
        let mut dw = vec![0f32; if need_dw { o * rows } else { 0 }];
        let mut cols = vec![0f32; if need_dw && !g.pointwise() { rows * l } else { 0 }];
        let mut dcols = vec![0f32; if need_dx && !g.pointwise() { rows * l } else { 0 }];
        for img in group * per..g.n.min((group + 1) * per) {
            let dy_image = MatRef::row_major(&dy[img * o * l..][..o * l], o, l)?;
            if need_dw {
                let image = &x[img * g.image_len()..][..g.image_len()];
                let patches = if g.pointwise() {
                    image
                } else {
                    im2col_image(image, g, &mut cols);
                    &cols
                };
                matmul_into(&mut dw, dy_image, MatRef::transposed(patches, l, rows)?, true)?;
            }
            if let Some(dx) = dx.as_deref_mut() {
                let dx = &mut dx[(img - group * per) * g.image_len()..][..g.image_len()];
                if g.pointwise() {
                    matmul_into(dx, weights_t, dy_image, false)?;
                } else {
                    matmul_into(&mut dcols, weights_t, dy_image, false)?;
                    col2im_image(&dcols, g, dx);
                }
            }
        }
        Ok(dw)
    };
    let (dx, partial_sums) = if need_dx {
        let mut dx = vec![0f32; g.n * g.image_len()];
        let sums = dx.par_chunks_mut(per * g.image_len()).enumerate().map(|(group, dx)| run(group, Some(dx)));
        let sums = sums.collect::<Result<Vec<_>>>()?;
        (Some(dx), sums)
    } else {
        let groups = g.n.div_ceil(per);
        (None, (0..groups).into_par_iter().map(|group| run(group, None)).collect::<Result<Vec<_>>>()?)
    };
    let dw = need_dw.then(|| {
        partial_sums.into_iter().reduce(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
    });
    Ok((dx, dw.flatten()))
}

/// The sum of each channel of `dy (N, O, L)`: the bias gradient.
fn channel_sums(dy: &[f32], o: usize, l: usize) -> Vec<f32> {
    let add = |mut a: Vec<f32>, b: Vec<f32>| {
        a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
        a
    };
    dy.par_chunks(o * l.max(1))
        .map(|image| image.chunks_exact(l.max(1)).map(lane_sum).collect::<Vec<f32>>())
        .reduce(|| vec![0f32; o], add)
}

/// `x (N, C, H, W) ⋆ w (O, C, kh, kw)` (plus a bias `(O)` as a [`CustomOp3`]) with zero padding and a stride;
/// dilation 1, one group.
#[derive(Clone, Copy)]
struct Conv2dOp {
    padding: usize,
    stride: usize,
}

impl Conv2dOp {
    fn geometry(&self, x: &Shape, w: &Shape) -> Result<(Geometry, usize)> {
        let (o, c_w, k_h, k_w) = w.dims4()?;
        let g = Geometry::new(x, k_h, k_w, self.padding, self.stride)?;
        if c_w != g.c {
            candle_core::bail!("conv2d: the input has {} channels but the kernel expects {c_w}", g.c)
        }
        Ok((g, o))
    }

    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, o) = self.geometry(x.1.shape(), w.1.shape())?;
        let bias = b.map(|(b, bl)| contiguous_f32(b, bl)).transpose()?;
        if bias.as_ref().is_some_and(|b| b.len() != o) {
            candle_core::bail!("conv2d: {o} output channels but a bias of {} values", bias.map_or(0, |b| b.len()))
        }
        let y = forward_cpu(&contiguous_f32(x.0, x.1)?, &contiguous_f32(w.0, w.1)?, bias.as_deref(), &g, o)?;
        Ok((CpuStorage::F32(y), Shape::from((g.n, o, g.out_h, g.out_w))))
    }

    /// `(dx, dw, db)`, each only for a tracked argument.
    fn gradients(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>, grad: &Tensor) -> Result<Gradients> {
        let (g, o) = self.geometry(x.shape(), w.shape())?;
        let (need_dx, need_dw) = (x.track_op(), w.track_op());
        let (dx, dw, db) = with_values(x, |xv| {
            with_values(w, |wv| {
                with_values(grad, |dy| {
                    let (dx, dw) = backward_cpu(xv, wv, dy, &g, o, need_dx, need_dw)?;
                    let db = b.filter(|b| b.track_op()).map(|_| channel_sums(dy, o, g.positions()));
                    Ok((dx, dw, db))
                })
            })
        })?;
        let dev = x.device();
        Ok((
            dx.map(|v| Tensor::from_vec(v, x.shape(), dev)).transpose()?,
            dw.map(|v| Tensor::from_vec(v, w.shape(), dev)).transpose()?,
            db.map(|v| Tensor::from_vec(v, o, dev)).transpose()?,
        ))
    }
}

/// Gradients of the input, the weight and the bias, each when it is tracked.
type Gradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "conv2d-im2col"
    }

    fn cpu_fwd(&self, x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        self.cpu_forward((x, xl), (w, wl), None)
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.gradients(x, w, None, grad)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "conv2d-im2col-bias"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.cpu_forward((x, xl), (w, wl), Some((b, bl)))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Gradients> {
        self.gradients(x, w, Some(b), grad)
    }
}
