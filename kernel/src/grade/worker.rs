//! `candlelit grade-worker`: grades one submission inside its sandbox (started by the grader, never by hand).
//!
//! It reads a [`Job`] as JSON on stdin, starts its own session, grades, and answers on stdout with one JSON
//! [`Answer`] per line: that its session has loaded, a partial grade after every exercise's checks (so a sandbox stopped later keeps what it
//! graded), then the grade and the graded notebook. Nothing else writes to its stdout: the cells' process, cargo
//! and rustc print into pipes of evcxr's. The worker makes itself non-dumpable, so code in the cells cannot read
//! its memory or open its file descriptors through `/proc` (the grader's answer channel among them).

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Graded, Submission};
use crate::notebook::Notebook;
use crate::session::{Options, Session};

/// What the grader sends: a [`Job`] it does not own.
#[derive(Debug, Serialize)]
pub struct JobRef<'a> {
    /// The lesson's exercises, checks, allowed commands and limits.
    pub graded: &'a Graded,
    /// The submission's name, as the report shows it.
    pub submission: &'a str,
    /// The submission, parameters applied, as notebook JSON.
    pub notebook: String,
}

/// What the worker grades.
#[derive(Debug, Deserialize)]
pub struct Job {
    /// The lesson's exercises, checks, allowed commands and limits.
    pub graded: Graded,
    /// The submission's name, as the report shows it.
    pub submission: String,
    /// The submission, parameters applied, as notebook JSON.
    pub notebook: String,
}

/// One line of the worker's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The session has loaded the prelude: the submission's own time (`--total-timeout`) starts now.
    Started,
    /// The grades so far (exercises not reached yet say so).
    Partial(Submission),
    /// The grades, and the notebook as graded (outputs and verdicts).
    Done {
        /// The grades.
        submission: Submission,
        /// The graded notebook as JSON.
        notebook: String,
    },
}

/// Runs `candlelit grade-worker`.
///
/// # Errors
/// When the job cannot be read or the session cannot start; the grader reports it for the submission.
pub fn serve() -> Result<(), String> {
    // SAFETY: prctl(PR_SET_DUMPABLE) takes plain integers. (Linux only: elsewhere there is no sandbox to guard.)
    #[cfg(target_os = "linux")]
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
    };
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read the job: {e}"))?;
    let job: Job = serde_json::from_str(&text).map_err(|e| format!("unreadable job: {e}"))?;
    crate::session::memory::limit_sessions(job.graded.limits.memory_mib);
    let mut book = Notebook::parse(&job.notebook)?;
    let mut session = Session::start(Options::from_env())?;
    answer(&Answer::Started);
    let path = Path::new(&job.submission);
    let submission = super::grade(&mut session, &mut book, path, &job.graded, &mut |partial| {
        answer(&Answer::Partial(partial));
    });
    answer(&Answer::Done { submission, notebook: book.to_text() });
    Ok(())
}

fn answer(answer: &Answer) {
    if let Ok(line) = serde_json::to_string(answer) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
}
