//! [`Conv2d`]: Candle's 2-D convolution layer, with a CPU `f32` path whose backward is as fast as its forward.
//!
//! Both ways are im2col plus one matrix product. Forward: the input's `k×k` patches become the columns of a
//! matrix `cols (C·k·k, N·L)` (`L` output positions per image), and `W (O, C·k·k) · cols` is the output. Backward:
//! `dW = dY · colsᵀ`, and `dX` is `Wᵀ · dY` folded back onto the input's pixels (col2im). Candle's backward runs a
//! transposed convolution and a convolution with the batch as channels instead; in the Day 8 CNN that made
//! conv2d's backward 6× slower than PyTorch's (BENCHMARKS.md). Off the CPU, for other dtypes, and with dilation or
//! groups, the layer is Candle's exactly.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};
use rayon::prelude::*;

use super::cpu_relu::contiguous_f32;

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
        let c = self.config;
        let y = if self.fast_path(x) {
            x.apply_op2(&self.weight, Conv2dOp { padding: c.padding, stride: c.stride })?
        } else {
            x.conv2d(&self.weight, c.padding, c.stride, c.dilation, c.groups)?
        };
        match &self.bias {
            Some(b) if self.fast_path(x) && b.dtype() == DType::F32 => y.apply_op2(b, ChannelBiasOp),
            Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
            None => Ok(y),
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
}

/// The patch matrix `(C·kh·kw, N·L)` of `x (N, C, H, W)`, zeros where a window hangs over the padding.
fn im2col(x: &[f32], g: &Geometry) -> Vec<f32> {
    let (cols, l) = (g.n * g.positions(), g.positions());
    let mut out = vec![0f32; g.patch_rows() * cols];
    out.par_chunks_mut(cols).enumerate().for_each(|(row, out)| {
        let (ci, ky, kx) = (row / (g.k_h * g.k_w), row / g.k_w % g.k_h, row % g.k_w);
        for img in 0..g.n {
            let plane = &x[(img * g.c + ci) * g.h * g.w..][..g.h * g.w];
            for oy in 0..g.out_h {
                let Some(iy) = g.source(oy, ky, g.h) else { continue };
                let dst = &mut out[img * l + oy * g.out_w..][..g.out_w];
                for (ox, d) in dst.iter_mut().enumerate() {
                    if let Some(ix) = g.source(ox, kx, g.w) {
                        *d = plane[iy * g.w + ix];
                    }
                }
            }
        }
    });
    out
}

/// The inverse gather of [`im2col`]: adds each column entry of `cols` back onto the input pixel it came from.
fn col2im(cols: &[f32], g: &Geometry) -> Vec<f32> {
    let (width, l) = (g.n * g.positions(), g.positions());
    let mut dx = vec![0f32; g.n * g.c * g.h * g.w];
    dx.par_chunks_mut(g.h * g.w).enumerate().for_each(|(plane_index, plane)| {
        let (img, ci) = (plane_index / g.c, plane_index % g.c);
        for ky in 0..g.k_h {
            for kx in 0..g.k_w {
                let row = &cols[((ci * g.k_h + ky) * g.k_w + kx) * width + img * l..][..l];
                for oy in 0..g.out_h {
                    let Some(iy) = g.source(oy, ky, g.h) else { continue };
                    for ox in 0..g.out_w {
                        if let Some(ix) = g.source(ox, kx, g.w) {
                            plane[iy * g.w + ix] += row[oy * g.out_w + ox];
                        }
                    }
                }
            }
        }
    });
    dx
}

