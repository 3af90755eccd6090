//! Optimizers with PyTorch's knobs and update rules: [`Sgd`] (momentum, dampening, Nesterov, weight decay),
//! [`Adam`] (L2 weight decay, AMSGrad), [`AdamW`] (decoupled weight decay) and [`RmsProp`] (momentum, centred).
//!
//! Each one implements Candle's [`Optimizer`] trait, so the loop reads like PyTorch's:
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let w = Var::new(&[1f32, -2.0], &Device::Cpu)?;
//! let mut opt = Sgd::new(vec![w.clone()], 0.1)?.momentum(0.9).weight_decay(1e-4);
//! for _ in 0..3 {
//!     let loss = w.as_tensor().sqr()?.sum_all()?;  // forward
//!     let grads = loss.backward()?;                 // backward: a fresh GradStore, nothing to zero
//!     opt.step(&grads)?;                            // optimizer.step()
//! }
//! assert!(w.as_tensor().sqr()?.sum_all()?.to_scalar::<f32>()? < 5.0);
//! # Ok(()) }
//! ```
//!
//! There is no `zero_grad`: Candle's `backward` returns a new [`GradStore`] each time instead of adding into
//! `.grad` fields. A variable with no gradient in the store (not used by the loss, or frozen) is left as it is,
//! as PyTorch leaves a parameter whose `.grad` is `None`.
//!
//! Every optimizer can hand out its state ([`OptimizerState::state_tensors`]) so that a checkpoint
//! ([`crate::train::Checkpoint`]) resumes training exactly.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};
pub use candle_nn::Optimizer;

/// What every candlelit optimizer offers beyond Candle's [`Optimizer`]: its variables and its state.
pub trait OptimizerState {
    /// The variables this optimizer updates, in the order they were given.
    fn vars(&self) -> &[Var];

    /// Adds variables to train from now on (PyTorch's `add_param_group`), e.g. unfrozen backbone layers.
    fn add_vars(&mut self, vars: Vec<Var>);

    /// The optimizer's state as named tensors (`"3.exp_avg"`, `"3.step"`, ...: variable index, then buffer name).
    ///
    /// # Errors
    /// When a step counter cannot be made into a tensor (never in practice).
    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>>;

    /// Restores state written by [`OptimizerState::state_tensors`] of an optimizer of the same kind over the same
    /// variables. Buffers are moved to each variable's device.
    ///
    /// # Errors
    /// When a buffer's shape does not match its variable (a checkpoint of another model).
    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> Result<()>;
}

/// The variables an optimizer updates with, per variable, its step count and named buffers.
#[derive(Debug, Clone, Default)]
struct Slots {
    vars: Vec<Var>,
    steps: Vec<u64>,
    buffers: Vec<HashMap<&'static str, Tensor>>,
}

impl Slots {
    fn new(vars: Vec<Var>) -> Self {
        let mut slots = Self::default();
        slots.add(vars);
        slots
    }

    fn add(&mut self, vars: Vec<Var>) {
        for var in vars {
            // Integer variables (an embedding's ids, a counter) have no gradient to follow.
            if var.dtype().is_float() {
                self.vars.push(var);
                self.steps.push(0);
                self.buffers.push(HashMap::new());
            }
        }
    }

