//! Saving and loading weights (safetensors), and checkpoints that resume training exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Result, Tensor};
use candle_nn::VarMap;

use crate::train::optim::OptimizerState;

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("could not {what} {}: {e}", path.display()))
}

/// The variables of a map, sorted by name, as tensors.
pub(crate) fn tensors_of(varmap: &VarMap) -> Result<BTreeMap<String, Tensor>> {
    let data = varmap.data().lock().map_err(|_| candle_core::Error::Msg("the VarMap lock was poisoned".into()))?;
    Ok(data.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect())
}

/// Writes named tensors and text metadata to a safetensors file, through a `.part` file so that an interrupted
/// save never leaves a broken file under the real name.
fn write(path: &Path, tensors: &BTreeMap<String, Tensor>, metadata: Option<HashMap<String, String>>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create the folder", dir, e))?;
    }
    let on_cpu: Vec<(String, Tensor)> =
        tensors.iter().map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?))).collect::<Result<_>>()?;
    let part = path.with_extension("safetensors.part");
    safetensors::serialize_to_file(on_cpu, metadata, &part).map_err(|e| io_error("write", &part, e))?;
    std::fs::rename(&part, path).map_err(|e| io_error("finish writing", path, e))
}

/// Saves every variable of `varmap` (weights and batch-norm statistics) to a safetensors file — PyTorch's
/// `torch.save(model.state_dict(), path)`.
///
/// # Errors
/// When the file cannot be written.
pub fn save_weights(varmap: &VarMap, path: impl AsRef<Path>) -> Result<()> {
    write(path.as_ref(), &tensors_of(varmap)?, None)
}

fn read(path: &Path, device: &Device) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| {
        io_error("read the weights file", path, format!("{e} — was it saved under this name, from this folder?"))
    })?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| io_error("read", path, format!("{e} — this is not a safetensors file, or it is cut short")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)?;
    Ok((tensors, metadata))
}

/// Copies the tensors whose names start with `prefix` into the variables of `varmap` (names without the prefix),
/// after checking that names and shapes agree exactly; on any mismatch nothing is changed.
fn assign(varmap: &VarMap, tensors: &HashMap<String, Tensor>, prefix: &str, path: &Path) -> Result<()> {
    let data = varmap.data().lock().map_err(|_| candle_core::Error::Msg("the VarMap lock was poisoned".into()))?;
    let saved: BTreeMap<&str, &Tensor> =
        tensors.iter().filter_map(|(n, t)| n.strip_prefix(prefix).map(|n| (n, t))).collect();
    let mut problems = Vec::new();
    for (name, var) in data.iter() {
        match saved.get(name.as_str()) {
            None => problems.push(format!("`{name}` is missing from the file")),
            Some(t) if t.dims() != var.dims() => problems.push(format!(
                "`{name}` has shape {:?} in the file but {:?} in the model",
                t.dims(),
                var.dims()
            )),
            Some(_) => {}
        }
    }
    for name in saved.keys() {
        if !data.contains_key(*name) {
            problems.push(format!("the file has `{name}`, which the model does not"));
        }
    }
    if !problems.is_empty() {
        problems.sort();
        candle_core::bail!(
            "the weights in {} do not fit this model (was it saved from a model built the same way?):\n  {}",
            path.display(),
            problems.join("\n  ")
        );
    }
    for (name, var) in data.iter() {
        if let Some(t) = saved.get(name.as_str()) {
            var.set(&t.to_device(var.device())?.to_dtype(var.dtype())?)?;
        }
    }
    Ok(())
}

/// Loads weights saved by [`save_weights`] into the variables of `varmap`, in place (so the layers built from it
/// see them) — PyTorch's `model.load_state_dict(torch.load(path))`, strict: every name and shape must match.
///
/// # Errors
/// When the file is missing or not safetensors, or names or shapes differ (all differences are listed, and
/// nothing is changed).
pub fn load_weights(varmap: &VarMap, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let (tensors, _) = read(path, &Device::Cpu)?;
    assign(varmap, &tensors, "", path)
}

/// What a checkpoint holds besides the weights and optimizer state.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    /// The number of epochs completed when it was saved.
    pub epoch: usize,
    /// The learning rate at that moment.
    pub learning_rate: f64,
    /// Any other numbers you saved (best validation accuracy, scheduler epoch, ...).
    pub extra: BTreeMap<String, f64>,
}

