//! `loss::binary_cross_entropy_with_logit`: the same values and gradients as Candle's where Candle's is finite,
//! and exact (finite, gradient `σ(z) − y`) where Candle's overflows.

use candlelit::prelude::*;

fn candle_reference(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    candle_nn::loss::binary_cross_entropy_with_logit(logits, targets)
}

fn value_and_grad(
    f: fn(&Tensor, &Tensor) -> Result<Tensor>,
    logits: &Tensor,
    targets: &Tensor,
) -> Result<(f64, Vec<f64>)> {
    let z = Var::from_tensor(logits)?;
    let loss = f(z.as_tensor(), targets)?;
    let grad = loss.backward()?.get(&z).expect("the loss depends on the logits").clone();
    let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    Ok((value, grad.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?))
}

#[test]
fn equals_candles_loss_and_gradients_on_moderate_logits() -> Result<()> {
    manual_seed(7);
    for (shape, dtype) in [(vec![7usize, 1], DType::F32), (vec![3, 4], DType::F32), (vec![5], DType::F64)] {
        let logits = (randn(shape.as_slice(), &Device::Cpu)? * 4.0)?.to_dtype(dtype)?;
        let hard = randint(0, 2, shape.as_slice(), &Device::Cpu)?.to_dtype(dtype)?;
        let soft = rand(shape.as_slice(), &Device::Cpu)?.to_dtype(dtype)?;
        for targets in [hard, soft] {
            let (ours, our_grad) = value_and_grad(loss::binary_cross_entropy_with_logit, &logits, &targets)?;
            let (theirs, their_grad) = value_and_grad(candle_reference, &logits, &targets)?;
            assert!((ours - theirs).abs() < 1e-5, "{shape:?} {dtype:?}: {ours} vs {theirs}");
            for (a, b) in our_grad.iter().zip(&their_grad) {
                assert!((a - b).abs() < 1e-5, "{shape:?} {dtype:?}: gradient {our_grad:?} vs {their_grad:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn confident_mistakes_cost_their_logit_and_every_gradient_is_sigmoid_minus_target() -> Result<()> {
    let z = [40f32, -40., 100., -1000., 0., 0., 3., -30.];
    let y = [0f32, 1., 0., 1., 1., 0., 1., 1.];
    let logits = Tensor::new(&z, &Device::Cpu)?;
    let targets = Tensor::new(&y, &Device::Cpu)?;
    let (value, grad) = value_and_grad(loss::binary_cross_entropy_with_logit, &logits, &targets)?;
    let n = z.len() as f64;
    let per_item: Vec<f64> = z
        .iter()
        .zip(&y)
        .map(|(&z, &y)| {
            let (z, y) = (f64::from(z), f64::from(y));
            z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
        })
        .collect();
    let expected = per_item.iter().sum::<f64>() / n;
    assert!((value - expected).abs() < 1e-4 * expected, "{value} vs {expected}");
    for (i, (&z, &y)) in z.iter().zip(&y).enumerate() {
        let sigmoid = 1.0 / (1.0 + (-f64::from(z)).exp());
        let expected = (sigmoid - f64::from(y)) / n;
        assert!((grad[i] - expected).abs() < 1e-6, "logit {z}, target {y}: gradient {} vs {expected}", grad[i]);
    }
    let (candle, _) = value_and_grad(candle_reference, &logits, &targets)?;
    assert!(!candle.is_finite(), "Candle's own loss overflows here ({candle}); this test shows why ours exists");
    Ok(())
}
