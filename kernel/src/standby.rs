//! Standby kernels: under `candlelit lab`, one kernel is always loading the prelude in the background, so opening a
//! notebook (or restarting its kernel) finds it ready instead of waiting ~20 s for evcxr and rust-analyzer.
//!
//! How it fits Jupyter, which starts a kernel by running the kernelspec's command with a connection file:
//! - `candlelit lab` starts `candlelit kernel --standby SOCKET` and tells JupyterLab's kernels where `SOCKET` is
//!   (`$CANDLELIT_STANDBY`), then becomes JupyterLab. The standby starts its session at once and waits.
//! - The kernel Jupyter starts connects to `SOCKET` and hands over its connection file and working folder. The
//!   standby binds the sockets and is the kernel from then on; the process Jupyter started stays as its stand-in:
//!   it lives exactly as long as the standby, and passes on SIGINT/SIGTERM. If the stand-in is killed, the standby
//!   sees its socket close and exits too, so Jupyter's view of the kernel stays true.
//! - Once the adopted kernel has been idle a few seconds, it starts the next standby, so the wait is never a
//!   learner's. Without a standby (none yet, another binary, other `CANDLELIT_*` settings) a kernel starts as usual.
//!
//! The socket lives in a folder only this user can enter; standbys exit when `candlelit lab` does.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kernel::{Activity, Prepared};

/// Where kernels find the standby (set by `candlelit lab`, inherited through JupyterLab).
pub const SOCKET_VAR: &str = "CANDLELIT_STANDBY";
/// The process whose end ends every standby (`candlelit lab`, which becomes JupyterLab).
pub const OWNER_VAR: &str = "CANDLELIT_STANDBY_OWNER";
/// How long an adopted kernel must have been idle before it starts the next standby.
const QUIET_BEFORE_REPLENISH: Duration = Duration::from_secs(3);

/// What a starting kernel sends the standby.
#[derive(Debug, Serialize, Deserialize)]
struct Handover {
    connection_file: PathBuf,
    cwd: PathBuf,
    /// Must equal the standby's own: same binary, same `CANDLELIT_*` settings.
    fingerprint: String,
}

/// The standby's answer: `None` when it now serves the kernel, else why not.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    refused: Option<String>,
}

/// The socket for standbys owned by process `owner`, in a private per-user folder.
///
/// # Errors
/// When the folder cannot be made, or exists but others could enter it.
pub fn socket_for(owner: u32) -> Result<PathBuf, String> {
    let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = base.join(format!("candlelit-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!("{} must be a folder only you can use (mode 700); remove it and try again", dir.display()));
    }
    Ok(dir.join(format!("standby-{owner}.sock")))
}

/// Starts a standby kernel in the background for `socket`, ending when process `owner` ends. Its log goes next to
/// the socket.
///
/// # Errors
/// When the process cannot be started.
pub fn spawn(socket: &Path, owner: u32) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the candlelit binary: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(socket.with_extension("log"))
        .map_err(|e| format!("cannot open the standby log: {e}"))?;
    let log_err = log.try_clone().map_err(|e| format!("cannot open the standby log: {e}"))?;
    use std::os::unix::process::CommandExt as _;
    Command::new(exe)
        .arg("kernel")
        .arg("--standby")
        .arg(socket)
        .env(SOCKET_VAR, socket)
        .env(OWNER_VAR, owner.to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: signals Jupyter sends to another kernel's group must not reach it.
        .process_group(0)
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot start a standby kernel: {e}"))
}

/// Called by a kernel Jupyter started: hands `connection_file` to a waiting standby and then stands in for it until
/// it exits. `None` when there is no standby to take it (the caller starts a kernel itself).
pub fn hand_over(connection_file: &Path) -> Option<Result<(), String>> {
    let socket = PathBuf::from(std::env::var_os(SOCKET_VAR).filter(|s| !s.is_empty())?);
    let stream = UnixStream::connect(&socket).ok()?;
    let handover = Handover {
        connection_file: std::path::absolute(connection_file).ok()?,
        cwd: std::env::current_dir().ok()?,
        fingerprint: fingerprint(),
    };
    let mut line = serde_json::to_string(&handover).ok()?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut answer = String::new();
    reader.read_line(&mut answer).ok()?;
    match serde_json::from_str::<Answer>(&answer) {
        Ok(Answer { refused: None }) => Some(stand_in(stream, reader)),
        Ok(Answer { refused: Some(why) }) => {
            eprintln!("candlelit: starting a new kernel; the standby could not take this one: {why}");
            None
        }
        Err(_) => None,
    }
}

/// Lives as long as the standby serving the kernel: passes SIGINT and SIGTERM on, and exits when it does.
fn stand_in(stream: UnixStream, mut reader: BufReader<UnixStream>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut sigint = signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
        let mut sigterm = signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        let mut closed = tokio::task::spawn_blocking(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        });
        loop {
            tokio::select! {
                _ = &mut closed => return Ok(()),
                _ = sigint.recv() => { let _ = (&stream).write_all(b"interrupt\n"); }
                _ = sigterm.recv() => {
                    let _ = (&stream).write_all(b"terminate\n");
                    return Ok(());
                }
            }
        }
    })
}

