//! `candlelit grade SUBMISSION.ipynb...`: auto-grades learners' notebooks against the lesson they answer.
//!
//! Each submission is graded in a sandbox of its own ([`sandbox`]: a `candlelit grade-worker` process tree the
//! grader limits and kills whole, [`supervisor`]), `--jobs N` at a time. In it:
//! 1. every code cell runs in order, except the learner's copies of check cells (tagged `check`);
//! 2. right after an exercise's cell (tagged `exercise`, id `exercise-ID`) the grader runs that exercise's
//!    checks **from the lesson source**: the visible check and the hidden ones. An exercise whose cell was
//!    deleted has its checks run after the last cell, so a learner who answered in a new cell is not penalised;
//! 3. an exercise earns its points when its own cell ran and every one of its checks gave exactly its verdicts,
//!    with the check cell's nonce, all ✔, and ended cleanly ([`checks`]). Editing, deleting or faking a check
//!    cell gains nothing.
//!
//! Cells have a time limit each and the submission one in all; the process running the cells has a memory
//! limit, and so has the whole sandbox where a cgroup can be made; a cell keeps at most `--output-limit` of
//! output. A submission that does not compile, panics, loops forever or runs out of memory gets zero for the
//! exercises it broke, a message saying so, and the grader goes on with the next one.
//!
//! # Report (`--json`)
//! ```text
//! {
//!   "format": "candlelit-grade/1",
//!   "lesson": "lessons/day05-fashion.md",
//!   "max_points": 5,
//!   "exercises": [{"id": "square", "max_points": 2}, ...],        // lesson order
//!   "submissions": [{
//!     "submission": "alice.ipynb",
//!     "points": 2, "max_points": 5,
//!     "seconds": 14.2,                                            // time spent grading it
//!     "problems": ["cell 3 failed: Panic: ..."],                  // what went wrong outside exercises
//!     "exercises": [{"id": "square", "passed": true, "points": 2, "max_points": 2,
//!                    "feedback": "all checks passed"}, ...]       // every lesson exercise, lesson order
//!   }, ...]
//! }
//! ```
//! The CSV gradebook (`--csv`) has one row per submission: `submission`, one column of points per exercise,
//! `total`, `max_points`; a cell a spreadsheet would run as a formula (`=…`, `+…`, `-…`, `@…`) starts with `'`.
//! Both are rewritten, whole, after every submission, so a batch stopped half-way keeps what it graded.
//!
//! # Feedback notebooks (`--feedback DIR`)
//! Each submission as it was graded, like nbgrader's feedback: a first cell with the points and the feedback of
//! every exercise, every cell with the outputs it gave when the grader ran it, and in each check cell what the
//! lesson's checks (visible and hidden) said. Written to `DIR/` + the submission's path below the folder the
//! submissions share (`submitted/alice/day02.ipynb` → `DIR/alice/day02.ipynb`), for learners to open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

mod cgroup;
mod checks;
mod sandbox;
mod supervisor;
pub mod worker;

use sandbox::Isolation;

use crate::lessons::{Exercise, Lesson};
use crate::notebook::{self, Notebook};
use crate::runner::{CellRun, execute_cell};
use crate::session::{ErrorKind, Options, Session};

/// Options of `candlelit grade`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The learners' notebooks.
    #[arg(required = true, value_name = "SUBMISSION.ipynb")]
    pub submissions: Vec<PathBuf>,
    /// The lesson they answer (default: the one a submission names, looked up in ./lessons).
    #[arg(long, value_name = "lessons/dayNN-NAME.md")]
    pub lesson: Option<PathBuf>,
    /// Also write the full report as JSON (schema in `candlelit grade --help` and the README).
    #[arg(long, value_name = "REPORT.json")]
    pub json: Option<PathBuf>,
    /// Also write a gradebook: one row per submission, one column per exercise.
    #[arg(long, value_name = "GRADES.csv")]
    pub csv: Option<PathBuf>,
    /// Stop a cell whose code runs longer than this many seconds; compiling it does not count (--total-timeout
    /// bounds that).
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub cell_timeout: f64,
    /// Stop grading a submission after this many seconds in all.
    #[arg(long, value_name = "SECONDS", default_value_t = 900.0)]
    pub total_timeout: f64,
    /// Memory the cells of a submission may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_limit: u64,
    /// Processes and threads one submission's sandbox may have at once, compiler included (where a cgroup can
    /// be made; a fork bomb stops there).
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub max_processes: u64,
    /// Submissions graded at once, each in its own sandbox (default: what the cores and the memory allow).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Output a cell may keep, in KiB; the rest is dropped with a note (a submission printing in a loop cannot
    /// bloat the report or the feedback).
    #[arg(long, value_name = "KIB", default_value_t = 1024)]
    pub output_limit: u64,
    /// Override a variable of every submission's `parameters` cell, as `candlelit run -p` does, e.g.
    /// `-p epochs=2` to grade a long lesson quickly (repeatable).
    #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
    /// Also write each submission as graded (outputs, check verdicts, points) to DIR, for the learner.
    #[arg(long, value_name = "DIR")]
    pub feedback: Option<PathBuf>,
}

