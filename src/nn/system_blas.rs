//! A system BLAS for the linear layers' matrix products on the CPU, found when the program runs, not when it is
//! built.
//!
//! The `gemm` crate that Candle (and [`super::cpu_gemm`]) calls is fast while its operands sit in the cache, and
//! loses about 60% when they do not — which is the case in a training step at batch 1024, where PyTorch's MKL
//! loses 5–10% and OpenBLAS about 5% (BENCHMARKS.md, "The MLP at batch 1024"). So when OpenBLAS is installed
//! (`apt install libopenblas0` on Debian and Ubuntu), the linear layers hand their products to its
//! `cblas_sgemm` / `cblas_dgemm`; when it is not, nothing changes and nothing fails. Convolutions keep their own
//! products (one image per thread, where `gemm` on one thread does well).
//!
//! Loading it at run time (as Julia's libblastrampoline and Debian's FlexiBLAS do) keeps the build free of system
//! libraries: the same binary and the same notebook cells work on a machine with or without it.
//!
//! OpenBLAS runs on its own threads: at most as many as rayon has, fewer for small products
//! (`cpu_gemm::system_product`). Between products they spin for 2^28 cycles before they
//! sleep, taking a core from the element-wise work of the step; sessions set `OPENBLAS_THREAD_TIMEOUT=4` so that
//! they sleep at once (a program of your own that trains on the CPU should set it too, before it starts).
//!
//! `CANDLELIT_BLAS` chooses: unset or `auto` looks for OpenBLAS by its usual library names; `off` uses the
//! built-in `gemm` crate always; anything else is the file name or path of a library with the CBLAS interface
//! (MKL's `libmkl_rt.so`, say), used instead — if it cannot be loaded, a one-line warning says so and the
//! built-in products are used.

use std::ffi::{CStr, OsString, c_char, c_int};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use libloading::Library;

/// CBLAS's `CblasRowMajor`.
pub(crate) const ROW_MAJOR: c_int = 101;
/// CBLAS's `CblasNoTrans`.
const NO_TRANS: c_int = 111;
/// CBLAS's `CblasTrans`.
const TRANS: c_int = 112;

/// `cblas_sgemm` or `cblas_dgemm`: `c = alpha·op(a)·op(b) + beta·c`, all sizes and leading dimensions as C ints.
pub(crate) type CblasGemm<T> = unsafe extern "C" fn(
    layout: c_int,
    trans_a: c_int,
    trans_b: c_int,
    m: c_int,
    n: c_int,
    k: c_int,
    alpha: T,
    a: *const T,
    lda: c_int,
    b: *const T,
    ldb: c_int,
    beta: T,
    c: *mut T,
    ldc: c_int,
);

/// The libraries `auto` tries, in order: OpenBLAS as Debian, Ubuntu, Fedora and conda install it.
const OPENBLAS_NAMES: &[&str] = &["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"];

/// A loaded BLAS: its products and what it calls itself.
pub(crate) struct SystemBlas {
    pub(crate) sgemm: CblasGemm<f32>,
    pub(crate) dgemm: Option<CblasGemm<f64>>,
    /// OpenBLAS's `openblas_set_num_threads`, and the count last set (0: none yet).
    set_threads: Option<unsafe extern "C" fn(c_int)>,
    threads: AtomicUsize,
    description: String,
    // Never dropped while the function pointers above are in use: the value lives in a `static`.
    _library: Library,
}

impl SystemBlas {
    /// Loads the library at `name` (a file name the system's loader searches for, or a path).
    ///
    /// # Errors
    /// The loader's message when the file is missing or not a library, or which CBLAS function it lacks.
    pub(crate) fn load(name: &OsString) -> Result<Self, String> {
        let shown = name.to_string_lossy();
        // SAFETY: loading runs the library's initialisers; OpenBLAS's and MKL's only set up their thread pools.
        let library = unsafe { Library::new(name) }.map_err(|e| format!("cannot load {shown}: {e}"))?;
        // SAFETY: the types are CBLAS's prototypes for these names (cblas.h), the same in every implementation.
        let sgemm: CblasGemm<f32> = unsafe { library.get::<CblasGemm<f32>>(b"cblas_sgemm\0") }
            .map(|symbol| *symbol)
            .map_err(|_| format!("{shown} has no cblas_sgemm, so it is not a CBLAS library"))?;
        let dgemm = unsafe { library.get::<CblasGemm<f64>>(b"cblas_dgemm\0") }.ok().map(|symbol| *symbol);
        let set_threads =
            unsafe { library.get::<unsafe extern "C" fn(c_int)>(b"openblas_set_num_threads\0") }.ok().map(|s| *s);
        let config = unsafe { library.get::<unsafe extern "C" fn() -> *const c_char>(b"openblas_get_config\0") }
            .ok()
            .map(|s| *s)
            // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string.
            .and_then(|get| unsafe { get().as_ref().map(|p| CStr::from_ptr(p).to_string_lossy().into_owned()) });
        let description = match config {
            // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64": the name and version say enough.
            Some(config) => config.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
            None => format!("CBLAS from {shown}"),
        };
        let blas =
            SystemBlas { sgemm, dgemm, set_threads, threads: AtomicUsize::new(0), description, _library: library };
        // Start OpenBLAS's pool at its largest now — as many threads as rayon has (a notebook session sets that to
        // the cores), and no more than the CPUs this process may use — so that later counts only lower it.
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        blas.use_threads(rayon::current_num_threads().min(cpus));
        Ok(blas)
    }

