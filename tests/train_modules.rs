//! Layers and model tools: BatchNorm against PyTorch's numbers (printed by
//! `tests/reference/batchnorm_reference.py`), Dropout, train/eval, freezing, save/load, checkpoints, `summary`,
//! the plain RNN over padded batches and the padded embedding.
// The constants are pasted as the reference script printed them.
#![allow(clippy::excessive_precision)]

use candlelit::nn::{self, RNN};
use candlelit::prelude::*;

const BN1_TRAIN_A: [f32; 12] = [
    -2.90020049e-01,
    -5.35084605e-01,
    1.99998736e-01,
    1.25675368e+00,
    -7.32048973e-02,
    -2.99999094e+00,
    -1.45010042e+00,
    8.50554585e-01,
    2.59999108e+00,
    4.83366847e-01,
    1.57734960e-01,
    -5.99998713e-01,
];
const BN1_TRAIN_B: [f32; 9] = [
    -1.22473562e+00,
    2.33630195e-01,
    1.24442399e-01,
    0.00000000e+00,
    -5.68150997e-01,
    2.07109714e+00,
    1.22473562e+00,
    6.34520769e-01,
    -2.79553962e+00,
];
const BN1_RUNNING_MEAN: [f32; 3] = [2.23749995e-01, 1.34166673e-01, 8.91666710e-02];
const BN1_RUNNING_VAR: [f32; 3] = [1.11062503e+00, 1.60583329e+00, 1.63083339e+00];
const BN1_EVAL_C: [f32; 6] =
    [1.21101654e+00, 2.44344980e-01, -1.12270331e+00, -1.16119993e+00, 8.36192250e-01, 5.18836379e-02];
const BN2_INPUT: [f32; 12] = [
    0.00000000e+00,
    1.00000000e+00,
    2.50000000e+00,
    -1.50000000e+00,
    3.00000000e+00,
    4.00000000e+00,
    5.00000000e-01,
    1.50000000e+00,
    1.00000000e+00,
    2.00000000e+00,
    -1.50000000e+00,
    -5.00000000e-01,
];
const BN2_TRAIN: [f32; 12] = [
    -1.36437833e+00,
    -6.20171964e-01,
    1.56524420e+00,
    -1.11803150e+00,
    8.68240774e-01,
    1.61244714e+00,
    2.23606303e-01,
    8.94425213e-01,
    -6.20171964e-01,
    1.24034405e-01,
    -1.11803150e+00,
    -4.47212636e-01,
];
const BN2_RUNNING_MEAN: [f32; 2] = [1.83333337e-01, 1.66666675e-02];
const BN2_RUNNING_VAR: [f32; 2] = [1.11666667e+00, 1.16666663e+00];
const BN2_EVAL: [f32; 12] = [
    -1.73491314e-01,
    7.72824943e-01,
    2.29910994e+00,
    -1.40415442e+00,
    2.66545749e+00,
    3.61177373e+00,
    4.47477788e-01,
    1.37329388e+00,
    7.72824943e-01,
    1.71914113e+00,
    -1.40415442e+00,
    -4.78338331e-01,
];

/// The prelude's generator is shared by the whole test process, and several tests here need the same draws from
/// the same seed: they take turns instead of running side by side.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn assert_close(name: &str, got: &Tensor, expected: &[f32]) -> Result<()> {
    let got = got.flatten_all()?.to_vec1::<f32>()?;
    assert_eq!(got.len(), expected.len(), "{name}: number of values");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= 1e-5, "{name}[{i}]: got {g}, PyTorch {e}");
    }
    Ok(())
}

