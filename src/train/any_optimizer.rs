//! [`AnyOptimizer`]: one type for whichever optimizer a run picks at run time — the role of PyTorch's
//! `torch.optim.Optimizer` base class when a hyperparameter search chooses between Adam and SGD.

use std::collections::HashMap;
use std::fmt;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

use super::optim::{Optimizer, OptimizerState};

/// What [`AnyOptimizer`] needs of the optimizer inside it: Candle's `Optimizer` without its `Sized` parts.
trait Inner: OptimizerState + Send {
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
    fn kind(&self) -> &'static str;
}

impl<O: Optimizer + OptimizerState + Send + 'static> Inner for O {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        Optimizer::step(self, grads)
    }
    fn learning_rate(&self) -> f64 {
        Optimizer::learning_rate(self)
    }
    fn set_learning_rate(&mut self, lr: f64) {
        Optimizer::set_learning_rate(self, lr)
    }
    fn kind(&self) -> &'static str {
        std::any::type_name::<O>().rsplit("::").next().unwrap_or("optimizer")
    }
}

/// Any candlelit optimizer (or your own) behind one type, chosen while the program runs:
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let model = Sequential::new(&Device::Cpu).add("fc", |vb| nn::linear(3, 1, vb))?;
/// let choice = "sgd"; // say from trial.suggest_categorical("optimizer", &["adam", "sgd"])
/// let mut opt = match choice {
///     "adam" => AnyOptimizer::new(Adam::new(model.parameters(), 1e-3)?),
///     _ => AnyOptimizer::new(Sgd::new(model.parameters(), 0.1)?.momentum(0.9)),
/// };
/// let loss = model.forward(&Tensor::ones((4, 3), DType::F32, &Device::Cpu)?)?.sqr()?.mean_all()?;
/// opt.backward_step(&loss)?;
/// assert_eq!(format!("{opt:?}"), "AnyOptimizer(Sgd, lr 0.1)");
/// # Ok(()) }
/// ```
///
/// It is an [`Optimizer`] (`backward_step`, learning rate for schedulers) and an [`OptimizerState`] (for
/// [`Checkpoint`](super::Checkpoint)); [`Optimizer::new`] itself is not available — build the optimizer you want
/// and wrap it with [`AnyOptimizer::new`].
pub struct AnyOptimizer(Box<dyn Inner>);

impl AnyOptimizer {
    /// Wraps `optimizer`.
    pub fn new(optimizer: impl Optimizer + OptimizerState + Send + 'static) -> Self {
        Self(Box::new(optimizer))
    }
}

impl fmt::Debug for AnyOptimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyOptimizer({}, lr {})", self.0.kind(), self.0.learning_rate())
    }
}

impl Optimizer for AnyOptimizer {
    type Config = ();

    fn new(_vars: Vec<Var>, _config: ()) -> Result<Self> {
        candle_core::bail!(
            "AnyOptimizer has no settings of its own: build the optimizer you want, then wrap it, \
             e.g. AnyOptimizer::new(Adam::new(model.parameters(), 1e-3)?)"
        )
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.0.step(grads)
    }

    fn learning_rate(&self) -> f64 {
        self.0.learning_rate()
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.0.set_learning_rate(lr)
    }
}

impl OptimizerState for AnyOptimizer {
    fn vars(&self) -> &[Var] {
        self.0.vars()
    }

    fn add_vars(&mut self, vars: Vec<Var>) {
        self.0.add_vars(vars)
    }

    fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        self.0.state_tensors()
    }

    fn load_state_tensors(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        self.0.load_state_tensors(state)
    }
}
