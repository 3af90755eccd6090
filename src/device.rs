//! Choosing where tensors live: the CPU or a CUDA GPU.
//!
//! [`device()`] is the one call lessons make. It reads `CANDLELIT_DEVICE` (`cpu`, `cuda` or `cuda:N`) when that is
//! set, and otherwise takes GPU 0 when candlelit was built with the `cuda` feature and a GPU answers, else the CPU.
//! The first time it settles on a device it says which, once, on stderr.
//!
//! CUDA devices are created once per GPU and then shared: Candle treats two `Device::new_cuda(0)` calls as two
//! different devices (tensors from both cannot be mixed), so every call to [`device()`] for the same GPU returns
//! the same device.

use std::sync::Mutex;

use candle_core::{Device, Result};

/// The environment variable that overrides the automatic choice: `cpu`, `cuda` or `cuda:N`.
pub const DEVICE_ENV: &str = "CANDLELIT_DEVICE";

/// The device a learner's tensors should live on.
///
/// `CANDLELIT_DEVICE` decides when it is set (`cpu`, `cuda`, `cuda:N`); otherwise CUDA GPU 0 when candlelit was
/// built with the `cuda` feature and a GPU answers, else the CPU. Asking for CUDA where there is none is an error
/// that says what to do, never a silent fall-back.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let dev = device()?;
/// let x = Tensor::ones((2, 2), DType::F32, &dev)?;
/// assert!(x.device().same_device(&dev));
/// # Ok(()) }
/// ```
pub fn device() -> Result<Device> {
    let chosen = match std::env::var(DEVICE_ENV) {
        Ok(spec) if !spec.trim().is_empty() => {
            device_for(&spec).map_err(|e| candle_core::Error::Msg(format!("{DEVICE_ENV}={spec}: {e}")))?
        }
        _ => automatic(),
    };
    announce(&chosen);
    Ok(chosen)
}

/// The device named by `spec`, like `torch.device("cuda:1")`: `cpu`, `cuda` (GPU 0) or `cuda:N`.
///
/// ```
/// use candlelit::prelude::*;
/// assert!(device_for("cpu").unwrap().is_cpu());
/// let err = device_for("gpu").unwrap_err().to_string();
/// assert!(err.contains("cpu"), "{err}");
/// ```
pub fn device_for(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    match spec.as_str() {
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu:0" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(ordinal)) => cuda(ordinal),
            _ => Err(candle_core::Error::Msg(format!(
                "unknown device `{spec}`: use `cpu`, `cuda` or `cuda:N` (N is the GPU number, from 0)"
            ))),
        },
    }
}

/// Whether a CUDA GPU can be used: candlelit was built with the `cuda` feature and GPU 0 answers.
///
/// ```
/// let on_gpu = candlelit::prelude::cuda_available();
/// # let _ = on_gpu;
/// ```
pub fn cuda_available() -> bool {
    cfg!(feature = "cuda") && cuda(0).is_ok()
}

/// Runs one small example of every kind of GPU kernel the lessons use — fills, element-wise maths, reductions,
/// casts, indexing, `where`, sorting, convolutions and pooling, forward and backward — so that the CUDA driver
/// compiles Candle's kernels now and keeps them in its cache (`~/.nv/ComputeCache`). Candle ships its kernels as
/// PTX, which the driver compiles on first use: about 20 s on an H100 for a first training step in a fresh
/// process (../shared/notes/cuda.md). `candlelit install` calls this once, so a learner's first cell is quick.
/// On the CPU it does nothing.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// candlelit::device::prepare_kernels(&Device::Cpu)?; // nothing to prepare on the CPU
/// # Ok(()) }
/// ```
///
/// # Errors
/// When an operation fails on the device.
pub fn prepare_kernels(device: &Device) -> Result<()> {
    if device.is_cpu() {
        return Ok(());
    }
    use candle_core::{D, DType, Tensor, Var};
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 8, 8), device)?)?;
    let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (4, 3, 3, 3), device)?)?;
    // conv (forward and the transposed convolution of its backward), pooling, unary, affine, reduce, indexing.
    let y = x.as_tensor().conv2d(w.as_tensor(), 1, 1, 1, 1)?.relu()?.max_pool2d(2)?.avg_pool2d(2)?;
    let logits = (y.flatten_from(1)?.affine(2.0, 0.5)? + 1.0)?;
    let targets = Tensor::new(&[1u32, 0], device)?;
    let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let loss = log_p.gather(&targets.unsqueeze(1)?, 1)?.neg()?.mean_all()?;
    loss.backward()?;
    // The rest of what lessons reach for: casts, comparisons and `where`, sorting, element-wise functions,
    // index_select (embeddings), cumulative sums, upsampling.
    let v = Tensor::arange(0f32, 16.0, device)?.reshape((4, 4))?;
    let mask = v.ge(5.0)?;
    let chosen = mask.where_cond(&v, &v.zeros_like()?)?;
    let sorted = v.arg_sort_last_dim(false)?;
    let picked = v.index_select(&sorted.get(0)?, 1)?;
    let maths = (v.exp()? + v.tanh()? + v.sqrt()? + v.sin()? + (v.abs()? + 1.0)?.log()?)?;
    let ints = v.to_dtype(DType::U32)?.to_dtype(DType::F64)?.to_dtype(DType::F32)?;
    let ups = v.unsqueeze(0)?.unsqueeze(0)?.upsample_nearest2d(8, 8)?;
    let total = (chosen.sum_all()?
        + picked.sum_all()?
        + maths.max_keepdim(1)?.sum_all()?
        + ints.cumsum(1)?.sum_all()?
        + ups.argmax_keepdim(3)?.to_dtype(DType::F32)?.sum_all()?)?;
    total.to_scalar::<f32>()?;
    device.synchronize()
}

