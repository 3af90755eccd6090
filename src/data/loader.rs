//! [`DataLoader`]: batches from a dataset, shuffled, collated, fetched ahead on worker threads, on the device.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let x = Tensor::arange(0f32, 20., &Device::Cpu)?.reshape((10, 2))?;
//! let y = Tensor::arange(0u32, 10, &Device::Cpu)?;
//! let ds = TensorDataset::new(vec![x, y])?;
//! let loader = DataLoader::new(ds).batch_size(4).shuffle(true).seed(0).device(&Device::Cpu);
//! assert_eq!(loader.len(), 3);                       // 4 + 4 + 2
//! for batch in &loader {                              // a new order every epoch
//!     let batch = batch?;                             // one Result per batch
//!     let (xb, yb) = (&batch[0], &batch[1]);
//!     assert_eq!(xb.dim(0)?, yb.dim(0)?);
//! }
//! # Ok(()) }
//! ```
//!
//! **Order and seeds.** Each epoch draws its order from the loader's seed and the epoch number
//! ([`epoch_rng`](super::epoch_rng)), so the same seed gives the same batches on every run. Random transforms draw
//! from [`with_item_rng`], which the loader seeds per item from the seed, the epoch and the item's place in the
//! epoch — so the batches are the same whatever `num_workers` is. Without [`seed`](DataLoader::seed), the seed comes
//! from the prelude's generator, so `manual_seed` at the top of a notebook fixes it.
//!
//! **Workers.** With `num_workers(n)`, `n` threads fetch and collate batches ahead of the training loop, each
//! keeping up to `prefetch` batches ready; batch `k` is built by worker `k % n` and handed out in order, so the
//! loop sees batches in sampler order whatever the timing. Threads, not processes: Rust has no interpreter lock.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use candle_core::{Device, Error, Result};
use rand::{Rng, SeedableRng};

use super::collate::{Collate, DefaultCollate};
use super::dataset::Dataset;
use super::sampler::{BatchSampler, Batches, RandomSampler, Sampler, SequentialSampler, epoch_rng};
use crate::random::PreludeRng;

thread_local! {
    static ITEM_RNG: RefCell<Option<PreludeRng>> = const { RefCell::new(None) };
}

/// Runs `f` with the generator for the item being loaded: what random transforms (flips, crops) draw from.
///
/// Inside a [`DataLoader`] it is seeded per item, so the same seed gives the same augmented batches on any number
/// of workers; anywhere else it is the prelude's generator, which `manual_seed` controls.
pub fn with_item_rng<R>(f: impl FnOnce(&mut PreludeRng) -> R) -> R {
    ITEM_RNG.with(|cell| match cell.borrow_mut().as_mut() {
        Some(rng) => f(rng),
        None => crate::random::with_rng(f),
    })
}

/// Sets the item generator for the duration of `f`.
fn with_item_seed<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    let previous = ITEM_RNG.with(|cell| cell.replace(Some(PreludeRng::seed_from_u64(seed))));
    let result = f();
    ITEM_RNG.with(|cell| cell.replace(previous));
    result
}