    /// Calls `update(var, grad, step, buffers)` for each variable that has a gradient, after counting the step.
    ///
    /// Like PyTorch's `step()`, which runs under `no_grad`, nothing of the update is recorded for autograd: the
    /// gradient is detached before the update and every buffer after it. Without that, a gradient that depends on
    /// the variable itself (an L2 penalty in the loss, or `weight_decay` added to the gradient) would make each
    /// step's momentum hold the whole history of earlier steps, and memory would grow with every batch.
    fn for_each_with_grad(
        &mut self,
        grads: &GradStore,
        mut update: impl FnMut(&Var, &Tensor, u64, &mut HashMap<&'static str, Tensor>) -> Result<()>,
    ) -> Result<()> {
        for ((var, step), buffers) in self.vars.iter().zip(self.steps.iter_mut()).zip(self.buffers.iter_mut()) {
            if let Some(grad) = grads.get(var) {
                *step += 1;
                update(var, &grad.to_dtype(var.dtype())?.detach(), *step, buffers)?;
                for buffer in buffers.values_mut() {
                    *buffer = buffer.detach();
                }
            }
        }
        Ok(())
    }

    fn state_tensors(&self, names: &[&'static str]) -> Result<Vec<(String, Tensor)>> {
        let mut state = Vec::new();
        for (i, (step, buffers)) in self.steps.iter().zip(&self.buffers).enumerate() {
            let device = self.vars[i].device();
            state.push((format!("{i}.step"), Tensor::new(*step as f64, device)?));
            for name in names {
                if let Some(buffer) = buffers.get(name) {
                    state.push((format!("{i}.{name}"), buffer.clone()));
                }
            }
        }
        Ok(state)
    }

    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>, names: &[&'static str]) -> Result<()> {
        for (i, var) in self.vars.iter().enumerate() {
            self.steps[i] = match state.get(&format!("{i}.step")) {
                Some(step) => step.to_dtype(DType::F64)?.to_scalar::<f64>()? as u64,
                None => 0,
            };
            self.buffers[i].clear();
            for name in names {
                if let Some(buffer) = state.get(&format!("{i}.{name}")) {
                    if buffer.dims() != var.dims() {
                        candle_core::bail!(
                            "the saved optimizer state `{i}.{name}` has shape {:?} but variable {i} has shape {:?}: \
                             the checkpoint was written for another model",
                            buffer.dims(),
                            var.dims()
                        );
                    }
                    self.buffers[i].insert(name, buffer.to_device(var.device())?.to_dtype(var.dtype())?);
                }
            }
        }
        Ok(())
    }
}

/// `grad + weight_decay * param` (L2 regularisation added to the gradient), or `grad` when the decay is 0.
fn with_l2(grad: &Tensor, var: &Var, weight_decay: f64) -> Result<Tensor> {
    if weight_decay == 0.0 { Ok(grad.clone()) } else { grad + (var.as_tensor() * weight_decay)? }
}

fn check_lr(lr: f64) -> Result<()> {
    if !(lr.is_finite() && lr >= 0.0) {
        candle_core::bail!("the learning rate must be a number ≥ 0, got {lr}");
    }
    Ok(())
}

/// Implements [`OptimizerState`] for an optimizer with a `slots` field and the given buffer names.
macro_rules! optimizer_state {
    ($ty:ty, [$($name:literal),*]) => {
        impl OptimizerState for $ty {
            fn vars(&self) -> &[Var] {
                &self.slots.vars
            }
            fn add_vars(&mut self, vars: Vec<Var>) {
                self.slots.add(vars)
            }
            fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
                self.slots.state_tensors(&[$($name),*])
            }
            fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
                self.slots.load_state_tensors(state, &[$($name),*])
            }
        }
    };
}

/// Settings of [`Sgd`], PyTorch's `torch.optim.SGD` defaults apart from the learning rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamsSgd {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 = plain gradient descent).
    pub momentum: f64,
    /// Dampening of the momentum: the new gradient enters the buffer scaled by `1 - dampening`.
    pub dampening: f64,
    /// L2 penalty added to the gradient (`grad + weight_decay * param`).
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
    pub nesterov: bool,
}

impl ParamsSgd {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Self { lr, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }
}

/// Stochastic gradient descent, with PyTorch's update rule:
/// `g = grad + wd·p`; `buf = momentum·buf + (1 − dampening)·g` (`buf = g` on the first step);
/// `g = g + momentum·buf` with Nesterov, else `g = buf`; `p = p − lr·g`.
#[derive(Debug, Clone)]
pub struct Sgd {
    params: ParamsSgd,
    slots: Slots,
}

