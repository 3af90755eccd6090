//! What a training loop measures: [`accuracy`], a [`ConfusionMatrix`], a [`RunningMean`] of the loss and
//! [`EarlyStopping`].
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let dev = Device::Cpu;
//! let logits = Tensor::new(&[[2f32, 0.1], [0.3, 0.9], [1.0, 0.0]], &dev)?;
//! let labels = Tensor::new(&[0u32, 1, 1], &dev)?;
//! assert_eq!(correct(&logits, &labels)?, 2);
//! assert!((accuracy(&logits, &labels)? - 2.0 / 3.0).abs() < 1e-12);
//!
//! let mut cm = ConfusionMatrix::new(2);
//! cm.add(&logits, &labels)?;
//! assert_eq!(cm.count(1, 0), 1); // one true "1" predicted as "0"
//! # Ok(()) }
//! ```

use candle_core::{D, DType, Result, Tensor};

use crate::plot::Figure;
use crate::train::schedule::Goal;

/// The predicted classes of a batch: `argmax` over the last dimension of `(N, C)` scores, or `scores > 0` for
/// `(N,)`/`(N, 1)` binary logits (and `≥ 0.5` when they are probabilities — pass [`Predictions::Probabilities`]).
fn predicted(scores: &Tensor) -> Result<Tensor> {
    match scores.dims() {
        [_, c] if *c > 1 => scores.argmax(D::Minus1),
        [_] | [_, 1] => scores.flatten_all()?.gt(0.0)?.to_dtype(DType::U32),
        dims => candle_core::bail!(
            "accuracy expects scores of shape (N, C) with one row per example (or (N,) logits for two classes), \
             got {dims:?}"
        ),
    }
}

/// How many predictions in `scores` match `targets` (class indices of shape `(N,)`, any integer or float dtype).
///
/// `scores` is `(N, C)` (the predicted class is the largest score) or `(N,)`/`(N, 1)` binary logits (predicted 1
/// when the logit is above 0).
///
/// # Errors
/// When the batch sizes differ or `scores` has another shape.
pub fn correct(scores: &Tensor, targets: &Tensor) -> Result<usize> {
    let predicted = predicted(scores)?;
    let targets = targets.flatten_all()?.to_dtype(DType::U32)?;
    if predicted.dim(0)? != targets.dim(0)? {
        candle_core::bail!(
            "accuracy: {} predictions but {} targets — pass the scores and labels of the same batch",
            predicted.dim(0)?,
            targets.dim(0)?
        );
    }
    let hits = predicted.eq(&targets)?.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()?;
    Ok(hits as usize)
}

/// The fraction of correct predictions, between 0 and 1 (see [`correct`]); 0 for an empty batch.
///
/// # Errors
/// As [`correct`].
pub fn accuracy(scores: &Tensor, targets: &Tensor) -> Result<f64> {
    let n = targets.elem_count();
    Ok(if n == 0 { 0.0 } else { correct(scores, targets)? as f64 / n as f64 })
}

/// Counts of (true class, predicted class) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self { classes, counts: vec![0; classes * classes] }
    }

    /// Adds a batch: `scores` as for [`correct`] (or predicted class indices of shape `(N,)` as integers) and the
    /// true classes `targets`.
    ///
    /// # Errors
    /// When the sizes differ or a class index is outside `0..classes`.
    pub fn add(&mut self, scores: &Tensor, targets: &Tensor) -> Result<()> {
        let predicted = if scores.rank() == 1 && scores.dtype().is_int() { scores.clone() } else { predicted(scores)? };
        let predicted = predicted.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        let targets = targets.flatten_all()?.to_dtype(DType::U32)?.to_vec1::<u32>()?;
        if predicted.len() != targets.len() {
            candle_core::bail!("confusion matrix: {} predictions but {} targets", predicted.len(), targets.len());
        }
        for (&t, &p) in targets.iter().zip(&predicted) {
            let (t, p) = (t as usize, p as usize);
            if t >= self.classes || p >= self.classes {
                candle_core::bail!(
                    "confusion matrix: class {} is outside 0..{} — is `classes` right?",
                    t.max(p),
                    self.classes
                );
            }
            self.counts[t * self.classes + p] += 1;
        }
        Ok(())
    }

    /// How often true class `truth` was predicted as `predicted`.
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        self.counts.get(truth * self.classes + predicted).copied().unwrap_or(0)
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// All counts, row by row (row = true class).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Overall accuracy: the diagonal over the total (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let diagonal: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        if total == 0 { 0.0 } else { diagonal as f64 / total as f64 }
    }

    /// Accuracy of each true class (recall); `None` for a class with no examples.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        (0..self.classes)
            .map(|c| {
                let row: u64 = (0..self.classes).map(|p| self.count(c, p)).sum();
                (row > 0).then(|| self.count(c, c) as f64 / row as f64)
            })
            .collect()
    }

    /// The off-diagonal pairs `(true, predicted, count)`, most frequent first: the classes the model confuses.
    pub fn most_confused(&self, n: usize) -> Vec<(usize, usize, u64)> {
        let mut pairs: Vec<_> = (0..self.classes)
            .flat_map(|t| (0..self.classes).map(move |p| (t, p)))
            .filter(|(t, p)| t != p)
            .map(|(t, p)| (t, p, self.count(t, p)))
            .filter(|(_, _, c)| *c > 0)
            .collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        pairs.truncate(n);
        pairs
    }

    /// The matrix as a heat-map figure; name the classes with `.class_names(...)`.
    pub fn figure(&self) -> Figure {
        Figure::confusion(self.counts.iter().map(|&c| c as f64).collect::<Vec<f64>>()).title("confusion matrix")
    }
}

