//! Hyperparameter search like Optuna: a [`Study`] runs trials, each [`Trial`] suggests values, the objective
//! returns a score. Suggestions come from TPE (Tree-structured Parzen Estimator, the `tpe` crate — Optuna's default
//! sampler) or, as the baseline, from uniform random search. A [`Pruner`] stops hopeless trials early from what
//! they [`report`](Trial::report) after each epoch, and the study draws what Optuna's visualisation module draws:
//! the optimisation history, a slice plot per parameter, parameter importances and parallel coordinates.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let mut study = Study::new(Goal::Minimize).seed(0);
//! study.optimize(40, |trial| {
//!     let x = trial.suggest_float("x", -10.0, 10.0)?;
//!     let lr = trial.suggest_float_log("lr", 1e-5, 1e-1)?;
//!     let layers = trial.suggest_int("layers", 1, 4)?;
//!     let act = trial.suggest_categorical("activation", &["relu", "tanh"])?;
//!     Ok((x - 2.0).powi(2) + (lr.log10() + 3.0).abs() + layers as f64 + if act == "relu" { 0.0 } else { 1.0 })
//! })?;
//! let best = study.best_trial().expect("40 trials ran");
//! assert!(best.value < 3.0);
//! println!("{}", study.table());   // every trial: number, value, parameters
//! # Ok(()) }
//! ```

mod figures;
mod importance;
mod pruner;
mod space;
mod table;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use candle_core::Result;
use rand_tpe::rngs::StdRng;
use rand_tpe::{RngExt, SeedableRng};

use crate::train::schedule::Goal;
pub use pruner::{MedianPruner, NoPruner, Pruner};
pub use space::ParamValue;
use space::Space;
pub use table::TrialTable;

/// How a [`Study`] chooses the values of its trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMethod {
    /// Uniform random search in each range (the baseline).
    Random,
    /// TPE after `startup_trials` random ones (Optuna's default uses 10).
    Tpe {
        /// Random trials before TPE starts modelling.
        startup_trials: usize,
    },
}

/// How a trial ended (Optuna's `TrialState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialState {
    /// The objective returned a value.
    Complete,
    /// The trial stopped itself with [`Trial::prune`].
    Pruned,
    /// The objective returned an error.
    Failed,
}

impl fmt::Display for TrialState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        })
    }
}

/// A finished trial: its number, its parameters, its score and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    /// Counting from 0.
    pub number: usize,
    /// The parameters, by name.
    pub params: BTreeMap<String, ParamValue>,
    /// What the objective returned; for a pruned trial its last reported value (NaN if it reported none); NaN for
    /// a failed one.
    pub value: f64,
    /// Complete, pruned or failed.
    pub state: TrialState,
    /// The intermediate results it [`report`](Trial::report)ed, as `(step, value)` in order.
    pub reports: Vec<(usize, f64)>,
    /// Wall-clock seconds the objective ran.
    pub seconds: f64,
}

impl TrialRecord {
    /// A float parameter (`None` if absent or of another kind).
    pub fn float(&self, name: &str) -> Option<f64> {
        match self.params.get(name)? {
            ParamValue::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.params.get(name)? {
            ParamValue::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// A categorical parameter's choice.
    pub fn choice(&self, name: &str) -> Option<&str> {
        match self.params.get(name)? {
            ParamValue::Choice(v) => Some(v),
            _ => None,
        }
    }
}

struct Param {
    space: Space,
    tpe: tpe::TpeOptimizer,
}

impl fmt::Debug for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.space.fmt(f)
    }
}

/// A hyperparameter search: runs the objective `n_trials` times and keeps every trial.
pub struct Study {
    goal: Goal,
    method: SearchMethod,
    rng: StdRng,
    params: BTreeMap<String, Param>,
    trials: Vec<TrialRecord>,
    pruner: Box<dyn Pruner>,
}

impl fmt::Debug for Study {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Study")
            .field("goal", &self.goal)
            .field("method", &self.method)
            .field("trials", &self.trials.len())
            .field("pruner", &self.pruner)
            .finish()
    }
}

