//! The hyperparameter search: TPE finds the minimum of a known 2-D function in fewer trials than random search,
//! on average over seeds; suggestions respect their ranges, scales and steps; the history shows as a table.

use candlelit::prelude::*;
use candlelit::train::{NoPruner, Pruner, TrialRecord};

/// `(x − 1.5)² + (y + 0.5)²` on [−5, 5]²: minimum 0 at (1.5, −0.5).
fn bowl(trial: &mut Trial<'_>) -> Result<f64> {
    let x = trial.suggest_float("x", -5.0, 5.0)?;
    let y = trial.suggest_float("y", -5.0, 5.0)?;
    Ok((x - 1.5).powi(2) + (y + 0.5).powi(2))
}

/// Trials until the best value is within `tolerance` of the optimum (`cap` when never).
fn trials_to_reach(method: SearchMethod, seed: u64, tolerance: f64, cap: usize) -> Result<usize> {
    let mut study = Study::new(Goal::Minimize).seed(seed).method(method);
    for n in 1..=cap {
        study.optimize(1, bowl)?;
        if study.best_trial().is_some_and(|t| t.value < tolerance) {
            return Ok(n);
        }
    }
    Ok(cap)
}

#[test]
fn tpe_reaches_the_optimum_in_fewer_trials_than_random_search() -> Result<()> {
    let (tolerance, cap, seeds) = (0.05, 400, 0..8u64);
    let mut tpe = Vec::new();
    let mut random = Vec::new();
    for seed in seeds {
        tpe.push(trials_to_reach(SearchMethod::Tpe { startup_trials: 10 }, seed, tolerance, cap)?);
        random.push(trials_to_reach(SearchMethod::Random, seed, tolerance, cap)?);
    }
    let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    eprintln!(
        "trials to reach {tolerance}: TPE {tpe:?} (mean {}), random {random:?} (mean {})",
        mean(&tpe),
        mean(&random)
    );
    assert!(tpe.iter().all(|&n| n < cap), "TPE reaches the tolerance within {cap} trials for every seed: {tpe:?}");
    assert!(
        mean(&tpe) < mean(&random),
        "TPE {tpe:?} (mean {}) vs random {random:?} (mean {})",
        mean(&tpe),
        mean(&random)
    );
    Ok(())
}

#[test]
fn suggestions_respect_ranges_log_scales_steps_and_choices() -> Result<()> {
    for method in [SearchMethod::Random, SearchMethod::Tpe { startup_trials: 5 }] {
        let mut study = Study::new(Goal::Maximize).seed(3).method(method);
        study.optimize(60, |t| {
            let lr = t.suggest_float_log("lr", 1e-5, 1e-1)?;
            let dropout = t.suggest_float_step("dropout", 0.0, 0.5, 0.1)?;
            let width = t.suggest_int_log("width", 16, 512)?;
            let layers = t.suggest_int("layers", 1, 3)?;
            let opt = t.suggest_categorical("optimizer", &["sgd", "adam", "rmsprop"])?;
            assert!((1e-5..=1e-1).contains(&lr), "lr {lr}");
            assert!((dropout * 10.0 - (dropout * 10.0).round()).abs() < 1e-9 && (0.0..=0.5).contains(&dropout));
            assert!((16..=512).contains(&width) && (1..=3).contains(&layers));
            assert_eq!(t.suggest_int("layers", 1, 3)?, layers, "asking again in a trial gives the same value");
            Ok(-(lr.log10() + 3.0).abs() + if opt == "adam" { 1.0 } else { 0.0 })
        })?;
        let lrs: Vec<f64> = study.trials().iter().filter_map(|t| t.float("lr")).collect();
        let small = lrs.iter().filter(|lr| **lr < 1e-3).count();
        assert!(small >= 10, "{method:?}: a log scale samples small learning rates often ({small} of 60 below 1e-3)");
        let best = study.best_trial().expect("trials ran");
        assert!(study.trials().iter().all(|t| t.value <= best.value));
        let table = study.table().to_string();
        assert!(table.contains("optimizer") && table.contains("← best"), "{table}");
        assert_eq!(study.best_so_far().len(), 60);
        study.history_figure().to_svg()?;
    }
    Ok(())
}

