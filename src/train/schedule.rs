//! Learning-rate schedules, as `torch.optim.lr_scheduler`: [`StepLr`], [`ExponentialLr`], [`CosineAnnealingLr`],
//! [`LinearLr`], a linear [`Warmup`] before any of them, and [`ReduceLrOnPlateau`].
//!
//! A [`Scheduler`] remembers the optimizer's starting learning rate and sets a new one each time you call
//! [`Scheduler::step`] — once per epoch, after the optimizer's steps, as in PyTorch:
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let w = Var::new(&[1f32], &Device::Cpu)?;
//! let mut opt = Sgd::new(vec![w], 0.1)?;
//! let mut sched = Scheduler::new(&mut opt, StepLr::new(2, 0.5));
//! let mut lrs = vec![];
//! for _epoch in 0..5 {
//!     // ... the epoch's batches: forward, backward, opt.step(&grads)? ...
//!     lrs.push(opt.learning_rate());
//!     sched.step(&mut opt);
//! }
//! assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025]);
//! # Ok(()) }
//! ```
//!
//! The scheduler does not hold the optimizer (Rust would not let the loop use it then); you pass it to `step`.

use candle_nn::Optimizer;

/// A learning rate as a function of the epoch count and the starting learning rate.
pub trait LrSchedule: Send + Sync {
    /// The learning rate after `epoch` calls of [`Scheduler::step`], for an optimizer that started at `base_lr`.
    fn lr(&self, epoch: usize, base_lr: f64) -> f64;

    /// Runs `self` for `epochs` epochs after a linear warm-up from `start_factor·lr` (PyTorch's `SequentialLR` of
    /// a `LinearLR` and this schedule, with the milestone at `epochs`).
    fn after_warmup(self, epochs: usize, start_factor: f64) -> Warmup<Self>
    where
        Self: Sized,
    {
        Warmup { epochs, start_factor, then: self }
    }
}

/// Multiplies the learning rate by `gamma` every `step_size` epochs (`torch.optim.lr_scheduler.StepLR`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLr {
    /// Epochs between two decays.
    pub step_size: usize,
    /// Factor of each decay.
    pub gamma: f64,
}

impl StepLr {
    /// Decay by `gamma` every `step_size` epochs.
    pub fn new(step_size: usize, gamma: f64) -> Self {
        Self { step_size, gamma }
    }
}

impl LrSchedule for StepLr {
    fn lr(&self, epoch: usize, base_lr: f64) -> f64 {
        base_lr * self.gamma.powi((epoch / self.step_size.max(1)) as i32)
    }
}

/// Multiplies the learning rate by `gamma` every epoch (`ExponentialLR`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialLr {
    /// Factor of each epoch's decay.
    pub gamma: f64,
}

impl ExponentialLr {
    /// Decay by `gamma` every epoch.
    pub fn new(gamma: f64) -> Self {
        Self { gamma }
    }
}

impl LrSchedule for ExponentialLr {
    fn lr(&self, epoch: usize, base_lr: f64) -> f64 {
        base_lr * self.gamma.powi(epoch as i32)
    }
}

/// Half a cosine from the starting learning rate down to `eta_min` over `t_max` epochs (`CosineAnnealingLR`);
/// after `t_max` the cosine goes on, climbing back, as PyTorch's does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineAnnealingLr {
    /// Epochs from the top to the bottom of the cosine.
    pub t_max: usize,
    /// The lowest learning rate.
    pub eta_min: f64,
}

impl CosineAnnealingLr {
    /// Anneal to `eta_min` over `t_max` epochs.
    pub fn new(t_max: usize, eta_min: f64) -> Self {
        Self { t_max, eta_min }
    }
}

impl LrSchedule for CosineAnnealingLr {
    fn lr(&self, epoch: usize, base_lr: f64) -> f64 {
        let t_max = self.t_max.max(1) as f64;
        self.eta_min + (base_lr - self.eta_min) * (1.0 + (std::f64::consts::PI * epoch as f64 / t_max).cos()) / 2.0
    }
}

/// Scales the learning rate linearly from `start_factor` to `end_factor` over `total_iters` epochs, then keeps
/// `end_factor` (`LinearLR`; the usual warm-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearLr {
    /// Factor at epoch 0.
    pub start_factor: f64,
    /// Factor from epoch `total_iters` on.
    pub end_factor: f64,
    /// Epochs of the ramp.
    pub total_iters: usize,
}

impl LinearLr {
    /// A ramp of the factor from `start_factor` to `end_factor` over `total_iters` epochs.
    pub fn new(start_factor: f64, end_factor: f64, total_iters: usize) -> Self {
        Self { start_factor, end_factor, total_iters }
    }
}

impl LrSchedule for LinearLr {
    fn lr(&self, epoch: usize, base_lr: f64) -> f64 {
        let total = self.total_iters.max(1);
        let progress = epoch.min(total) as f64 / total as f64;
        base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)
    }
}

/// A linear warm-up over `epochs` epochs from `start_factor·lr` to `lr`, then the schedule `then` counted from
/// its own epoch 0. Made with [`LrSchedule::after_warmup`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warmup<S> {
    /// Epochs of warm-up.
    pub epochs: usize,
    /// Factor of the learning rate at epoch 0.
    pub start_factor: f64,
    /// The schedule after the warm-up.
    pub then: S,
}

