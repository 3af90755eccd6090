//! Recurrent layers as [`Sequential`](super::Sequential) layers: [`Recurrent`] runs an LSTM, a GRU or an
//! [`Rnn`](super::Rnn) over whole sequences, and [`LastStep`] keeps the last step's output — so a text model reads
//! like PyTorch's `nn.Sequential(nn.Embedding(...), nn.LSTM(..., batch_first=True), ...)`.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let model = Sequential::new(&Device::Cpu)
//!     .add("embed", |vb| nn::embedding(100, 16, vb))?      // token ids (batch, time) → (batch, time, 16)
//!     .add("lstm", |vb| nn::lstm_layer(16, 32, vb))?       // → (batch, time, 32)
//!     .push(nn::LastStep)                                  // → (batch, 32)
//!     .add("out", |vb| nn::linear(32, 5, vb))?;            // → (batch, 5)
//! let ids = Tensor::new(&[[3u32, 7, 9, 2], [4, 4, 1, 0]], &Device::Cpu)?;
//! assert_eq!(model.forward(&ids)?.dims(), &[2, 5]);
//! # Ok(()) }
//! ```

use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::rnn::{GRUState, LSTMState};
use candle_nn::{GRU, GRUConfig, Init, LSTM, LSTMConfig, RNN, VarBuilder};

use super::elman::{Rnn, RnnState, rnn};

/// The hidden vector `h` of one step's state, whatever the kind of network.
pub trait HiddenState {
    /// This step's `(batch, hidden)` output.
    fn hidden(&self) -> &Tensor;
}

impl HiddenState for LSTMState {
    fn hidden(&self) -> &Tensor {
        &self.h
    }
}

impl HiddenState for GRUState {
    fn hidden(&self) -> &Tensor {
        &self.h
    }
}

impl HiddenState for RnnState {
    fn hidden(&self) -> &Tensor {
        &self.h
    }
}

/// A recurrent network run over every step of `(batch, time, features)` inputs, giving `(batch, time, hidden)`: each
/// step's hidden state (for an LSTM, `h`), starting from zeros.
#[derive(Debug, Clone)]
pub struct Recurrent<R>(pub R);

impl<R: RNN> ModuleT for Recurrent<R>
where
    R::State: HiddenState,
{
    fn forward_t(&self, x: &Tensor, _train: bool) -> Result<Tensor> {
        if x.rank() != 3 {
            candle_core::bail!(
                "a recurrent layer reads (batch, time, features), got shape {:?}; put an embedding before it for token \
                 ids, or `unsqueeze` a missing batch dimension",
                x.dims()
            )
        }
        // Stacked here rather than by `states_to_tensor`: candle-nn 0.11's GRU concatenates its steps into
        // `(batch, time × hidden)`.
        let states = self.0.seq(x)?;
        let hs: Vec<&Tensor> = states.iter().map(HiddenState::hidden).collect();
        Tensor::stack(&hs, 1)
    }
}

/// An LSTM from `input` features to `hidden` units (PyTorch's `nn.LSTM(input, hidden, batch_first=True)`, one
/// layer), with PyTorch's variable names and initialisation.
///
/// # Errors
/// When the variables cannot be made.
pub fn lstm_layer(input: usize, hidden: usize, vb: VarBuilder) -> Result<Recurrent<LSTM>> {
    let init = torch_uniform(hidden);
    let config = LSTMConfig {
        w_ih_init: init,
        w_hh_init: init,
        b_ih_init: Some(init),
        b_hh_init: Some(init),
        ..Default::default()
    };
    Ok(Recurrent(candle_nn::lstm(input, hidden, config, vb)?))
}

/// A GRU from `input` features to `hidden` units (`nn.GRU(..., batch_first=True)`, one layer), with PyTorch's
/// variable names and initialisation.
///
/// # Errors
/// When the variables cannot be made.
pub fn gru_layer(input: usize, hidden: usize, vb: VarBuilder) -> Result<Recurrent<GRU>> {
    let init = torch_uniform(hidden);
    let config = GRUConfig { w_ih_init: init, w_hh_init: init, b_ih_init: Some(init), b_hh_init: Some(init) };
    Ok(Recurrent(candle_nn::gru(input, hidden, config, vb)?))
}