/// A training checkpoint in one safetensors file: the model's variables (`model.…`), the optimizer's state
/// (`optim.…`) and, as metadata, the epoch, the learning rate and any numbers you add. Loading it into a model and
/// optimizer built the same way resumes training exactly where it stopped.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| candle::Error::Msg(e.to_string()))?;
/// # let path = dir.path().join("ckpt.safetensors");
/// let model = Sequential::new(&Device::Cpu).add("fc", |vb| nn::linear(2, 1, vb))?;
/// let mut opt = Adam::new(model.parameters(), 0.01)?;
/// // ... train for 3 epochs ...
/// Checkpoint::new(3).with("best_accuracy", 0.91).save(&path, model.varmap(), &opt)?;
///
/// let info = Checkpoint::load(&path, model.varmap(), &mut opt)?;
/// assert_eq!(info.epoch, 3);                 // continue with epoch 3 (counting from 0)
/// assert_eq!(info.extra["best_accuracy"], 0.91);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    epoch: usize,
    extra: BTreeMap<String, f64>,
}

impl Checkpoint {
    /// A checkpoint after `epoch` completed epochs.
    pub fn new(epoch: usize) -> Self {
        Self { epoch, extra: BTreeMap::new() }
    }

    /// Adds a number to keep (a metric, the scheduler's epoch, ...).
    pub fn with(mut self, name: &str, value: f64) -> Self {
        self.extra.insert(name.to_string(), value);
        self
    }

    /// Writes the checkpoint: variables of `varmap`, the state of `opt` and the metadata.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save<O: OptimizerState + candle_nn::Optimizer>(
        &self,
        path: impl AsRef<Path>,
        varmap: &VarMap,
        opt: &O,
    ) -> Result<()> {
        let mut tensors: BTreeMap<String, Tensor> =
            tensors_of(varmap)?.into_iter().map(|(n, t)| (format!("model.{n}"), t)).collect();
        for (n, t) in opt.state_tensors()? {
            tensors.insert(format!("optim.{n}"), t);
        }
        let mut metadata = HashMap::new();
        metadata.insert("candlelit.epoch".to_string(), self.epoch.to_string());
        metadata.insert("candlelit.learning_rate".to_string(), format!("{:e}", opt.learning_rate()));
        for (k, v) in &self.extra {
            metadata.insert(format!("extra.{k}"), format!("{v:e}"));
        }
        write(path.as_ref(), &tensors, Some(metadata))
    }

    /// Restores a checkpoint into `varmap` and `opt` (built as when it was saved) and returns its epoch, learning
    /// rate and extra numbers. The optimizer's learning rate is set back too.
    ///
    /// # Errors
    /// When the file is missing or not a candlelit checkpoint, or it does not fit the model or the optimizer;
    /// then nothing is changed.
    pub fn load<O: OptimizerState + candle_nn::Optimizer>(
        path: impl AsRef<Path>,
        varmap: &VarMap,
        opt: &mut O,
    ) -> Result<CheckpointInfo> {
        let path = path.as_ref();
        let (tensors, metadata) = read(path, &Device::Cpu)?;
        let number = |key: &str| -> Result<f64> {
            metadata.get(key).and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| {
                candle_core::Error::Msg(format!(
                    "{} is not a candlelit checkpoint (no `{key}` in its metadata); weights saved with \
                     `save_weights` load with `load_weights`",
                    path.display()
                ))
            })
        };
        let epoch = number("candlelit.epoch")? as usize;
        let learning_rate = number("candlelit.learning_rate")?;
        let optim: HashMap<String, Tensor> =
            tensors.iter().filter_map(|(n, t)| n.strip_prefix("optim.").map(|n| (n.to_string(), t.clone()))).collect();
        // Check the optimizer state first, so a mismatch leaves both model and optimizer untouched.
        for (name, t) in &optim {
            if let Some((index, _)) = name.split_once('.')
                && let Ok(i) = index.parse::<usize>()
                && let Some(var) = opt.vars().get(i)
                && !name.ends_with(".step")
                && t.dims() != var.dims()
            {
                candle_core::bail!(
                    "the optimizer state in {} does not fit this optimizer: `{name}` has shape {:?}, variable {i} \
                     has {:?}",
                    path.display(),
                    t.dims(),
                    var.dims()
                );
            }
        }
        assign(varmap, &tensors, "model.", path)?;
        opt.load_state_tensors(&optim)?;
        opt.set_learning_rate(learning_rate);
        let extra = metadata
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("extra.")?.to_string(), v.parse::<f64>().ok()?)))
            .collect();
        Ok(CheckpointInfo { epoch, learning_rate, extra })
    }
}
