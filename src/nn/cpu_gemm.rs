//! Matrix products on slices for the prelude's CPU kernels: the `gemm` crate that Candle's own CPU matmul calls,
//! without Candle's tensors and allocation around it, and with the number of threads chosen by the size of the
//! product.
//!
//! Candle splits every product over all its threads. A small one (the lessons' MLP at batch 64) then spends more
//! on waking and waiting for threads than on arithmetic: on 2 cores it ran faster on one thread than on two, and
//! with 8 threads at 0.3× its 2-thread speed (BENCHMARKS.md). Here a product gets one thread per
//! [`WORK_PER_THREAD`] multiply-adds, at most as many as rayon has; the convolution, which splits its batch over
//! the threads itself, runs each image's product on one.
//!
//! [`matmul_new`], the linear layers' product, goes to a system BLAS when one is installed
//! ([`super::system_blas`]): it keeps its speed when the operands have left the cache, where `gemm` does not.

use std::ffi::c_int;

use candle_core::Result;

use super::system_blas::{CblasGemm, ROW_MAJOR, SystemBlas, cblas_layout, system_blas};

/// Multiply-adds that make a second thread worth waking: about 0.1 ms of one core's work.
pub(crate) const WORK_PER_THREAD: usize = 1 << 23;

/// The element types the products are written for.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// The system BLAS's product for this type, if it has one.
    fn system_gemm(blas: &SystemBlas) -> Option<CblasGemm<Self>>;
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn system_gemm(blas: &SystemBlas) -> Option<CblasGemm<Self>> {
        Some(blas.sgemm)
    }
}

impl Element for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn system_gemm(blas: &SystemBlas) -> Option<CblasGemm<Self>> {
        blas.dgemm
    }
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

    /// CBLAS's transpose flag and leading dimension for this view, if it has a layout CBLAS takes.
    fn cblas(&self) -> Option<(c_int, c_int)> {
        cblas_layout(self.rows, self.cols, self.row_stride, self.col_stride)
    }
}

/// Threads for an `m×k · k×n` product: one per [`WORK_PER_THREAD`] multiply-adds, at least 1, and at most rayon's
/// threads or the CPUs this process may run on, whichever is fewer (a product split over more threads than CPUs
/// waits for whichever thread the system parked).
pub(crate) fn threads_for(m: usize, n: usize, k: usize) -> usize {
    threads_per(m, n, k, WORK_PER_THREAD)
}

/// Threads for an `m×k · k×n` product with `work_per_thread` multiply-adds each, bounded as in [`threads_for`].
fn threads_per(m: usize, n: usize, k: usize, work_per_thread: usize) -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    let work = m.saturating_mul(n).saturating_mul(k);
    (work / work_per_thread.max(1)).clamp(1, rayon::current_num_threads().min(cpus).max(1))
}

/// Multiply-adds per thread for the system BLAS. Left to itself, OpenBLAS splits even small products over all its
/// threads, which on a many-core machine would wake every core for the batch-64 MLP's products (raw Candle's MLP
/// got slower with 16 threads than with 2 that way). A quarter of [`WORK_PER_THREAD`], so that the MLP's first
/// layer at batch 64 (6.4M) still gets the two threads it ran faster with on two cores (BENCHMARKS.md).
const BLAS_WORK_PER_THREAD: usize = WORK_PER_THREAD / 4;

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major `a.rows × b.cols`, on the calling thread.
///
/// # Errors
/// When the sizes do not fit together or `dst` is too short.
pub(crate) fn matmul_into<T: Element>(dst: &mut [T], a: MatRef<T>, b: MatRef<T>, accumulate: bool) -> Result<()> {
    product(dst, a, b, accumulate, 1, None)
}

/// From this size on, a new product's buffer is taken to be fresh pages from the system rather than reused heap
/// memory (glibc maps allocations of 32 MiB and more on their own, and smaller ones once its threshold adapts).
const FRESH_PAGES_BYTES: usize = 16 << 20;

