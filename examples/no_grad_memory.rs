//! Peak memory of one evaluation pass with and without `no_grad` (BENCHMARKS.md): the Day 8 CNN (conv 32 → BN →
//! ReLU → pool → conv 64 → BN → ReLU → pool → 3136 → 128 → 10), in evaluation mode, on `N` random 28×28 images in
//! one batch, keeping only the logits. Prints the process's peak resident memory (`VmHWM`) before and after.
//! Run each mode in its own process, since the peak never goes down:
//!
//! ```sh
//! cargo run --release --example no_grad_memory -- 2000 recorded
//! cargo run --release --example no_grad_memory -- 2000 no_grad
//! ```

use candlelit::prelude::*;

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let mode = args.get(2).map_or("no_grad", String::as_str);
    manual_seed(0);
    let dev = Device::Cpu;
    let same = nn::Conv2dConfig { padding: 1, ..Default::default() };
    let model = Sequential::new(&dev)
        .add("conv1", move |vb| nn::conv2d(1, 32, 3, same, vb))?
        .add("bn1", |vb| nn::batch_norm2d(32, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d::new(2))
        .add("conv2", move |vb| nn::conv2d(32, 64, 3, same, vb))?
        .add("bn2", |vb| nn::batch_norm2d(64, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d::new(2))
        .push(nn::Flatten)
        .add("fc1", |vb| nn::linear(3136, 128, vb))?
        .push(nn::Relu)
        .add("fc2", |vb| nn::linear(128, 10, vb))?;
    model.eval();
    let x = randn((n, 1, 28, 28), &dev)?;
    let before = peak_mib();
    let logits = match mode {
        "recorded" => model.forward(&x)?,
        "no_grad" => no_grad(|| model.forward(&x))?,
        other => candle::bail!("the mode is `recorded` or `no_grad`, not `{other}`"),
    };
    let after = peak_mib();
    println!(
        "{mode:>8}: {n} images, logits {:?}; peak memory {before:.0} MiB before the pass, {after:.0} MiB after (+{:.0} MiB)",
        logits.dims(),
        after - before
    );
    Ok(())
}
