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

mod completeness;
mod instrument;
pub mod memory;
mod reader;
mod shared_prelude;
mod slot;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, select};

pub use completeness::{Completeness, check as completeness};
pub use instrument::instrument;
/// The folder, under a prelude's folder of compile folders, that holds the prelude as one shared library.
pub use shared_prelude::PACKAGE as WRAPPER_DIR;

use reader::Reader;

/// One rich value: `(mime type, data)` pairs, richest first (`image/png` data is base64).
pub type MimeBundle = Vec<(String, String)>;

/// Something a cell produced, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Text the cell printed on standard output.
    Stdout(String),
    /// Text the cell printed on standard error (compiler warnings included).
    Stderr(String),
    /// Something the cell showed while running (`display(&x)` in the prelude).
    Display(MimeBundle),
    /// A display that later outputs may replace (`DisplayHandle` in the prelude: progress bars, live figures).
    Tracked {
        /// The display id (Jupyter's `transient.display_id`).
        id: String,
        /// What to show.
        bundle: MimeBundle,
    },
    /// Replaces what an earlier [`Output::Tracked`] with the same id shows, wherever it is.
    Update {
        /// The display id.
        id: String,
        /// What to show instead.
        bundle: MimeBundle,
    },
    /// The cell asked to clear its output (`clear_output(wait)`); with `wait`, when the next output arrives.
    Clear {
        /// Keep the old output until new output replaces it.
        wait: bool,
    },
    /// Documentation to read beside the notebook (`:doc NAME`), shown in Jupyter's pager.
    Page(String),
    /// The value of the cell's final expression.
    Result(MimeBundle),
    /// The cell failed; always the last output of a cell.
    Error(CellError),
}

/// How a cell failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// rustc rejected the cell; nothing ran.
    Compile,
    /// A `?` returned an error.
    Runtime,
    /// The cell panicked.
    Panic,
    /// The cell was stopped by an interrupt; variables from earlier cells are kept.
    Interrupted,
    /// The process running cells ended (killed after an ignored interrupt, or crashed); variables are gone.
    Restarted,
}

/// A failed cell, ready to show: `ename: evalue`, an optional hint, and details (compiler diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// A short name, like Jupyter's `ename` (`CompileError`, `ShapeError`, `Panic`, `KeyboardInterrupt`, ...).
    pub ename: String,
    /// The message, without backtrace noise.
    pub evalue: String,
    /// What to try, when the prelude knows.
    pub hint: Option<String>,
    /// Further lines (compiler diagnostics with the cell's code), may be empty.
    pub details: String,
}

impl CellError {
    pub(super) fn new(kind: ErrorKind, ename: &str, evalue: impl Into<String>) -> Self {
        CellError { kind, ename: ename.to_string(), evalue: evalue.into(), hint: None, details: String::new() }
    }

    /// The error as plain text, the way a learner reads it.
    pub fn to_text(&self) -> String {
        let mut text = if self.details.is_empty() {
            format!("{}: {}", self.ename, self.evalue)
        } else {
            self.details.trim_end().to_string()
        };
        if let Some(hint) = &self.hint {
            text.push_str(&format!("\nhint: {hint}"));
        }
        text
    }

    /// The error as Jupyter traceback lines (ANSI colours allowed), one entry per line.
    pub fn traceback(&self) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        if self.details.is_empty() {
            lines.push(format!("\x1b[0;31m{}\x1b[0m: {}", self.ename, self.evalue));
        } else {
            lines.extend(self.details.trim_end().lines().map(str::to_string));
        }
        if let Some(hint) = &self.hint {
            lines.push(format!("\x1b[0;32mhint\x1b[0m: {hint}"));
        }
        lines
    }
}

/// Completions at a cursor, with the range (in characters) they replace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completions {
    /// Candidate texts.
    pub matches: Vec<String>,
    /// First character replaced.
    pub start: usize,
    /// One past the last character replaced.
    pub end: usize,
}

