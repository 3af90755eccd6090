//! The prelude as one shared library that every cell links to dynamically.
//!
//! evcxr links each cell statically against its dependencies, so every cell's library carried its own copy of Candle
//! and the prelude, and linking it took most of a cell's compile time (about 0.4 s of 0.5 s here). A small wrapper
//! crate of type `dylib` re-exports the prelude instead: cargo builds it once per compile folder, each cell links
//! to it in milliseconds, and the process loads Candle once. Cells name it `candlelit` (a renamed dependency), so
//! `candlelit::prelude::*` and every other `candlelit::` path work as in Rust code outside notebooks.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The wrapper crate's package name.
pub const PACKAGE: &str = "candlelit-session";

/// Writes the wrapper crate under `root` (only when its files change, so cargo keeps it fresh) and returns its
/// folder.
pub fn write(root: &Path, prelude: &Path, features: &[String]) -> io::Result<PathBuf> {
    let dir = root.join(PACKAGE);
    fs::create_dir_all(dir.join("src"))?;
    let features = features.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>().join(", ");
    let manifest = format!(
        "# Written by candlelit: the prelude as one shared library for notebook cells.\n\
         [package]\nname = \"{PACKAGE}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"dylib\"]\npath = \"src/lib.rs\"\n\n\
         [dependencies]\ncandlelit = {{ path = {:?}, features = [{features}] }}\n\n\
         # Its own workspace, whatever folder the cache is in.\n[workspace]\n",
        prelude.display().to_string()
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
    write_if_changed(&dir.join("src").join("lib.rs"), "//! Written by candlelit.\npub use candlelit::*;\n")?;
    Ok(dir)
}

/// The name cells know the wrapper by (the dependency's name in the cells' manifest).
pub const DEP_NAME: &str = "candlelit";

/// The `:dep` line that makes the wrapper the cells' `candlelit`.
pub fn dep_line(dir: &Path) -> String {
    format!(":dep {DEP_NAME} = {{ package = \"{PACKAGE}\", path = {:?} }}", dir.display().to_string())
}

fn write_if_changed(path: &Path, text: &str) -> io::Result<()> {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        fs::write(path, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_is_a_dylib_reexporting_the_prelude_with_its_features_and_is_not_rewritten() {
        let root = std::env::temp_dir().join(format!("candlelit-shared-prelude-{}", std::process::id()));
        let dir = write(&root, Path::new("/src/candlelit"), &["cuda".to_string()]).expect("written");
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("manifest");
        assert!(manifest.contains("crate-type = [\"dylib\"]"), "{manifest}");
        assert!(manifest.contains("candlelit = { path = \"/src/candlelit\", features = [\"cuda\"] }"), "{manifest}");
        let before = fs::metadata(dir.join("Cargo.toml")).and_then(|m| m.modified()).expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&root, Path::new("/src/candlelit"), &["cuda".to_string()]).expect("written again");
        let after = fs::metadata(dir.join("Cargo.toml")).and_then(|m| m.modified()).expect("mtime");
        assert_eq!(before, after, "an unchanged wrapper keeps its files, so cargo does not rebuild it");
        assert!(dep_line(&dir).starts_with(":dep candlelit = { package = \"candlelit-session\", path = "));
        let _ = fs::remove_dir_all(&root);
    }
}
