//! Outputs a cell sends while it runs: `display` and `clear_output`, as in IPython.
//!
//! A cell's last value is shown when the cell ends. To show something *during* a cell — a loss curve redrawn
//! every epoch, a grid of images before training starts — call [`display`]; to replace what is shown, call
//! [`clear_output`] first:
//!
//! ```no_run
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let mut losses = Vec::new();
//! for epoch in 0..5 {
//!     losses.push(1.0 / (epoch as f64 + 1.0));
//!     clear_output(true); // wait: the old curve stays until the new one arrives, so nothing flickers
//!     display(&Figure::new().line("loss", &losses).title("training loss"));
//! }
//! # Ok(()) }
//! ```
//!
//! In a candlelit session (notebook or REPL) each call becomes one Jupyter message. In any other program
//! `display` prints the plain-text form and `clear_output` does nothing, so lesson code runs anywhere.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Result, Tensor, Var};

use crate::display::Shown;
use crate::plot::Figure;
use crate::protocol::{self, Message};

/// Whether this process runs cells for a candlelit session (set by [`crate::cell::install`]). A plain static: cells
/// link the prelude as one shared library, so there is one per process, and nothing public can change it.
static IN_SESSION: AtomicBool = AtomicBool::new(false);

/// Marks this process as one that runs cells for a session.
pub(crate) fn enter_session() {
    IN_SESSION.store(true, Ordering::SeqCst);
}

/// Whether this process runs cells for a session.
pub(crate) fn in_session() -> bool {
    IN_SESSION.load(Ordering::SeqCst)
}

/// A value with rich forms a notebook can show: figures and tensors.
pub trait Rich {
    /// The forms of the value, `(mime type, content)`, richest first; `text/plain` is always one of them.
    ///
    /// # Errors
    /// When the value cannot be drawn or read (a figure with no data, a tensor on a failed device).
    fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>>;
}

impl Rich for Figure {
    fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        Figure::mime_bundle(self)
    }
}

impl Rich for Shown {
    fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        Shown::mime_bundle(self)
    }
}

impl Rich for Tensor {
    fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        crate::display::show(self).mime_bundle()
    }
}

impl Rich for Var {
    fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        crate::display::show(self.as_tensor()).mime_bundle()
    }
}

/// Shows `value` now, below the cell, without waiting for the cell to end (IPython's `display`).
///
/// A value that cannot be drawn prints why on stderr; the cell goes on.
pub fn display<T: Rich + ?Sized>(value: &T) {
    match value.mime_bundle() {
        Ok(bundle) if in_session() => protocol::emit(&Message::Display { bundle: to_bundle(&bundle) }),
        Ok(bundle) => {
            let text = bundle.iter().find(|(mime, _)| *mime == "text/plain").map_or("", |(_, text)| text.as_str());
            line(text);
        }
        Err(e) => eprintln!("candlelit: cannot display this: {}", crate::hints::message(&e)),
    }
}

/// Clears what the cell has shown so far (IPython's `clear_output`). With `wait = true` the old output stays
/// until the next output replaces it, which makes redrawing a figure in a loop smooth.
pub fn clear_output(wait: bool) {
    if in_session() {
        protocol::emit(&Message::Clear { wait });
    }
}

/// A display that can be replaced in place later, like IPython's `display(x, display_id=True)` and
/// `handle.update(y)`: a progress bar, a figure redrawn after each epoch. In Jupyter the update replaces the
/// output where it is (`update_display_data`), even from a later cell; in the REPL a one-line text display is
/// rewritten on its line.
///
/// ```no_run
/// use candlelit::prelude::*;
/// let mut losses = vec![1.0];
/// let handle = DisplayHandle::show(&Figure::new().line("loss", &losses));
/// for epoch in 1..5 {
///     losses.push(1.0 / (epoch as f64 + 1.0));
///     handle.update(&Figure::new().line("loss", &losses));
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayHandle {
    id: String,
}

impl DisplayHandle {
    /// A handle with a fresh id, nothing shown yet: the first [`update`](Self::update) shows.
    pub fn new() -> Self {
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        Self { id: format!("candlelit-{}-{nanos:x}-{n}", std::process::id()) }
    }

    /// Shows `value` now and returns the handle that replaces it.
    pub fn show<T: Rich + ?Sized>(value: &T) -> Self {
        let handle = Self::new();
        handle.emit(value, false);
        handle
    }

    /// Replaces what this handle shows with `value` (shows it, the first time).
    pub fn update<T: Rich + ?Sized>(&self, value: &T) {
        self.emit(value, true);
    }

    /// The display id Jupyter knows this output by.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn emit<T: Rich + ?Sized>(&self, value: &T, update: bool) {
        match value.mime_bundle() {
            Ok(bundle) if in_session() => {
                let (id, bundle) = (self.id.clone(), to_bundle(&bundle));
                protocol::emit(&if update { Message::Update { id, bundle } } else { Message::Tracked { id, bundle } });
            }
            Ok(bundle) => {
                let text = bundle.iter().find(|(mime, _)| *mime == "text/plain").map_or("", |(_, text)| text.as_str());
                line(text);
            }
            Err(e) => eprintln!("candlelit: cannot display this: {}", crate::hints::message(&e)),
        }
    }
}

impl Default for DisplayHandle {
    fn default() -> Self {
        Self::new()
    }
}

/// A value given as its forms, `(mime type, content)`: what [`DisplayHandle`] shows for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle(pub Vec<(&'static str, String)>);

impl Rich for Bundle {
    fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        Ok(self.0.clone())
    }
}

/// Whether cells run in a candlelit session (notebook or REPL), where displays become Jupyter messages.
pub fn in_candlelit_session() -> bool {
    in_session()
}

/// Sends `value` to the session as a display whether or not this process is marked as a session's: what the
/// grader's checks use, so that no state a cell can reach turns their verdicts into plain text.
pub(crate) fn display_to_session<T: Rich + ?Sized>(value: &T) {
    match value.mime_bundle() {
        Ok(bundle) => protocol::emit(&Message::Display { bundle: to_bundle(&bundle) }),
        Err(e) => eprintln!("candlelit: cannot display this: {}", crate::hints::message(&e)),
    }
}

/// The forms of a value as the protocol carries them.
fn to_bundle(bundle: &[(&'static str, String)]) -> protocol::Bundle {
    bundle.iter().map(|(mime, content)| (mime.to_string(), content.clone())).collect()
}

fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    // Printing only fails when stdout is closed; there is then nobody to tell.
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn a_display_is_one_protocol_line_holding_every_form() {
        let t = Tensor::new(&[1f32, 2.], &Device::Cpu).expect("tensor");
        let shown = protocol::encode(&Message::Display { bundle: to_bundle(&Rich::mime_bundle(&t).expect("bundle")) });
        assert!(!shown.contains('\n'), "one line: {shown}");
        let Some(Ok(Message::Display { bundle })) = protocol::parse(&shown).message else { panic!("{shown}") };
        assert!(bundle["text/plain"].starts_with("Tensor(shape=[2]"));
        assert!(bundle["text/html"].contains("<table"));
    }
}
