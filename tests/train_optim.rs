//! Optimizers and learning-rate schedulers against PyTorch's numbers on a fixed problem. The constants were
//! printed by `tests/reference/optim_reference.py` (PyTorch 2.15, float32): parameters after each of 5 steps,
//! `W` (2×3, row by row) then `b` (2), and the learning rate in force for each of 12 epochs.
// The constants are pasted as the reference script printed them.
#![allow(clippy::excessive_precision)]

use candlelit::prelude::*;

const TOLERANCE: f32 = 1e-5;
const SGD: [[f32; 8]; 5] = [
    [
        6.15374982e-01,
        -8.01874995e-01,
        1.93187490e-01,
        1.28345001e+00,
        1.29350021e-01,
        -5.67775011e-01,
        2.21874997e-01,
        -2.39749998e-01,
    ],
    [
        6.85367525e-01,
        -6.51589751e-01,
        1.51879564e-01,
        1.12533438e+00,
        8.63735750e-03,
        -4.60068822e-01,
        3.10567975e-01,
        -2.52161950e-01,
    ],
    [
        7.24157512e-01,
        -5.35741508e-01,
        1.21552713e-01,
        1.00907087e+00,
        -7.68864006e-02,
        -3.71056765e-01,
        3.75442863e-01,
        -2.46770665e-01,
    ],
    [
        7.41695642e-01,
        -4.44819540e-01,
        9.90221277e-02,
        9.22886372e-01,
        -1.37624219e-01,
        -2.96493739e-01,
        4.23152328e-01,
        -2.30162993e-01,
    ],
    [
        7.44950771e-01,
        -3.72065097e-01,
        8.20465535e-02,
        8.58410120e-01,
        -1.80911794e-01,
        -2.33262748e-01,
        4.58430231e-01,
        -2.06858143e-01,
    ],
];
const SGD_MOMENTUM: [[f32; 8]; 5] = [
    [
        6.14875019e-01,
        -8.00875008e-01,
        1.92937493e-01,
        1.28195000e+00,
        1.29050016e-01,
        -5.67075014e-01,
        2.21774995e-01,
        -2.39549994e-01,
    ],
    [
        7.80697584e-01,
        -4.85768825e-01,
        1.04269229e-01,
        9.42511797e-01,
        -1.33397684e-01,
        -3.50107700e-01,
        4.10965621e-01,
        -2.86030620e-01,
    ],
    [
        9.30228055e-01,
        -1.33305281e-01,
        8.74075014e-03,
        5.75730443e-01,
        -4.08797801e-01,
        -9.28581506e-02,
        6.14469469e-01,
        -3.02069306e-01,
    ],
    [
        1.00158525e+00,
        1.81254491e-01,
        -7.02536628e-02,
        2.71316379e-01,
        -6.23264074e-01,
        1.60971880e-01,
        7.81538725e-01,
        -2.55113900e-01,
    ],
    [
        9.56297815e-01,
        4.03855205e-01,
        -1.16569921e-01,
        9.25555155e-02,
        -7.26818979e-01,
        3.76185179e-01,
        8.76241148e-01,
        -1.29017428e-01,
    ],
];
const SGD_NESTEROV: [[f32; 8]; 5] = [
    [
        7.18262494e-01,
        -6.21662498e-01,
        1.41581237e-01,
        1.08570504e+00,
        -2.48049907e-02,
        -4.47442502e-01,
        3.31372499e-01,
        -2.75144994e-01,
    ],
    [
        8.65309000e-01,
        -2.55790263e-01,
        4.32748348e-02,
        7.07586110e-01,
        -3.06527346e-01,
        -1.76654264e-01,
        5.41031897e-01,
        -2.83213437e-01,
    ],
    [
        8.89746547e-01,
        2.60448195e-02,
        -2.35517658e-02,
        4.49689537e-01,
        -4.78787065e-01,
        6.58163577e-02,
        6.81253374e-01,
        -2.02523068e-01,
    ],
    [
        7.94831812e-01,
        2.04381138e-01,
        -5.49272560e-02,
        3.31272781e-01,
        -5.32412112e-01,
        2.56730586e-01,
        7.40763068e-01,
        -4.76422310e-02,
    ],
    [
        6.20142698e-01,
        2.96391547e-01,
        -5.86940870e-02,
        3.26037735e-01,
        -4.97279853e-01,
        3.91165912e-01,
        7.33981192e-01,
        1.44566193e-01,
    ],
];
const ADAM: [[f32; 8]; 5] = [
    [
        5.50000012e-01,
        -9.49999988e-01,
        2.00000003e-01,
        1.45000005e+00,
        2.50000000e-01,
        -6.49999976e-01,
        1.49999991e-01,
        -2.50000000e-01,
    ],
    [
        5.99613309e-01,
        -9.00166392e-01,
        1.50258526e-01,
        1.40015376e+00,
        2.00205356e-01,
        -6.00083828e-01,
        1.99822649e-01,
        -2.98957527e-01,
    ],
    [
        6.48460150e-01,
        -8.50634575e-01,
        1.01004921e-01,
        1.35058403e+00,
        1.50788724e-01,
        -5.50314248e-01,
        2.49321967e-01,
        -3.45466584e-01,
    ],
    [
        6.96034729e-01,
        -8.01560521e-01,
        5.25214076e-02,
        1.30142975e+00,
        1.01951942e-01,
        -5.00759661e-01,
        2.98328012e-01,
        -3.87248784e-01,
    ],
    [
        7.41676092e-01,
        -7.53121793e-01,
        5.15042618e-03,
        1.25284410e+00,
        5.39239980e-02,
        -4.51495290e-01,
        3.46645057e-01,
        -4.21146035e-01,
    ],
];
const ADAM_AMSGRAD: [[f32; 8]; 5] = [
    [
        5.50000012e-01,
        -9.49999988e-01,
        2.00000003e-01,
        1.45000005e+00,
        2.50000000e-01,
        -6.49999976e-01,
        1.50000006e-01,
        -2.50000000e-01,
    ],
    [
        5.99395990e-01,
        -9.00287747e-01,
        1.50424555e-01,
        1.40026844e+00,
        2.00346336e-01,
        -6.00153089e-01,
        1.99698061e-01,
        -2.98551977e-01,
    ],
    [
        6.47627175e-01,
        -8.51089537e-01,
        1.01633735e-01,
        1.35101306e+00,
        1.51318848e-01,
        -5.50571144e-01,
        2.48854473e-01,
        -3.43861461e-01,
    ],
    [
        6.93984270e-01,
        -8.02656353e-01,
        5.40511347e-02,
        1.30245996e+00,
        1.03230760e-01,
        -5.01373231e-01,
        2.97200948e-01,
        -3.83216023e-01,
    ],
    [
        7.37592280e-01,
        -7.55261004e-01,
        8.16388428e-03,
        1.25484633e+00,
        5.64181581e-02,
        -4.52686191e-01,
        3.44442785e-01,
        -4.12978023e-01,
    ],
];
const ADAMW: [[f32; 8]; 5] = [
    [
        5.47500014e-01,
        -9.44999993e-01,
        1.98750004e-01,
        1.44250011e+00,
        2.48500004e-01,
        -6.46499991e-01,
        1.49499997e-01,
        -2.48999998e-01,
    ],
    [
        5.94379187e-01,
        -8.90448153e-01,
        1.48025900e-01,
        1.38545990e+00,
        1.97478250e-01,
        -5.93360901e-01,
        1.98572651e-01,
        -2.96663195e-01,
    ],
    [
        6.40269756e-01,
        -8.36482346e-01,
        9.80636179e-02,
        1.32901609e+00,
        1.47118375e-01,
        -5.40650606e-01,
        2.47073412e-01,
        -3.41515899e-01,
    ],
    [
        6.84688807e-01,
        -7.83260345e-01,
        4.91522253e-02,
        1.27332318e+00,
        9.76346582e-02,
        -4.88443166e-01,
        2.94835776e-01,
        -3.81177932e-01,
    ],
    [
        7.27014244e-01,
        -7.30960667e-01,
        1.64074451e-03,
        1.21855247e+00,
        4.92693745e-02,
        -4.36819732e-01,
        3.41669947e-01,
        -4.12403822e-01,
    ],
];
const RMSPROP: [[f32; 8]; 5] = [
    [
        6.00000024e-01,
        -8.99999976e-01,
        1.50000021e-01,
        1.39999998e+00,
        2.00000018e-01,
        -6.00000024e-01,
        1.99999988e-01,
        -2.99999952e-01,
    ],
    [
        6.57306612e-01,
        -8.36016417e-01,
        8.89808685e-02,
        1.33558512e+00,
        1.37302965e-01,
        -5.32934248e-01,
        2.63669342e-01,
        -3.41422945e-01,
    ],
    [
        6.96331441e-01,
        -7.87111700e-01,
        4.42557409e-02,
        1.28596258e+00,
        8.99368376e-02,
        -4.80066359e-01,
        3.12081665e-01,
        -3.56219023e-01,
    ],
    [
        7.24234700e-01,
        -7.46986568e-01,
        9.08694789e-03,
        1.24485767e+00,
        5.13087660e-02,
        -4.35624450e-01,
        3.51571918e-01,
        -3.54816526e-01,
    ],
    [
        7.44303942e-01,
        -7.12758601e-01,
        -1.96130089e-02,
        1.20940673e+00,
        1.84043646e-02,
        -3.96957010e-01,
        3.85037124e-01,
        -3.43229681e-01,
    ],
];
const RMSPROP_CENTERED: [[f32; 8]; 5] = [
    [
        5.33333361e-01,
        -9.66666639e-01,
        2.16666669e-01,
        1.46666670e+00,
        2.66666681e-01,
        -6.66666627e-01,
        1.33333340e-01,
        -2.33333334e-01,
    ],
    [
        5.74144065e-01,
        -9.25233126e-01,
        1.75518215e-01,
        1.42518973e+00,
        2.25359336e-01,
        -6.24926090e-01,
        1.74730480e-01,
        -2.72882432e-01,
    ],
    [
        6.14092350e-01,
        -8.83547306e-01,
        1.34612754e-01,
        1.38338423e+00,
        1.84010774e-01,
        -5.82428753e-01,
        2.16316074e-01,
        -3.09057921e-01,
    ],
    [
        6.50480866e-01,
        -8.43952000e-01,
        9.64261964e-02,
        1.34356821e+00,
        1.45002201e-01,
        -5.41427851e-01,
        2.55728155e-01,
        -3.38034242e-01,
    ],
    [
        6.82595134e-01,
        -8.06860685e-01,
        6.14695139e-02,
        1.30612957e+00,
        1.08753346e-01,
        -5.02304316e-01,
        2.92536467e-01,
        -3.58200759e-01,
    ],
];
const STEP_LR: [f64; 12] = [
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    5.000000000000e-02,
    5.000000000000e-02,
    5.000000000000e-02,
    2.500000000000e-02,
    2.500000000000e-02,
    2.500000000000e-02,
    1.250000000000e-02,
    1.250000000000e-02,
    1.250000000000e-02,
];
const EXPONENTIAL_LR: [f64; 12] = [
    1.000000000000e-01,
    9.000000000000e-02,
    8.100000000000e-02,
    7.290000000000e-02,
    6.561000000000e-02,
    5.904900000000e-02,
    5.314410000000e-02,
    4.782969000000e-02,
    4.304672100000e-02,
    3.874204890000e-02,
    3.486784401000e-02,
    3.138105960900e-02,
];
const COSINE_LR: [f64; 12] = [
    1.000000000000e-01,
    9.757729755661e-02,
    9.054634122156e-02,
    7.959536998848e-02,
    6.579634122156e-02,
    5.050000000000e-02,
    3.520365877844e-02,
    2.140463001152e-02,
    1.045365877844e-02,
    3.422702443390e-03,
    1.000000000000e-03,
    3.422702443390e-03,
];
const LINEAR_LR: [f64; 12] = [
    1.000000000000e-02,
    3.250000000000e-02,
    5.500000000000e-02,
    7.750000000000e-02,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
];
const WARMUP_COSINE_LR: [f64; 12] = [
    1.000000000000e-02,
    4.000000000000e-02,
    7.000000000000e-02,
    1.000000000000e-01,
    9.619397662556e-02,
    8.535533905933e-02,
    6.913417161825e-02,
    5.000000000000e-02,
    3.086582838175e-02,
    1.464466094067e-02,
    3.806023374436e-03,
    0.000000000000e+00,
];
const PLATEAU_LR: [f64; 12] = [
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    1.000000000000e-01,
    5.000000000000e-02,
    5.000000000000e-02,
    5.000000000000e-02,
    5.000000000000e-02,
    2.500000000000e-02,
    2.500000000000e-02,
    2.500000000000e-02,
];

