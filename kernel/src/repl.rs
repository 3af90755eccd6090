//! `candlelit repl`: the prelude in a terminal, for quick tensor experiments.
//!
//! The same session as the notebook: variables live between entries, `?` works, tensors print with the prelude's
//! display. Input goes on over several lines while a `{`, `(`, `[` or string is open (the kernel's completeness
//! rule). Tab completes from the session, history persists in the candlelit home, Ctrl-C stops a running entry
//! (earlier variables stay), Ctrl-D quits. A figure is saved as a file in the working folder and its path printed;
//! `:open` shows the last one in the system viewer.
//!
//! With standard input not a terminal (`candlelit repl < script.rs`) it runs the script entry by entry, prints
//! what each prints, and exits with status 1 at the first error.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{CompletionType, Config, Editor, Helper, history::DefaultHistory};

use crate::session::{Completeness, ErrorKind, MimeBundle, Options, Output, Session, completeness};

/// Options of `candlelit repl`.
#[derive(clap::Args, Debug)]
pub struct Args {}

const HELP: &str = "\
Type Rust; the candlelit prelude is in scope (Tensor, randn, nn, Figure, ...). Unclosed brackets continue on
the next line. An entry ending in an expression shows its value.

  :help           this text
  :vars           the variables you have defined, with their types
  :device         the device `device()` picks, and whether CUDA is available
  :clear          forget every variable (the prelude is loaded again)
  :open           open the last figure in the system viewer
  :doc NAME       documentation of a name, e.g. :doc Tensor::matmul
  :quit           leave (or Ctrl-D)

Tab completes names and methods. Up/Down walk the history (kept between sessions). Ctrl-C stops a running
entry and keeps earlier variables.";

/// Runs `candlelit repl`.
///
/// # Errors
/// When the session cannot start, or (reading a script) at the first entry that fails.
pub fn run(_args: &Args) -> Result<(), String> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("candlelit: loading the prelude (seconds; minutes the very first time, while Candle compiles)…");
    }
    let mut session = Session::start(Options::from_env())?;
    if interactive {
        // A script on stdin has nobody at the terminal: its `input()` gets the headless error.
        session.set_input(crate::repl_input::terminal());
    }
    let mut repl = Repl {
        session: Rc::new(RefCell::new(session)),
        figures: 0,
        last_figure: None,
        tracked_figures: HashMap::new(),
        colour: interactive,
    };
    if interactive { repl.interactive() } else { repl.script(std::io::stdin().lock()) }
}

struct Repl {
    session: Rc<RefCell<Session>>,
    figures: usize,
    last_figure: Option<PathBuf>,
    /// The file of each figure shown with a display id, rewritten when it is updated.
    tracked_figures: HashMap<String, PathBuf>,
    /// ANSI colours in errors (a terminal), or plain text (a pipe).
    colour: bool,
}

impl Repl {
    fn interactive(&mut self) -> Result<(), String> {
        let device = self.device_line();
        println!("candlelit {} · {device} · :help for commands · Ctrl-D quits", env!("CARGO_PKG_VERSION"));
        let config = Config::builder().completion_type(CompletionType::List).auto_add_history(false).build();
        let mut editor: Editor<ReplHelper, DefaultHistory> =
            Editor::with_config(config).map_err(|e| format!("the terminal cannot be used for editing: {e}"))?;
        editor.set_helper(Some(ReplHelper { session: Rc::clone(&self.session) }));
        let history = history_file();
        if let Some(dir) = history.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing history file is the normal first start.
        let _ = editor.load_history(&history);
        let interrupted = Arc::new(AtomicBool::new(false));
        let _signals = forward_interrupts(&self.session.borrow(), &interrupted)?;
        loop {
            match editor.readline(">> ") {
                Ok(entry) if entry.trim().is_empty() => {}
                Ok(entry) => {
                    let _ = editor.add_history_entry(entry.as_str());
                    if let Err(e) = editor.append_history(&history) {
                        eprintln!("candlelit: could not save the history to {}: {e}", history.display());
                    }
                    interrupted.store(false, Ordering::SeqCst);
                    match self.command(&entry) {
                        Flow::Quit => break,
                        Flow::Done => {}
                        Flow::Evaluate => {
                            let failure = self.evaluate(&entry);
                            if let Some(mut error) = failure {
                                if error.kind == ErrorKind::Compile && interrupted.load(Ordering::SeqCst) {
                                    // Ctrl-C reaches the compiler too; say what happened, not what it printed.
                                    error.ename = "KeyboardInterrupt".into();
                                    error.evalue = "stopped while compiling; your variables are kept".into();
                                    error.details.clear();
                                }
                                self.print_error(&error);
                            }
                        }
                    }
                }
                Err(ReadlineError::Interrupted) => println!("(Ctrl-C: the line was dropped; Ctrl-D quits)"),
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(format!("reading the terminal failed: {e}")),
            }
        }
        Ok(())
    }

