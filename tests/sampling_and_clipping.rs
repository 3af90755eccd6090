//! `multinomial` (seeded, proportional, without replacement) and gradient clipping. One test per concern that
//! draws random numbers, since the tests of a file run in parallel and share the prelude's one generator.

use candlelit::prelude::*;

#[test]
fn multinomial_repeats_under_a_seed_draws_in_proportion_and_refuses_bad_weights() -> Result<()> {
    let probs = Tensor::new(&[[1f32, 2., 7.], [0., 5., 5.]], &Device::Cpu)?;
    manual_seed(11);
    let a = multinomial(&probs, 4000, true)?;
    manual_seed(11);
    let b = multinomial(&probs, 4000, true)?;
    assert_eq!(a.to_vec2::<u32>()?, b.to_vec2::<u32>()?, "the same seed, the same draws");
    assert_eq!(a.dims(), &[2, 4000]);
    let rows = a.to_vec2::<u32>()?;
    let share = |row: &[u32], k: u32| row.iter().filter(|&&v| v == k).count() as f64 / row.len() as f64;
    // 4,000 draws: each share within 0.03 of its probability (about four standard deviations).
    for (k, p) in [(0, 0.1), (1, 0.2), (2, 0.7)] {
        assert!((share(&rows[0], k) - p).abs() < 0.03, "row 0, category {k}: {} against {p}", share(&rows[0], k));
    }
    assert_eq!(share(&rows[1], 0), 0.0, "a zero weight is never drawn");

    let without = multinomial(&Tensor::new(&[0.1f32, 0.2, 0.3, 0.4], &Device::Cpu)?, 4, false)?.to_vec1::<u32>()?;
    let mut sorted = without.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1, 2, 3], "without replacement every category once: {without:?}");

    let err = |w: &Tensor, n: usize, r: bool| multinomial(w, n, r).expect_err("refused").to_string();
    assert!(err(&Tensor::new(&[1f32, -1.], &Device::Cpu)?, 1, true).contains("not negative"));
    assert!(err(&Tensor::new(&[0f32, 0.], &Device::Cpu)?, 1, true).contains("sum to 0"));
    assert!(err(&Tensor::new(&[1f32, 0., 1.], &Device::Cpu)?, 3, false).contains("only 2 categories"));
    Ok(())
}

#[test]
fn clip_grad_norm_scales_to_the_limit_and_leaves_small_gradients_alone() -> Result<()> {
    let (a, b) = (Var::new(&[1f32, 1.], &Device::Cpu)?, Var::new(&[1f32], &Device::Cpu)?);
    // d/da of 3·Σa is (3, 3), d/db of 4·b is 4: joint norm √(9 + 9 + 16) = √34.
    let loss = || -> Result<Tensor> { (a.as_tensor() * 3.0)?.sum_all()? + (b.as_tensor() * 4.0)?.sum_all()? };
    let vars = [a.clone(), b.clone()];
    let mut grads = loss()?.backward()?;
    let norm = clip_grad_norm(&mut grads, &vars, 1.0)?;
    assert!((norm - 34f64.sqrt()).abs() < 1e-5, "{norm}");
    let after: f64 = vars
        .iter()
        .map(|v| grads.get(v.as_tensor()).map_or(Ok(0.0), |g| g.sqr()?.sum_all()?.to_scalar::<f32>().map(f64::from)))
        .sum::<Result<f64>>()?
        .sqrt();
    assert!((after - 1.0).abs() < 1e-4, "clipped norm {after}");
    // Ratios are kept: b's gradient stays 4/3 of each of a's.
    let (ga, gb) = (
        grads.get(a.as_tensor()).expect("a").to_vec1::<f32>()?,
        grads.get(b.as_tensor()).expect("b").to_vec1::<f32>()?,
    );
    assert!((gb[0] / ga[0] - 4.0 / 3.0).abs() < 1e-5);

    let mut small = loss()?.backward()?;
    assert!((clip_grad_norm(&mut small, &vars, 100.0)? - 34f64.sqrt()).abs() < 1e-5);
    assert_eq!(small.get(b.as_tensor()).expect("b").to_vec1::<f32>()?, [4.0], "under the limit nothing changes");

    let mut values = loss()?.backward()?;
    clip_grad_value(&mut values, &vars, 3.5)?;
    assert_eq!(values.get(b.as_tensor()).expect("b").to_vec1::<f32>()?, [3.5]);
    assert_eq!(values.get(a.as_tensor()).expect("a").to_vec1::<f32>()?, [3.0, 3.0]);

    let nan = Var::new(&[f32::NAN], &Device::Cpu)?;
    let mut broken = nan.as_tensor().sum_all()?.backward()?;
    broken.insert(nan.as_tensor(), Tensor::new(&[f32::NAN], &Device::Cpu)?);
    let err = clip_grad_norm(&mut broken, &[nan], 1.0).expect_err("NaN gradients");
    assert!(err.to_string().contains("NaN or an overflow"), "{err}");
    assert!(clip_grad_norm(&mut small, &vars, 0.0).is_err());
    Ok(())
}

#[test]
fn tiny_shakespeare_comes_through_the_mirror_as_word_and_character_corpora() -> Result<()> {
    let text = tiny_shakespeare()?;
    assert_eq!(text.len(), 1_115_394);
    assert!(text.starts_with("First Citizen:"), "{}", &text[..40]);
    let words = TextCorpus::words(&text, 1, Some(5000));
    assert_eq!(words.vocab().len(), 5000, "the cap holds");
    assert_eq!(words.vocab().token(2), ",", "the most frequent token");
    let chars = TextCorpus::chars(&text);
    assert_eq!(chars.ids().len(), text.chars().count());
    assert_eq!(chars.vocab().len(), 2 + 65, "Tiny Shakespeare has 65 distinct characters");
    Ok(())
}
