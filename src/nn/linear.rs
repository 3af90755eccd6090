//! [`linear`]: PyTorch's `nn.Linear` (`y = x·Wᵀ + b`) — Candle's layer, with a leaner backward pass on the CPU.
//!
//! Candle's own `Linear` computes `x.matmul(&w.t())` and adds the bias; in the backward pass a matrix product
//! always produces the gradient of *both* of its sides, so the first layer of every network also computes a
//! gradient for its input batch, which is data and needs none. For the lessons' MLP that is the single largest
//! product of the whole backward pass. This layer runs the same forward (the GEMM Candle uses, then the bias) as one
//! custom op whose backward produces only the gradients that flow somewhere: the weight's, the bias's, and the
//! input's only when the input is itself tracked. Its products run on as many threads as their size calls for
//! (Candle splits every product over all its threads; the batch-64 MLP ran slower on two than on one), and the
//! bias gradient is one pass over the rows. Off the CPU, or for dtypes other than `f32`/`f64`, it is Candle's
//! layer exactly.
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

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Result, Shape, Storage, Tensor, WithDType};

use super::cpu_gemm::{Element, MatRef, matmul_new};

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
        self.forward_recorded(x).map(crate::grad_mode::layer_output)
    }
}

impl Linear {
    /// The forward pass, recorded for autograd (`forward` drops the record inside `no_grad`).
    fn forward_recorded(&self, x: &Tensor) -> Result<Tensor> {
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

/// The element types of the fused path, and how they sit in Candle's CPU storage.
trait Float: Element + std::ops::AddAssign {
    /// The values of `storage` under a contiguous `layout`.
    fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [Self]>;
    /// Values as CPU storage.
    fn storage(values: Vec<Self>) -> CpuStorage;
}

/// The contiguous values of `data` under `layout`.
fn contiguous<'a, T>(data: &'a [T], layout: &Layout) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("linear: the fused CPU path needs contiguous tensors"),
    }
}

/// `Float` for a type held in Candle's CPU storage as `$variant`.
macro_rules! float_in_storage {
    ($t:ty, $variant:ident) => {
        impl Float for $t {
            fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [Self]> {
                match storage {
                    CpuStorage::$variant(data) => contiguous(data, layout),
                    _ => candle_core::bail!("linear: expected {} values", stringify!($t)),
                }
            }

            fn storage(values: Vec<Self>) -> CpuStorage {
                CpuStorage::$variant(values)
            }
        }
    };
}

float_in_storage!(f32, F32);
float_in_storage!(f64, F64);

/// `x (n, k) · wᵀ (+ b)` with `w (o, k)`: one product on the transposed view of `w` (no copy), then the bias.
fn forward<T: Float>(
    x: (&CpuStorage, &Layout),
    w: (&CpuStorage, &Layout),
    b: Option<(&CpuStorage, &Layout)>,
) -> Result<(CpuStorage, Shape)> {
    let (n, k) = x.1.shape().dims2()?;
    let (o, k_w) = w.1.shape().dims2()?;
    if k != k_w {
        candle_core::bail!("linear: the input has {k} features but the layer expects {k_w}");
    }
    let (xv, wv) = (T::values(x.0, x.1)?, T::values(w.0, w.1)?);
    let mut y = matmul_new(MatRef::row_major(xv, n, k)?, MatRef::transposed(wv, k, o)?)?;
    if let Some((b, bl)) = b {
        let b = T::values(b, bl)?;
        if b.len() != o {
            candle_core::bail!("linear: {o} outputs but a bias of {} values", b.len());
        }
        for row in y.chunks_exact_mut(o.max(1)) {
            row.iter_mut().zip(b).for_each(|(v, &bias)| *v += bias);
        }
    }
    Ok((T::storage(y), Shape::from((n, o))))
}

/// The gradients of `x·wᵀ (+ b)` that are needed: `dx = g·w` only when `x` is tracked, `dw = gᵀ·x`, `db = Σ g`
/// over the rows. Each product gets the threads its size calls for.
fn gradients(x: &Tensor, w: &Tensor, b: Option<&Tensor>, grad: &Tensor) -> Result<Gradients> {
    let grad = grad.contiguous()?;
    match x.dtype() {
        DType::F32 => gradients_of::<f32>(x, w, b, &grad),
        DType::F64 => gradients_of::<f64>(x, w, b, &grad),
        other => candle_core::bail!("linear: the fused CPU path does not take {other:?}"),
    }
}

/// Gradients of the input, the weight and the bias, each when it is tracked.
type Gradients = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

fn gradients_of<T: Float + WithDType>(x: &Tensor, w: &Tensor, b: Option<&Tensor>, g: &Tensor) -> Result<Gradients> {
    let ((n, k), (o, _)) = (x.dims2()?, w.dims2()?);
    let (xs, xl) = x.storage_and_layout();
    let (ws, wl) = w.storage_and_layout();
    let (gs, gl) = g.storage_and_layout();
    let (Storage::Cpu(xs), Storage::Cpu(ws), Storage::Cpu(gs)) = (&*xs, &*ws, &*gs) else {
        candle_core::bail!("linear: the fused CPU path got a tensor off the CPU")
    };
    let (xv, wv, gv) = (T::values(xs, xl)?, T::values(ws, wl)?, T::values(gs, gl)?);
    let dev = x.device();
    let dx = if x.track_op() {
        let dx = matmul_new(MatRef::row_major(gv, n, o)?, MatRef::row_major(wv, o, k)?)?;
        Some(Tensor::from_vec(dx, (n, k), dev)?)
    } else {
        None
    };
    let dw = if w.track_op() {
        let dw = matmul_new(MatRef::transposed(gv, o, n)?, MatRef::row_major(xv, n, k)?)?;
        Some(Tensor::from_vec(dw, (o, k), dev)?)
    } else {
        None
    };
    let db = match b {
        Some(b) if b.track_op() => Some(Tensor::from_vec(column_sums(gv, o), o, dev)?),
        _ => None,
    };
    Ok((dx, dw, db))
}

/// The sums of the columns of `g (n, o)`: the bias gradient in one pass over the rows. (Candle's `sum(0)` walks
/// the column-strided view element by element: 0.75 ms for a `1024×128` gradient, 25× this.)
fn column_sums<T: Float>(g: &[T], o: usize) -> Vec<T> {
    let mut sums = vec![T::ZERO; o];
    for row in g.chunks_exact(o.max(1)) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    sums
}

/// Runs `f::<f32>` or `f::<f64>` by the dtype of `storage`.
macro_rules! by_dtype {
    ($storage:expr, $f:ident ( $($arg:expr),* )) => {
        match $storage {
            CpuStorage::F32(_) => $f::<f32>($($arg),*),
            CpuStorage::F64(_) => $f::<f64>($($arg),*),
            _ => candle_core::bail!("linear: the fused CPU path supports f32 and f64"),
        }
    };
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
        by_dtype!(x, forward((x, xl), (w, wl), Some((b, bl))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Gradients> {
        gradients(x, w, Some(b), grad)
    }
}

struct LinearNoBiasOp;

impl CustomOp2 for LinearNoBiasOp {
    fn name(&self) -> &'static str {
        "linear-no-bias"
    }

    fn cpu_fwd(&self, x: &CpuStorage, xl: &Layout, w: &CpuStorage, wl: &Layout) -> Result<(CpuStorage, Shape)> {
        by_dtype!(x, forward((x, xl), (w, wl), None))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = gradients(x, w, None, grad)?;
        Ok((dx, dw))
    }
}
