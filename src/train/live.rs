//! Per-epoch numbers and a figure of them that redraws in place after each epoch.

use std::collections::BTreeMap;

use crate::output::DisplayHandle;
use crate::plot::Figure;

/// The numbers of each epoch (`train_loss`, `val_accuracy`, ...), to plot and to read back.
///
/// ```
/// use candlelit::prelude::*;
/// let mut history = History::new();
/// for epoch in 0..3 {
///     history.push(epoch, &[("train_loss", 1.0 / (epoch as f64 + 1.0)), ("val_loss", 0.8)]);
///     // history.show(&["train_loss", "val_loss"]);   // in a notebook: one figure, redrawn each epoch
/// }
/// assert_eq!(history.values("train_loss"), vec![1.0, 0.5, 1.0 / 3.0]);
/// assert_eq!(history.best("val_loss", Goal::Minimize), Some((0, 0.8)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct History {
    epochs: Vec<usize>,
    series: BTreeMap<String, Vec<(usize, f64)>>,
    order: Vec<String>,
    figures: BTreeMap<String, DisplayHandle>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the numbers of `epoch`.
    pub fn push(&mut self, epoch: usize, values: &[(&str, f64)]) {
        if self.epochs.last() != Some(&epoch) {
            self.epochs.push(epoch);
        }
        for (name, value) in values {
            if !self.series.contains_key(*name) {
                self.order.push(name.to_string());
            }
            self.series.entry(name.to_string()).or_default().push((epoch, *value));
        }
    }

    /// The values recorded under `name`, in order (empty when none).
    pub fn values(&self, name: &str) -> Vec<f64> {
        self.series.get(name).map(|s| s.iter().map(|(_, v)| *v).collect()).unwrap_or_default()
    }

    /// The last value recorded under `name`.
    pub fn last(&self, name: &str) -> Option<f64> {
        self.series.get(name).and_then(|s| s.last()).map(|(_, v)| *v)
    }

    /// The epoch and value of the best `name` in the direction `goal`.
    pub fn best(&self, name: &str, goal: crate::train::Goal) -> Option<(usize, f64)> {
        let series = self.series.get(name)?;
        series.iter().copied().filter(|(_, v)| !v.is_nan()).fold(None, |best, (e, v)| match best {
            Some((_, b)) if !goal.improves(v, b, 0.0) => best,
            _ => Some((e, v)),
        })
    }

    /// The names recorded, in the order they first appeared.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// A line figure of the named series against the epoch (all series when `names` is empty).
    pub fn figure(&self, names: &[&str]) -> Figure {
        let chosen: Vec<&str> =
            if names.is_empty() { self.order.iter().map(String::as_str).collect() } else { names.to_vec() };
        let mut fig = Figure::new().xlabel("epoch");
        for name in &chosen {
            let points = self.series.get(*name).cloned().unwrap_or_default();
            let xs: Vec<f64> = points.iter().map(|(e, _)| *e as f64).collect();
            let ys: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
            fig = fig.line_xy(name, &xs, &ys);
        }
        fig.title(chosen.join(" · "))
    }

    /// Shows [`figure`](Self::figure) of these series, replacing the one this call showed last time: call it at
    /// the end of every epoch and a notebook keeps one figure that grows.
    pub fn show(&mut self, names: &[&str]) {
        let key = names.join("\u{1f}");
        let fig = self.figure(names);
        self.figures.entry(key).or_default().update(&fig);
    }
}