/// The whole report (see the module docs for the JSON schema).
#[derive(Debug, Serialize)]
pub struct Report {
    /// `candlelit-grade/1`.
    pub format: &'static str,
    /// The lesson file the checks came from.
    pub lesson: String,
    /// Points of the lesson.
    pub max_points: u32,
    /// The lesson's exercises, in order.
    pub exercises: Vec<ExerciseInfo>,
    /// One entry per submission, in the order given.
    pub submissions: Vec<Submission>,
}

/// An exercise of the lesson.
#[derive(Debug, Serialize)]
pub struct ExerciseInfo {
    /// Its id.
    pub id: String,
    /// What it is worth.
    pub max_points: u32,
}

/// The grades of one submission.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Submission {
    /// The notebook, as given on the command line.
    pub submission: String,
    /// Points earned.
    pub points: u32,
    /// Points available.
    pub max_points: u32,
    /// Seconds spent grading it.
    pub seconds: f64,
    /// What went wrong outside the exercises (unreadable file, a failed ordinary cell, ...).
    pub problems: Vec<String>,
    /// Every exercise of the lesson, in lesson order.
    pub exercises: Vec<Grade>,
}

/// The grade of one exercise.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Grade {
    /// The exercise's id.
    pub id: String,
    /// Whether it passed.
    pub passed: bool,
    /// Points earned: all or nothing.
    pub points: u32,
    /// What it is worth.
    pub max_points: u32,
    /// What the learner reads: "all checks passed", or what is wrong.
    pub feedback: String,
}

/// What every submission of a batch is graded against.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Graded {
    /// The lesson's exercises, in order, with their checks.
    exercises: Vec<Exercise>,
    /// The notebook commands (`:dep …`) the lesson's own cells use: the only ones a submission may run.
    allowed: Vec<String>,
    /// How the checks are wrapped for grading.
    wrapper: checks::Wrapper,
    limits: Limits,
}

/// Limits for one submission.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Limits {
    cell: Duration,
    total: Duration,
    memory_mib: u64,
    /// Output a cell may keep (nbgrader's limit, `--output-limit`).
    output_bytes: usize,
    /// Processes and threads of the whole sandbox (`--max-processes`).
    tasks: u64,
}