/// PyTorch's initialisation of every recurrent weight and bias: uniform in ±1/√hidden (candle-nn's default is
/// Kaiming-uniform weights, about 3.5× wider for a 64-feature input, and zero biases).
fn torch_uniform(hidden: usize) -> Init {
    let bound = 1.0 / (hidden as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

/// A plain tanh RNN from `input` features to `hidden` units (`nn.RNN(..., batch_first=True)`, one layer).
///
/// # Errors
/// When the variables cannot be made.
pub fn rnn_layer(input: usize, hidden: usize, vb: VarBuilder) -> Result<Recurrent<Rnn>> {
    Ok(Recurrent(rnn(input, hidden, vb)?))
}

/// The last time step of `(batch, time, hidden)`: `(batch, hidden)` (`output[:, -1, :]`). For padded batches of
/// different lengths use [`last_states`](super::last_states) with the lengths instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastStep;

impl Module for LastStep {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, time, _) = x.dims3().map_err(|_| {
            candle_core::Error::Msg(format!("LastStep reads (batch, time, hidden), got shape {:?}", x.dims()))
        })?;
        if time == 0 {
            candle_core::bail!("LastStep got sequences of 0 steps")
        }
        x.narrow(1, time - 1, 1)?.squeeze(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;

    #[test]
    fn a_recurrent_layer_gives_every_step_and_last_step_the_final_one() -> Result<()> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let layer = lstm_layer(3, 4, vb.pp("lstm"))?;
        let x = Tensor::arange(0f32, 30., &Device::Cpu)?.reshape((2, 5, 3))?.affine(0.1, -1.0)?;
        let all = layer.forward_t(&x, true)?;
        assert_eq!(all.dims(), &[2, 5, 4]);
        let direct = layer.0.states_to_tensor(&layer.0.seq(&x)?)?;
        let diff = (&all - &direct)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert_eq!(diff, 0.0, "the layer is the LSTM run over the sequence");
        let last = LastStep.forward(&all)?;
        let want = all.narrow(1, 4, 1)?.squeeze(1)?;
        assert_eq!(last.to_vec2::<f32>()?, want.to_vec2::<f32>()?);
        let err = layer.forward_t(&Tensor::zeros((5, 3), DType::F32, &Device::Cpu)?, true).expect_err("rank 2");
        assert!(err.to_string().contains("(batch, time, features)"), "{err}");
        assert!(LastStep.forward(&Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?).is_err());
        Ok(())
    }

    #[test]
    fn every_kind_starts_from_pytorchs_uniform_weights_and_biases() -> Result<()> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        // Hidden size 64: the bound is 1/√64 = 0.125, and the smallest tensor (the plain RNN's bias) has 64 values,
        // so that none reaching past 0.1 has a chance of 0.8^64 (the check is random; with 16 it failed ~6% of runs).
        lstm_layer(32, 64, vb.pp("lstm"))?;
        gru_layer(32, 64, vb.pp("gru"))?;
        rnn_layer(32, 64, vb.pp("rnn"))?;
        let vars = varmap.all_vars();
        assert_eq!(vars.len(), 12, "four tensors per layer");
        for var in vars {
            let t = var.as_tensor().flatten_all()?;
            let largest = t.abs()?.max(0)?.to_scalar::<f32>()?;
            assert!(largest <= 0.125 && largest > 0.1, "every value within ±1/√64, spread over the range: {largest}");
        }
        Ok(())
    }

    #[test]
    fn every_kind_gives_batch_time_hidden_and_its_last_step_is_the_final_state() -> Result<()> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let x = Tensor::arange(0f32, 30., &Device::Cpu)?.reshape((2, 5, 3))?.affine(0.1, -1.0)?;
        let gru = gru_layer(3, 4, vb.pp("gru"))?;
        let rnn = rnn_layer(3, 4, vb.pp("rnn"))?;
        let outputs = [
            ("gru", gru.forward_t(&x, false)?, gru.0.seq(&x)?.last().map(|s| s.h.clone())),
            ("rnn", rnn.forward_t(&x, false)?, rnn.0.seq(&x)?.last().map(|s| s.h.clone())),
        ];
        for (kind, all, last_state) in outputs {
            assert_eq!(all.dims(), &[2, 5, 4], "{kind}");
            let last_state = last_state.expect("five steps");
            let diff = (LastStep.forward(&all)? - last_state)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(diff, 0.0, "{kind}: the last step is the final state");
        }
        Ok(())
    }
}
