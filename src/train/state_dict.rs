//! Loading weights saved elsewhere into a model: PyTorch's `model.load_state_dict(sd, strict=False)`, with the
//! names mapped on the way and a [`LoadReport`] of what did not fit.
//!
//! [`read_state_dict`] reads a safetensors file, a PyTorch `.pth`/`.pt` (zip, PyTorch ≥ 1.6) or a legacy PyTorch
//! file (before 1.6, such as the published CIFAR ResNets) — whichever the file is, by its first bytes.
//! [`LoadOptions`] says how names change (`module.` prefixes from `DataParallel`, a backbone saved under
//! `features.`) and whether every name must match.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let model = Sequential::new(&Device::Cpu).add("fc", |vb| nn::linear(2, 1, vb))?;
//! // Weights from a model saved as `module.fc.*`, with one extra tensor this model does not have.
//! let saved = vec![
//!     ("module.fc.weight".to_string(), Tensor::new(&[[1f32, 2.]], &Device::Cpu)?),
//!     ("module.fc.bias".to_string(), Tensor::new(&[0.5f32], &Device::Cpu)?),
//!     ("module.head.weight".to_string(), Tensor::zeros((3, 1), DType::F32, &Device::Cpu)?),
//! ];
//! let report = model.load_state_dict(saved, &LoadOptions::non_strict().strip_prefix("module."))?;
//! assert_eq!(report.loaded, ["fc.bias", "fc.weight"]);
//! assert_eq!(report.unexpected, ["head.weight"]);
//! assert!(report.missing.is_empty());
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use candle_core::{Device, Result, Tensor};
use candle_nn::VarMap;

use super::torch_legacy::{is_legacy_torch, read_legacy_torch};

/// How [`load_state_dict`] maps the file's names onto the model's, and how strict it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    strict: bool,
    renames: Vec<(String, String)>,
}

impl LoadOptions {
    /// Every name of the model must be in the file and every name of the file in the model
    /// (`load_state_dict(sd)`); differences are an error and nothing is loaded.
    pub fn strict() -> Self {
        Self { strict: true, renames: Vec::new() }
    }

    /// Load the names both sides have and report the rest (`load_state_dict(sd, strict=False)`).
    pub fn non_strict() -> Self {
        Self { strict: false, renames: Vec::new() }
    }

    /// Drop `prefix` from the file's names that start with it (`"module."` from `nn.DataParallel`).
    pub fn strip_prefix(self, prefix: &str) -> Self {
        self.rename_prefix(prefix, "")
    }

    /// Replace the prefix `from` of the file's names with `to` (`"backbone."` → `""`, `"fc."` → `"head."`). The
    /// first rule that matches a name applies.
    pub fn rename_prefix(mut self, from: &str, to: &str) -> Self {
        self.renames.push((from.to_string(), to.to_string()));
        self
    }

    /// The model's name for a name in the file.
    fn map(&self, name: &str) -> String {
        self.renames
            .iter()
            .find_map(|(from, to)| name.strip_prefix(from.as_str()).map(|rest| format!("{to}{rest}")))
            .unwrap_or_else(|| name.to_string())
    }
}

/// What [`load_state_dict`] did, PyTorch's `missing_keys` / `unexpected_keys` and the names it loaded, each
/// sorted. Printing it gives a summary for a notebook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The model's names that got the file's values.
    pub loaded: Vec<String>,
    /// The model's names the file had nothing for (they keep their values).
    pub missing: Vec<String>,
    /// The file's names (after mapping) the model does not have (ignored).
    pub unexpected: Vec<String>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Up to eight names each, so that a report of a whole backbone stays readable.
        let list = |names: &[String]| match names.len() {
            0 => "none".to_string(),
            n if n <= 8 => names.join(", "),
            n => format!("{} and {} more", names[..8].join(", "), n - 8),
        };
        write!(
            f,
            "loaded {} tensors; missing (kept as they were): {}; unexpected (ignored): {}",
            self.loaded.len(),
            list(&self.missing),
            list(&self.unexpected)
        )
    }
}

/// The named tensors of a weights file, on the CPU: safetensors, a zip `.pth` (the whole file a state dict, or its
/// `state_dict` entry), or a legacy PyTorch file.
///
/// # Errors
/// When the file cannot be read or is none of these.
pub fn read_state_dict(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    let mut head = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| candle_core::Error::Msg(format!("could not read the weights file {}: {e}", path.display())))?;
    if is_legacy_torch(path) {
        return read_legacy_torch(path);
    }
    if head == *b"PK\x03\x04" {
        let with_key = candle_core::pickle::read_all_with_key(path, Some("state_dict"));
        return with_key.or_else(|_| candle_core::pickle::read_all(path));
    }
    let mut tensors: Vec<(String, Tensor)> = candle_core::safetensors::load(path, &Device::Cpu)
        .map_err(|e| {
            candle_core::Error::Msg(format!(
                "{} is not a safetensors, PyTorch or legacy PyTorch weights file ({e})",
                path.display()
            ))
        })?
        .into_iter()
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(tensors)
}

/// Copies the values of `tensors`, names mapped by `options`, into the variables of `varmap` with those names, and
/// reports what fitted. Shapes must match for every shared name, strict or not (as in PyTorch). PyTorch's batch-norm
/// counters (`….num_batches_tracked`) are passed over.
///
/// # Errors
/// When a shared name has another shape, or `options` is strict and names differ: the message lists them all, and
/// nothing is changed.
pub fn load_state_dict(
    varmap: &VarMap,
    tensors: impl IntoIterator<Item = (String, Tensor)>,
    options: &LoadOptions,
) -> Result<LoadReport> {
    let data = varmap.data().lock().map_err(|_| candle_core::Error::Msg("the VarMap lock was poisoned".into()))?;
    // PyTorch's batch norms also save a step counter, `num_batches_tracked`, which only matters with
    // `momentum=None`; the prelude's have none, so the counters are passed over rather than reported.
    let file: BTreeMap<String, Tensor> = tensors
        .into_iter()
        .map(|(n, t)| (options.map(&n), t))
        .filter(|(n, _)| !n.ends_with(".num_batches_tracked") || data.contains_key(n))
        .collect();
    let mut report = LoadReport::default();
    let mut shapes = Vec::new();
    for (name, var) in data.iter() {
        match file.get(name) {
            None => report.missing.push(name.clone()),
            Some(t) if t.dims() != var.dims() => {
                shapes.push(format!("`{name}` is {:?} in the weights but {:?} in the model", t.dims(), var.dims()))
            }
            Some(_) => report.loaded.push(name.clone()),
        }
    }
    report.unexpected = file.keys().filter(|n| !data.contains_key(*n)).cloned().collect();
    report.missing.sort();
    report.loaded.sort();
    shapes.sort();
    if !shapes.is_empty() {
        candle_core::bail!("these weights do not fit the model, so nothing was loaded:\n  {}", shapes.join("\n  "))
    }
    if options.strict && !(report.missing.is_empty() && report.unexpected.is_empty()) {
        candle_core::bail!(
            "the names differ, so nothing was loaded (use LoadOptions::non_strict() to load what matches, or \
             rename_prefix/strip_prefix to map the names): {report}"
        )
    }
    for name in &report.loaded {
        if let (Some(var), Some(t)) = (data.get(name), file.get(name)) {
            var.set(&t.to_device(var.device())?.to_dtype(var.dtype())?)?;
        }
    }
    Ok(report)
}
