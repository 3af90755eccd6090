//! Where candlelit keeps things: its home (history, the JupyterLab venv), the compile cache, and the prelude source.

use std::path::{Path, PathBuf};

/// The candlelit home: `$CANDLELIT_HOME`, else `~/.candlelit`.
pub fn home() -> PathBuf {
    if let Some(dir) = std::env::var_os("CANDLELIT_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::home_dir().unwrap_or_else(std::env::temp_dir).join(".candlelit")
}

/// The compile cache shared by every session: `$CANDLELIT_CACHE`, else the user's cache dir + `candlelit`.
pub fn cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("CANDLELIT_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir().unwrap_or_else(|| home().join("cache")).join("candlelit")
}

/// The folder holding the prelude crate (`Cargo.toml` of `candlelit`): `$CANDLELIT_PRELUDE`, else the source tree
/// this binary was built from while it is there (a clone, where edits to `src/` take effect), else the copy of the
/// sources packed into this binary, unpacked into the cache ([`crate::prelude_copy`]).
/// `CANDLELIT_PRELUDE=packed` asks for that copy even while the source tree is there: exactly the prelude this
/// binary was built with, whatever has been edited since.
pub fn prelude_source() -> PathBuf {
    match std::env::var_os("CANDLELIT_PRELUDE").filter(|d| !d.is_empty()) {
        Some(packed) if packed == "packed" => {
            return crate::prelude_copy::unpacked().unwrap_or_else(|e| {
                eprintln!("candlelit: {e}; unset CANDLELIT_PRELUDE=packed or make the cache writable");
                PathBuf::from("packed")
            });
        }
        Some(dir) => return PathBuf::from(dir),
        None => {}
    }
    let kernel_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = kernel_dir.parent().map(PathBuf::from).unwrap_or(kernel_dir);
    choose_prelude(&built, crate::prelude_copy::unpacked)
}

/// `built` when it still holds the prelude, else the unpacked copy (or, if that fails, `built` with a message).
fn choose_prelude(built: &Path, unpacked: impl FnOnce() -> Result<PathBuf, String>) -> PathBuf {
    if built.join("Cargo.toml").is_file() && built.join("src").join("lib.rs").is_file() {
        return built.to_path_buf();
    }
    unpacked().unwrap_or_else(|e| {
        eprintln!("candlelit: {e}; set CANDLELIT_PRELUDE to a checkout of candlelit");
        built.to_path_buf()
    })
}

/// The lesson notebooks `candlelit lab` opens: the `notebooks/` folder next to the prelude source while there is
/// one (a clone), else `lessons/` in the candlelit home, where the notebooks packed into this binary are copied —
/// only those not there yet, so a learner's saved work is never overwritten.
///
/// # Errors
/// When that folder cannot be written; the message says where.
pub fn notebooks() -> Result<PathBuf, String> {
    let beside_prelude = prelude_source().join("notebooks");
    if beside_prelude.is_dir() {
        return Ok(beside_prelude);
    }
    let lessons = home().join("lessons");
    crate::prelude_copy::notebooks_into(&lessons)?;
    Ok(lessons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_folder_that_is_gone_gives_way_to_the_unpacked_copy() {
        let gone = std::env::temp_dir().join("candlelit-no-such-clone");
        let copy = std::env::temp_dir().join("candlelit-unpacked-copy");
        assert_eq!(choose_prelude(&gone, || Ok(copy.clone())), copy);
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository");
        assert_eq!(choose_prelude(here, || panic!("not unpacked while the clone is there")), here);
    }
}
