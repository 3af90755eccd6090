//! A plain (Elman) recurrent layer, and reading padded batches of sequences.

use candle_core::{D, DType, Module, Result, Tensor};
use candle_nn::{Init, Linear, RNN, VarBuilder};

/// `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)` (PyTorch's `nn.RNN`, one layer, tanh), used through
/// Candle's [`RNN`] trait like its `LSTM` and `GRU`: `seq` runs a `(batch, time, features)` input and
/// `states_to_tensor` gives `(batch, time, hidden)`.
///
/// ```
/// use candlelit::prelude::*;
/// use candlelit::nn::RNN;
/// # fn main() -> Result<()> {
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let rnn = nn::rnn(3, 5, vb.pp("rnn"))?;
/// let x = Tensor::zeros((2, 7, 3), DType::F32, &Device::Cpu)?;  // 2 sequences of 7 steps
/// let states = rnn.seq(&x)?;
/// assert_eq!(rnn.states_to_tensor(&states)?.dims(), &[2, 7, 5]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Rnn {
    input: Linear,
    hidden: Linear,
    hidden_size: usize,
}

/// The hidden state of an [`Rnn`], `(batch, hidden)`.
#[derive(Debug, Clone)]
pub struct RnnState {
    /// The hidden vector of each sequence in the batch.
    pub h: Tensor,
}

impl RnnState {
    /// The hidden vector, `(batch, hidden)`.
    pub fn h(&self) -> &Tensor {
        &self.h
    }
}

/// An [`Rnn`] from `input` features to `hidden` units, weights uniform in ±1/√hidden as in PyTorch, named like
/// PyTorch's (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`).
///
/// # Errors
/// When the variables cannot be made.
pub fn rnn(input: usize, hidden: usize, vb: VarBuilder) -> Result<Rnn> {
    let bound = 1.0 / (hidden as f64).sqrt();
    let init = Init::Uniform { lo: -bound, up: bound };
    let w_ih = vb.get_with_hints((hidden, input), "weight_ih_l0", init)?;
    let w_hh = vb.get_with_hints((hidden, hidden), "weight_hh_l0", init)?;
    let b_ih = vb.get_with_hints(hidden, "bias_ih_l0", init)?;
    let b_hh = vb.get_with_hints(hidden, "bias_hh_l0", init)?;
    Ok(Rnn { input: Linear::new(w_ih, Some(b_ih)), hidden: Linear::new(w_hh, Some(b_hh)), hidden_size: hidden })
}

impl RNN for Rnn {
    type State = RnnState;

    fn zero_state(&self, batch_dim: usize) -> Result<RnnState> {
        let w = self.hidden.weight();
        Ok(RnnState { h: Tensor::zeros((batch_dim, self.hidden_size), w.dtype(), w.device())? })
    }

    fn step(&self, input: &Tensor, state: &RnnState) -> Result<RnnState> {
        let h = (self.input.forward(input)? + self.hidden.forward(&state.h)?)?.tanh()?;
        Ok(RnnState { h })
    }

    fn states_to_tensor(&self, states: &[RnnState]) -> Result<Tensor> {
        let hs: Vec<&Tensor> = states.iter().map(|s| &s.h).collect();
        Tensor::stack(&hs, 1)
    }
}

/// Each sequence's output at its last real step, from a padded batch: `outputs` is `(batch, time, hidden)` (from
/// `states_to_tensor`) and `lengths` the true length of each sequence (`(batch,)`, integers ≥ 1, as in
/// [`Padded`](crate::data::Padded)). Gives `(batch, hidden)`.
///
/// For a one-directional RNN this equals running every sequence alone without padding, since the padding comes
/// after the steps that are read — what PyTorch's `pack_padded_sequence` achieves.
///
/// # Errors
/// When a length is 0 or longer than the time dimension, or the batch sizes differ.
pub fn last_states(outputs: &Tensor, lengths: &Tensor) -> Result<Tensor> {
    let (batch, time, hidden) = outputs.dims3()?;
    let lengths_v = lengths.flatten_all()?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    if lengths_v.len() != batch {
        candle_core::bail!("last_states: {} lengths for a batch of {batch} sequences", lengths_v.len());
    }
    if let Some(bad) = lengths_v.iter().find(|&&l| l == 0 || l as usize > time) {
        candle_core::bail!("last_states: a length of {bad} does not fit sequences of {time} steps (need 1..={time})");
    }
    let index: Vec<u32> = lengths_v.iter().map(|l| l - 1).collect();
    let index = Tensor::new(index.as_slice(), outputs.device())?.reshape((batch, 1, 1))?.repeat((1, 1, hidden))?;
    outputs.contiguous()?.gather(&index.contiguous()?, 1)?.squeeze(D::Minus2)
}
