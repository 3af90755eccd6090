//! Parameter importances: how much of the spread in the objective each parameter explains on its own.
//!
//! The method is the correlation ratio η² ("eta squared", one-way analysis of variance): put the completed
//! trials into groups by the parameter's value — one group per choice of a categorical parameter, equal-count bins
//! of a numeric one (on its log scale when it is searched on one) — and take the variance of the group means over
//! the total variance of the objective. It is adjusted for the number of groups (with many small groups even a
//! useless parameter would seem to explain a lot), clipped at 0, and the importances are scaled to sum to 1, as
//! Optuna's are.
//!
//! Optuna's default, fANOVA, fits a random forest to the trials and splits the variance of its predictions; η²
//! reads the trials directly and sees the same first-order (main) effects, but not interactions between
//! parameters, and it needs a few dozen completed trials before the ranking settles.

use super::Study;
use super::space::Space;

/// Adjusted η² of `values` split into `groups` (each group a list of objective values).
fn adjusted_eta_squared(groups: &[Vec<f64>]) -> f64 {
    let n: usize = groups.iter().map(Vec::len).sum();
    let k = groups.iter().filter(|g| !g.is_empty()).count();
    if n < 3 || k < 2 || n <= k {
        return 0.0;
    }
    let mean = groups.iter().flatten().sum::<f64>() / n as f64;
    let total: f64 = groups.iter().flatten().map(|y| (y - mean).powi(2)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let between: f64 = groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| {
            let m = g.iter().sum::<f64>() / g.len() as f64;
            g.len() as f64 * (m - mean).powi(2)
        })
        .sum();
    let eta2 = between / total;
    (1.0 - (1.0 - eta2) * (n as f64 - 1.0) / (n - k) as f64).max(0.0)
}

/// Equal-count bins of `points` (coordinate, objective), about `sqrt(n)` of them with at least 3 trials each.
fn bins(mut points: Vec<(f64, f64)>) -> Vec<Vec<f64>> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = points.len();
    let count = ((n as f64).sqrt().round() as usize).clamp(1, (n / 3).max(1));
    let mut groups: Vec<Vec<f64>> = vec![Vec::new(); count];
    // Equal values go to the same bin, so a parameter that takes few values is grouped by value.
    let mut bin = 0;
    for i in 0..n {
        let target = i * count / n;
        if target > bin && points[i].0 != points[i - 1].0 {
            bin = target;
        }
        groups[bin].push(points[i].1);
    }
    groups
}

impl Study {
    /// Each searched parameter's importance, largest first, summing to 1 (all 0 when nothing explains anything
    /// yet): the adjusted correlation ratio η² of the objective over the completed trials, described in
    /// [this module](self).
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// let mut study = Study::new(Goal::Minimize).method(SearchMethod::Random);
    /// study.optimize(60, |t| {
    ///     let x = t.suggest_float("x", -3.0, 3.0)?;
    ///     let _noise = t.suggest_float("unused", 0.0, 1.0)?;
    ///     Ok(x * x)
    /// })?;
    /// let ranked = study.importances();
    /// assert_eq!(ranked[0].0, "x");
    /// assert!(ranked[0].1 > 0.8);
    /// # Ok(()) }
    /// ```
    pub fn importances(&self) -> Vec<(String, f64)> {
        let mut scores: Vec<(String, f64)> = self
            .params
            .iter()
            .map(|(name, param)| {
                let trials = self.completed().filter_map(|t| t.params.get(name).map(|v| (v, t.value)));
                let groups = if matches!(param.space, Space::Choice { .. }) {
                    let mut by_choice: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
                    for (v, y) in trials {
                        by_choice.entry(v.to_string()).or_default().push(y);
                    }
                    by_choice.into_values().collect()
                } else {
                    bins(trials.filter_map(|(v, y)| param.space.coordinate(v).map(|x| (x, y))).collect())
                };
                (name.clone(), adjusted_eta_squared(&groups))
            })
            .collect();
        let sum: f64 = scores.iter().map(|(_, s)| s).sum();
        if sum > 0.0 {
            scores.iter_mut().for_each(|(_, s)| *s /= sum);
        }
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_squared_is_one_for_separated_groups_and_near_zero_for_equal_ones() {
        let separated = [vec![0.0, 0.0, 0.0], vec![1.0, 1.0, 1.0]];
        assert!((adjusted_eta_squared(&separated) - 1.0).abs() < 1e-12);
        let same = [vec![0.0, 1.0, 2.0], vec![2.0, 1.0, 0.0]];
        assert_eq!(adjusted_eta_squared(&same), 0.0);
    }

    #[test]
    fn bins_keep_equal_values_together() {
        let points: Vec<(f64, f64)> = (0..12).map(|i| ((i / 6) as f64, i as f64)).collect();
        let groups = bins(points);
        assert!(groups.iter().all(|g| g.iter().all(|&y| y < 6.0) || g.iter().all(|&y| y >= 6.0)), "{groups:?}");
    }
}
