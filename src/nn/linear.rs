//! [`linear`]: PyTorch's `nn.Linear` (`y = x·Wᵀ + b`) — Candle's layer, with a leaner backward pass on the CPU.
//!
//! Candle's own `Linear` computes `x.matmul(&w.t())` and adds the bias; in the backward pass a matrix product
//! always produces the gradient of *both* of its sides, so the first layer of every network also computes a
//! gradient for its input batch, which is data and needs none. For the lessons' MLP that is the single largest
//! product of the whole backward pass. This layer runs the same forward (Candle's GEMM, then the bias) as one
//! custom op whose backward produces only the gradients that flow somewhere: the weight's, the bias's, and the
//! input's only when the input is itself tracked. Off the CPU, or for dtypes other than `f32`/`f64`, it is
//! Candle's layer exactly.
//!
//! Weights, names in a `VarBuilder`, initialisation and results are those of `candle_nn::linear`, so checkpoints
//! and code written for Candle's layer work unchanged.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let fc = nn::linear(4, 2, vb.pp("fc"))?;
//! let y = fc.forward(&Tensor::ones((3, 4), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(y.dims(), &[3, 2]);
//! assert_eq!(varmap.all_vars().len(), 2); // fc.weight (2, 4) and fc.bias (2)
//! # Ok(()) }
//! ```

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Module, Result, Shape, Tensor};

/// A fully connected layer: `y = x·Wᵀ + b`, with `W` of shape `(out, in)` as in PyTorch and Candle.
#[derive(Clone, Debug)]
pub struct Linear {
    inner: candle_nn::Linear,
}

impl Linear {
    /// A layer from its weight `(out, in)` and optional bias `(out)`.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear { inner: candle_nn::Linear::new(weight, bias) }
    }

    /// The weight, shape `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        self.inner.weight()
    }

    /// The bias, shape `(out)`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.inner.bias()
    }

    /// Whether the custom CPU op can run `x` through this layer.
    fn fused_path(&self, x: &Tensor) -> bool {
        let w = self.weight();
        x.device().is_cpu()
            && matches!(x.dtype(), DType::F32 | DType::F64)
            && x.dtype() == w.dtype()
            && self.bias().is_none_or(|b| b.dtype() == w.dtype() && b.rank() == 1)
            && x.rank() >= 1
            && x.dims().last() == w.dims().get(1)
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.fused_path(x) {
            return self.inner.forward(x);
        }
        let dims = x.dims().to_vec();
        let features = dims[dims.len() - 1];
        let rows = x.elem_count() / features.max(1);
        let flat = x.contiguous()?.reshape((rows, features))?;
        let w = self.weight().contiguous()?;
        let y = match self.bias() {
            Some(b) => flat.apply_op3(&w, &b.contiguous()?, LinearOp)?,
            None => flat.apply_op2(&w, LinearNoBiasOp)?,
        };
        let mut out_dims = dims;
        let last = out_dims.len() - 1;
        out_dims[last] = self.weight().dim(0)?;
        y.reshape(out_dims)
    }
}

/// A linear layer with a bias, made from `vb` like `candle_nn::linear` (same names, same initialisation).
pub fn linear(in_dim: usize, out_dim: usize, vb: candle_nn::VarBuilder) -> Result<Linear> {
    let inner = candle_nn::linear(in_dim, out_dim, vb)?;
    Ok(Linear { inner })
}

/// A linear layer without a bias, made from `vb` like `candle_nn::linear_no_bias`.
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: candle_nn::VarBuilder) -> Result<Linear> {
    let inner = candle_nn::linear_no_bias(in_dim, out_dim, vb)?;
    Ok(Linear { inner })
}

/// A linear layer with or without a bias, like `candle_nn::linear_b`.
pub fn linear_b(in_dim: usize, out_dim: usize, bias: bool, vb: candle_nn::VarBuilder) -> Result<Linear> {
    let inner = candle_nn::linear_b(in_dim, out_dim, bias, vb)?;
    Ok(Linear { inner })
}

/// `x (n, k) · wᵀ` with `w (o, k)`: Candle's CPU GEMM on the transposed view of `w`, no copy.
fn product(x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, usize, usize)> {
    let (n, k) = xl.shape().dims2()?;
    let (o, k_w) = wl.shape().dims2()?;
    if k != k_w {
        candle_core::bail!("linear: the input has {k} features but the layer expects {k_w}");
    }
    let y = x.matmul(w, (1, n, o, k), xl, &wl.transpose(0, 1)?)?;
    Ok((y, n, o))
}

/// Adds the bias to every row of `y` (`o` columns), in place.
fn add_bias(y: &mut CpuStorage, b: &CpuStorage, bl: &Layout, o: usize) -> Result<()> {
    let Some((start, end)) = bl.contiguous_offsets() else {
        candle_core::bail!("linear: the bias must be contiguous");
    };
    match (y, b) {
        (CpuStorage::F32(y), CpuStorage::F32(b)) => add_rows(y, &b[start..end], o),
        (CpuStorage::F64(y), CpuStorage::F64(b)) => add_rows(y, &b[start..end], o),
        _ => candle_core::bail!("linear: the fused CPU path supports f32 and f64 with one dtype throughout"),
    }
    Ok(())
}

fn add_rows<T: Copy + std::ops::AddAssign>(y: &mut [T], b: &[T], o: usize) {
    for row in y.chunks_exact_mut(o.max(1)) {
        for (v, &bias) in row.iter_mut().zip(b) {
            *v += bias;
        }
    }
}

/// The gradients of `x·wᵀ (+ b)` that are needed: `dx = g·w` only when `x` is tracked, `dw = gᵀ·x`, `db = Σ g`.
fn gradients(x: &Tensor, w: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let dx = if x.track_op() { Some(grad.matmul(w)?) } else { None };
    let dw = if w.track_op() { Some(grad.t()?.matmul(x)?) } else { None };
    Ok((dx, dw))
}

struct LinearOp;

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "linear"
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
        let (mut y, n, o) = product(x, xl, w, wl)?;
        add_bias(&mut y, b, bl, o)?;
        Ok((y, Shape::from((n, o))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = gradients(x, w, grad)?;
        let db = if b.track_op() { Some(grad.contiguous()?.apply_op1_no_bwd(&ColumnSums)?) } else { None };
        Ok((dx, dw, db))
    }
}

/// The sums of the columns of `(n, o)`, as `(o)`: the bias gradient in one pass over the rows. (Candle's
/// `sum(0)` walks the column-strided view element by element: 0.75 ms for a `1024×128` gradient, 25× this.)
struct ColumnSums;

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "column-sums"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, o) = layout.shape().dims2()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("linear: the output gradient must be contiguous");
        };
        let sums = match storage {
            CpuStorage::F32(g) => CpuStorage::F32(column_sums(&g[start..end], o)),
            CpuStorage::F64(g) => CpuStorage::F64(column_sums(&g[start..end], o)),
            _ => candle_core::bail!("linear: the fused CPU path supports f32 and f64"),
        };
        Ok((sums, Shape::from(o)))
    }
}

fn column_sums<T: Copy + Default + std::ops::AddAssign>(g: &[T], o: usize) -> Vec<T> {
    let mut sums = vec![T::default(); o];
    for row in g.chunks_exact(o.max(1)) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    sums
}

struct LinearNoBiasOp;

impl CustomOp2 for LinearNoBiasOp {
    fn name(&self) -> &'static str {
        "linear-no-bias"
    }

    fn cpu_fwd(&self, x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        let (y, n, o) = product(x, xl, w, wl)?;
        Ok((y, Shape::from((n, o))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        gradients(x, w, grad)
    }
}
