//! Writes the exact data split of the Day 4 / Day 5 lessons (default seed) to a safetensors file, so that
//! `bench/lessons_pytorch.py` trains PyTorch on the very rows the notebooks train on (Day 6 needs no such file:
//! both sides read Fashion-MNIST's own split from the same IDX files).
//!
//! Usage: `cargo run --example lesson_splits -- OUT_DIR`

use std::collections::HashMap;
use std::path::PathBuf;

use candlelit::prelude::*;

fn main() -> Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/lesson-runs".into()));
    std::fs::create_dir_all(&out).map_err(|e| candle::Error::Msg(format!("cannot create {}: {e}", out.display())))?;
    let cpu = Device::Cpu;

    // Day 4 and Day 5: test_fraction 0.2, seed 42; unscaled features (each side fits its scaler on train).
    let data = CsvDataset::new(&breast_cancer()?, "target")?;
    let (train, test) = data.train_test_split(0.2, 42)?;
    let tables = HashMap::from([
        ("x_train".to_string(), train.features_tensor(&cpu)?),
        ("y_train".to_string(), train.labels_tensor(&cpu)?),
        ("x_test".to_string(), test.features_tensor(&cpu)?),
        ("y_test".to_string(), test.labels_tensor(&cpu)?),
    ]);
    candle::safetensors::save(&tables, out.join("breast_cancer_split.safetensors"))?;

    println!("wrote the Day 4 split to {}", out.display());
    Ok(())
}