/// The seed of the item at `position` in epoch `epoch` (SplitMix64 over the three numbers).
fn item_seed(seed: u64, epoch: u64, position: usize) -> u64 {
    let mut z =
        seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (position as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Batches from a [`Dataset`], like `torch.utils.data.DataLoader`; set it up with the builder methods, then
/// iterate over it (`for batch in &loader`) once per epoch.
pub struct DataLoader<D: Dataset, C = DefaultCollate> {
    dataset: Arc<D>,
    collate: Arc<C>,
    batch_size: usize,
    shuffle: bool,
    drop_last: bool,
    sampler: Option<Arc<dyn Sampler>>,
    batch_sampler: Option<Arc<dyn BatchSampler>>,
    num_workers: usize,
    prefetch: usize,
    device: Option<Device>,
    seed: u64,
    epoch: AtomicU64,
}

impl<D: Dataset + 'static> DataLoader<D, DefaultCollate> {
    /// A loader over `dataset` with PyTorch's defaults: batches of 1, in order, the last short batch kept, no
    /// workers, the default collate; batches go to the session's [`device`](crate::device::device).
    pub fn new(dataset: D) -> Self {
        DataLoader {
            dataset: Arc::new(dataset),
            collate: Arc::new(DefaultCollate),
            batch_size: 1,
            shuffle: false,
            drop_last: false,
            sampler: None,
            batch_sampler: None,
            num_workers: 0,
            prefetch: 2,
            device: None,
            seed: crate::random::with_rng(|rng| rng.random()),
            epoch: AtomicU64::new(0),
        }
    }
}

impl<D: Dataset + 'static, C: Collate<D::Item> + 'static> DataLoader<D, C> {
    /// Items per batch (default 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Visit items in a new random order every epoch (default: in order). Ignored when a
    /// [`sampler`](Self::sampler) is given.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Leave out the last batch when it is shorter than `batch_size` (default: keep it).
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// The seed of the shuffling and of random transforms (default: drawn from the prelude's generator).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Which indices each epoch visits: [`SequentialSampler`], [`RandomSampler`],
    /// [`WeightedRandomSampler`](super::WeightedRandomSampler), [`SubsetRandomSampler`](super::SubsetRandomSampler)
    /// or your own. Replaces `shuffle`.
    pub fn sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.sampler = Some(Arc::new(sampler));
        self
    }

    /// How indices group into batches; replaces `batch_size`, `shuffle`, `sampler` and `drop_last`.
    pub fn batch_sampler(mut self, batch_sampler: impl BatchSampler + 'static) -> Self {
        self.batch_sampler = Some(Arc::new(batch_sampler));
        self
    }

    /// Threads that fetch and collate batches ahead of the loop (default 0: the loop's own thread does it).
    pub fn num_workers(mut self, num_workers: usize) -> Self {
        self.num_workers = num_workers;
        self
    }

    /// Batches each worker keeps ready (default 2; at least 1).
    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Where batches land (default: the session's [`device`](crate::device::device), chosen when an epoch
    /// starts; when that choice fails — `CANDLELIT_DEVICE=cuda` without a GPU — the epoch's one item is the error).
    pub fn device(mut self, device: &Device) -> Self {
        self.device = Some(device.clone());
        self
    }

    /// How items become a batch: [`PadCollate`](super::PadCollate) for sequences, or a closure
    /// `|items: Vec<Item>, dev: &Device| -> Result<Batch>`.
    pub fn collate<C2: Collate<D::Item> + 'static>(self, collate: C2) -> DataLoader<D, C2> {
        DataLoader {
            dataset: self.dataset,
            collate: Arc::new(collate),
            batch_size: self.batch_size,
            shuffle: self.shuffle,
            drop_last: self.drop_last,
            sampler: self.sampler,
            batch_sampler: self.batch_sampler,
            num_workers: self.num_workers,
            prefetch: self.prefetch,
            device: self.device,
            seed: self.seed,
            epoch: self.epoch,
        }
    }

    /// The dataset batches come from.
    pub fn dataset(&self) -> &D {
        &self.dataset
    }

    /// The seed in use.
    pub fn current_seed(&self) -> u64 {
        self.seed
    }

    /// The epoch the next [`iter`](Self::iter) will give.
    pub fn next_epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Makes the next [`iter`](Self::iter) give epoch `epoch` (to resume a run where it stopped).
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::SeqCst);
    }

    /// The number of batches in an epoch (for a custom batch sampler: in the next epoch).
    pub fn len(&self) -> usize {
        self.plan(self.next_epoch()).map_or(0, |batches| batches.len())
    }

    /// Whether an epoch has no batches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches of the next epoch, in order; each call moves on one epoch (PyTorch's `iter(loader)`).
    pub fn iter(&self) -> LoaderIter<C::Batch> {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst);
        self.iter_epoch(epoch)
    }

    /// The batches of epoch `epoch`, without moving the loader's epoch on: the same call gives the same batches.
    pub fn iter_epoch(&self, epoch: u64) -> LoaderIter<C::Batch> {
        let plan = match self.plan(epoch) {
            Ok(plan) => plan,
            Err(e) => return LoaderIter::failed(e),
        };
        let device = match &self.device {
            Some(device) => device.clone(),
            None => match crate::device::device() {
                Ok(device) => device,
                Err(e) => return LoaderIter::failed(e),
            },
        };
        let job = Arc::new(Job {
            dataset: Arc::clone(&self.dataset),
            collate: Arc::clone(&self.collate),
            device,
            seed: self.seed,
            epoch,
            batches: plan,
        });
        if self.num_workers == 0 {
            LoaderIter { source: Source::Inline(job), next: 0, workers: Vec::new(), stop: None }
        } else {
            spawn_workers(job, self.num_workers, self.prefetch)
        }
    }

    /// The batches (as index lists with their first position in the epoch) of epoch `epoch`.
    fn plan(&self, epoch: u64) -> Result<Vec<(usize, Vec<usize>)>> {
        let mut rng = epoch_rng(self.seed, epoch);
        let len = self.dataset.len();
        let batches = match &self.batch_sampler {
            Some(custom) => custom.batches(len, &mut rng)?,
            None => {
                let sampler: Box<dyn Sampler> = match &self.sampler {
                    Some(sampler) => Box::new(Arc::clone(sampler)),
                    None if self.shuffle => Box::new(RandomSampler::new()),
                    None => Box::new(SequentialSampler),
                };
                Batches::new(sampler, self.batch_size, self.drop_last)?.batches(len, &mut rng)?
            }
        };
        let mut position = 0;
        Ok(batches
            .into_iter()
            .map(|batch| {
                let first = position;
                position += batch.len();
                (first, batch)
            })
            .collect())
    }
}

