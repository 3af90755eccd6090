//! The prelude's CPU convolution, max-pooling, ReLU and batch-norm paths on random inputs, over odd sizes, paddings and
//! strides: outputs equal to Candle's ops, and gradients equal to plain-loop references (and to Candle's wherever
//! Candle's are right), to 1e-5 relative to the values' size.
//!
//! Two Candle 0.11 defects found on the way, pinned here: its max-pool gradient is the true one divided by `k²`,
//! and its conv2d backward fails with a shape error when the stride does not divide the padded input.

use candlelit::prelude::*;

/// A fixed, irregular upstream gradient for `y`: `r[i] = sin(0.618·i)`. Not from the prelude's generator, which the
/// tests of this file, running in parallel, would share.
fn upstream(y: &Tensor) -> Result<Tensor> {
    let r: Vec<f32> = (0..y.elem_count()).map(|i| (i as f32 * 0.618).sin()).collect();
    Tensor::from_vec(r, y.shape(), &Device::Cpu)
}

/// `Σ y·r`: a loss whose gradient with respect to `y` is `r = upstream(y)`, so every output matters.
fn weighted_sum(y: &Tensor) -> Result<Tensor> {
    (y * upstream(y)?)?.sum_all()
}

fn assert_close(ours: &Tensor, reference: &Tensor, what: &str) -> Result<()> {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shapes");
    let scale = reference.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
    let diff = (ours - reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(diff <= 1e-5 * scale, "{what}: differs by {diff} (values up to {scale})");
    Ok(())
}

/// Gradients of `weighted_sum(f(vars))` for each var, by name.
fn grads(vars: &[(&str, &Var)], y: &Tensor) -> Result<Vec<(String, Tensor)>> {
    let store = weighted_sum(y)?.backward()?;
    Ok(vars.iter().map(|(n, v)| (n.to_string(), store.get(v).expect("a gradient").clone())).collect())
}

type Dims4 = (usize, usize, usize, usize);

/// `(dx, dw)` of a convolution with upstream gradient `dy`, by the definition: every product `x·w` that made an
/// output sends that output's gradient back to both factors.
fn conv_grads_by_loops(x: &Tensor, w: &Tensor, dy: &Tensor, padding: usize, stride: usize) -> Result<(Tensor, Tensor)> {
    let ((n, c, h, wd), (o, _, k_h, k_w), (_, _, oh, ow)) = (x.dims4()?, w.dims4()?, dy.dims4()?);
    let (xv, wv, gv) =
        (x.flatten_all()?.to_vec1::<f32>()?, w.flatten_all()?.to_vec1::<f32>()?, dy.flatten_all()?.to_vec1::<f32>()?);
    let (mut dx, mut dw) = (vec![0f32; xv.len()], vec![0f32; wv.len()]);
    let at = |d: Dims4, i: Dims4| ((i.0 * d.1 + i.1) * d.2 + i.2) * d.3 + i.3;
    for img in 0..n {
        for oc in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let g = gv[at((n, o, oh, ow), (img, oc, oy, ox))];
                    for ci in 0..c {
                        for ky in 0..k_h {
                            for kx in 0..k_w {
                                let (iy, ix) = (
                                    (oy * stride + ky) as isize - padding as isize,
                                    (ox * stride + kx) as isize - padding as isize,
                                );
                                if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= wd {
                                    continue;
                                }
                                let xi = at((n, c, h, wd), (img, ci, iy as usize, ix as usize));
                                let wi = at((o, c, k_h, k_w), (oc, ci, ky, kx));
                                dx[xi] += wv[wi] * g;
                                dw[wi] += xv[xi] * g;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((Tensor::from_vec(dx, x.shape(), &Device::Cpu)?, Tensor::from_vec(dw, w.shape(), &Device::Cpu)?))
}

/// Max (`max`) or mean pooling of each `k×k` window, `s` apart, by the definition, and the gradient it sends back
/// for the upstream gradient `upstream(y)`: a window's maximum passes its gradient to the first of its largest
/// inputs, a window's mean `1/k²` of it to each input.
fn pool_by_loops(x: &Tensor, k: usize, s: usize, max: bool) -> Result<(Tensor, Tensor)> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
    let xv = x.flatten_all()?.to_vec1::<f32>()?;
    let mut yv = vec![0f32; n * c * oh * ow];
    let mut windows = Vec::new();
    for plane in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let window: Vec<usize> = (oy * s..oy * s + k)
                    .flat_map(|y| (ox * s..ox * s + k).map(move |xx| plane * h * w + y * w + xx))
                    .collect();
                let out = (plane * oh + oy) * ow + ox;
                yv[out] = if max {
                    window.iter().map(|&i| xv[i]).fold(f32::NEG_INFINITY, f32::max)
                } else {
                    window.iter().map(|&i| xv[i]).sum::<f32>() / (k * k) as f32
                };
                windows.push((out, window));
            }
        }
    }
    let y = Tensor::from_vec(yv, (n, c, oh, ow), &Device::Cpu)?;
    let gv = upstream(&y)?.flatten_all()?.to_vec1::<f32>()?;
    let mut dx = vec![0f32; xv.len()];
    for (out, window) in windows {
        if max {
            let first = window.iter().copied().fold(window[0], |best, i| if xv[i] > xv[best] { i } else { best });
            dx[first] += gv[out];
        } else {
            window.iter().for_each(|&i| dx[i] += gv[out] / (k * k) as f32);
        }
    }
    Ok((y, Tensor::from_vec(dx, x.shape(), &Device::Cpu)?))
}

#[test]
fn conv2d_matches_candle_forward_and_backward() -> Result<()> {
    let cases = [
        // (input (n, c, h, w), out channels, kernel, padding, stride, bias)
        ((2, 1, 28, 28), 8, 3, 1, 1, true),
        ((3, 3, 7, 9), 4, 3, 0, 2, true),
        ((1, 2, 5, 5), 3, 5, 2, 1, false),
        ((2, 4, 6, 6), 5, 2, 0, 2, true),
        ((1, 3, 9, 4), 2, 3, 1, 3, false),
        // 1×1 kernels: the image is its own patch matrix (stride 1), or every other pixel (stride 2).
        ((2, 5, 6, 7), 3, 1, 0, 1, true),
        ((2, 3, 5, 6), 4, 1, 0, 2, false),
        // More images than threads, so several images share a thread's weight-gradient sum.
        ((9, 3, 12, 11), 6, 3, 1, 1, true),
    ];
    for (case, &((n, c, h, w), o, k, padding, stride, bias)) in cases.iter().enumerate() {
        manual_seed(case as u64);
        let x = Var::from_tensor(&randn((n, c, h, w), &Device::Cpu)?)?;
        let weight = Var::from_tensor(&(randn((o, c, k, k), &Device::Cpu)? * 0.3)?)?;
        let b = Var::from_tensor(&randn(o, &Device::Cpu)?)?;
        let config = nn::Conv2dConfig { padding, stride, ..Default::default() };
        let bias_t = bias.then(|| b.as_tensor().clone());
        let ours = nn::Conv2d::new(weight.as_tensor().clone(), bias_t.clone(), config);
        let reference = candle_nn::Conv2d::new(weight.as_tensor().clone(), bias_t, config);
        let (y, y_ref) = (ours.forward(x.as_tensor())?, reference.forward(x.as_tensor())?);
        assert_close(&y, &y_ref, &format!("case {case}: output"))?;
        let mut vars = vec![("x", &x), ("weight", &weight)];
        if bias {
            vars.push(("bias", &b));
        }
        let ours = grads(&vars, &y)?;
        let dy = upstream(&y)?;
        let (dx, dw) = conv_grads_by_loops(x.as_tensor(), weight.as_tensor(), &dy, padding, stride)?;
        assert_close(&ours[0].1, &dx, &format!("case {case}: gradient of x against the loops"))?;
        assert_close(&ours[1].1, &dw, &format!("case {case}: gradient of the weight against the loops"))?;
        if bias {
            assert_close(&ours[2].1, &dy.sum((0, 2, 3))?, &format!("case {case}: gradient of the bias"))?;
        }
        match grads(&vars, &y_ref) {
            Ok(theirs) => {
                for ((name, g), (_, g_ref)) in ours.iter().zip(theirs.iter()) {
                    assert_close(g, g_ref, &format!("case {case}: gradient of {name} against Candle's"))?;
                }
            }
            // Candle's backward cannot do this geometry (the stride does not divide the padded input).
            Err(e) => assert!(
                stride > 1 && ((h + 2 * padding - k) % stride != 0 || (w + 2 * padding - k) % stride != 0),
                "case {case}: Candle failed: {e}"
            ),
        }
    }
    Ok(())
}

#[test]
fn conv2d_skips_the_input_gradient_for_data_and_keeps_candles_path_elsewhere() -> Result<()> {
    manual_seed(5);
    let x = randn((2, 3, 8, 8), &Device::Cpu)?; // data: no gradient wanted
    let weight = Var::from_tensor(&randn((4, 3, 3, 3), &Device::Cpu)?)?;
    let conv = nn::Conv2d::new(weight.as_tensor().clone(), None, nn::Conv2dConfig::default());
    let store = conv.forward(&x)?.sum_all()?.backward()?;
    assert!(store.get(&weight).is_some() && store.get(&x).is_none());
    // f64 and dilation go through Candle's own convolution and still agree with it.
    let dilated = nn::Conv2dConfig { dilation: 2, ..Default::default() };
    let w64 = weight.as_tensor().to_dtype(DType::F64)?;
    let x64 = x.to_dtype(DType::F64)?;
    for (config, w, x) in [(dilated, weight.as_tensor().clone(), x.clone()), (nn::Conv2dConfig::default(), w64, x64)] {
        let ours = nn::Conv2d::new(w.clone(), None, config).forward(&x)?;
        let reference = candle_nn::Conv2d::new(w, None, config).forward(&x)?;
        assert_close(&ours.to_dtype(DType::F32)?, &reference.to_dtype(DType::F32)?, "Candle's path")?;
    }
    Ok(())
}

#[test]
fn max_pool_and_relu_match_candle_forward_and_backward() -> Result<()> {
    for (case, &((n, c, h, w), k)) in
        [((2, 3, 8, 8), 2), ((1, 2, 7, 9), 2), ((2, 1, 6, 6), 3), ((1, 1, 5, 5), 5)].iter().enumerate()
    {
        manual_seed(10 + case as u64);
        let x = Var::from_tensor(&randn((n, c, h, w), &Device::Cpu)?)?;
        let (y, y_ref) = (nn::MaxPool2d::new(k).forward(x.as_tensor())?, x.as_tensor().max_pool2d(k)?);
        assert_close(&y, &y_ref, &format!("max-pool case {case}"))?;
        let g = grads(&[("x", &x)], &y)?;
        let expected = pool_by_loops(x.as_tensor(), k, k, true)?.1;
        assert_close(&g[0].1, &expected, &format!("max-pool case {case}: gradient"))?;
        // Whole numbers from -2 to 2: most windows hold ties, and the gradient goes to the first largest.
        let ties = Var::from_tensor(&(x.as_tensor() * 1.2)?.round()?.clamp(-2f32, 2f32)?)?;
        let y_ties = nn::MaxPool2d::new(k).forward(ties.as_tensor())?;
        let expected_ties = pool_by_loops(ties.as_tensor(), k, k, true)?.1;
        let g_ties = grads(&[("ties", &ties)], &y_ties)?;
        assert_close(&g_ties[0].1, &expected_ties, &format!("max-pool case {case}: ties"))?;
        if h % k == 0 && w % k == 0 {
            // Candle's own gradient is the true one divided by k² (Candle 0.11): pinned, so an upgrade that fixes
            // it is noticed.
            let candle = grads(&[("x", &x)], &y_ref)?;
            assert_close(&(&candle[0].1 * (k * k) as f64)?, &expected, &format!("max-pool case {case}: Candle × k²"))?;
        }

        // ReLU, on a contiguous input and on a transposed (strided) view of it.
        for view in [x.as_tensor().clone(), x.as_tensor().transpose(2, 3)?] {
            let (y, y_ref) = (nn::Relu.forward(&view)?, view.relu()?);
            assert_close(&y, &y_ref, &format!("relu case {case}"))?;
            let (g, g_ref) = (grads(&[("x", &x)], &y)?, grads(&[("x", &x)], &y_ref)?);
            assert_close(&g[0].1, &g_ref[0].1, &format!("relu case {case}: gradient"))?;
        }
    }
    Ok(())
}

/// A tensor large enough (320,000 values) that ReLU splits its passes over the threads: the same values and
/// gradients as Candle's.
#[test]
fn relu_on_a_large_tensor_matches_candle() -> Result<()> {
    let values: Vec<f32> = (0..4 * 8 * 100 * 100).map(|i| (i as f32 * 0.37).sin()).collect();
    let x = Var::from_tensor(&Tensor::from_vec(values, (4, 8, 100, 100), &Device::Cpu)?)?;
    let (y, y_ref) = (nn::Relu.forward(x.as_tensor())?, x.as_tensor().relu()?);
    assert_close(&y, &y_ref, "large relu")?;
    let (g, g_ref) = (grads(&[("x", &x)], &y)?, grads(&[("x", &x)], &y_ref)?);
    assert_close(&g[0].1, &g_ref[0].1, "large relu: gradient")
}

#[test]
fn pooling_with_a_stride_other_than_the_window_matches_the_definition() -> Result<()> {
    for (case, &(k, stride)) in [(3, 1), (3, 2), (2, 1), (2, 3)].iter().enumerate() {
        manual_seed(40 + case as u64);
        let x = Var::from_tensor(&randn((2, 3, 7, 8), &Device::Cpu)?)?;
        for max in [true, false] {
            let what = format!("{} pool {k}×{k}, stride {stride}", if max { "max" } else { "average" });
            let y = if max {
                nn::MaxPool2d::new(k).stride(stride).forward(x.as_tensor())?
            } else {
                nn::AvgPool2d::new(k).stride(stride).forward(x.as_tensor())?
            };
            let (y_ref, dx_ref) = pool_by_loops(x.as_tensor(), k, stride, max)?;
            assert_close(&y, &y_ref, &what)?;
            assert_close(&grads(&[("x", &x)], &y)?[0].1, &dx_ref, &format!("{what}: gradient"))?;
        }
    }
    Ok(())
}

#[test]
fn global_average_pooling_averages_each_channel_and_spreads_its_gradient() -> Result<()> {
    manual_seed(50);
    let x = Var::from_tensor(&randn((2, 3, 5, 7), &Device::Cpu)?)?;
    let y = nn::GlobalAvgPool2d.forward(x.as_tensor())?;
    assert_eq!(y.dims(), &[2, 3, 1, 1]);
    let means = x.as_tensor().flatten_from(2)?.mean(2)?.reshape((2, 3, 1, 1))?;
    assert_close(&y, &means, "the channel means")?;
    let dx = &grads(&[("x", &x)], &y)?[0].1;
    let dy = upstream(&y)?.broadcast_as(x.shape())?.contiguous()?;
    assert_close(dx, &(dy / 35.0)?, "each pixel gets 1/35 of its channel's gradient")?;
    Ok(())
}

#[test]
fn pooling_layers_say_what_is_wrong_with_their_input() {
    let image = Tensor::zeros((1, 1, 4, 4), DType::F32, &Device::Cpu).expect("zeros");
    let err = nn::MaxPool2d::new(2).stride(0).forward(&image).expect_err("stride 0");
    assert!(err.to_string().contains("the stride (0) must"), "{err}");
    let err = nn::AvgPool2d::new(5).forward(&image).expect_err("window too large");
    assert!(err.to_string().contains("at least 5×5, got 4×4"), "{err}");
    let flat = Tensor::zeros((4, 4), DType::F32, &Device::Cpu).expect("zeros");
    let err = nn::GlobalAvgPool2d.forward(&flat).expect_err("not a batch of images");
    assert!(err.to_string().contains("unsqueeze(0)"), "{err}");
}

/// A batch norm layer of the prelude and Candle's own with equal parameters and running statistics, over `c`
/// channels: `(ours, Candle's, weight, bias)`.
fn batch_norm_pair(c: usize) -> Result<(candle_nn::BatchNorm, candle_nn::BatchNorm, Var, Var)> {
    let weight = Var::from_tensor(&(randn(c, &Device::Cpu)? + 1.0)?)?;
    let bias = Var::from_tensor(&randn(c, &Device::Cpu)?)?;
    let (mean, var) = (randn(c, &Device::Cpu)?, (rand(c, &Device::Cpu)? + 0.5)?);
    let make = || {
        // Separate copies of the running statistics, so that each layer updates its own.
        let (m, v) = (mean.copy()?.detach(), var.copy()?.detach());
        candle_nn::BatchNorm::new(c, m, v, weight.as_tensor().clone(), bias.as_tensor().clone(), 1e-5)
    };
    Ok((make()?, make()?, weight, bias))
}

#[test]
fn batch_norm_matches_candle_in_training_and_evaluation() -> Result<()> {
    // Images (the CNN's BatchNorm2d), feature vectors and sequences (BatchNorm1d), one channel, strided input.
    let cases: [&[usize]; 5] = [&[8, 32, 14, 14], &[5, 3, 7, 9], &[16, 10], &[4, 6, 11], &[3, 1, 5, 5]];
    for (case, &shape) in cases.iter().enumerate() {
        manual_seed(40 + case as u64);
        let c = shape[1];
        let (ours, reference, weight, bias) = batch_norm_pair(c)?;
        // Case 1 reads its input through a transposed (non-contiguous) view of the variable.
        let strided = case == 1;
        let stored: Vec<usize> = if strided { vec![shape[0], c, shape[3], shape[2]] } else { shape.to_vec() };
        let x = Var::from_tensor(&randn(stored, &Device::Cpu)?.affine(3.0, 2.0)?)?;
        let input = if strided { x.transpose(2, 3)? } else { x.as_tensor().clone() };
        assert_eq!(input.is_contiguous(), !strided);
        let (bn1, bn2) = (nn::BatchNorm1d(ours.clone()), nn::BatchNorm2d(ours.clone()));
        let run =
            |train: bool| if shape.len() == 4 { bn2.forward_t(&input, train) } else { bn1.forward_t(&input, train) };
        let vars = [("x", &x), ("weight", &weight), ("bias", &bias)];
        for step in 0..2 {
            let (y, y_ref) = (run(true)?, reference.forward_t(&input, true)?);
            assert_close(&y, &y_ref, &format!("case {case} step {step}: training output"))?;
            for ((name, g), (_, g_ref)) in grads(&vars, &y)?.iter().zip(grads(&vars, &y_ref)?.iter()) {
                assert_close(g, g_ref, &format!("case {case} step {step}: training gradient of {name}"))?;
            }
            assert_close(ours.running_mean(), reference.running_mean(), &format!("case {case}: running mean"))?;
            assert_close(ours.running_var(), reference.running_var(), &format!("case {case}: running variance"))?;
        }
        let (y, y_ref) = (run(false)?, reference.forward_t(&input, false)?);
        assert_close(&y, &y_ref, &format!("case {case}: evaluation output"))?;
        for ((name, g), (_, g_ref)) in grads(&vars, &y)?.iter().zip(grads(&vars, &y_ref)?.iter()) {
            assert_close(g, g_ref, &format!("case {case}: evaluation gradient of {name}"))?;
        }
    }
    Ok(())
}

#[test]
fn batch_norm_on_data_gives_no_input_gradient_and_the_parameters_theirs() -> Result<()> {
    manual_seed(50);
    let (ours, reference, weight, bias) = batch_norm_pair(4)?;
    let x = randn((6, 4, 3, 3), &Device::Cpu)?;
    let y = nn::BatchNorm2d(ours).forward_t(&x, true)?;
    let store = weighted_sum(&y)?.backward()?;
    assert!(store.get(&x).is_none(), "data has no gradient");
    let store_ref = weighted_sum(&reference.forward_t(&x, true)?)?.backward()?;
    for (name, v) in [("weight", &weight), ("bias", &bias)] {
        let (g, g_ref) = (store.get(v).expect("a gradient"), store_ref.get(v).expect("a gradient"));
        assert_close(g, g_ref, &format!("gradient of the {name}"))?;
    }
    Ok(())
}
