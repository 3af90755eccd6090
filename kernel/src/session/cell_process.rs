//! What the process that runs cells does before it becomes evcxr's evaluator: take its memory limit
//! ([`super::memory`]) and tie its life to the thread that started it, so that a kernel, REPL or grader killed
//! by anyone (Jupyter's restart, `kill -9`, a crash) leaves no cell running on.

/// Whether this process is evcxr's cell process (evcxr sets `EVCXR_IS_RUNTIME` there).
fn is_cell_process() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Called first thing in `main`: in the cell process, applies the memory limit, turns std's backtraces off and
/// asks the kernel to kill this process when its parent goes. Elsewhere it does nothing.
pub fn prepare() {
    if !is_cell_process() {
        return;
    }
    super::memory::apply_in_cell_process();
    die_with_parent();
    no_std_backtraces();
}

/// Panics reach the learner as one tidy line (the prelude's hook), so std's own backtraces are only noise — and
/// slow: with `RUST_BACKTRACE=1` inherited (CI sets it), a failed allocation made the cell process symbolize a
/// backtrace of this debug binary for over 10 s on a loaded machine before it aborted, and the grader timed the
/// cell out instead of reporting that it ran out of memory.
fn no_std_backtraces() {
    // SAFETY: called first thing in the cell process's `main`, before it starts any thread.
    unsafe {
        std::env::set_var("RUST_BACKTRACE", "0");
    }
}

/// `PR_SET_PDEATHSIG`: SIGKILL when the thread that spawned this process (the session's evaluation thread,
/// which lives as long as the session) ends. If the parent was already gone before the call, exit now.
#[cfg(target_os = "linux")]
fn die_with_parent() {
    // SAFETY: getppid(2) cannot fail; prctl(PR_SET_PDEATHSIG) takes a signal number and changes only this
    // process's own death signal.
    unsafe {
        let parent = libc::getppid();
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            eprintln!(
                "candlelit: the cell process could not tie itself to the kernel: {}",
                std::io::Error::last_os_error()
            );
        }
        // Re-parented before the call took effect: the kernel is already gone. (Not `parent == 1`: in the
        // grader's PID namespace the kernel's side may be process 1.)
        if libc::getppid() != parent {
            std::process::exit(1);
        }
    }
}

/// Elsewhere the cell process relies on its pipes closing when the kernel goes (evcxr then ends it).
#[cfg(not(target_os = "linux"))]
fn die_with_parent() {}
