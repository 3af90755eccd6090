//! The prelude's CPU cross-entropy against Candle's `log_softmax` + `nll`: the loss and the gradient of the logits
//! for several shapes, a strided input, confident logits and every target dtype; and its errors.

use candlelit::prelude::*;

/// The loss and the logits' gradient, by the prelude and by Candle, for the same values.
fn both(logits: &Tensor, targets: &Tensor) -> Result<((f32, Tensor), (f32, Tensor))> {
    let mut out = Vec::new();
    for candle_path in [false, true] {
        let var = Var::from_tensor(&logits.contiguous()?)?;
        // The same values through the same layout as `logits` (a transpose stays a transpose).
        let input =
            if logits.is_contiguous() { var.as_tensor().clone() } else { var.as_tensor().t()?.contiguous()?.t()? };
        let l = if candle_path {
            candle_nn::loss::cross_entropy(&input, targets)?
        } else {
            loss::cross_entropy(&input, targets)?
        };
        let grad = l.backward()?.get(var.as_tensor()).cloned().expect("the logits get a gradient");
        out.push((l.to_scalar::<f32>()?, grad));
    }
    let candle = out.pop().expect("two runs");
    Ok((out.pop().expect("two runs"), candle))
}

fn largest_difference(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
}

#[test]
fn loss_and_gradient_match_candles_for_every_shape_and_target_dtype() -> Result<()> {
    manual_seed(0);
    for (rows, classes, spread) in
        [(1, 1, 1.0), (1, 3, 1.0), (7, 5, 1.0), (40, 17, 3.0), (2048, 500, 1.0), (64, 200, 1.0), (9, 4, 300.0)]
    {
        let logits = (randn((rows, classes), &Device::Cpu)? * spread)?;
        let targets = randint(0, classes as u32, rows, &Device::Cpu)?;
        let mut dtypes = vec![targets.clone(), targets.to_dtype(DType::I64)?];
        if classes <= 256 {
            dtypes.push(targets.to_dtype(DType::U8)?);
        }
        for t in dtypes {
            let ((mine, my_grad), (want, want_grad)) = both(&logits, &t)?;
            assert!(
                (mine - want).abs() <= 1e-5 * want.abs().max(1.0),
                "({rows}, {classes}) ×{spread}: {mine} vs {want}"
            );
            let exact = exact(&logits, &t)?;
            assert!(
                (f64::from(mine) - exact).abs() <= 1e-6 * exact.abs().max(1.0),
                "({rows}, {classes}): {mine} vs {exact}"
            );
            // Against the exact gradient, ours is tight; Candle's own gradient goes through `x - logsumexp` in f32,
            // which loses about ε·|x| once logits are large, so the comparison with it allows for that.
            let from_exact = largest_difference_f64(&my_grad, &exact_gradient(&logits, &t)?)?;
            assert!(from_exact < 1e-6, "({rows}, {classes}) ×{spread}: gradient off the exact one by {from_exact}");
            let largest_logit = logits.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
            let candle_slack = (4.0 * f32::EPSILON * largest_logit).max(1e-6);
            let diff = largest_difference(&my_grad, &want_grad)?;
            assert!(
                diff < candle_slack,
                "({rows}, {classes}) ×{spread}: gradients differ by {diff} (> {candle_slack})"
            );
        }
    }
    Ok(())
}

#[test]
fn a_strided_input_and_a_scaled_loss_get_the_right_gradient() -> Result<()> {
    manual_seed(1);
    let logits = randn((6, 11), &Device::Cpu)?.t()?; // (11, 6), not contiguous
    assert!(!logits.is_contiguous());
    let targets = randint(0, 6, 11, &Device::Cpu)?;
    let ((mine, my_grad), (want, want_grad)) = both(&logits, &targets)?;
    assert!((mine - want).abs() < 1e-5);
    assert!(largest_difference(&my_grad, &want_grad)? < 1e-6);
    // A loss used inside a larger expression: the gradient carries the outer factor.
    let var = Var::from_tensor(&randn((4, 3), &Device::Cpu)?)?;
    let t = Tensor::new(&[0u32, 1, 2, 1], &Device::Cpu)?;
    let g_mine = (loss::cross_entropy(var.as_tensor(), &t)? * 3.0)?.backward()?;
    let g_candle = (candle_nn::loss::cross_entropy(var.as_tensor(), &t)? * 3.0)?.backward()?;
    let (a, b) = (g_mine.get(var.as_tensor()).expect("grad"), g_candle.get(var.as_tensor()).expect("grad"));
    assert!(largest_difference(a, b)? < 1e-6);
    Ok(())
}

#[test]
fn wrong_inputs_get_errors_that_say_what_to_do() -> Result<()> {
    let logits = Tensor::zeros((3, 4), DType::F32, &Device::Cpu)?;
    let message = |r: Result<Tensor>| r.expect_err("an error").to_string();
    let out_of_range = message(loss::cross_entropy(&logits, &Tensor::new(&[0u32, 4, 1], &Device::Cpu)?));
    assert!(
        out_of_range.contains("the target 4 is not a class") && out_of_range.contains("4 classes"),
        "{out_of_range}"
    );
    let negative = message(loss::cross_entropy(&logits, &Tensor::new(&[0i64, -1, 1], &Device::Cpu)?));
    assert!(negative.contains("the target -1 is not a class"), "{negative}");
    let count = message(loss::cross_entropy(&logits, &Tensor::new(&[0u32, 1], &Device::Cpu)?));
    assert!(count.contains("one class index per row") && count.contains("3 rows"), "{count}");
    let rank3 = message(loss::cross_entropy(&logits.unsqueeze(0)?, &Tensor::new(&[0u32, 1, 2], &Device::Cpu)?));
    assert!(rank3.contains("reshape to (batch·time, classes)"), "{rank3}");
    let floats = message(loss::cross_entropy(&logits, &Tensor::new(&[0f32, 1., 2.], &Device::Cpu)?));
    assert!(floats.contains("class indices (u8, u32 or i64)"), "{floats}");
    Ok(())
}

/// The mean cross-entropy computed in `f64` from the values.
fn exact(logits: &Tensor, targets: &Tensor) -> Result<f64> {
    let rows = logits.to_vec2::<f32>()?;
    let t = targets.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let total: f64 = rows
        .iter()
        .zip(&t)
        .map(|(row, &t)| {
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
            let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
            max + sum.ln() - f64::from(row[t as usize])
        })
        .sum();
    Ok(total / t.len() as f64)
}

/// The gradient of the mean cross-entropy with respect to the logits, `(softmax − one_hot) / rows`, in `f64`.
fn exact_gradient(logits: &Tensor, targets: &Tensor) -> Result<Vec<Vec<f64>>> {
    let rows = logits.to_vec2::<f32>()?;
    let t = targets.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let n = rows.len() as f64;
    Ok(rows
        .iter()
        .zip(&t)
        .map(|(row, &t)| {
            let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
            let sum: f64 = row.iter().map(|&x| (f64::from(x) - max).exp()).sum();
            row.iter()
                .enumerate()
                .map(|(j, &x)| ((f64::from(x) - max).exp() / sum - if j == t as usize { 1.0 } else { 0.0 }) / n)
                .collect()
        })
        .collect())
}

fn largest_difference_f64(a: &Tensor, b: &[Vec<f64>]) -> Result<f64> {
    let a = a.to_vec2::<f32>()?;
    Ok(a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(&x, &y)| (f64::from(x) - y).abs())).fold(0.0, f64::max))
}