    /// Runs a script: entries end where the code is complete; the first error stops with its line number.
    fn script(&mut self, input: impl BufRead) -> Result<(), String> {
        let mut entry = String::new();
        let mut first_line = 1;
        for (index, line) in input.lines().enumerate() {
            let line = line.map_err(|e| format!("reading standard input failed: {e}"))?;
            if entry.trim().is_empty() {
                entry.clear();
                first_line = index + 1;
            }
            entry.push_str(&line);
            entry.push('\n');
            if entry.trim().is_empty() || matches!(completeness(&entry), Completeness::Incomplete { .. }) {
                continue;
            }
            let code = std::mem::take(&mut entry);
            match self.command(&code) {
                Flow::Quit => return Ok(()),
                Flow::Done => {}
                Flow::Evaluate => {
                    if let Some(error) = self.evaluate(&code) {
                        self.print_error(&error);
                        let last = first_line + code.trim_end().lines().count() - 1;
                        let lines = if last > first_line {
                            format!("lines {first_line}-{last}")
                        } else {
                            format!("line {first_line}")
                        };
                        return Err(format!("the script stopped at {lines}: {}", error.ename));
                    }
                }
            }
        }
        if entry.trim().is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the script ends inside an entry that starts at line {first_line} (an unclosed bracket or string?)"
            ))
        }
    }

    /// REPL commands (`:help`, ...); anything else is evaluated, including evcxr's own `:` commands.
    fn command(&mut self, entry: &str) -> Flow {
        let trimmed = entry.trim();
        match trimmed.split_whitespace().next().unwrap_or_default() {
            ":help" | ":h" | ":?" => println!("{HELP}"),
            ":quit" | ":q" | ":exit" => return Flow::Quit,
            ":device" => println!("{}", self.device_line()),
            ":vars" => self.vars(),
            ":clear" => match self.session.borrow_mut().clear() {
                Ok(()) => println!("every variable is gone; the prelude is loaded again"),
                Err(e) => eprintln!("candlelit: {e}"),
            },
            ":open" => self.open_last_figure(),
            _ => return Flow::Evaluate,
        }
        Flow::Done
    }

    /// Runs one entry and prints what it produced; returns its error.
    fn evaluate(&mut self, code: &str) -> Option<crate::session::CellError> {
        let mut failure = None;
        let session = Rc::clone(&self.session);
        let mut session = session.borrow_mut();
        // The display id whose one-line text (a progress bar) is on the current line, unfinished.
        let mut open_line: Option<String> = None;
        session.execute(code, &mut |output| {
            if let Some(id) = &open_line
                && !matches!(&output, Output::Update { id: updated, .. } if updated == id)
            {
                println!();
                open_line = None;
            }
            match output {
                Output::Stdout(text) => {
                    print!("{text}");
                    let _ = std::io::stdout().flush();
                }
                Output::Stderr(text) => eprint!("{text}"),
                Output::Display(bundle) | Output::Result(bundle) => self.show(&bundle),
                Output::Tracked { id, bundle } => match one_line(&bundle) {
                    Some(text) => {
                        print!("{text}");
                        let _ = std::io::stdout().flush();
                        open_line = Some(id);
                    }
                    None => self.show_tracked(&id, &bundle),
                },
                Output::Update { id, bundle } => match one_line(&bundle) {
                    Some(text) if open_line.as_deref() == Some(id.as_str()) => {
                        print!("\r\x1b[2K{text}");
                        let _ = std::io::stdout().flush();
                    }
                    _ => self.show_tracked(&id, &bundle),
                },
                Output::Page(text) => println!("{text}"),
                Output::Clear { .. } => {}
                Output::Error(error) => failure = Some(error),
            }
        });
        if open_line.is_some() {
            println!();
        }
        failure
    }

    /// Prints a value: a figure is saved to a file, anything else prints as text.
    fn show(&mut self, bundle: &MimeBundle) {
        let image = bundle.iter().find(|(mime, _)| mime == "image/svg+xml" || mime == "image/png");
        match image {
            Some((mime, data)) => match self.save_figure(mime, data) {
                Ok(path) => println!("figure saved to {} (:open shows it)", path.display()),
                Err(e) => eprintln!("candlelit: could not save the figure: {e}"),
            },
            None => {
                if let Some((_, text)) = bundle.iter().find(|(mime, _)| mime == "text/plain") {
                    println!("{}", text.trim_end());
                }
            }
        }
    }

    /// Shows a display that may be replaced later: a figure keeps one file, rewritten on each update (so an
    /// image viewer that reloads shows it growing); text prints again.
    fn show_tracked(&mut self, id: &str, bundle: &MimeBundle) {
        let image = bundle.iter().find(|(mime, _)| mime == "image/svg+xml" || mime == "image/png");
        match (image, self.tracked_figures.get(id)) {
            (Some((mime, data)), Some(path)) => {
                let written = if mime == "image/svg+xml" {
                    std::fs::write(path, data.as_bytes()).map_err(|e| e.to_string())
                } else {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(data.trim())
                        .map_err(|e| e.to_string())
                        .and_then(|bytes| std::fs::write(path, bytes).map_err(|e| e.to_string()))
                };
                if let Err(e) = written {
                    eprintln!("candlelit: could not update {}: {e}", path.display());
                }
            }
            (Some((mime, data)), None) => match self.save_figure(mime, data) {
                Ok(path) => {
                    println!("figure saved to {} (updated in place; :open shows it)", path.display());
                    self.tracked_figures.insert(id.to_string(), path);
                }
                Err(e) => eprintln!("candlelit: could not save the figure: {e}"),
            },
            (None, _) => self.show(bundle),
        }
    }

    fn save_figure(&mut self, mime: &str, data: &str) -> Result<PathBuf, String> {
        use base64::Engine as _;
        self.figures += 1;
        let (extension, bytes) = if mime == "image/png" {
            let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).map_err(|e| e.to_string())?;
            ("png", bytes)
        } else {
            ("svg", data.as_bytes().to_vec())
        };
        let path = PathBuf::from(format!("candlelit-figure-{}.{extension}", self.figures));
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        self.last_figure = Some(path.clone());
        Ok(path)
    }

    fn open_last_figure(&self) {
        let Some(path) = &self.last_figure else {
            println!("no figure yet: an entry that ends in a Figure saves one");
            return;
        };
        let viewer = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
        match std::process::Command::new(viewer).arg(path).spawn() {
            Ok(_) => println!("opening {} with {viewer}", path.display()),
            Err(e) => eprintln!("candlelit: could not run {viewer} ({e}); open {} yourself", path.display()),
        }
    }

    /// `:vars`: evcxr's list without the session's own bookkeeping variables.
    fn vars(&mut self) {
        let mut listing = String::new();
        let ok = self.session.borrow_mut().execute(":vars", &mut |output| match output {
            Output::Result(bundle) => {
                if let Some((_, text)) = bundle.iter().find(|(mime, _)| mime == "text/plain") {
                    listing.push_str(text);
                }
            }
            Output::Stdout(text) => listing.push_str(&text),
            _ => {}
        });
        let lines: Vec<&str> = listing.lines().filter(|l| !l.trim_start().starts_with("_candlelit")).collect();
        if !ok || lines.iter().all(|l| l.trim().is_empty()) {
            println!("no variables yet");
        } else {
            println!("{}", lines.join("\n"));
        }
    }

    /// `device: cpu (CUDA not available; CPU linear layers: OpenBLAS 0.3.21)`, from inside the session.
    fn device_line(&mut self) -> String {
        let code = "println!(\"device: {} (CUDA {}; CPU linear layers: {})\", \
                    candlelit::device::device_name(&device()?), \
                    if cuda_available() { \"available\" } else { \"not available\" }, \
                    cpu_blas().unwrap_or_else(|| \"the built-in gemm\".to_string()));";
        let mut line = String::new();
        self.session.borrow_mut().execute(code, &mut |output| {
            if let Output::Stdout(text) = output {
                line.push_str(text.trim_end());
            }
        });
        if line.is_empty() { "device: unknown (see :device)".into() } else { line }
    }

    fn print_error(&self, error: &crate::session::CellError) {
        let text = error.to_text();
        if self.colour {
            eprintln!("\x1b[0;31m{}\x1b[0m", text.lines().next().unwrap_or_default());
            for line in text.lines().skip(1) {
                eprintln!("{line}");
            }
        } else {
            eprintln!("{}", strip_ansi(&text));
        }
    }
}