impl Study {
    /// A study that minimizes or maximizes the objective, with TPE after 10 random trials, seed 0 and no pruning.
    pub fn new(goal: Goal) -> Self {
        Self {
            goal,
            method: SearchMethod::Tpe { startup_trials: 10 },
            rng: StdRng::seed_from_u64(0),
            params: BTreeMap::new(),
            trials: Vec::new(),
            pruner: Box::new(NoPruner),
        }
    }

    /// Seeds the study's own generator: the same seed and objective give the same trials.
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// Chooses TPE or random search.
    pub fn method(mut self, method: SearchMethod) -> Self {
        self.method = method;
        self
    }

    /// Prunes trials with `pruner` (say [`MedianPruner::new()`]); the objective asks
    /// [`should_prune`](Trial::should_prune) after each [`report`](Trial::report).
    pub fn pruner(mut self, pruner: impl Pruner + 'static) -> Self {
        self.pruner = Box::new(pruner);
        self
    }

    /// Whether larger or smaller values are better.
    pub fn goal(&self) -> Goal {
        self.goal
    }

    /// Runs `n_trials` more trials. A trial whose objective returns NaN or infinity is kept with that value and
    /// does not guide TPE. A trial that returns [`Trial::prune`] is kept as pruned with its last reported value,
    /// which guides TPE like a finished trial's (a pruned trial was heading somewhere worse). An objective that
    /// returns any other error stops the study with that error (the trial is kept as failed, with a NaN value,
    /// and so are the trials before it; call `optimize` again to go on).
    ///
    /// # Errors
    /// The objective's error, or a parameter suggested twice with different ranges.
    pub fn optimize(
        &mut self,
        n_trials: usize,
        mut objective: impl FnMut(&mut Trial<'_>) -> Result<f64>,
    ) -> Result<()> {
        for _ in 0..n_trials {
            let number = self.trials.len();
            let random = match self.method {
                SearchMethod::Random => true,
                SearchMethod::Tpe { startup_trials } => number < startup_trials,
            };
            let mut trial = Trial {
                study: self,
                random,
                chosen: BTreeMap::new(),
                raw: BTreeMap::new(),
                reports: Vec::new(),
                pruned: false,
            };
            let started = Instant::now();
            let value = objective(&mut trial);
            let seconds = started.elapsed().as_secs_f64();
            let Trial { chosen, raw, reports, pruned, .. } = trial;
            let (value, state) = match value {
                Ok(value) => (value, TrialState::Complete),
                Err(_) if pruned => (reports.last().map_or(f64::NAN, |&(_, v)| v), TrialState::Pruned),
                Err(e) => {
                    // Kept as a failed trial (no value), like Optuna's FAIL state.
                    let state = TrialState::Failed;
                    self.trials.push(TrialRecord { number, params: chosen, value: f64::NAN, state, reports, seconds });
                    return Err(
                        e.context(format!("trial {number} failed; the study keeps its {number} earlier trials"))
                    );
                }
            };
            if value.is_finite() {
                let loss = match self.goal {
                    Goal::Minimize => value,
                    Goal::Maximize => -value,
                };
                for (name, x) in &raw {
                    if let Some(param) = self.params.get_mut(name) {
                        param.tpe.tell(*x, loss).map_err(|e| candle_core::Error::Msg(format!("TPE: {e:?}")))?;
                    }
                }
            }
            self.trials.push(TrialRecord { number, params: chosen, value, state, reports, seconds });
        }
        Ok(())
    }

    /// Every trial so far, in order.
    pub fn trials(&self) -> &[TrialRecord] {
        &self.trials
    }

    /// The completed trial with the best finite value (pruned trials never count as best).
    pub fn best_trial(&self) -> Option<&TrialRecord> {
        self.completed().fold(None, |best, t| match best {
            Some(b) if !self.goal.improves(t.value, b.value, 0.0) => Some(b),
            _ => Some(t),
        })
    }

    /// The completed trials with a finite value.
    fn completed(&self) -> impl Iterator<Item = &TrialRecord> {
        self.trials.iter().filter(|t| t.state == TrialState::Complete && t.value.is_finite())
    }

    /// The parameters of the best trial (`None` before any trial completed).
    pub fn best_params(&self) -> Option<&BTreeMap<String, ParamValue>> {
        self.best_trial().map(|t| &t.params)
    }

    /// Total wall-clock seconds of the trials so far (with pruning, compare it with a study without).
    pub fn seconds(&self) -> f64 {
        self.trials.iter().map(|t| t.seconds).sum()
    }

    /// The best completed value after each trial (the curve that shows how fast a search converges; it starts at
    /// the goal's worst value, ±infinity, until a trial completes).
    pub fn best_so_far(&self) -> Vec<f64> {
        let mut best = self.goal.worst();
        self.trials
            .iter()
            .map(|t| {
                if t.state == TrialState::Complete && t.value.is_finite() && self.goal.improves(t.value, best, 0.0) {
                    best = t.value;
                }
                best
            })
            .collect()
    }
}

/// One run of the objective: ask it for values with the `suggest_*` methods.
pub struct Trial<'s> {
    study: &'s mut Study,
    random: bool,
    chosen: BTreeMap<String, ParamValue>,
    raw: BTreeMap<String, f64>,
    reports: Vec<(usize, f64)>,
    pruned: bool,
}

