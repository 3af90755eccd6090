//! The evaluation session behind every front end: an evcxr context with the prelude loaded, whose cells come back
//! as typed [`Output`]s.
//!
//! evcxr compiles each cell into a small library and runs it in a child process that keeps the variables. The
//! session adds what a learner needs on top:
//! - the prelude (`:dep candlelit`, `use candlelit::prelude::*`) is loaded before the first cell, from a compile
//!   folder that persists under `$CANDLELIT_CACHE`, with Candle and the prelude built optimised and cells built for
//!   quick compiles;
//! - cells are instrumented ([`instrument`]) so that an interrupt stops them at the next loop iteration and keeps
//!   every variable, and a failed `?` reports the prelude's hint instead of a backtrace;
//! - when a cell ignores an interrupt for [`Options::interrupt_grace`], the child process is killed and restarted,
//!   and the cell's error says that the variables are gone and the prelude is loaded again.

pub mod cell_process;
mod completeness;
mod control;
mod errors;
mod evaluator;
mod input;
mod instrument;
pub mod memory;
mod options;
mod outputs;
mod reader;
mod shared_prelude;
mod slot;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, select};

pub use completeness::{Completeness, check as completeness};
pub use control::Interrupter;
pub use errors::{CellError, ErrorKind};
pub use input::{InputRequest, InputSource};
pub use instrument::instrument;
pub use options::{Options, cell_process_env};
pub use outputs::{Completions, MimeBundle, Output};
/// The folder, under a prelude's folder of compile folders, that holds the prelude as one shared library.
pub use shared_prelude::PACKAGE as WRAPPER_DIR;
pub use slot::Slot;

use control::Control;
use errors::compile_error;
use evaluator::{Request, worker};
use outputs::bundle_of;
use reader::Reader;

/// How often a running cell is checked for a plain `read_line` on stdin.
const STDIN_POLL: Duration = Duration::from_millis(250);

/// Asks `source` for the line `request` wants and writes it into the cell's stdin; says so on the cell's stderr
/// when a plain `read_line` got no answer (it then fails with "stream did not contain valid UTF-8").
fn answer_input(
    control: &Control,
    source: &mut InputSource,
    request: &InputRequest,
    reader: input::Reader,
    sink: &mut dyn FnMut(Output),
) {
    let answer = source(request);
    if let (input::Reader::Raw, Err(why)) = (reader, &answer) {
        sink(Output::Stderr(format!("candlelit: this cell reads a line from stdin, but {why}; the read fails\n")));
    }
    let Some(pid) = control.pid() else { return };
    if let Err(e) = input::write_to_stdin(pid, &input::line_for(reader, &answer)) {
        sink(Output::Stderr(format!("candlelit: could not pass the answer to the cell: {e}\n")));
    }
}

/// Adds what went wrong in a set-up cell (its error, or what it wrote to stderr) to `problems`.
fn collect_problem(problems: &mut String, out: Output) {
    match out {
        Output::Error(e) => problems.push_str(&e.to_text()),
        Output::Stderr(text) => problems.push_str(&text),
        _ => {}
    }
}

/// The line that sets up a (re)started evaluation process: interrupt flag and panic reporting (see
/// `candlelit::cell::install`).
const INSTALL_HOOKS: &str = "candlelit::cell::install()?;";

/// A running evaluation session; see the module docs.
pub struct Session {
    requests: Sender<Request>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    control: Arc<Control>,
    options: Options,
    cells: u64,
    /// Display ids shown so far: an update of one of these replaces it, an update of a new one shows it.
    displays: HashSet<String>,
    /// The prelude library this session loads (again after [`Session::clear`]).
    wrapper: PathBuf,
    /// Where answers come from when a cell asks for input.
    input: InputSource,
    _slot: slot::Slot,
}

