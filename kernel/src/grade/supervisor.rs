//! The grader's side of one sandbox: starts `candlelit grade-worker` for a submission, feeds it the job, reads its
//! answer, stops the whole tree at the deadline (compilation included), and leaves nothing behind — no process,
//! no scratch file.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::cgroup::Cgroup;
use super::sandbox::{self, Isolation, Spec};
use super::worker::{Answer, JobRef};
use super::{Graded, Submission};
use crate::notebook::Notebook;

/// Most bytes of answer read from one worker; a worker that sends more is stopped.
const MAX_ANSWER: usize = 512 << 20;
/// What the sandbox may take beyond the cells' memory limit: the worker, cargo, rustc and rust-analyzer.
const TOOLS_MIB: u64 = 3072;
/// Time for starting the sandbox's session and loading the prelude, before the submission's own time starts.
const START_UP: Duration = Duration::from_secs(180);
/// Time for the worker to finish once its own deadline has passed: stop the last cell, send its answer.
const WIND_DOWN: Duration = Duration::from_secs(30);

/// Everything the submissions of a batch share.
pub struct Batch<'a> {
    /// What they are graded against.
    pub graded: &'a Graded,
    /// How they are isolated.
    pub isolation: &'a Isolation,
    /// The `candlelit` binary.
    pub exe: PathBuf,
    /// The compile cache, and the folder of this prelude's compile folders in it.
    pub cache: PathBuf,
    /// This prelude's folder of compile folders.
    pub slot_root: PathBuf,
    /// The compile folder in it that the batch's first session warmed, locked while the batch runs.
    pub warm_slot: crate::session::Slot,
    /// The prelude crate.
    pub prelude: PathBuf,
    /// Where sandboxes get their scratch folders.
    pub scratch: PathBuf,
}

/// A graded submission: its grades, and the notebook as graded when the worker got that far.
pub struct Outcome {
    /// The grades.
    pub submission: Submission,
    /// The graded notebook.
    pub notebook: Option<Notebook>,
    /// Processes of the sandbox still alive after it was stopped (0 unless something escaped the kill).
    pub left_behind: usize,
}

/// Grades `book` (the submission `name`, the `index`-th of the batch) in a sandbox of its own.
pub fn grade(batch: &Batch, index: usize, name: &str, book: &Notebook) -> Outcome {
    let scratch = batch.scratch.join(format!("submission-{index}"));
    let outcome = run(batch, index, &scratch, name, book);
    let _ = std::fs::remove_dir_all(&scratch);
    outcome.unwrap_or_else(|problem| Outcome {
        submission: super::zero(Path::new(name), &batch.graded.exercises, problem),
        notebook: None,
        left_behind: 0,
    })
}

