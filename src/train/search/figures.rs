//! What a study shows: its trials as a table and the figures of Optuna's visualisation module — optimisation
//! history, slice plots, parameter importances, parallel coordinates.

use super::space::Space;
use super::table::TrialTable;
use super::{ParamValue, Study, TrialState};
use crate::plot::Figure;

impl Study {
    /// The trials as a table (number, state, value, one column per parameter); shows as a table in a notebook.
    pub fn table(&self) -> TrialTable {
        TrialTable { trials: self.trials.clone(), best: self.best_trial().map(|t| t.number) }
    }

    /// The optimisation history (`plot_optimization_history`): each completed trial's value as a point, pruned
    /// trials' last reported values as points of their own, and the best so far as a line.
    pub fn history_figure(&self) -> Figure {
        let points = |state: TrialState| -> (Vec<f64>, Vec<f64>) {
            self.trials
                .iter()
                .filter(|t| t.state == state && t.value.is_finite())
                .map(|t| (t.number as f64, t.value))
                .unzip()
        };
        let (xs, ys) = points(TrialState::Complete);
        let mut fig = Figure::new().scatter("trial", xs, ys);
        let (pxs, pys) = points(TrialState::Pruned);
        if !pxs.is_empty() {
            fig = fig.scatter("pruned (last report)", pxs, pys);
        }
        let (bx, by): (Vec<f64>, Vec<f64>) = self
            .best_so_far()
            .into_iter()
            .enumerate()
            .filter(|(_, b)| b.is_finite())
            .map(|(i, b)| (i as f64, b))
            .unzip();
        fig.line_xy("best so far", bx, by).xlabel("trial").ylabel("objective").title("optimisation history")
    }

    /// A slice plot (`plot_slice`) for parameter `name`: the objective of each completed trial against the value
    /// it tried, on a log axis when the parameter was searched on a log scale; a categorical parameter's choices
    /// sit at x = 0, 1, 2, … in the order the x label lists them. Best read for a few dozen trials or more.
    pub fn slice_figure(&self, name: &str) -> Figure {
        let Some(param) = self.params.get(name) else {
            let known: Vec<&str> = self.params.keys().map(String::as_str).collect();
            return Figure::new()
                .failed(format!("slice_figure: no parameter `{name}` in this study (it has: {})", known.join(", ")));
        };
        let trials: Vec<_> = self.completed().filter_map(|t| t.params.get(name).map(|v| (v, t.value))).collect();
        let mut label = name.to_string();
        let (xs, ys): (Vec<f64>, Vec<f64>) = match &param.space {
            Space::Choice { .. } => {
                let choices = choices_tried(trials.iter().map(|(v, _)| *v));
                let listed: Vec<String> = choices.iter().enumerate().map(|(i, c)| format!("{i} = {c}")).collect();
                label = format!("{name} ({})", listed.join(", "));
                trials.iter().filter_map(|(v, y)| position(&choices, v).map(|x| (x, *y))).unzip()
            }
            _ => trials.iter().filter_map(|(v, y)| v.number().map(|x| (x, *y))).unzip(),
        };
        let fig = Figure::new().scatter("", xs, ys).xlabel(label).ylabel("objective").title(format!("slice: {name}"));
        if param.space.is_log() { fig.log_x() } else { fig }
    }

    /// The parameter importances ([`importances`](Self::importances)) as a bar chart
    /// (`plot_param_importances`).
    pub fn importance_figure(&self) -> Figure {
        let (names, values): (Vec<String>, Vec<f64>) = self.importances().into_iter().unzip();
        Figure::bar(names, values).ylabel("importance (adjusted η², sums to 1)").title("parameter importances")
    }

    /// Parallel coordinates (`plot_parallel_coordinate`): one line per completed trial across the parameters
    /// (x = 0, 1, … in the order the x label lists them), each parameter scaled to 0…1 over the values tried (log
    /// scales first taken as logarithms, choices spread evenly). The best quarter of the trials is drawn in its
    /// own colour, so the ranges good trials share stand out.
    pub fn parallel_figure(&self) -> Figure {
        let names: Vec<&String> = self.params.keys().collect();
        let mut trials: Vec<_> = self.completed().collect();
        trials.sort_by(|a, b| match self.goal {
            crate::train::schedule::Goal::Minimize => a.value.total_cmp(&b.value),
            crate::train::schedule::Goal::Maximize => b.value.total_cmp(&a.value),
        });
        let columns: Vec<Vec<Option<f64>>> = names
            .iter()
            .map(|name| {
                let space = &self.params[*name].space;
                let choices = choices_tried(trials.iter().filter_map(|t| t.params.get(*name)));
                let raw: Vec<Option<f64>> = trials
                    .iter()
                    .map(|t| {
                        t.params.get(*name).and_then(|v| match space {
                            Space::Choice { .. } => position(&choices, v),
                            _ => space.coordinate(v),
                        })
                    })
                    .collect();
                let (lo, hi) =
                    raw.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
                raw.into_iter().map(|x| x.map(|x| if hi > lo { (x - lo) / (hi - lo) } else { 0.5 })).collect()
            })
            .collect();
        let best_quarter = trials.len().div_ceil(4);
        let mut fig = Figure::new();
        // Worst first, so the best lines are drawn on top.
        for i in (0..trials.len()).rev() {
            let (xs, ys): (Vec<f64>, Vec<f64>) =
                columns.iter().enumerate().filter_map(|(j, c)| c[i].map(|y| (j as f64, y))).unzip();
            let best = i < best_quarter;
            let name = match (best, i) {
                (true, 0) => "best quarter of trials",
                (false, i) if i == best_quarter => "other trials",
                _ => "",
            };
            fig = fig.line_in_color(name, xs, ys, if best { 3 } else { 7 });
        }
        let listed: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{i} = {n}")).collect();
        fig.xlabel(listed.join(", ")).ylabel("value, scaled to 0…1").title("parallel coordinates")
    }
}

/// The distinct choices among `values`, sorted: a categorical parameter's positions on a figure's axis.
fn choices_tried<'a>(values: impl Iterator<Item = &'a ParamValue>) -> Vec<String> {
    let mut choices: Vec<String> = values.map(ToString::to_string).collect();
    choices.sort();
    choices.dedup();
    choices
}

/// The position of `value` among `choices`.
fn position(choices: &[String], value: &ParamValue) -> Option<f64> {
    let text = value.to_string();
    choices.iter().position(|c| *c == text).map(|i| i as f64)
}
