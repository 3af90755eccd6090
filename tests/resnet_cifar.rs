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

#[test]
fn the_upstream_legacy_pytorch_files_hold_the_same_tensors_as_the_safetensors_copies() -> Result<()> {
    for (th, st) in [("resnet20-12fca82f.th", "resnet20.safetensors"), ("resnet56-4bfd9763.th", "resnet56.safetensors")]
    {
        let legacy = read_state_dict(weights(th))?;
        let converted = read_state_dict(weights(st))?;
        assert_eq!(legacy.len(), converted.len(), "{th}: tensor count");
        for ((name, t), (name_st, t_st)) in legacy.iter().zip(&converted) {
            assert_eq!(name.strip_prefix("module."), Some(name_st.as_str()), "{th}: names in order");
            assert_eq!(t.dims(), t_st.dims(), "{th}: {name}'s shape");
            let diff = (t.to_dtype(DType::F64)? - t_st.to_dtype(DType::F64)?)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert_eq!(diff, 0.0, "{th}: {name}'s values");
        }
    }
    Ok(())
}

#[test]
fn load_state_dict_maps_prefixes_and_reports_missing_and_unexpected_names() -> Result<()> {
    let model = nn::resnet_cifar(20, &Device::Cpu)?;
    let upstream = read_state_dict(weights("resnet20-12fca82f.th"))?;
    // Strict without the prefix mapping: every name differs, and the message says how to map them.
    let err = model.load_state_dict(upstream.clone(), &LoadOptions::strict()).expect_err("names differ");
    assert!(err.to_string().contains("strip_prefix") && err.to_string().contains("module.conv1.weight"), "{err}");
    let report = model.load_state_dict(upstream.clone(), &LoadOptions::strict().strip_prefix("module."))?;
    assert_eq!((report.loaded.len(), report.missing.len(), report.unexpected.len()), (upstream.len(), 0, 0));
    model.eval();
    let logits = no_grad(|| model.forward(&eight_images()?))?;
    assert_eq!(logits.argmax(1)?.to_vec1::<u32>()?, [0, 1, 7, 7, 1, 7, 2, 9]);

    // A backbone without its head, saved under another prefix: the head is missing, the rest loads.
    let fresh = nn::resnet_cifar(20, &Device::Cpu)?;
    let head_before = fresh.named_parameters().into_iter().find(|(n, _)| n == "linear.weight").map(|(_, v)| v);
    let head_before = head_before.expect("a head").as_tensor().copy()?;
    let backbone: Vec<(String, Tensor)> = upstream
        .iter()
        .filter(|(n, _)| !n.starts_with("module.linear."))
        .map(|(n, t)| (n.replacen("module.", "backbone.", 1), t.clone()))
        .chain([("backbone.extra.weight".to_string(), Tensor::zeros(3, DType::F32, &Device::Cpu)?)])
        .collect();
    let report = fresh.load_state_dict(backbone, &LoadOptions::non_strict().rename_prefix("backbone.", ""))?;
    assert_eq!(report.missing, ["linear.bias", "linear.weight"]);
    assert_eq!(report.unexpected, ["extra.weight"]);
    assert_eq!(report.loaded.len(), upstream.len() - 2);
    let head_after = fresh.named_parameters().into_iter().find(|(n, _)| n == "linear.weight").map(|(_, v)| v);
    let same = (head_after.expect("a head").as_tensor() - &head_before)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert_eq!(same, 0.0, "a missing name keeps its value");
    assert!(report.to_string().contains("missing (kept as they were): linear.bias, linear.weight"), "{report}");

    // A shape that does not fit is an error even when not strict, and nothing changes.
    let wrong = vec![("conv1.weight".to_string(), Tensor::zeros((8, 3, 3, 3), DType::F32, &Device::Cpu)?)];
    let err = fresh.load_state_dict(wrong, &LoadOptions::non_strict()).expect_err("wrong shape");
    assert!(err.to_string().contains("`conv1.weight` is [8, 3, 3, 3] in the weights but [16, 3, 3, 3]"), "{err}");
    Ok(())
}