/// Runs 5 steps of `opt` on the reference problem, `loss = mean((x Wᵀ + b − y)²)`, and returns the parameters
/// after each step.
fn run<O: Optimizer>(make: impl FnOnce(Vec<Var>) -> Result<O>) -> Result<Vec<Vec<f32>>> {
    let dev = Device::Cpu;
    let w = Var::new(&[[0.5f32, -1.0, 0.25], [1.5, 0.3, -0.7]], &dev)?;
    let b = Var::new(&[0.1f32, -0.2], &dev)?;
    let x = Tensor::new(&[[1f32, 2.0, -1.0], [0.5, -0.3, 0.8], [-1.2, 0.4, 0.9], [2.0, 1.0, 0.0]], &dev)?;
    let y = Tensor::new(&[[1f32, 0.0], [0.0, 1.0], [0.5, -0.5], [2.0, 1.0]], &dev)?;
    let mut opt = make(vec![w.clone(), b.clone()])?;
    let mut rows = Vec::new();
    for _ in 0..5 {
        let loss = x.matmul(&w.as_tensor().t()?)?.broadcast_add(b.as_tensor())?.sub(&y)?.sqr()?.mean_all()?;
        opt.backward_step(&loss)?;
        let mut row = w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        row.extend(b.as_tensor().to_vec1::<f32>()?);
        rows.push(row);
    }
    Ok(rows)
}