#[test]
fn a_study_is_reproducible_and_keeps_going_after_non_finite_values() -> Result<()> {
    let run = |seed| -> Result<Vec<f64>> {
        let mut study = Study::new(Goal::Minimize).seed(seed);
        study.optimize(20, bowl)?;
        Ok(study.trials().iter().map(|t| t.value).collect())
    };
    assert_eq!(run(5)?, run(5)?);
    assert_ne!(run(5)?, run(6)?);

    let mut study = Study::new(Goal::Minimize);
    study.optimize(15, |t| {
        let x = t.suggest_float("x", 0.0, 1.0)?;
        Ok(if x < 0.5 { f64::NAN } else { x })
    })?;
    assert_eq!(study.trials().len(), 15);
    assert!(study.best_trial().is_some_and(|t| t.value >= 0.5), "a diverged (NaN) trial is never the best");

    let err = study.optimize(1, |t| {
        t.suggest_float("x", 0.0, 2.0)?;
        Ok(0.0)
    });
    assert!(err.expect_err("range changed").to_string().contains("another range"));
    let err = study.optimize(1, |_| candle::bail!("out of memory")).expect_err("objective failed");
    assert!(format!("{err}").contains("trial 16 failed") && format!("{err}").contains("out of memory"), "{err}");
    assert_eq!(study.trials().len(), 17, "earlier trials are kept, failed ones too");
    assert!(study.trials()[16].value.is_nan());
    Ok(())
}

/// A finished trial as the pruner sees it: complete, with one report per step.
fn finished(number: usize, curve: &[f64]) -> TrialRecord {
    TrialRecord {
        number,
        params: Default::default(),
        value: *curve.last().expect("a curve"),
        state: TrialState::Complete,
        reports: curve.iter().copied().enumerate().collect(),
        seconds: 0.0,
    }
}

#[test]
fn the_median_pruner_follows_optunas_rules() {
    // Five completed trials; at step 1 their accuracies are 0.5, 0.6, 0.7, 0.8, 0.9: the median is 0.7.
    let done: Vec<TrialRecord> = (0..5).map(|i| finished(i, &[0.4, 0.5 + 0.1 * i as f64, 0.9])).collect();
    let pruner = MedianPruner::new();
    let max = Goal::Maximize;
    assert!(pruner.prune(max, &done, &[(0, 0.3), (1, 0.65)]), "best so far 0.65 < median 0.7");
    assert!(!pruner.prune(max, &done, &[(0, 0.3), (1, 0.75)]), "0.75 beats the median");
    assert!(!pruner.prune(max, &done, &[(0, 0.75), (1, 0.1)]), "the trial's best so far counts, not its last value");
    assert!(!pruner.prune(max, &done[..4], &[(0, 0.3), (1, 0.65)]), "fewer than 5 completed trials: no pruning");
    assert!(MedianPruner::new().startup_trials(4).prune(max, &done[..4], &[(0, 0.1), (1, 0.1)]));
    assert!(!pruner.warmup_steps(2).prune(max, &done, &[(0, 0.3), (1, 0.1)]), "step 1 is inside the warm-up");
    assert!(!pruner.interval_steps(2).prune(max, &done, &[(0, 0.3), (1, 0.1)]), "only steps 0, 2, 4, … are checked");
    assert!(!pruner.prune(max, &done, &[(7, 0.0)]), "no completed trial reported step 7");
    assert!(pruner.prune(max, &done, &[(0, 0.9), (1, f64::NAN)]), "a NaN prunes");
    // Minimizing a loss: the median of 0.5…0.9 is 0.7, and 0.75 is worse.
    assert!(pruner.prune(Goal::Minimize, &done, &[(1, 0.75)]));
    assert!(!pruner.prune(Goal::Minimize, &done, &[(1, 0.65)]));
    let pruned_only: Vec<TrialRecord> =
        done.iter().cloned().map(|t| TrialRecord { state: TrialState::Pruned, ..t }).collect();
    assert!(!pruner.prune(max, &pruned_only, &[(1, 0.0)]), "pruned trials are not completed trials");
    assert!(!NoPruner.prune(max, &done, &[(1, 0.0)]));
}

/// A trial that "trains" 8 epochs; its accuracy after epoch e is quality · (1 − 0.6^(e+1)).
fn learning_curve(trial: &mut Trial<'_>) -> Result<f64> {
    let quality = trial.suggest_float("quality", 0.0, 1.0)?;
    let mut accuracy = 0.0;
    for epoch in 0..8 {
        accuracy = quality * (1.0 - 0.6f64.powi(epoch as i32 + 1));
        trial.report(epoch, accuracy)?;
        if trial.should_prune() {
            return trial.prune();
        }
    }
    Ok(accuracy)
}