impl Session {
    /// Starts evcxr in a compile folder from the cache and loads the prelude. The first start on a machine compiles
    /// Candle (minutes); later starts reuse the cache (seconds).
    ///
    /// # Errors
    /// A learner-readable message when evcxr cannot start or the prelude does not load.
    pub fn start(options: Options) -> Result<Session, String> {
        let mut session = Session::open(options)?;
        session.load_prelude()?;
        Ok(session)
    }

    /// Compiles the prelude into a compile folder from the cache, as [`Session::start`] does, and hands that folder
    /// over locked (see [`Session::into_compile_folder`]) without what only a session that runs cells needs: the
    /// hooks cell, and the rust-analyzer index it makes evcxr build (about 12 s of CPU here). The grader calls this
    /// once per batch to warm the cache its sandboxes copy.
    ///
    /// # Errors
    /// As [`Session::start`].
    pub fn warm_compile_folder(options: Options) -> Result<Slot, String> {
        let mut session = Session::open(options)?;
        session.load_init()?;
        Ok(session.into_compile_folder())
    }

    /// Starts evcxr in a compile folder from the cache, with nothing loaded yet.
    fn open(options: Options) -> Result<Session, String> {
        let root = options.slot_root();
        let slot = slot::acquire(&options.cache, &root, &options.prelude.join("Cargo.lock"))
            .map_err(|e| format!("candlelit could not use its compile cache at {}: {e}", root.display()))?;
        let wrapper = shared_prelude::write(&root, &options.prelude, &options.features)
            .map_err(|e| format!("candlelit could not write its prelude library under {}: {e}", root.display()))?;
        let (requests, inbox) = crossbeam_channel::unbounded();
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let dir = slot.dir.clone();
        std::thread::Builder::new()
            .name("candlelit-evcxr".into())
            .spawn(move || worker(dir, ready_tx, inbox))
            .map_err(|e| format!("candlelit could not start its evaluation thread: {e}"))?;
        let (stdout, stderr, process) = ready_rx
            .recv()
            .map_err(|_| "the evaluation thread stopped while starting".to_string())?
            .map_err(|e| format!("evcxr could not start: {e}"))?;
        let control = Arc::new(Control {
            process,
            cell: AtomicU64::new(0),
            running_since: std::sync::Mutex::new(None),
            pending: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            interrupts: AtomicU64::new(0),
            grace: options.interrupt_grace,
        });
        Ok(Session {
            requests,
            stdout,
            stderr,
            control,
            options,
            cells: 0,
            displays: HashSet::new(),
            wrapper,
            input: input::headless(),
            _slot: slot,
        })
    }

    /// Forgets every variable, function and `use` of earlier cells and loads the prelude again (the REPL's
    /// `:clear`); compiled code stays cached, so this takes seconds.
    ///
    /// # Errors
    /// When the prelude does not load again.
    pub fn clear(&mut self) -> Result<(), String> {
        let mut problem = String::new();
        let cleared = self.run(":clear", None, &mut |out| {
            if let Output::Error(e) = out {
                problem = e.to_text();
            }
        });
        if !cleared {
            return Err(format!("evcxr could not clear its state: {problem}"));
        }
        self.load_prelude()
    }

    /// Runs the cell that compiles the prelude library and brings it into scope.
    fn load_init(&mut self) -> Result<(), String> {
        let init = self.options.init_cell(&self.wrapper);
        let mut problems = String::new();
        if self.run(&init, None, &mut |out| collect_problem(&mut problems, out)) {
            Ok(())
        } else {
            Err(self.prelude_problem(&problems))
        }
    }

    fn load_prelude(&mut self) -> Result<(), String> {
        self.load_init()?;
        let mut problems = String::new();
        // Hooks go in a cell of their own: `install` must run in the child after every (re)start. The variable
        // makes evcxr's rust-analyzer index Candle now (about 10 s here) rather than in the learner's first cell,
        // and the `?` switches on evcxr's `?` support now rather than by a failed compile of a learner's cell.
        let hooks = format!("{INSTALL_HOOKS}\nlet _candlelit_ready = true;");
        let loaded = self.run(&hooks, None, &mut |out| {
            if let Output::Error(e) = out {
                problems.push_str(&e.to_text());
            }
        });
        if loaded { Ok(()) } else { Err(self.prelude_problem(&problems)) }
    }

