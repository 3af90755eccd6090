//! Five epochs of a small MLP (784 → 256 → 10, SGD, batches of 64) on 8192 synthetic examples: the training loop
//! the notebook-session benchmark runs both as this `--release` binary and as a notebook cell, to compare speed.
//!
//! The lines between `// cell:begin` and `// cell:end` are sent to the kernels as they are, so they use only
//! names that `candlelit::prelude::*` (and, for evcxr, `candle_core` + `candle_nn`) provide.
//!
//! Run: `cargo run --release --example mlp_epochs`

use candlelit::prelude::*;

fn main() -> Result<()> {
    // cell:begin
    let dev = Device::Cpu;
    let (examples, features, hidden, classes, batch) = (8192usize, 784usize, 256usize, 10usize, 64usize);
    let x = Tensor::rand(-1f32, 1f32, (examples, features), &dev)?;
    let teacher = Tensor::rand(-1f32, 1f32, (features, classes), &dev)?;
    let y = x.matmul(&teacher)?.argmax(1)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let fc1 = nn::linear(features, hidden, vb.pp("fc1"))?;
    let fc2 = nn::linear(hidden, classes, vb.pp("fc2"))?;
    let mut opt = Sgd::new(varmap.all_vars(), 0.05)?;
    let started = std::time::Instant::now();
    let mut last = 0f32;
    for _epoch in 0..5 {
        for step in 0..examples / batch {
            let xb = x.narrow(0, step * batch, batch)?;
            let yb = y.narrow(0, step * batch, batch)?;
            let logits = fc2.forward(&fc1.forward(&xb)?.relu()?)?;
            let l = loss::cross_entropy(&logits, &yb)?;
            opt.backward_step(&l)?;
            last = l.to_scalar::<f32>()?;
        }
    }
    println!("MLP_SECONDS {} final loss {last:.3}", started.elapsed().as_secs_f64());
    // cell:end
    Ok(())
}
