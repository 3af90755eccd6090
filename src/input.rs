//! Asking the person at the notebook for a line of text, like Python's `input()` and `getpass()`.
//!
//! In a notebook the question appears under the cell as a text box (Jupyter's `input_request`); in the REPL it
//! is asked in the terminal. A run with nobody to answer — `candlelit run`, papermill, the grader — answers with
//! an error the cell sees instead of waiting forever, so a lesson should give such values in its `parameters`
//! cell as well.
//!
//! ```no_run
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let name = input("What is your name? ")?;
//! println!("Hello, {name}!");
//! # Ok(())
//! # }
//! ```
//!
//! `std::io::stdin().read_line(...)` in a cell is answered the same way (on Linux), without a prompt.

use std::io::{BufRead, Write};

use candle_core::{Error, Result};

use crate::protocol::{self, Message, NO_INPUT};

/// Shows `prompt` and returns the line the person types, without its line break.
///
/// # Errors
/// When nobody can answer (a headless run, a front-end that takes no input) the error says so; an interrupt
/// (■ or Ctrl-C) while it waits stops the cell like any other interrupt.
pub fn input(prompt: &str) -> Result<String> {
    ask(prompt, false)
}

/// Like [`input`], but what is typed is not shown (for a password or an API key).
///
/// # Errors
/// As for [`input`].
pub fn getpass(prompt: &str) -> Result<String> {
    ask(prompt, true)
}

fn ask(prompt: &str, password: bool) -> Result<String> {
    let mut line = String::new();
    if crate::output::in_session() {
        if !cfg!(target_os = "linux") {
            // The session answers through the cell process's stdin pipe, which only Linux lets it open.
            return Err(Error::Msg("input() in a notebook needs Linux; give the value in the cell instead".into()));
        }
        protocol::emit(&Message::InputRequest { prompt: prompt.to_string(), password });
    } else {
        // A plain program (a test, a binary using the prelude): ask on the terminal as it is.
        let mut out = std::io::stdout().lock();
        out.write_all(prompt.as_bytes()).and_then(|()| out.flush()).map_err(Error::wrap)?;
    }
    std::io::stdin().lock().read_line(&mut line).map_err(Error::wrap)?;
    if let Some(why) = line.strip_prefix(NO_INPUT) {
        // An interrupt while waiting ends the cell as an interrupt, not as an error.
        crate::cell::checkpoint();
        return Err(Error::Msg(format!("no input: {}", why.trim_end())));
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