/// How a session is set up; [`Options::from_env`] gives the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Persistent compile cache (`$CANDLELIT_CACHE`).
    pub cache: PathBuf,
    /// The prelude crate's folder.
    pub prelude: PathBuf,
    /// Cargo features of the prelude (`cuda` when this binary was built with it).
    pub features: Vec<String>,
    /// How long a cell may ignore an interrupt before its process is restarted (`$CANDLELIT_INTERRUPT_GRACE`, s).
    pub interrupt_grace: Duration,
    /// Tell cargo not to touch the network (`$CANDLELIT_OFFLINE=0` turns it off).
    pub offline: bool,
}

impl Options {
    /// Defaults from the environment and from how this binary was built.
    pub fn from_env() -> Self {
        let grace = std::env::var("CANDLELIT_INTERRUPT_GRACE").ok().and_then(|s| s.parse::<f64>().ok());
        Options {
            cache: crate::paths::cache(),
            prelude: crate::paths::prelude_source(),
            features: if cfg!(feature = "cuda") { vec!["cuda".to_string()] } else { Vec::new() },
            interrupt_grace: Duration::from_secs_f64(grace.unwrap_or(5.0).max(0.1)),
            offline: std::env::var("CANDLELIT_OFFLINE").map_or(true, |v| v != "0"),
        }
    }

    /// The cache folder for this prelude and feature set (CPU and CUDA builds never share compiled code).
    pub fn slot_root(&self) -> PathBuf {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.prelude.hash(&mut hasher);
        self.features.hash(&mut hasher);
        let flavour = if self.features.is_empty() { "cpu".to_string() } else { self.features.join("-") };
        self.cache.join("sessions").join(format!("{flavour}-{:012x}", hasher.finish() & 0xffff_ffff_ffff))
    }

    /// The cell that loads the prelude: cells at `opt-level = 0` (dependencies are optimised by the cache's cargo
    /// config), cargo offline, and the prelude as the shared library in `wrapper`.
    fn init_cell(&self, wrapper: &std::path::Path) -> String {
        format!(
            ":opt 0\n:offline {}\n{}\nuse candlelit::prelude::*;\n",
            u8::from(self.offline),
            shared_prelude::dep_line(wrapper),
        )
    }
}

/// Candle's setting for how long its element-wise pool spins before its workers sleep (see where it is set).
const SPIN_LIMIT: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";

/// The line that sets up a (re)started evaluation process: interrupt flag and panic reporting (see
/// `candlelit::cell::install`).
const INSTALL_HOOKS: &str = "candlelit::cell::install()?;";

/// Lets another thread interrupt the running cell (Jupyter's `interrupt_request`, Ctrl-C in the REPL).
#[derive(Clone)]
pub struct Interrupter {
    control: Arc<Control>,
}

struct Control {
    process: Arc<Mutex<std::process::Child>>,
    /// Number of the cell being executed, 0 when idle.
    cell: AtomicU64,
    /// The running cell's code has started (compilation is over).
    running: AtomicBool,
    /// An interrupt arrived while the cell was still compiling.
    pending: AtomicBool,
    /// The child was killed because a cell ignored an interrupt.
    killed: AtomicBool,
    grace: Duration,
}

impl Interrupter {
    /// Asks the running cell to stop. Returns `false` when no cell is running.
    pub fn interrupt(&self) -> bool {
        let cell = self.control.cell.load(Ordering::SeqCst);
        if cell == 0 {
            return false;
        }
        if self.control.running.load(Ordering::SeqCst) {
            self.control.signal(cell);
        } else {
            self.control.pending.store(true, Ordering::SeqCst);
        }
        true
    }
}

impl Control {
    fn pid(&self) -> Option<i32> {
        let child = self.process.lock().ok()?;
        i32::try_from(child.id()).ok()
    }

