//! Tensor constructors PyTorch has and Candle lacks.
//!
//! Candle already covers most of `torch.*` creation: `Tensor::new`, `from_vec`, `zeros`, `ones`, `full`,
//! `zeros_like`, `ones_like`, `arange`, `arange_step` and `eye`; the prelude adds seeded random tensors in
//! [`crate::random`]. What is left is here.

use candle_core::{DType, Device, Result, Tensor};

/// `steps` numbers evenly spaced from `start` to `end`, both included, as `f32` (PyTorch's `torch.linspace`).
///
/// Unlike `Tensor::arange_step`, the end is part of the result and the count is what you ask for, so it is the
/// usual way to make the x values of a plot.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let x = linspace(0.0, 1.0, 5, &Device::Cpu)?;
/// assert_eq!(x.to_vec1::<f32>()?, [0.0, 0.25, 0.5, 0.75, 1.0]);
/// # Ok(()) }
/// ```
///
/// # Errors
/// When `steps` is 0 (there is no evenly spaced list of no numbers between two ends), or the device fails.
pub fn linspace(start: f64, end: f64, steps: usize, device: &Device) -> Result<Tensor> {
    let values: Vec<f64> = match steps {
        0 => candle_core::bail!("linspace needs at least 1 step (it got 0); ask for the number of points you want"),
        1 => vec![start],
        _ => (0..steps).map(|i| start + (end - start) * i as f64 / (steps - 1) as f64).collect(),
    };
    Tensor::from_vec(values, steps, &Device::Cpu)?.to_dtype(DType::F32)?.to_device(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_includes_both_ends_and_handles_one_and_zero_steps() {
        let cpu = Device::Cpu;
        let x = linspace(-1.0, 1.0, 3, &cpu).expect("three");
        assert_eq!(x.to_vec1::<f32>().expect("values"), [-1.0, 0.0, 1.0]);
        assert_eq!(linspace(2.0, 5.0, 1, &cpu).expect("one").to_vec1::<f32>().expect("values"), [2.0]);
        let descending = linspace(1.0, 0.0, 4, &cpu).expect("down").to_vec1::<f32>().expect("values");
        assert!((descending[1] - 2.0 / 3.0).abs() < 1e-6 && descending[3] == 0.0, "{descending:?}");
        let err = linspace(0.0, 1.0, 0, &cpu).expect_err("zero steps").to_string();
        assert!(err.contains("at least 1 step"), "{err}");
    }
}