fn assert_matches(name: &str, got: &[Vec<f32>], expected: &[[f32; 8]; 5]) {
    for (step, (g, e)) in got.iter().zip(expected).enumerate() {
        for (i, (a, b)) in g.iter().zip(e).enumerate() {
            assert!((a - b).abs() <= TOLERANCE, "{name}: step {} parameter {i}: got {a}, PyTorch {b}", step + 1);
        }
    }
}

#[test]
fn sgd_matches_pytorch() -> Result<()> {
    assert_matches("SGD", &run(|v| Sgd::new(v, 0.1))?, &SGD);
    assert_matches(
        "SGD momentum",
        &run(|v| Ok(Sgd::new(v, 0.1)?.momentum(0.9).dampening(0.1).weight_decay(0.01)))?,
        &SGD_MOMENTUM,
    );
    assert_matches(
        "SGD Nesterov",
        &run(|v| Ok(Sgd::new(v, 0.1)?.momentum(0.9).nesterov(true).weight_decay(0.01)))?,
        &SGD_NESTEROV,
    );
    Ok(())
}

#[test]
fn adam_and_adamw_match_pytorch() -> Result<()> {
    assert_matches("Adam", &run(|v| Ok(Adam::new(v, 0.05)?.weight_decay(0.01)))?, &ADAM);
    assert_matches("Adam AMSGrad", &run(|v| Ok(Adam::new(v, 0.05)?.betas(0.8, 0.99).amsgrad(true)))?, &ADAM_AMSGRAD);
    assert_matches("AdamW", &run(|v| Ok(AdamW::new(v, 0.05)?.weight_decay(0.1)))?, &ADAMW);
    Ok(())
}

