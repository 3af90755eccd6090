//! Which items a [`DataLoader`](super::DataLoader) visits, in which order, and how they group into batches.
//!
//! A [`Sampler`] gives the item indices of one epoch; a [`BatchSampler`] groups indices into batches. Both are
//! handed the epoch's own generator, seeded from the loader's seed and the epoch number, so an epoch's order is
//! the same on every run and on any number of workers, and differs from one epoch to the next.
//!
//! ```
//! use candlelit::data::{RandomSampler, Sampler, SequentialSampler, epoch_rng};
//! # fn main() -> candlelit::prelude::Result<()> {
//! let mut rng = epoch_rng(42, 0);
//! assert_eq!(SequentialSampler.indices(4, &mut rng)?, [0, 1, 2, 3]);
//! let mut shuffled = RandomSampler::new().indices(4, &mut epoch_rng(42, 0))?;
//! shuffled.sort();
//! assert_eq!(shuffled, [0, 1, 2, 3]); // every index once, in a seeded order
//! # Ok(()) }
//! ```

use candle_core::{Result, bail};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;
use rand_distr::weighted::WeightedIndex;

use crate::random::PreludeRng;

/// The generator for epoch `epoch` of a loader seeded with `seed`: what samplers and random transforms draw from.
pub fn epoch_rng(seed: u64, epoch: u64) -> PreludeRng {
    let mut rng = PreludeRng::seed_from_u64(seed);
    rng.set_stream(epoch);
    rng
}

/// The item indices of one epoch, in the order they are visited (PyTorch's `Sampler`).
///
/// A closure `Fn(len, &mut rng) -> Vec<usize>` is a sampler too:
///
/// ```
/// use candlelit::data::{Sampler, epoch_rng};
/// let evens = |len: usize, _: &mut candlelit::random::PreludeRng| (0..len).step_by(2).collect::<Vec<_>>();
/// assert_eq!(evens.indices(5, &mut epoch_rng(0, 0)).unwrap(), [0, 2, 4]);
/// ```
pub trait Sampler: Send + Sync {
    /// The indices to visit in a dataset of `len` items, drawing any randomness from `rng`.
    ///
    /// # Errors
    /// When the sampler does not fit the dataset (weights for a different number of items, say).
    fn indices(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<usize>>;
}

impl<F: Fn(usize, &mut PreludeRng) -> Vec<usize> + Send + Sync> Sampler for F {
    fn indices(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<usize>> {
        Ok(self(len, rng))
    }
}

/// `0, 1, 2, ...` in order (the default when a loader does not shuffle).
#[derive(Clone, Copy, Debug, Default)]
pub struct SequentialSampler;

impl Sampler for SequentialSampler {
    fn indices(&self, len: usize, _: &mut PreludeRng) -> Result<Vec<usize>> {
        Ok((0..len).collect())
    }
}

/// A random order of every index (the default when a loader shuffles), or, with replacement, `num_samples`
/// indices drawn independently.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomSampler {
    replacement: bool,
    num_samples: Option<usize>,
}

impl RandomSampler {
    /// Every index once per epoch, in a random order.
    pub fn new() -> Self {
        RandomSampler::default()
    }

    /// `num_samples` indices drawn with replacement (an index can come several times, another not at all).
    pub fn with_replacement(num_samples: usize) -> Self {
        RandomSampler { replacement: true, num_samples: Some(num_samples) }
    }
}

impl Sampler for RandomSampler {
    fn indices(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<usize>> {
        if self.replacement {
            if len == 0 {
                bail!("cannot draw samples with replacement from an empty dataset")
            }
            let n = self.num_samples.unwrap_or(len);
            return Ok((0..n).map(|_| rng.random_range(0..len)).collect());
        }
        let mut order: Vec<usize> = (0..len).collect();
        order.shuffle(rng);
        Ok(order)
    }
}

/// A random order of the given indices only (PyTorch's `SubsetRandomSampler`).
#[derive(Clone, Debug)]
pub struct SubsetRandomSampler {
    indices: Vec<usize>,
}

impl SubsetRandomSampler {
    /// Visits exactly `indices`, shuffled anew each epoch.
    pub fn new(indices: Vec<usize>) -> Self {
        SubsetRandomSampler { indices }
    }
}

impl Sampler for SubsetRandomSampler {
    fn indices(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<usize>> {
        if let Some(bad) = self.indices.iter().find(|&&i| i >= len) {
            bail!("SubsetRandomSampler holds index {bad}, but the dataset has only {len} items")
        }
        let mut order = self.indices.clone();
        order.shuffle(rng);
        Ok(order)
    }
}

/// Index `i` drawn with probability proportional to `weights[i]`, with replacement (PyTorch's
/// `WeightedRandomSampler`): the usual cure for unbalanced classes — weight each item by one over its class's count.
///
/// ```
/// use candlelit::data::{Sampler, WeightedRandomSampler, epoch_rng};
/// # fn main() -> candlelit::prelude::Result<()> {
/// let sampler = WeightedRandomSampler::new(vec![0.0, 1.0, 3.0], 1000)?;
/// let drawn = sampler.indices(3, &mut epoch_rng(1, 0))?;
/// assert!(!drawn.contains(&0));                       // weight 0: never drawn
/// let threes = drawn.iter().filter(|&&i| i == 2).count();
/// assert!((650..850).contains(&threes));              // about 3/4 of the draws
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WeightedRandomSampler {
    weights: Vec<f64>,
    num_samples: usize,
    distribution: WeightedIndex<f64>,
}

impl WeightedRandomSampler {
    /// Draws `num_samples` indices per epoch, index `i` with probability `weights[i] / sum(weights)`.
    ///
    /// # Errors
    /// When a weight is negative or not finite, or every weight is 0.
    pub fn new(weights: Vec<f64>, num_samples: usize) -> Result<Self> {
        if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite() || **w < 0.0) {
            bail!("WeightedRandomSampler: weight {i} is {w}; weights must be finite and not negative")
        }
        let distribution = WeightedIndex::new(&weights).map_err(|e| {
            candle_core::Error::Msg(format!("WeightedRandomSampler needs at least one weight above 0 ({e})"))
        })?;
        Ok(WeightedRandomSampler { weights, num_samples, distribution })
    }