impl Sampler for Arc<dyn Sampler> {
    fn indices(&self, len: usize, rng: &mut PreludeRng) -> Result<Vec<usize>> {
        (**self).indices(len, rng)
    }
}

impl<D: Dataset + 'static, C: Collate<D::Item> + 'static> IntoIterator for &DataLoader<D, C> {
    type Item = Result<C::Batch>;
    type IntoIter = LoaderIter<C::Batch>;
    fn into_iter(self) -> LoaderIter<C::Batch> {
        self.iter()
    }
}

/// Everything needed to build any batch of one epoch, shared by the workers.
struct Job<D: Dataset, C> {
    dataset: Arc<D>,
    collate: Arc<C>,
    device: Device,
    seed: u64,
    epoch: u64,
    batches: Vec<(usize, Vec<usize>)>,
}

/// Builds batch number `k` of the job.
trait BuildBatch<B>: Send + Sync {
    fn count(&self) -> usize;
    fn build(&self, k: usize) -> Result<B>;
}

impl<D: Dataset, C: Collate<D::Item>> BuildBatch<C::Batch> for Job<D, C> {
    fn count(&self) -> usize {
        self.batches.len()
    }

    fn build(&self, k: usize) -> Result<C::Batch> {
        let (first, indices) = &self.batches[k];
        let mut items = Vec::with_capacity(indices.len());
        for (j, &index) in indices.iter().enumerate() {
            let fetched = with_item_seed(item_seed(self.seed, self.epoch, first + j), || {
                catch_unwind(AssertUnwindSafe(|| self.dataset.get(index)))
            });
            match fetched {
                Ok(Ok(item)) => items.push(item),
                Ok(Err(e)) => return Err(Error::Msg(format!("item {index} of the dataset could not be loaded: {e}"))),
                Err(panic) => {
                    let why = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("no message");
                    return Err(Error::Msg(format!("item {index} of the dataset panicked while loading: {why}")));
                }
            }
        }
        self.collate
            .collate(items, &self.device)
            .map_err(|e| Error::Msg(format!("batch {k} (items {indices:?}) could not be collated: {e}")))
    }
}

