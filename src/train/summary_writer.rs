//! [`SummaryWriter`]: TensorBoard event files, the counterpart of PyTorch's
//! `torch.utils.tensorboard.SummaryWriter`.
//!
//! Log a number per step or per epoch, then look at the curves with `tensorboard --logdir runs`:
//!
//! ```no_run
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let mut writer = SummaryWriter::new("runs/day06-mlp")?;   // like SummaryWriter("runs/day06-mlp")
//! for epoch in 0..10 {
//!     let loss = 1.0 / (epoch as f64 + 1.0);                   // ... one epoch of training ...
//!     writer.add_scalar("loss/train", loss, epoch)?;           // like writer.add_scalar("loss/train", loss, epoch)
//! }
//! writer.close()?;                                             // or let it drop: that flushes too
//! // then, in a terminal: tensorboard --logdir runs
//! # Ok(()) }
//! ```
//!
//! What is in the file: a sequence of TFRecords (`u64` length, masked CRC32C of the length, the bytes, masked
//! CRC32C of the bytes), each holding one protobuf `Event`. The first event names the format
//! (`file_version: "brain.Event:2"`); each scalar is an `Event` with a wall time, a step and a `Summary` holding
//! one `Value { tag, simple_value }`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::{Error, Result};

// The three messages of TensorBoard's `event.proto` / `summary.proto` that scalars need, declared with prost's
// derive (no `.proto` files, no protoc, no build script). prost is the protobuf crate the Rust ecosystem keeps; its
// derive's own dependencies (syn, quote, itertools, anyhow) are already in the build, so it costs two small crates,
// and the field numbers below are the whole of the schema there is to check against TensorFlow's.

/// `tensorflow.Event`: one record of the file.
#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    /// Seconds since the Unix epoch when the event was written.
    #[prost(double, tag = "1")]
    wall_time: f64,
    /// The training step (or epoch) the event belongs to.
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "EventWhat", tags = "3, 5")]
    what: Option<EventWhat>,
}

/// The `oneof what` of `tensorflow.Event` (only the two cases written here).
#[derive(Clone, PartialEq, prost::Oneof)]
enum EventWhat {
    /// `"brain.Event:2"` in the first event of each file.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// The numbers logged at this step.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `tensorflow.Summary`.
#[derive(Clone, PartialEq, prost::Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<SummaryValue>,
}

/// `tensorflow.Summary.Value`, the scalar case.
#[derive(Clone, PartialEq, prost::Message)]
struct SummaryValue {
    #[prost(string, tag = "1")]
    tag: String,
    /// In `summary.proto` `simple_value` sits in `oneof value`, so it must be written even when it is 0.0 (a plain
    /// proto3 float would leave 0.0 out, and TensorBoard then drops that point).
    #[prost(oneof = "SummaryValueKind", tags = "2")]
    value: Option<SummaryValueKind>,
}

/// The `oneof value` of `tensorflow.Summary.Value` (only the scalar case written here).
#[derive(Clone, PartialEq, prost::Oneof)]
enum SummaryValueKind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
}

/// CRC32C (Castagnoli, as in iSCSI), the checksum of TFRecord framing.
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC: a rotated and offset CRC32C, so that a CRC of data that itself holds CRCs stays strong.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = CRC32C.checksum(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Numbers the event files this process opens, as PyTorch does, so that two writers on one folder in the same
/// second still get two files.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display, hint: &str) -> Error {
    Error::Msg(format!("SummaryWriter: could not {what} {}: {e}{hint}", path.display()))
}

/// Writes TensorBoard event files: scalars per step, shown as curves by `tensorboard --logdir <folder>`.
///
/// [`new`](Self::new) creates the folder and one `events.out.tfevents.<secs>.<hostname>.<pid>.<n>` file in it,
/// named as PyTorch and TensorFlow name theirs. Each `add_…` call writes its events to the file at once, so a
/// TensorBoard that is already open shows them on its next reload; dropping the writer flushes too (use
/// [`close`](Self::close) to see an error instead of a warning on stderr).
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
/// # let runs = tmp.path().join("runs");
/// let mut writer = SummaryWriter::new(runs.join("lr-0.1"))?;
/// for step in 0..100 {
///     let loss = (-(step as f64) / 30.0).exp();         // stands in for loss.to_scalar::<f32>()?
///     writer.add_scalar("loss", loss, step)?;
/// }
/// assert!(writer.path().starts_with(runs.join("lr-0.1")));
/// assert!(writer.path().to_string_lossy().contains("events.out.tfevents."));   // the name TensorBoard looks for
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SummaryWriter {
    log_dir: PathBuf,
    path: PathBuf,
    file: BufWriter<File>,
    /// One writer per `add_scalars` series, in its own sub-folder (`<main_tag>_<name>`), as PyTorch does.
    children: BTreeMap<String, SummaryWriter>,
}

