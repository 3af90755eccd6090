//! Hyperparameter search like Optuna: a [`Study`] runs trials, each [`Trial`] suggests values, the objective
//! returns a score. Suggestions come from TPE (Tree-structured Parzen Estimator, the `tpe` crate — Optuna's default
//! sampler) or, as the baseline, from uniform random search.
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

use std::collections::BTreeMap;
use std::fmt;

use candle_core::Result;
use rand_tpe::rngs::StdRng;
use rand_tpe::{RngExt, SeedableRng};

use crate::plot::Figure;
use crate::train::schedule::Goal;

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

/// One suggested value, as the study stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// From `suggest_float*`.
    Float(f64),
    /// From `suggest_int*`.
    Int(i64),
    /// From `suggest_categorical`: the choice's text.
    Choice(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Float(v) if v.abs() != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) => write!(f, "{v:.3e}"),
            ParamValue::Float(v) => write!(f, "{v:.4}"),
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Choice(c) => write!(f, "{c}"),
        }
    }
}

/// A finished trial: its number, its parameters and its score (NaN when the objective gave no number).
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRecord {
    /// Counting from 0.
    pub number: usize,
    /// The parameters, by name.
    pub params: BTreeMap<String, ParamValue>,
    /// What the objective returned.
    pub value: f64,
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

/// The search space of one parameter, in the coordinates TPE models (logarithms for log scales, indices for
/// choices).
#[derive(Debug, Clone, PartialEq)]
enum Space {
    Float { low: f64, high: f64, log: bool, step: Option<f64> },
    Int { low: i64, high: i64, log: bool },
    Choice { n: usize },
}

impl Space {
    /// The half-open range `[start, end)` TPE samples in.
    fn range(&self) -> (f64, f64) {
        match *self {
            Space::Float { low, high, log: true, .. } => {
                (low.ln(), high.ln() + f64::EPSILON * high.ln().abs().max(1.0))
            }
            Space::Float { low, high, step: Some(step), .. } => (low, high + step),
            Space::Float { low, high, .. } => (low, high + f64::EPSILON * high.abs().max(1.0)),
            Space::Int { low, high, log: true } => ((low as f64).ln(), ((high + 1) as f64).ln()),
            Space::Int { low, high, .. } => (low as f64, (high + 1) as f64),
            Space::Choice { n } => (0.0, n as f64),
        }
    }

    /// The value a point of the range stands for.
    fn value(&self, x: f64) -> ParamValue {
        match *self {
            Space::Float { low, high, log, step } => {
                let v = if log { x.exp() } else { x };
                let v = match step {
                    Some(step) => low + ((v - low) / step).floor() * step,
                    None => v,
                };
                ParamValue::Float(v.clamp(low, high))
            }
            Space::Int { low, high, log } => {
                let v = if log { x.exp().floor() } else { x.floor() };
                ParamValue::Int((v as i64).clamp(low, high))
            }
            Space::Choice { n } => ParamValue::Int((x.floor() as i64).clamp(0, n as i64 - 1)),
        }
    }
}

struct Param {
    space: Space,
    tpe: tpe::TpeOptimizer,
}

/// A hyperparameter search: runs the objective `n_trials` times and keeps every trial.
pub struct Study {
    goal: Goal,
    method: SearchMethod,
    rng: StdRng,
    params: BTreeMap<String, Param>,
    trials: Vec<TrialRecord>,
}

impl fmt::Debug for Study {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Study")
            .field("goal", &self.goal)
            .field("method", &self.method)
            .field("trials", &self.trials.len())
            .finish()
    }
}