#[test]
fn batch_norm_1d_matches_pytorch_in_train_and_eval_mode() -> Result<()> {
    let _turn = take_turn();
    let dev = Device::Cpu;
    let mut varmap = VarMap::new();
    let bn = nn::batch_norm1d(3, VarBuilder::from_varmap(&varmap, DType::F32, &dev).pp("bn"))?;
    varmap.set_one("bn.weight", Tensor::new(&[1f32, 0.5, 2.0], &dev)?)?;
    varmap.set_one("bn.bias", Tensor::new(&[0f32, 0.1, -0.2], &dev)?)?;
    let a = Tensor::new(&[[1f32, -2.0, 0.5], [3.0, 0.0, -1.5], [-0.5, 4.0, 2.0], [2.0, 1.0, 0.0]], &dev)?;
    let b = Tensor::new(&[[0f32, 1.0, 1.0], [1.0, -1.0, 3.0], [2.0, 2.0, -2.0]], &dev)?;
    let c = Tensor::new(&[[1.5f32, 0.5, -0.5], [-1.0, 2.0, 0.25]], &dev)?;
    assert_close("train A", &bn.forward_t(&a, true)?, &BN1_TRAIN_A)?;
    assert_close("train B", &bn.forward_t(&b, true)?, &BN1_TRAIN_B)?;
    assert_close("running mean", bn.0.running_mean(), &BN1_RUNNING_MEAN)?;
    assert_close("running var", bn.0.running_var(), &BN1_RUNNING_VAR)?;
    assert_close("eval C", &bn.forward_t(&c, false)?, &BN1_EVAL_C)?;
    // Evaluation leaves the running statistics alone.
    assert_close("running mean after eval", bn.0.running_mean(), &BN1_RUNNING_MEAN)?;
    Ok(())
}

#[test]
fn batch_norm_2d_matches_pytorch_per_channel() -> Result<()> {
    let _turn = take_turn();
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let bn = nn::batch_norm2d(2, VarBuilder::from_varmap(&varmap, DType::F32, &dev).pp("bn"))?;
    let x = Tensor::new(&BN2_INPUT, &dev)?.reshape((3, 2, 1, 2))?;
    assert_close("train", &bn.forward_t(&x, true)?, &BN2_TRAIN)?;
    assert_close("running mean", bn.0.running_mean(), &BN2_RUNNING_MEAN)?;
    assert_close("running var", bn.0.running_var(), &BN2_RUNNING_VAR)?;
    assert_close("eval", &bn.forward_t(&x, false)?, &BN2_EVAL)?;
    Ok(())
}

#[test]
fn batch_norm_explains_wrong_shapes_and_single_examples() -> Result<()> {
    let _turn = take_turn();
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let bn2 = nn::batch_norm2d(2, vb.pp("bn2"))?;
    let err = bn2.forward_t(&Tensor::zeros((4, 2), DType::F32, &dev)?, true).expect_err("rank 2 into BatchNorm2d");
    assert!(err.to_string().contains("expects images (N, C, H, W)"), "{err}");
    let bn1 = nn::batch_norm1d(3, vb.pp("bn1"))?;
    let one = Tensor::ones((1, 3), DType::F32, &dev)?;
    let err = bn1.forward_t(&one, true).expect_err("one example in training mode");
    assert!(err.to_string().contains("more than one value per channel"), "{err}");
    assert_eq!(bn1.forward_t(&one, false)?.dims(), &[1, 3], "evaluation mode takes a single example");
    Ok(())
}

#[test]
fn dropout_drops_and_rescales_in_training_only_and_follows_the_seed() -> Result<()> {
    let _turn = take_turn();
    let dev = Device::Cpu;
    let drop = nn::Dropout::new(0.3);
    let x = Tensor::ones((100, 100), DType::F32, &dev)?;
    assert_eq!(drop.forward_t(&x, false)?.sum_all()?.to_scalar::<f32>()?, 10_000.0);
    manual_seed(11);
    let y = drop.forward_t(&x, true)?.flatten_all()?.to_vec1::<f32>()?;
    let dropped = y.iter().filter(|v| **v == 0.0).count() as f64 / 10_000.0;
    assert!((dropped - 0.3).abs() < 0.03, "dropped fraction {dropped}");
    assert!(y.iter().all(|v| *v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6), "survivors are scaled by 1/(1-p)");
    manual_seed(11);
    let again = drop.forward_t(&x, true)?.flatten_all()?.to_vec1::<f32>()?;
    assert_eq!(y, again, "the same seed drops the same elements");
    assert!(nn::Dropout::new(1.0).forward_t(&x, true).is_err(), "p = 1 is refused");
    Ok(())
}

fn mlp(seed: u64) -> Result<Sequential> {
    manual_seed(seed);
    Sequential::new(&Device::Cpu)
        .add("fc1", |vb| nn::linear(4, 8, vb))?
        .push(nn::Relu)
        .push(nn::Dropout::new(0.5))
        .add("fc2", |vb| nn::linear(8, 3, vb))
}

