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

/// Owns the evcxr context (which must stay on one thread) and serves requests.
pub(super) fn worker(dir: PathBuf, ready: Sender<Ready>, inbox: Receiver<Request>) {
    // SAFETY: std serialises its own environment reads and writes; no foreign code reads the environment on
    // another thread at this point (the session is started before any cell runs). evcxr reads EVCXR_TMPDIR when
    // the context is created, and the child inherits RUST_LIB_BACKTRACE (no backtrace capture in Candle errors).
    // The compile folders are shared by every kernel, REPL and grader, so cargo must build cells the same way
    // whatever shell started this one: a workspace wrapper meant for the user's own project (`clippy-driver`, as
    // `scripts/test` sets for its build) would lint the learner's cells and make cargo rebuild the prelude library.
    let library_path = rust_library_path();
    unsafe {
        for var in WRAPPER_VARS {
            std::env::remove_var(var);
        }
        std::env::set_var("EVCXR_TMPDIR", &dir);
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
