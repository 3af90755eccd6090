//! `nn.Sequential` with the PyTorch habits: train/eval mode, named layers, parameters, freezing, devices.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Module, ModuleT, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use super::summary::{Summary, SummaryRow};

/// Builds one layer from the `VarBuilder` of its name; kept so the model can be rebuilt on another device.
type Builder = Arc<dyn Fn(VarBuilder) -> Result<Box<dyn ModuleT + Send + Sync>> + Send + Sync>;

/// A layer anything can be: a Candle layer (`Linear`, `Conv2d`, `LSTM` wrapped by you, ...) or one of the
/// prelude's. Every [`Module`] and [`ModuleT`] is one.
pub trait Layer: ModuleT + Send + Sync + 'static {}
impl<T: ModuleT + Send + Sync + 'static> Layer for T {}

struct Entry {
    name: String,
    kind: String,
    module: Box<dyn ModuleT + Send + Sync>,
    build: Option<Builder>,
    frozen: bool,
}

/// Layers applied one after the other, like PyTorch's `nn.Sequential`, holding its own weights ([`VarMap`]).
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// manual_seed(0);                                       // same weights every run
/// let model = Sequential::new(&Device::Cpu)
///     .add("fc1", |vb| nn::linear(784, 128, vb))?       // a layer with weights, under the name "fc1"
///     .push(nn::Relu)                                   // a layer without
///     .push(nn::Dropout::new(0.2))
///     .add("fc2", |vb| nn::linear(128, 10, vb))?;
/// let x = Tensor::zeros((64, 784), DType::F32, &Device::Cpu)?;
/// model.train();                                        // dropout on
/// assert_eq!(model.forward(&x)?.dims(), &[64, 10]);
/// model.eval();                                         // dropout off, batch norm uses running statistics
/// assert_eq!(model.param_count(), 784 * 128 + 128 + 128 * 10 + 10);
/// let mut opt = Adam::new(model.parameters(), 1e-3)?;
/// # let _ = &mut opt;
/// # Ok(()) }
/// ```
///
/// Layers with weights are added with [`add`](Self::add) and a closure that builds them from a `VarBuilder`
/// (the closure is kept: [`to_device`](Self::to_device) rebuilds the model on another device). Their weights
/// are drawn as PyTorch draws them, from the prelude's seeded generator, so [`manual_seed`](crate::random::manual_seed)
/// before building gives the same model every run. A model starts in training mode, like PyTorch's.
pub struct Sequential {
    varmap: VarMap,
    device: Device,
    dtype: DType,
    entries: Vec<Entry>,
    training: AtomicBool,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layers: Vec<String> = self.entries.iter().map(|e| format!("{}: {}", e.name, e.kind)).collect();
        f.debug_struct("Sequential").field("layers", &layers).field("device", &self.device).finish()
    }
}

/// The last segment of a type's path, without generics: `candle_nn::linear::Linear` → `Linear`.
fn kind_of<M>() -> String {
    let full = std::any::type_name::<M>();
    if full.contains("{{closure}}") {
        return "Lambda".to_string();
    }
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_string()
}

impl Sequential {
    /// An empty model whose weights will live on `device`, in f32.
    pub fn new(device: &Device) -> Self {
        Self::with_dtype(device, DType::F32)
    }

    /// An empty model with weights of `dtype` on `device`.
    pub fn with_dtype(device: &Device, dtype: DType) -> Self {
        Self {
            varmap: VarMap::new(),
            device: device.clone(),
            dtype,
            entries: Vec::new(),
            training: AtomicBool::new(true),
        }
    }