impl Study {
    /// A study that minimizes or maximizes the objective, with TPE after 10 random trials and seed 0.
    pub fn new(goal: Goal) -> Self {
        Self {
            goal,
            method: SearchMethod::Tpe { startup_trials: 10 },
            rng: StdRng::seed_from_u64(0),
            params: BTreeMap::new(),
            trials: Vec::new(),
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

    /// Runs `n_trials` more trials. A trial whose objective returns NaN or infinity is kept with that value and
    /// does not guide TPE; an objective that returns an error stops the study with that error (the trial is kept
    /// as failed, with a NaN value, and so are the trials before it; call `optimize` again to go on).
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
            let mut trial = Trial { study: self, random, chosen: BTreeMap::new(), raw: BTreeMap::new() };
            let value = objective(&mut trial);
            let Trial { chosen, raw, .. } = trial;
            let value = match value {
                Ok(value) => value,
                Err(e) => {
                    // Kept as a failed trial (no value), like Optuna's FAIL state.
                    self.trials.push(TrialRecord { number, params: chosen, value: f64::NAN });
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
            self.trials.push(TrialRecord { number, params: chosen, value });
        }
        Ok(())
    }

    /// Every trial so far, in order.
    pub fn trials(&self) -> &[TrialRecord] {
        &self.trials
    }

    /// The trial with the best finite value.
    pub fn best_trial(&self) -> Option<&TrialRecord> {
        self.trials.iter().filter(|t| t.value.is_finite()).fold(None, |best, t| match best {
            Some(b) if !self.goal.improves(t.value, b.value, 0.0) => Some(b),
            _ => Some(t),
        })
    }

    /// The best value found after each trial (the curve that shows how fast a search converges).
    pub fn best_so_far(&self) -> Vec<f64> {
        let mut best = self.goal.worst();
        self.trials
            .iter()
            .map(|t| {
                if t.value.is_finite() && self.goal.improves(t.value, best, 0.0) {
                    best = t.value;
                }
                best
            })
            .collect()
    }

    /// The trials as a table (number, value, one column per parameter); shows as a table in a notebook.
    pub fn table(&self) -> TrialTable {
        TrialTable { trials: self.trials.clone(), best: self.best_trial().map(|t| t.number) }
    }

    /// Each trial's value as points and the best-so-far as a line.
    pub fn figure(&self) -> Figure {
        let xs: Vec<f64> = (0..self.trials.len()).map(|i| i as f64).collect();
        let values: Vec<f64> = self.trials.iter().map(|t| t.value).collect();
        Figure::new()
            .scatter("trial", &xs, &values)
            .line_xy("best so far", &xs, self.best_so_far())
            .xlabel("trial")
            .ylabel("objective")
            .title("hyperparameter search")
    }
}

/// One run of the objective: ask it for values with the `suggest_*` methods.
pub struct Trial<'s> {
    study: &'s mut Study,
    random: bool,
    chosen: BTreeMap<String, ParamValue>,
    raw: BTreeMap<String, f64>,
}

impl Trial<'_> {
    /// This trial's number, counting from 0.
    pub fn number(&self) -> usize {
        self.study.trials.len()
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

/// The trials of a [`Study`] as a table.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialTable {
    trials: Vec<TrialRecord>,
    best: Option<usize>,
}

impl TrialTable {
    fn columns(&self) -> Vec<String> {
        let mut names: Vec<String> = self.trials.iter().flat_map(|t| t.params.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    fn cells(&self, t: &TrialRecord, columns: &[String]) -> Vec<String> {
        let mut row = vec![t.number.to_string(), format!("{:.4}", t.value)];
        row.extend(columns.iter().map(|c| t.params.get(c).map(ToString::to_string).unwrap_or_default()));
        row
    }

    /// The table as HTML (the best trial in bold).
    pub fn to_html(&self) -> String {
        let columns = self.columns();
        let esc = crate::mime::escape_html;
        let mut html = String::from("<table><thead><tr><th>trial</th><th>value</th>");
        for c in &columns {
            html.push_str(&format!("<th>{}</th>", esc(c)));
        }
        html.push_str("</tr></thead><tbody>");
        for t in &self.trials {
            let style = if Some(t.number) == self.best { " style=\"font-weight:bold\"" } else { "" };
            html.push_str(&format!("<tr{style}>"));
            for cell in self.cells(t, &columns) {
                html.push_str(&format!("<td>{}</td>", esc(&cell)));
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
        html
    }

    /// Shows the table in a notebook (evcxr's display convention).
    pub fn evcxr_display(&self) {
        crate::mime::emit(&[("text/html", self.to_html()), ("text/plain", self.to_string())]);
    }
}

impl fmt::Display for TrialTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.columns();
        let mut rows = vec![
            ["trial".to_string(), "value".to_string()].into_iter().chain(columns.iter().cloned()).collect::<Vec<_>>(),
        ];
        rows.extend(self.trials.iter().map(|t| self.cells(t, &columns)));
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        for (n, row) in rows.iter().enumerate() {
            let mark = if n > 0 && Some(n - 1) == self.best { " ← best" } else { "" };
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
            writeln!(f, "{}{mark}", cells.join("  "))?;
        }
        Ok(())
    }
}
