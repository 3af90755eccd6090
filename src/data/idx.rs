//! The IDX file format of MNIST and Fashion-MNIST: a magic number, the dimensions, then the values, big-endian.
//!
//! Bytes 0–1 are zero, byte 2 is the value type (`0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32,
//! `0x0E` f64), byte 3 the number of dimensions; then one big-endian `u32` per dimension, then the values in row-major
//! order. Files usually come gzipped (`.gz`); [`read_idx_file`] unpacks them.
//!
//! ```
//! use candlelit::data::idx::{IdxValues, parse_idx};
//! # fn main() -> candle_core::Result<()> {
//! // Two 1×2 "images": magic 0x00000803 (u8, 3 dims), dims 2, 1, 2, then 4 pixels.
//! let bytes = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 10, 20, 30, 40];
//! let idx = parse_idx(&bytes)?;
//! assert_eq!(idx.dims, [2, 1, 2]);
//! assert!(matches!(idx.values, IdxValues::U8(ref v) if v == &[10, 20, 30, 40]));
//! # Ok(()) }
//! ```

use std::io::Read;
use std::path::Path;

use candle_core::{Device, Result, Tensor, bail};

/// The values of an IDX file, in the type it declares.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxValues {
    /// Type `0x08`: pixels and labels.
    U8(Vec<u8>),
    /// Type `0x09`.
    I8(Vec<i8>),
    /// Type `0x0B`.
    I16(Vec<i16>),
    /// Type `0x0C`.
    I32(Vec<i32>),
    /// Type `0x0D`.
    F32(Vec<f32>),
    /// Type `0x0E`.
    F64(Vec<f64>),
}

impl IdxValues {
    /// How many values there are.
    pub fn len(&self) -> usize {
        match self {
            IdxValues::U8(v) => v.len(),
            IdxValues::I8(v) => v.len(),
            IdxValues::I16(v) => v.len(),
            IdxValues::I32(v) => v.len(),
            IdxValues::F32(v) => v.len(),
            IdxValues::F64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed IDX file: its dimensions and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Idx {
    /// The dimensions, outermost first (`[10000, 28, 28]` for 10,000 images).
    pub dims: Vec<usize>,
    /// The values, row-major.
    pub values: IdxValues,
}

impl Idx {
    /// The values as a tensor of shape `dims` (`u8` stays `u8`; signed integers become `i64`).
    ///
    /// # Errors
    /// When the tensor cannot be made on `device`.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        let dims = self.dims.clone();
        let widen = |v: Vec<i64>| Tensor::from_vec(v, dims.clone(), device);
        match &self.values {
            IdxValues::U8(v) => Tensor::from_slice(v, dims.clone(), device),
            IdxValues::I8(v) => widen(v.iter().map(|&x| i64::from(x)).collect()),
            IdxValues::I16(v) => widen(v.iter().map(|&x| i64::from(x)).collect()),
            IdxValues::I32(v) => widen(v.iter().map(|&x| i64::from(x)).collect()),
            IdxValues::F32(v) => Tensor::from_slice(v, dims.clone(), device),
            IdxValues::F64(v) => Tensor::from_slice(v, dims.clone(), device),
        }
    }

    /// The values when the file holds `u8` (every MNIST and Fashion-MNIST file does).
    ///
    /// # Errors
    /// When the file holds another type.
    pub fn into_u8(self) -> Result<Vec<u8>> {
        match self.values {
            IdxValues::U8(v) => Ok(v),
            other => bail!("expected an IDX file of u8 values, but it holds {}", type_name(&other)),
        }
    }
}

fn type_name(values: &IdxValues) -> &'static str {
    match values {
        IdxValues::U8(_) => "u8",
        IdxValues::I8(_) => "i8",
        IdxValues::I16(_) => "i16",
        IdxValues::I32(_) => "i32",
        IdxValues::F32(_) => "f32",
        IdxValues::F64(_) => "f64",
    }
}

/// Parses the bytes of an (unzipped) IDX file.
///
/// # Errors
/// When the magic number is wrong, the type is unknown, or the file is shorter or longer than its dimensions say.
pub fn parse_idx(bytes: &[u8]) -> Result<Idx> {
    let Some(&[z0, z1, kind, rank]) = bytes.get(..4).and_then(|h| <&[u8; 4]>::try_from(h).ok()) else {
        bail!("not an IDX file: it is {} bytes long, shorter than the 4-byte magic number", bytes.len())
    };
    if z0 != 0 || z1 != 0 {
        bail!(
            "not an IDX file: it starts with {z0:#04x} {z1:#04x} instead of two zero bytes{}",
            if (z0, z1) == (0x1f, 0x8b) { " (it is still gzipped: unzip it first, or use read_idx_file)" } else { "" }
        )
    }
    let width = match kind {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        other => bail!("not an IDX file: value type {other:#04x} is not one of 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E"),
    };
    let header = 4 + 4 * usize::from(rank);
    let Some(dim_bytes) = bytes.get(4..header) else {
        bail!("IDX file cut short: it declares {rank} dimensions but ends inside the header ({} bytes)", bytes.len())
    };
    let dims: Vec<usize> =
        dim_bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let count = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let expected = count.and_then(|n| n.checked_mul(width)).and_then(|n| n.checked_add(header));
    if expected != Some(bytes.len()) {
        bail!(
            "IDX file has the wrong size: dimensions {dims:?} of {width}-byte values need {} bytes, the file has {}",
            expected.map_or_else(|| "more than memory holds".to_string(), |n| n.to_string()),
            bytes.len()
        )
    }
    let body = &bytes[header..];
    let values = match kind {
        0x08 => IdxValues::U8(body.to_vec()),
        0x09 => IdxValues::I8(body.iter().map(|&b| b as i8).collect()),
        0x0B => IdxValues::I16(body.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect()),
        0x0C => IdxValues::I32(body.chunks_exact(4).map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()),
        0x0D => IdxValues::F32(body.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()),
        _ => IdxValues::F64(
            body.chunks_exact(8)
                .map(|c| f64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
    };
    Ok(Idx { dims, values })
}

/// Reads an IDX file, unzipping it first when it is gzipped (by its content, not its name).
///
/// # Errors
/// When the file cannot be read, is a broken gzip, or is not a valid IDX file; the message names the file.
pub fn read_idx_file(path: &Path) -> Result<Idx> {
    let raw =
        std::fs::read(path).map_err(|e| candle_core::Error::Msg(format!("cannot read {}: {e}", path.display())))?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut unzipped = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut unzipped).map_err(|e| {
            candle_core::Error::Msg(format!(
                "{} is not a valid gzip file ({e}); delete it and download it again",
                path.display()
            ))
        })?;
        unzipped
    } else {
        raw
    };
    parse_idx(&bytes).map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_values_and_sizes_are_checked() {
        let i16s = [0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe];
        assert_eq!(parse_idx(&i16s).expect("i16").values, IdxValues::I16(vec![0x0102, -2]));
        let short = &i16s[..11];
        assert!(parse_idx(short).expect_err("short").to_string().contains("need 12 bytes, the file has 11"));
        assert!(parse_idx(&[0x1f, 0x8b, 8, 0]).expect_err("gzip").to_string().contains("still gzipped"));
        assert!(parse_idx(&[0, 0, 0x07, 0]).expect_err("type").to_string().contains("value type 0x07"));
        assert!(parse_idx(&[0, 0, 8]).is_err());
        assert!(parse_idx(&[0, 0, 8, 2, 0, 0, 0, 1]).expect_err("header").to_string().contains("inside the header"));
    }
}
