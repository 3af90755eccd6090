//! Matrix products on slices for the prelude's CPU kernels: the `gemm` crate that Candle's own CPU matmul calls,
//! without Candle's tensors and allocation around it, and with the number of threads chosen by the size of the
//! product.
//!
//! Candle splits every product over all its threads. A small one (the lessons' MLP at batch 64) then spends more
//! on waking and waiting for threads than on arithmetic: on 2 cores it ran faster on one thread than on two, and
//! with 8 threads at 0.3× its 2-thread speed (BENCHMARKS.md). Here a product gets one thread per
//! [`WORK_PER_THREAD`] multiply-adds, at most as many as rayon has; the convolution, which splits its batch over
//! the threads itself, runs each image's product on one.

use candle_core::Result;

/// Multiply-adds that make a second thread worth waking: about 0.1 ms of one core's work.
pub(crate) const WORK_PER_THREAD: usize = 1 << 23;

/// The element types the products are written for.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// A read-only view of a `rows × cols` matrix inside a slice, element `(r, c)` at `r·row_stride + c·col_stride`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows × cols` matrix (the first `rows·cols` values of `data`).
    pub(crate) fn row_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }.checked()
    }

    /// The transpose of a row-major `cols × rows` matrix, without copying it.
    pub(crate) fn transposed(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
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

/// Threads for an `m×k · k×n` product: one per [`WORK_PER_THREAD`] multiply-adds, at least 1, and at most rayon's
/// threads or the CPUs this process may run on, whichever is fewer (a product split over more threads than CPUs
/// waits for whichever thread the system parked).
pub(crate) fn threads_for(m: usize, n: usize, k: usize) -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    let work = m.saturating_mul(n).saturating_mul(k);
    (work / WORK_PER_THREAD).clamp(1, rayon::current_num_threads().min(cpus).max(1))
}

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major `a.rows × b.cols`, on the calling thread.
///
/// # Errors
/// When the sizes do not fit together or `dst` is too short.
pub(crate) fn matmul_into<T: Element>(dst: &mut [T], a: MatRef<T>, b: MatRef<T>, accumulate: bool) -> Result<()> {
    product(dst, a, b, accumulate, 1)
}

/// [`matmul_into`] on as many threads as the product's size calls for ([`threads_for`]).
///
/// # Errors
/// As [`matmul_into`].
pub(crate) fn matmul_sized<T: Element>(dst: &mut [T], a: MatRef<T>, b: MatRef<T>, accumulate: bool) -> Result<()> {
    product(dst, a, b, accumulate, threads_for(a.rows, b.cols, a.cols))
}

fn product<T: Element>(dst: &mut [T], a: MatRef<T>, b: MatRef<T>, accumulate: bool, threads: usize) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k || dst.len() < m * n {
        candle_core::bail!("matrix product: {m}×{k} · {}×{n} into {} values does not fit", b.rows, dst.len())
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::ZERO);
        }
        return Ok(());
    }
    let stride = |s: usize| s as isize;
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
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
            if accumulate { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        (0..m * n).map(|i| (0..k).map(|p| a[i / n * k + p] * b[p * n + i % n]).sum()).collect()
    }

    #[test]
    fn products_and_transposed_views_match_the_definition() -> Result<()> {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.71).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut dst = vec![f64::NAN; m * n];
        matmul_into(&mut dst, MatRef::row_major(&a, m, k)?, MatRef::row_major(&b, k, n)?, false)?;
        assert!(dst.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-12), "{dst:?} vs {want:?}");
        // aᵀ stored row-major as k×m, viewed as m×k; accumulate onto the first result: twice the product.
        let a_t: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        matmul_sized(&mut dst, MatRef::transposed(&a_t, m, k)?, MatRef::row_major(&b, k, n)?, true)?;
        assert!(dst.iter().zip(&want).all(|(x, y)| (x - 2.0 * y).abs() < 1e-12));
        Ok(())
    }

    #[test]
    fn small_products_get_one_thread_and_large_ones_more() {
        assert_eq!(threads_for(64, 128, 784), 1, "the batch-64 MLP's first layer");
        assert_eq!(threads_for(0, 128, 784), 1);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(threads_for(1024, 128, 784), 12.min(rayon::current_num_threads()).min(cpus), "batch 1024");
    }

    #[test]
    fn views_that_do_not_fit_are_errors() {
        assert!(MatRef::row_major(&[0.0f32; 5], 2, 3).is_err());
        let (a, b) = ([1.0f32; 6], [1.0f32; 6]);
        let (a, b) = (MatRef::row_major(&a, 2, 3).ok(), MatRef::row_major(&b, 2, 3).ok());
        let (Some(a), Some(b)) = (a, b) else { panic!("valid views") };
        assert!(matmul_into(&mut [0.0; 6], a, b, false).is_err(), "3 columns against 2 rows");
    }
}
