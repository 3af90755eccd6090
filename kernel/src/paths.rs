//! Where candlelit keeps things: its home (history, the JupyterLab venv), the compile cache, and the prelude source.

use std::path::PathBuf;

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
/// this binary was built from.
pub fn prelude_source() -> PathBuf {
    if let Some(dir) = std::env::var_os("CANDLELIT_PRELUDE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let kernel_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    kernel_dir.parent().map(PathBuf::from).unwrap_or(kernel_dir)
}

/// The repository's `notebooks/` folder, next to the prelude source.
pub fn notebooks() -> PathBuf {
    prelude_source().join("notebooks")
}
