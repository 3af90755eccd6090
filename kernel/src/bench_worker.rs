//! `candlelit-bench-worker MODEL STEPS [--model-only]`: the candlelit side of `candlelit bench`, which runs it in a
//! fresh process per measurement with a session's settings. Trains MODEL (`mlp`, `mlp1024` or `cnn`) through the
//! prelude's layers for STEPS steps after 5 warm-up steps and prints one JSON line; for the CNN also one line per
//! single op (the prelude's layers, Candle's own ops on the same inputs, a matmul and a cross-entropy).
//!
//! It is a binary of its own, beside `candlelit`, so that the `candlelit` binary — which also serves as the process
//! that runs notebook cells — does not carry a second, statically linked copy of Candle and the prelude: with one,
//! Ctrl-C in the REPL stopped reaching running cells.

use std::time::Instant;

use candlelit::prelude::*;
use serde_json::json;

#[path = "bench_model.rs"]
mod bench_model;
use bench_model::Model;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args.first().and_then(|name| <Model as clap::ValueEnum>::from_str(name, false).ok());
    let steps = args.get(1).and_then(|s| s.parse::<usize>().ok()).filter(|&s| s > 0);
    let (Some(model), Some(steps)) = (model, steps) else {
        eprintln!("usage: candlelit-bench-worker mlp|mlp1024|cnn STEPS [--model-only] (run by `candlelit bench`)");
        return std::process::ExitCode::from(2);
    };
    match measure(model, steps, !args.iter().any(|a| a == "--model-only")) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("candlelit-bench-worker: {}: {e}", model.label());
            std::process::ExitCode::FAILURE
        }
    }
}

/// The lessons' MLP through the prelude's layers.
fn mlp(dev: &Device) -> Result<Sequential> {
    Sequential::new(dev)
        .push(nn::Flatten)
        .add("fc1", |vb| nn::linear(784, 128, vb))?
        .push(nn::Relu)
        .add("fc2", |vb| nn::linear(128, 64, vb))?
        .push(nn::Relu)
        .add("fc3", |vb| nn::linear(64, 10, vb))
}

/// The Day 8 CNN through the prelude's layers.
fn cnn(dev: &Device) -> Result<Sequential> {
    let padded = nn::Conv2dConfig { padding: 1, ..Default::default() };
    Sequential::new(dev)
        .add("conv1", move |vb| nn::conv2d(1, 32, 3, padded, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d::new(2))
        .add("conv2", move |vb| nn::conv2d(32, 64, 3, padded, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d::new(2))
        .push(nn::Flatten)
        .add("fc1", |vb| nn::linear(64 * 7 * 7, 128, vb))?
        .push(nn::Relu)
        .add("fc2", |vb| nn::linear(128, 10, vb))
}

/// Trains `model` for `steps` steps after 5 warm-up steps and prints one JSON line; then, for the CNN with
/// `with_ops`, one line per single op.
fn measure(model: Model, steps: usize, with_ops: bool) -> Result<()> {
    let dev = device()?;
    manual_seed(0);
    let net = match model {
        Model::Mlp | Model::Mlp1024 => mlp(&dev)?,
        Model::Cnn => cnn(&dev)?,
    };
    let batch = model.batch();
    let x = randn((batch, 1, 28, 28), &dev)?;
    let y = randint(0, 10, batch, &dev)?;
    let mut opt = Sgd::new(net.parameters(), 0.01)?;
    let (mut forward, mut backward, mut step) = (0.0, 0.0, 0.0);
    for i in 0..steps + 5 {
        let t0 = Instant::now();
        let loss = loss::cross_entropy(&net.forward(&x)?, &y)?;
        loss.to_scalar::<f32>()?; // waits for the device
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
    let per_step_ms = |s: f64| round3(s / steps as f64 * 1e3);
    let row = json!({
        "side": "candlelit",
        "device": candlelit::device::device_name(&dev).split(':').next().unwrap_or("cpu"),
        "model": model.name(),
        "threads": std::env::var("RAYON_NUM_THREADS").ok(),
        "blas": cpu_blas(),
        "samples_per_s": round3((steps * batch) as f64 / (forward + backward + step)),
        "forward_ms": per_step_ms(forward),
        "backward_ms": per_step_ms(backward),
        "step_ms": per_step_ms(step),
    });
    println!("{row}");
    if model == Model::Cnn && with_ops {
        single_ops(&dev, steps)?;
    }
    Ok(())
}

/// `v` to 3 decimals (what a timing of this kind can tell).
fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// One op on fixed inputs.
type OpFn<'a> = Box<dyn Fn() -> Result<Tensor> + 'a>;

/// Single ops, forward and backward: the CNN's (to find the slowest), a large matmul and a cross-entropy.
fn single_ops(dev: &Device, steps: usize) -> Result<()> {
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
        ("max_pool2d 2 on 32×28×28", Box::new(|| nn::MaxPool2d::new(2).forward(p.as_tensor()))),
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
        let per_step_ms = |s: f64| round3(s / steps as f64 * 1e3);
        println!(
            "{}",
            json!({"side": "candlelit", "op": name, "forward_ms": per_step_ms(fwd), "backward_ms": per_step_ms(bwd)})
        );
    }
    Ok(())
}
