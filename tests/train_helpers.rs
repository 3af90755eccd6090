//! Autograd helpers, metrics, early stopping, the progress bar and the live history, as a learner uses them.

use candlelit::prelude::*;

#[test]
fn autograd_helpers_say_what_pytorch_would() -> Result<()> {
    let dev = Device::Cpu;
    let x = Var::new(2f32, &dev)?;
    assert_eq!(grad_of(&x.as_tensor().sqr()?, &x)?.to_scalar::<f32>()?, 4.0);
    // A two-step chain: y = 3x + 1, z = y² → dz/dx = 2y·3 = 42 at x = 2.
    let y = ((x.as_tensor() * 3.0)? + 1.0)?;
    assert_eq!(grad_of(&y.sqr()?, &x)?.to_scalar::<f32>()?, 42.0);
    assert!(requires_grad(&y) && !requires_grad(&y.detach()));
    let err = grad_of(&y.detach().sqr()?, &x).expect_err("detached");
    assert!(err.to_string().contains("does not depend on it"), "{err}");
    let w = Var::new(&[1f32, -1.0], &dev)?;
    let grads = grads_of(&(w.as_tensor() * 2.0)?.sum_all()?, &[&w])?;
    assert_eq!(grads[0].to_vec1::<f32>()?, [2.0, 2.0]);

    let mut acc = GradAccumulator::new();
    acc.add(x.as_tensor().sqr()?.backward()?)?;
    acc.add(x.as_tensor().sqr()?.backward()?)?;
    assert_eq!(acc.grad(&x).map(|g| g.to_scalar::<f32>()).transpose()?, Some(8.0), "two passes add up");
    assert_eq!(acc.passes(), 2);
    let mut opt = Sgd::new(vec![x.clone()], 0.25)?;
    opt.step(acc.store())?;
    assert_eq!(x.as_tensor().to_scalar::<f32>()?, 0.0, "2 − 0.25·8");
    acc.zero_grad();
    assert!(acc.grad(&x).is_none());
    Ok(())
}

#[test]
fn accuracy_and_the_confusion_matrix_count_what_they_should() -> Result<()> {
    let dev = Device::Cpu;
    let logits = Tensor::new(&[[0.1f32, 2.0, 0.3], [1.0, 0.0, 0.0], [0.0, 0.2, 0.1], [0.0, 0.0, 3.0]], &dev)?;
    let labels = Tensor::new(&[1u32, 0, 2, 2], &dev)?;
    assert_eq!(correct(&logits, &labels)?, 3);
    assert_eq!(accuracy(&logits, &labels)?, 0.75);
    // Binary logits of shape (N,): positive means class 1.
    assert_eq!(accuracy(&Tensor::new(&[2f32, -1.0, 0.5], &dev)?, &Tensor::new(&[1f32, 0.0, 0.0], &dev)?)?, 2.0 / 3.0);
    let err = accuracy(&logits, &Tensor::new(&[1u32], &dev)?).expect_err("sizes differ");
    assert!(err.to_string().contains("4 predictions but 1 targets"), "{err}");

    let mut cm = ConfusionMatrix::new(3);
    cm.add(&logits, &labels)?;
    cm.add(&Tensor::new(&[1u32, 1], &dev)?, &Tensor::new(&[2u32, 2], &dev)?)?;
    assert_eq!(cm.counts(), &[1, 0, 0, 0, 1, 0, 0, 3, 1]);
    assert_eq!(cm.most_confused(1), vec![(2, 1, 3)]);
    assert_eq!(cm.per_class_accuracy(), vec![Some(1.0), Some(1.0), Some(0.25)]);
    assert!(cm.figure().class_names(["a", "b", "c"]).to_svg()?.contains("<svg"));
    assert!(cm.add(&Tensor::new(&[5u32], &dev)?, &Tensor::new(&[0u32], &dev)?).is_err());
    Ok(())
}

#[test]
fn running_mean_weights_by_batch_and_early_stopping_waits_its_patience() -> Result<()> {
    let mut mean = RunningMean::new();
    mean.add(1.0, 64);
    mean.add_tensor(&Tensor::new(0.5f32, &Device::Cpu)?, 16)?;
    assert!((mean.mean() - (64.0 + 8.0) / 80.0).abs() < 1e-12);
    assert!(mean.add_tensor(&Tensor::new(&[1f32, 2.0], &Device::Cpu)?, 1).is_err());

    let mut stop = EarlyStopping::new(Goal::Maximize, 2).min_delta(0.01);
    let accs = [0.80, 0.85, 0.855, 0.852, 0.90];
    let stopped_at = accs.iter().position(|&a| stop.should_stop(a));
    assert_eq!(stopped_at, Some(3), "0.855 is not 0.01 better than 0.85, nor is 0.852");
    assert_eq!((stop.best_epoch(), stop.best()), (Some(1), Some(0.85)));
    Ok(())
}

#[test]
fn a_progress_bar_counts_renders_and_finishes() {
    let bar = Progress::new(50).desc("epoch 2/5").quiet();
    for i in 0..20 {
        bar.inc(1);
        bar.set("loss", 1.0 / (i + 1) as f64);
    }
    let line = bar.line();
    assert!(line.starts_with("epoch 2/5 "), "{line}");
    assert!(line.contains("20/50") && line.contains("loss=0.0500") && line.contains("it/s"), "{line}");
    let filled = line.chars().filter(|c| *c == '━').count();
    assert_eq!(filled, 10, "24 cells × 20/50 ≈ 10: {line}");

    let batches = progress(vec![1, 2, 3]).quiet();
    let handle = batches.handle();
    assert_eq!(batches.sum::<i32>(), 6, "the wrapped iterator yields every item");
    assert!(handle.line().contains("3/3"));
    let unknown = progress(std::iter::from_fn({
        let mut n = 0;
        move || {
            n += 1;
            (n <= 4).then_some(n)
        }
    }))
    .quiet();
    let h = unknown.handle();
    assert_eq!(unknown.count(), 4);
    assert!(h.line().starts_with("4 ["), "no total: a count and a rate: {}", h.line());
}

#[test]
fn history_keeps_series_and_draws_them() -> Result<()> {
    let mut history = History::new();
    for (e, (train, val)) in [(0.9, 0.95), (0.6, 0.7), (0.4, 0.72)].into_iter().enumerate() {
        history.push(e, &[("train_loss", train), ("val_loss", val)]);
    }
    assert_eq!(history.names(), ["train_loss", "val_loss"]);
    assert_eq!(history.best("val_loss", Goal::Minimize), Some((1, 0.7)));
    let svg = history.figure(&["train_loss", "val_loss"]).to_svg()?;
    assert!(svg.contains("train_loss") && svg.contains("val_loss"));
    Ok(())
}
