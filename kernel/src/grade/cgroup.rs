//! A cgroup for one sandbox: the memory and the number of processes of its whole tree, and a way to find and kill
//! every process in it. Both cgroup v2 (one folder) and v1 (a `memory` and a `pids` folder) are used, under the
//! grader's own cgroup; where this user cannot create one, [`Cgroup::create`] says why and the grader falls back
//! to rlimits.

use std::ffi::CString;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// A cgroup made for one sandbox; removed (its processes killed first) when dropped.
#[derive(Debug)]
pub struct Cgroup {
    /// The folders: one for v2; the `memory` and the `pids` ones for v1.
    dirs: Vec<PathBuf>,
    v2: bool,
}

impl Cgroup {
    /// A new cgroup `name` below this process's own, holding at most `memory` bytes and `pids` tasks.
    ///
    /// # Errors
    /// When cgroups are not mounted, this user may not create one or set its limits, or `CANDLELIT_CGROUP=off`
    /// asks for the fallback.
    pub fn create(name: &str, memory: u64, pids: u64) -> Result<Cgroup, String> {
        if std::env::var("CANDLELIT_CGROUP").is_ok_and(|v| v == "off") {
            return Err("CANDLELIT_CGROUP=off".into());
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("no /proc/self/cgroup ({e})"))?;
        let path_of = |controller: &str| -> Option<String> {
            own.lines().find_map(|line| {
                let mut parts = line.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                (controllers.split(',').any(|c| c == controller)).then(|| path.trim_start_matches('/').to_string())
            })
        };
        let v1 = Path::new(ROOT).join("memory").join("memory.limit_in_bytes").exists()
            || path_of("memory")
                .is_some_and(|p| Path::new(ROOT).join("memory").join(p).join("memory.limit_in_bytes").exists());
        if v1 {
            let (memory_dir, pids_dir) = match (path_of("memory"), path_of("pids")) {
                (Some(m), Some(p)) => {
                    (Path::new(ROOT).join("memory").join(m).join(name), Path::new(ROOT).join("pids").join(p).join(name))
                }
                _ => return Err("cgroup v1 without memory and pids controllers".into()),
            };
            let group = Cgroup { dirs: vec![memory_dir.clone(), pids_dir.clone()], v2: false };
            for dir in &group.dirs {
                std::fs::create_dir(dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
            }
            write(&memory_dir.join("memory.limit_in_bytes"), &memory.to_string())?;
            let swap = memory_dir.join("memory.memsw.limit_in_bytes");
            if swap.exists() {
                write(&swap, &memory.to_string())?;
            }
            write(&pids_dir.join("pids.max"), &pids.to_string())?;
            return Ok(group);
        }
        let path = path_of("").ok_or("no cgroup v2 path in /proc/self/cgroup")?;
        let dir = Path::new(ROOT).join(path).join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
        let group = Cgroup { dirs: vec![dir.clone()], v2: true };
        write(&dir.join("memory.max"), &memory.to_string())?;
        write(&dir.join("memory.swap.max"), "0").ok();
        write(&dir.join("pids.max"), &pids.to_string())?;
        Ok(group)
    }

    /// The `cgroup.procs` files a process writes `0` to, to join (before it starts anything).
    pub fn procs_files(&self) -> Vec<CString> {
        self.dirs.iter().filter_map(|d| CString::new(d.join("cgroup.procs").display().to_string()).ok()).collect()
    }

    /// Moves the calling process into the cgroup whose `cgroup.procs` files are `files` ([`Cgroup::procs_files`]).
    /// Meant for a child between fork and exec: it only calls open, write and close.
    pub fn join(files: &[CString]) {
        for file in files {
            // SAFETY: `file` is a valid NUL-terminated path; the buffer written is a static byte.
            unsafe {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                }
            }
        }
    }

    /// Whether the kernel had to stop a process of the tree for memory.
    pub fn ran_out_of_memory(&self) -> bool {
        let count = |file: &str, key: &str| -> u64 {
            std::fs::read_to_string(self.dirs[0].join(file))
                .ok()
                .and_then(|t| t.lines().find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse().ok())))
                .unwrap_or(0)
        };
        let file = if self.v2 { "memory.events" } else { "memory.oom_control" };
        count(file, "oom_kill ") > 0
    }

    /// The processes still in the cgroup.
    pub fn processes(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dirs[0].join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills every process in the cgroup, until none is left (a fork between reading and killing is caught by the
    /// next round).
    pub fn kill_all(&self) {
        if self.v2 && write(&self.dirs[0].join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for _ in 0..100 {
            let left = self.processes();
            if left.is_empty() {
                return;
            }
            for pid in left {
                // SAFETY: kill(2) has no memory-safety requirements.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.kill_all();
        for dir in &self.dirs {
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("cannot write {} ({e})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[test]
    fn a_cgroup_holds_what_joins_it_and_kills_all_of_it_or_says_why_there_is_none() {
        let name = format!("candlelit-cgroup-test-{}", std::process::id());
        let group = match Cgroup::create(&name, 256 << 20, 32) {
            Ok(group) => group,
            Err(why) => {
                // A machine without cgroups for this user: the reason names what was missing.
                assert!(why.contains("cgroup") || why.contains("cannot"), "{why}");
                return;
            }
        };
        let join = group.procs_files();
        let mut command = std::process::Command::new("sleep");
        command.arg("30");
        // SAFETY: only open/write/close between fork and exec, on paths prepared before.
        unsafe {
            command.pre_exec(move || {
                Cgroup::join(&join);
                Ok(())
            });
        }
        let mut child = command.spawn().expect("sleep starts");
        let pid = i32::try_from(child.id()).expect("pid");
        assert_eq!(group.processes(), [pid], "the child is in the cgroup");
        assert!(!group.ran_out_of_memory());
        group.kill_all();
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "killed, not finished: {status}");
        assert!(group.processes().is_empty());
        let dirs = group.dirs.clone();
        drop(group);
        assert!(dirs.iter().all(|d| !d.exists()), "the cgroup is removed: {dirs:?}");
    }
}