    /// Sends SIGINT to the cell's process, and SIGKILL if the same cell is still running after the grace period.
    fn signal(self: &Arc<Self>, cell: u64) {
        let Some(pid) = self.pid() else { return };
        send_signal(pid, libc::SIGINT);
        let control = Arc::clone(self);
        std::thread::spawn(move || {
            std::thread::sleep(control.grace);
            if control.cell.load(Ordering::SeqCst) == cell && control.pid() == Some(pid) {
                control.killed.store(true, Ordering::SeqCst);
                send_signal(pid, libc::SIGKILL);
            }
        });
    }
}

fn send_signal(pid: i32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety requirements; a stale pid at worst signals nothing.
    unsafe {
        libc::kill(pid, signal);
    }
}

enum Request {
    Execute(String, Sender<Result<evcxr::EvalOutputs, evcxr::Error>>),
    Complete(String, usize, Sender<Option<evcxr::Completions>>),
    Hover(String, usize, Sender<Option<String>>),
}

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
    _slot: slot::Slot,
}

impl Session {
    /// Starts evcxr in a compile folder from the cache and loads the prelude. The first start on a machine compiles
    /// Candle (minutes); later starts reuse the cache (seconds).
    ///
    /// # Errors
    /// A learner-readable message when evcxr cannot start or the prelude does not load.
    pub fn start(options: Options) -> Result<Session, String> {
        let root = options.slot_root();
        let slot = slot::acquire(&root, &options.prelude.join("Cargo.lock"))
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
            running: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            grace: options.interrupt_grace,
        });
        let mut session = Session {
            requests,
            stdout,
            stderr,
            control,
            options,
            cells: 0,
            displays: HashSet::new(),
            wrapper,
            _slot: slot,
        };
        session.load_prelude()?;
        Ok(session)
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

    fn load_prelude(&mut self) -> Result<(), String> {
        let init = self.options.init_cell(&self.wrapper);
        let mut problems = String::new();
        let ok = self.run(&init, None, &mut |out| match out {
            Output::Error(e) => problems.push_str(&e.to_text()),
            Output::Stderr(text) => problems.push_str(&text),
            _ => {}
        });
        // Hooks go in a cell of their own: `install` must run in the child after every (re)start. The variable
        // makes evcxr's rust-analyzer index Candle now (about 10 s here) rather than in the learner's first cell,
        // and the `?` switches on evcxr's `?` support now rather than by a failed compile of a learner's cell.
        let hooks = format!("{INSTALL_HOOKS}\nlet _candlelit_ready = true;");
        if ok
            && self.run(&hooks, None, &mut |out| {
                if let Output::Error(e) = out {
                    problems.push_str(&e.to_text());
                }
            })
        {
            return Ok(());
        }
        Err(format!(
            "candlelit could not load its prelude from {}.\n{problems}\n\
             Check that `cargo build` works in that folder, then restart the kernel.",
            self.options.prelude.display()
        ))
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

    /// The compile folder this session holds (`EVCXR_TMPDIR`): the prelude compiled, warm for the next session.
    pub fn compile_dir(&self) -> &std::path::Path {
        &self._slot.dir
    }

    /// An [`Interrupter`] for this session, to use from another thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter { control: Arc::clone(&self.control) }
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
        control.running.store(original.is_none(), Ordering::SeqCst);
        control.pending.store(false, Ordering::SeqCst);
        control.killed.store(false, Ordering::SeqCst);
        control.cell.store(self.cells, Ordering::SeqCst);
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        if self.requests.send(Request::Execute(code.to_string(), reply_tx)).is_err() {
            control.cell.store(0, Ordering::SeqCst);
            sink(Output::Error(CellError::new(ErrorKind::Restarted, "SessionError", "the evaluation thread stopped")));
            return false;
        }
        let mut reader = Reader::new(&mut self.displays);
        let reply = loop {
            select! {
                recv(self.stdout) -> line => if let Ok(line) = line { reader.stdout(&line, &control, sink) },
                recv(self.stderr) -> line => if let Ok(line) = line { reader.stderr(&line, sink) },
                recv(reply_rx) -> reply => break reply,
            }
        };
        // Lines printed just before the cell ended may still be on their way.
        while let Ok(line) = self.stdout.try_recv() {
            reader.stdout(&line, &control, sink);
        }
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(20)) {
            reader.stderr(&line, sink);
        }
        control.cell.store(0, Ordering::SeqCst);
        control.running.store(false, Ordering::SeqCst);
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
                let message = if killed {
                    format!(
                        "The cell ignored the interrupt for {:.0} s, so candlelit restarted the Rust process. \
                         All variables are gone; {reload}",
                        self.options.interrupt_grace.as_secs_f64()
                    )
                } else {
                    format!(
                        "The Rust process running your cells stopped ({}). All variables are gone; {reload}",
                        status.trim().lines().last().unwrap_or("no status")
                    )
                };
                let mut error = CellError::new(ErrorKind::Restarted, "KernelRestarted", message);
                error.hint = Some("run the cells above this one again to recreate your variables".into());
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

