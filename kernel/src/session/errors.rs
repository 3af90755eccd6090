//! How a cell failed, in words a learner reads: the kinds of failure, and rustc's errors turned into a message
//! about the learner's own code.

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

/// rustc's errors, shown against the learner's own lines.
pub(super) fn compile_error(errors: &[evcxr::CompilationError], code: &str) -> CellError {
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
