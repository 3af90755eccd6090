//! Reproducible randomness: one seeded generator behind every random tensor the prelude makes.
//!
//! Candle's CPU backend draws `Tensor::rand`/`Tensor::randn` from an unseedable thread generator, so the same
//! notebook gives different numbers on every run. The functions here — [`rand`], [`randn`], [`uniform`],
//! [`normal`], [`randint`], [`randperm`], [`multinomial`], [`rand_like`], [`randn_like`] — draw from one generator that
//! [`manual_seed`] resets, like `torch.manual_seed`. The values are made on the CPU and then moved, so the same seed
//! gives the same numbers on the CPU and on a GPU. [`manual_seed`] also seeds the CUDA devices, which makes
//! Candle's own `Tensor::rand`/`randn` on a GPU reproducible too; on the CPU, use the prelude's functions.
//!
//! Later parts of the prelude (weight initialisers, data shuffling) take their randomness from [`with_rng`], so one
//! `manual_seed` at the top of a notebook fixes all of it.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! manual_seed(7);
//! let a = randn((2, 3), &Device::Cpu)?;
//! manual_seed(7);
//! let b = randn((2, 3), &Device::Cpu)?;
//! assert_eq!(a.to_vec2::<f32>()?, b.to_vec2::<f32>()?);
//! # Ok(()) }
//! ```

use std::sync::{Mutex, MutexGuard};

use candle_core::{DType, Device, FloatDType, Result, Shape, Tensor};
use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal, StandardUniform, Uniform};

/// The generator type behind the prelude's randomness (ChaCha8: fast, portable, the same stream on every machine).
pub type PreludeRng = ChaCha8Rng;

struct State {
    rng: PreludeRng,
    seed: Option<u64>,
}

fn state() -> MutexGuard<'static, Option<State>> {
    // One generator per process, shared by every notebook cell: cells link the prelude as one shared library
    // (the session's `candlelit-session` dylib), so this static exists once.
    static STATE: Mutex<Option<State>> = Mutex::new(None);
    STATE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Resets every random source of the prelude to `seed`, like `torch.manual_seed(seed)`.
///
/// After it, [`rand`], [`randn`] and the other functions here give the same numbers on every run, on every machine;
/// CUDA devices are seeded too.
pub fn manual_seed(seed: u64) {
    *state() = Some(State { rng: PreludeRng::seed_from_u64(seed), seed: Some(seed) });
    if let Err(e) = crate::device::seed_cuda_devices(seed) {
        eprintln!("candlelit: could not seed the GPU's generator: {e}");
    }
}

/// The seed last given to [`manual_seed`], if any.
pub fn current_seed() -> Option<u64> {
    state().as_ref().and_then(|s| s.seed)
}

/// Runs `f` with the prelude's generator: the way other parts of candlelit (and a learner's own code) draw random
/// numbers that [`manual_seed`] controls.
///
/// ```
/// use candlelit::random::{manual_seed, with_rng};
/// use rand::Rng;
/// manual_seed(1);
/// let a: u32 = with_rng(|rng| rng.random_range(0..100));
/// manual_seed(1);
/// let b: u32 = with_rng(|rng| rng.random_range(0..100));
/// assert_eq!(a, b);
/// ```
pub fn with_rng<R>(f: impl FnOnce(&mut PreludeRng) -> R) -> R {
    let mut guard = state();
    let st = guard.get_or_insert_with(|| State { rng: PreludeRng::from_os_rng(), seed: None });
    f(&mut st.rng)
}

/// Uniform numbers in `[0, 1)` as `f32`, like `torch.rand(shape)`.
pub fn rand<S: Into<Shape>>(shape: S, device: &Device) -> Result<Tensor> {
    uniform(0f32, 1f32, shape, device)
}

/// Standard normal numbers (mean 0, std 1) as `f32`, like `torch.randn(shape)`.
pub fn randn<S: Into<Shape>>(shape: S, device: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let n = shape.elem_count();
    let values: Vec<f32> = with_rng(|rng| StandardNormal.sample_iter(rng).take(n).collect());
    Tensor::from_vec(values, shape, device)
}

/// Uniform numbers in `[low, high)`; the dtype follows `low` (`uniform(0f64, 1., ..)` gives `f64`).
///
/// Same arguments as Candle's `Tensor::rand(low, high, shape, device)`.
pub fn uniform<T: FloatDType, S: Into<Shape>>(low: T, high: T, shape: S, device: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let (lo, hi) = (low.to_f64(), high.to_f64());
    if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
        candle_core::bail!("uniform needs low < high, got low = {lo} and high = {hi}");
    }
    let n = shape.elem_count();
    let values: Vec<f64> = with_rng(|rng| {
        let unit: Vec<f64> = StandardUniform.sample_iter(rng).take(n).collect();
        unit.into_iter().map(|u| lo + (hi - lo) * u).collect()
    });
    Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(T::DTYPE)?.to_device(device)
}

/// Normal numbers with the given mean and standard deviation; the dtype follows `mean`.
///
/// Same arguments as Candle's `Tensor::randn(mean, std, shape, device)`.
pub fn normal<T: FloatDType, S: Into<Shape>>(mean: T, std: T, shape: S, device: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let (mean, std) = (mean.to_f64(), std.to_f64());
    if !(std >= 0.0 && std.is_finite() && mean.is_finite()) {
        candle_core::bail!("normal needs a finite mean and a finite, non-negative std, got mean {mean} and std {std}");
    }
    let dist = Normal::new(mean, std).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let n = shape.elem_count();
    let values: Vec<f64> = with_rng(|rng| dist.sample_iter(rng).take(n).collect());
    Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(T::DTYPE)?.to_device(device)
}