/// `candlelit kernel --standby SOCKET`: loads the prelude now, waits for a kernel to hand over its connection file,
/// then serves it until shutdown.
///
/// # Errors
/// When the socket cannot be bound, or serving the adopted kernel fails.
pub fn serve(socket: &Path) -> Result<(), String> {
    // One waiting standby per socket: the lock is held until this one is taken.
    let lock = std::fs::File::create(socket.with_extension("lock"))
        .map_err(|e| format!("cannot create the standby lock next to {}: {e}", socket.display()))?;
    if lock.try_lock().is_err() {
        return Ok(()); // another standby already waits there
    }
    let listener = bind(socket)?;
    if let Some(owner) = owner() {
        watch_owner(owner, socket.to_path_buf());
    }
    let started = std::time::Instant::now();
    let prepared = Prepared::start();
    announce_when_ready(prepared.activity(), started);
    let (stream, info, cwd) = loop {
        let (stream, _) = listener.accept().map_err(|e| format!("standby: accept failed: {e}"))?;
        match receive(&stream) {
            Ok(found) => break (stream, found.0, found.1),
            Err(why) => answer(&stream, Some(why)),
        }
    };
    // Taken: the next kernel must not find this one, and the next standby may start.
    let _ = std::fs::remove_file(socket);
    drop(listener);
    drop(lock);
    if let Err(e) = std::env::set_current_dir(&cwd) {
        eprintln!("candlelit: cannot enter {}: {e}", cwd.display());
    }
    eprintln!("candlelit: standby taken by a kernel in {}", cwd.display());
    prepared.enter_dir(cwd);
    follow_stand_in(&stream, prepared.interrupter());
    crate::kernel::serve_blocking(info, prepared, || answer(&stream, None))
}

/// Reads a hand-over and checks it can be honoured.
fn receive(stream: &UnixStream) -> Result<(jupyter_zmq_client::ConnectionInfo, PathBuf), String> {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).map_err(|e| format!("unreadable hand-over: {e}"))?;
    let handover: Handover = serde_json::from_str(&line).map_err(|e| format!("malformed hand-over: {e}"))?;
    if handover.fingerprint != fingerprint() {
        return Err("it is another candlelit binary or has other CANDLELIT_* settings".into());
    }
    let info = crate::kernel::read_connection_file(&handover.connection_file)?;
    Ok((info, handover.cwd))
}

fn answer(stream: &UnixStream, refused: Option<String>) {
    if let Ok(mut line) = serde_json::to_string(&Answer { refused }) {
        line.push('\n');
        let _ = (&*stream).write_all(line.as_bytes());
    }
}

/// Binds `socket`, replacing one left by a standby that died (the caller holds the lock, so none is live).
fn bind(socket: &Path) -> Result<UnixListener, String> {
    let _ = std::fs::remove_file(socket);
    UnixListener::bind(socket).map_err(|e| format!("cannot listen on {}: {e}", socket.display()))
}

/// Passes the stand-in's requests on; when the stand-in is gone (killed by Jupyter), so is this kernel.
fn follow_stand_in(stream: &UnixStream, interrupt: impl Fn() + Send + 'static) {
    let Ok(stream) = stream.try_clone() else { return };
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line.as_deref() {
                Ok("interrupt") => interrupt(),
                Ok(_) => break,
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
}

/// Logs when the standby's session has loaded (for people reading the log, and for the benchmark).
fn announce_when_ready(activity: Arc<Activity>, started: std::time::Instant) {
    std::thread::spawn(move || {
        while activity.idle_for().is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("candlelit: standby ready after {:.1} s", started.elapsed().as_secs_f64());
    });
}

/// Exits (removing the socket) once process `owner` is gone.
fn watch_owner(owner: u32, socket: PathBuf) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if !alive(owner) {
                // An adopted kernel has already removed its socket file; the last one out removes the lock file.
                let _ = std::fs::remove_file(&socket);
                let _ = std::fs::remove_file(socket.with_extension("lock"));
                std::process::exit(0);
            }
        }
    });
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

fn owner() -> Option<u32> {
    std::env::var(OWNER_VAR).ok()?.parse().ok()
}

/// Same binary (path and modification time) and same `CANDLELIT_*` settings.
fn fingerprint() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let modified = std::fs::metadata(&exe).and_then(|m| m.modified()).ok();
    let mut settings: Vec<(String, String)> =
        std::env::vars().filter(|(k, _)| k.starts_with("CANDLELIT_") && k != SOCKET_VAR && k != OWNER_VAR).collect();
    settings.sort();
    format!("{}|{modified:?}|{settings:?}", exe.display())
}

/// Under `candlelit lab`: once `activity` has been idle a few seconds, starts the next standby if none waits.
pub fn replenish_when_idle(activity: Arc<Activity>) {
    let Some(owner) = owner() else { return };
    std::thread::spawn(move || {
        while alive(owner) {
            std::thread::sleep(Duration::from_millis(500));
            if activity.idle_for().is_some_and(|idle| idle >= QUIET_BEFORE_REPLENISH) {
                replenish();
                return;
            }
        }
    });
}

/// Under `candlelit lab`: starts the next standby now unless one waits (a kernel shutting down calls this, so that
/// a restart finds one loading).
pub fn replenish() {
    let (Some(socket), Some(owner)) = (std::env::var_os(SOCKET_VAR).filter(|s| !s.is_empty()), owner()) else {
        return;
    };
    let socket = PathBuf::from(socket);
    if alive(owner)
        && UnixStream::connect(&socket).is_err()
        && let Err(e) = spawn(&socket, owner)
    {
        eprintln!("candlelit: {e}");
    }
}