/// `a · b` as a new row-major `a.rows × b.cols` vector: by the system BLAS when there is one ([`system_blas`]),
/// else on as many threads as the product's size calls for ([`threads_for`]).
///
/// A BLAS asked for `c = a·b` (β = 0) first clears `c` in a pass of its own; the new vector is zero already, so a
/// small product is added onto it instead (β = 1): the same values, one pass over `c` fewer (OpenBLAS's clearing
/// pass was 2.6% of the batch-1024 MLP's step; without it the MLP gained 3–8%, BENCHMARKS.md). A large vector is
/// fresh zero pages from the system, which β = 1 makes fault twice (read, then written), so from
/// [`FRESH_PAGES_BYTES`] on the BLAS writes it once with β = 0: a language model's `(2048, 128) · (128, 5000)` output
/// layer took 107 ms with β = 1 and 35 ms with β = 0 (BENCHMARKS.md, "Day 10's training step").
///
/// # Errors
/// As [`matmul_into`].
pub(crate) fn matmul_new<T: Element>(a: MatRef<T>, b: MatRef<T>) -> Result<Vec<T>> {
    let len = a.rows.saturating_mul(b.cols);
    let mut dst = vec![T::ZERO; len];
    let blas = system_blas();
    let add_onto_zeros = blas.is_some() && len.saturating_mul(std::mem::size_of::<T>()) < FRESH_PAGES_BYTES;
    product(&mut dst, a, b, add_onto_zeros, threads_for(a.rows, b.cols, a.cols), blas)?;
    Ok(dst)
}

