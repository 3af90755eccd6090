// Added by candlelit to its vendored copy of evcxr 0.22.0 (see PATCHED.md); same licences as the crate.

//! Which packages rust-analyzer indexes for a context.
//!
//! rust-analyzer's first analysis of a cell builds the name tables of every crate in the graph: for the
//! candlelit prelude, some 200 packages and 80 MB of source, most of it the internals of dependencies (TLS,
//! zip, tokenizers, GEMM kernels) that cell code can never name. Cell code can name its own crate's
//! dependencies (the prelude, each `:dep`) and what those re-export, so those are the packages indexed; the
//! rest are left out of the crate graph, and imports of them stay unresolved inside the indexed crates.

use ra_ap_paths::AbsPathBuf;
use ra_ap_project_model::{CargoWorkspace, Package, ProjectWorkspace, ProjectWorkspaceKind};
use regex::Regex;
use std::collections::HashSet;
use std::path::Path;

/// The folders of the packages left out of the index; everything is indexed when
/// `EVCXR_INDEX_ALL_DEPENDENCIES` is set, or for a workspace that is not a cargo one.
pub(crate) fn folders_not_indexed(workspace: &ProjectWorkspace) -> HashSet<AbsPathBuf> {
    let ProjectWorkspaceKind::Cargo { cargo, .. } = &workspace.kind else {
        return HashSet::new();
    };
    if std::env::var_os("EVCXR_INDEX_ALL_DEPENDENCIES").is_some() {
        return HashSet::new();
    }
    let indexed = nameable_packages(cargo);
    cargo
        .packages()
        .filter(|pkg| !indexed.contains(pkg))
        .map(|pkg| cargo[pkg].manifest.parent().to_path_buf())
        .collect()
}

/// The workspace's own packages (the context's crate), their dependencies (the prelude, each `:dep`), and the
/// dependencies re-exported by an indexed package (`pub use dep…` or `pub extern crate dep`), transitively.
fn nameable_packages(cargo: &CargoWorkspace) -> HashSet<Package> {
    let members: Vec<Package> = cargo.packages().filter(|&pkg| cargo[pkg].is_member).collect();
    let mut indexed: HashSet<Package> = members.iter().copied().collect();
    let mut queue: Vec<Package> =
        members.iter().flat_map(|&pkg| cargo[pkg].dependencies.iter().map(|dep| dep.pkg)).collect();
    while let Some(pkg) = queue.pop() {
        if !indexed.insert(pkg) {
            continue;
        }
        let reexported = reexported_names(cargo, pkg);
        queue.extend(
            cargo[pkg]
                .dependencies
                .iter()
                .filter(|dep| reexported.contains(&dep.name.replace('-', "_")))
                .map(|dep| dep.pkg),
        );
    }
    indexed
}

/// The crate names after `pub use` / `pub extern crate` anywhere in the library's source folder.
fn reexported_names(cargo: &CargoWorkspace, pkg: Package) -> HashSet<String> {
    static REEXPORT: once_cell::sync::Lazy<Regex> = once_cell::sync::Lazy::new(|| {
        Regex::new(r"\bpub\s+(?:use\s+(?:::)?|extern\s+crate\s+)([A-Za-z_][A-Za-z0-9_]*)")
            .expect("a valid pattern")
    });
    let mut names = HashSet::new();
    let lib_dirs = cargo[pkg]
        .targets
        .iter()
        .filter(|&&tgt| matches!(cargo[tgt].kind, ra_ap_project_model::TargetKind::Lib { .. }))
        .filter_map(|&tgt| cargo[tgt].root.parent().map(|dir| std::path::PathBuf::from(dir.as_str())));
    for dir in lib_dirs {
        visit_sources(&dir, &mut |text| {
            names.extend(REEXPORT.captures_iter(text).map(|c| c[1].to_owned()));
        });
    }
    names
}

/// Calls `f` with the text of every `.rs` file under `dir`.
fn visit_sources(dir: &Path, f: &mut dyn FnMut(&str)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            visit_sources(&path, f);
        } else if path.extension().is_some_and(|ext| ext == "rs")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            f(&text);
        }
    }
}