#[test]
fn a_cut_short_or_foreign_weights_file_is_a_clear_error() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    let bytes = std::fs::read(weights("resnet20-12fca82f.th")).map_err(|e| candle::Error::Msg(e.to_string()))?;
    let cut = dir.path().join("cut.th");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).map_err(|e| candle::Error::Msg(e.to_string()))?;
    let err = read_state_dict(&cut).expect_err("cut short");
    assert!(err.to_string().contains("cut short"), "{err}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not weights at all").map_err(|e| candle::Error::Msg(e.to_string()))?;
    let err = read_state_dict(&text).expect_err("foreign");
    assert!(err.to_string().contains("is not a safetensors, PyTorch or legacy PyTorch weights file"), "{err}");
    Ok(())
}

#[test]
fn the_pretrained_constructor_fetches_the_upstream_file_and_loads_it() -> Result<()> {
    // Through the mirror into this run's data folder (sha256 checked), then read as a legacy PyTorch file.
    let model = nn::pretrained::resnet_cifar10(20, &Device::Cpu)?;
    model.eval();
    let logits = no_grad(|| model.forward(&eight_images()?))?;
    assert_eq!(logits.argmax(1)?.to_vec1::<u32>()?, [0, 1, 7, 7, 1, 7, 2, 9]);
    let err = nn::pretrained::resnet_cifar10(32, &Device::Cpu).expect_err("no ResNet-32 weights");
    assert!(err.to_string().contains("ResNet-20 and ResNet-56"), "{err}");
    Ok(())
}

/// torchvision's `resnet18().state_dict()` names, less the batch norms' `num_batches_tracked` counters.
fn torchvision_resnet18_names() -> Vec<String> {
    let bn = |p: &str| ["weight", "bias", "running_mean", "running_var"].map(|s| format!("{p}.{s}"));
    let mut names = vec!["conv1.weight".to_string()];
    names.extend(bn("bn1"));
    for layer in 1..=4 {
        for block in 0..2 {
            let p = format!("layer{layer}.{block}");
            names.extend([format!("{p}.conv1.weight"), format!("{p}.conv2.weight")]);
            names.extend(bn(&format!("{p}.bn1")).into_iter().chain(bn(&format!("{p}.bn2"))));
            if layer > 1 && block == 0 {
                names.push(format!("{p}.downsample.0.weight"));
                names.extend(bn(&format!("{p}.downsample.1")));
            }
        }
    }
    names.extend(["fc.weight".to_string(), "fc.bias".to_string()]);
    names.sort();
    names
}

#[test]
fn resnet18_has_torchvisions_names_and_size_and_loads_its_state_dict() -> Result<()> {
    let model = nn::resnet18(1000, &Device::Cpu)?;
    assert_eq!(model.param_count(), 11_689_512, "torchvision's resnet18 parameter count");
    let ours: Vec<String> = model.state_dict()?.into_iter().map(|(n, _)| n).collect();
    assert_eq!(ours, torchvision_resnet18_names());
    // A state dict as torchvision saves it (with the counters) loads strictly: here the model's own values, doubled.
    let doubled: Vec<(String, Tensor)> = model
        .state_dict()?
        .into_iter()
        .map(|(n, t)| Ok((n, (t * 2.0)?)))
        .chain(
            ["bn1", "layer1.0.bn1"].map(|p| Ok((format!("{p}.num_batches_tracked"), Tensor::new(7i64, &Device::Cpu)?))),
        )
        .collect::<Result<_>>()?;
    let conv1 = || -> Result<Tensor> {
        let vars = model.varmap().data().lock().expect("varmap");
        vars.get("layer4.1.conv2.weight").expect("a layer4 weight").as_tensor().copy()
    };
    let before = conv1()?;
    let report = model.load_state_dict(doubled, &LoadOptions::strict())?;
    assert!(report.unexpected.is_empty() && report.missing.is_empty(), "{report}");
    let change = (conv1()? - (before * 2.0)?)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert_eq!(change, 0.0, "the loaded values are the model's");
    model.eval();
    let logits = no_grad(|| model.forward(&randn((2, 3, 64, 64), &Device::Cpu)?))?;
    assert_eq!(logits.dims(), &[2, 1000]);
    Ok(())
}
