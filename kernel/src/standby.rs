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
/// How long the standby waits for a connected kernel's hand-over line: a client that connects and says nothing
/// cannot keep it from the next one.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a kernel waits for the standby's answer (it binds the sockets first, which is quick).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a kernel that started the next standby waits for it to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest hand-over line read.
const MAX_HANDOVER: u64 = 64 << 10;

/// The process whose end ends the standbys (`candlelit lab`): its pid and, on Linux, its start time, so that a
/// later process that reuses the pid is not mistaken for it. Written to [`OWNER_VAR`] as `PID` or `PID@START`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pid: u32,
    started: Option<u64>,
}

impl Owner {
    /// This process.
    pub fn this_process() -> Owner {
        let pid = std::process::id();
        Owner { pid, started: start_time(pid) }
    }

    /// The value of [`OWNER_VAR`].
    pub fn to_env(self) -> String {
        match self.started {
            Some(started) => format!("{}@{started}", self.pid),
            None => self.pid.to_string(),
        }
    }

    fn parse(text: &str) -> Option<Owner> {
        let (pid, started) = match text.split_once('@') {
            Some((pid, started)) => (pid, Some(started.parse().ok()?)),
            None => (text, None),
        };
        Some(Owner { pid: pid.parse().ok()?, started })
    }

    /// Whether the process still runs: its pid exists and, when known, it started when the owner did.
    fn alive(&self) -> bool {
        let Ok(pid) = i32::try_from(self.pid) else { return false };
        // SAFETY: kill(2) with signal 0 only checks that the process exists.
        let exists =
            unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) };
        exists && (self.started.is_none() || start_time(self.pid) == self.started)
    }
}

/// When process `pid` started, in clock ticks after boot (`/proc/PID/stat`, field 22); `None` without `/proc`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may itself hold spaces and parentheses.
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

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
pub fn socket_for(owner: Owner) -> Result<PathBuf, String> {
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
    Ok(dir.join(format!("standby-{}.sock", owner.pid)))
}

/// Starts a standby kernel in the background for `socket`, ending when process `owner` ends. Its log goes next to
/// the socket.
///
/// # Errors
/// When the process cannot be started.
pub fn spawn(socket: &Path, owner: Owner) -> Result<(), String> {
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
        .env(OWNER_VAR, owner.to_env())
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
fn hand_over(connection_file: &Path) -> Option<Result<(), String>> {
    let socket = PathBuf::from(std::env::var_os(SOCKET_VAR).filter(|s| !s.is_empty())?);
    let stream = UnixStream::connect(&socket).ok()?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT)).ok()?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).ok()?;
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
    // From here on the stand-in waits as long as the standby lives.
    stream.set_read_timeout(None).ok()?;
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
    let loaded = if prepared.activity().idle_for().is_some() { "loaded" } else { "still loading" };
    eprintln!(
        "candlelit: standby taken by a kernel in {} after {:.1} s, {loaded}",
        cwd.display(),
        started.elapsed().as_secs_f64()
    );
    prepared.enter_dir(cwd);
    follow_stand_in(&stream, prepared.interrupter());
    crate::kernel::serve_blocking(info, prepared, || answer(&stream, None), hooks())
}

/// Reads a hand-over and checks it can be honoured.
fn receive(stream: &UnixStream) -> Result<(jupyter_zmq_client::ConnectionInfo, PathBuf), String> {
    use std::io::Read as _;
    stream.set_read_timeout(Some(HANDOVER_TIMEOUT)).map_err(|e| format!("cannot set a read timeout: {e}"))?;
    stream.set_write_timeout(Some(HANDOVER_TIMEOUT)).map_err(|e| format!("cannot set a write timeout: {e}"))?;
    let mut line = String::new();
    BufReader::new(stream.take(MAX_HANDOVER))
        .read_line(&mut line)
        .map_err(|e| format!("no hand-over within {} s: {e}", HANDOVER_TIMEOUT.as_secs()))?;
    stream.set_read_timeout(None).map_err(|e| format!("cannot clear the read timeout: {e}"))?;
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
fn watch_owner(owner: Owner, socket: PathBuf) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            if !owner.alive() {
                // An adopted kernel has already removed its socket file; the last one out removes the lock file.
                let _ = std::fs::remove_file(&socket);
                let _ = std::fs::remove_file(socket.with_extension("lock"));
                std::process::exit(0);
            }
        }
    });
}

fn owner() -> Option<Owner> {
    Owner::parse(&std::env::var(OWNER_VAR).ok()?)
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

/// What a kernel does for the standbys: under `candlelit lab`, start the next standby once it has been idle a few
/// seconds, and at once when it is restarted (the restarted kernel will look for one). Elsewhere they do nothing.
pub fn hooks() -> crate::kernel::Hooks {
    crate::kernel::Hooks { serving: Some(Box::new(replenish_when_idle)), restarting: Some(Box::new(replenish)) }
}

/// Serves the kernel Jupyter started with `connection_file`: handed to a waiting standby when there is one
/// (this process then stands in for it), else started here.
///
/// # Errors
/// As [`crate::kernel::run`].
pub fn run_kernel(connection_file: &Path) -> Result<(), String> {
    match hand_over(connection_file) {
        Some(served) => served,
        None => crate::kernel::run(connection_file, hooks()),
    }
}

/// Under `candlelit lab`: once `activity` has been idle a few seconds, starts the next standby if none waits.
fn replenish_when_idle(activity: Arc<Activity>) {
    let Some(owner) = owner() else { return };
    std::thread::spawn(move || {
        while owner.alive() {
            std::thread::sleep(Duration::from_millis(500));
            if activity.idle_for().is_some_and(|idle| idle >= QUIET_BEFORE_REPLENISH) {
                replenish();
                return;
            }
        }
    });
}

/// Under `candlelit lab`: starts the next standby now unless one waits (a kernel shutting down calls this, so that
/// a restart finds one loading), and returns once it listens, so that the kernel Jupyter starts next finds it.
fn replenish() {
    let (Some(socket), Some(owner)) = (std::env::var_os(SOCKET_VAR).filter(|s| !s.is_empty()), owner()) else {
        return;
    };
    let socket = PathBuf::from(socket);
    if !owner.alive() || UnixStream::connect(&socket).is_ok() {
        return;
    }
    if let Err(e) = spawn(&socket, owner) {
        eprintln!("candlelit: {e}");
        return;
    }
    let deadline = std::time::Instant::now() + LISTEN_TIMEOUT;
    while UnixStream::connect(&socket).is_err() {
        if std::time::Instant::now() > deadline {
            eprintln!("candlelit: the next standby did not listen within {} s", LISTEN_TIMEOUT.as_secs());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_told_apart_from_a_process_that_reuses_its_pid() {
        let me = Owner::this_process();
        assert!(me.alive());
        assert_eq!(Owner::parse(&me.to_env()), Some(me));
        if let Some(started) = me.started {
            let impostor = Owner { pid: me.pid, started: Some(started + 1) };
            assert!(!impostor.alive(), "same pid, another start time: another process");
        }
        assert_eq!(Owner::parse("12"), Some(Owner { pid: 12, started: None }));
        assert_eq!(Owner::parse("12@x"), None);
    }
}