#[test]
fn rmsprop_matches_pytorch() -> Result<()> {
    assert_matches("RMSprop", &run(|v| RmsProp::new(v, 0.01))?, &RMSPROP);
    assert_matches(
        "RMSprop centred",
        &run(|v| Ok(RmsProp::new(v, 0.01)?.alpha(0.9).momentum(0.5).centered(true).weight_decay(0.01)))?,
        &RMSPROP_CENTERED,
    );
    Ok(())
}

#[test]
fn nesterov_without_momentum_is_an_error_that_says_why() -> Result<()> {
    let err = run(|v| Ok(Sgd::new(v, 0.1)?.nesterov(true))).expect_err("nesterov needs momentum");
    assert!(err.to_string().contains("Nesterov momentum needs a momentum"), "{err}");
    assert!(Sgd::new(vec![], -1.0).is_err(), "a negative learning rate is refused");
    Ok(())
}

fn lrs(schedule: impl LrSchedule) -> Result<Vec<f64>> {
    let mut opt = Sgd::new(vec![Var::new(&[0f32], &Device::Cpu)?], 0.1)?;
    let mut sched = Scheduler::new(&mut opt, schedule);
    let mut out = Vec::new();
    for _ in 0..12 {
        out.push(opt.learning_rate());
        sched.step(&mut opt);
    }
    Ok(out)
}

