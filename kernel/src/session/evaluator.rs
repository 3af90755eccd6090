//! The thread that owns the evcxr context (it must stay on one thread) and serves the session's requests.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender};

use super::options::{cell_process_env, rust_library_path};

pub(super) enum Request {
    Execute(String, Sender<Result<evcxr::EvalOutputs, evcxr::Error>>),
    Complete(String, usize, Sender<Option<evcxr::Completions>>),
    Hover(String, usize, Sender<Option<String>>),
}

pub(super) type Ready = Result<(Receiver<String>, Receiver<String>, Arc<Mutex<std::process::Child>>), String>;

/// What makes cargo compile a workspace's own crates through another program (and that program's arguments).
const WRAPPER_VARS: [&str; 2] = ["RUSTC_WORKSPACE_WRAPPER", "CLIPPY_ARGS"];

/// Whether `name` is one of the variables cargo sets for a process it runs (`cargo run`, `cargo test`): a package's
/// name, version and folder. Build scripts of the prelude's dependencies (ring's, through `cargo:rerun-if-env-changed`)
/// watch some of them, so a session started under `cargo test` and one started from a shell would rebuild ring,
/// rustls, ureq and the prelude each time the other had run (about 50 s of CPU here).
fn set_by_cargo_for_a_package(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_"].iter().any(|prefix| name.starts_with(prefix))
        || ["CARGO_CRATE_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"]
            .contains(&name)
}

/// Owns the evcxr context (which must stay on one thread) and serves requests.
pub(super) fn worker(dir: PathBuf, ready: Sender<Ready>, inbox: Receiver<Request>) {
    // SAFETY: std serialises its own environment reads and writes; no foreign code reads the environment on
    // another thread at this point (the session is started before any cell runs). evcxr reads EVCXR_TMPDIR when
    // the context is created, and the child inherits RUST_LIB_BACKTRACE (no backtrace capture in Candle errors).
    // The compile folders are shared by every kernel, REPL and grader, so cargo must build cells the same way
    // whatever shell started this one: a workspace wrapper meant for the user's own project (`clippy-driver`, as
    // `scripts/test` sets for its build) would lint the learner's cells and make cargo rebuild the prelude library,
    // and the package variables of a `cargo test` would make it rebuild part of the dependencies.
    let library_path = rust_library_path();
    let dropped: Vec<std::ffi::OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_str().is_some_and(|n| WRAPPER_VARS.contains(&n) || set_by_cargo_for_a_package(n)))
        .collect();
    unsafe {
        for var in &dropped {
            std::env::remove_var(var);
        }
        std::env::set_var("EVCXR_TMPDIR", &dir);
        // The prelude's wrapper crate stays as it is for the whole session, so cells may be compiled by rustc
        // without cargo while it is the only path dependency (vendor/evcxr/PATCHED.md).
        std::env::set_var("EVCXR_FIXED_PATH_DEPS", super::shared_prelude::DEP_NAME);
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
        if let Some(path) = library_path {
            std::env::set_var("LD_LIBRARY_PATH", path);
        }
        for (var, value) in cell_process_env() {
            std::env::set_var(var, value);
        }
    }
    let (mut context, outputs) = match evcxr::CommandContext::new() {
        Ok(pair) => pair,
        Err(error) => {
            let _ = ready.send(Err(error.to_string()));
            return;
        }
    };
    if ready.send(Ok((outputs.stdout, outputs.stderr, context.process_handle()))).is_err() {
        return;
    }
    for request in inbox {
        match request {
            Request::Execute(code, reply) => {
                let _ = reply.send(context.execute(&code));
            }
            Request::Complete(code, at, reply) => {
                let _ = reply.send(context.completions(&code, at).ok());
            }
            Request::Hover(code, at, reply) => {
                let _ = reply.send(context.hover_at(&code, at).ok().map(|(text, _)| text));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::set_by_cargo_for_a_package;

    #[test]
    fn the_package_variables_of_cargo_test_are_dropped_and_the_toolchain_ones_kept() {
        for name in
            ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "CARGO_BIN_EXE_candlelit", "OUT_DIR"]
        {
            assert!(set_by_cargo_for_a_package(name), "{name}");
        }
        // Where cargo and its registry are, and which toolchain: the cells' builds need these as the user set them.
        for name in ["CARGO_HOME", "CARGO", "CARGO_TARGET_DIR", "RUSTUP_TOOLCHAIN", "PATH"] {
            assert!(!set_by_cargo_for_a_package(name), "{name}");
        }
    }
}
