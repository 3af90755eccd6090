//! A compile folder for one session, taken from a pool of persistent folders under the cache.
//!
//! evcxr compiles every cell in one folder whose `target/` holds the compiled prelude and Candle. Keeping that
//! folder between runs is what makes a second start fast; locking it lets two kernels run side by side, each in its
//! own folder. A new folder starts from hard links to a warm one's `target/`, so it is warm too.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Profile settings for everything but the cell: Candle and the prelude run as fast as in a release build, while
/// the cell itself compiles at `opt-level = 0` for quick turnaround. Cargo reads this from the parent folder of
/// every slot (evcxr rewrites the slot's own `.cargo/config.toml`).
const CARGO_CONFIG: &str = "\
# Written by candlelit: dependencies of notebook cells are always optimised.
[profile.dev.package.\"*\"]
opt-level = 3
debug-assertions = false
overflow-checks = false
";

/// A locked compile folder; the lock is released when this is dropped.
#[derive(Debug)]
pub struct Slot {
    /// The folder evcxr compiles in (`EVCXR_TMPDIR`).
    pub dir: PathBuf,
    _lock: File,
}

/// Takes the first free slot under `root` (creating it), seeding a new one from a warm sibling.
///
/// # Errors
/// When the folders cannot be made, all 64 slots are in use, or `root` or a folder above it up to `cache` is not
/// this user's alone (see [`check_private`]).
pub fn acquire(cache: &Path, root: &Path, lockfile: &Path) -> io::Result<Slot> {
    fs::create_dir_all(root.join(".cargo"))?;
    for dir in root.ancestors().take_while(|d| d.starts_with(cache)) {
        check_private(dir)?;
    }
    let config = root.join(".cargo").join("config.toml");
    if fs::read_to_string(&config).ok().as_deref() != Some(CARGO_CONFIG) {
        fs::write(&config, CARGO_CONFIG)?;
    }
    for index in 0..64 {
        let dir = root.join(format!("slot-{index}"));
        let lock = File::create(root.join(format!("slot-{index}.lock")))?;
        match lock.try_lock() {
            Ok(()) => {
                fs::create_dir_all(&dir)?;
                if !dir.join("target").exists() {
                    seed_from_warm_sibling(root, &dir);
                }
                refresh_lockfile(&dir, lockfile)?;
                return Ok(Slot { dir, _lock: lock });
            }
            Err(fs::TryLockError::WouldBlock) => continue,
            Err(fs::TryLockError::Error(error)) => return Err(error),
        }
    }
    Err(io::Error::other(format!("all 64 compile folders under {} are in use", root.display())))
}

/// Code compiled in the cache runs in every kernel: a folder of it that another user owns or may write to would
/// let them plant code that runs as you (a build script, a `rustc-wrapper` in its cargo settings). Like the
/// standby's folder, it must be yours and not writable by group or others.
///
/// # Errors
/// When `dir` cannot be read, belongs to another user, or group or others may write to it; the message says
/// what to do.
#[cfg(unix)]
pub fn check_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = fs::symlink_metadata(dir)?;
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    if meta.uid() != uid {
        return Err(io::Error::other(format!(
            "{} belongs to another user (uid {}), who could plant code that runs in your kernels; use a cache of \
             your own (remove it, or set CANDLELIT_CACHE to a folder of yours)",
            dir.display(),
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "{} can be written by other users (mode {:o}), who could plant code that runs in your kernels; make it \
             yours alone with `chmod go-w {}`",
            dir.display(),
            mode & 0o777,
            dir.display()
        )));
    }
    Ok(())
}

/// Elsewhere the folder is trusted as it is.
#[cfg(not(unix))]
pub fn check_private(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Gives the slot the prelude's `Cargo.lock` when it has none, or when the prelude's has changed since it was
/// copied (a new prelude dependency, say): cargo keeps the entries the slot needs, and with the prelude's pinned
/// versions an offline build finds every crate in the local registry instead of resolving newer ones it cannot
/// download. What was copied last is kept beside it as `Cargo.lock.source`.
fn refresh_lockfile(dir: &Path, lockfile: &Path) -> io::Result<()> {
    let Ok(wanted) = fs::read(lockfile) else { return Ok(()) };
    let source = dir.join("Cargo.lock.source");
    if dir.join("Cargo.lock").exists() && fs::read(&source).ok().as_deref() == Some(wanted.as_slice()) {
        return Ok(());
    }
    fs::write(dir.join("Cargo.lock"), &wanted)?;
    fs::write(source, &wanted)
}

fn seed_from_warm_sibling(root: &Path, dir: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let target = entry.path().join("target");
        if entry.path() != dir && target.is_dir() {
            if link_tree(&target, &dir.join("target")).is_ok() {
                let _ = fs::copy(entry.path().join("Cargo.lock"), dir.join("Cargo.lock"));
                return;
            }
            let _ = fs::remove_dir_all(dir.join("target"));
        }
    }
}

