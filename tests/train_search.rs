//! The hyperparameter search: TPE finds the minimum of a known 2-D function in fewer trials than random search,
//! on average over seeds; suggestions respect their ranges, scales and steps; the history shows as a table.

use candlelit::prelude::*;

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
        study.figure().to_svg()?;
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
