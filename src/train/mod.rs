//! The small things every training loop needs, kept thin so the loop itself stays in the lesson:
//!
//! - [`autograd`] — `grad_of`, `requires_grad`, [`GradAccumulator`]: PyTorch's autograd vocabulary in Candle terms;
//!   [`clip`] — [`clip_grad_norm`] and [`clip_grad_value`] between backward and step.
//! - [`optim`] — [`Sgd`], [`Adam`], [`AdamW`], [`RmsProp`] with PyTorch's knobs and update rules;
//!   [`any_optimizer`] — [`AnyOptimizer`], whichever of them a run picks at run time; [`param_groups`] —
//!   [`ParamGroups`], a learning rate per group of layers (fine-tuning).
//! - [`schedule`] — [`StepLr`], [`ExponentialLr`], [`CosineAnnealingLr`], [`LinearLr`], warm-up,
//!   [`ReduceLrOnPlateau`].
//! - [`metrics`] — [`accuracy`], [`ConfusionMatrix`], [`RunningMean`], [`EarlyStopping`].
//! - [`weights`] — [`save_weights`] / [`load_weights`] (safetensors) and [`Checkpoint`]s that resume exactly.
//! - [`state_dict`] — [`read_state_dict`] (safetensors, PyTorch `.pth`, legacy PyTorch via [`torch_legacy`]) and
//!   [`load_state_dict`] with renamed prefixes and a [`LoadReport`] of missing and unexpected names.
//! - [`progress`] — a [`Progress`] bar that redraws in place in the terminal and in the notebook.
//! - [`live`] — a [`History`] of per-epoch numbers whose figure redraws in place after each epoch.
//! - [`search`] — an Optuna-like [`Study`] for hyperparameters, with TPE or random search, pruning and figures.
//! - [`summary_writer`] — a [`SummaryWriter`] of TensorBoard event files, as in `torch.utils.tensorboard`.
//!
//! A whole epoch, PyTorch-style:
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let dev = Device::Cpu;
//! manual_seed(0);
//! let x = randn((64, 2), &dev)?;
//! let y = x.sum(1)?.gt(0.0)?.to_dtype(DType::U32)?;           // label: is x0 + x1 > 0?
//! let model = Sequential::new(&dev).add("fc", |vb| nn::linear(2, 2, vb))?;
//! let mut opt = Sgd::new(model.parameters(), 0.5)?.momentum(0.9);
//! let mut history = History::new();
//! for epoch in 0..20 {
//!     model.train();
//!     let mut loss_mean = RunningMean::new();
//!     for (xb, yb) in [(x.narrow(0, 0, 32)?, y.narrow(0, 0, 32)?), (x.narrow(0, 32, 32)?, y.narrow(0, 32, 32)?)] {
//!         let loss = loss::cross_entropy(&model.forward(&xb)?, &yb)?;  // forward
//!         opt.backward_step(&loss)?;                               // backward + step
//!         loss_mean.add_tensor(&loss, xb.dim(0)?)?;
//!     }
//!     model.eval();
//!     let acc = accuracy(&model.forward(&x)?, &y)?;
//!     history.push(epoch, &[("loss", loss_mean.mean()), ("accuracy", acc)]);
//! }
//! assert!(history.last("accuracy").unwrap_or(0.0) > 0.9);
//! # Ok(()) }
//! ```

pub mod any_optimizer;
pub mod autograd;
pub mod clip;
pub mod live;
pub mod metrics;
pub mod optim;
pub mod param_groups;
pub mod progress;
pub mod schedule;
pub mod search;
pub mod state_dict;
pub mod summary_writer;
pub mod torch_legacy;
pub mod weights;

pub use any_optimizer::AnyOptimizer;
pub use autograd::{GradAccumulator, grad_of, grads_of, requires_grad};
pub use clip::{clip_grad_norm, clip_grad_value};
pub use live::History;
pub use metrics::{ConfusionMatrix, EarlyStopping, RunningMean, accuracy, correct};
pub use optim::{Adam, AdamW, Optimizer, OptimizerState, ParamsAdam, ParamsRmsProp, ParamsSgd, RmsProp, Sgd};
pub use param_groups::ParamGroups;
pub use progress::{Progress, ProgressIter, progress};
pub use schedule::{
    CosineAnnealingLr, ExponentialLr, Goal, LinearLr, LrSchedule, ReduceLrOnPlateau, Scheduler, StepLr, Warmup,
};
pub use search::{
    MedianPruner, NoPruner, ParamValue, Pruner, SearchMethod, Study, Trial, TrialRecord, TrialState, TrialTable,
};
pub use state_dict::{LoadOptions, LoadReport, load_state_dict, read_state_dict};
pub use summary_writer::SummaryWriter;
pub use torch_legacy::read_legacy_torch;
pub use weights::{Checkpoint, CheckpointInfo, load_weights, save_weights};
