//! One epoch of the data-loader benchmark (BENCHMARKS.md, `bench/data-loader`): 60,000 28×28 images (the real
//! MNIST test set repeated six times in memory), batches of 64, shuffled, each image turned into a tensor and
//! normalised as it is fetched — what `bench/data_loader.py` does with PyTorch's DataLoader.
//!
//! Run: `cargo run --release --example data_loader_epoch -- MNIST_DIR WORKERS EPOCHS`; prints one JSON line per
//! epoch with the images per second.

use std::path::PathBuf;
use std::time::Instant;

use candlelit::data::vision::{MNIST_CLASSES, read_idx_images};
use candlelit::prelude::*;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "../shared/data/mnist".into()));
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let epochs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);

    let test = read_idx_images(
        "MNIST test",
        &dir.join("t10k-images-idx3-ubyte.gz"),
        &dir.join("t10k-labels-idx1-ubyte.gz"),
        &MNIST_CLASSES,
    )?;
    let images = test.repeat(6).with_transform(ToTensor.then(Normalize::new(&[0.1307], &[0.3081])?));
    let loader = DataLoader::new(images).batch_size(64).shuffle(true).seed(0).num_workers(workers).device(&Device::Cpu);
    for epoch in 0..epochs {
        let started = Instant::now();
        let (mut seen, mut checksum) = (0usize, 0f64);
        for batch in &loader {
            let (x, y) = batch?;
            seen += y.dim(0)?;
            // Touch one value per batch so nothing can be skipped.
            checksum += f64::from(x.get(0)?.get(0)?.get(14)?.get(14)?.to_scalar::<f32>()?);
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{{\"side\": \"candlelit\", \"workers\": {workers}, \"epoch\": {epoch}, \"images\": {seen}, \"seconds\": {seconds:.4}, \
             \"images_per_s\": {:.0}, \"checksum\": {checksum:.3}}}",
            seen as f64 / seconds
        );
    }
    Ok(())
}
