//! One single-threaded `f32` matrix product on slices, for CPU kernels that split their work over images
//! themselves (the convolution): the `gemm` crate that Candle's own CPU matmul calls, without Candle's tensors,
//! allocation or thread split around it.
//!
//! A product the size of one image's convolution (`64×288 · 288×196`) runs at the speed of the same product in
//! PyTorch on one core; splitting each one over threads, as a batch-wide product does, cost more than it gained.

use candle_core::Result;

/// A read-only view of a `rows × cols` matrix inside a slice, element `(r, c)` at `r·row_stride + c·col_stride`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix (the first `rows·cols` values of `data`).
    pub(crate) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }.checked()
    }

    /// The transpose of a row-major `cols × rows` matrix, without copying it.
    pub(crate) fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        MatRef { data, rows, cols, row_stride: 1, col_stride: rows }.checked()
    }

    /// The view, if every element it names lies inside `data`.
    fn checked(self) -> Result<Self> {
        let last = (self.rows.saturating_sub(1)) * self.row_stride + (self.cols.saturating_sub(1)) * self.col_stride;
        if self.rows > 0 && self.cols > 0 && last >= self.data.len() {
            candle_core::bail!(
                "matrix product: a {}×{} view needs {} values but has {}",
                self.rows,
                self.cols,
                last + 1,
                self.data.len()
            )
        }
        Ok(self)
    }
}

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major `a.rows × b.cols`, on the calling thread.
///
/// # Errors
/// When the sizes do not fit together or `dst` is too short.
pub(crate) fn matmul_into(dst: &mut [f32], a: MatRef, b: MatRef, accumulate: bool) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || dst.len() < m * n {
        candle_core::bail!("matrix product: {m}×{k} · {}×{n} into {} values does not fit", b.rows, dst.len())
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return Ok(());
    }
    let stride = |s: usize| s as isize;
    // SAFETY: the views were checked to lie inside their slices (`MatRef::checked`), `dst` holds `m·n` values
    // written row-major with strides (n, 1), and `dst` is a unique borrow, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(n),
            accumulate,
            a.data.as_ptr(),
            stride(a.col_stride),
            stride(a.row_stride),
            b.data.as_ptr(),
            stride(b.col_stride),
            stride(b.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n).map(|i| (0..k).map(|p| a[i / n * k + p] * b[p * n + i % n]).sum()).collect()
    }

    #[test]
    fn products_and_transposed_views_match_the_definition() -> Result<()> {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.71).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut dst = vec![f32::NAN; m * n];
        matmul_into(&mut dst, MatRef::row_major(&a, m, k)?, MatRef::row_major(&b, k, n)?, false)?;
        assert!(dst.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5), "{dst:?} vs {want:?}");
        // aᵀ stored row-major as k×m, viewed as m×k; accumulate onto the first result: twice the product.
        let a_t: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        matmul_into(&mut dst, MatRef::transposed(&a_t, m, k)?, MatRef::row_major(&b, k, n)?, true)?;
        assert!(dst.iter().zip(&want).all(|(x, y)| (x - 2.0 * y).abs() < 1e-5));
        Ok(())
    }

    #[test]
    fn views_that_do_not_fit_are_errors() {
        assert!(MatRef::row_major(&[0.0; 5], 2, 3).is_err());
        let (a, b) = ([1.0; 6], [1.0; 6]);
        let (a, b) = (MatRef::row_major(&a, 2, 3).ok(), MatRef::row_major(&b, 2, 3).ok());
        let (Some(a), Some(b)) = (a, b) else { panic!("valid views") };
        assert!(matmul_into(&mut [0.0; 6], a, b, false).is_err(), "3 columns against 2 rows");
    }
}