fn product<T: Element>(
    dst: &mut [T],
    a: MatRef<T>,
    b: MatRef<T>,
    accumulate: bool,
    threads: usize,
    blas: Option<&SystemBlas>,
) -> Result<()> {
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
    if let Some(blas) = blas
        && system_product(blas, dst, a, b, accumulate)
    {
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

/// `dst = a · b` (or `+=`) by the system BLAS on its own threads, one per [`BLAS_WORK_PER_THREAD`]; false, with
/// `dst` untouched, when the BLAS has no product for `T` or the views do not fit CBLAS's layouts and int sizes.
/// The sizes were checked by the caller.
fn system_product<T: Element>(blas: &SystemBlas, dst: &mut [T], a: MatRef<T>, b: MatRef<T>, accumulate: bool) -> bool {
    let int = |x: usize| c_int::try_from(x).ok();
    let (Some(gemm), Some((trans_a, lda)), Some((trans_b, ldb))) = (T::system_gemm(blas), a.cblas(), b.cblas()) else {
        return false;
    };
    let (Some(m), Some(n), Some(k)) = (int(a.rows), int(b.cols), int(a.cols)) else { return false };
    blas.use_threads(threads_per(a.rows, b.cols, a.cols, BLAS_WORK_PER_THREAD));
    let beta = if accumulate { T::ONE } else { T::ZERO };
    // SAFETY: CBLAS reads `a` and `b` through the layouts `cblas` derived from views that lie inside their slices
    // (`MatRef::checked`), and writes the `m·n` values of `dst` (row-major, leading dimension n), which the caller
    // checked it holds; `dst` is a unique borrow, so it overlaps neither input.
    unsafe {
        gemm(
            ROW_MAJOR,
            trans_a,
            trans_b,
            m,
            n,
            k,
            T::ONE,
            a.data.as_ptr(),
            lda,
            b.data.as_ptr(),
            ldb,
            beta,
            dst.as_mut_ptr(),
            n,
        )
    };
    true
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
        let a_t = MatRef::transposed(&a_t, m, k)?;
        matmul_into(&mut dst, a_t, MatRef::row_major(&b, k, n)?, true)?;
        assert!(dst.iter().zip(&want).all(|(x, y)| (x - 2.0 * y).abs() < 1e-12));
        // A new product (through the system BLAS where there is one): the product, once.
        let fresh = matmul_new(a_t, MatRef::row_major(&b, k, n)?)?;
        assert_eq!(fresh.len(), m * n);
        assert!(fresh.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-12), "{fresh:?} vs {want:?}");
        Ok(())
    }

    /// `a·b` in f64 and, for each element, the sum of the absolute terms that make it up.
    fn exact_product(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
        let term = |i: usize, p: usize| a[i / n * k + p] * b[p * n + i % n];
        let sums = |f: &dyn Fn(f64) -> f64| (0..m * n).map(|i| (0..k).map(|p| f(term(i, p))).sum()).collect();
        (sums(&|t| t), sums(&f64::abs))
    }

    fn mat(data: &[f32], rows: usize, cols: usize, transposed: bool) -> Result<MatRef<'_, f32>> {
        if transposed { MatRef::transposed(data, rows, cols) } else { MatRef::row_major(data, rows, cols) }
    }

    /// Every pair of layouts the linear layers use (row-major and transposed views), with and without
    /// accumulation, in f32 and f64, at sizes from 1 to past the BLAS's blocking: the system BLAS gives what the
    /// `gemm` crate gives. Where no BLAS is installed the test says so, and fails if `CANDLELIT_EXPECT_BLAS` is
    /// set (the test script sets it after installing OpenBLAS, so that CI cannot pass without this check).
    #[test]
    fn the_system_blas_gives_the_products_of_the_gemm_crate() -> Result<()> {
        let Some(blas) = system_blas() else {
            assert!(
                std::env::var_os("CANDLELIT_EXPECT_BLAS").is_none(),
                "CANDLELIT_EXPECT_BLAS is set but no system BLAS loaded (CANDLELIT_BLAS={:?})",
                std::env::var_os("CANDLELIT_BLAS")
            );
            eprintln!("no system BLAS here: only the built-in products were checked");
            return Ok(());
        };
        let sizes = [(1, 1, 1), (1, 5, 3), (7, 13, 9), (64, 784, 128), (129, 67, 300), (1024, 64, 10), (3, 2, 1)];
        for (m, k, n) in sizes {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729) % 997) as f32 / 498.5 - 1.0).collect();
            let a64: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
            let b64: Vec<f64> = b.iter().map(|&x| f64::from(x)).collect();
            for (a_t, b_t, accumulate) in
                [(false, false, false), (false, true, true), (true, false, false), (true, true, true)]
            {
                // The same numbers, viewed m×k and k×n, stored either row-major or as the transpose.
                let view = |data: &[f32], rows, cols, transposed: bool| -> (Vec<f32>, bool) {
                    if transposed {
                        ((0..rows * cols).map(|i| data[(i % rows) * cols + i / rows]).collect(), true)
                    } else {
                        (data.to_vec(), false)
                    }
                };
                let ((sa, ta), (sb, tb)) = (view(&a, m, k, a_t), view(&b, k, n, b_t));
                let start: Vec<f32> = (0..m * n).map(|i| (i % 5) as f32).collect();
                let (mut built_in, mut system) = (start.clone(), start.clone());
                product(&mut built_in, mat(&sa, m, k, ta)?, mat(&sb, k, n, tb)?, accumulate, 1, None)?;
                product(&mut system, mat(&sa, m, k, ta)?, mat(&sb, k, n, tb)?, accumulate, 2, Some(blas))?;
                // Both against the exact product (in f64), relative to the size of the terms summed: the two
                // libraries add in different orders, so neither is bit-equal to the other, but the BLAS may not
                // be less accurate than the built-in product.
                let (exact, scale) = exact_product(&a64, &b64, m, k, n);
                let error = |got: &[f32]| -> f64 {
                    (0..m * n)
                        .map(|i| {
                            let s = f64::from(start[i]);
                            let want = if accumulate { exact[i] + s } else { exact[i] };
                            (f64::from(got[i]) - want).abs() / (scale[i] + s.abs() + 1e-30)
                        })
                        .fold(0.0, f64::max)
                };
                let (e_built_in, e_system) = (error(&built_in), error(&system));
                assert!(
                    e_system <= 2.0 * e_built_in + 1e-7,
                    "{m}×{k}·{k}×{n}, transposed {a_t}/{b_t}, accumulate {accumulate}: relative error {e_system:e} \
                     (built-in {e_built_in:e})"
                );
                if blas.dgemm.is_some() && !a_t {
                    let (mut built_in, mut system) = (vec![0.0f64; m * n], vec![0.0f64; m * n]);
                    let (a, b) = (MatRef::row_major(&a64, m, k)?, MatRef::row_major(&b64, k, n)?);
                    product(&mut built_in, a, b, false, 1, None)?;
                    product(&mut system, a, b, false, 1, Some(blas))?;
                    let gap = built_in.iter().zip(&system).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
                    assert!(gap < 1e-9, "f64 {m}×{k}·{k}×{n}: gap {gap}");
                }
            }
        }
        Ok(())
    }

    #[test]
    fn small_products_get_one_thread_and_large_ones_more() {
        assert_eq!(threads_for(64, 128, 784), 1, "the batch-64 MLP's first layer");
        assert_eq!(threads_for(0, 128, 784), 1);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(threads_for(1024, 128, 784), 12.min(rayon::current_num_threads()).min(cpus), "batch 1024");
        // The system BLAS gets a thread per quarter of that: the batch-64 first layer up to three, a 64×128·128×64
        // product one, however many cores there are.
        let most = rayon::current_num_threads().min(cpus);
        assert_eq!(threads_per(64, 128, 784, BLAS_WORK_PER_THREAD), 3.min(most));
        assert_eq!(threads_per(64, 64, 128, BLAS_WORK_PER_THREAD), 1);
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