#[test]
fn sequential_switches_dropout_with_train_and_eval() -> Result<()> {
    let _turn = take_turn();
    let model = mlp(0)?;
    let x = Tensor::ones((5, 4), DType::F32, &Device::Cpu)?;
    assert!(model.is_training(), "a new model trains, like PyTorch's");
    let a = model.forward(&x)?.to_vec2::<f32>()?;
    let b = model.forward(&x)?.to_vec2::<f32>()?;
    assert_ne!(a, b, "dropout draws a new mask per call in training mode");
    model.eval();
    let c = model.forward(&x)?.to_vec2::<f32>()?;
    assert_eq!(c, model.forward(&x)?.to_vec2::<f32>()?, "evaluation is deterministic");
    let err = model.forward(&Tensor::ones((5, 7), DType::F32, &Device::Cpu)?).expect_err("wrong width");
    assert!(format!("{err}").contains("`fc1` (Linear)"), "the error names the layer: {err}");
    Ok(())
}

#[test]
fn the_same_seed_builds_the_same_model_with_pytorch_bounds() -> Result<()> {
    let _turn = take_turn();
    let (a, b) = (mlp(5)?, mlp(5)?);
    for ((name, va), (_, vb)) in a.named_parameters().iter().zip(b.named_parameters()) {
        assert_eq!(va.flatten_all()?.to_vec1::<f32>()?, vb.flatten_all()?.to_vec1::<f32>()?, "{name}");
    }
    let bound = 1.0 / 4f32.sqrt();
    for (name, v) in a.named_parameters().iter().filter(|(n, _)| n.starts_with("fc1.")) {
        let values = v.flatten_all()?.to_vec1::<f32>()?;
        assert!(values.iter().all(|x| x.abs() <= bound), "{name} within ±1/√fan_in");
        assert!(values.iter().any(|x| x.abs() > bound / 2.0), "{name} spreads over the range");
    }
    assert_ne!(
        mlp(6)?.parameters()[0].flatten_all()?.to_vec1::<f32>()?,
        a.parameters()[0].flatten_all()?.to_vec1::<f32>()?
    );
    Ok(())
}

/// A fixed little classification problem: 3 classes by the sign pattern of x.
fn batches() -> Result<Vec<(Tensor, Tensor)>> {
    let dev = Device::Cpu;
    manual_seed(99);
    (0..4)
        .map(|_| {
            let x = randn((16, 4), &dev)?;
            let y = (x.narrow(1, 0, 1)?.gt(0.0)?.to_dtype(DType::U32)?
                + x.narrow(1, 1, 1)?.gt(0.5)?.to_dtype(DType::U32)?)?
            .squeeze(1)?;
            Ok((x, y))
        })
        .collect()
}

fn epoch(model: &Sequential, opt: &mut impl Optimizer, data: &[(Tensor, Tensor)]) -> Result<f32> {
    model.eval(); // no dropout: the runs must be comparable step for step
    let mut total = 0.0;
    for (x, y) in data {
        let loss = loss::cross_entropy(&model.forward(x)?, y)?;
        opt.backward_step(&loss)?;
        total += loss.to_scalar::<f32>()?;
    }
    Ok(total)
}

#[test]
fn frozen_layers_stay_bit_identical_and_unfreezing_trains_them() -> Result<()> {
    let _turn = take_turn();
    let data = batches()?;
    let mut model = mlp(1)?;
    model.freeze(&["fc1"])?;
    let before =
        model.parameters_of(&["fc1"])?.iter().map(|v| v.flatten_all()?.to_vec1::<f32>()).collect::<Result<Vec<_>>>()?;
    let head_before = model.parameters_of(&["fc2"])?[0].flatten_all()?.to_vec1::<f32>()?;
    let mut opt = Adam::new(model.trainable_parameters(), 0.01)?;
    for _ in 0..5 {
        epoch(&model, &mut opt, &data)?;
    }
    let after =
        model.parameters_of(&["fc1"])?.iter().map(|v| v.flatten_all()?.to_vec1::<f32>()).collect::<Result<Vec<_>>>()?;
    assert_eq!(before, after, "frozen weights are bit-identical after training");
    assert_ne!(head_before, model.parameters_of(&["fc2"])?[0].flatten_all()?.to_vec1::<f32>()?, "the head trained");
    let summary = model.summary(&[2, 4])?;
    assert_eq!(summary.trainable_params(), 8 * 3 + 3);
    assert!(summary.to_string().contains("(frozen)"));

    model.unfreeze(&["fc1"])?;
    opt.add_vars(model.parameters_of(&["fc1"])?);
    epoch(&model, &mut opt, &data)?;
    assert_ne!(before[0], model.parameters_of(&["fc1"])?[0].flatten_all()?.to_vec1::<f32>()?, "unfrozen, it trains");
    assert!(model.freeze(&["nope"]).expect_err("unknown layer").to_string().contains("no layer named \"nope\""));
    Ok(())
}