    fn prelude_problem(&self, problems: &str) -> String {
        format!(
            "candlelit could not load its prelude from {}.\n{problems}\n\
             Check that `cargo build` works in that folder, then restart the kernel.",
            self.options.prelude.display()
        )
    }

    /// Makes `dir` the folder the cells run in, so `File::open("data.csv")` finds files next to the notebook. Used
    /// when a session started elsewhere is handed to a notebook (see `standby`).
    ///
    /// # Errors
    /// When the evaluation process cannot enter `dir`.
    pub fn enter_dir(&mut self, dir: &std::path::Path) -> Result<(), String> {
        let literal = format!("{:?}", dir.to_string_lossy());
        let mut problem = String::new();
        let ok = self.run(&format!("std::env::set_current_dir({literal})?;"), None, &mut |out| {
            if let Output::Error(e) = out {
                problem = e.to_text();
            }
        });
        if ok { Ok(()) } else { Err(format!("cells could not run in {}: {problem}", dir.display())) }
    }

    /// Ends the session but keeps its compile folder locked, so that nothing compiles in it while the folder is
    /// read (the grader copies it into every sandbox); the lock goes when the returned [`Slot`] is dropped.
    pub fn into_compile_folder(self) -> Slot {
        let Session { _slot, .. } = self;
        _slot
    }

