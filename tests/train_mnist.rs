//! The training toolkit end to end on real data: a 784-128-64-10 MLP trained for 3 epochs on the first 10,000 MNIST
//! training images (from `../shared/data`) must reach ≥ 90% accuracy on the whole test set. One test in this file,
//! because it sets the process's environment.

mod common;

use std::sync::Arc;

use candlelit::prelude::*;

#[test]
fn a_three_epoch_mlp_reaches_90_percent_on_an_mnist_subset() -> Result<()> {
    let data = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    // SAFETY: the only test in this binary; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("CANDLELIT_DATA", data.path());
        std::env::set_var("CANDLELIT_DATA_MIRROR", common::shared_data());
    }
    let dev = Device::Cpu;
    manual_seed(0);
    let splits = image_splits("mnist")?;
    let train_images = splits.train.select("MNIST train, first 10,000", &(0..10_000).collect::<Vec<_>>())?;
    let test_images = splits.test;
    let to_input = Arc::new(ToTensor.then(Normalize::new(&[0.1307], &[0.3081])?));
    let train =
        DataLoader::new(train_images.with_transform(to_input.clone())).batch_size(64).shuffle(true).device(&dev);
    let test = DataLoader::new(test_images.with_transform(to_input)).batch_size(500).device(&dev);

    let model = Sequential::new(&dev)
        .push(nn::Flatten)
        .add("fc1", |vb| nn::linear(784, 128, vb))?
        .push(nn::Relu)
        .add("fc2", |vb| nn::linear(128, 64, vb))?
        .push(nn::Relu)
        .add("fc3", |vb| nn::linear(64, 10, vb))?;
    let mut opt = Adam::new(model.parameters(), 1e-3)?;
    let mut history = History::new();
    for epoch in 0..3u64 {
        model.train();
        let mut train_loss = RunningMean::new();
        let batches = progress(train.iter_epoch(epoch)).desc(format!("epoch {}", epoch + 1)).quiet();
        for batch in batches {
            let (x, y) = batch?;
            let loss = loss::cross_entropy(&model.forward(&x)?, &y)?;
            opt.backward_step(&loss)?;
            train_loss.add_tensor(&loss, x.dim(0)?)?;
        }
        model.eval();
        let mut confusion = ConfusionMatrix::new(10);
        for batch in test.iter() {
            let (x, y) = batch?;
            confusion.add(&model.forward(&x)?, &y)?;
        }
        history.push(epoch as usize, &[("train_loss", train_loss.mean()), ("test_accuracy", confusion.accuracy())]);
    }
    let losses = history.values("train_loss");
    let accuracy = history.last("test_accuracy").unwrap_or(0.0);
    eprintln!("train loss per epoch {losses:?}, test accuracy {accuracy:.4}");
    assert!(losses[2] < losses[0], "the training loss goes down: {losses:?}");
    assert!(accuracy >= 0.90, "test accuracy after 3 epochs: {accuracy:.4} (history {history:?})");
    Ok(())
}
