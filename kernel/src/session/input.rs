//! Answering a cell that waits for input: the prelude's `input()` and `getpass()` (which say so with a protocol
//! line) and, on Linux, a plain `std::io::stdin().read_line(...)` (found by looking at what the cell's process
//! is blocked in). The front end supplies the answer through an [`InputSource`]: Jupyter's `input_request`, the
//! REPL's terminal, or [`headless`] for runs with nobody to type.
//!
//! The answer goes into the cell process's standard input, the pipe evcxr sends its commands on: while a cell
//! runs, evcxr reads no commands, so the line the cell reads is the answer.

use std::io::Write;

use candlelit::protocol::NO_INPUT;

/// What a cell asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRequest {
    /// The prompt (empty for a plain `read_line`).
    pub prompt: String,
    /// Hide what is typed.
    pub password: bool,
}

/// Where answers come from: the typed line, or why there is none.
pub type InputSource = Box<dyn FnMut(&InputRequest) -> Result<String, String> + Send>;

/// What a run with nobody to type answers.
pub const HEADLESS: &str = "nobody can type an answer in a headless run (candlelit run, papermill, nbconvert, the grader); give the value \
     in the notebook instead";

/// The source for runs with nobody to type: every request gets an error that says so.
pub fn headless() -> InputSource {
    Box::new(|_| Err(HEADLESS.to_string()))
}

/// How the cell reads: through the prelude (which understands "no answer") or straight from stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reader {
    Prelude,
    Raw,
}

/// The bytes to write for `answer`: one line. With no answer, the prelude gets [`NO_INPUT`] and the reason; a raw
/// `read_line` gets a line that is not UTF-8, so that it fails instead of reading an empty answer.
pub(super) fn line_for(reader: Reader, answer: &Result<String, String>) -> Vec<u8> {
    match (reader, answer) {
        (_, Ok(text)) => format!("{}\n", text.replace(['\n', '\r'], " ")).into_bytes(),
        (Reader::Prelude, Err(why)) => format!("{NO_INPUT}{}\n", why.replace(['\n', '\r'], " ")).into_bytes(),
        (Reader::Raw, Err(_)) => vec![0xff, b'\n'],
    }
}

/// Writes `bytes` into the standard input of process `pid`.
///
/// # Errors
/// When the pipe cannot be opened (not Linux, or the process is gone).
pub(super) fn write_to_stdin(pid: i32, bytes: &[u8]) -> std::io::Result<()> {
    // On Linux, opening /proc/PID/fd/0 for writing opens the write end of the same pipe.
    let mut pipe = std::fs::OpenOptions::new().write(true).open(format!("/proc/{pid}/fd/0"))?;
    pipe.write_all(bytes)
}

/// Watches whether the cell's process is blocked reading its stdin, after it has read the command that started
/// the cell (before that, evcxr itself waits on stdin while the cell compiles).
pub(super) struct StdinWatch {
    pid: Option<i32>,
    /// Bytes the process had read when the cell was sent.
    read_at_start: Option<u64>,
    /// The process was seen blocked on stdin at the last poll, having read this much.
    seen: Option<u64>,
}

impl StdinWatch {
    /// Starts watching process `pid` (call before the cell is sent).
    pub(super) fn new(pid: Option<i32>) -> StdinWatch {
        StdinWatch { pid, read_at_start: pid.and_then(bytes_read), seen: None }
    }

    /// Whether the cell now waits for a line: blocked reading fd 0 at this poll and the one before, with nothing
    /// read in between, and more read than when the cell was sent (the command that runs it).
    pub(super) fn waiting(&mut self) -> bool {
        let (Some(pid), Some(start)) = (self.pid, self.read_at_start) else { return false };
        let now = if reading_stdin(pid) { bytes_read(pid).filter(|read| *read > start) } else { None };
        let waiting = now.is_some() && now == self.seen;
        self.seen = if waiting { None } else { now };
        waiting
    }

    /// After an answer: the read count moves on, so the next wait is told apart.
    pub(super) fn answered(&mut self) {
        self.seen = None;
    }
}

/// Whether some thread of `pid` is in `read(0, …)`.
fn reading_stdin(pid: i32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    let read = libc::SYS_read.to_string();
    tasks.filter_map(Result::ok).any(|task| {
        std::fs::read_to_string(task.path().join("syscall")).is_ok_and(|call| {
            let mut fields = call.split_whitespace();
            fields.next() == Some(read.as_str()) && fields.next() == Some("0x0")
        })
    })
}

/// Bytes process `pid` has read so far (`rchar` in /proc/PID/io).
fn bytes_read(pid: i32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines().find_map(|line| line.strip_prefix("rchar:")).and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_one_line_and_no_answer_is_told_apart() {
        assert_eq!(line_for(Reader::Raw, &Ok("two\nlines".into())), b"two lines\n");
        let none = String::from_utf8(line_for(Reader::Prelude, &Err("headless".into()))).expect("utf-8");
        assert_eq!(none, format!("{NO_INPUT}headless\n"));
        assert!(std::str::from_utf8(&line_for(Reader::Raw, &Err("x".into()))).is_err(), "read_line must fail");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_blocked_on_its_stdin_is_seen_waiting_and_one_that_sleeps_is_not() {
        use std::process::{Command, Stdio};
        let reading = Command::new("sh")
            .args(["-c", "read line; echo \"$line\""])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh");
        let mut sleeper = Command::new("sleep").arg("30").stdin(Stdio::piped()).spawn().expect("sleep");
        let pid = |c: &std::process::Child| i32::try_from(c.id()).ok();
        // Watching from before anything was read, as the session does before it sends a cell.
        let mut watch = StdinWatch { pid: pid(&reading), read_at_start: Some(0), seen: None };
        let mut idle = StdinWatch { pid: pid(&sleeper), read_at_start: Some(0), seen: None };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !watch.waiting() {
            assert!(std::time::Instant::now() < deadline, "sh never seen waiting on its stdin");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(!idle.waiting() && !idle.waiting(), "sleep does not read its stdin");
        write_to_stdin(pid(&reading).expect("pid"), b"typed\n").expect("written");
        let out = reading.wait_with_output().expect("sh ends");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "typed\n");
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
}