    /// Adds a layer with weights, built by `build` from a `VarBuilder` under `name` (its variables are
    /// `name.weight`, `name.bias`, ...).
    ///
    /// # Errors
    /// When `name` is already used or holds a `.`, or `build` fails.
    pub fn add<M, F>(mut self, name: &str, build: F) -> Result<Self>
    where
        M: Layer,
        F: Fn(VarBuilder) -> Result<M> + Send + Sync + 'static,
    {
        if name.is_empty() || name.contains('.') {
            candle_core::bail!("a layer name must be non-empty and without dots, got {name:?}");
        }
        if self.entries.iter().any(|e| e.name == name) {
            candle_core::bail!("this model already has a layer named {name:?}; give each layer its own name");
        }
        let kind = kind_of::<M>();
        let build: Builder = Arc::new(move |vb| Ok(Box::new(build(vb)?) as Box<dyn ModuleT + Send + Sync>));
        let before: BTreeSet<String> = self.names();
        let module = build(VarBuilder::from_varmap(&self.varmap, self.dtype, &self.device).pp(name))?;
        if kind != "Embedding" {
            let fresh: Vec<(String, Var)> =
                self.named_vars().into_iter().filter(|(n, _)| !before.contains(n)).collect();
            super::seeded_init::init_vars(&fresh)?;
        }
        self.entries.push(Entry { name: name.to_string(), kind, module, build: Some(build), frozen: false });
        Ok(self)
    }

    /// Adds a layer without weights (`nn::Relu`, `nn::Flatten`, `nn::MaxPool2d::new(2)`, `nn::Dropout::new(0.5)`,
    /// or a closure `|x: &Tensor| ...`), named after its kind and position (`relu1`, `flatten4`, ...).
    pub fn push<M: Layer>(mut self, layer: M) -> Self {
        let kind = kind_of::<M>();
        let name = format!("{}{}", kind.to_lowercase(), self.entries.len());
        self.entries.push(Entry { name, kind, module: Box::new(layer), build: None, frozen: false });
        self
    }

    fn names(&self) -> BTreeSet<String> {
        self.named_vars().into_iter().map(|(n, _)| n).collect()
    }