impl Sgd {
    /// SGD over `vars` with learning rate `lr` (like `torch.optim.SGD(params, lr=lr)`).
    ///
    /// # Errors
    /// When `lr` is negative or not a number.
    pub fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        <Self as Optimizer>::new(vars, ParamsSgd::new(lr))
    }

    /// Sets the momentum factor (PyTorch's `momentum=`).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.params.momentum = momentum;
        self
    }

    /// Sets the dampening of the momentum (PyTorch's `dampening=`).
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.params.dampening = dampening;
        self
    }

    /// Turns on Nesterov momentum (PyTorch's `nesterov=True`); it needs a momentum and no dampening.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.params.nesterov = nesterov;
        self
    }

    /// Sets the L2 penalty (PyTorch's `weight_decay=`).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.params.weight_decay = weight_decay;
        self
    }

    /// The current settings.
    pub fn params(&self) -> &ParamsSgd {
        &self.params
    }
}

impl Optimizer for Sgd {
    type Config = ParamsSgd;

    fn new(vars: Vec<Var>, params: ParamsSgd) -> Result<Self> {
        check_lr(params.lr)?;
        Ok(Self { params, slots: Slots::new(vars) })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let p = self.params;
        if p.nesterov && (p.momentum <= 0.0 || p.dampening != 0.0) {
            candle_core::bail!("Nesterov momentum needs a momentum above 0 and no dampening");
        }
        self.slots.for_each_with_grad(grads, |var, grad, step, buffers| {
            let mut g = with_l2(grad, var, p.weight_decay)?;
            if p.momentum != 0.0 {
                let buf = match buffers.get("momentum_buffer") {
                    Some(buf) if step > 1 => ((buf * p.momentum)? + (&g * (1.0 - p.dampening))?)?,
                    _ => g.clone(),
                };
                g = if p.nesterov { (g + (&buf * p.momentum)?)? } else { buf.clone() };
                buffers.insert("momentum_buffer", buf);
            }
            var.set(&(var.as_tensor() - (g * p.lr)?)?)
        })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

optimizer_state!(Sgd, ["momentum_buffer"]);

/// Settings of [`Adam`] and [`AdamW`], with PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamsAdam {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Decay of the running mean of gradients (default 0.9).
    pub beta1: f64,
    /// Decay of the running mean of squared gradients (default 0.999).
    pub beta2: f64,
    /// Added to the denominator for numerical stability (default 1e-8).
    pub eps: f64,
    /// Weight decay: an L2 term in the gradient for [`Adam`] (default 0), decoupled for [`AdamW`] (default 0.01).
    pub weight_decay: f64,
    /// Use the maximum of past squared-gradient averages (AMSGrad).
    pub amsgrad: bool,
}

impl Default for ParamsAdam {
    fn default() -> Self {
        Self { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, amsgrad: false }
    }
}

/// One Adam update of `var` from gradient `g` (decay already applied as the variant wants).
fn adam_update(
    var: &Var,
    g: &Tensor,
    step: u64,
    buffers: &mut HashMap<&'static str, Tensor>,
    p: &ParamsAdam,
) -> Result<()> {
    let m = match buffers.get("exp_avg") {
        Some(m) => ((m * p.beta1)? + (g * (1.0 - p.beta1))?)?,
        None => (g * (1.0 - p.beta1))?,
    };
    let v = match buffers.get("exp_avg_sq") {
        Some(v) => ((v * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?,
        None => (g.sqr()? * (1.0 - p.beta2))?,
    };
    let bias_correction1 = 1.0 - p.beta1.powi(step as i32);
    let bias_correction2 = 1.0 - p.beta2.powi(step as i32);
    let v_used = if p.amsgrad {
        let max_v = match buffers.get("max_exp_avg_sq") {
            Some(max_v) => max_v.maximum(&v)?,
            None => v.clone(),
        };
        buffers.insert("max_exp_avg_sq", max_v.clone());
        max_v
    } else {
        v.clone()
    };
    let denom = ((v_used.sqrt()? / bias_correction2.sqrt())? + p.eps)?;
    let update = ((&m / denom)? * (p.lr / bias_correction1))?;
    buffers.insert("exp_avg", m);
    buffers.insert("exp_avg_sq", v);
    var.set(&(var.as_tensor() - update)?)
}

/// Implements the builder setters shared by the Adam family.
macro_rules! adam_setters {
    ($ty:ty) => {
        impl $ty {
            /// Sets `(beta1, beta2)` (PyTorch's `betas=`).
            pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
                self.params.beta1 = beta1;
                self.params.beta2 = beta2;
                self
            }

            /// Sets the term added to the denominator (PyTorch's `eps=`).
            pub fn eps(mut self, eps: f64) -> Self {
                self.params.eps = eps;
                self
            }

            /// Sets the weight decay (PyTorch's `weight_decay=`).
            pub fn weight_decay(mut self, weight_decay: f64) -> Self {
                self.params.weight_decay = weight_decay;
                self
            }

            /// Turns on AMSGrad (PyTorch's `amsgrad=True`).
            pub fn amsgrad(mut self, amsgrad: bool) -> Self {
                self.params.amsgrad = amsgrad;
                self
            }

            /// The current settings.
            pub fn params(&self) -> &ParamsAdam {
                &self.params
            }
        }
    };
}

/// Adam as in `torch.optim.Adam`: weight decay is an L2 term added to the gradient before the moments.
#[derive(Debug, Clone)]
pub struct Adam {
    params: ParamsAdam,
    slots: Slots,
}

impl Adam {
    /// Adam over `vars` with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    /// When `lr` is negative or not a number.
    pub fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        <Self as Optimizer>::new(vars, ParamsAdam { lr, ..ParamsAdam::default() })
    }
}

adam_setters!(Adam);

impl Optimizer for Adam {
    type Config = ParamsAdam;

