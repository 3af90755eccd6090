//! Packs the prelude crate's sources (its `src/`, manifests and lock file) into the `candlelit` binary, so that an
//! installed binary still starts kernels after the folder it was built from is gone (see `src/prelude_copy.rs`);
//! and the lesson notebooks, which such a binary's `candlelit lab` copies into the learner's home.

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let kernel = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = kernel.parent().expect("the kernel crate sits in the prelude's folder").to_path_buf();
    let mut files = vec![root.join("Cargo.toml"), root.join("Cargo.lock"), kernel.join("Cargo.toml")];
    walk(&root.join("src"), &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    let mut table = String::new();
    push_table(
        &mut table,
        "FILES",
        "The prelude's files: path inside the crate's folder, contents.",
        &root,
        &files,
        Some(&mut hasher),
    );
    let mut notebooks = Vec::new();
    walk(&root.join("notebooks"), &mut notebooks);
    notebooks.retain(|path| path.extension().is_some_and(|e| e == "ipynb"));
    notebooks.sort();
    let notebook_root = root.join("notebooks");
    push_table(&mut table, "NOTEBOOKS", "The lesson notebooks: file name, contents.", &notebook_root, &notebooks, None);
    let _ = writeln!(
        table,
        "/// Changes whenever a file or its contents change.\npub const HASH: u64 = {};",
        hasher.finish()
    );
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("prelude_sources.rs");
    std::fs::write(out, table).expect("OUT_DIR is writable");
    for watched in ["src", "notebooks", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", kernel.join("Cargo.toml").display());
}

/// Appends `pub static NAME: &[(&str, &[u8])]` listing `files` by their path below `root`, hashing them if asked.
fn push_table(
    table: &mut String,
    name: &str,
    doc: &str,
    root: &Path,
    files: &[PathBuf],
    mut hasher: Option<&mut DefaultHasher>,
) {
    let _ = writeln!(table, "/// {doc}\npub static {name}: &[(&str, &[u8])] = &[");
    for file in files {
        let relative = file.strip_prefix(root).expect("below the root").to_string_lossy().replace('\\', "/");
        if let Some(hasher) = hasher.as_mut() {
            relative.hash(hasher);
            std::fs::read(file).expect("a packed file").hash(hasher);
        }
        let _ = writeln!(table, "    ({relative:?}, include_bytes!({:?})),", file.display().to_string());
    }
    table.push_str("];\n");
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}