/// The mean of the values seen so far, weighted by batch size — the epoch's loss as PyTorch loops compute it
/// with `running_loss += loss.item() * batch_size`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningMean {
    sum: f64,
    count: f64,
}

impl RunningMean {
    /// An empty mean.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` counted `weight` times (e.g. a batch's mean loss and the batch size).
    pub fn add(&mut self, value: f64, weight: usize) {
        self.sum += value * weight as f64;
        self.count += weight as f64;
    }

    /// Adds a scalar tensor (a batch's mean loss) counted `weight` times.
    ///
    /// # Errors
    /// When `value` is not a single number.
    pub fn add_tensor(&mut self, value: &Tensor, weight: usize) -> Result<()> {
        let v = value.to_dtype(DType::F64)?.flatten_all()?;
        if v.elem_count() != 1 {
            candle_core::bail!("RunningMean::add_tensor needs a single number (a loss), got shape {:?}", value.dims());
        }
        self.add(v.to_vec1::<f64>()?[0], weight);
        Ok(())
    }

    /// The mean so far (0 before anything was added).
    pub fn mean(&self) -> f64 {
        if self.count == 0.0 { 0.0 } else { self.sum / self.count }
    }

    /// The total weight added.
    pub fn count(&self) -> f64 {
        self.count
    }

    /// Forgets everything (start of an epoch).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Stops training when a validation metric has not improved by at least `min_delta` for `patience` epochs, and
/// remembers the best epoch (to reload its checkpoint).
///
/// ```
/// use candlelit::prelude::*;
/// let mut stop = EarlyStopping::new(Goal::Minimize, 2);
/// let losses = [0.9, 0.7, 0.71, 0.72, 0.6];
/// let mut epochs = 0;
/// for loss in losses {
///     epochs += 1;
///     if stop.should_stop(loss) { break; }
/// }
/// assert_eq!(epochs, 4);
/// assert_eq!(stop.best_epoch(), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EarlyStopping {
    goal: Goal,
    patience: usize,
    min_delta: f64,
    best: Option<(usize, f64)>,
    epoch: usize,
    waited: usize,
}

impl EarlyStopping {
    /// Stop after `patience` epochs without improvement of the metric in the direction `goal`.
    pub fn new(goal: Goal, patience: usize) -> Self {
        Self { goal, patience, min_delta: 0.0, best: None, epoch: 0, waited: 0 }
    }

    /// The smallest change that counts as an improvement.
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta.abs();
        self
    }

    /// Records this epoch's metric; `true` when it is time to stop.
    pub fn should_stop(&mut self, metric: f64) -> bool {
        let improved = match (self.best, self.goal) {
            (None, _) => true,
            (Some((_, best)), Goal::Minimize) => metric < best - self.min_delta,
            (Some((_, best)), Goal::Maximize) => metric > best + self.min_delta,
        };
        if improved && !metric.is_nan() {
            self.best = Some((self.epoch, metric));
            self.waited = 0;
        } else {
            self.waited += 1;
        }
        self.epoch += 1;
        self.waited >= self.patience
    }

    /// Whether the last metric given was the best so far (save a checkpoint then).
    pub fn improved(&self) -> bool {
        self.waited == 0 && self.best.is_some()
    }

    /// The epoch (counted from 0) of the best metric.
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.map(|(e, _)| e)
    }

    /// The best metric.
    pub fn best(&self) -> Option<f64> {
        self.best.map(|(_, m)| m)
    }
}