impl SummaryWriter {
    /// Creates the folder `log_dir` (and its parents) and a new event file in it, beginning with the event that
    /// names the format. Like PyTorch, several runs go in sibling folders (`runs/lr-0.1`, `runs/lr-0.01`) and
    /// `tensorboard --logdir runs` shows them side by side.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    /// # let runs = tmp.path().join("runs");
    /// for lr in [0.1, 0.01] {
    ///     let mut writer = SummaryWriter::new(runs.join(format!("lr-{lr}")))?;
    ///     writer.add_scalar("hparams/lr", lr, 0)?;
    /// }
    /// assert!(runs.join("lr-0.01").is_dir());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the folder cannot be created (a file is in the way, no permission) or the file cannot be written.
    pub fn new(log_dir: impl AsRef<Path>) -> Result<Self> {
        let log_dir = log_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&log_dir).map_err(|e| {
            io_error(
                "create the log folder",
                &log_dir,
                e,
                " — pick a folder you can write to whose parents are folders, not files (e.g. \"runs/day06\")",
            )
        })?;
        let host = gethostname::gethostname().to_string_lossy().replace(['/', '\\'], "_");
        let name = format!(
            "events.out.tfevents.{:010}.{host}.{}.{}",
            now() as u64,
            std::process::id(),
            FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = log_dir.join(name);
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
            io_error("create the event file", &path, e, " — is the folder writable, and is the disk not full?")
        })?;
        let mut writer = Self { log_dir, path, file: BufWriter::new(file), children: BTreeMap::new() };
        let version = EventWhat::FileVersion("brain.Event:2".to_string());
        writer.write_event(&Event { wall_time: now(), step: 0, what: Some(version) })?;
        writer.flush()?;
        Ok(writer)
    }

    /// Logs one number under `tag` at `step`, like PyTorch's `writer.add_scalar(tag, value, global_step)`.
    ///
    /// Tags with a `/` group curves in TensorBoard: `loss/train` and `loss/val` land in one "loss" section. The
    /// value is stored as a 32-bit float, as TensorBoard keeps it.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    /// let mut writer = SummaryWriter::new(tmp.path().join("run"))?;
    /// let loss = Tensor::new(0.25f32, &Device::Cpu)?;
    /// writer.add_scalar("loss/train", loss.to_scalar::<f32>()?, 0)?;   // an f32 from a tensor
    /// writer.add_scalar("accuracy/train", 0.9, 0)?;                   // or any f64
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `tag` is empty, or the file cannot be written (disk full, folder removed).
    pub fn add_scalar(&mut self, tag: &str, value: impl Into<f64>, step: usize) -> Result<()> {
        self.write_scalar(tag, value.into(), step)?;
        self.flush()
    }

    /// Logs several related numbers at `step` so that TensorBoard draws them in one chart, like PyTorch's
    /// `writer.add_scalars(main_tag, {"train": 0.5, "val": 0.6}, global_step)`.
    ///
    /// As in PyTorch, each name gets its own run: a sub-folder `<main_tag>_<name>` of this writer's folder (a `/`
    /// in either becomes `_`), where the value is logged under the tag `main_tag`. TensorBoard then lists
    /// `run/loss_train` and `run/loss_val` as runs and overlays their `loss` curves.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    /// # let run = tmp.path().join("run");
    /// let mut writer = SummaryWriter::new(&run)?;
    /// for epoch in 0..3 {
    ///     let (train, val) = (1.0 / (epoch as f64 + 1.0), 1.2 / (epoch as f64 + 1.0));
    ///     writer.add_scalars("loss", &[("train", train), ("val", val)], epoch)?;
    /// }
    /// assert!(run.join("loss_train").is_dir() && run.join("loss_val").is_dir());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When `main_tag` or a name is empty, or a sub-folder or its file cannot be written.
    pub fn add_scalars(&mut self, main_tag: &str, values: &[(&str, f64)], step: usize) -> Result<()> {
        check_tag(main_tag)?;
        for (name, value) in values {
            if name.is_empty() {
                candle_core::bail!(
                    "SummaryWriter::add_scalars(\"{main_tag}\", ...): a name is empty — name each value, e.g. \
                     &[(\"train\", train_loss), (\"val\", val_loss)]"
                );
            }
            let folder = format!("{}_{}", main_tag.replace(['/', '\\'], "_"), name.replace(['/', '\\'], "_"));
            let child = match self.children.entry(folder) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let child = SummaryWriter::new(self.log_dir.join(entry.key()))?;
                    entry.insert(child)
                }
            };
            child.add_scalar(main_tag, *value, step)?;
        }
        Ok(())
    }

    /// Writes out what is buffered, here and in the `add_scalars` sub-folders, like PyTorch's `writer.flush()`.
    /// The `add_…` calls already do it; call it yourself only after writing to the file some other way.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    /// let mut writer = SummaryWriter::new(tmp.path().join("run"))?;
    /// writer.add_scalar("loss", 0.5, 1)?;
    /// writer.flush()?;
    /// assert!(std::fs::metadata(writer.path()).map_err(|e| candle::Error::Msg(e.to_string()))?.len() > 0);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the file cannot be written (disk full, folder removed).
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| io_error("write to", &self.path, e, " — is the disk full?"))?;
        for child in self.children.values_mut() {
            child.flush()?;
        }
        Ok(())
    }

    /// Flushes and closes the file(s), reporting any error, like PyTorch's `writer.close()`. Letting the writer
    /// drop does the same but can only warn on stderr.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    /// let mut writer = SummaryWriter::new(tmp.path().join("run"))?;
    /// writer.add_scalar("loss", 0.5, 1)?;
    /// writer.close()?;                       // `writer` cannot be used after this
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the file cannot be written out (disk full, folder removed).
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        for child in std::mem::take(&mut self.children).into_values() {
            child.close()?;
        }
        self.file.get_ref().sync_all().map_err(|e| io_error("save", &self.path, e, " — is the disk full?"))
    }

    /// The folder given to [`new`](Self::new), like PyTorch's `writer.log_dir`.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    /// let writer = SummaryWriter::new(tmp.path().join("run"))?;
    /// assert_eq!(writer.log_dir(), tmp.path().join("run"));
    /// # Ok(()) }
    /// ```
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The event file this writer writes (inside [`log_dir`](Self::log_dir)).
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
    /// let writer = SummaryWriter::new(tmp.path().join("run"))?;
    /// println!("TensorBoard will read {}", writer.path().display());
    /// assert_eq!(writer.path().parent(), Some(writer.log_dir()));
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_scalar(&mut self, tag: &str, value: f64, step: usize) -> Result<()> {
        check_tag(tag)?;
        let step = i64::try_from(step).map_err(|_| {
            Error::Msg(format!("SummaryWriter: step {step} does not fit TensorBoard's 64-bit signed steps"))
        })?;
        let value = SummaryValue { tag: tag.to_string(), value: Some(SummaryValueKind::SimpleValue(value as f32)) };
        let summary = EventWhat::Summary(Summary { value: vec![value] });
        self.write_event(&Event { wall_time: now(), step, what: Some(summary) })
    }

    /// Appends one TFRecord holding `event` to the buffer.
    fn write_event(&mut self, event: &Event) -> Result<()> {
        let data = prost::Message::encode_to_vec(event);
        let length = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&length);
        record.extend_from_slice(&masked_crc(&length).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.file.write_all(&record).map_err(|e| io_error("write to", &self.path, e, " — is the disk full?"))
    }
}

fn check_tag(tag: &str) -> Result<()> {
    if tag.is_empty() {
        candle_core::bail!("SummaryWriter: the tag is empty — name the curve, e.g. \"loss/train\"");
    }
    Ok(())
}

impl Drop for SummaryWriter {
    fn drop(&mut self) {
        if let Err(e) = self.file.flush() {
            eprintln!(
                "SummaryWriter: the last events for {} were lost: {e} — call writer.close()? to handle this",
                self.path.display()
            );
        }
        // The children flush in their own `drop`.
    }
}
