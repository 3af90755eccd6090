//! The prelude's `nn::linear` (a custom CPU op with a leaner backward) against Candle's own `Linear` on random
//! inputs: the same outputs and the same gradients, to 1e-5, for several shapes (odd sizes, one row, 3-D inputs),
//! with and without a bias, with the input as data (no gradient wanted) and as a tracked variable.

use candlelit::prelude::*;

fn max_gap(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    (a - b).and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()).expect("gap")
}

/// Output and gradients (input, weight, bias) of `layer` on `x`, with `x` tracked or not.
fn run(
    forward: &dyn Fn(&Tensor) -> Result<Tensor>,
    x: &Tensor,
    track_input: bool,
    params: &[&Var],
) -> Result<(Tensor, Option<Tensor>, Vec<Tensor>)> {
    let xv = Var::from_tensor(x)?;
    let input = if track_input { xv.as_tensor().clone() } else { x.clone() };
    let y = forward(&input)?;
    // A loss that weights every output differently, so a mixed-up gradient cannot cancel out.
    let weights = Tensor::arange(0f32, y.elem_count() as f32, &Device::Cpu)?
        .to_dtype(y.dtype())?
        .reshape(y.dims())?
        .affine(0.01, 0.5)?
        .sin()?;
    let grads = (&y * &weights)?.sum_all()?.backward()?;
    let dx = grads.get(&xv).cloned();
    let dparams = params.iter().map(|p| grads.get(p).cloned().expect("every parameter gets a gradient")).collect();
    Ok((y, dx, dparams))
}

#[test]
fn prelude_linear_matches_candle_linear_forward_and_backward() -> Result<()> {
    manual_seed(11);
    let cpu = Device::Cpu;
    let cases: [(&[usize], usize, bool, DType); 10] = [
        (&[64, 784], 128, true, DType::F32),
        // Large enough that every product is split over the threads (several per WORK_PER_THREAD of 2^23).
        (&[300, 784], 130, true, DType::F32),
        (&[601, 300], 129, true, DType::F64),
        (&[1, 5], 3, true, DType::F32),
        (&[7, 13], 9, false, DType::F32),
        (&[3, 4, 10], 6, true, DType::F32),
        (&[17, 1], 1, true, DType::F32),
        (&[33, 65], 31, true, DType::F64),
        (&[2, 3, 5, 8], 4, false, DType::F64),
        // An output of 17 MB: the system BLAS writes it with β = 0 instead of adding onto the zeros.
        (&[2048, 16], 2100, true, DType::F32),
    ];
    for (x_dims, out, bias, dtype) in cases {
        let inputs = *x_dims.last().expect("features");
        // A parameter's gradient sums over every row of the batch, in an order that depends on the threads: its
        // rounding grows with the square root of the rows (2048 rows: about 2e-4 in f32 where 4 rows give 1e-6).
        let rows = x_dims.iter().product::<usize>() / inputs;
        let gradient_tolerance = 1e-4_f64.max(1e-5 * (rows as f64).sqrt() * 2.0);
        // The input's gradient sums over the outputs the same way.
        let input_tolerance = 1e-4_f64.max(1e-5 * (out as f64).sqrt() * 2.0);
        let x = randn(x_dims, &cpu)?.to_dtype(dtype)?;
        let w = Var::from_tensor(&randn((out, inputs), &cpu)?.to_dtype(dtype)?)?;
        let b = Var::from_tensor(&randn(out, &cpu)?.to_dtype(dtype)?)?;
        let b_opt = bias.then(|| b.as_tensor().clone());
        let mine = nn::Linear::new(w.as_tensor().clone(), b_opt.clone());
        let reference = candle_nn::Linear::new(w.as_tensor().clone(), b_opt);
        let params: Vec<&Var> = if bias { vec![&w, &b] } else { vec![&w] };
        for track_input in [false, true] {
            let what = format!("x {x_dims:?} → {out}, bias {bias}, {dtype:?}, input tracked {track_input}");
            let (y1, dx1, dp1) = run(&|t| mine.forward(t), &x, track_input, &params)?;
            let (y2, dx2, dp2) = run(&|t| reference.forward(t), &x, track_input, &params)?;
            assert!(
                max_gap(&y1, &y2) <= 1e-5 * (inputs as f64).sqrt(),
                "{what}: outputs differ by {}",
                max_gap(&y1, &y2)
            );
            for (i, (a, b)) in dp1.iter().zip(&dp2).enumerate() {
                let gap = max_gap(a, b);
                assert!(gap <= gradient_tolerance, "{what}: gradient of parameter {i} differs by {gap}");
            }
            match (dx1, dx2) {
                (Some(a), Some(b)) => {
                    let gap = max_gap(&a, &b);
                    assert!(gap <= input_tolerance, "{what}: input gradients differ by {gap}");
                }
                (None, None) => assert!(!track_input, "{what}: a tracked input must get a gradient"),
                (a, b) => panic!("{what}: input gradient {} vs {}", a.is_some(), b.is_some()),
            }
        }
    }
    Ok(())
}

#[test]
fn prelude_linear_keeps_candle_names_and_refuses_wrong_widths_clearly() -> Result<()> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let fc = nn::linear(5, 2, vb.pp("fc"))?;
    let mut names: Vec<String> = varmap.data().lock().expect("varmap").keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["fc.bias", "fc.weight"]);
    let err = fc.forward(&Tensor::zeros((3, 4), DType::F32, &Device::Cpu)?).expect_err("4 features, not 5");
    let text = err.to_string();
    assert!(text.contains("shape mismatch") || text.contains("features"), "{text}");
    // Integer inputs take Candle's own path, which reports the dtype.
    assert!(fc.forward(&Tensor::zeros((3, 5), DType::U32, &Device::Cpu)?).is_err());
    // No bias: only the weight is created.
    let plain = nn::linear_no_bias(5, 2, vb.pp("plain"))?;
    assert!(plain.bias().is_none());
    assert_eq!(plain.forward(&Tensor::ones((1, 5), DType::F32, &Device::Cpu)?)?.dims(), &[1, 2]);
    Ok(())
}
