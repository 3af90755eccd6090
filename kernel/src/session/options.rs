//! How a session is set up: the cache, the prelude, the interrupt grace, and the environment of the process that
//! runs cells (allocator, thread pools, the toolchain's `libstd`).

use std::path::PathBuf;
use std::time::Duration;

use super::shared_prelude;

/// How a session is set up; [`Options::from_env`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Persistent compile cache (`$CANDLELIT_CACHE`).
    pub cache: PathBuf,
    /// The prelude crate's folder.
    pub prelude: PathBuf,
    /// Cargo features of the prelude (`cuda` when this binary was built with it).
    pub features: Vec<String>,
    /// How long a cell may ignore an interrupt before its process is restarted (`$CANDLELIT_INTERRUPT_GRACE`, s).
    pub interrupt_grace: Duration,
    /// Tell cargo not to touch the network (`$CANDLELIT_OFFLINE=0` turns it off).
    pub offline: bool,
}

impl Options {
    /// Defaults from the environment and from how this binary was built.
    pub fn from_env() -> Self {
        let grace = std::env::var("CANDLELIT_INTERRUPT_GRACE").ok().and_then(|s| s.parse::<f64>().ok());
        Options {
            cache: crate::paths::cache(),
            prelude: crate::paths::prelude_source(),
            features: if cfg!(feature = "cuda") { vec!["cuda".to_string()] } else { Vec::new() },
            interrupt_grace: Duration::from_secs_f64(grace.unwrap_or(5.0).max(0.1)),
            offline: std::env::var("CANDLELIT_OFFLINE").map_or(true, |v| v != "0"),
        }
    }

    /// The cache folder for this prelude and feature set (CPU and CUDA builds never share compiled code).
    pub fn slot_root(&self) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.prelude.hash(&mut hasher);
        self.features.hash(&mut hasher);
        let flavour = if self.features.is_empty() { "cpu".to_string() } else { self.features.join("-") };
        self.cache.join("sessions").join(format!("{flavour}-{:012x}", hasher.finish() & 0xffff_ffff_ffff))
    }

    /// The cell that loads the prelude: cells at `opt-level = 0` (dependencies are optimised by the cache's cargo
    /// config), cargo offline, and the prelude as the shared library in `wrapper`.
    pub(super) fn init_cell(&self, wrapper: &std::path::Path) -> String {
        format!(
            ":opt 0\n:offline {}\n{}\nuse candlelit::prelude::*;\n",
            u8::from(self.offline),
            shared_prelude::dep_line(wrapper),
        )
    }
}

/// Candle's setting for how long its element-wise pool spins before its workers sleep (see where it is set).
const SPIN_LIMIT: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";

/// `LD_LIBRARY_PATH` with the toolchain's `libstd` in front. evcxr moves each compiled cell up one folder after
/// linking, which breaks rustc's `$ORIGIN`-relative rpath to `libstd` when the cache and the toolchain share a
/// parent (both under `$HOME`); the child then finds `libstd` through this path instead.
pub(super) fn rust_library_path() -> Option<std::ffi::OsString> {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("rustc").args(args).output().ok()?;
        String::from_utf8(out.stdout).ok()
    };
    let sysroot = PathBuf::from(run(&["--print", "sysroot"])?.trim());
    let host = run(&["-vV"])?.lines().find_map(|l| l.strip_prefix("host: ").map(str::to_string))?;
    let mut paths = vec![sysroot.join("lib").join("rustlib").join(host).join("lib")];
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).ok()
}

/// The settings a process that trains gets (the cells' process, and `candlelit bench`'s measurements), for each
/// variable the user has not set: glibc's allocator keeps batch-sized blocks, rayon's thread count is counted once,
/// and the spinning of Candle's element-wise pool and of OpenBLAS's threads is short.
pub fn cell_process_env() -> Vec<(&'static str, String)> {
    // glibc's malloc hands blocks over 128 KiB straight back to the OS when freed, so a training loop that
    // allocates batch-sized tensors pays page faults on every step (the 5-epoch MLP of the benchmark: 3.8 s
    // instead of 1.9 s). Keep blocks up to 32 MiB in the heap, and up to 64 MiB of free heap, in the process
    // that runs the cells (glibc reads these when that process starts; other allocators ignore them).
    let mut vars = vec![
        ("MALLOC_MMAP_THRESHOLD_", "33554432".to_string()),
        ("MALLOC_TRIM_THRESHOLD_", "67108864".to_string()),
        // Candle sizes its CPU work by the physical cores, and without RAYON_NUM_THREADS it counts them again for
        // every operation by parsing /proc/cpuinfo: a tenth of a small MLP's training step went to the kernel
        // formatting that file. Count once, here, with the same rule.
        ("RAYON_NUM_THREADS", num_cpus::get_physical().max(1).to_string()),
        // Candle runs element-wise ops on a second pool whose workers spin for 25,000 pauses after each op before
        // they sleep; the matrix products run on rayon's pool, so a product right after a large element-wise op
        // had one core fewer than it thought (the batch-1024 MLP: 116k → 175k samples/s with a short spin on 2
        // cores, BENCHMARKS.md). With the products on OpenBLAS's threads, 300 beat 1,000 (MLP 64 +6%).
        (SPIN_LIMIT, "300".to_string()),
        // The same for OpenBLAS (the linear layers' products when it is installed, src/nn/system_blas.rs): its
        // threads spin for 2^28 cycles after a product, taking a core from the element-wise ops between the
        // products. 2^4 puts them to sleep at once (the batch-1024 MLP: 0.78× → 0.97× PyTorch, BENCHMARKS.md).
        ("OPENBLAS_THREAD_TIMEOUT", "4".to_string()),
    ];
    vars.retain(|(var, _)| std::env::var_os(var).is_none());
    vars
}
