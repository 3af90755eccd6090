//! One sandbox per submission: the process tree that grades it (`candlelit grade-worker`, evcxr's cell process,
//! cargo, rustc and anything a cell starts) runs where the grader can limit it and kill all of it.
//!
//! On Linux with bubblewrap (`bwrap`) and user namespaces, the tree gets new user, mount, PID, network, IPC and UTS
//! namespaces and no capabilities: it sees the system's programs and libraries, the Rust toolchain and the
//! prelude's sources read-only, its own copy of the compile cache, and a scratch folder — nothing of the lesson
//! source, other submissions or the reports — and has no network. When the grader kills the sandbox's first
//! process, the kernel ends every process in its PID namespace.
//!
//! Everywhere, each process of the tree gets rlimits (no core files, a largest file), and a cgroup (v1 or v2, where
//! this user can create one) holds the memory and the number of processes of the whole tree; without one, each
//! process gets the tree's memory limit as its own `RLIMIT_DATA`. Without namespaces
//! (no bwrap, macOS, a host that forbids them) the tree runs in its own process group with the same limits, and
//! the grader says once what that does not isolate.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How submissions are isolated on this machine.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// bubblewrap with new namespaces (the path of `bwrap`).
    Namespaces(PathBuf),
    /// Only a process group, rlimits and (maybe) a cgroup; why namespaces are not used.
    ProcessGroup(String),
}

/// What one sandbox needs.
pub struct Spec<'a> {
    /// The `candlelit` binary.
    pub exe: &'a Path,
    /// The sandbox's private folder (its only writable place besides its cache copy).
    pub scratch: &'a Path,
    /// The compile cache the grader uses (`$CANDLELIT_CACHE`); the sandbox gets `scratch/cache` in its place.
    pub cache: &'a Path,
    /// The prelude crate's folder.
    pub prelude: &'a Path,
    /// Largest file a process may write, in bytes.
    pub max_file: u64,
    /// Most memory each process may allocate, in bytes, when no cgroup limits the tree as a whole.
    pub max_data: u64,
}

impl Isolation {
    /// Namespaces when `bwrap` is installed and works here, else why not.
    pub fn detect() -> Isolation {
        if std::env::var("CANDLELIT_SANDBOX").is_ok_and(|v| v == "off") {
            return Isolation::ProcessGroup("CANDLELIT_SANDBOX=off".into());
        }
        if !cfg!(target_os = "linux") {
            return Isolation::ProcessGroup("namespaces are a Linux feature".into());
        }
        let Some(bwrap) = which("bwrap") else {
            return Isolation::ProcessGroup(
                "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)".into(),
            );
        };
        let probe = Command::new(&bwrap)
            .args(["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match probe {
            Ok(out) if out.status.success() => Isolation::Namespaces(bwrap),
            Ok(out) => Isolation::ProcessGroup(format!(
                "bubblewrap cannot create namespaces here ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Isolation::ProcessGroup(format!("bubblewrap did not start ({e})")),
        }
    }

    /// One line for the instructor: what a submission can and cannot reach.
    pub fn describe(&self) -> String {
        match self {
            Isolation::Namespaces(_) => "each submission runs in its own sandbox (bubblewrap: no network, no view of \
                                         the lesson, other submissions or the reports, its own compile cache)"
                .into(),
            Isolation::ProcessGroup(why) => format!(
                "submissions are NOT isolated from this machine: {why}. Each runs in its own process group with \
                 limits and is killed with it, but its code can read and write what you can"
            ),
        }
    }

    /// Whether the sandbox gets its own copy of the compile cache (with namespaces it sees no other).
    pub fn private_cache(&self) -> bool {
        matches!(self, Isolation::Namespaces(_))
    }

    /// The command that starts `candlelit grade-worker` for one submission, in its sandbox.
    pub fn command(&self, spec: &Spec, cgroup: Option<&super::cgroup::Cgroup>) -> Command {
        let mut command = match self {
            Isolation::Namespaces(bwrap) => {
                let mut command = Command::new(bwrap);
                command.args(bwrap_args(spec)).arg("--").arg(spec.exe).arg("grade-worker");
                command
            }
            Isolation::ProcessGroup(_) => {
                let mut command = Command::new(spec.exe);
                command.arg("grade-worker").current_dir(spec.scratch.join("work"));
                command
            }
        };
        command.env("CANDLELIT_DATA", spec.scratch.join("data"));
        if self.private_cache() {
            // A home of its own; rustup and cargo are told where theirs are, since they look there by default.
            let toolchain = toolchain_dirs();
            command.env("HOME", spec.scratch.join("home")).env("CANDLELIT_CACHE", spec.cache);
            command.env("RUSTUP_HOME", &toolchain[0]).env("CARGO_HOME", &toolchain[1]);
        }
        let join: Vec<CString> = cgroup.map(super::cgroup::Cgroup::procs_files).unwrap_or_default();
        let max_file = spec.max_file;
        // Without a cgroup, every process of the tree gets the tree's memory limit for itself.
        let max_data = if cgroup.is_none() { spec.max_data } else { u64::MAX };
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and only makes async-signal-safe system calls
        // (setsid, setrlimit, open, write, close) on memory prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                libc::setsid();
                limit(libc::RLIMIT_CORE, 0);
                limit(libc::RLIMIT_FSIZE, max_file);
                if max_data != u64::MAX {
                    limit(libc::RLIMIT_DATA, max_data);
                }
                super::cgroup::Cgroup::join(&join);
                Ok(())
            });
        }
        command
    }
}

