//! Reads what the cell's process prints: protocol lines ([`candlelit::protocol`]) become typed outputs and the
//! cell's error, everything else is the cell's own text.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use candlelit::protocol::{self, Message, REPORTED};

use super::control::Control;
use super::input::InputRequest;
use super::outputs::richness;
use super::{CellError, ErrorKind, MimeBundle, Output};

/// Sorts what the child prints into outputs and remembers how the cell ended.
pub(super) struct Reader<'a> {
    error: Option<CellError>,
    displays: &'a mut HashSet<String>,
    /// The cell asked for a line of input (the prelude's `input`), not answered yet.
    input: Option<InputRequest>,
}

impl<'a> Reader<'a> {
    /// A reader for one cell; `displays` holds the display ids shown so far in the session.
    pub(super) fn new(displays: &'a mut HashSet<String>) -> Self {
        Reader { error: None, displays, input: None }
    }

    /// The input the cell asked for since the last call, if it did.
    pub(super) fn take_input_request(&mut self) -> Option<InputRequest> {
        self.input.take()
    }

    /// How the cell failed, when the process said so (a panic, a failed `?`, an interrupt).
    pub(super) fn into_error(self) -> Option<CellError> {
        self.error
    }

    /// One line of the cell's stdout, without its newline.
    pub(super) fn stdout(&mut self, line: &str, control: &Arc<Control>, sink: &mut dyn FnMut(Output)) {
        let parsed = protocol::parse(line);
        let message = match parsed.message {
            None => return sink(Output::Stdout(format!("{line}\n"))),
            // Not an event the prelude wrote: show the line as the cell printed it.
            Some(Err(_)) => return sink(Output::Stdout(format!("{line}\n"))),
            Some(Ok(message)) => message,
        };
        // Text the cell left on the line before the event (`print!` without a newline) is still its output.
        if !parsed.text.is_empty() {
            sink(Output::Stdout(parsed.text.to_string()));
        }
        match message {
            Message::Running => {
                control.set_running(true);
                if control.pending.swap(false, Ordering::SeqCst) {
                    control.signal(control.cell.load(Ordering::SeqCst));
                }
            }
            Message::Interrupted => {
                let mut error = CellError::new(
                    ErrorKind::Interrupted,
                    "KeyboardInterrupt",
                    "the cell was interrupted; variables from earlier cells are kept",
                );
                error.hint = Some("variables this cell was creating were not saved".into());
                self.error.get_or_insert(error);
            }
            Message::Panic { message, .. } => {
                let mut error = CellError::new(ErrorKind::Panic, "Panic", message);
                error.hint = Some("a panic stops the cell; variables from earlier cells are kept".into());
                self.error.get_or_insert(error);
            }
            Message::Error { ename, message, hint } => {
                let mut error = CellError::new(ErrorKind::Runtime, &ename, message);
                error.hint = hint;
                self.error.get_or_insert(error);
            }
            Message::Display { bundle } => sink(Output::Display(sorted(bundle))),
            Message::Tracked { id, bundle } => {
                self.displays.insert(id.clone());
                sink(Output::Tracked { id, bundle: sorted(bundle) });
            }
            Message::Update { id, bundle } => {
                let bundle = sorted(bundle);
                if self.displays.insert(id.clone()) {
                    sink(Output::Tracked { id, bundle });
                } else {
                    sink(Output::Update { id, bundle });
                }
            }
            Message::Clear { wait } => sink(Output::Clear { wait }),
            Message::InputRequest { prompt, password } => self.input = Some(InputRequest { prompt, password }),
        }
    }

    /// One line of the cell's stderr, without its newline.
    pub(super) fn stderr(&mut self, line: &str, sink: &mut dyn FnMut(Output)) {
        if line != REPORTED {
            sink(Output::Stderr(format!("{line}\n")));
        }
    }
}

/// A protocol bundle, richest form first.
fn sorted(bundle: protocol::Bundle) -> MimeBundle {
    let mut bundle: MimeBundle = bundle.into_iter().collect();
    bundle.sort_by_key(|(mime, _)| richness(mime));
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_comes_richest_first() {
        let bundle: protocol::Bundle =
            [("text/plain".into(), "Figure".into()), ("image/svg+xml".into(), "<svg/>".into())].into();
        assert_eq!(
            sorted(bundle),
            vec![("image/svg+xml".into(), "<svg/>".into()), ("text/plain".into(), "Figure".into())]
        );
    }
}
