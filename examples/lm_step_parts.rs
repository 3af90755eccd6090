//! Seconds per training step of Day 10's language model (BENCHMARKS.md), taken apart: the whole step, the step
//! without the recurrent layer, and the whole model with a cheap loss in place of the cross-entropy — to find what
//! makes an epoch slower than PyTorch's.
//!
//! ```sh
//! cargo build --release --example lm_step_parts
//! RAYON_NUM_THREADS=2 target/release/examples/lm_step_parts 20
//! ```

use candlelit::prelude::*;

fn model(kind: &str, vocab: usize, dev: &Device) -> Result<Sequential> {
    let m = Sequential::new(dev).add("embed", move |vb| nn::embedding(vocab, 64, vb))?;
    let (m, width) = match kind {
        "lstm" => (m.add("rnn", |vb| nn::lstm_layer(64, 128, vb))?, 128),
        "rnn" => (m.add("rnn", |vb| nn::rnn_layer(64, 128, vb))?, 128),
        _ => (m, 64),
    };
    m.add("out", move |vb| nn::linear(width, vocab, vb))
}

/// The pieces of one step of `m`, each timed alone: the forward pass, the loss, `backward`, clipping, Adam's step.
fn parts(
    m: &Sequential,
    x: &Tensor,
    y: &Tensor,
    steps: usize,
    (batch, time, vocab): (usize, usize, usize),
) -> Result<()> {
    let mut opt = Adam::new(m.parameters(), 2e-3)?;
    let mut t = [0f64; 5];
    for _ in 0..steps {
        let mut lap = std::time::Instant::now();
        let mut mark = |i: usize, t: &mut [f64; 5]| {
            t[i] += lap.elapsed().as_secs_f64();
            lap = std::time::Instant::now();
        };
        let logits = m.forward(x)?.reshape((batch * time, vocab))?;
        mark(0, &mut t);
        let l = loss::cross_entropy(&logits, y)?;
        let _ = l.to_scalar::<f32>()?;
        mark(1, &mut t);
        let mut grads = l.backward()?;
        mark(2, &mut t);
        clip_grad_norm(&mut grads, &m.parameters(), 1.0)?;
        mark(3, &mut t);
        opt.step(&grads)?;
        mark(4, &mut t);
    }
    let ms: Vec<String> = t.iter().map(|s| format!("{:.0}", 1e3 * s / steps as f64)).collect();
    println!("lstm parts (ms): forward {}, loss {}, backward {}, clip {}, step {}", ms[0], ms[1], ms[2], ms[3], ms[4]);
    Ok(())
}

fn main() -> Result<()> {
    let steps: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let (dev, vocab, batch, time) = (Device::Cpu, 5000, 64, 32);
    manual_seed(0);
    let x = randint(0, vocab as u32, (batch, time), &dev)?;
    let y = randint(0, vocab as u32, batch * time, &dev)?;
    {
        // The output layer alone: (batch·time, 128) → vocabulary, forward and backward.
        let out = Sequential::new(&dev).add("out", move |vb| nn::linear(128, vocab, vb))?;
        let h = Var::from_tensor(&randn((batch * time, 128), &dev)?)?;
        let (mut fwd, mut bwd) = (0.0, 0.0);
        for step in 0..steps + 3 {
            let t0 = std::time::Instant::now();
            let logits = out.forward(h.as_tensor())?;
            let l = logits.sum_all()?;
            let _ = l.to_scalar::<f32>()?;
            let t1 = std::time::Instant::now();
            let _ = l.backward()?;
            if step >= 3 {
                fwd += (t1 - t0).as_secs_f64();
                bwd += t1.elapsed().as_secs_f64();
            }
        }
        let w = out.parameters().into_iter().find(|v| v.rank() == 2).expect("a weight").as_tensor().clone();
        let (mut only, mut raw) = (0.0, 0.0);
        for _ in 0..steps {
            let t0 = std::time::Instant::now();
            let y = out.forward(h.as_tensor())?;
            only += t0.elapsed().as_secs_f64();
            drop(y);
            let t0 = std::time::Instant::now();
            let y = if std::env::var_os("SKIP_RAW").is_some() { w.clone() } else { h.as_tensor().matmul(&w.t()?)? };
            raw += t0.elapsed().as_secs_f64();
            drop(y);
        }
        println!(
            "forward alone {:.0} ms; Candle's matmul {:.0} ms",
            1e3 * only / steps as f64,
            1e3 * raw / steps as f64
        );
        println!(
            "output layer alone: forward {:.0} ms, backward {:.0} ms",
            1e3 * fwd / steps as f64,
            1e3 * bwd / steps as f64
        );
    }
    for (kind, cheap_loss) in [("lstm", false), ("lstm", true), ("rnn", false), ("none", false)] {
        let m = model(kind, vocab, &dev)?;
        let mut opt = Adam::new(m.parameters(), 2e-3)?;
        let (mut fwd, mut bwd) = (0.0, 0.0);
        for step in 0..steps + 3 {
            let t0 = std::time::Instant::now();
            let logits = m.forward(&x)?.reshape((batch * time, vocab))?;
            let l = if cheap_loss { logits.sqr()?.mean_all()? } else { loss::cross_entropy(&logits, &y)? };
            let _ = l.to_scalar::<f32>()?;
            let t1 = std::time::Instant::now();
            let mut grads = l.backward()?;
            clip_grad_norm(&mut grads, &m.parameters(), 1.0)?;
            opt.step(&grads)?;
            if step >= 3 {
                fwd += (t1 - t0).as_secs_f64();
                bwd += t1.elapsed().as_secs_f64();
            }
        }
        let n = steps as f64;
        if kind == "lstm" && !cheap_loss {
            parts(&m, &x, &y, steps, (batch, time, vocab))?;
        }
        println!(
            "{kind:4} {}: forward {:.0} ms, backward+clip+step {:.0} ms",
            if cheap_loss { "mean-square loss " } else { "cross-entropy    " },
            1e3 * fwd / n,
            1e3 * bwd / n
        );
    }
    Ok(())
}