/// The type of `setrlimit`'s resource argument: glibc's enum on Linux, a plain `int` elsewhere.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

fn limit(resource: Resource, value: u64) {
    let value = value as libc::rlim_t;
    let rlimit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads the struct passed; a failure leaves the old limit.
    unsafe { libc::setrlimit(resource, &rlimit) };
}

/// bubblewrap's arguments: what the sandbox sees, and where.
fn bwrap_args(spec: &Spec) -> Vec<String> {
    let mut args: Vec<String> = [
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    .map(str::to_string)
    .to_vec();
    let ro = |args: &mut Vec<String>, path: &Path| {
        let bound = args.windows(2).any(|w| w[0] == "--ro-bind" && Path::new(&w[1]) == path);
        if path.exists() && !bound {
            args.extend(["--ro-bind".into(), path.display().to_string(), path.display().to_string()]);
        }
    };
    for top in ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/opt"] {
        let path = Path::new(top);
        match std::fs::read_link(path) {
            Ok(target) => args.extend(["--symlink".into(), target.display().to_string(), top.into()]),
            Err(_) => ro(&mut args, path),
        }
    }
    // The toolchain (rustup's proxies and toolchains, cargo's registry of crate sources) and the binary.
    for dir in toolchain_dirs() {
        ro(&mut args, &dir);
    }
    ro(&mut args, spec.exe);
    // The prelude crate, without the lessons and notebooks beside it.
    for part in ["Cargo.toml", "Cargo.lock", "src", "kernel/Cargo.toml"] {
        ro(&mut args, &spec.prelude.join(part));
    }
    // Data: the read-only mirror and shared folder, a private folder for what the prelude unpacks.
    for var in ["CANDLELIT_DATA_MIRROR", "CANDLELIT_SHARED_DATA"] {
        if let Some(dir) = std::env::var_os(var).map(PathBuf::from).filter(|d| d.is_absolute()) {
            ro(&mut args, &dir);
        }
    }
    let scratch = spec.scratch.display().to_string();
    args.extend(["--bind".into(), scratch.clone(), scratch]);
    args.extend(["--bind".into(), spec.scratch.join("cache").display().to_string(), spec.cache.display().to_string()]);
    args.extend(["--chdir".into(), spec.scratch.join("work").display().to_string()]);
    args
}

