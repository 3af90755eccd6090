//! Seconds per training step of Day 8's CNN, with and without its batch norms and dropout (BENCHMARKS.md): finds
//! which layer makes the notebook's epoch slower than the bench model's.
//!
//! ```sh
//! cargo build --release --example cnn_step_parts
//! RAYON_NUM_THREADS=2 CANDLE_BARRIER_POOL_SPIN_LIMIT=300 target/release/examples/cnn_step_parts 40
//! ```

use candlelit::prelude::*;

fn cnn(dev: &Device, bn: bool, dropout: bool) -> Result<Sequential> {
    let same = nn::Conv2dConfig { padding: 1, ..Default::default() };
    let mut m = Sequential::new(dev).add("conv1", move |vb| nn::conv2d(1, 32, 3, same, vb))?;
    if bn {
        m = m.add("bn1", |vb| nn::batch_norm2d(32, vb))?;
    }
    m = m.push(nn::Relu).push(nn::MaxPool2d::new(2)).add("conv2", move |vb| nn::conv2d(32, 64, 3, same, vb))?;
    if bn {
        m = m.add("bn2", |vb| nn::batch_norm2d(64, vb))?;
    }
    m = m.push(nn::Relu).push(nn::MaxPool2d::new(2)).push(nn::Flatten).add("fc1", |vb| nn::linear(3136, 128, vb))?;
    m = m.push(nn::Relu);
    if dropout {
        m = m.push(nn::Dropout::new(0.3));
    }
    m.add("fc2", |vb| nn::linear(128, 10, vb))
}

fn main() -> Result<()> {
    let steps: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(60);
    let dev = Device::Cpu;
    for (bn, dropout) in [(false, false), (true, false), (false, true), (true, true)] {
        manual_seed(0);
        let model = cnn(&dev, bn, dropout)?;
        model.train();
        let mut opt = Adam::new(model.parameters(), 1e-3)?;
        let x = randn((64, 1, 28, 28), &dev)?;
        let y = Tensor::from_vec((0..64u32).map(|i| i % 10).collect::<Vec<_>>(), 64, &dev)?;
        let (mut fwd, mut bwd) = (0.0, 0.0);
        for step in 0..steps + 5 {
            let t0 = std::time::Instant::now();
            let l = loss::cross_entropy(&model.forward(&x)?, &y)?;
            let _ = l.to_scalar::<f32>()?;
            let t1 = std::time::Instant::now();
            opt.backward_step(&l)?;
            if step >= 5 {
                fwd += (t1 - t0).as_secs_f64();
                bwd += t1.elapsed().as_secs_f64();
            }
        }
        let n = steps as f64;
        println!(
            "bn {bn:5} dropout {dropout:5}: forward {:.1} ms, backward+step {:.1} ms, epoch of 938 steps {:.0} s",
            1e3 * fwd / n,
            1e3 * bwd / n,
            938.0 * (fwd + bwd) / n
        );
    }
    Ok(())
}
