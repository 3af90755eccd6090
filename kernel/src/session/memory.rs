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

/// In the cell process, applies [`LIMIT_VAR`] if it is set (called by [`super::cell_process::prepare`]).
pub fn apply_in_cell_process() {
    let Some(mib) = std::env::var(LIMIT_VAR).ok().and_then(|v| v.trim().parse::<u64>().ok()) else { return };
    let bytes = mib.saturating_mul(1024 * 1024);
    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
    // SAFETY: setrlimit reads the struct we pass; it has no other memory-safety requirements.
    if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } != 0 {
        eprintln!("candlelit: could not limit the cells' memory to {mib} MiB: {}", std::io::Error::last_os_error());
    }
}

/// What a failed allocation (`line`: "memory allocation of N bytes failed") means, in a learner's words, with
/// the limit when one is set.
pub fn in_words(line: &str) -> String {
    let bytes: Option<u64> = line.split_whitespace().nth(3).and_then(|n| n.parse().ok());
    let asked = bytes.map_or_else(String::new, |b| format!(" (it asked for {})", human(b)));
    let limit = std::env::var(LIMIT_VAR).ok().and_then(|v| v.trim().parse::<u64>().ok());
    let whose = limit.map_or_else(|| "this machine's memory".to_string(), |mib| format!("the {mib} MiB cells may use"));
    format!(
        "The cell ran out of memory{asked}: that is more than {whose}, so the Rust process running your cells stopped."
    )
}

/// What a cell process ended by SIGKILL most likely means.
pub fn killed_in_words() -> &'static str {
    "The Rust process running your cells was killed by the system, most likely because the machine ran out of \
     memory."
}

fn human(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= GIB { format!("{:.1} GiB", b / GIB) } else { format!("{:.0} MiB", (b / MIB).max(1.0)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_allocation_is_told_in_words() {
        let words = in_words("memory allocation of 8589934592 bytes failed");
        assert!(words.starts_with("The cell ran out of memory (it asked for 8.0 GiB)"), "{words}");
        assert_eq!(human(3 << 20), "3 MiB");
    }
}