/// Where a mime type goes in a bundle: richest first, unknown types last.
pub(super) fn richness(mime: &str) -> usize {
    const ORDER: [&str; 5] = ["image/png", "image/svg+xml", "text/html", "text/markdown", "text/plain"];
    ORDER.iter().position(|m| *m == mime).unwrap_or(ORDER.len())
}

/// The final value's mime bundle, richest first, without evcxr's empty entries.
fn bundle_of(outputs: &evcxr::EvalOutputs) -> MimeBundle {
    let mut bundle: MimeBundle = outputs
        .content_by_mime_type
        .iter()
        .filter(|(_, data)| !data.is_empty())
        .map(|(mime, data)| (mime.clone(), data.clone()))
        .collect();
    bundle.sort_by_key(|(mime, _)| richness(mime));
    bundle
}

/// rustc's errors, shown against the learner's own lines.
fn compile_error(errors: &[evcxr::CompilationError], code: &str) -> CellError {
    let lines: Vec<&str> = code.lines().collect();
    let mut details = String::new();
    for error in errors {
        let head = match error.code() {
            Some(code) => format!("error[{code}]: {}", error.message()),
            None => format!("error: {}", error.message()),
        };
        details.push_str(&format!("\x1b[1;31m{head}\x1b[0m\n"));
        for spanned in error.spanned_messages() {
            let Some(span) = spanned.span else { continue };
            let Some(text) = lines.get(span.start_line.saturating_sub(1)) else { continue };
            let number = span.start_line.to_string();
            let pad = " ".repeat(number.len());
            let width = if span.end_line == span.start_line {
                span.end_column.saturating_sub(span.start_column).max(1)
            } else {
                text.chars().count().saturating_sub(span.start_column - 1).max(1)
            };
            details.push_str(&format!("{pad} |\n{number} | {text}\n"));
            details.push_str(&format!(
                "{pad} | {}\x1b[1;31m{}\x1b[0m {}\n",
                " ".repeat(span.start_column.saturating_sub(1)),
                if spanned.is_primary { "^".repeat(width) } else { "-".repeat(width) },
                spanned.label
            ));
        }
        for help in error.help() {
            details.push_str(&format!("= help: {help}\n"));
        }
        if let Some(extra) = error.evcxr_extra_hint() {
            details.push_str(&format!("= note: {extra}\n"));
        }
    }
    let first = errors.first().map(|e| e.message()).unwrap_or_else(|| "the cell does not compile".into());
    let mut error = CellError::new(ErrorKind::Compile, "CompileError", first);
    error.details = details;
    error
}

fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices().nth(chars).map_or(text.len(), |(i, _)| i)
}

