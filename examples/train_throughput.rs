//! Candle side of the training-throughput benchmark (BENCHMARKS.md, `bench/training`): samples per second of one
//! training step (forward, cross-entropy, backward, SGD) through the prelude's layers, for the lessons' MLP
//! (784-128-64-10) and the Day 8 CNN (conv 1→32 → pool → conv 32→64 → pool → 3136→128→10), batches of 64 random
//! 28×28 inputs. Also times the CNN's forward, backward and optimizer step apart, and a few single ops, to name the
//! slowest part. Prints one JSON line per measurement.
//!
//! Usage: `train_throughput MODEL STEPS [--model-only]` with MODEL `mlp`, `mlp1024` (batch 1024) or `cnn`;
//! `--model-only` leaves out the single ops (for profiling the CNN's step alone).

use std::time::Instant;

use candlelit::prelude::*;

fn mlp(dev: &Device) -> Result<Sequential> {
    Sequential::new(dev)
        .push(nn::Flatten)
        .add("fc1", |vb| nn::linear(784, 128, vb))?
        .push(nn::Relu)
        .add("fc2", |vb| nn::linear(128, 64, vb))?
        .push(nn::Relu)
        .add("fc3", |vb| nn::linear(64, 10, vb))
}

fn cnn(dev: &Device) -> Result<Sequential> {
    let padded = nn::Conv2dConfig { padding: 1, ..Default::default() };
    Sequential::new(dev)
        .add("conv1", move |vb| nn::conv2d(1, 32, 3, padded, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d(2))
        .add("conv2", move |vb| nn::conv2d(32, 64, 3, padded, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d(2))
        .push(nn::Flatten)
        .add("fc1", |vb| nn::linear(64 * 7 * 7, 128, vb))?
        .push(nn::Relu)
        .add("fc2", |vb| nn::linear(128, 10, vb))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let model_name = args.get(1).map_or("mlp", String::as_str);
    let steps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let dev = device()?;
    manual_seed(0);
    let (model, batch) = match model_name {
        "mlp" => (mlp(&dev)?, 64),
        "mlp1024" => (mlp(&dev)?, 1024),
        "cnn" => (cnn(&dev)?, 64),
        other => candle::bail!("unknown model {other}: use mlp, mlp1024 or cnn"),
    };
    let x = randn((batch, 1, 28, 28), &dev)?;
    let y = randint(0, 10, batch, &dev)?;
    let mut opt = Sgd::new(model.parameters(), 0.01)?;
    let (mut forward, mut backward, mut step) = (0.0, 0.0, 0.0);
    for i in 0..steps + 5 {
        let t0 = Instant::now();
        let loss = loss::cross_entropy(&model.forward(&x)?, &y)?;
        loss.to_scalar::<f32>()?; // wait for the device
        let t1 = Instant::now();
        let grads = loss.backward()?;
        dev.synchronize()?;
        let t2 = Instant::now();
        opt.step(&grads)?;
        dev.synchronize()?;
        let t3 = Instant::now();
        if i >= 5 {
            forward += (t1 - t0).as_secs_f64();
            backward += (t2 - t1).as_secs_f64();
            step += (t3 - t2).as_secs_f64();
        }
    }
    let total = forward + backward + step;
    println!(
        "{{\"side\": \"candlelit\", \"model\": \"{model_name}\", \"samples_per_s\": {:.1}, \"forward_ms\": {:.3}, \"backward_ms\": {:.3}, \"step_ms\": {:.3}}}",
        (steps * batch) as f64 / total,
        forward / steps as f64 * 1e3,
        backward / steps as f64 * 1e3,
        step / steps as f64 * 1e3
    );
    if model_name == "cnn" && !args.iter().any(|a| a == "--model-only") {
        ops(&dev, steps)?;
    }
    Ok(())
}

/// One op on fixed inputs.
type OpFn<'a> = Box<dyn Fn() -> Result<Tensor> + 'a>;

/// Single ops, forward and backward: the CNN's (to find the slowest), a large matmul and a cross-entropy.
fn ops(dev: &Device, steps: usize) -> Result<()> {
    let w2 = Var::from_tensor(&(randn((64, 32, 3, 3), dev)? * 0.05)?)?;
    let x2 = Var::from_tensor(&randn((64, 32, 14, 14), dev)?)?;
    let p = Var::from_tensor(&randn((64, 32, 28, 28), dev)?)?;
    let a = Var::from_tensor(&randn((1024, 1024), dev)?)?;
    let b = Var::from_tensor(&randn((1024, 1024), dev)?)?;
    let logits = Var::from_tensor(&randn((1024, 10), dev)?)?;
    let targets = randint(0, 10, 1024, dev)?;
    let padded = nn::Conv2dConfig { padding: 1, ..Default::default() };
    let conv = nn::Conv2d::new(w2.as_tensor().clone(), None, padded);
    // The prelude's layers (what lessons use), then Candle's own ops on the same inputs, in the same run.
    let cases: Vec<(&str, OpFn)> = vec![
        ("conv2d 32→64 on 14×14", Box::new(|| conv.forward(x2.as_tensor()))),
        ("max_pool2d 2 on 32×28×28", Box::new(|| nn::MaxPool2d(2).forward(p.as_tensor()))),
        ("relu on 32×28×28", Box::new(|| nn::Relu.forward(p.as_tensor()))),
        ("Candle conv2d 32→64 on 14×14", Box::new(|| x2.as_tensor().conv2d(w2.as_tensor(), 1, 1, 1, 1))),
        ("Candle max_pool2d 2 on 32×28×28", Box::new(|| p.as_tensor().max_pool2d(2))),
        ("Candle relu on 32×28×28", Box::new(|| p.as_tensor().relu())),
        ("matmul 1024×1024 · 1024×1024", Box::new(|| a.as_tensor().matmul(b.as_tensor()))),
        ("cross-entropy on 1024×10 logits", Box::new(|| loss::cross_entropy(logits.as_tensor(), &targets))),
    ];
    for (name, f) in cases {
        let (mut fwd, mut bwd) = (0.0, 0.0);
        for i in 0..steps + 3 {
            let t0 = Instant::now();
            let out = f()?;
            dev.synchronize()?;
            let t1 = Instant::now();
            out.sum_all()?.backward()?;
            dev.synchronize()?;
            let t2 = Instant::now();
            if i >= 3 {
                fwd += (t1 - t0).as_secs_f64();
                bwd += (t2 - t1).as_secs_f64();
            }
        }
        println!(
            "{{\"side\": \"candlelit\", \"op\": \"{name}\", \"forward_ms\": {:.3}, \"backward_ms\": {:.3}}}",
            fwd / steps as f64 * 1e3,
            bwd / steps as f64 * 1e3
        );
    }
    Ok(())
}
