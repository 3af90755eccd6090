//! Pruning: stopping a trial early when its intermediate results (say the validation accuracy after each epoch)
//! are already worse than what finished trials had reached at the same step.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! // Each trial "trains" for 10 epochs; its accuracy after epoch e is quality · (1 − 0.5^(e+1)).
//! let mut study = Study::new(Goal::Maximize).seed(1).pruner(MedianPruner::new().startup_trials(3));
//! study.optimize(20, |trial| {
//!     let quality = trial.suggest_float("quality", 0.0, 1.0)?;
//!     let mut accuracy = 0.0;
//!     for epoch in 0..10 {
//!         accuracy = quality * (1.0 - 0.5f64.powi(epoch as i32 + 1));
//!         trial.report(epoch, accuracy)?;
//!         if trial.should_prune() {
//!             return trial.prune();        // Optuna: raise optuna.TrialPruned()
//!         }
//!     }
//!     Ok(accuracy)
//! })?;
//! let pruned = study.trials().iter().filter(|t| t.state == TrialState::Pruned).count();
//! assert!(pruned > 0, "worse-than-median trials stop early");
//! # Ok(()) }
//! ```

use std::fmt;

use super::{TrialRecord, TrialState};
use crate::train::schedule::Goal;

/// Decides, from the trials that finished and the running trial's reports so far, whether to stop it.
///
/// Implement it for a rule of your own; [`MedianPruner`] is the usual choice.
pub trait Pruner: fmt::Debug + Send {
    /// Whether the running trial, which has reported `reports` (`(step, value)` in order, never empty), should stop.
    /// `finished` holds every earlier trial, whatever its state.
    fn prune(&self, goal: Goal, finished: &[TrialRecord], reports: &[(usize, f64)]) -> bool;
}

/// Never prunes: every trial runs to the end (the default of a [`Study`](super::Study)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoPruner;

impl Pruner for NoPruner {
    fn prune(&self, _: Goal, _: &[TrialRecord], _: &[(usize, f64)]) -> bool {
        false
    }
}

/// Stops a trial whose best result so far is worse than the median of the completed trials' results at the same
/// step — Optuna's `MedianPruner`, with its defaults: 5 startup trials, no warm-up steps, every step checked.
///
/// A trial is never pruned while fewer than `startup_trials` trials have completed (there is no median worth
/// trusting yet), before step `warmup_steps` (the first epochs of a good configuration can look bad), or at a step
/// no completed trial reported. A reported NaN prunes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MedianPruner {
    startup_trials: usize,
    warmup_steps: usize,
    interval_steps: usize,
}

impl Default for MedianPruner {
    fn default() -> Self {
        Self::new()
    }
}

impl MedianPruner {
    /// The pruner with Optuna's defaults (`n_startup_trials=5, n_warmup_steps=0, interval_steps=1`).
    pub fn new() -> Self {
        Self { startup_trials: 5, warmup_steps: 0, interval_steps: 1 }
    }

    /// Completed trials needed before anything is pruned.
    pub fn startup_trials(mut self, n: usize) -> Self {
        self.startup_trials = n;
        self
    }

    /// Steps of every trial that are never pruned (`n_warmup_steps`): with `2`, a trial can stop at step 2 at the
    /// earliest.
    pub fn warmup_steps(mut self, n: usize) -> Self {
        self.warmup_steps = n;
        self
    }

    /// Checks only every `n`-th step after the warm-up (`interval_steps`); `0` is taken as `1`.
    pub fn interval_steps(mut self, n: usize) -> Self {
        self.interval_steps = n.max(1);
        self
    }
}

/// The median of `values` (which must not be empty).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

impl Pruner for MedianPruner {
    fn prune(&self, goal: Goal, finished: &[TrialRecord], reports: &[(usize, f64)]) -> bool {
        let Some(&(step, _)) = reports.last() else { return false };
        let completed: Vec<&TrialRecord> = finished.iter().filter(|t| t.state == TrialState::Complete).collect();
        if completed.len() < self.startup_trials || step < self.warmup_steps {
            return false;
        }
        if !(step - self.warmup_steps).is_multiple_of(self.interval_steps) {
            return false;
        }
        if reports.iter().any(|(_, v)| v.is_nan()) {
            return true;
        }
        let best = reports.iter().map(|&(_, v)| v).fold(goal.worst(), |b, v| match goal {
            Goal::Minimize => b.min(v),
            Goal::Maximize => b.max(v),
        });
        let mut at_step: Vec<f64> = completed
            .iter()
            .filter_map(|t| t.reports.iter().find(|(s, _)| *s == step).map(|&(_, v)| v))
            .filter(|v| !v.is_nan())
            .collect();
        if at_step.is_empty() {
            return false;
        }
        let median = median(&mut at_step);
        match goal {
            Goal::Minimize => best > median,
            Goal::Maximize => best < median,
        }
    }
}