enum Flow {
    Evaluate,
    Done,
    Quit,
}

/// `~/.candlelit/repl_history` (or under `$CANDLELIT_HOME`).
fn history_file() -> PathBuf {
    crate::paths::home().join("repl_history")
}

/// While an entry runs, the terminal's Ctrl-C reaches this process (and the one running cells, which stops at
/// its next loop step). This passes it to the session too, which restarts a process that ignores it.
fn forward_interrupts(
    session: &Session,
    interrupted: &Arc<AtomicBool>,
) -> Result<signal_hook::iterator::Handle, String> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])
        .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    let handle = signals.handle();
    let interrupter = session.interrupter();
    let interrupted = Arc::clone(interrupted);
    std::thread::spawn(move || {
        for _ in signals.forever() {
            interrupted.store(true, Ordering::SeqCst);
            interrupter.interrupt();
        }
    });
    Ok(handle)
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Completion from the session, continuation lines while the entry is incomplete.
struct ReplHelper {
    session: Rc<RefCell<Session>>,
}

const COMMANDS: [&str; 8] = [":help", ":vars", ":device", ":clear", ":open", ":doc", ":quit", ":timing"];

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &rustyline::Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        if before.starts_with(':') && !before.contains(' ') {
            let found = COMMANDS.iter().filter(|c| c.starts_with(before)).map(|c| pair(c)).collect();
            return Ok((0, found));
        }
        let Ok(mut session) = self.session.try_borrow_mut() else { return Ok((pos, Vec::new())) };
        let cursor = before.chars().count();
        let found = session.complete(line, cursor);
        let start = line.char_indices().nth(found.start).map_or(line.len(), |(i, _)| i);
        Ok((start, found.matches.iter().map(|m| pair(m)).collect()))
    }
}

fn pair(text: &str) -> Pair {
    Pair { display: text.to_string(), replacement: text.to_string() }
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        if input.trim_start().starts_with(':') {
            return Ok(ValidationResult::Valid(None));
        }
        Ok(match completeness(input) {
            Completeness::Incomplete { .. } => ValidationResult::Incomplete,
            _ => ValidationResult::Valid(None),
        })
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Highlighter for ReplHelper {}

impl Helper for ReplHelper {}

/// The text of a display when it is a single line (a progress bar): the REPL rewrites such a line in place.
fn one_line(bundle: &MimeBundle) -> Option<String> {
    if bundle.iter().any(|(mime, _)| mime.starts_with("image/")) {
        return None;
    }
    let (_, text) = bundle.iter().find(|(mime, _)| mime == "text/plain")?;
    let text = text.trim_end();
    (!text.contains('\n')).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_colours_are_dropped_for_pipes() {
        assert_eq!(strip_ansi("\x1b[1;31merror\x1b[0m: x"), "error: x");
    }
}