impl<S: LrSchedule> LrSchedule for Warmup<S> {
    fn lr(&self, epoch: usize, base_lr: f64) -> f64 {
        if epoch < self.epochs {
            LinearLr::new(self.start_factor, 1.0, self.epochs).lr(epoch, base_lr)
        } else {
            self.then.lr(epoch - self.epochs, base_lr)
        }
    }
}

impl<F: Fn(usize, f64) -> f64 + Send + Sync> LrSchedule for F {
    fn lr(&self, epoch: usize, base_lr: f64) -> f64 {
        self(epoch, base_lr)
    }
}

/// Drives an optimizer's learning rate with an [`LrSchedule`], one [`Scheduler::step`] per epoch.
#[derive(Debug, Clone)]
pub struct Scheduler<S> {
    schedule: S,
    base_lr: f64,
    epoch: usize,
}

impl<S: LrSchedule> Scheduler<S> {
    /// Starts `schedule` from the optimizer's current learning rate and sets the epoch-0 rate (a warm-up starts
    /// low at once, as in PyTorch).
    pub fn new<O: Optimizer>(opt: &mut O, schedule: S) -> Self {
        let base_lr = opt.learning_rate();
        opt.set_learning_rate(schedule.lr(0, base_lr));
        Self { schedule, base_lr, epoch: 0 }
    }

    /// Counts one epoch and sets the optimizer's learning rate for the next; returns that rate.
    pub fn step<O: Optimizer>(&mut self, opt: &mut O) -> f64 {
        self.epoch += 1;
        let lr = self.lr();
        opt.set_learning_rate(lr);
        lr
    }

    /// The learning rate for the current epoch.
    pub fn lr(&self) -> f64 {
        self.schedule.lr(self.epoch, self.base_lr)
    }

    /// How many times [`Scheduler::step`] was called (PyTorch's `last_epoch`); saved in checkpoints.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Jumps to `epoch` and sets the optimizer's learning rate for it (when resuming from a checkpoint).
    pub fn set_epoch<O: Optimizer>(&mut self, epoch: usize, opt: &mut O) {
        self.epoch = epoch;
        opt.set_learning_rate(self.lr());
    }
}

/// Whether a smaller or a larger metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// Smaller is better (a loss).
    Minimize,
    /// Larger is better (an accuracy).
    Maximize,
}

impl Goal {
    /// Whether `value` beats `best` by more than a relative `threshold` (PyTorch's `threshold_mode='rel'`).
    pub fn improves(self, value: f64, best: f64, threshold: f64) -> bool {
        match self {
            Goal::Minimize => value < best * (1.0 - threshold),
            Goal::Maximize => value > best * (1.0 + threshold),
        }
    }

    /// The worst possible value, the starting "best".
    pub fn worst(self) -> f64 {
        match self {
            Goal::Minimize => f64::INFINITY,
            Goal::Maximize => f64::NEG_INFINITY,
        }
    }
}

/// Cuts the learning rate by `factor` when a metric has not improved for more than `patience` epochs
/// (`ReduceLROnPlateau`, relative threshold).
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let mut opt = Sgd::new(vec![Var::new(&[1f32], &Device::Cpu)?], 1.0)?;
/// let mut plateau = ReduceLrOnPlateau::new(Goal::Minimize).patience(1).factor(0.5);
/// for val_loss in [1.0, 0.9, 0.9, 0.9] {
///     plateau.step(val_loss, &mut opt);
/// }
/// assert_eq!(opt.learning_rate(), 0.5);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ReduceLrOnPlateau {
    goal: Goal,
    factor: f64,
    patience: usize,
    threshold: f64,
    cooldown: usize,
    min_lr: f64,
    eps: f64,
    best: f64,
    bad_epochs: usize,
    cooldown_left: usize,
}

impl ReduceLrOnPlateau {
    /// PyTorch's defaults: factor 0.1, patience 10, threshold 1e-4 (relative), no cooldown, no minimum.
    pub fn new(goal: Goal) -> Self {
        Self {
            goal,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            best: goal.worst(),
            bad_epochs: 0,
            cooldown_left: 0,
        }
    }

    /// Sets the factor the learning rate is multiplied by.
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// Sets how many epochs without improvement are tolerated.
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }

    /// Sets the relative improvement that counts.
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets how many epochs to wait after a cut before counting again.
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Sets the lowest learning rate.
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }

    /// Records one epoch's `metric` and cuts the optimizer's learning rate if it is time; returns the rate.
    pub fn step<O: Optimizer>(&mut self, metric: f64, opt: &mut O) -> f64 {
        if self.goal.improves(metric, self.best, self.threshold) {
            self.best = metric;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.bad_epochs = 0;
        }
        if self.bad_epochs > self.patience {
            let old = opt.learning_rate();
            let new = (old * self.factor).max(self.min_lr);
            if old - new > self.eps {
                opt.set_learning_rate(new);
            }
            self.cooldown_left = self.cooldown;
            self.bad_epochs = 0;
        }
        opt.learning_rate()
    }

    /// The best metric seen so far.
    pub fn best(&self) -> f64 {
        self.best
    }
}
