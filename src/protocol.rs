//! The line protocol between the process that runs notebook cells and the candlelit session that reads it.
//!
//! Learners never use this module. A cell's process has one channel back to the session: its standard output. The
//! prelude writes each event the session must see — a display, an update of one, a clear, a panic, the start of a
//! cell's run — as one line: [`PREFIX`] and a JSON object with a `kind`. Everything else on stdout is what the cell
//! printed. This module is the only place either side encodes or decodes such a line: the prelude writes with
//! [`emit`], the session reads with [`parse`].
//!
//! A line is found by its prefix wherever it starts, so a cell that leaves stdout mid-line (`print!("x")` with no
//! newline) does not hide the event that follows: the text before the prefix is ordinary output. The prefix starts
//! with a control character that JSON always escapes, so no encoded event contains it.
//!
//! ```
//! use candlelit::protocol::{Message, encode, parse};
//! let line = format!("loss 0.3{}", encode(&Message::Clear { wait: true }));
//! let parsed = parse(&line);
//! assert_eq!(parsed.text, "loss 0.3");
//! assert_eq!(parsed.message, Some(Ok(Message::Clear { wait: true })));
//! ```

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

/// What starts every protocol line.
pub const PREFIX: &str = "\u{1}candlelit:";

/// What evcxr prints on stderr for an error the prelude already reported as [`Message::Error`]; the session drops
/// this line.
pub const REPORTED: &str = "\u{1}candlelit: error reported";

/// One value's forms: mime type → content (`image/png` content is base64).
pub type Bundle = BTreeMap<String, String>;

/// One event from the cell's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// Compilation is over and the cell's code starts to run.
    Running,
    /// The cell stopped at a checkpoint because an interrupt was requested.
    Interrupted,
    /// The cell panicked.
    Panic {
        /// The panic's message.
        message: String,
        /// `file:line`, when known.
        location: String,
    },
    /// A `?` at the top of a cell returned an error.
    Error {
        /// A short, PyTorch-like name of the error's kind (`ShapeError`, ...).
        ename: String,
        /// The message, without backtrace.
        message: String,
        /// What to try, when the prelude knows.
        hint: Option<String>,
    },
    /// Show a value now.
    Display {
        /// Its forms.
        bundle: Bundle,
    },
    /// Show a value that later [`Message::Update`]s with the same id replace.
    Tracked {
        /// The display id.
        id: String,
        /// Its forms.
        bundle: Bundle,
    },
    /// Replace what the display `id` shows (show it, if it is new).
    Update {
        /// The display id.
        id: String,
        /// The new forms.
        bundle: Bundle,
    },
    /// Clear the cell's output; with `wait`, when the next output arrives.
    Clear {
        /// Keep the old output until new output replaces it.
        wait: bool,
    },
    /// The cell waits for a line of input on its stdin ([`crate::input::input`]); the session writes the answer
    /// there, or a line starting with [`NO_INPUT`].
    InputRequest {
        /// What to show in front of the answer.
        prompt: String,
        /// Hide what is typed.
        password: bool,
    },
}

/// How the session's answer to an [`Message::InputRequest`] starts when there is no answer: the rest of the line
/// says why (a headless run, a front-end that takes no input, an interrupt).
pub const NO_INPUT: &str = "\u{1}candlelit:no-input ";

/// An exercise's verdict as the grader reads it: the JSON content of a check's
/// [`CHECK_MIME`](crate::exercises::CHECK_MIME) form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// The exercise's id.
    pub exercise: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// "all checks passed", or what is wrong.
    pub message: String,
    /// The grader's nonce for the check cell that produced it; only checks the grader runs carry one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The line for `message`, without its newline.
pub fn encode(message: &Message) -> String {
    // A map of strings always serialises; the fallback keeps the line a valid event all the same.
    let json = serde_json::to_string(message).unwrap_or_else(|_| r#"{"kind":"running"}"#.to_string());
    format!("{PREFIX}{json}")
}

/// Writes `message` as one line on stdout, in one write, and flushes it.
pub fn emit(message: &Message) {
    let line = encode(message) + "\n";
    let mut out = std::io::stdout().lock();
    // Printing only fails when stdout is closed; there is then nobody to tell.
    let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
}

/// A line of the cell's stdout, split into what the cell printed and the event that ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Text the cell printed before the event (the whole line when there is none).
    pub text: &'a str,
    /// The event, or why its JSON could not be read; `None` for a plain line.
    pub message: Option<Result<Message, String>>,
}

/// Splits one stdout line (without its newline). The last [`PREFIX`] on the line starts the event: an encoded
/// event never contains the prefix, so text a cell printed before one cannot hide or change it.
pub fn parse(line: &str) -> Parsed<'_> {
    match line.rfind(PREFIX) {
        None => Parsed { text: line, message: None },
        Some(at) => {
            let json = &line[at + PREFIX.len()..];
            let message = serde_json::from_str::<Message>(json).map_err(|e| format!("unreadable event ({e})"));
            Parsed { text: &line[..at], message: Some(message) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_survives_a_round_trip_on_one_line() {
        let bundle: Bundle = [("text/plain".to_string(), "a\nb \u{1} \"q\"".to_string())].into();
        let messages = [
            Message::Running,
            Message::Interrupted,
            Message::Panic { message: "index 3\nout of range".into(), location: "src/lib.rs:4".into() },
            Message::Error { ename: "ShapeError".into(), message: "m".into(), hint: None },
            Message::Display { bundle: bundle.clone() },
            Message::Tracked { id: "x y".into(), bundle: bundle.clone() },
            Message::Update { id: "x".into(), bundle },
            Message::Clear { wait: false },
            Message::InputRequest { prompt: "name? ".into(), password: true },
        ];
        for message in messages {
            let line = encode(&message);
            assert!(!line.contains('\n') && line.matches(PREFIX).count() == 1, "{line:?}");
            assert_eq!(parse(&line), Parsed { text: "", message: Some(Ok(message)) });
        }
    }

    #[test]
    fn text_before_an_event_is_output_and_a_forged_prefix_does_not_hide_it() {
        let clear = encode(&Message::Clear { wait: true });
        assert_eq!(parse("plain text").message, None);
        let forged = format!("x{PREFIX}{{\"kind\": {clear}");
        let parsed = parse(&forged);
        assert_eq!(parsed.message, Some(Ok(Message::Clear { wait: true })));
        assert!(parsed.text.starts_with('x'));
        assert!(matches!(parse(&format!("{PREFIX}not json")).message, Some(Err(_))));
    }
}