/// `x (N, C, H, W) ⋆ w (O, C, kh, kw)` with zero padding and a stride; dilation 1, one group.
#[derive(Clone, Copy)]
struct Conv2dOp {
    padding: usize,
    stride: usize,
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "conv2d-im2col"
    }

    fn cpu_fwd(&self, x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (o, c_w, k_h, k_w) = wl.shape().dims4()?;
        let g = Geometry::new(xl.shape(), k_h, k_w, self.padding, self.stride)?;
        if c_w != g.c {
            candle_core::bail!("conv2d: the input has {} channels but the kernel expects {c_w}", g.c)
        }
        let cols = im2col(&contiguous_f32(x, xl)?, &g);
        let (rows, width) = (g.patch_rows(), g.n * g.positions());
        let w = CpuStorage::F32(contiguous_f32(w, wl)?.into_owned());
        let product = w.matmul(
            &CpuStorage::F32(cols),
            (1, o, width, rows),
            &Layout::contiguous((o, rows)),
            &Layout::contiguous((rows, width)),
        )?;
        let CpuStorage::F32(product) = product else { candle_core::bail!("conv2d: the product is not f32") };
        // (O, N·L) → (N, O, L)
        let l = g.positions();
        let mut out = vec![0f32; g.n * o * l];
        out.par_chunks_mut(o * l).enumerate().for_each(|(img, out)| {
            for (oc, dst) in out.chunks_mut(l).enumerate() {
                dst.copy_from_slice(&product[oc * width + img * l..][..l]);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((g.n, o, g.out_h, g.out_w))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (o, _, k_h, k_w) = w.dims4()?;
        let g = Geometry::new(x.shape(), k_h, k_w, self.padding, self.stride)?;
        let dy = grad.transpose(0, 1)?.contiguous()?.reshape((o, g.n * g.positions()))?;
        let dw = if w.track_op() {
            let cols = x.apply_op1_no_bwd(&Patches::Gather(g))?;
            Some(dy.matmul(&cols.t()?)?.reshape(w.shape())?)
        } else {
            None
        };
        let dx = if x.track_op() {
            let dcols = w.reshape((o, g.patch_rows()))?.t()?.matmul(&dy)?;
            Some(dcols.apply_op1_no_bwd(&Patches::Scatter(g))?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// Between an input `(N, C, H, W)` and its patch matrix `(C·kh·kw, N·L)`: [`im2col`] one way, [`col2im`] back.
#[derive(Clone, Copy)]
enum Patches {
    Gather(Geometry),
    Scatter(Geometry),
}

impl CustomOp1 for Patches {
    fn name(&self) -> &'static str {
        match self {
            Patches::Gather(_) => "im2col",
            Patches::Scatter(_) => "col2im",
        }
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let values = contiguous_f32(storage, layout)?;
        Ok(match self {
            Patches::Gather(g) => {
                (CpuStorage::F32(im2col(&values, g)), Shape::from((g.patch_rows(), g.n * g.positions())))
            }
            Patches::Scatter(g) => (CpuStorage::F32(col2im(&values, g)), Shape::from((g.n, g.c, g.h, g.w))),
        })
    }
}

/// `y (N, O, H, W) + b[o]` on every channel `o`; backward passes the gradient through and sums it per channel for
/// `b` in one pass (Candle's `broadcast_add` backward reduces over three dimensions, several times slower).
struct ChannelBiasOp;

impl CustomOp2 for ChannelBiasOp {
    fn name(&self) -> &'static str {
        "channel-bias"
    }

    fn cpu_fwd(&self, y: &CpuStorage, yl: &Layout, b: &CpuStorage, bl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, o, h, w) = yl.shape().dims4()?;
        let (y, b) = (contiguous_f32(y, yl)?, contiguous_f32(b, bl)?);
        if b.len() != o {
            candle_core::bail!("conv2d: {o} output channels but {} biases", b.len())
        }
        let mut out = y.into_owned();
        out.par_chunks_mut(h * w).enumerate().for_each(|(plane, values)| {
            let bias = b[plane % o];
            values.iter_mut().for_each(|v| *v += bias);
        });
        debug_assert_eq!(out.len(), n * o * h * w);
        Ok((CpuStorage::F32(out), yl.shape().clone()))
    }

    fn bwd(&self, _y: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let db = if b.track_op() { Some(grad.apply_op1_no_bwd(&ChannelSumOp)?) } else { None };
        Ok((Some(grad.clone()), db))
    }
}

/// The sum of each channel of `(N, O, H, W)`, as `(O)`.
struct ChannelSumOp;

impl CustomOp1 for ChannelSumOp {
    fn name(&self) -> &'static str {
        "channel-sum"
    }

    fn cpu_fwd(&self, g: &CpuStorage, gl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, o, h, w) = gl.shape().dims4()?;
        let g = contiguous_f32(g, gl)?;
        let sums: Vec<f32> = (0..o)
            .into_par_iter()
            .map(|c| (0..n).map(|img| g[(img * o + c) * h * w..][..h * w].iter().sum::<f32>()).sum())
            .collect();
        Ok((CpuStorage::F32(sums), Shape::from(o)))
    }
}