/// Recreates `from` at `to`, leaving out evcxr's own cell crate (`ctx`, `code_N`), which each slot must build
/// itself. Compiled libraries in `deps/` are hard-linked (rustc replaces outputs with new files, so a linked file
/// never changes under another slot); everything else — fingerprints, build-script outputs — is copied, because
/// cargo rewrites some of those in place. Copies keep their original's modification time: cargo decides what is
/// stale by comparing times (a build script's binary against its last run, say), and copies stamped "now", in
/// whatever order they were made, would have it rebuild crates with build scripts and all that depends on them.
fn link_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    let in_deps = from.file_name().is_some_and(|n| n == "deps");
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if is_cell_crate(&name) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            link_tree(&src, &dst)?;
        } else if kind.is_file() && !(in_deps && fs::hard_link(&src, &dst).is_ok()) {
            copy_keeping_mtime(&src, &dst)?;
        }
    }
    Ok(())
}

fn copy_keeping_mtime(src: &Path, dst: &Path) -> io::Result<()> {
    fs::copy(src, dst)?;
    let modified = fs::metadata(src)?.modified()?;
    File::options().write(true).open(dst)?.set_modified(modified)
}

fn is_cell_crate(name: &str) -> bool {
    name.starts_with("ctx-")
        || name.starts_with("libctx")
        || name.starts_with("libcode_")
        || name == "ctx.d"
        || name == ".cargo-lock"
        || name == "incremental"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_slot_is_taken_while_the_first_is_held_and_starts_warm() {
        let root = std::env::temp_dir().join(format!("candlelit-slot-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let first = acquire(&root, &root, Path::new("/nonexistent")).expect("first slot");
        fs::create_dir_all(first.dir.join("target/debug/deps")).expect("target");
        fs::write(first.dir.join("target/debug/deps/libx.rlib"), b"compiled").expect("file");
        fs::write(first.dir.join("target/debug/deps/libctx-1.so"), b"a cell").expect("file");
        let build_output = first.dir.join("target/debug/build/ring-1/output");
        fs::create_dir_all(build_output.parent().expect("folder")).expect("build folder");
        fs::write(&build_output, b"cargo:rustc-link-lib=ring").expect("file");
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options().write(true).open(&build_output).expect("open").set_modified(an_hour_ago).expect("mtime");
        let second = acquire(&root, &root, Path::new("/nonexistent")).expect("second slot");
        let copied = fs::metadata(second.dir.join("target/debug/build/ring-1/output")).expect("copied");
        assert_eq!(copied.modified().expect("mtime"), an_hour_ago, "a copy keeps its original's time for cargo");
        assert_ne!(first.dir, second.dir);
        assert_eq!(fs::read(second.dir.join("target/debug/deps/libx.rlib")).expect("seeded"), b"compiled");
        assert!(!second.dir.join("target/debug/deps/libctx-1.so").exists(), "cell crates are never shared");
        drop(first);
        let again = acquire(&root, &root, Path::new("/nonexistent")).expect("slot after release");
        assert!(again.dir.ends_with("slot-0"), "a released slot is reused: {}", again.dir.display());
        assert!(fs::read_to_string(root.join(".cargo/config.toml")).expect("config").contains("opt-level = 3"));
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_changed_prelude_lockfile_replaces_the_slots_once() {
        let root = std::env::temp_dir().join(format!("candlelit-slot-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).expect("root");
        let prelude_lock = root.join("prelude.lock");
        fs::write(&prelude_lock, "v1").expect("lock");
        let slot = acquire(&root, &root, &prelude_lock).expect("slot");
        assert_eq!(fs::read_to_string(slot.dir.join("Cargo.lock")).expect("copied"), "v1");
        fs::write(slot.dir.join("Cargo.lock"), "v1 + the cell crates").expect("cargo's edit");
        drop(slot);
        let slot = acquire(&root, &root, &prelude_lock).expect("slot");
        assert_eq!(fs::read_to_string(slot.dir.join("Cargo.lock")).expect("kept"), "v1 + the cell crates");
        drop(slot);
        fs::write(&prelude_lock, "v2").expect("new dependency");
        let slot = acquire(&root, &root, &prelude_lock).expect("slot");
        assert_eq!(fs::read_to_string(slot.dir.join("Cargo.lock")).expect("replaced"), "v2");
        let _ = fs::remove_dir_all(&root);
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_others_may_write_to_is_refused_with_what_to_do() {
        use std::os::unix::fs::PermissionsExt;
        let cache = std::env::temp_dir().join(format!("candlelit-slot-private-{}", std::process::id()));
        let root = cache.join("sessions").join("cpu-1");
        fs::create_dir_all(&root).expect("folders");
        fs::set_permissions(cache.join("sessions"), fs::Permissions::from_mode(0o777)).expect("chmod");
        let refused = acquire(&cache, &root, Path::new("/nonexistent")).expect_err("a world-writable cache");
        let message = refused.to_string();
        assert!(
            message.contains("can be written by other users (mode 777)") && message.contains("chmod go-w"),
            "{message}"
        );
        fs::set_permissions(cache.join("sessions"), fs::Permissions::from_mode(0o755)).expect("chmod");
        acquire(&cache, &root, Path::new("/nonexistent")).expect("a private cache");
        let _ = fs::remove_dir_all(&cache);
    }
}