impl Trial<'_> {
    /// This trial's number, counting from 0.
    pub fn number(&self) -> usize {
        self.study.trials.len()
    }

    /// Records an intermediate result — say the validation accuracy after epoch `step` — for the pruner and the
    /// figures (Optuna's `trial.report(value, step)`; here the step comes first, as in a loop over epochs).
    ///
    /// # Errors
    /// When `step` was reported before in this trial.
    pub fn report(&mut self, step: usize, value: f64) -> Result<()> {
        if self.reports.iter().any(|(s, _)| *s == step) {
            candle_core::bail!(
                "trial {}: step {step} was already reported; report each step once (the epoch number makes a good step)",
                self.number()
            );
        }
        self.reports.push((step, value));
        Ok(())
    }

    /// Whether the study's pruner says to stop this trial now, judging its reports so far against the trials that
    /// finished. Always `false` before the first [`report`](Self::report) and in a study without a pruner.
    pub fn should_prune(&self) -> bool {
        !self.reports.is_empty() && self.study.pruner.prune(self.study.goal, &self.study.trials, &self.reports)
    }

    /// Stops this trial as pruned: `return trial.prune();` from the objective (Optuna's `raise TrialPruned()`).
    /// Always an `Err`; the study records the trial as [`TrialState::Pruned`] instead of failing.
    pub fn prune(&mut self) -> Result<f64> {
        self.pruned = true;
        let at = self.reports.last().map_or("before its first report".to_string(), |(s, _)| format!("at step {s}"));
        Err(candle_core::Error::Msg(format!(
            "trial {} was pruned {at}; return it from the objective and the study goes on",
            self.number()
        )))
    }

    fn suggest(&mut self, name: &str, space: Space) -> Result<ParamValue> {
        if let Some(v) = self.chosen.get(name) {
            return Ok(v.clone());
        }
        let (start, end) = space.range();
        if !(start.is_finite() && end.is_finite() && start < end) {
            candle_core::bail!("the range of `{name}` is empty or not a number ({space:?})");
        }
        if let Some(p) = self.study.params.get(name)
            && p.space != space
        {
            candle_core::bail!(
                "`{name}` was suggested before with another range ({:?}); a parameter keeps one range in a study",
                p.space
            );
        }
        if !self.study.params.contains_key(name) {
            let range = tpe::range(start, end).map_err(|e| candle_core::Error::Msg(format!("`{name}`: {e:?}")))?;
            let estimator = if matches!(space, Space::Choice { .. }) {
                tpe::histogram_estimator()
            } else {
                tpe::parzen_estimator()
            };
            let tpe = tpe::TpeOptimizer::new(estimator, range);
            self.study.params.insert(name.to_string(), Param { space: space.clone(), tpe });
        }
        let Some(param) = self.study.params.get_mut(name) else {
            candle_core::bail!("`{name}` could not be registered");
        };
        let x = if self.random {
            start + (end - start) * self.study.rng.random::<f64>()
        } else {
            match param.tpe.ask(&mut self.study.rng) {
                Ok(x) => x,
                Err(never) => match never {},
            }
        };
        let x = x.clamp(start, end - (end - start) * 1e-12);
        let value = space.value(x);
        self.raw.insert(name.to_string(), x);
        self.chosen.insert(name.to_string(), value.clone());
        Ok(value)
    }

    /// A float uniform in `[low, high]` (Optuna's `suggest_float(name, low, high)`).
    ///
    /// # Errors
    /// When `low ≥ high`, or `name` was used with another range.
    pub fn suggest_float(&mut self, name: &str, low: f64, high: f64) -> Result<f64> {
        self.float(name, Space::Float { low, high, log: false, step: None })
    }

    /// A float in `[low, high]` on a log scale (`log=True`): as likely between 1e-4 and 1e-3 as between 1e-2 and
    /// 1e-1 — the way to search learning rates.
    ///
    /// # Errors
    /// When `low ≤ 0` or `low ≥ high`, or `name` was used with another range.
    pub fn suggest_float_log(&mut self, name: &str, low: f64, high: f64) -> Result<f64> {
        if low <= 0.0 {
            candle_core::bail!("`{name}`: a log-scale range needs low > 0, got {low}");
        }
        self.float(name, Space::Float { low, high, log: true, step: None })
    }

    /// A float among `low, low + step, …` up to `high` (`step=`), e.g. dropout in steps of 0.1.
    ///
    /// # Errors
    /// When `step ≤ 0` or `low ≥ high`, or `name` was used with another range.
    pub fn suggest_float_step(&mut self, name: &str, low: f64, high: f64, step: f64) -> Result<f64> {
        if step <= 0.0 {
            candle_core::bail!("`{name}`: the step must be above 0, got {step}");
        }
        self.float(name, Space::Float { low, high, log: false, step: Some(step) })
    }

    fn float(&mut self, name: &str, space: Space) -> Result<f64> {
        match self.suggest(name, space)? {
            ParamValue::Float(v) => Ok(v),
            other => candle_core::bail!("`{name}` is not a float parameter (it holds {other})"),
        }
    }

    /// An integer in `low..=high` (Optuna's `suggest_int`).
    ///
    /// # Errors
    /// When `low > high`, or `name` was used with another range.
    pub fn suggest_int(&mut self, name: &str, low: i64, high: i64) -> Result<i64> {
        self.int(name, Space::Int { low, high, log: false })
    }

    /// An integer in `low..=high` on a log scale (layer widths such as 16…512).
    ///
    /// # Errors
    /// When `low < 1` or `low > high`, or `name` was used with another range.
    pub fn suggest_int_log(&mut self, name: &str, low: i64, high: i64) -> Result<i64> {
        if low < 1 {
            candle_core::bail!("`{name}`: a log-scale range needs low ≥ 1, got {low}");
        }
        self.int(name, Space::Int { low, high, log: true })
    }

    fn int(&mut self, name: &str, space: Space) -> Result<i64> {
        match self.suggest(name, space)? {
            ParamValue::Int(v) => Ok(v),
            other => candle_core::bail!("`{name}` is not an integer parameter (it holds {other})"),
        }
    }

    /// One of `choices` (Optuna's `suggest_categorical`).
    ///
    /// # Errors
    /// When `choices` is empty, or `name` was used with another number of choices.
    pub fn suggest_categorical<T: Clone + fmt::Display>(&mut self, name: &str, choices: &[T]) -> Result<T> {
        if choices.is_empty() {
            candle_core::bail!("`{name}`: there is nothing to choose from");
        }
        let index = match self.suggest(name, Space::Choice { n: choices.len() })? {
            ParamValue::Int(i) => i as usize,
            ParamValue::Choice(c) => choices.iter().position(|x| x.to_string() == c).unwrap_or(0),
            ParamValue::Float(_) => 0,
        };
        let choice = choices[index.min(choices.len() - 1)].clone();
        self.chosen.insert(name.to_string(), ParamValue::Choice(choice.to_string()));
        Ok(choice)
    }
}