#[test]
fn saved_weights_load_into_a_fresh_model_with_identical_outputs() -> Result<()> {
    let _turn = take_turn();
    let dir = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    let path = dir.path().join("weights.safetensors");
    let data = batches()?;
    let model = mlp(2)?;
    let mut opt = Sgd::new(model.parameters(), 0.1)?;
    epoch(&model, &mut opt, &data)?;
    model.save(&path)?;
    let fresh = mlp(3)?;
    fresh.eval();
    let x = &data[0].0;
    assert_ne!(fresh.forward(x)?.to_vec2::<f32>()?, model.forward(x)?.to_vec2::<f32>()?);
    fresh.load(&path)?;
    assert_eq!(fresh.forward(x)?.to_vec2::<f32>()?, model.forward(x)?.to_vec2::<f32>()?);

    // A file from another architecture is refused with every difference listed, and nothing changes.
    let other = Sequential::new(&Device::Cpu).add("fc1", |vb| nn::linear(4, 5, vb))?;
    let other_before = other.parameters()[0].flatten_all()?.to_vec1::<f32>()?;
    let err = other.load(&path).expect_err("shapes differ").to_string();
    assert!(err.contains("`fc1.weight` has shape [8, 4] in the file but [5, 4] in the model"), "{err}");
    assert!(err.contains("the file has `fc2.weight`, which the model does not"), "{err}");
    assert_eq!(other_before, other.parameters()[0].flatten_all()?.to_vec1::<f32>()?);
    let err = model.load(dir.path().join("missing.safetensors")).expect_err("no file").to_string();
    assert!(err.contains("could not read the weights file"), "{err}");
    Ok(())
}

#[test]
fn a_checkpoint_resumes_with_the_same_loss_curve() -> Result<()> {
    let _turn = take_turn();
    let dir = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    let path = dir.path().join("ckpt.safetensors");
    let data = batches()?;

    let model = mlp(4)?;
    let mut opt = Adam::new(model.parameters(), 0.02)?;
    let mut sched = Scheduler::new(&mut opt, StepLr::new(2, 0.5));
    let mut straight = Vec::new();
    for _ in 0..6 {
        straight.push(epoch(&model, &mut opt, &data)?);
        sched.step(&mut opt);
    }

    let model = mlp(4)?;
    let mut opt = Adam::new(model.parameters(), 0.02)?;
    let mut sched = Scheduler::new(&mut opt, StepLr::new(2, 0.5));
    let mut resumed = Vec::new();
    for e in 0..3 {
        resumed.push(epoch(&model, &mut opt, &data)?);
        sched.step(&mut opt);
        Checkpoint::new(e + 1).with("loss", resumed[e] as f64).save(&path, model.varmap(), &opt)?;
    }
    // A new process would start here: another model and optimizer, built the same way.
    let model = mlp(77)?;
    let mut opt = Adam::new(model.parameters(), 0.02)?;
    let mut sched = Scheduler::new(&mut opt, StepLr::new(2, 0.5));
    let info = Checkpoint::load(&path, model.varmap(), &mut opt)?;
    assert_eq!(info.epoch, 3);
    assert_eq!(info.extra["loss"], resumed[2] as f64);
    sched.set_epoch(info.epoch, &mut opt);
    for _ in info.epoch..6 {
        resumed.push(epoch(&model, &mut opt, &data)?);
        sched.step(&mut opt);
    }
    assert_eq!(straight, resumed, "the resumed run repeats the uninterrupted one exactly");

    // Weights alone are not a checkpoint.
    model.save(dir.path().join("w.safetensors"))?;
    let err = Checkpoint::load(dir.path().join("w.safetensors"), model.varmap(), &mut opt).expect_err("no metadata");
    assert!(err.to_string().contains("not a candlelit checkpoint"), "{err}");
    Ok(())
}

