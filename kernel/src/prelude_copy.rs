//! The prelude's sources as this binary was built with them, for an installed `candlelit` whose source folder
//! is gone (`cargo install --path kernel`, then the clone deleted): they are written once into the compile
//! cache and compiled from there. The lesson notebooks come along too, for such a binary's `candlelit lab`.

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/prelude_sources.rs"));

/// The folder of the unpacked copy, writing it first if needed.
///
/// # Errors
/// When the cache cannot be written; the message says where.
pub fn unpacked() -> Result<PathBuf, String> {
    let dir = crate::paths::cache().join("prelude").join(format!("{}-{HASH:016x}", env!("CARGO_PKG_VERSION")));
    if dir.join(COMPLETE).is_file() {
        return Ok(dir);
    }
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    write_into(&partial).map_err(|e| format!("cannot unpack the prelude's sources into {}: {e}", partial.display()))?;
    match std::fs::rename(&partial, &dir) {
        Ok(()) => Ok(dir),
        // Another process unpacked the same copy first.
        Err(_) if dir.join(COMPLETE).is_file() => {
            let _ = std::fs::remove_dir_all(&partial);
            Ok(dir)
        }
        Err(e) => Err(format!("cannot move the prelude's sources to {}: {e}", dir.display())),
    }
}

/// Writes each lesson notebook packed into this binary into `dir` unless a file of that name is already there
/// (a learner's copy, maybe with their answers), and says so on stderr when it wrote any.
///
/// # Errors
/// When `dir` cannot be written; the message says where.
pub fn notebooks_into(dir: &Path) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot copy the lesson notebooks into {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(cannot)?;
    let mut written = 0;
    for (name, contents) in NOTEBOOKS {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, contents).map_err(cannot)?;
            written += 1;
        }
    }
    if written > 0 {
        eprintln!("candlelit: copied {written} lesson notebooks into {} (yours to edit)", dir.display());
    }
    Ok(())
}

/// Written last: the copy is whole.
const COMPLETE: &str = ".candlelit-complete";

fn write_into(dir: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    for (relative, contents) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    std::fs::write(dir.join(COMPLETE), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_holds_every_source_file_of_the_prelude_as_built() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
        let dir = std::env::temp_dir().join(format!("candlelit-prelude-copy-{}", std::process::id()));
        write_into(&dir).expect("written");
        for relative in ["Cargo.toml", "Cargo.lock", "kernel/Cargo.toml", "src/lib.rs", "src/prelude.rs"] {
            assert_eq!(
                std::fs::read(dir.join(relative)).expect("in the copy"),
                std::fs::read(root.join(relative)).expect("in the repository"),
                "{relative}"
            );
        }
        assert!(FILES.iter().all(|(path, _)| !path.starts_with("lessons") && !path.starts_with("target")));
        assert!(dir.join("src/data/embedded/breast_cancer.csv").is_file(), "files the prelude embeds come along");
        // cargo can read the copy as a crate (offline, like a session).
        let metadata = std::process::Command::new("cargo")
            .args(["metadata", "--offline", "--no-deps", "--format-version", "1", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .output()
            .expect("cargo runs");
        assert!(metadata.status.success(), "{}", String::from_utf8_lossy(&metadata.stderr));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_lesson_notebooks_are_copied_without_overwriting_a_learners_work() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
        let dir = std::env::temp_dir().join(format!("candlelit-lessons-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder");
        let mine = dir.join("day01-candle-and-notebooks.ipynb");
        std::fs::write(&mine, "my answers").expect("written");
        notebooks_into(&dir).expect("copied");
        assert_eq!(std::fs::read_to_string(&mine).expect("kept"), "my answers");
        let day2 = "day02-tensor-operations.ipynb";
        assert_eq!(
            std::fs::read(dir.join(day2)).expect("copied"),
            std::fs::read(root.join("notebooks").join(day2)).expect("in the repository")
        );
        let count = std::fs::read_dir(&dir).expect("listed").count();
        assert_eq!(count, NOTEBOOKS.len());
        assert_eq!(count, 10, "the ten lessons");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