fn run(batch: &Batch, index: usize, scratch: &Path, name: &str, book: &Notebook) -> Result<Outcome, String> {
    for dir in ["work", "home", "data"] {
        std::fs::create_dir_all(scratch.join(dir)).map_err(|e| format!("cannot create the sandbox's folder: {e}"))?;
    }
    if batch.isolation.private_cache() {
        sandbox::copy_cache(&batch.cache, &batch.slot_root, &batch.warm_slot.dir, scratch)
            .map_err(|e| format!("cannot copy the compile cache into the sandbox: {e}"))?;
    }
    let limits = &batch.graded.limits;
    let cgroup_name = format!("candlelit-grade-{}-{index}", std::process::id());
    let tree_memory = (limits.memory_mib + TOOLS_MIB) << 20;
    let cgroup = Cgroup::create(&cgroup_name, tree_memory, limits.tasks).ok();
    let spec = Spec {
        exe: &batch.exe,
        scratch,
        cache: &batch.cache,
        prelude: &batch.prelude,
        max_file: 4 << 30,
        max_data: tree_memory,
    };
    let mut command = batch.isolation.command(&spec, cgroup.as_ref());
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if std::env::var_os("CANDLELIT_DEBUG").is_some() {
        eprintln!("candlelit debug: sandbox command {command:?}");
    }
    let mut child = command.spawn().map_err(|e| format!("the sandbox did not start: {e}"))?;
    let group = i32::try_from(child.id()).ok().filter(|pid| *pid > 0);
    let job = JobRef { graded: batch.graded, submission: name, notebook: book.to_text() };
    let job = serde_json::to_string(&job).map_err(|e| format!("cannot write the job: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = stdin.write_all(job.as_bytes());
        });
    }
    let (answers_tx, answers) = crossbeam_channel::unbounded::<Answer>();
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let Some(stdout) = stdout else { return false };
        let mut read = 0usize;
        for line in BufReader::new(stdout.take(MAX_ANSWER as u64)).lines() {
            let Ok(line) = line else { break };
            read += line.len() + 1;
            if let Ok(answer) = serde_json::from_str::<Answer>(&line) {
                let _ = answers_tx.send(answer);
            }
        }
        read >= MAX_ANSWER
    });
    let stderr = child.stderr.take();
    let log = std::thread::spawn(move || tail_of(stderr));
    // Until the worker has loaded the prelude, it has START_UP; from then on, the submission's own time.
    let mut deadline = Instant::now() + START_UP;
    let (mut started, mut last, mut done) = (false, None, None);
    loop {
        match answers.recv_deadline(deadline) {
            Ok(Answer::Started) => {
                started = true;
                deadline = Instant::now() + limits.total + WIND_DOWN;
            }
            Ok(Answer::Partial(partial)) => last = Some(partial),
            Ok(Answer::Done { submission, notebook }) => {
                done = Some((submission, notebook));
                break;
            }
            // The worker ended, or the deadline passed.
            Err(_) => break,
        }
    }
    let timed_out = done.is_none() && Instant::now() >= deadline;
    // Everything the sandbox started goes, whatever happened: its process group, then what the cgroup still holds.
    // A pid that does not fit is never negated into "every process of the grader's own group".
    if let Some(group) = group {
        // SAFETY: kill(2) has no memory-safety requirements; the group is the sandbox's own (setsid in its first
        // process).
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
    let _ = child.kill();
    let status = child.wait().ok();
    let flooded = reader.join().unwrap_or(false);
    let log = log.join().unwrap_or_default();
    let out_of_memory = cgroup.as_ref().is_some_and(Cgroup::ran_out_of_memory);
    let left_behind = cgroup.as_ref().map_or(0, |c| {
        c.kill_all();
        c.processes().len()
    });
    drop(cgroup);
    let mut problems = Vec::new();
    if out_of_memory {
        problems.push(format!(
            "it ran out of memory: the whole submission (cells, compiler and grader) may use {} MiB",
            limits.memory_mib + TOOLS_MIB
        ));
    }
    let (mut submission, notebook) = match done {
        Some((submission, notebook)) => (submission, Notebook::parse(&notebook).ok()),
        None => {
            let why = if timed_out && started {
                format!(
                    "grading stopped: the submission used up its {:.0} s (cells and their compilation) and its sandbox \
                     was stopped; exercises not graded by then get no points",
                    limits.total.as_secs_f64()
                )
            } else if timed_out {
                format!(
                    "grading stopped: the submission's sandbox did not load the prelude within {} s (is the grading \
                     machine overloaded? try fewer --jobs) and was stopped",
                    START_UP.as_secs()
                )
            } else if flooded {
                "grading stopped: the submission's sandbox sent more than 512 MiB of answer and was stopped".into()
            } else {
                format!(
                    "grading stopped: the submission's sandbox ended without a grade ({}){}",
                    status.map_or_else(|| "no status".to_string(), |s| s.to_string()),
                    last_candlelit_line(&log)
                )
            };
            problems.push(why);
            let partial = last.unwrap_or_else(|| super::zero(Path::new(name), &batch.graded.exercises, String::new()));
            (partial, None)
        }
    };
    submission.problems.retain(|p| !p.is_empty());
    submission.problems.extend(problems);
    Ok(Outcome { submission, notebook, left_behind })
}

/// The last 64 KiB of what the worker wrote on stderr (compiler chatter, its own errors).
fn tail_of(stderr: Option<std::process::ChildStderr>) -> String {
    let Some(mut stderr) = stderr else { return String::new() };
    let mut kept: Vec<u8> = Vec::new();
    let mut buffer = [0u8; 8192];
    while let Ok(n) = stderr.read(&mut buffer) {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buffer[..n]);
        if kept.len() > 128 << 10 {
            kept.drain(..kept.len() - (64 << 10));
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The worker's last own message in its log (`: candlelit: …`), to say why it ended.
fn last_candlelit_line(log: &str) -> String {
    log.lines().rev().find(|l| l.starts_with("candlelit")).map(|line| format!(": {line}")).unwrap_or_default()
}