fn assert_lrs(name: &str, got: &[f64], expected: &[f64; 12]) {
    for (epoch, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= 1e-5 * e.abs().max(1e-3), "{name}: epoch {epoch}: got {g}, PyTorch {e}");
    }
}

#[test]
fn schedulers_match_pytorch() -> Result<()> {
    assert_lrs("StepLR", &lrs(StepLr::new(3, 0.5))?, &STEP_LR);
    assert_lrs("ExponentialLR", &lrs(ExponentialLr::new(0.9))?, &EXPONENTIAL_LR);
    assert_lrs("CosineAnnealingLR", &lrs(CosineAnnealingLr::new(10, 0.001))?, &COSINE_LR);
    assert_lrs("LinearLR", &lrs(LinearLr::new(0.1, 1.0, 4))?, &LINEAR_LR);
    assert_lrs("warm-up then cosine", &lrs(CosineAnnealingLr::new(8, 0.0).after_warmup(3, 0.1))?, &WARMUP_COSINE_LR);
    Ok(())
}

#[test]
fn reduce_on_plateau_matches_pytorch() -> Result<()> {
    let metrics = [1.0, 0.8, 0.81, 0.8, 0.79999, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75, 0.76];
    let mut opt = Sgd::new(vec![Var::new(&[0f32], &Device::Cpu)?], 0.1)?;
    let mut plateau = ReduceLrOnPlateau::new(Goal::Minimize).factor(0.5).patience(2).cooldown(1);
    let mut got = Vec::new();
    for metric in metrics {
        got.push(opt.learning_rate());
        plateau.step(metric, &mut opt);
    }
    assert_lrs("ReduceLROnPlateau", &got, &PLATEAU_LR);
    Ok(())
}