    fn new(vars: Vec<Var>, params: ParamsAdam) -> Result<Self> {
        check_lr(params.lr)?;
        Ok(Self { params, slots: Slots::new(vars) })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let p = self.params;
        self.slots.for_each_with_grad(grads, |var, grad, step, buffers| {
            let g = with_l2(grad, var, p.weight_decay)?;
            adam_update(var, &g, step, buffers, &p)
        })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

optimizer_state!(Adam, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]);

/// AdamW as in `torch.optim.AdamW`: the weights shrink by `lr·weight_decay` before an Adam step that does not
/// see the decay (decoupled weight decay; default 0.01).
#[derive(Debug, Clone)]
pub struct AdamW {
    params: ParamsAdam,
    slots: Slots,
}

impl AdamW {
    /// AdamW over `vars` with learning rate `lr`, weight decay 0.01 and PyTorch's other defaults.
    ///
    /// # Errors
    /// When `lr` is negative or not a number.
    pub fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        <Self as Optimizer>::new(vars, ParamsAdam { lr, weight_decay: 0.01, ..ParamsAdam::default() })
    }
}

adam_setters!(AdamW);

impl Optimizer for AdamW {
    type Config = ParamsAdam;

    fn new(vars: Vec<Var>, params: ParamsAdam) -> Result<Self> {
        check_lr(params.lr)?;
        Ok(Self { params, slots: Slots::new(vars) })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let p = self.params;
        self.slots.for_each_with_grad(grads, |var, grad, step, buffers| {
            if p.weight_decay != 0.0 {
                var.set(&(var.as_tensor() * (1.0 - p.lr * p.weight_decay))?)?;
            }
            adam_update(var, grad, step, buffers, &p)
        })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

optimizer_state!(AdamW, ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]);

/// Settings of [`RmsProp`], with PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamsRmsProp {
    /// Learning rate (default 0.01).
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average (default 0.99).
    pub alpha: f64,
    /// Added to the denominator (default 1e-8).
    pub eps: f64,
    /// L2 penalty added to the gradient (default 0).
    pub weight_decay: f64,
    /// Momentum factor (default 0).
    pub momentum: f64,
    /// Normalise by the estimated variance of the gradient instead of its second moment.
    pub centered: bool,
}

impl Default for ParamsRmsProp {
    fn default() -> Self {
        Self { lr: 0.01, alpha: 0.99, eps: 1e-8, weight_decay: 0.0, momentum: 0.0, centered: false }
    }
}

/// RMSprop as in `torch.optim.RMSprop`: `v = α·v + (1 − α)·g²`, step `lr·g / (√v + eps)` (centred: `√(v − ḡ²)`),
/// optionally through a momentum buffer.
#[derive(Debug, Clone)]
pub struct RmsProp {
    params: ParamsRmsProp,
    slots: Slots,
}

impl RmsProp {
    /// RMSprop over `vars` with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    /// When `lr` is negative or not a number.
    pub fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        <Self as Optimizer>::new(vars, ParamsRmsProp { lr, ..ParamsRmsProp::default() })
    }