enum Source<B> {
    Failed(Option<Error>),
    Inline(Arc<dyn BuildBatch<B>>),
    Workers(Vec<Receiver<Result<B>>>, usize),
}

/// The batches of one epoch, each a `Result`; made by [`DataLoader::iter`]. Dropping it early stops the workers.
pub struct LoaderIter<B> {
    source: Source<B>,
    next: usize,
    workers: Vec<JoinHandle<()>>,
    stop: Option<Arc<AtomicBool>>,
}

impl<B> LoaderIter<B> {
    fn failed(e: Error) -> Self {
        LoaderIter { source: Source::Failed(Some(e)), next: 0, workers: Vec::new(), stop: None }
    }

    fn remaining(&self) -> usize {
        match &self.source {
            Source::Failed(e) => usize::from(e.is_some()),
            Source::Inline(job) => job.count() - self.next,
            Source::Workers(_, count) => count - self.next,
        }
    }
}

fn spawn_workers<B: Send + 'static, J: BuildBatch<B> + 'static>(
    job: Arc<J>,
    n: usize,
    prefetch: usize,
) -> LoaderIter<B> {
    let count = job.count();
    let stop = Arc::new(AtomicBool::new(false));
    let mut receivers = Vec::with_capacity(n);
    let mut workers = Vec::with_capacity(n);
    for w in 0..n.min(count.max(1)) {
        let (tx, rx): (SyncSender<Result<B>>, Receiver<Result<B>>) = sync_channel(prefetch);
        let (job, stop) = (Arc::clone(&job), Arc::clone(&stop));
        let spawned = std::thread::Builder::new().name(format!("candlelit-loader-{w}")).spawn(move || {
            let mut k = w;
            while k < count && !stop.load(Ordering::SeqCst) {
                if tx.send(job.build(k)).is_err() {
                    break; // the loop stopped listening
                }
                k += n;
            }
        });
        match spawned {
            Ok(handle) => workers.push(handle),
            Err(e) => return LoaderIter::failed(Error::Msg(format!("could not start a loader worker thread: {e}"))),
        }
        receivers.push(rx);
    }
    LoaderIter { source: Source::Workers(receivers, count), next: 0, workers, stop: Some(stop) }
}

impl<B> Iterator for LoaderIter<B> {
    type Item = Result<B>;

    fn next(&mut self) -> Option<Result<B>> {
        let k = self.next;
        let item = match &mut self.source {
            Source::Failed(e) => e.take().map(Err),
            Source::Inline(job) => (k < job.count()).then(|| job.build(k)),
            Source::Workers(receivers, count) => (k < *count).then(|| {
                receivers[k % receivers.len()]
                    .recv()
                    .unwrap_or_else(|_| Err(Error::Msg(format!("the worker building batch {k} stopped unexpectedly"))))
            }),
        };
        if item.is_some() {
            self.next += 1;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        (n, Some(n))
    }
}

impl<B> ExactSizeIterator for LoaderIter<B> {}

impl<B> Drop for LoaderIter<B> {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::SeqCst);
        }
        // Dropping the receivers wakes any worker waiting to hand over a batch; then they finish.
        self.source = Source::Failed(None);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_seeds_differ_by_seed_epoch_and_position() {
        let base = item_seed(1, 0, 0);
        assert_ne!(base, item_seed(2, 0, 0));
        assert_ne!(base, item_seed(1, 1, 0));
        assert_ne!(base, item_seed(1, 0, 1));
        assert_eq!(base, item_seed(1, 0, 0));
    }

    #[test]
    fn the_item_generator_is_restored_after_each_item() {
        let inside: u64 = with_item_seed(5, || with_item_rng(|rng| rng.random()));
        let again: u64 = with_item_seed(5, || with_item_rng(|rng| rng.random()));
        assert_eq!(inside, again);
        assert!(ITEM_RNG.with(|cell| cell.borrow().is_none()));
    }
}