/// An optimizer's state must not remember how it was computed: with a loss whose gradient depends on the weights
/// themselves (an L2 penalty) or with `weight_decay` added to the gradient, a buffer that kept its autograd record
/// would link every step to the one before, and memory would grow with each batch (a Day 6 run reached 21 GB).
#[test]
fn optimizer_state_keeps_no_autograd_history() -> Result<()> {
    let states = [
        ("Adam", after_penalised_steps(|vars| Ok(Adam::new(vars, 0.1)?.weight_decay(0.01)))?),
        ("AdamW", after_penalised_steps(|vars| Ok(AdamW::new(vars, 0.1)?.weight_decay(0.01)))?),
        ("Sgd with momentum", after_penalised_steps(|vars| Ok(Sgd::new(vars, 0.1)?.momentum(0.9).weight_decay(0.01)))?),
        ("RmsProp", after_penalised_steps(|vars| Ok(RmsProp::new(vars, 0.01)?.momentum(0.9).weight_decay(0.01)))?),
    ];
    for (name, state) in states {
        assert!(state.iter().any(|(n, _)| !n.ends_with(".step")), "{name} keeps buffers: {state:?}");
        for (buffer, tensor) in state {
            assert!(!tensor.track_op(), "{name}: buffer {buffer} still carries an autograd record");
        }
    }
    Ok(())
}

/// The optimizer's state after three steps on a loss with an L2 penalty on its one weight matrix.
fn after_penalised_steps<O: Optimizer + OptimizerState>(
    make: impl FnOnce(Vec<Var>) -> Result<O>,
) -> Result<Vec<(String, Tensor)>> {
    let w = Var::new(&[[0.5f32, -1.0], [2.0, 0.25]], &Device::Cpu)?;
    let x = Tensor::new(&[[1f32, 2.0]], &Device::Cpu)?;
    let mut opt = make(vec![w.clone()])?;
    for _ in 0..3 {
        let loss = (x.matmul(w.as_tensor())?.sum_all()? + (w.as_tensor().sqr()?.sum_all()? * 0.01)?)?;
        opt.backward_step(&loss)?;
    }
    opt.state_tensors()
}

#[test]
fn any_optimizer_steps_like_the_optimizer_inside_and_checkpoints_its_state() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    let start = Tensor::new(&[1.0f32, -2.0, 3.0], &Device::Cpu)?;
    let loss_of = |w: &Var| -> Result<Tensor> { w.as_tensor().sqr()?.sum_all() };
    let (plain, wrapped) = (Var::from_tensor(&start)?, Var::from_tensor(&start)?);
    let mut adam = Adam::new(vec![plain.clone()], 0.1)?.weight_decay(0.01);
    let mut any = AnyOptimizer::new(Adam::new(vec![wrapped.clone()], 0.1)?.weight_decay(0.01));
    for _ in 0..5 {
        adam.backward_step(&loss_of(&plain)?)?;
        any.backward_step(&loss_of(&wrapped)?)?;
    }
    assert_eq!(plain.to_vec1::<f32>()?, wrapped.to_vec1::<f32>()?, "five identical Adam steps");
    any.set_learning_rate(0.05);
    assert_eq!(any.learning_rate(), 0.05);
    assert_eq!(format!("{any:?}"), "AnyOptimizer(Adam, lr 0.05)");

    let path = dir.path().join("any.safetensors");
    let model = candle_nn::VarMap::new();
    model.data().lock().map_err(|e| candle::Error::Msg(e.to_string()))?.insert("w".into(), wrapped.clone());
    Checkpoint::new(5).save(&path, &model, &any)?;
    let mut fresh = AnyOptimizer::new(Adam::new(vec![wrapped.clone()], 0.05)?.weight_decay(0.01));
    Checkpoint::load(&path, &model, &mut fresh)?;
    let (a, b) = (any.state_tensors()?, fresh.state_tensors()?);
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        let values = |t: &Tensor| -> Result<Vec<f64>> { t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>() };
        assert_eq!(values(ta)?, values(tb)?, "{na}");
    }
    let err = <AnyOptimizer as Optimizer>::new(vec![], ()).expect_err("no settings of its own");
    assert!(err.to_string().contains("AnyOptimizer::new(Adam::new("), "{err}");
    Ok(())
}