/// Where the Rust toolchain lives: rustup's home, cargo's home, and rustc's sysroot when it is elsewhere.
fn toolchain_dirs() -> Vec<PathBuf> {
    let home = dirs::home_dir().unwrap_or_default();
    let from =
        |var: &str, default: &str| std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| home.join(default));
    let mut dirs = vec![from("RUSTUP_HOME", ".rustup"), from("CARGO_HOME", ".cargo")];
    if let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() {
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if sysroot.is_absolute() && !dirs.iter().any(|d| sysroot.starts_with(d)) {
            dirs.push(sysroot);
        }
    }
    dirs
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Copies what a session needs of the compile cache into the sandbox's `scratch/cache`, at the same place relative
/// to the cache: this prelude's cargo settings and shared library crate, and one warm compile folder (`slot`) —
/// not the other compile folders of kernels that may be open. The sandbox then compiles against a warm cache it
/// can change without changing the grader's. Locks stay behind.
pub fn copy_cache(cache: &Path, slot_root: &Path, slot: &Path, scratch: &Path) -> std::io::Result<()> {
    let relative = slot_root.strip_prefix(cache).map_err(std::io::Error::other)?;
    let into = scratch.join("cache").join(relative);
    std::fs::create_dir_all(&into)?;
    let parts = [slot_root.join(".cargo"), slot_root.join(crate::session::WRAPPER_DIR), slot.to_path_buf()];
    for part in parts.iter().filter(|p| p.exists()) {
        let status = Command::new("cp").arg("-a").arg("--reflink=auto").arg(part).arg(&into).status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!("cp -a {} {} failed", part.display(), into.display())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_sees_the_preludes_sources_but_not_the_lessons_beside_them() {
        let root = std::env::temp_dir().join(format!("candlelit-sandbox-args-{}", std::process::id()));
        for part in ["src", "lessons", "kernel"] {
            std::fs::create_dir_all(root.join(part)).expect("folder");
        }
        for file in ["Cargo.toml", "Cargo.lock", "kernel/Cargo.toml"] {
            std::fs::write(root.join(file), "").expect("file");
        }
        let (exe, scratch, cache) = (root.join("candlelit"), root.join("scratch"), root.join("cache"));
        std::fs::write(&exe, "").expect("binary");
        let spec = Spec { exe: &exe, scratch: &scratch, cache: &cache, prelude: &root, max_file: 1, max_data: 1 };
        let args = bwrap_args(&spec);
        let bound: Vec<&str> =
            args.windows(2).filter(|w| w[0] == "--ro-bind" || w[0] == "--bind").map(|w| w[1].as_str()).collect();
        let shown = |p: &Path| p.display().to_string();
        for visible in [root.join("src"), root.join("Cargo.toml"), root.join("Cargo.lock"), exe.clone()] {
            assert!(bound.contains(&shown(&visible).as_str()), "{visible:?} in {args:?}");
        }
        assert!(!bound.iter().any(|b| b.ends_with("lessons") || *b == shown(&root)), "{args:?}");
        assert!(args.contains(&"--unshare-all".to_string()) && args.contains(&"--die-with-parent".to_string()));
        let cache_at = args.windows(3).find(|w| w[0] == "--bind" && w[2] == shown(&cache)).expect("the cache");
        assert_eq!(cache_at[1], shown(&scratch.join("cache")), "the sandbox's own copy stands in for the cache");
        assert_eq!(bound.iter().filter(|b| **b == shown(&root.join("src"))).count(), 1, "each path once");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_sandbox_gets_the_settings_and_one_warm_compile_folder_not_every_one() {
        let root = std::env::temp_dir().join(format!("candlelit-sandbox-copy-{}", std::process::id()));
        let cache = root.join("cache");
        let slots = cache.join("sessions").join("cpu-1");
        for dir in [".cargo", crate::session::WRAPPER_DIR, "slot-0/target", "slot-1/target"] {
            std::fs::create_dir_all(slots.join(dir)).expect("folder");
        }
        std::fs::write(slots.join("slot-1/target/lib.so"), "compiled").expect("file");
        std::fs::write(slots.join("slot-1.lock"), "").expect("lock");
        let scratch = root.join("scratch");
        copy_cache(&cache, &slots, &slots.join("slot-1"), &scratch).expect("copied");
        let copied = scratch.join("cache/sessions/cpu-1");
        assert_eq!(std::fs::read_to_string(copied.join("slot-1/target/lib.so")).expect("warm"), "compiled");
        assert!(copied.join(".cargo").is_dir() && copied.join(crate::session::WRAPPER_DIR).is_dir());
        assert!(!copied.join("slot-0").exists() && !copied.join("slot-1.lock").exists(), "only the warm folder");
        let _ = std::fs::remove_dir_all(&root);
    }
}