    /// Sets the smoothing constant (PyTorch's `alpha=`).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.params.alpha = alpha;
        self
    }

    /// Sets the term added to the denominator (PyTorch's `eps=`).
    pub fn eps(mut self, eps: f64) -> Self {
        self.params.eps = eps;
        self
    }

    /// Sets the L2 penalty (PyTorch's `weight_decay=`).
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.params.weight_decay = weight_decay;
        self
    }

    /// Sets the momentum factor (PyTorch's `momentum=`).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.params.momentum = momentum;
        self
    }

    /// Turns on the centred variant (PyTorch's `centered=True`).
    pub fn centered(mut self, centered: bool) -> Self {
        self.params.centered = centered;
        self
    }

    /// The current settings.
    pub fn params(&self) -> &ParamsRmsProp {
        &self.params
    }
}

impl Optimizer for RmsProp {
    type Config = ParamsRmsProp;

    fn new(vars: Vec<Var>, params: ParamsRmsProp) -> Result<Self> {
        check_lr(params.lr)?;
        Ok(Self { params, slots: Slots::new(vars) })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let p = self.params;
        self.slots.for_each_with_grad(grads, |var, grad, _step, buffers| {
            let g = with_l2(grad, var, p.weight_decay)?;
            let v = match buffers.get("square_avg") {
                Some(v) => ((v * p.alpha)? + (g.sqr()? * (1.0 - p.alpha))?)?,
                None => (g.sqr()? * (1.0 - p.alpha))?,
            };
            let avg = if p.centered {
                let g_avg = match buffers.get("grad_avg") {
                    Some(a) => ((a * p.alpha)? + (&g * (1.0 - p.alpha))?)?,
                    None => (&g * (1.0 - p.alpha))?,
                };
                let avg = ((&v - g_avg.sqr()?)?.sqrt()? + p.eps)?;
                buffers.insert("grad_avg", g_avg);
                avg
            } else {
                (v.sqrt()? + p.eps)?
            };
            buffers.insert("square_avg", v);
            let update = if p.momentum > 0.0 {
                let buf = match buffers.get("momentum_buffer") {
                    Some(buf) => ((buf * p.momentum)? + (&g / &avg)?)?,
                    None => (&g / &avg)?,
                };
                buffers.insert("momentum_buffer", buf.clone());
                (buf * p.lr)?
            } else {
                ((g / avg)? * p.lr)?
            };
            var.set(&(var.as_tensor() - update)?)
        })
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }
}

optimizer_state!(RmsProp, ["square_avg", "grad_avg", "momentum_buffer"]);