/// The Day 8 CNN: two conv + ReLU + max-pool blocks, then 64·7·7 → 128 → 10.
fn day8_cnn() -> Result<Sequential> {
    let padded = nn::Conv2dConfig { padding: 1, ..Default::default() };
    Sequential::new(&Device::Cpu)
        .add("conv1", move |vb| nn::conv2d(1, 32, 3, padded, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d::new(2))
        .add("conv2", move |vb| nn::conv2d(32, 64, 3, padded, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d::new(2))
        .push(nn::Flatten)
        .add("fc1", |vb| nn::linear(64 * 7 * 7, 128, vb))?
        .push(nn::Relu)
        .push(nn::Dropout::new(0.5))
        .add("fc2", |vb| nn::linear(128, 10, vb))
}

#[test]
fn summary_of_the_day8_cnn_gives_every_shape_and_count() -> Result<()> {
    let _turn = take_turn();
    let model = day8_cnn()?;
    let summary = model.summary(&[64, 1, 28, 28])?;
    let rows: Vec<(&str, &str, Vec<usize>, usize)> =
        summary.rows().iter().map(|r| (r.name.as_str(), r.kind.as_str(), r.output_shape.clone(), r.params)).collect();
    let expected: Vec<(&str, &str, Vec<usize>, usize)> = vec![
        ("conv1", "Conv2d", vec![64, 32, 28, 28], 320),
        ("relu1", "Relu", vec![64, 32, 28, 28], 0),
        ("maxpool2d2", "MaxPool2d", vec![64, 32, 14, 14], 0),
        ("conv2", "Conv2d", vec![64, 64, 14, 14], 18_496),
        ("relu4", "Relu", vec![64, 64, 14, 14], 0),
        ("maxpool2d5", "MaxPool2d", vec![64, 64, 7, 7], 0),
        ("flatten6", "Flatten", vec![64, 3136], 0),
        ("fc1", "Linear", vec![64, 128], 401_536),
        ("relu8", "Relu", vec![64, 128], 0),
        ("dropout9", "Dropout", vec![64, 128], 0),
        ("fc2", "Linear", vec![64, 10], 1_290),
    ];
    assert_eq!(rows, expected);
    assert_eq!(summary.total_params(), 421_642);
    assert_eq!(model.param_count(), 421_642);
    let text = summary.to_string();
    assert!(text.contains("flatten6 (Flatten)") && text.contains("[64, 3136]"), "{text}");
    assert!(text.contains("Total params: 421,642"), "{text}");
    assert!(summary.to_html().contains("<td>fc1</td>"));
    let err = model.summary(&[64, 3, 32, 32]).expect_err("3-channel 32×32 input");
    assert!(format!("{err}").contains("`conv1` (Conv2d)"), "{err}");
    Ok(())
}

#[test]
fn batch_norm_statistics_are_not_parameters_but_are_saved() -> Result<()> {
    let _turn = take_turn();
    let model =
        Sequential::new(&Device::Cpu).add("fc", |vb| nn::linear(4, 6, vb))?.add("bn", |vb| nn::batch_norm1d(6, vb))?;
    assert_eq!(model.param_count(), 4 * 6 + 6 + 6 + 6, "weight and bias of bn count, running stats do not");
    let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert!(!names.iter().any(|n| n.contains("running")), "{names:?}");
    assert_eq!(model.varmap().all_vars().len(), 6, "the map holds the statistics too (they are saved)");
    Ok(())
}

#[test]
fn rnn_steps_like_pytorch_and_reads_padded_batches_by_length() -> Result<()> {
    let _turn = take_turn();
    let dev = Device::Cpu;
    manual_seed(8);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let rnn = nn::rnn(3, 4, vb.pp("rnn"))?;
    nn::init_like_pytorch(&varmap, "rnn")?;
    // One step from the zero state by hand: tanh(W_ih x + b_ih + b_hh).
    let get =
        |n: &str| varmap.data().lock().map(|d| d[n].as_tensor().clone()).map_err(|_| candle::Error::Msg("lock".into()));
    let x0 = Tensor::new(&[[0.5f32, -1.0, 2.0]], &dev)?;
    let by_hand = (x0
        .matmul(&get("rnn.weight_ih_l0")?.t()?)?
        .broadcast_add(&get("rnn.bias_ih_l0")?)?
        .broadcast_add(&get("rnn.bias_hh_l0")?)?)
    .tanh()?;
    let step = rnn.step(&x0, &rnn.zero_state(1)?)?;
    assert_eq!(step.h.to_vec2::<f32>()?, by_hand.to_vec2::<f32>()?);

    // Two sequences of lengths 5 and 2, padded to 5: the last real state of each equals running it alone.
    let long = randn((1, 5, 3), &dev)?;
    let short = randn((1, 2, 3), &dev)?;
    let padded = Tensor::cat(
        &[long.clone(), Tensor::cat(&[short.clone(), Tensor::zeros((1, 3, 3), DType::F32, &dev)?], 1)?],
        0,
    )?;
    let out = rnn.states_to_tensor(&rnn.seq(&padded)?)?;
    let last = nn::last_states(&out, &Tensor::new(&[5u32, 2], &dev)?)?;
    let alone = |x: &Tensor| -> Result<Vec<f32>> {
        let states = rnn.seq(x)?;
        states.last().map(|s| s.h.flatten_all()?.to_vec1::<f32>()).unwrap_or_else(|| Ok(vec![]))
    };
    let last = last.to_vec2::<f32>()?;
    for (got, want) in last[0].iter().zip(alone(&long)?) {
        assert!((got - want).abs() < 1e-6);
    }
    for (got, want) in last[1].iter().zip(alone(&short)?) {
        assert!((got - want).abs() < 1e-6);
    }
    // The same works for Candle's LSTM.
    let lstm = nn::lstm(3, 4, Default::default(), vb.pp("lstm"))?;
    let lstm_out = lstm.states_to_tensor(&lstm.seq(&padded)?)?;
    assert_eq!(nn::last_states(&lstm_out, &Tensor::new(&[5u32, 2], &dev)?)?.dims(), &[2, 4]);
    let err = nn::last_states(&out, &Tensor::new(&[6u32, 2], &dev)?).expect_err("too long");
    assert!(err.to_string().contains("a length of 6 does not fit sequences of 5 steps"), "{err}");
    Ok(())
}

#[test]
fn a_padding_embedding_row_is_zero_and_gets_no_gradient() -> Result<()> {
    let _turn = take_turn();
    let dev = Device::Cpu;
    let varmap = VarMap::new();
    let emb = nn::embedding_with_padding(6, 3, 0, VarBuilder::from_varmap(&varmap, DType::F32, &dev).pp("emb"))?;
    let ids = Tensor::new(&[[2u32, 5, 0], [1, 0, 0]], &dev)?;
    let out = emb.forward(&ids)?;
    assert_eq!(out.dims(), &[2, 3, 3]);
    assert_eq!(out.get(1)?.get(2)?.to_vec1::<f32>()?, [0.0; 3]);
    assert_ne!(out.get(0)?.get(0)?.to_vec1::<f32>()?, [0.0; 3]);
    let vars = varmap.all_vars();
    let grads = out.sqr()?.sum_all()?.backward()?;
    let grad = grads.get(&vars[0]).expect("the table has a gradient").to_vec2::<f32>()?;
    assert_eq!(grad[0], [0.0; 3], "the padding row gets no gradient");
    assert_ne!(grad[2], [0.0; 3]);
    let err = emb.forward(&Tensor::new(&[9u32], &dev)?).expect_err("id out of range");
    assert!(err.to_string().contains("outside the embedding's vocabulary of 6"), "{err}");
    Ok(())
}

#[test]
fn moving_a_model_keeps_its_weights_and_its_layers_use_them() -> Result<()> {
    let _turn = take_turn();
    let mut model = mlp(12)?;
    model.eval();
    let x = Tensor::ones((2, 4), DType::F32, &Device::Cpu)?;
    let before = model.forward(&x)?.to_vec2::<f32>()?;
    let target = device_for("cpu")?;
    model.to_device(&target)?;
    assert!(model.device().same_device(&target));
    assert_eq!(model.forward(&x.to_device(&target)?)?.to_vec2::<f32>()?, before);
    // The rebuilt layers read the new variables: training after the move changes what they compute.
    let mut opt = Sgd::new(model.parameters(), 0.5)?;
    let loss = loss::cross_entropy(&model.forward(&x)?, &Tensor::new(&[0u32, 1], &target)?)?;
    opt.backward_step(&loss)?;
    assert_ne!(model.forward(&x)?.to_vec2::<f32>()?, before);
    Ok(())
}