/// Random whole numbers in `[low, high)` as `u32` (the dtype Candle uses for class labels and indices), like
/// `torch.randint(low, high, shape)`.
pub fn randint<S: Into<Shape>>(low: u32, high: u32, shape: S, device: &Device) -> Result<Tensor> {
    if low >= high {
        candle_core::bail!("randint needs low < high, got low = {low} and high = {high}");
    }
    let shape = shape.into();
    let n = shape.elem_count();
    let dist = Uniform::new(low, high).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let values: Vec<u32> = with_rng(|rng| dist.sample_iter(rng).take(n).collect());
    Tensor::from_vec(values, shape, device)
}

/// A random ordering of `0..n` as a `u32` tensor, like `torch.randperm(n)`.
pub fn randperm(n: usize, device: &Device) -> Result<Tensor> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    with_rng(|rng| order.shuffle(rng));
    Tensor::from_vec(order, n, device)
}

/// Draws `num_samples` category indices from each row of `weights` (`(K)` or `(N, K)`, non-negative, not
/// necessarily summing to 1), with probability proportional to the weights, like `torch.multinomial(weights,
/// num_samples, replacement)`; from the prelude's generator, so [`manual_seed`] makes the draws repeat. Without
/// replacement a row's categories are drawn at most once each. The result is `u32`, `(num_samples)` or `(N,
/// num_samples)`, on `weights`' device.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let probs = Tensor::new(&[0.0f32, 0.9, 0.1], &Device::Cpu)?;   // say softmax(logits / temperature)
/// manual_seed(3);
/// let a = multinomial(&probs, 5, true)?.to_vec1::<u32>()?;
/// manual_seed(3);
/// assert_eq!(a, multinomial(&probs, 5, true)?.to_vec1::<u32>()?);   // the same draws again
/// assert!(!a.contains(&0));                                         // weight 0 is never drawn
/// # Ok(()) }
/// ```
///
/// # Errors
/// When `weights` is not 1-D or 2-D, holds a negative, infinite or NaN value, a row sums to 0, or more samples than
/// categories are asked for without replacement.
pub fn multinomial(weights: &Tensor, num_samples: usize, replacement: bool) -> Result<Tensor> {
    let rows = match weights.rank() {
        1 => weights.unsqueeze(0)?,
        2 => weights.clone(),
        r => candle_core::bail!(
            "multinomial takes weights of shape (K) or (N, K), got {r} dimensions {:?}",
            weights.dims()
        ),
    };
    let table = rows.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    let mut out = Vec::with_capacity(table.len() * num_samples);
    for (i, row) in table.iter().enumerate() {
        if let Some(bad) = row.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            candle_core::bail!("multinomial: row {i} has the weight {bad}; weights must be finite and not negative")
        }
        let positive = row.iter().filter(|w| **w > 0.0).count();
        if positive == 0 {
            candle_core::bail!("multinomial: the weights of row {i} sum to 0, so nothing can be drawn")
        }
        if !replacement && num_samples > positive {
            candle_core::bail!(
                "multinomial without replacement: {num_samples} samples asked from row {i}, which has only {positive} \
                 categories with a weight above 0"
            )
        }
        let mut row = row.clone();
        for _ in 0..num_samples {
            let picked = draw_weighted(&row);
            out.push(picked as u32);
            if !replacement {
                row[picked] = 0.0;
            }
        }
    }
    let samples = Tensor::from_vec(out, (table.len(), num_samples), weights.device())?;
    if weights.rank() == 1 { samples.squeeze(0) } else { Ok(samples) }
}

/// One index drawn with probability `row[i] / Σ row` (at least one weight is above 0).
fn draw_weighted(row: &[f64]) -> usize {
    let total: f64 = row.iter().sum();
    let u: f64 = with_rng(|rng| StandardUniform.sample(rng));
    let target = u * total;
    let mut running = 0.0;
    let last = row.iter().rposition(|w| *w > 0.0).unwrap_or(0);
    for (i, w) in row.iter().enumerate() {
        running += w;
        if *w > 0.0 && target < running {
            return i;
        }
    }
    last
}

/// Uniform `[0, 1)` numbers with the shape, float dtype and device of `t`, like `torch.rand_like(t)`.
pub fn rand_like(t: &Tensor) -> Result<Tensor> {
    uniform(0f64, 1., t.shape(), &Device::Cpu)?.to_dtype(float_dtype_of(t))?.to_device(t.device())
}

/// Standard normal numbers with the shape, float dtype and device of `t`, like `torch.randn_like(t)`.
pub fn randn_like(t: &Tensor) -> Result<Tensor> {
    normal(0f64, 1., t.shape(), &Device::Cpu)?.to_dtype(float_dtype_of(t))?.to_device(t.device())
}

/// `t`'s dtype when it is a float type, else `f32` (random floats shaped like an integer tensor).
fn float_dtype_of(t: &Tensor) -> DType {
    if t.dtype().is_float() { t.dtype() } else { DType::F32 }
}
