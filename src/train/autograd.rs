//! Gradients in Candle terms, for the autograd lesson: what PyTorch's `requires_grad`, `.backward()`, `.grad`,
//! `zero_grad()`, `detach()` and `no_grad()` become.
//!
//! | PyTorch | Candle / candlelit |
//! | --- | --- |
//! | `x = torch.tensor(2.0, requires_grad=True)` | `let x = Var::new(2f32, &dev)?;` |
//! | `y.backward(); x.grad` | `let grads = y.backward()?; grads.get(&x)` — or `grad_of(&y, &x)?` |
//! | `.grad` adds up over two `backward()` calls | each `backward()` returns a fresh [`GradStore`]; add them with a [`GradAccumulator`] |
//! | `optimizer.zero_grad()` | nothing to do: a new store per backward (or [`GradAccumulator::zero_grad`]) |
//! | `y.detach()`, `with torch.no_grad():` | `y.detach()`; plain tensors (not `Var`s) are never tracked |
//! | `t.requires_grad` | [`requires_grad(&t)`](requires_grad) |
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let x = Var::new(2f32, &Device::Cpu)?;   // a variable: Candle records what is computed from it
//! let y = x.as_tensor().sqr()?;            // y = x²
//! assert_eq!(grad_of(&y, &x)?.to_scalar::<f32>()?, 4.0); // dy/dx = 2x = 4
//! # Ok(()) }
//! ```

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// The gradient of `y` with respect to `x` (`y.backward(); x.grad`). For a `y` with several elements it is the
/// gradient of their sum (Candle starts backward from ones; PyTorch asks for that explicitly).
///
/// # Errors
/// When `y` does not depend on `x` through tracked operations — `x` is a plain tensor, or was detached on the way.
pub fn grad_of(y: &Tensor, x: &Var) -> Result<Tensor> {
    let grads = y.backward()?;
    take(&grads, x, "x")
}

/// The gradients of `y` with respect to each of `xs`, in order.
///
/// # Errors
/// As [`grad_of`], naming which variable `y` does not depend on.
pub fn grads_of(y: &Tensor, xs: &[&Var]) -> Result<Vec<Tensor>> {
    let grads = y.backward()?;
    xs.iter().enumerate().map(|(i, x)| take(&grads, x, &format!("variable {i}"))).collect()
}

fn take(grads: &GradStore, x: &Var, which: &str) -> Result<Tensor> {
    match grads.get(x) {
        Some(g) => Ok(g.clone()),
        None => candle_core::bail!(
            "no gradient for {which}: the result does not depend on it through tracked operations. Make it with \
             `Var::new(...)` (PyTorch's requires_grad=True), compute the result from `x.as_tensor()`, and do not \
             `detach()` on the way"
        ),
    }
}

/// Whether gradients can flow back through `t` (PyTorch's `t.requires_grad`): it is a variable or was computed
/// from one without `detach`.
pub fn requires_grad(t: &Tensor) -> bool {
    t.track_op()
}

/// Adds up gradients over several backward passes — what PyTorch's `.grad` fields do by themselves, and what
/// "gradient accumulation" over small batches means. Candle's `backward` returns a fresh [`GradStore`] each time.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let x = Var::new(3f32, &Device::Cpu)?;
/// let mut acc = GradAccumulator::new();
/// acc.add(x.as_tensor().sqr()?.backward()?)?;        // d(x²)/dx = 6
/// acc.add((x.as_tensor() * 2.0)?.backward()?)?;      // d(2x)/dx = 2
/// assert_eq!(acc.grad(&x).map(|g| g.to_scalar::<f32>()).transpose()?, Some(8.0));
/// acc.zero_grad();                                   // optimizer.zero_grad()
/// assert!(acc.grad(&x).is_none());
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct GradAccumulator {
    store: GradStore,
    passes: usize,
}

impl GradAccumulator {
    /// Nothing accumulated yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the gradients of one backward pass.
    ///
    /// # Errors
    /// When two gradients of the same variable cannot be added (different devices).
    pub fn add(&mut self, grads: GradStore) -> Result<()> {
        self.store.extend(grads)?;
        self.passes += 1;
        Ok(())
    }

    /// The accumulated gradient of `x` (PyTorch's `x.grad`); `None` when no pass reached it.
    pub fn grad(&self, x: &Var) -> Option<&Tensor> {
        self.store.get(x)
    }

    /// How many backward passes were added since the last [`zero_grad`](Self::zero_grad).
    pub fn passes(&self) -> usize {
        self.passes
    }

    /// Forgets every gradient (`optimizer.zero_grad()`).
    pub fn zero_grad(&mut self) {
        self.store = GradStore::default();
        self.passes = 0;
    }

    /// The accumulated gradients, for `optimizer.step(acc.store())`.
    pub fn store(&self) -> &GradStore {
        &self.store
    }
}
