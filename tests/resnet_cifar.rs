//! The CIFAR ResNet port against PyTorch: with the published weights (`../shared/data/pretrained/resnet-cifar10`,
//! read through `CANDLELIT_DATA_MIRROR`), the first 8 Fashion-MNIST test images give the features and logits that
//! a PyTorch forward of the same model printed (the NOTICE.md beside the weights, 4 decimals), to 1e-4.

use candlelit::prelude::*;

/// The weights file of the mirror, as `scripts/test` points `CANDLELIT_DATA_MIRROR` at `../shared/data`.
fn weights(name: &str) -> std::path::PathBuf {
    let mirror = std::env::var_os("CANDLELIT_DATA_MIRROR").expect("CANDLELIT_DATA_MIRROR (scripts/test sets it)");
    std::path::Path::new(&mirror).join("pretrained/resnet-cifar10").join(name)
}

/// The NOTICE's input: the first 8 test images /255, zero-padded 2 px to 32 × 32, repeated to 3 channels and
/// normalised with the ImageNet mean and std.
fn eight_images() -> Result<Tensor> {
    let test = fashion_mnist(Split::Test)?;
    let x = test.images_tensor(&Device::Cpu)?.narrow(0, 0, 8)?.to_dtype(DType::F32)?.affine(1.0 / 255.0, 0.0)?;
    let x = x.pad_with_zeros(2, 2, 2)?.pad_with_zeros(3, 2, 2)?.repeat((1, 3, 1, 1))?;
    let mean = Tensor::new(&[0.485f32, 0.456, 0.406], &Device::Cpu)?.reshape((1, 3, 1, 1))?;
    let std = Tensor::new(&[0.229f32, 0.224, 0.225], &Device::Cpu)?.reshape((1, 3, 1, 1))?;
    x.broadcast_sub(&mean)?.broadcast_div(&std)
}

fn assert_row(got: &Tensor, want: &[f32], what: &str) -> Result<()> {
    let got = got.to_vec1::<f32>()?;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4, "{what}[{i}]: {g} but PyTorch printed {w} (all: {got:?})");
    }
    Ok(())
}

/// Runs `depth`'s model on the eight images: `(features (8, 64), logits (8, 10))`.
fn run(depth: usize, file: &str) -> Result<(Tensor, Tensor)> {
    let model = nn::resnet_cifar(depth, &Device::Cpu)?;
    model.load(weights(file))?;
    model.eval();
    let trace = no_grad(|| model.forward_trace(&eight_images()?))?;
    let pick = |name: &str| trace.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone());
    let features = pick("flatten7").expect("the pooled features in the trace");
    let logits = pick("linear").expect("the logits in the trace");
    Ok((features, logits))
}

#[test]
fn resnet20_gives_pytorchs_features_and_logits() -> Result<()> {
    let (features, logits) = run(20, "resnet20.safetensors")?;
    assert_eq!((features.dims(), logits.dims()), (&[8, 64][..], &[8, 10][..]));
    assert_row(&features.get(0)?.narrow(0, 0, 6)?, &[0.3126, 0.4906, 0.5529, 0.0908, 0.2112, 0.4539], "features[0]")?;
    let row0 = [2.7878, -1.6391, 2.3583, 0.9936, -0.1198, -2.9035, -1.6420, 1.4836, 1.7151, -3.0646];
    let row1 = [-0.5565, 6.0401, 0.2046, -0.5564, -4.2296, 2.7347, -4.3698, 1.2288, -1.3770, 0.8504];
    assert_row(&logits.get(0)?, &row0, "logits[0]")?;
    assert_row(&logits.get(1)?, &row1, "logits[1]")?;
    assert_eq!(logits.argmax(1)?.to_vec1::<u32>()?, [0, 1, 7, 7, 1, 7, 2, 9]);
    Ok(())
}

#[test]
fn resnet56_gives_pytorchs_features_and_logits() -> Result<()> {
    let (features, logits) = run(56, "resnet56.safetensors")?;
    assert_row(&features.get(0)?.narrow(0, 0, 6)?, &[0.0570, 0.2252, 0.4097, 0.8803, 0.4687, 0.0882], "features[0]")?;
    let row0 = [4.5138, -1.1418, 2.4807, 3.3100, -3.0003, -2.7285, -1.0164, 0.9407, -0.8277, -2.5537];
    assert_row(&logits.get(0)?, &row0, "logits[0]")?;
    assert_eq!(logits.argmax(1)?.to_vec1::<u32>()?, [0, 1, 7, 7, 1, 7, 7, 2]);
    Ok(())
}

#[test]
fn a_depth_that_is_not_6n_plus_2_is_refused_with_the_rule() {
    let err = nn::resnet_cifar(21, &Device::Cpu).expect_err("21 is not 6n + 2");
    assert!(err.to_string().contains("6n + 2"), "{err}");
}