#[test]
fn a_pruned_trial_stops_early_is_kept_and_is_never_the_best() -> Result<()> {
    let mut study = Study::new(Goal::Maximize).seed(2).method(SearchMethod::Random).pruner(MedianPruner::new());
    study.optimize(30, learning_curve)?;
    let trials = study.trials();
    assert_eq!(trials.len(), 30);
    assert!(trials[..5].iter().all(|t| t.state == TrialState::Complete), "the 5 startup trials always complete");
    let pruned: Vec<&TrialRecord> = trials.iter().filter(|t| t.state == TrialState::Pruned).collect();
    assert!(pruned.len() >= 5, "{} of 30 random trials pruned", pruned.len());
    for t in &pruned {
        assert!(t.reports.len() < 8, "trial {} stopped before the last epoch", t.number);
        assert_eq!(t.value, t.reports.last().expect("reported").1, "a pruned trial's value is its last report");
    }
    let best = study.best_trial().expect("completed trials");
    assert_eq!(best.state, TrialState::Complete);
    assert!(trials.iter().filter(|t| t.state == TrialState::Complete).all(|t| t.value <= best.value));
    let table = study.table().to_string();
    assert!(table.contains("pruned") && table.contains("complete"), "{table}");
    // Without a pruner every trial runs all 8 epochs.
    let mut plain = Study::new(Goal::Maximize).seed(2).method(SearchMethod::Random);
    plain.optimize(30, learning_curve)?;
    assert!(plain.trials().iter().all(|t| t.state == TrialState::Complete && t.reports.len() == 8));
    let steps = |s: &Study| s.trials().iter().map(|t| t.reports.len()).sum::<usize>();
    assert!(steps(&study) < steps(&plain) * 3 / 4, "pruning saves epochs: {} vs {}", steps(&study), steps(&plain));
    Ok(())
}

#[test]
fn reporting_a_step_twice_is_an_error_that_names_the_step() -> Result<()> {
    let mut study = Study::new(Goal::Maximize);
    let err = study
        .optimize(1, |t| {
            t.report(0, 0.5)?;
            t.report(0, 0.6)?;
            Ok(0.6)
        })
        .expect_err("step 0 twice");
    assert!(err.to_string().contains("step 0 was already reported"), "{err}");
    assert_eq!(study.trials()[0].state, TrialState::Failed);
    Ok(())
}

#[test]
fn importances_rank_the_parameter_that_matters_first() -> Result<()> {
    let mut study = Study::new(Goal::Minimize).seed(4).method(SearchMethod::Random);
    study.optimize(80, |t| {
        let lr = t.suggest_float_log("lr", 1e-5, 1e-1)?;
        let opt = t.suggest_categorical("optimizer", &["adam", "sgd"])?;
        let _width = t.suggest_int("width", 16, 256)?;
        Ok((lr.log10() + 3.0).powi(2) + if opt == "sgd" { 1.0 } else { 0.0 })
    })?;
    let ranked = study.importances();
    let names: Vec<&str> = ranked.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[..2], ["lr", "optimizer"], "{ranked:?}");
    assert!((ranked.iter().map(|(_, s)| s).sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(ranked[2].1 < 0.1, "an unused width explains little: {ranked:?}");
    Ok(())
}

#[test]
fn the_study_figures_render_and_name_what_they_show() -> Result<()> {
    let mut study = Study::new(Goal::Maximize).seed(1).pruner(MedianPruner::new());
    study.optimize(25, |t| {
        t.suggest_float_log("lr", 1e-4, 1e-1)?;
        t.suggest_categorical("optimizer", &["adam", "sgd"])?;
        learning_curve(t)
    })?;
    let history = study.history_figure().to_svg()?;
    assert!(history.contains("best so far") && history.contains("pruned"), "history shows pruned trials");
    let slice = study.slice_figure("optimizer").to_svg()?;
    assert!(slice.contains("0 = adam, 1 = sgd"), "choices are named on the x axis");
    study.slice_figure("lr").to_svg()?;
    let err = study.slice_figure("momentum").to_svg().expect_err("no such parameter");
    assert!(err.to_string().contains("lr, optimizer, quality"), "{err}");
    assert!(study.importance_figure().to_svg()?.contains("quality"));
    let parallel = study.parallel_figure().to_svg()?;
    assert!(parallel.contains("best quarter of trials") && parallel.contains("0 = lr"), "parallel coordinates");
    Ok(())
}