fn byte_to_char(text: &str, byte: usize) -> usize {
    text.get(..byte.min(text.len())).map_or(0, |prefix| prefix.chars().count())
}

type Ready = Result<(Receiver<String>, Receiver<String>, Arc<Mutex<std::process::Child>>), String>;

/// `LD_LIBRARY_PATH` with the toolchain's `libstd` in front. evcxr moves each compiled cell up one folder after
/// linking, which breaks rustc's `$ORIGIN`-relative rpath to `libstd` when the cache and the toolchain share a
/// parent (both under `$HOME`); the child then finds `libstd` through this path instead.
fn rust_library_path() -> Option<std::ffi::OsString> {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("rustc").args(args).output().ok()?;
        String::from_utf8(out.stdout).ok()
    };
    let sysroot = PathBuf::from(run(&["--print", "sysroot"])?.trim());
    let host = run(&["-vV"])?.lines().find_map(|l| l.strip_prefix("host: ").map(str::to_string))?;
    let mut paths = vec![sysroot.join("lib").join("rustlib").join(host).join("lib")];
    if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).ok()
}

/// The settings a process that trains gets (the cells' process, and `candlelit bench`'s measurements), for each
/// variable the user has not set: glibc's allocator keeps batch-sized blocks, rayon's thread count is counted once,
/// and the spinning of Candle's element-wise pool and of OpenBLAS's threads is short.
pub fn cell_process_env() -> Vec<(&'static str, String)> {
    // glibc's malloc hands blocks over 128 KiB straight back to the OS when freed, so a training loop that
    // allocates batch-sized tensors pays page faults on every step (the 5-epoch MLP of the benchmark: 3.8 s
    // instead of 1.9 s). Keep blocks up to 32 MiB in the heap, and up to 64 MiB of free heap, in the process
    // that runs the cells (glibc reads these when that process starts; other allocators ignore them).
    let mut vars = vec![
        ("MALLOC_MMAP_THRESHOLD_", "33554432".to_string()),
        ("MALLOC_TRIM_THRESHOLD_", "67108864".to_string()),
        // Candle sizes its CPU work by the physical cores, and without RAYON_NUM_THREADS it counts them again for
        // every operation by parsing /proc/cpuinfo: a tenth of a small MLP's training step went to the kernel
        // formatting that file. Count once, here, with the same rule.
        ("RAYON_NUM_THREADS", num_cpus::get_physical().max(1).to_string()),
        // Candle runs element-wise ops on a second pool whose workers spin for 25,000 pauses after each op before
        // they sleep; the matrix products run on rayon's pool, so a product right after a large element-wise op
        // had one core fewer than it thought (the batch-1024 MLP: 116k → 175k samples/s with a short spin on 2
        // cores, BENCHMARKS.md). With the products on OpenBLAS's threads, 300 beat 1,000 (MLP 64 +6%).
        (SPIN_LIMIT, "300".to_string()),
        // The same for OpenBLAS (the linear layers' products when it is installed, src/nn/system_blas.rs): its
        // threads spin for 2^28 cycles after a product, taking a core from the element-wise ops between the
        // products. 2^4 puts them to sleep at once (the batch-1024 MLP: 0.78× → 0.97× PyTorch, BENCHMARKS.md).
        ("OPENBLAS_THREAD_TIMEOUT", "4".to_string()),
    ];
    vars.retain(|(var, _)| std::env::var_os(var).is_none());
    vars
}

/// Owns the evcxr context (which must stay on one thread) and serves requests.
fn worker(dir: PathBuf, ready: Sender<Ready>, inbox: Receiver<Request>) {
    // SAFETY: std serialises its own environment reads and writes; no foreign code reads the environment on
    // another thread at this point (the session is started before any cell runs). evcxr reads EVCXR_TMPDIR when
    // the context is created, and the child inherits RUST_LIB_BACKTRACE (no backtrace capture in Candle errors).
    let library_path = rust_library_path();
    unsafe {
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