/// A short name for a device as learners see it: `cpu`, `cuda:0`, `metal:0`.
pub fn device_name(device: &Device) -> String {
    location_name(&device.location())
}

/// A short name for a device location: `cpu`, `cuda:0`, `metal:0`.
pub fn location_name(location: &candle_core::DeviceLocation) -> String {
    match location {
        candle_core::DeviceLocation::Cpu => "cpu".to_string(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

fn automatic() -> Device {
    if cfg!(feature = "cuda")
        && let Ok(gpu) = cuda(0)
    {
        return gpu;
    }
    Device::Cpu
}

/// Says once per distinct choice which device `device()` settled on.
fn announce(device: &Device) {
    static LAST: Mutex<Option<String>> = Mutex::new(None);
    let name = device_name(device);
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if last.as_deref() != Some(name.as_str()) {
        let why = if device.is_cpu() && cfg!(feature = "cuda") {
            " (no CUDA GPU answered)"
        } else if device.is_cpu() {
            " (built without CUDA)"
        } else {
            ""
        };
        eprintln!("candlelit: using {name}{why}");
        *last = Some(name);
    }
}

/// GPU number `ordinal`, created on first use and shared afterwards; seeded if `manual_seed` was called.
#[cfg(feature = "cuda")]
pub(crate) fn cuda(ordinal: usize) -> Result<Device> {
    let mut gpus = cuda_devices().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(dev) = gpus.get(&ordinal) {
        return Ok(dev.clone());
    }
    let dev = Device::new_cuda(ordinal).map_err(|e| {
        candle_core::Error::Msg(format!(
            "CUDA GPU {ordinal} did not answer ({e}). Check that `nvidia-smi` lists it, \
             or set CANDLELIT_DEVICE=cpu to work on the CPU."
        ))
    })?;
    if let Some(seed) = crate::random::current_seed() {
        dev.set_seed(seed)?;
    }
    gpus.insert(ordinal, dev.clone());
    Ok(dev)
}

#[cfg(not(feature = "cuda"))]
pub(crate) fn cuda(_ordinal: usize) -> Result<Device> {
    Err(candle_core::Error::Msg(
        "candlelit was built without CUDA support. Rebuild with `--features cuda` (needs the CUDA toolkit's \
         nvcc), or set CANDLELIT_DEVICE=cpu to work on the CPU."
            .to_string(),
    ))
}

/// The CUDA devices created so far, by GPU number.
#[cfg(feature = "cuda")]
pub(crate) fn cuda_devices() -> &'static Mutex<std::collections::HashMap<usize, Device>> {
    static DEVICES: std::sync::LazyLock<Mutex<std::collections::HashMap<usize, Device>>> =
        std::sync::LazyLock::new(Default::default);
    &DEVICES
}

/// Seeds every CUDA device created so far (Candle's own `Tensor::rand`/`randn` on the GPU use it).
#[cfg(feature = "cuda")]
pub(crate) fn seed_cuda_devices(seed: u64) -> Result<()> {
    let gpus = cuda_devices().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for dev in gpus.values() {
        dev.set_seed(seed)?;
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
pub(crate) fn seed_cuda_devices(_seed: u64) -> Result<()> {
    Ok(())
}
