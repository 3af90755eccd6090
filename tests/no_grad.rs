//! `no_grad`: the prelude's layers record nothing for autograd inside it — a Sequential's every layer, and the
//! layers with weights used directly in a model struct — with the same values as outside; the switch comes back
//! after errors, panics and nesting.

use candlelit::prelude::*;

fn cnn(dev: &Device) -> Result<Sequential> {
    Sequential::new(dev)
        .add("conv", |vb| nn::conv2d(1, 4, 3, nn::Conv2dConfig { padding: 1, ..Default::default() }, vb))?
        .add("bn", |vb| nn::batch_norm2d(4, vb))?
        .push(nn::Relu)
        .push(nn::MaxPool2d::new(2))
        .push(nn::Flatten)
        .add("fc", |vb| nn::linear(4 * 4 * 4, 3, vb))
}

/// A model written as a struct, as on Day 5: the layers used one by one.
struct Tagger {
    embed: nn::Embedding,
    fc: nn::Linear,
}

impl Tagger {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.fc.forward(&self.embed.forward(ids)?)
    }
}

#[test]
fn outputs_inside_no_grad_record_nothing_and_equal_the_recorded_ones() -> Result<()> {
    manual_seed(0);
    let model = cnn(&Device::Cpu)?;
    model.eval();
    let x = randn((2, 1, 8, 8), &Device::Cpu)?;
    let recorded = model.forward(&x)?;
    let free = no_grad(|| model.forward(&x))?;
    assert!(recorded.track_op(), "outside no_grad the logits lead back to the weights");
    assert!(!free.track_op(), "inside no_grad the logits record nothing");
    assert_eq!(free.to_vec2::<f32>()?, recorded.to_vec2::<f32>()?);
    for (name, tap) in no_grad(|| model.forward_trace(&x))? {
        assert!(!tap.track_op(), "layer {name}'s output inside no_grad");
    }
    let grads = no_grad(|| model.forward(&x))?.sum_all()?.backward()?;
    assert!(model.parameters().iter().all(|w| grads.get(w).is_none()), "backward reaches no weight");

    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let tagger = Tagger { embed: nn::embedding(10, 4, vb.pp("embed"))?, fc: nn::linear(4, 2, vb.pp("fc"))? };
    let ids = Tensor::new(&[[1u32, 2, 3]], &Device::Cpu)?;
    assert!(tagger.forward(&ids)?.track_op());
    assert!(!no_grad(|| tagger.forward(&ids))?.track_op(), "a struct of prelude layers inside no_grad");
    Ok(())
}

#[test]
fn the_switch_comes_back_after_errors_panics_and_nesting() {
    assert!(is_grad_enabled());
    let failed: Result<()> = no_grad(|| candle::bail!("a failing evaluation"));
    assert!(failed.is_err() && is_grad_enabled(), "after an error");
    let panicked = std::panic::catch_unwind(|| no_grad(|| panic!("a panicking evaluation")));
    assert!(panicked.is_err() && is_grad_enabled(), "after a panic");
    no_grad(|| {
        no_grad(|| assert!(!is_grad_enabled()));
        assert!(!is_grad_enabled(), "the inner no_grad leaves the outer one off");
    });
    assert!(is_grad_enabled(), "after nesting");
}
