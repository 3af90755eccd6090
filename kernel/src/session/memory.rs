//! A memory limit for the process that runs cells, so one runaway cell (a learner's `vec![0; 1 << 40]`, a tensor
//! grown in a loop) stops with "memory allocation of N bytes failed" instead of taking the machine down.
//!
//! The grader sets it for every submission (`candlelit grade --memory-limit`); anyone can set
//! `CANDLELIT_CELL_MEMORY_LIMIT` (MiB) for the kernel or the REPL. It is applied as `RLIMIT_DATA` in the cell
//! process only: the compiler and the kernel itself are not limited.

/// The variable that carries the limit, in MiB.
pub const LIMIT_VAR: &str = "CANDLELIT_CELL_MEMORY_LIMIT";

/// Makes every session started from now on limit its cell process to `mib` MiB.
///
/// Call it before starting other threads: it changes this process's environment.
pub fn limit_sessions(mib: u64) {
    // SAFETY: called by the grader on its main thread before any session (and any other thread) starts.
    unsafe { std::env::set_var(LIMIT_VAR, mib.to_string()) };
}

/// In the cell process (`EVCXR_IS_RUNTIME` is set there), applies [`LIMIT_VAR`] if it is set. Called first
/// thing in `main`.
pub fn apply_in_cell_process() {
    if std::env::var_os("EVCXR_IS_RUNTIME").is_none() {
        return;
    }
    let Some(mib) = std::env::var(LIMIT_VAR).ok().and_then(|v| v.trim().parse::<u64>().ok()) else { return };
    let bytes = mib.saturating_mul(1024 * 1024);
    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
    // SAFETY: setrlimit reads the struct we pass; it has no other memory-safety requirements.
    if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } != 0 {
        eprintln!("candlelit: could not limit the cells' memory to {mib} MiB: {}", std::io::Error::last_os_error());
    }
}