/// Runs `candlelit grade`.
///
/// # Errors
/// When the lesson cannot be found or read, no session can start, or a report cannot be written. A submission
/// that cannot be read or run is reported, not an error.
pub fn run(args: &Args) -> Result<(), String> {
    let lesson_path = match &args.lesson {
        Some(path) => path.clone(),
        None => find_lesson(&args.submissions)?,
    };
    let lesson = Lesson::read(&lesson_path)?;
    let exercises = lesson.exercises();
    // The notebook commands the lesson's own cells use are the only ones a submission may run.
    let allowed: Vec<String> = lesson
        .notebook()
        .cells
        .iter()
        .flat_map(|c| commands(&notebook::source(c)).into_iter().map(str::to_string).collect::<Vec<_>>())
        .collect();
    if exercises.is_empty() {
        return Err(format!("{} has no exercises to grade", lesson_path.display()));
    }
    let limits = Limits {
        cell: Duration::from_secs_f64(args.cell_timeout.max(0.1)),
        total: Duration::from_secs_f64(args.total_timeout.max(0.1)),
        memory_mib: args.memory_limit.max(64),
        output_bytes: (args.output_limit.max(1) as usize).saturating_mul(1024),
        tasks: args.max_processes.max(64),
    };
    let parameters = crate::runner::parse_parameters(&args.parameters)?;
    crate::session::memory::limit_sessions(limits.memory_mib);
    let prelude = Options::from_env().prelude.join("src").join("prelude.rs");
    let prelude = std::fs::read_to_string(&prelude)
        .map_err(|e| format!("cannot read the prelude's source {}: {e}", prelude.display()))?;
    let graded = Graded { wrapper: checks::Wrapper::new(&prelude, &lesson)?, exercises, allowed, limits };
    let exercises = &graded.exercises;
    let stem = stem(&lesson_path);
    let total = args.submissions.len();
    let feedback_names = feedback_names(&args.submissions);
    let report_of = |submissions: Vec<Submission>| Report {
        format: "candlelit-grade/1",
        lesson: lesson_path.display().to_string(),
        max_points: exercises.iter().map(|e| e.points).sum(),
        exercises: exercises.iter().map(|e| ExerciseInfo { id: e.id.clone(), max_points: e.points }).collect(),
        submissions,
    };
    let isolation = Isolation::detect();
    eprintln!("candlelit grade: {}", isolation.describe());
    match cgroup::Cgroup::create(&format!("candlelit-grade-{}-probe", std::process::id()), 64 << 20, 64) {
        Ok(_) => eprintln!("candlelit grade: a cgroup limits each submission's memory and processes as a whole"),
        Err(why) => eprintln!(
            "candlelit grade: no cgroup for the submissions ({why}); their memory is limited per process instead, \
             and their number of processes only by the kill at the end"
        ),
    }
    let batch = warm_batch(&graded, &isolation)?;
    let jobs = args.jobs.unwrap_or_else(|| default_jobs(graded.limits.memory_mib)).clamp(1, total.max(1));
    eprintln!("candlelit grade: {total} submission(s), {jobs} at a time");
    let progress = progress_bar(total);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, supervisor::Outcome)>();
    let mut finished: Vec<Option<Submission>> = vec![None; total];
    let mut count = 0;
    std::thread::scope(|scope| -> Result<(), String> {
        for _ in 0..jobs {
            let (batch, next, done_tx, parameters) = (&batch, &next, done_tx.clone(), &parameters);
            let stem = &stem;
            scope.spawn(move || {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(path) = args.submissions.get(n) else { break };
                    let started = Instant::now();
                    let prepared = prepare(path, stem).and_then(|mut book| {
                        if !parameters.is_empty() {
                            crate::runner::inject_parameters(&mut book, parameters)?;
                        }
                        Ok(book)
                    });
                    let mut outcome = match prepared {
                        Err(problem) => supervisor::Outcome {
                            submission: zero(path, &batch.graded.exercises, problem),
                            notebook: None,
                            left_behind: 0,
                        },
                        Ok(book) => supervisor::grade(batch, n, &path.display().to_string(), &book),
                    };
                    outcome.submission.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
                    if done_tx.send((n, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        for (n, outcome) in done_rx {
            count += 1;
            let graded = outcome.submission;
            progress.suspend(|| {
                eprintln!(
                    "candlelit grade: [{count}/{total}] {}: {}/{} points in {:.1} s",
                    graded.submission, graded.points, graded.max_points, graded.seconds
                );
                if outcome.left_behind > 0 {
                    eprintln!("candlelit grade:   {} of its processes could not be stopped", outcome.left_behind);
                }
            });
            progress.inc(1);
            if let (Some(dir), Some(book)) = (&args.feedback, outcome.notebook) {
                write_feedback(&dir.join(&feedback_names[n]), book, &graded)?;
            }
            finished[n] = Some(graded);
            // The reports hold every submission graded so far, in the order given, so a grader stopped or killed
            // later loses none of them.
            let so_far: Vec<Submission> = finished.iter().flatten().cloned().collect();
            save_reports(args, &report_of(so_far), count == total)?;
        }
        Ok(())
    })?;
    progress.finish_and_clear();
    let _ = std::fs::remove_dir_all(&batch.scratch);
    let report = report_of(finished.into_iter().flatten().collect());
    print!("{}", table(&report));
    if total == 0 {
        save_reports(args, &report, true)?;
    }
    Ok(())
}

/// The batch's shared setup: the compile cache warmed once, outside any sandbox (the instructor's own prelude,
/// compiled where sandboxes can copy it), and a scratch folder for the sandboxes.
fn warm_batch<'a>(graded: &'a Graded, isolation: &'a Isolation) -> Result<supervisor::Batch<'a>, String> {
    let options = Options::from_env();
    eprintln!("candlelit grade: loading the prelude once (the compile cache every submission starts from)");
    // Held for the whole batch: a kernel or another grader compiling in this folder while a sandbox copies it
    // would make the copy fail or, worse, copy half-written files.
    let warm_slot = Session::warm_compile_folder(options.clone())?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the candlelit binary: {e}"))?;
    let scratch = std::env::temp_dir().join(format!("candlelit-grade-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    Ok(supervisor::Batch {
        graded,
        isolation,
        exe,
        slot_root: options.slot_root(),
        warm_slot,
        cache: options.cache,
        prelude: options.prelude,
        scratch,
    })
}

/// As many sandboxes as the cores, and the memory each may take, allow.
fn default_jobs(memory_mib: u64) -> usize {
    let available_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kib| kib / 1024);
    let by_memory = usize::try_from(available_mib / (memory_mib + 3072)).unwrap_or(usize::MAX);
    num_cpus::get().min(by_memory).max(1)
}

/// A bar with the ETA on a terminal; nothing elsewhere (each submission still gets its line).
fn progress_bar(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} graded · {elapsed} · ETA {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Writes the JSON report and the CSV gradebook that were asked for; `last` says so on stderr.
fn save_reports(args: &Args, report: &Report, last: bool) -> Result<(), String> {
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(report).map_err(|e| format!("cannot write the report: {e}"))?;
        write(path, &(text + "\n"), last)?;
    }
    if let Some(path) = &args.csv {
        write(path, &gradebook(report)?, last)?;
    }
    Ok(())
}

/// Replaces `path` with `text` in one step (a temporary file beside it, then renamed), so a reader never sees half
/// a report.
fn write(path: &Path, text: &str, announce: bool) -> Result<(), String> {
    let name = path.file_name().map_or_else(|| "report".into(), |n| n.to_string_lossy().into_owned());
    let partial = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if announce {
        eprintln!("candlelit grade: wrote {}", path.display());
    }
    Ok(())
}

/// Where each submission's feedback notebook goes under `--feedback DIR`: its path below the folder all the
/// submissions share, so `submitted/alice/day02.ipynb` and `submitted/bob/day02.ipynb` become `alice/day02.ipynb`
/// and `bob/day02.ipynb` instead of overwriting each other. Only plain folder names are kept (no `..`, no root), so
/// nothing lands outside `DIR`.
fn feedback_names(paths: &[PathBuf]) -> Vec<PathBuf> {
    use std::path::Component;
    // Each path made absolute and `..` folded away by name, so relative and absolute paths compare.
    let normal = |p: &PathBuf| -> Vec<std::ffi::OsString> {
        let mut kept = Vec::new();
        for c in std::path::absolute(p).unwrap_or_else(|_| p.clone()).components() {
            match c {
                Component::Normal(name) => kept.push(name.to_os_string()),
                Component::ParentDir => {
                    kept.pop();
                }
                _ => {}
            }
        }
        kept
    };
    let parts: Vec<Vec<std::ffi::OsString>> = paths.iter().map(normal).collect();
    let folders = |p: &Vec<std::ffi::OsString>| p.len().saturating_sub(1);
    let mut common = parts.iter().map(folders).min().unwrap_or(0);
    if let Some(first) = parts.first() {
        for other in &parts[1..] {
            common = common.min(first.iter().zip(other).take_while(|(a, b)| a == b).count());
        }
    }
    parts
        .iter()
        .map(|p| {
            let kept: PathBuf = p[common.min(p.len())..].iter().collect();
            if kept.as_os_str().is_empty() { PathBuf::from("submission.ipynb") } else { kept }
        })
        .collect()
}

fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The lesson named in the first readable submission's metadata, in ./lessons or beside the submission's folder.
fn find_lesson(submissions: &[PathBuf]) -> Result<PathBuf, String> {
    let named: Vec<(&Path, String)> =
        submissions.iter().filter_map(|path| Some((path.as_path(), lesson_of(&Notebook::read(path).ok()?)?))).collect();
    let name = agreed_lesson(&named)?;
    let first = named.first().map(|(path, _)| *path);
    let beside = first.and_then(Path::parent).and_then(Path::parent).map(|dir| dir.join("lessons"));
    let candidates = [Some(PathBuf::from("lessons")), beside];
    candidates.into_iter().flatten().map(|dir| dir.join(format!("{name}.md"))).find(|p| p.is_file()).ok_or_else(|| {
        format!(
            "the submissions answer lesson `{name}`, but lessons/{name}.md is not here; pass --lesson PATH/{name}.md"
        )
    })
}

/// The one lesson the submissions' metadata names. Refused, so that `--lesson` must say: no name at all, a name
/// that is not a lesson's (`dayNN-topic`; a path such as `../x` could pick any file as the answer key), or
/// submissions that name different lessons (the first one's would grade them all).
fn agreed_lesson(named: &[(&Path, String)]) -> Result<String, String> {
    let Some((_, first)) = named.first() else {
        return Err("no submission says which lesson it answers; pass --lesson lessons/dayNN-NAME.md".into());
    };
    let is_lesson_name =
        |n: &str| n.starts_with("day") && n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if let Some((path, name)) = named.iter().find(|(_, n)| !is_lesson_name(n)) {
        return Err(format!(
            "{} names the lesson {name:?}, which is not a lesson's name (dayNN-topic); pass --lesson lessons/dayNN-NAME.md",
            path.display()
        ));
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, name) in named {
        *counts.entry(name.as_str()).or_default() += 1;
    }
    if counts.len() > 1 {
        let listed: Vec<String> = counts.iter().map(|(name, n)| format!("`{name}` ({n})")).collect();
        return Err(format!(
            "the submissions answer different lessons: {}; grade each lesson's submissions on their own, or pass \
             --lesson to grade them all against one",
            listed.join(", ")
        ));
    }
    Ok(first.clone())
}

fn lesson_of(book: &Notebook) -> Option<String> {
    book.rest.get("metadata")?.pointer("/candlelit/lesson")?.as_str().map(str::to_string)
}

/// Reads a submission and checks that it answers this lesson.
fn prepare(path: &Path, lesson: &str) -> Result<Notebook, String> {
    let book = Notebook::read(path).map_err(|e| format!("the notebook could not be read: {e}"))?;
    match lesson_of(&book) {
        Some(other) if other != lesson => Err(format!(
            "this notebook answers lesson `{other}`, not `{lesson}`; grade it with --lesson lessons/{other}.md"
        )),
        _ => Ok(book),
    }
}

/// A submission that was not run: zero for every exercise, with the reason.
fn zero(path: &Path, exercises: &[Exercise], problem: String) -> Submission {
    let grades = exercises
        .iter()
        .map(|e| Grade {
            id: e.id.clone(),
            passed: false,
            points: 0,
            max_points: e.points,
            feedback: "not graded: the notebook could not be run".into(),
        })
        .collect();
    finish(path, grades, vec![problem])
}

fn finish(path: &Path, exercises: Vec<Grade>, problems: Vec<String>) -> Submission {
    Submission {
        submission: path.display().to_string(),
        points: exercises.iter().map(|g| g.points).sum(),
        max_points: exercises.iter().map(|g| g.max_points).sum(),
        seconds: 0.0,
        problems,
        exercises,
    }
}

/// What the grader does, in order.
enum Step {
    /// Run the learner's cell `number` (1-based, as JupyterLab counts); `exercise` when it is an exercise's cell.
    Cell { number: usize, code: String, exercise: Option<String> },
    /// Run the lesson's checks of this exercise.
    Checks(String),
}

/// The steps for a submission; notes exercises whose cell is missing in `problems`.
fn plan(book: &Notebook, exercises: &[Exercise], problems: &mut Vec<String>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut seen = Vec::new();
    for (index, cell) in book.cells.iter().enumerate() {
        if !notebook::is_code(cell) {
            continue;
        }
        let tags = notebook::tags(cell);
        let id = cell.get("id").and_then(Value::as_str).unwrap_or_default();
        if tags.iter().any(|t| t == "check" || t == "hidden-check") || id.starts_with("check-") {
            continue; // the lesson's own copy runs instead
        }
        let named = cell.pointer("/metadata/candlelit/exercise").and_then(Value::as_str).map(str::to_string);
        let exercise = named
            .or_else(|| id.strip_prefix("exercise-").map(str::to_string))
            .filter(|name| exercises.iter().any(|e| &e.id == name));
        steps.push(Step::Cell { number: index + 1, code: notebook::source(cell), exercise: exercise.clone() });
        if let Some(name) = exercise {
            steps.push(Step::Checks(name.clone()));
            seen.push(name);
        }
    }
    for exercise in exercises.iter().filter(|e| !seen.contains(&e.id)) {
        problems.push(format!(
            "no cell for exercise `{}` (it was deleted or lost its `exercise` tag); its checks ran after the last cell",
            exercise.id
        ));
        steps.push(Step::Checks(exercise.id.clone()));
    }
    steps
}

/// Runs one submission and grades each exercise.
///
/// `book` gets the outputs: each cell's own, and the lesson checks' in the exercise's check cell (or, without
/// one, after the exercise cell's outputs).
fn grade(
    session: &mut Session,
    book: &mut Notebook,
    path: &Path,
    lesson: &Graded,
    progress: &mut dyn FnMut(Submission),
) -> Submission {
    let (exercises, limits, allowed) = (&lesson.exercises, &lesson.limits, &lesson.allowed);
    let mut problems = Vec::new();
    let steps = plan(book, exercises, &mut problems);
    for cell in book.cells.iter_mut().filter(|c| notebook::is_code(c)) {
        cell["outputs"] = Value::Array(Vec::new());
        cell["execution_count"] = Value::Null;
    }
    let mut exercise_cell: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + limits.total;
    // The last word on each exercise's own cell: `Err(why)` when it failed.
    let mut answered: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    let mut verdicts: BTreeMap<String, Result<String, String>> = BTreeMap::new();
    let mut count = 0;
    for step in steps {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            problems.push(format!(
                "grading stopped: the notebook used up its {:.0} s in all; later cells did not run",
                limits.total.as_secs_f64()
            ));
            break;
        }
        let timeout = left.min(limits.cell);
        match step {
            Step::Cell { number, code, exercise } => {
                if code.trim().is_empty() {
                    continue;
                }
                if let Some(command) = commands(&code).into_iter().find(|c| !allowed.iter().any(|a| a == c)) {
                    let why = format!(
                        "cell {number} holds the notebook command `{command}`, which a graded notebook may not use \
                         (only the lesson's own commands are allowed); the cell was not run"
                    );
                    match exercise {
                        Some(id) => {
                            answered.insert(id, Err(why));
                        }
                        None => problems.push(why),
                    }
                    continue;
                }
                count += 1;
                let ran = execute_cell(session, &code, count, timeout, Some(limits.output_bytes));
                let failure = ran.error.as_ref().map(|_| describe(&ran, timeout, limits));
                if let Some(cell) = book.cells.get_mut(number - 1) {
                    cell["execution_count"] = serde_json::json!(count);
                    cell["outputs"] = Value::Array(ran.outputs);
                }
                if let Some(id) = &exercise {
                    exercise_cell.insert(id.clone(), number - 1);
                }
                match (exercise, failure) {
                    (Some(id), failure) => {
                        answered.insert(id, failure.map_or(Ok(()), Err));
                    }
                    (None, Some(why)) => problems.push(format!("cell {number} failed: {why}")),
                    (None, None) => {}
                }
            }
            Step::Checks(id) => {
                let mut shown = Vec::new();
                let verdict = match answered.get(&id) {
                    Some(Err(why)) => Err(format!("your exercise cell failed: {why}")),
                    _ => run_checks(session, lesson, &id, &mut count, timeout, &mut shown),
                };
                show_checks(book, &id, exercise_cell.get(&id).copied(), shown);
                verdicts.insert(id, verdict);
                progress(finish(path, grades_of(exercises, &verdicts), problems.clone()));
            }
        }
    }
    finish(path, grades_of(exercises, &verdicts), problems)
}

/// Every exercise's grade from the verdicts so far (an exercise without one was not reached).
fn grades_of(exercises: &[Exercise], verdicts: &BTreeMap<String, Result<String, String>>) -> Vec<Grade> {
    exercises
        .iter()
        .map(|e| {
            let (passed, feedback) = match verdicts.get(&e.id) {
                Some(Ok(message)) => (true, message.clone()),
                Some(Err(message)) => (false, message.clone()),
                None => (false, "not graded: grading stopped before this exercise's checks".to_string()),
            };
            Grade {
                id: e.id.clone(),
                passed,
                points: if passed { e.points } else { 0 },
                max_points: e.points,
                feedback,
            }
        })
        .collect()
}

/// The lesson's checks of exercise `id`, run one after another, each with a fresh nonce; `Ok(message)` when all
/// pass ([`checks::judge`]).
fn run_checks(
    session: &mut Session,
    lesson: &Graded,
    id: &str,
    count: &mut usize,
    timeout: Duration,
    shown: &mut Vec<Value>,
) -> Result<String, String> {
    let checks = lesson.exercises.iter().find(|e| e.id == id).map(|e| e.checks.as_slice()).unwrap_or_default();
    let mut passed = Vec::new();
    for check in checks {
        *count += 1;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut ran = execute_cell(
            session,
            &lesson.wrapper.wrap(check, &nonce),
            *count,
            timeout,
            Some(lesson.limits.output_bytes),
        );
        let failed = ran.error.as_ref().map(|_| describe(&ran, timeout, &lesson.limits));
        let verdict = checks::judge(&ran.outputs, &nonce, id, checks::expected_verdicts(check), failed);
        checks::strip_nonces(&mut ran.outputs);
        shown.extend(ran.outputs);
        passed.extend(verdict?);
    }
    passed.dedup();
    Ok(if passed.is_empty() { "all checks passed".to_string() } else { passed.join("; ") })
}

/// Puts what the lesson's checks of exercise `id` showed into the submission's check cell for it, or after the
/// exercise cell's own outputs when the learner has no check cell.
fn show_checks(book: &mut Notebook, id: &str, exercise_cell: Option<usize>, shown: Vec<Value>) {
    let check_id = format!("check-{id}");
    let target = book
        .cells
        .iter()
        .position(|c| notebook::is_code(c) && c.get("id").and_then(Value::as_str) == Some(check_id.as_str()))
        .or(exercise_cell);
    if let Some(cell) = target.and_then(|at| book.cells.get_mut(at)) {
        match cell["outputs"].as_array_mut() {
            Some(outputs) => outputs.extend(shown),
            None => cell["outputs"] = Value::Array(shown),
        }
    }
}

/// Writes `book`, as graded, to `dir` under the submission's file name, with a first cell saying how it went.
fn write_feedback(out: &Path, mut book: Notebook, graded: &Submission) -> Result<(), String> {
    let mut summary = format!("# Graded by candlelit: {} / {} points\n\n", graded.points, graded.max_points);
    summary.push_str("| exercise | points | feedback |\n| --- | --- | --- |\n");
    for g in &graded.exercises {
        let mark = if g.passed { "✔" } else { "✘" };
        let feedback = g.feedback.replace('|', "\\|").replace('\n', " ");
        summary.push_str(&format!("| {mark} {} | {} / {} | {feedback} |\n", g.id, g.points, g.max_points));
    }
    for problem in &graded.problems {
        summary.push_str(&format!("\n- {}", problem.replace('\n', " ")));
    }
    book.cells.insert(
        0,
        serde_json::json!({"cell_type": "markdown", "id": "candlelit-feedback", "metadata": {},
                           "source": notebook::lines(&summary)}),
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(out, book.to_text()).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    eprintln!("candlelit grade:   feedback in {}", out.display());
    Ok(())
}

/// Why a cell failed, for the report.
fn describe(ran: &CellRun, timeout: Duration, limits: &Limits) -> String {
    let Some(error) = &ran.error else { return "no error".into() };
    let stderr: String = ran
        .outputs
        .iter()
        .filter(|o| o["output_type"] == "stream" && o["name"] == "stderr")
        .map(|o| notebook::source(&serde_json::json!({"source": o["text"].clone()})))
        .collect();
    if error.ename == "CellTimeout" {
        return format!("it was stopped after {:.0} s (an endless loop, or far too much work?)", timeout.as_secs_f64());
    }
    if error.evalue.contains("Resource temporarily unavailable") {
        return format!(
            "it could not be compiled or run: the submission already has {} processes and threads running (processes \
             its cells started and never ended?), the most one submission may have",
            limits.tasks
        );
    }
    match error.kind {
        ErrorKind::Restarted if stderr.contains("memory allocation of") => format!(
            "it ran out of memory (the limit is {} MiB) and the process was restarted, so earlier variables were \
             lost",
            limits.memory_mib
        ),
        ErrorKind::Compile => format!("it does not compile: {}", error.evalue),
        ErrorKind::Panic => format!("it panicked: {}", error.evalue),
        _ => format!("{}: {}", error.ename, error.evalue),
    }
}

/// The terminal summary: one row per submission, then the feedback of every failed exercise.
fn table(report: &Report) -> String {
    let name_width = report.submissions.iter().map(|s| s.submission.chars().count()).max().unwrap_or(10).max(10);
    let mut headers: Vec<String> = report.exercises.iter().map(|e| e.id.clone()).collect();
    headers.push("total".into());
    let widths: Vec<usize> = headers.iter().map(|h| h.chars().count().max(7)).collect();
    let mut out = format!("{:name_width$}", "submission");
    for (header, width) in headers.iter().zip(&widths) {
        out.push_str(&format!("  {header:>width$}"));
    }
    out.push('\n');
    for submission in &report.submissions {
        out.push_str(&format!("{:name_width$}", submission.submission));
        let mut cells: Vec<String> = submission
            .exercises
            .iter()
            .map(|g| format!("{} {}/{}", if g.passed { "✔" } else { "✘" }, g.points, g.max_points))
            .collect();
        cells.push(format!("{}/{}", submission.points, submission.max_points));
        for (cell, width) in cells.iter().zip(&widths) {
            out.push_str(&format!("  {cell:>width$}"));
        }
        out.push('\n');
    }
    for submission in &report.submissions {
        let failed: Vec<&Grade> = submission.exercises.iter().filter(|g| !g.passed).collect();
        if failed.is_empty() && submission.problems.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{}:\n", submission.submission));
        for problem in &submission.problems {
            out.push_str(&format!("  ! {}\n", first_lines(problem)));
        }
        for grade in failed {
            out.push_str(&format!("  ✘ {}: {}\n", grade.id, first_lines(&grade.feedback)));
        }
    }
    out
}

/// At most three lines of a message, for the terminal (the JSON report has all of it).
fn first_lines(text: &str) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    let mut shown = lines.iter().take(3).copied().collect::<Vec<_>>().join("\n    ");
    if lines.len() > 3 {
        shown.push_str(" …");
    }
    shown
}

/// The CSV gradebook.
fn gradebook(report: &Report) -> Result<String, String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["submission".to_string()];
    header.extend(report.exercises.iter().map(|e| spreadsheet_safe(&e.id)));
    header.extend(["total".to_string(), "max_points".to_string()]);
    writer.write_record(&header).map_err(|e| e.to_string())?;
    for submission in &report.submissions {
        let mut row = vec![spreadsheet_safe(&submission.submission)];
        row.extend(submission.exercises.iter().map(|g| g.points.to_string()));
        row.extend([submission.points.to_string(), submission.max_points.to_string()]);
        writer.write_record(&row).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// The notebook commands of a cell (`:dep …`, `:quit`, `:timing`, …): the lines whose first non-blank character is a
/// single `:` (a line starting `::` is a Rust path).
fn commands(code: &str) -> Vec<&str> {
    code.lines().map(str::trim).filter(|l| l.starts_with(':') && !l.starts_with("::")).collect()
}

/// A CSV cell that a spreadsheet shows as text: one starting with `=`, `+`, `-`, `@`, a tab or a carriage return
/// (which Excel, LibreOffice and Google Sheets would run as a formula) gets a leading `'`, as OWASP advises. A file
/// named `=HYPERLINK(...).ipynb` cannot put a live formula in an instructor's gradebook.
fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{cell}") } else { cell.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_as_formulas_are_quoted() {
        for cell in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(spreadsheet_safe(cell), format!("'{cell}"));
        }
        for cell in ["alice.ipynb", "submitted/bob/day02.ipynb", "x=1.ipynb", ""] {
            assert_eq!(spreadsheet_safe(cell), cell);
        }
    }

    #[test]
    fn notebook_commands_are_found_on_any_line_but_rust_paths_are_not() {
        assert_eq!(commands(":quit"), [":quit"]);
        assert_eq!(commands("let x = 1;\n   :dep rand = \"0.9\"\nx"), [":dep rand = \"0.9\""]);
        assert!(commands("::std::process::exit(0);\nlet y: u8 = 2;").is_empty());
    }

    #[test]
    fn the_lesson_comes_from_the_submissions_only_when_they_agree_on_a_valid_name() {
        let (a, b) = (Path::new("alice.ipynb"), Path::new("bob.ipynb"));
        let day = |n: &str| n.to_string();
        assert_eq!(
            agreed_lesson(&[(a, day("day02-tensor-operations")), (b, day("day02-tensor-operations"))]),
            Ok(day("day02-tensor-operations"))
        );
        let mixed = agreed_lesson(&[(a, day("day02-tensor-operations")), (b, day("day05-nn"))]).expect_err("mixed");
        assert!(
            mixed.contains("different lessons") && mixed.contains("`day05-nn` (1)") && mixed.contains("--lesson"),
            "{mixed}"
        );
        for bad in ["../../etc/passwd", "day02/../../x", "Day02", ""] {
            let refused = agreed_lesson(&[(a, day(bad))]).expect_err(bad);
            assert!(refused.contains("not a lesson's name") && refused.contains("alice.ipynb"), "{refused}");
        }
        assert!(agreed_lesson(&[]).expect_err("none").contains("no submission says"));
    }

    #[test]
    fn feedback_keeps_each_path_below_the_shared_folder_and_stays_inside() {
        let names = |paths: &[&str]| -> Vec<String> {
            let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
            feedback_names(&paths).iter().map(|p| p.display().to_string()).collect()
        };
        assert_eq!(
            names(&["submitted/alice/day02.ipynb", "submitted/bob/day02.ipynb"]),
            ["alice/day02.ipynb", "bob/day02.ipynb"]
        );
        assert_eq!(names(&["a.ipynb", "b.ipynb"]), ["a.ipynb", "b.ipynb"]);
        assert_eq!(names(&["class/x/alice.ipynb"]), ["alice.ipynb"]);
        assert_eq!(names(&["/tmp/s/a/n.ipynb", "/tmp/s/b/c/n.ipynb"]), ["a/n.ipynb", "b/c/n.ipynb"]);
        // `..` is folded away and no root survives, so nothing is written outside the feedback folder.
        assert_eq!(names(&["/s/x/../y/a.ipynb", "/s/b.ipynb"]), ["y/a.ipynb", "b.ipynb"]);
        assert_eq!(names(&["/up/a.ipynb", "/abs/b.ipynb"]), ["up/a.ipynb", "abs/b.ipynb"]);
        assert_eq!(names(&["/s/../../../x.ipynb", "/y.ipynb"]), ["x.ipynb", "y.ipynb"]);
        // Relative and absolute paths to the same folders compare.
        let here = std::env::current_dir().expect("a current folder");
        let absolute = here.join("w/b.ipynb").display().to_string();
        assert_eq!(names(&["w/a.ipynb", &absolute]), ["a.ipynb", "b.ipynb"]);
    }
}
