//! What a figure accepts as data: slices, vectors, arrays and tensors of numbers.

use candle_core::{DType, Result, Tensor};

/// A number that can be plotted.
pub trait Number: Copy {
    /// The value as `f64`.
    fn to_f64(self) -> f64;
}

macro_rules! number {
    ($($t:ty),*) => { $(impl Number for $t { fn to_f64(self) -> f64 { self as f64 } })* };
}
number!(f32, f64, i32, i64, u8, u32, usize);

/// Data for a series: anything that gives a list of numbers. Tensors of any shape are read in row-major order.
///
/// ```
/// use candlelit::plot::IntoValues;
/// assert_eq!(vec![1u32, 2].into_values().unwrap(), vec![1.0, 2.0]);
/// assert_eq!((&[0.5f32][..]).into_values().unwrap(), vec![0.5]);
/// ```
pub trait IntoValues {
    /// The numbers, as `f64`.
    fn into_values(self) -> Result<Vec<f64>>;
}

impl<T: Number> IntoValues for &[T] {
    fn into_values(self) -> Result<Vec<f64>> {
        Ok(self.iter().map(|x| x.to_f64()).collect())
    }
}

impl<T: Number, const N: usize> IntoValues for &[T; N] {
    fn into_values(self) -> Result<Vec<f64>> {
        self.as_slice().into_values()
    }
}

impl<T: Number> IntoValues for &Vec<T> {
    fn into_values(self) -> Result<Vec<f64>> {
        self.as_slice().into_values()
    }
}

impl<T: Number> IntoValues for Vec<T> {
    fn into_values(self) -> Result<Vec<f64>> {
        self.as_slice().into_values()
    }
}

impl IntoValues for &Tensor {
    fn into_values(self) -> Result<Vec<f64>> {
        self.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()
    }
}

impl IntoValues for Tensor {
    fn into_values(self) -> Result<Vec<f64>> {
        (&self).into_values()
    }
}