    /// Every variable of the map, running statistics included, sorted by name.
    fn named_vars(&self) -> Vec<(String, Var)> {
        let mut vars: Vec<(String, Var)> = match self.varmap.data().lock() {
            Ok(data) => data.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
            Err(poisoned) => poisoned.into_inner().iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
        };
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Switches to training mode: dropout drops, batch norm uses and updates batch statistics (`model.train()`).
    pub fn train(&self) {
        self.training.store(true, Ordering::SeqCst);
    }

    /// Switches to evaluation mode: dropout passes through, batch norm uses its running statistics (`model.eval()`).
    pub fn eval(&self) {
        self.training.store(false, Ordering::SeqCst);
    }

    /// Whether the model is in training mode.
    pub fn is_training(&self) -> bool {
        self.training.load(Ordering::SeqCst)
    }

    /// The layers' names and kinds, in order.
    pub fn layers(&self) -> Vec<(String, String)> {
        self.entries.iter().map(|e| (e.name.clone(), e.kind.clone())).collect()
    }

    /// The weights, as one [`VarMap`] (to save, load, or hand to an optimizer).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The device the weights are on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainable parameters with their names (`fc1.weight`, ...), by layer then name; batch-norm running
    /// statistics are state, not parameters (PyTorch's buffers), and are left out.
    pub fn named_parameters(&self) -> Vec<(String, Var)> {
        let vars = self.named_vars();
        let mut out = Vec::new();
        for entry in &self.entries {
            let prefix = format!("{}.", entry.name);
            out.extend(vars.iter().filter(|(n, _)| n.starts_with(&prefix) && is_parameter(n)).cloned());
        }
        out
    }

    /// All parameters, frozen ones included (`model.parameters()`).
    pub fn parameters(&self) -> Vec<Var> {
        self.named_parameters().into_iter().map(|(_, v)| v).collect()
    }

    /// The parameters of the layers that are not frozen: give these to the optimizer when some layers are frozen.
    pub fn trainable_parameters(&self) -> Vec<Var> {
        self.named_parameters()
            .into_iter()
            .filter(|(n, _)| !self.entries.iter().any(|e| e.frozen && n.starts_with(&format!("{}.", e.name))))
            .map(|(_, v)| v)
            .collect()
    }

    /// The parameters of the named layers only (e.g. the layers just unfrozen, for `opt.add_vars`).
    ///
    /// # Errors
    /// When a name is not a layer of this model.
    pub fn parameters_of(&self, layers: &[&str]) -> Result<Vec<Var>> {
        self.check_names(layers)?;
        Ok(self
            .named_parameters()
            .into_iter()
            .filter(|(n, _)| layers.iter().any(|l| n.starts_with(&format!("{l}."))))
            .map(|(_, v)| v)
            .collect())
    }

    fn check_names(&self, layers: &[&str]) -> Result<()> {
        for l in layers {
            if !self.entries.iter().any(|e| e.name == *l) {
                let names: Vec<&str> = self.entries.iter().map(|e| e.name.as_str()).collect();
                candle_core::bail!("this model has no layer named {l:?}; its layers are {names:?}");
            }
        }
        Ok(())
    }

    /// Freezes the named layers (PyTorch's `requires_grad = False` on their parameters): they are left out of
    /// [`trainable_parameters`](Self::trainable_parameters), so an optimizer made from those never changes them.
    /// Their batch norms still follow the mode: call `eval()` on a frozen feature extractor, or keep it in mind.
    ///
    /// # Errors
    /// When a name is not a layer of this model.
    pub fn freeze(&mut self, layers: &[&str]) -> Result<()> {
        self.set_frozen(layers, true)
    }

    /// Unfreezes the named layers (then add [`parameters_of`](Self::parameters_of) them to the optimizer).
    ///
    /// # Errors
    /// When a name is not a layer of this model.
    pub fn unfreeze(&mut self, layers: &[&str]) -> Result<()> {
        self.set_frozen(layers, false)
    }

    fn set_frozen(&mut self, layers: &[&str], frozen: bool) -> Result<()> {
        self.check_names(layers)?;
        for e in &mut self.entries {
            if layers.contains(&e.name.as_str()) {
                e.frozen = frozen;
            }
        }
        Ok(())
    }

    /// The number of parameters (weights and biases; not batch-norm running statistics).
    pub fn param_count(&self) -> usize {
        self.named_parameters().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Moves the model to `device` (`model.to(device)`): the weights are copied and every layer is rebuilt there.
    ///
    /// # Errors
    /// When the device cannot hold the weights (no such GPU, out of memory).
    pub fn to_device(&mut self, device: &Device) -> Result<()> {
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?;
            for (name, var) in self.named_vars() {
                data.insert(name, Var::from_tensor(&var.as_tensor().to_device(device)?)?);
            }
        }
        let mut modules = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            modules.push(match &e.build {
                Some(build) => Some(build(VarBuilder::from_varmap(&varmap, self.dtype, device).pp(&e.name))?),
                None => None,
            });
        }
        for (e, module) in self.entries.iter_mut().zip(modules) {
            if let Some(module) = module {
                e.module = module;
            }
        }
        self.varmap = varmap;
        self.device = device.clone();
        Ok(())
    }

