//! [`no_grad`]: run code without recording anything for autograd — PyTorch's `with torch.no_grad():`.
//!
//! A forward pass through layers with `Var` weights records, in every output, the inputs it came from, so that a
//! later `backward` can run; until that output is dropped, all of the pass's intermediate tensors stay in memory.
//! For evaluation that is wasted memory. Inside [`no_grad`] the prelude's layers with weights (`Linear`,
//! `Conv2d`, the batch norms, `Embedding`, `Rnn`) and every layer of a [`Sequential`](crate::nn::Sequential)
//! hand back outputs that record nothing, so each layer's intermediates are freed as soon as the next layer has
//! its input, as in PyTorch.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let model = Sequential::new(&Device::Cpu).add("fc", |vb| nn::linear(4, 2, vb))?;
//! let x = Tensor::ones((3, 4), DType::F32, &Device::Cpu)?;
//! let logits = no_grad(|| model.forward(&x))?;
//! assert!(!logits.track_op());                  // nothing recorded: backward would find no weights
//! assert!(model.forward(&x)?.track_op());      // outside, training works as usual
//! assert!(is_grad_enabled());
//! # Ok(()) }
//! ```
//!
//! The switch belongs to the thread that calls [`no_grad`] (as PyTorch's does); your own tensor arithmetic on
//! `Var`s inside it is still recorded — call `.detach()` on such results if you keep them.

use std::cell::Cell;

use candle_core::Tensor;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether layers record their outputs for autograd on this thread: `false` only inside [`no_grad`]
/// (`torch.is_grad_enabled()`).
pub fn is_grad_enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Runs `f` with recording for autograd switched off on this thread, and switches it back afterwards — also when
/// `f` returns an error or panics. Calls nest.
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ENABLED.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(ENABLED.with(|e| e.replace(false)));
    f()
}

/// A layer's output as the current mode wants it: unchanged normally, detached (recording nothing, holding on to
/// nothing) inside [`no_grad`].
pub(crate) fn layer_output(y: Tensor) -> Tensor {
    if is_grad_enabled() { y } else { y.detach() }
}