    /// The weights, one per item.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

impl Sampler for WeightedRandomSampler {
    fn indices(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<usize>> {
        if self.weights.len() != len {
            bail!("WeightedRandomSampler has {} weights but the dataset has {len} items", self.weights.len())
        }
        Ok((0..self.num_samples).map(|_| self.distribution.sample(rng)).collect())
    }
}

/// Groups an epoch's indices into batches (PyTorch's `batch_sampler`).
///
/// The loader builds a [`Batches`] from its sampler, batch size and `drop_last`; give your own to batch some other
/// way — by sequence length, say, so each batch needs little padding. A closure
/// `Fn(len, &mut rng) -> Vec<Vec<usize>>` is a batch sampler too.
pub trait BatchSampler: Send + Sync {
    /// The batches of one epoch for a dataset of `len` items.
    ///
    /// # Errors
    /// When the underlying sampler fails.
    fn batches(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<Vec<usize>>>;
}

impl<F: Fn(usize, &mut PreludeRng) -> Vec<Vec<usize>> + Send + Sync> BatchSampler for F {
    fn batches(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<Vec<usize>>> {
        Ok(self(len, rng))
    }
}

/// Consecutive runs of `batch_size` indices from a sampler; the last, shorter one is kept unless `drop_last`.
pub struct Batches {
    sampler: Box<dyn Sampler>,
    batch_size: usize,
    drop_last: bool,
}

impl Batches {
    /// Batches of `batch_size` from `sampler`.
    ///
    /// # Errors
    /// When `batch_size` is 0.
    pub fn new(sampler: Box<dyn Sampler>, batch_size: usize, drop_last: bool) -> Result<Self> {
        if batch_size == 0 {
            bail!("batch_size must be at least 1")
        }
        Ok(Batches { sampler, batch_size, drop_last })
    }
}

impl BatchSampler for Batches {
    fn batches(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<Vec<usize>>> {
        let indices = self.sampler.indices(len, rng)?;
        let mut batches: Vec<Vec<usize>> = indices.chunks(self.batch_size).map(<[usize]>::to_vec).collect();
        if self.drop_last && batches.last().is_some_and(|b| b.len() < self.batch_size) {
            batches.pop();
        }
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_differ_and_repeat() {
        let a = RandomSampler::new().indices(50, &mut epoch_rng(3, 0)).expect("a");
        let again = RandomSampler::new().indices(50, &mut epoch_rng(3, 0)).expect("again");
        let next = RandomSampler::new().indices(50, &mut epoch_rng(3, 1)).expect("next");
        assert_eq!(a, again);
        assert_ne!(a, next);
    }

    #[test]
    fn batches_keep_or_drop_the_short_tail() {
        let keep = Batches::new(Box::new(SequentialSampler), 4, false).expect("keep");
        let sizes: Vec<usize> = keep.batches(10, &mut epoch_rng(0, 0)).expect("b").iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let drop = Batches::new(Box::new(SequentialSampler), 4, true).expect("drop");
        assert_eq!(drop.batches(10, &mut epoch_rng(0, 0)).expect("b").len(), 2);
        assert!(Batches::new(Box::new(SequentialSampler), 0, false).is_err());
    }

    #[test]
    fn weighted_sampler_refuses_bad_weights() {
        assert!(WeightedRandomSampler::new(vec![1.0, -1.0], 3).is_err());
        assert!(WeightedRandomSampler::new(vec![0.0, 0.0], 3).is_err());
        let s = WeightedRandomSampler::new(vec![1.0, 1.0], 3).expect("sampler");
        let err = s.indices(5, &mut epoch_rng(0, 0)).expect_err("wrong length").to_string();
        assert!(err.contains("2 weights but the dataset has 5 items"), "{err}");
    }
}