    /// Saves the weights (and batch-norm statistics) to a safetensors file (`torch.save(model.state_dict())`).
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::train::save_weights(&self.varmap, path)
    }

    /// Loads weights saved by [`save`](Self::save) (or any safetensors file with the same names and shapes).
    ///
    /// # Errors
    /// When the file is missing or unreadable, or its names or shapes do not match this model; the message lists
    /// the differences.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::train::load_weights(&self.varmap, path)
    }

    /// Every variable (weights and batch-norm statistics) by name, sorted — PyTorch's `model.state_dict()`; the
    /// tensors share storage with the model, so copy them to keep a snapshot.
    ///
    /// # Errors
    /// When the variable map's lock was poisoned by a panic in another thread.
    pub fn state_dict(&self) -> Result<Vec<(String, Tensor)>> {
        Ok(crate::train::weights::tensors_of(&self.varmap)?.into_iter().collect())
    }

    /// Loads named tensors (from [`read_state_dict`](crate::train::read_state_dict), or any list) into this
    /// model's variables, names mapped by `options` — PyTorch's `model.load_state_dict(sd, strict=...)` — and
    /// reports what was loaded, missing and unexpected. See [`crate::train::state_dict`].
    ///
    /// # Errors
    /// When a shared name has another shape, or `options` is strict and the names differ; nothing is changed then.
    pub fn load_state_dict(
        &self,
        tensors: impl IntoIterator<Item = (String, Tensor)>,
        options: &crate::train::LoadOptions,
    ) -> Result<crate::train::LoadReport> {
        crate::train::load_state_dict(&self.varmap, tensors, options)
    }

    /// Runs an input of shape `input_shape` (batch first) through the model in evaluation mode and lists each
    /// layer's output shape and parameter count, like `torchinfo.summary`. Batch-norm statistics are not changed.
    ///
    /// # Errors
    /// When a layer cannot take the shape it is given (the error names the layer).
    pub fn summary(&self, input_shape: &[usize]) -> Result<Summary> {
        let mut x = Tensor::zeros(input_shape, self.dtype, &self.device)?;
        let params = self.named_parameters();
        let mut rows = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            x = self.run_layer(i, e, &x, false)?;
            let prefix = format!("{}.", e.name);
            let count = params.iter().filter(|(n, _)| n.starts_with(&prefix)).map(|(_, v)| v.elem_count()).sum();
            rows.push(SummaryRow {
                name: e.name.clone(),
                kind: e.kind.clone(),
                output_shape: x.dims().to_vec(),
                params: count,
                trainable: !e.frozen,
            });
        }
        Ok(Summary::new(input_shape.to_vec(), rows))
    }

    fn run_layer(&self, i: usize, e: &Entry, x: &Tensor, train: bool) -> Result<Tensor> {
        e.module.forward_t(x, train).map(crate::grad_mode::layer_output).map_err(|err| {
            err.context(format!(
                "in layer {} `{}` ({}) of the model, given input of shape {:?}",
                i,
                e.name,
                e.kind,
                x.dims()
            ))
        })
    }
}

/// Whether a variable name is a trainable parameter rather than a running statistic.
fn is_parameter(name: &str) -> bool {
    !(name.ends_with(".running_mean") || name.ends_with(".running_var"))
}

impl Sequential {
    /// Runs the layers in training (`true`) or evaluation mode whatever the model's mode.
    ///
    /// # Errors
    /// When a layer fails; the error names the layer and the shape it was given.
    pub fn forward_in_mode(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = x.clone();
        for (i, e) in self.entries.iter().enumerate() {
            x = self.run_layer(i, e, &x, train)?;
        }
        Ok(x)
    }
}

impl Sequential {
    /// Every layer's output for input `x`, in order and named like the layers (`"conv1"`, `"relu1"`, …):
    /// the feature maps a CNN computes on its way to the logits — what PyTorch users get with forward hooks. Runs
    /// in the model's current mode; the last entry is what [`forward`](Module::forward) returns.
    ///
    /// ```
    /// use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// let model = Sequential::new(&Device::Cpu)
    ///     .add("conv", |vb| nn::conv2d(1, 4, 3, nn::Conv2dConfig { padding: 1, ..Default::default() }, vb))?
    ///     .push(nn::Relu)
    ///     .push(nn::MaxPool2d::new(2));
    /// model.eval();
    /// let taps = no_grad(|| model.forward_trace(&Tensor::zeros((1, 1, 8, 8), DType::F32, &Device::Cpu)?))?;
    /// let shapes: Vec<(&str, &[usize])> = taps.iter().map(|(name, t)| (name.as_str(), t.dims())).collect();
    /// assert_eq!(shapes, [("conv", &[1, 4, 8, 8][..]), ("relu1", &[1, 4, 8, 8]), ("maxpool2d2", &[1, 4, 4, 4])]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When a layer fails; the error names the layer and the shape it was given.
    pub fn forward_trace(&self, x: &Tensor) -> Result<Vec<(String, Tensor)>> {
        let train = self.is_training();
        let mut outputs: Vec<(String, Tensor)> = Vec::with_capacity(self.entries.len());
        for (i, e) in self.entries.iter().enumerate() {
            let input = outputs.last().map_or(x, |(_, t)| t);
            let y = self.run_layer(i, e, input, train)?;
            outputs.push((e.name.clone(), y));
        }
        Ok(outputs)
    }
}

/// `model.forward(&x)` runs the layers in the current mode ([`train`](Sequential::train) /
/// [`eval`](Sequential::eval)); through [`ModuleT`] a Sequential inside another one keeps its own mode.
impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_in_mode(x, self.is_training())
    }
}
