//! Interrupting the running cell from another thread: SIGINT to the cell's process, then SIGKILL when the cell
//! ignores it for the grace period (the session restarts the process and says so).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lets another thread interrupt the running cell (Jupyter's `interrupt_request`, Ctrl-C in the REPL).
#[derive(Clone)]
pub struct Interrupter {
    pub(super) control: Arc<Control>,
}

/// What the session and its interrupters share about the cell's process and the cell it runs.
pub(super) struct Control {
    /// The process that runs cells (evcxr's child; replaced when it restarts).
    pub(super) process: Arc<Mutex<std::process::Child>>,
    /// Number of the cell being executed, 0 when idle.
    pub(super) cell: AtomicU64,
    /// When the running cell's code started (compilation is over); `None` while it compiles or no cell runs.
    pub(super) running_since: Mutex<Option<Instant>>,
    /// An interrupt arrived while the cell was still compiling.
    pub(super) pending: AtomicBool,
    /// The child was killed because a cell ignored an interrupt.
    pub(super) killed: AtomicBool,
    /// Interrupts asked for so far (a cell waiting for input stops waiting when this changes).
    pub(super) interrupts: AtomicU64,
    /// How long a cell may ignore SIGINT before its process is killed.
    pub(super) grace: Duration,
}

impl Interrupter {
    /// Asks the running cell to stop. Returns `false` when no cell is running.
    pub fn interrupt(&self) -> bool {
        self.control.interrupts.fetch_add(1, Ordering::SeqCst);
        let cell = self.control.cell.load(Ordering::SeqCst);
        if cell == 0 {
            return false;
        }
        if self.control.is_running() {
            self.control.signal(cell);
        } else {
            self.control.pending.store(true, Ordering::SeqCst);
        }
        true
    }
}

impl Interrupter {
    /// How long the cell's own code has been running: `None` while it still compiles, or when no cell runs.
    pub fn running_for(&self) -> Option<Duration> {
        self.control.running_since.lock().ok().and_then(|since| since.map(|t| t.elapsed()))
    }

    /// How many interrupts were asked for so far.
    pub fn interrupts(&self) -> u64 {
        self.control.interrupts.load(Ordering::SeqCst)
    }
}

impl Control {
    /// Marks the cell's code as running from now (`true`) or not running (`false`).
    pub(super) fn set_running(&self, running: bool) {
        if let Ok(mut since) = self.running_since.lock() {
            *since = running.then(Instant::now);
        }
    }

    /// Whether the cell's code is running (its compilation is over).
    pub(super) fn is_running(&self) -> bool {
        self.running_since.lock().is_ok_and(|since| since.is_some())
    }

    pub(super) fn pid(&self) -> Option<i32> {
        let child = self.process.lock().ok()?;
        i32::try_from(child.id()).ok()
    }

    /// Sends SIGINT to the cell's process, and SIGKILL if the same cell is still running after the grace period.
    pub(super) fn signal(self: &Arc<Self>, cell: u64) {
        let Some(pid) = self.pid() else { return };
        send_signal(pid, libc::SIGINT);
        let control = Arc::clone(self);
        std::thread::spawn(move || {
            std::thread::sleep(control.grace);
            if control.cell.load(Ordering::SeqCst) == cell && control.pid() == Some(pid) {
                control.killed.store(true, Ordering::SeqCst);
                send_signal(pid, libc::SIGKILL);
            }
        });
    }
}

fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety requirements; a stale pid at worst signals nothing.
    unsafe {
        libc::kill(pid, signal);
    }
}