    /// Makes the next products run on `threads` threads (OpenBLAS; other libraries keep their own setting). A
    /// count is a plain store inside OpenBLAS once its pool has that many threads; it is set only when it changes.
    pub(crate) fn use_threads(&self, threads: usize) {
        let threads = threads.max(1);
        if let Some(set) = self.set_threads
            && self.threads.swap(threads, Ordering::Relaxed) != threads
        {
            // SAFETY: OpenBLAS's setter takes any positive count.
            unsafe { set(c_int::try_from(threads).unwrap_or(1)) }
        }
    }
}

/// What `CANDLELIT_BLAS` asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// OpenBLAS if it is installed.
    Auto,
    /// The built-in products only.
    Off,
    /// This library, or a warning.
    Named(OsString),
}

impl Choice {
    /// Reads a value of `CANDLELIT_BLAS` (unset is `Auto`).
    pub(crate) fn from_setting(value: Option<OsString>) -> Self {
        match value {
            None => Choice::Auto,
            Some(v) if v.is_empty() || v.eq_ignore_ascii_case("auto") => Choice::Auto,
            Some(v) if v.eq_ignore_ascii_case("off") => Choice::Off,
            Some(v) => Choice::Named(v),
        }
    }

    /// The library this choice leads to, or why there is none when the learner named one that failed.
    pub(crate) fn resolve(&self) -> Result<Option<SystemBlas>, String> {
        match self {
            Choice::Off => Ok(None),
            Choice::Auto => Ok(OPENBLAS_NAMES.iter().find_map(|name| SystemBlas::load(&OsString::from(name)).ok())),
            Choice::Named(name) => SystemBlas::load(name).map(Some),
        }
    }
}

/// The BLAS of this process, looked up once.
pub(crate) fn system_blas() -> Option<&'static SystemBlas> {
    static BLAS: OnceLock<Option<SystemBlas>> = OnceLock::new();
    BLAS.get_or_init(|| {
        Choice::from_setting(std::env::var_os("CANDLELIT_BLAS")).resolve().unwrap_or_else(|message| {
            eprintln!("candlelit: CANDLELIT_BLAS: {message}; using the built-in matrix products instead.");
            None
        })
    })
    .as_ref()
}

/// The system BLAS that the prelude's linear layers use on the CPU, such as `"OpenBLAS 0.3.21"`, or `None` when
/// they use the built-in `gemm` crate (OpenBLAS not installed, or `CANDLELIT_BLAS=off`).
///
/// Installing OpenBLAS (`sudo apt install libopenblas0` on Debian or Ubuntu) made training the lessons' multilayer
/// perceptron at batch 1024 about 40% faster on a 2-core machine (BENCHMARKS.md); convolutions and element-wise
/// operations are unaffected.
///
/// ```
/// match candlelit::prelude::cpu_blas() {
///     Some(name) => println!("linear layers multiply with {name}"),
///     None => println!("linear layers multiply with the built-in gemm crate"),
/// }
/// ```
pub fn cpu_blas() -> Option<String> {
    system_blas().map(|blas| blas.description.clone())
}

/// The CBLAS transpose flag and leading dimension that describe a matrix whose element `(r, c)` sits at
/// `r·row_stride + c·col_stride`, or `None` for a layout CBLAS cannot take (neither stride 1, or a size beyond a
/// C int).
pub(crate) fn cblas_layout(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<(c_int, c_int)> {
    let (flag, leading) = if col_stride == 1 && row_stride >= cols.max(1) {
        (NO_TRANS, row_stride)
    } else if row_stride == 1 && col_stride >= rows.max(1) {
        (TRANS, col_stride)
    } else {
        return None;
    };
    Some((flag, c_int::try_from(leading).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_learners_write_them() {
        assert_eq!(Choice::from_setting(None), Choice::Auto);
        assert_eq!(Choice::from_setting(Some("AUTO".into())), Choice::Auto);
        assert_eq!(Choice::from_setting(Some("".into())), Choice::Auto);
        assert_eq!(Choice::from_setting(Some("off".into())), Choice::Off);
        assert_eq!(Choice::from_setting(Some("OFF".into())), Choice::Off);
        let named = Choice::from_setting(Some("/opt/mkl/libmkl_rt.so".into()));
        assert_eq!(named, Choice::Named("/opt/mkl/libmkl_rt.so".into()));
        assert!(matches!(Choice::Off.resolve(), Ok(None)));
    }

    #[test]
    fn a_named_library_that_is_missing_or_not_cblas_says_which() {
        let missing = Choice::Named("/no/such/libblas.so".into()).resolve().err().unwrap_or_default();
        assert!(missing.starts_with("cannot load /no/such/libblas.so"), "{missing}");
        // The C library loads but has no CBLAS in it.
        let not_blas = Choice::Named("libc.so.6".into()).resolve().err().unwrap_or_default();
        assert!(not_blas.contains("has no cblas_sgemm"), "{not_blas}");
    }

    #[test]
    fn layouts_map_to_cblas_flags() {
        assert_eq!(cblas_layout(3, 4, 4, 1), Some((NO_TRANS, 4)), "row-major");
        assert_eq!(cblas_layout(3, 4, 1, 3), Some((TRANS, 3)), "transpose of a row-major 4×3");
        assert_eq!(cblas_layout(1, 4, 1, 1), Some((TRANS, 1)), "a transposed column: both strides 1");
        assert_eq!(cblas_layout(3, 4, 8, 2), None, "every other column");
        assert_eq!(cblas_layout(3, 4, 2, 1), None, "rows overlap");
    }
}
