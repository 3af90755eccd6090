//! Reading the tensors of a legacy PyTorch file (`torch.save` before PyTorch 1.6: not a zip, but pickles one after
//! another), such as the published CIFAR ResNet weights, without Python.
//!
//! The layout: a pickle of a magic number, one of the format version (1001), one of the saving machine's
//! `sys_info`, the saved object (a `state_dict`, or a dict holding one, whose tensors point at storages by key),
//! a pickle of the sorted storage keys, then each storage's raw bytes after its element count (8 bytes, little
//! endian). Only data is read: the pickles are decoded by Candle's pickle reader into plain values, and nothing in
//! them is ever run.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Result, Tensor};

/// The first two pickles of every legacy file: the magic number `0x1950a86a20f9469cfc6c` and the version 1001.
const HEADER: [u8; 21] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02, 0x4d, 0xe9,
    0x03, 0x2e,
];

/// Whether the file starts like a legacy PyTorch file.
pub(crate) fn is_legacy_torch(path: &Path) -> bool {
    let mut head = [0u8; 21];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == HEADER
}

fn bad(path: &Path, what: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("could not read {} as a legacy PyTorch file: {what}", path.display()))
}

fn pickle(reader: &mut impl BufRead, path: &Path, what: &str) -> Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(reader).map_err(|e| bad(path, format!("{what}: {e}")))?;
    stack.finalize().map_err(|e| bad(path, format!("{what}: {e}")))
}

/// Where one tensor's values are: its storage, the element offset in it, and its shape.
struct TensorRef {
    name: String,
    storage: String,
    offset: usize,
    shape: Vec<usize>,
    dtype: DType,
}

fn usizes(obj: Object) -> Option<Vec<usize>> {
    match obj {
        Object::Tuple(v) => v.into_iter().map(|o| o.int_or_long().ok().and_then(|i| usize::try_from(i).ok())).collect(),
        _ => None,
    }
}

/// A tensor of the pickled object: `_rebuild_tensor[_v2](storage, offset, size, stride, ...)` (or a parameter
/// wrapping one), whose storage is a persistent id `('storage', FloatStorage, key, location, size, ...)`.
fn tensor_ref(name: String, value: Object) -> Option<TensorRef> {
    let Object::Reduce { callable, args } = value else { return None };
    let Object::Class { module_name, class_name } = *callable else { return None };
    if module_name != "torch._utils" {
        return None;
    }
    let Object::Tuple(mut args) = *args else { return None };
    if class_name == "_rebuild_parameter" {
        return tensor_ref(name, args.into_iter().next()?);
    }
    if !(class_name == "_rebuild_tensor" || class_name == "_rebuild_tensor_v2") || args.len() < 4 {
        return None;
    }
    let stride = usizes(args.remove(3))?;
    let shape = usizes(args.remove(2))?;
    let offset = usize::try_from(args.remove(1).int_or_long().ok()?).ok()?;
    let Object::PersistentLoad(id) = args.remove(0) else { return None };
    let Object::Tuple(mut id) = *id else { return None };
    if id.len() < 3 {
        return None;
    }
    let storage = id.remove(2).unicode().ok()?;
    let (_, storage_class) = id.remove(1).class().ok()?;
    let dtype = match storage_class.as_str() {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "LongStorage" => DType::I64,
        "ByteStorage" => DType::U8,
        _ => return None,
    };
    // Row-major strides only (what `state_dict` holds); anything else is reported as unreadable.
    let mut expected = 1;
    for (&d, &s) in shape.iter().zip(&stride).rev() {
        if d > 1 && s != expected {
            return None;
        }
        expected *= d;
    }
    Some(TensorRef { name, storage, offset, shape, dtype })
}

/// The name → value pairs of the saved object's state dict: the object itself, or its `state_dict` entry.
fn state_dict(obj: Object) -> Option<Vec<(Object, Object)>> {
    let Object::Dict(pairs) = obj else { return None };
    let key = Object::Unicode("state_dict".into());
    match pairs.iter().position(|(k, _)| *k == key) {
        Some(i) => match pairs.into_iter().nth(i) {
            Some((_, Object::Dict(inner))) => Some(inner),
            _ => None,
        },
        None => Some(pairs),
    }
}

/// Every tensor of a legacy PyTorch file's state dict, by name (sorted), on the CPU.
///
/// # Errors
/// When the file cannot be read, is not a legacy PyTorch file, or a tensor cannot be decoded (the message says
/// which).
pub fn read_legacy_torch(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).map_err(|e| bad(path, e))?;
    let mut reader = BufReader::new(file);
    let mut head = [0u8; 21];
    reader.read_exact(&mut head).map_err(|e| bad(path, e))?;
    if head != HEADER {
        return Err(bad(path, "it does not start with the legacy format's magic number and version"));
    }
    pickle(&mut reader, path, "the sys_info pickle")?;
    let obj = pickle(&mut reader, path, "the saved object")?;
    let keys = match pickle(&mut reader, path, "the storage keys")? {
        Object::List(keys) => {
            keys.into_iter().map(|k| k.unicode().map_err(|_| bad(path, "a storage key that is not text")))
        }
        _ => return Err(bad(path, "the storage keys are not a list")),
    }
    .collect::<Result<Vec<String>>>()?;
    let pairs = state_dict(obj).ok_or_else(|| bad(path, "the saved object is not a dict of tensors"))?;
    let mut refs = Vec::new();
    for (name, value) in pairs {
        let Ok(name) = name.unicode() else { continue };
        match tensor_ref(name.clone(), value) {
            Some(r) => refs.push(r),
            None => return Err(bad(path, format!("`{name}` is not a tensor this reader understands"))),
        }
    }
    // The storages, in key order: an element count, then the bytes.
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    for key in keys {
        let mut count = [0u8; 8];
        reader.read_exact(&mut count).map_err(|e| bad(path, format!("storage {key}: {e}")))?;
        let count = u64::from_le_bytes(count);
        let size = refs.iter().find(|r| r.storage == key).map_or(4, |r| r.dtype.size_in_bytes());
        let bytes = usize::try_from(count).ok().and_then(|c| c.checked_mul(size)).filter(|&b| b <= 1 << 34);
        let Some(bytes) = bytes else { return Err(bad(path, format!("storage {key} claims {count} elements"))) };
        let mut data = vec![0u8; bytes];
        reader.read_exact(&mut data).map_err(|e| bad(path, format!("storage {key} is cut short: {e}")))?;
        storages.insert(key, data);
    }
    let mut tensors = Vec::with_capacity(refs.len());
    for r in refs {
        let data =
            storages.get(&r.storage).ok_or_else(|| bad(path, format!("`{}`: no storage {}", r.name, r.storage)))?;
        let size = r.dtype.size_in_bytes();
        let (start, len) = (r.offset * size, r.shape.iter().product::<usize>() * size);
        let bytes =
            data.get(start..start + len).ok_or_else(|| bad(path, format!("`{}` runs past its storage", r.name)))?;
        tensors.push((r.name, Tensor::from_raw_buffer(bytes, r.dtype, &r.shape, &Device::Cpu)?));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(tensors)
}