    /// An [`Interrupter`] for this session, to use from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter { control: Arc::clone(&self.control) }
    }

    /// Where the answers come from when a cell asks for a line (`input()`, `getpass()`, `read_line` on stdin);
    /// until this is called, every such request gets [`input::HEADLESS`]'s error.
    pub fn set_input(&mut self, source: InputSource) {
        self.input = source;
    }

    /// Runs one cell, passing its outputs to `sink` as they happen. Returns whether it succeeded; on failure the
    /// last output was an [`Output::Error`].
    pub fn execute(&mut self, code: &str, sink: &mut dyn FnMut(Output)) -> bool {
        if let Some(name) = code.trim().strip_prefix(":doc").filter(|rest| rest.is_empty() || rest.starts_with(' ')) {
            return self.doc(name.trim(), sink);
        }
        let instrumented = instrument(code).filter(|_| !code.trim_start().starts_with(':'));
        match instrumented {
            Some(fast) => {
                let mut compile_error = None;
                let ok = self.run(&fast, Some(code), &mut |out| match out {
                    Output::Error(e) if e.kind == ErrorKind::Compile => compile_error = Some(e),
                    other => sink(other),
                });
                if compile_error.is_none() {
                    return ok;
                }
                // Show rustc's verdict on the learner's own code, not on the instrumented copy (and run it as
                // written if only the instrumentation failed to compile).
                self.run(code, None, sink)
            }
            None => self.run(code, None, sink),
        }
    }

    /// `:doc NAME`: the documentation of a name in scope (`Tensor::matmul`, `nn::linear`, `manual_seed`), for the
    /// pager — like `name?` in IPython.
    fn doc(&mut self, name: &str, sink: &mut dyn FnMut(Output)) -> bool {
        let found = if name.is_empty() { None } else { self.inspect(name, name.chars().count()) };
        match found {
            Some(text) => {
                sink(Output::Page(text));
                true
            }
            None => {
                let what = if name.is_empty() {
                    "nothing to look up".to_string()
                } else {
                    format!("no documentation found for `{name}`")
                };
                let mut error = CellError::new(ErrorKind::Runtime, "DocError", what);
                error.hint = Some("write a name that is in scope, e.g. `:doc Tensor::matmul` or `:doc randn`".into());
                sink(Output::Error(error));
                false
            }
        }
    }

    /// Sends `code` to evcxr and turns what comes back into outputs.
    fn run(&mut self, code: &str, original: Option<&str>, sink: &mut dyn FnMut(Output)) -> bool {
        self.cells += 1;
        let control = Arc::clone(&self.control);
        control.set_running(original.is_none());
        control.pending.store(false, Ordering::SeqCst);
        control.killed.store(false, Ordering::SeqCst);
        control.cell.store(self.cells, Ordering::SeqCst);
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        let mut stdin_watch = input::StdinWatch::new(control.pid());
        if self.requests.send(Request::Execute(code.to_string(), reply_tx)).is_err() {
            control.cell.store(0, Ordering::SeqCst);
            sink(Output::Error(CellError::new(ErrorKind::Restarted, "SessionError", "the evaluation thread stopped")));
            return false;
        }
        let mut reader = Reader::new(&mut self.displays);
        // Rust's last words when an allocation fails ("memory allocation of N bytes failed"), before it aborts.
        let mut allocation_failed: Option<String> = None;
        let mut on_stderr = |line: &str, reader: &mut Reader, sink: &mut dyn FnMut(Output)| {
            if line.starts_with("memory allocation of ") {
                allocation_failed = Some(line.trim().to_string());
            }
            reader.stderr(line, sink);
        };
        let input_source = &mut self.input;
        let reply = loop {
            select! {
                recv(self.stdout) -> line => if let Ok(line) = line {
                    reader.stdout(&line, &control, sink);
                    if let Some(request) = reader.take_input_request() {
                        answer_input(&control, input_source, &request, input::Reader::Prelude, sink);
                        stdin_watch.answered();
                    }
                },
                recv(self.stderr) -> line => if let Ok(line) = line { on_stderr(&line, &mut reader, sink) },
                recv(reply_rx) -> reply => break reply,
                default(STDIN_POLL) => if control.is_running() && stdin_watch.waiting() {
                    let request = InputRequest { prompt: String::new(), password: false };
                    answer_input(&control, input_source, &request, input::Reader::Raw, sink);
                    stdin_watch.answered();
                },
            }
        };
        // Lines printed just before the cell ended may still be on their way.
        while let Ok(line) = self.stdout.try_recv() {
            reader.stdout(&line, &control, sink);
        }
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(20)) {
            on_stderr(&line, &mut reader, sink);
        }
        control.cell.store(0, Ordering::SeqCst);
        control.set_running(false);
        let killed = control.killed.swap(false, Ordering::SeqCst);
        let reply = reply.unwrap_or_else(|_| Err(evcxr::Error::Message("the evaluation thread stopped".into())));
        match reply {
            Ok(outputs) => {
                if let Some(error) = reader.into_error() {
                    sink(Output::Error(error));
                    return false;
                }
                if outputs.timing.is_some() && !outputs.phases.is_empty() {
                    // `:timing` is on: say where the cell's time went, like `%%time` in IPython.
                    let phases: Vec<String> = outputs
                        .phases
                        .iter()
                        .map(|phase| format!("{} {:.0} ms", phase.name, phase.duration.as_secs_f64() * 1000.0))
                        .collect();
                    sink(Output::Stderr(format!("timing: {}\n", phases.join(", "))));
                }
                let bundle = bundle_of(&outputs);
                if !bundle.is_empty() {
                    sink(Output::Result(bundle));
                }
                true
            }
            Err(evcxr::Error::CompilationErrors(errors)) => {
                if std::env::var_os("CANDLELIT_DEBUG").is_some() {
                    // For maintainers: what rustc said about the code evcxr compiled (the kernel's log).
                    eprintln!("candlelit debug: compile errors for:\n{code}");
                    errors.iter().for_each(|e| eprintln!("  {}", e.rendered()));
                }
                sink(Output::Error(compile_error(&errors, original.unwrap_or(code))));
                false
            }
            Err(evcxr::Error::SubprocessTerminated(status)) => {
                let reload = self.reload_after_restart();
                let out_of_memory = allocation_failed.map(|what| memory::in_words(&what)).or_else(|| {
                    // The kernel's out-of-memory killer ends a process with SIGKILL, and nothing else here does.
                    (!killed && status.contains("SIGKILL")).then(|| memory::killed_in_words().to_string())
                });
                let message = if killed {
                    format!(
                        "The cell ignored the interrupt for {:.0} s, so candlelit restarted the Rust process. \
                         All variables are gone; {reload}",
                        self.options.interrupt_grace.as_secs_f64()
                    )
                } else if let Some(why) = &out_of_memory {
                    format!("{why} All variables are gone; {reload}")
                } else {
                    format!(
                        "The Rust process running your cells stopped ({}). All variables are gone; {reload}",
                        status.trim().lines().last().unwrap_or("no status")
                    )
                };
                let ename = if out_of_memory.is_some() { "OutOfMemory" } else { "KernelRestarted" };
                let mut error = CellError::new(ErrorKind::Restarted, ename, message);
                error.hint = Some(if out_of_memory.is_some() {
                    "make the tensors or batches smaller (the `parameters` cell is the place), then run the cells \
                     above this one again"
                        .into()
                } else {
                    "run the cells above this one again to recreate your variables".into()
                });
                sink(Output::Error(error));
                false
            }
            Err(other) => {
                sink(Output::Error(CellError::new(ErrorKind::Runtime, "EvaluationError", other.to_string())));
                false
            }
        }
    }

    fn reload_after_restart(&mut self) -> &'static str {
        if self.run(INSTALL_HOOKS, None, &mut |_| {}) {
            "the prelude is loaded again."
        } else {
            "reloading the prelude failed."
        }
    }

    /// Completions for `code` with the cursor at character `cursor`.
    pub fn complete(&mut self, code: &str, cursor: usize) -> Completions {
        let byte = char_to_byte(code, cursor);
        let (tx, rx) = crossbeam_channel::bounded(1);
        let found =
            self.requests.send(Request::Complete(code.to_string(), byte, tx)).ok().and_then(|()| rx.recv().ok());
        match found.flatten() {
            Some(c) => Completions {
                matches: c.completions.iter().map(|c| insertable(&c.code)).collect(),
                start: byte_to_char(code, c.start_offset),
                end: byte_to_char(code, c.end_offset),
            },
            None => Completions { matches: Vec::new(), start: cursor, end: cursor },
        }
    }

    /// What is known about the name under the cursor (its type or signature and docs), as Markdown-ish text.
    pub fn inspect(&mut self, code: &str, cursor: usize) -> Option<String> {
        // Inspect the whole name under the cursor, not the part before it.
        let start = char_to_byte(code, cursor);
        let rest = &code[start..];
        let byte = start + rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.requests.send(Request::Hover(code.to_string(), byte, tx)).ok()?;
        rx.recv().ok().flatten().filter(|text| !text.trim().is_empty() && text.trim() != "No documentation found")
    }
}

/// The part of a completion to insert: the name (with a macro's `!`), without the signature rust-analyzer appends
/// (`zeros_like(&self)` → `zeros_like`), which would otherwise be typed into the learner's cell.
fn insertable(completion: &str) -> String {
    let name: String = completion.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
    if name.is_empty() {
        completion.to_string()
    } else if completion[name.len()..].starts_with('!') {
        format!("{name}!")
    } else {
        name
    }
}

fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices().nth(chars).map_or(text.len(), |(i, _)| i)
}

fn byte_to_char(text: &str, byte: usize) -> usize {
    text.get(..byte.min(text.len())).map_or(0, |prefix| prefix.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_insert_names_not_signatures() {
        assert_eq!(insertable("zeros_like(&self)"), "zeros_like");
        assert_eq!(insertable("manual_seed"), "manual_seed");
        assert_eq!(insertable("vec![…]"), "vec!");
        assert_eq!(insertable("std::f64"), "std::f64");
        assert_eq!(insertable("&mut "), "&mut ");
    }
}
