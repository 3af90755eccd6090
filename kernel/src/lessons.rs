//! `candlelit lessons build|check`: lesson sources (`lessons/dayNN-*.md`) to the notebooks learners open.
//!
//! A lesson is Markdown. Fenced ` ```rust ` blocks are code cells; everything between them is one Markdown cell.
//! Words after `rust` in the fence tag the cell:
//!
//! | fence | in the notebook | meaning |
//! | --- | --- | --- |
//! | ` ```rust ` | code cell | an ordinary cell |
//! | ` ```rust parameters ` | code cell tagged `parameters` | the knobs the runner's `-p NAME=VALUE` overrides |
//! | ` ```rust exercise id=NAME points=N ` | code cell tagged `exercise` | where the learner writes code |
//! | ` ```rust solution id=NAME ` | left out | the model answer (graders and CI run it) |
//! | ` ```rust check id=NAME ` | code cell tagged `check` | instant feedback; the grader runs its own copy |
//! | ` ```rust hidden-check id=NAME ` | left out | more checks only the grader runs |
//! | ` ```rust wrong id=NAME ` | left out | a plausible wrong answer the visible check must reject (tests run it) |
//!
//! Every exercise needs at least one `check`; `solution`, `check`, `hidden-check` and `wrong` name an exercise
//! defined above them. A `wrong` cell is a complete alternative to the exercise cell that violates exactly one
//! requirement the exercise text states, named on its first line: `// breaks: <that requirement>`. An exercise
//! may have any number of them; the lesson tests put each one in the exercise cell and demand a ✘ from the
//! exercise's visible `check`, so a learner never sees ✔ in the notebook for an answer the grader fails on a
//! stated requirement. Cell ids come from the lesson (`exercise-NAME`, `check-NAME`, `code-3`, …), so building twice gives the
//! same bytes, and `check` fails when a committed notebook differs from what its lesson builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
use serde_json::json;

use crate::notebook::{NewCell, Notebook};

/// Options of `candlelit lessons`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// Folder of lesson sources.
    #[arg(long, global = true, value_name = "DIR")]
    lessons: Option<PathBuf>,
    /// Folder of generated notebooks.
    #[arg(long, global = true, value_name = "DIR")]
    notebooks: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Write notebooks/*.ipynb from lessons/*.md.
    Build,
    /// Fail when a lesson is malformed or a notebook is not what its lesson builds.
    Check,
    /// Write the instructor's solved notebooks to DIR: each exercise cell holds the lesson's model answer (to run a
    /// lesson end to end, or to check that the grader gives it full marks).
    Solved {
        /// Where to write them (not `notebooks/`, which holds the learners' versions).
        #[arg(value_name = "DIR")]
        out: PathBuf,
        /// Instead, write `dayNN-NAME--wrong.ipynb` for each lesson with `wrong` answers: the solved notebook with
        /// each wrong answer put to its exercise's visible check (what the lesson tests grade).
        #[arg(long, hide = true)]
        wrong: bool,
    },
}

/// What a code cell is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// An ordinary cell.
    Plain,
    /// The cell whose variables the runner's `-p` overrides.
    Parameters,
    /// Where the learner answers exercise `id`, worth `points`.
    Exercise {
        /// The exercise's name.
        id: String,
        /// Points it is worth.
        points: u32,
    },
    /// The model answer to an exercise (not in the notebook).
    Solution(String),
    /// A check the learner runs (in the notebook; the grader runs the lesson's copy).
    Check(String),
    /// A check only the grader runs (not in the notebook).
    HiddenCheck(String),
    /// A wrong answer to an exercise that its visible check must reject (not in the notebook).
    Wrong(String),
}

/// One cell of a lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LessonCell {
    /// Prose.
    Markdown(String),
    /// Code, with what it is for and the line its fence is on.
    Code {
        /// What the cell is for.
        role: Role,
        /// The code.
        source: String,
        /// 1-based line of the opening fence.
        line: usize,
    },
}

/// A parsed lesson.
#[derive(Debug, Clone)]
pub struct Lesson {
    /// The source file.
    pub path: PathBuf,
    /// Cells in order, solutions and hidden checks included.
    pub cells: Vec<LessonCell>,
}

/// An exercise as the grader needs it: its points and the checks to run after its cell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exercise {
    /// The exercise's name.
    pub id: String,
    /// Points it is worth.
    pub points: u32,
    /// The visible and hidden checks, in lesson order.
    pub checks: Vec<String>,
    /// The model answer, when the lesson has one.
    pub solution: Option<String>,
    /// Wrong answers the visible check must reject, in lesson order.
    pub wrong: Vec<WrongAnswer>,
}

/// A `wrong` cell: an answer to an exercise that violates one requirement its text states.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WrongAnswer {
    /// The requirement it violates (its `// breaks:` line, without the prefix).
    pub breaks: String,
    /// The whole cell, `// breaks:` line included: what goes into the exercise cell.
    pub source: String,
    /// 1-based line of its opening fence.
    pub line: usize,
}

/// The first line every `wrong` cell starts with.
const BREAKS: &str = "// breaks:";

/// The requirement a `wrong` cell's source names on its first line, if it does.
fn breaks_of(source: &str) -> Option<&str> {
    let comment = source.lines().next()?.trim().strip_prefix("//")?;
    comment.trim_start().strip_prefix("breaks:").map(str::trim).filter(|what| !what.is_empty())
}

impl Lesson {
    /// Reads and checks a lesson file.
    ///
    /// # Errors
    /// `FILE:LINE: what is wrong` when the file cannot be read or breaks a rule of the format.
    pub fn read(path: &Path) -> Result<Lesson, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Lesson::parse(path, &text)
    }

    /// Parses lesson text (`path` is for messages).
    ///
    /// # Errors
    /// `FILE:LINE: what is wrong` for an unknown tag, a missing or repeated id, a bad `points`, a check (or
    /// solution, or wrong answer) for an exercise not defined above it, an exercise without a check, or a `wrong`
    /// cell whose first line is not `// breaks: ...`.
    pub fn parse(path: &Path, text: &str) -> Result<Lesson, String> {
        let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
        let fail = |line: usize, what: String| format!("{}:{line}: {what}", path.display());
        let mut cells = Vec::new();
        let mut prose_from = 0;
        let mut open: Option<(usize, Role)> = None;
        let mut code = String::new();
        let mut exercises: BTreeMap<String, usize> = BTreeMap::new();
        let mut checked: BTreeMap<String, bool> = BTreeMap::new();
        for (event, range) in Parser::new(text).into_offset_iter() {
            match event {
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) if is_rust(&info) => {
                    let line = line_of(range.start);
                    let role = role(&info).map_err(|e| fail(line, e))?;
                    match &role {
                        Role::Exercise { id, .. } => {
                            if exercises.insert(id.clone(), line).is_some() {
                                return Err(fail(line, format!("exercise `{id}` is defined twice")));
                            }
                            checked.insert(id.clone(), false);
                        }
                        Role::Solution(id) | Role::Check(id) | Role::HiddenCheck(id) | Role::Wrong(id) => {
                            if !exercises.contains_key(id) {
                                return Err(fail(line, format!("`{id}` is not an exercise defined above this cell")));
                            }
                            if matches!(role, Role::Check(_)) {
                                checked.insert(id.clone(), true);
                            }
                        }
                        Role::Plain | Role::Parameters => {}
                    }
                    push_prose(&mut cells, &text[prose_from..range.start]);
                    open = Some((line, role));
                    code.clear();
                }
                Event::Text(t) if open.is_some() => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    if let Some((line, role)) = open.take() {
                        let source = code.trim_end_matches('\n').to_string();
                        if let Role::Wrong(id) = &role
                            && breaks_of(&source).is_none()
                        {
                            return Err(fail(
                                line + 1,
                                format!(
                                    "a `wrong` cell for `{id}` starts with `{BREAKS} <the requirement of the \
                                     exercise text this answer violates>`"
                                ),
                            ));
                        }
                        cells.push(LessonCell::Code { role, source, line });
                        prose_from = range.end;
                    }
                }
                _ => {}
            }
        }
        push_prose(&mut cells, &text[prose_from..]);
        if let Some((id, _)) = checked.iter().find(|(_, has)| !**has) {
            let line = exercises.get(id).copied().unwrap_or(1);
            return Err(fail(line, format!("exercise `{id}` has no `check` cell (learners need instant feedback)")));
        }
        if let Some((line, what)) = revealing_check(&cells).or_else(|| long_cell(&cells)) {
            return Err(fail(line, what));
        }
        Ok(Lesson { path: path.to_path_buf(), cells })
    }

    /// The notebook learners get: no solutions, no hidden checks, no outputs.
    pub fn notebook(&self) -> Notebook {
        self.build_notebook(Mode::Learner)
    }

    /// The instructor's version: the learners' notebook with each exercise cell holding its model answer (an
    /// exercise without a solution keeps the learner's cell). Cell ids and tags are the learners', so the grader
    /// grades it like any submission.
    pub fn solved_notebook(&self) -> Notebook {
        self.build_notebook(Mode::Solved)
    }

    /// The solved notebook with every `wrong` answer put to its exercise's visible check, for the lesson tests,
    /// or `None` when the lesson has no wrong answers.
    ///
    /// Just before each exercise's cell (which holds the model answer) comes one plain cell per wrong answer,
    /// id `wrong-NAME-K` (K counts from 1 in lesson order), metadata `candlelit.wrong` = `{exercise, breaks,
    /// line}`, holding
    /// ```text
    /// {
    /// <the wrong answer>
    /// ;
    /// <the exercise's visible check cell(s), as the learner's notebook has them>
    /// };
    /// ```
    /// Why this shape: the whole lesson runs once (one graded submission) however many wrong answers it has,
    /// where a submission per wrong answer would run the lesson again for each. Each wrong answer runs where the
    /// learner's answer would, after the cells before the exercise and before its model answer, so it sees the
    /// learner's variables, not ones the model answer or later cells redefined; the block keeps its own `let`s
    /// and items from leaking into the cells after it, which then run as in the solved notebook (what it changes
    /// in place, e.g. weights it trains, does carry over: the tests also demand full marks for this notebook).
    /// The verdict in the cell is what the learner's check cell would show for that answer; as the grader runs
    /// that same check among the exercise's checks, a ✘ there is also zero points at grading.
    pub fn wrong_notebook(&self) -> Option<Notebook> {
        self.exercises().iter().any(|e| !e.wrong.is_empty()).then(|| self.build_notebook(Mode::Wrong))
    }

    fn build_notebook(&self, mode: Mode) -> Notebook {
        let solved = mode != Mode::Learner;
        let exercises = self.exercises();
        let visible_checks = |id: &str| -> Vec<&str> {
            self.cells
                .iter()
                .filter_map(|cell| match cell {
                    LessonCell::Code { role: Role::Check(of), source, .. } if of == id => Some(source.as_str()),
                    _ => None,
                })
                .collect()
        };
        let solutions: BTreeMap<&str, &str> = self
            .cells
            .iter()
            .filter_map(|cell| match cell {
                LessonCell::Code { role: Role::Solution(id), source, .. } => Some((id.as_str(), source.as_str())),
                _ => None,
            })
            .collect();
        let mut cells = Vec::new();
        let mut ids = BTreeMap::<String, usize>::new();
        let mut unique = |base: String| {
            let n = ids.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}-{n}") }
        };
        for (index, cell) in self.cells.iter().enumerate() {
            let number = index + 1;
            let new = match cell {
                LessonCell::Markdown(text) => NewCell {
                    cell_type: "markdown",
                    id: unique(format!("md-{number}")),
                    source: text.clone(),
                    tags: Vec::new(),
                    candlelit: None,
                },
                LessonCell::Code { role, source, .. } => {
                    if let (Mode::Wrong, Role::Exercise { id, .. }) = (mode, role) {
                        let wrong = exercises.iter().filter(|e| &e.id == id).flat_map(|e| &e.wrong);
                        for (k, answer) in wrong.enumerate() {
                            let check = visible_checks(id).join("\n");
                            cells.push(NewCell {
                                cell_type: "code",
                                id: unique(format!("wrong-{id}-{}", k + 1)),
                                source: format!("{{\n{}\n;\n{check}\n}};", answer.source),
                                tags: Vec::new(),
                                candlelit: Some(json!({"wrong": {
                                    "exercise": id, "breaks": answer.breaks, "line": answer.line
                                }})),
                            });
                        }
                    }
                    let (id, tags, candlelit) = match role {
                        Role::Plain => (format!("code-{number}"), vec![], None),
                        Role::Parameters => ("parameters".into(), vec!["parameters".to_string()], None),
                        Role::Exercise { id, points } => (
                            format!("exercise-{id}"),
                            vec!["exercise".to_string()],
                            Some(json!({"exercise": id, "points": points})),
                        ),
                        Role::Check(id) => {
                            (format!("check-{id}"), vec!["check".to_string()], Some(json!({"exercise": id})))
                        }
                        Role::Solution(_) | Role::HiddenCheck(_) | Role::Wrong(_) => continue,
                    };
                    let source = match role {
                        Role::Exercise { id, .. } if solved => solutions.get(id.as_str()).copied().unwrap_or(source),
                        _ => source,
                    };
                    NewCell { cell_type: "code", id: unique(id), source: source.to_string(), tags, candlelit }
                }
            };
            cells.push(new);
        }
        let mut book = Notebook::new(&cells);
        // The grader finds the lesson (and its hidden checks) of a submission from this.
        let stem = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(metadata) = book.rest.get_mut("metadata") {
            metadata["candlelit"] = json!({"lesson": stem});
        }
        book
    }

    /// The exercises, in lesson order.
    pub fn exercises(&self) -> Vec<Exercise> {
        let mut found: Vec<Exercise> = Vec::new();
        for cell in &self.cells {
            let LessonCell::Code { role, source, line } = cell else { continue };
            match role {
                Role::Exercise { id, points } => found.push(Exercise {
                    id: id.clone(),
                    points: *points,
                    checks: Vec::new(),
                    solution: None,
                    wrong: Vec::new(),
                }),
                Role::Check(id) | Role::HiddenCheck(id) => {
                    if let Some(e) = found.iter_mut().find(|e| &e.id == id) {
                        e.checks.push(source.clone());
                    }
                }
                Role::Solution(id) => {
                    if let Some(e) = found.iter_mut().find(|e| &e.id == id) {
                        e.solution = Some(source.clone());
                    }
                }
                Role::Wrong(id) => {
                    if let Some(e) = found.iter_mut().find(|e| &e.id == id) {
                        let breaks = breaks_of(source).unwrap_or_default().to_string();
                        e.wrong.push(WrongAnswer { breaks, source: source.clone(), line: *line });
                    }
                }
                Role::Plain | Role::Parameters => {}
            }
        }
        found
    }
}

/// Which notebook [`Lesson::build_notebook`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The learners': exercise cells as the lesson has them.
    Learner,
    /// Model answers in the exercise cells.
    Solved,
    /// Solved, with the wrong answers put to the visible checks ([`Lesson::wrong_notebook`]).
    Wrong,
}

/// A visible check that shows a line of its exercise's solution (learners would read the answer in the
/// notebook): the check's line and what to do. Lines are compared without spaces and without `let NAME =`, so
/// `assert!(y == x.sqr()?.sum_all()?)` gives away `let y = x.sqr()?.sum_all()?;`; short parts (`}`, `Ok(())`,
/// `x.sqr()?`) do not count.
fn revealing_check(cells: &[LessonCell]) -> Option<(usize, String)> {
    let solution_lines = |id: &str| -> Vec<String> {
        cells
            .iter()
            .filter_map(|cell| match cell {
                LessonCell::Code { role: Role::Solution(of), source, .. } if of == id => Some(source),
                _ => None,
            })
            .flat_map(|source| source.lines().map(answer_part))
            .filter(|part| part.chars().count() >= 10)
            .collect()
    };
    cells.iter().find_map(|cell| {
        let LessonCell::Code { role: Role::Check(id), source, line } = cell else { return None };
        let check: String = source.split_whitespace().collect();
        let shown = solution_lines(id).into_iter().find(|answer| check.contains(answer.as_str()))?;
        Some((
            *line,
            format!(
                "the check of `{id}` contains a line of its solution (`{shown}`), which learners would see; \
                 test a property of the answer, or move that check to a `hidden-check` cell"
            ),
        ))
    })
}

/// The longest a notebook's code cell may be: learners read it whole before they run it.
const MAX_CODE_LINES: usize = 25;

/// A code cell of the notebooks longer than a screen ([`MAX_CODE_LINES`]): its line and what to do. Hidden checks and wrong answers never appear in a notebook and may be longer.
fn long_cell(cells: &[LessonCell]) -> Option<(usize, String)> {
    cells.iter().find_map(|cell| match cell {
        LessonCell::Code { role: Role::HiddenCheck(_) | Role::Wrong(_), .. } => None,
        LessonCell::Code { source, line, .. } if source.lines().count() > MAX_CODE_LINES => Some((
            *line,
            format!(
                "a code cell of {} lines; keep cells within a screen ({MAX_CODE_LINES}): split it where a result is worth seeing",
                source.lines().count()
            ),
        )),
        _ => None,
    })
}

/// A solution line without spaces, without its `let NAME =` and its final `;`.
fn answer_part(line: &str) -> String {
    let compact: String = line.split_whitespace().collect();
    let value = match compact.strip_prefix("let") {
        Some(rest) => rest.find('=').filter(|&at| !rest[at + 1..].starts_with('=')).map_or(rest, |at| &rest[at + 1..]),
        None => compact.as_str(),
    };
    value.trim_end_matches(';').to_string()
}

fn is_rust(info: &str) -> bool {
    info.split_whitespace().next() == Some("rust")
}

/// The role a fence's info string gives (`rust exercise id=x points=2`).
fn role(info: &str) -> Result<Role, String> {
    let mut tag = None;
    let mut id = None;
    let mut points = None;
    for word in info.split_whitespace().skip(1) {
        match word.split_once('=') {
            Some(("id", value)) if valid_id(value) => id = Some(value.to_string()),
            Some(("id", value)) => {
                return Err(format!("id `{value}` may use only letters, digits, `-` and `_` (up to 40)"));
            }
            Some(("points", value)) => {
                points =
                    Some(value.parse::<u32>().map_err(|_| format!("points must be a whole number, not `{value}`"))?)
            }
            Some((key, _)) => return Err(format!("unknown setting `{key}` (known: id, points)")),
            None if ["parameters", "exercise", "solution", "check", "hidden-check", "wrong"].contains(&word) => {
                if let Some(first) = tag.replace(word) {
                    return Err(format!("a cell has one tag; this one has `{first}` and `{word}`"));
                }
            }
            None => {
                return Err(format!(
                    "unknown tag `{word}` (known: parameters, exercise, solution, check, hidden-check, wrong)"
                ));
            }
        }
    }
    let need_id = |what: &str| id.clone().ok_or_else(|| format!("a `{what}` cell needs `id=NAME`"));
    Ok(match tag {
        None | Some("parameters") if id.is_some() || points.is_some() => {
            return Err("`id` and `points` belong to exercise, solution and check cells".into());
        }
        None => Role::Plain,
        Some("parameters") => Role::Parameters,
        Some("exercise") => {
            Role::Exercise { id: need_id("exercise")?, points: points.ok_or("an `exercise` cell needs `points=N`")? }
        }
        Some(other) if points.is_some() => return Err(format!("`points` belongs on the exercise, not the {other}")),
        Some("solution") => Role::Solution(need_id("solution")?),
        Some("check") => Role::Check(need_id("check")?),
        Some("wrong") => Role::Wrong(need_id("wrong")?),
        Some(_) => Role::HiddenCheck(need_id("hidden-check")?),
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn push_prose(cells: &mut Vec<LessonCell>, text: &str) {
    let text = text.trim_matches('\n').trim_end();
    if !text.trim().is_empty() {
        cells.push(LessonCell::Markdown(text.to_string()));
    }
}

/// The lesson sources in `dir` (`*.md` but its README), sorted.
///
/// # Errors
/// When the folder cannot be read.
pub fn sources(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md") && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    found.sort();
    Ok(found)
}

/// Where the notebook of `lesson` goes in `notebooks`.
pub fn notebook_path(lesson: &Path, notebooks: &Path) -> PathBuf {
    let stem = lesson.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    notebooks.join(format!("{stem}.ipynb"))
}

/// Runs `candlelit lessons build|check`.
///
/// # Errors
/// Every problem found, one per line.
pub fn run(args: &Args) -> Result<(), String> {
    let root = crate::paths::prelude_source();
    let lessons = args.lessons.clone().unwrap_or_else(|| root.join("lessons"));
    let notebooks = args.notebooks.clone().unwrap_or_else(|| root.join("notebooks"));
    match args.action {
        Action::Build => build(&lessons, &notebooks),
        Action::Check => check(&lessons, &notebooks),
        Action::Solved { ref out, wrong } => solved(&lessons, out, wrong),
    }
}

/// Writes every lesson's solved notebook (model answers in the exercise cells) into `out`; with `wrong`, every
/// lesson's [wrong-answer notebook](Lesson::wrong_notebook) instead, as `dayNN-NAME--wrong.ipynb`.
///
/// # Errors
/// Every malformed lesson (nothing is written then), a folder or file that cannot be written, or `out` being the
/// learners' notebooks folder.
pub fn solved(lessons: &Path, out: &Path, wrong: bool) -> Result<(), String> {
    let parsed = parse_all(lessons)?;
    let learners = crate::paths::prelude_source().join("notebooks");
    if out.canonicalize().ok().is_some_and(|o| learners.canonicalize().ok().is_some_and(|l| o == l)) {
        return Err(format!(
            "{} holds the learners' notebooks; write solved notebooks somewhere else (they contain the answers)",
            out.display()
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for lesson in &parsed {
        let (path, book) = if wrong {
            let Some(book) = lesson.wrong_notebook() else { continue };
            let stem = lesson.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            (out.join(format!("{stem}--wrong.ipynb")), book)
        } else {
            (notebook_path(&lesson.path, out), lesson.solved_notebook())
        };
        std::fs::write(&path, book.to_text()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Writes every lesson's notebook; prints what changed.
///
/// # Errors
/// Every malformed lesson (nothing is written then) or a file that cannot be written.
pub fn build(lessons: &Path, notebooks: &Path) -> Result<(), String> {
    let parsed = parse_all(lessons)?;
    std::fs::create_dir_all(notebooks).map_err(|e| format!("cannot create {}: {e}", notebooks.display()))?;
    for lesson in &parsed {
        let path = notebook_path(&lesson.path, notebooks);
        let text = lesson.notebook().to_text();
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    println!("{} lesson(s), notebooks up to date in {}", parsed.len(), notebooks.display());
    Ok(())
}

/// Checks every lesson and that each notebook is exactly what its lesson builds (and none is left over).
///
/// # Errors
/// Every problem found, one per line, each with its file.
pub fn check(lessons: &Path, notebooks: &Path) -> Result<(), String> {
    let parsed = parse_all(lessons)?;
    let mut problems = Vec::new();
    let mut expected = Vec::new();
    for lesson in &parsed {
        let path = notebook_path(&lesson.path, notebooks);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == lesson.notebook().to_text() => {}
            Ok(_) => problems.push(format!(
                "{}: stale — it differs from what {} builds; run `candlelit lessons build`",
                path.display(),
                lesson.path.display()
            )),
            Err(_) => problems.push(format!("{}: missing; run `candlelit lessons build`", path.display())),
        }
        expected.push(path);
    }
    if let Ok(entries) = std::fs::read_dir(notebooks) {
        let mut extra: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ipynb") && !expected.contains(p))
            .collect();
        extra.sort();
        problems.extend(extra.iter().map(|p| format!("{}: no lesson in {} builds it", p.display(), lessons.display())));
    }
    if problems.is_empty() {
        for lesson in &parsed {
            let exercises = lesson.exercises();
            let points: u32 = exercises.iter().map(|e| e.points).sum();
            let unsolved = exercises.iter().filter(|e| e.solution.is_none()).count();
            println!(
                "{}: {} exercise(s), {points} point(s){}",
                lesson.path.display(),
                exercises.len(),
                if unsolved > 0 { format!(", {unsolved} without a solution") } else { String::new() }
            );
        }
        println!("{} lesson(s) well-formed, notebooks up to date", parsed.len());
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn parse_all(lessons: &Path) -> Result<Vec<Lesson>, String> {
    let mut parsed = Vec::new();
    let mut problems = Vec::new();
    for path in sources(lessons)? {
        match Lesson::read(&path) {
            Ok(lesson) => parsed.push(lesson),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() { Ok(parsed) } else { Err(problems.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Lesson, String> {
        Lesson::parse(Path::new("day00-test.md"), text)
    }

    #[test]
    fn tags_become_roles_and_prose_becomes_markdown() {
        let lesson = parse(
            "# Title\n\nSome prose.\n\n```rust parameters\nlet n = 3;\n```\n\n```text\nnot code\n```\n\
             \n```rust exercise id=double points=2\nlet d = todo!();\n```\n```rust solution id=double\nlet d = 2 * n;\n```\n\
             ```rust check id=double\ncheck_double(d);\n```\n```rust hidden-check id=double\nsecret(d);\n```\n",
        )
        .expect("parses");
        let roles: Vec<_> = lesson
            .cells
            .iter()
            .map(|c| match c {
                LessonCell::Markdown(t) => format!("md:{}", t.lines().next().unwrap_or_default()),
                LessonCell::Code { role, line, .. } => format!("{role:?}@{line}"),
            })
            .collect();
        assert_eq!(
            roles,
            [
                "md:# Title",
                "Parameters@5",
                "md:```text",
                "Exercise { id: \"double\", points: 2 }@13",
                "Solution(\"double\")@16",
                "Check(\"double\")@19",
                "HiddenCheck(\"double\")@22"
            ]
        );
        let exercises = lesson.exercises();
        assert_eq!(exercises[0].checks, ["check_double(d);", "secret(d);"]);
        assert_eq!(exercises[0].solution.as_deref(), Some("let d = 2 * n;"));
        let notebook = lesson.notebook();
        let ids: Vec<_> = notebook.cells.iter().map(|c| c["id"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!(ids, ["md-1", "parameters", "md-3", "exercise-double", "check-double"]);
        assert_eq!(notebook.to_text(), lesson.notebook().to_text());
        let solved = lesson.solved_notebook();
        let solved_ids: Vec<_> =
            solved.cells.iter().map(|c| c["id"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!(solved_ids, ids, "the solved notebook has the learners' cells, ids and tags");
        assert_eq!(crate::notebook::source(&notebook.cells[3]), "let d = todo!();");
        assert_eq!(crate::notebook::source(&solved.cells[3]), "let d = 2 * n;");
        assert!(!solved.to_text().contains("secret"), "hidden checks stay out of the solved notebook too");
    }

    #[test]
    fn wrong_answers_belong_to_their_exercise_and_stay_out_of_notebooks() {
        let lesson = parse(
            "```rust exercise id=double points=2\nlet d = todo!();\n```\n```rust solution id=double\nlet d = 2 * n;\n```\n\
             ```rust check id=double\ncheck_double(d);\n```\n\
             ```rust wrong id=double\n// breaks: d is twice n (not n + 2)\nlet d = n + 2;\n```\n\
             Prose.\n\n```rust wrong id=double\n  //   breaks:   d is an integer  \nlet d = 2.0 * n as f64;\n```\n\
             ```rust exercise id=none points=1\nlet e = todo!();\n```\n```rust check id=none\ncheck_none(e);\n```\n",
        )
        .expect("parses");
        let exercises = lesson.exercises();
        assert_eq!(
            exercises[0].wrong,
            [
                WrongAnswer {
                    breaks: "d is twice n (not n + 2)".into(),
                    source: "// breaks: d is twice n (not n + 2)\nlet d = n + 2;".into(),
                    line: 10,
                },
                WrongAnswer {
                    breaks: "d is an integer".into(),
                    source: "  //   breaks:   d is an integer  \nlet d = 2.0 * n as f64;".into(),
                    line: 16,
                },
            ]
        );
        assert_eq!(exercises[0].checks, ["check_double(d);"], "a wrong answer is not a check");
        assert_eq!(exercises[0].solution.as_deref(), Some("let d = 2 * n;"), "nor the solution");
        assert!(exercises[1].wrong.is_empty(), "an exercise may have no wrong answers");
        let book = lesson.wrong_notebook().expect("the lesson has wrong answers");
        let ids: Vec<_> = book.cells.iter().map(|c| c["id"].as_str().unwrap_or_default().to_string()).collect();
        assert_eq!(
            ids,
            [
                "wrong-double-1",
                "wrong-double-2",
                "exercise-double",
                "check-double",
                "md-5",
                "exercise-none",
                "check-none"
            ],
            "each wrong answer comes before its exercise's model answer"
        );
        assert_eq!(
            crate::notebook::source(&book.cells[0]),
            "{\n// breaks: d is twice n (not n + 2)\nlet d = n + 2;\n;\ncheck_double(d);\n};"
        );
        assert_eq!(book.cells[1]["metadata"]["candlelit"]["wrong"]["breaks"], "d is an integer");
        assert_eq!(book.cells[1]["metadata"]["candlelit"]["wrong"]["line"], 16);
        assert!(crate::notebook::tags(&book.cells[0]).is_empty(), "a plain cell: the grader runs it as it is");
        assert_eq!(crate::notebook::source(&book.cells[2]), "let d = 2 * n;");
        let plain = parse("```rust exercise id=a points=1\nlet y = 0;\n```\n```rust check id=a\nc(y);\n```\n");
        assert!(plain.expect("parses").wrong_notebook().is_none(), "no wrong answers, no notebook");
        for book in [lesson.notebook(), lesson.solved_notebook()] {
            let text = book.to_text();
            assert!(!text.contains("breaks") && !text.contains("n + 2"), "wrong answers stay out: {text}");
            let ids: Vec<_> = book.cells.iter().map(|c| c["id"].as_str().unwrap_or_default().to_string()).collect();
            assert_eq!(ids, ["exercise-double", "check-double", "md-5", "exercise-none", "check-none"]);
        }
    }

    #[test]
    fn malformed_lessons_say_where_and_what() {
        let cases = [
            ("```rust exercize id=a points=1\n```\n", "day00-test.md:1: unknown tag `exercize`"),
            ("```rust exercise points=1\n```\n", "needs `id=NAME`"),
            ("```rust exercise id=a\n```\n", "needs `points=N`"),
            ("```rust exercise id=a points=two\n```\n", "whole number"),
            ("```rust check id=a\n```\n", "day00-test.md:1: `a` is not an exercise defined above"),
            ("x\n\n```rust exercise id=a points=1\n```\n", "day00-test.md:3: exercise `a` has no `check`"),
            (
                "```rust exercise id=a points=1\n```\n```rust check id=a\n```\n```rust exercise id=a points=1\n```\n",
                "day00-test.md:5: exercise `a` is defined twice",
            ),
            ("```rust parameters id=a\n```\n", "belong to exercise"),
            ("```rust check solution id=a\n```\n", "one tag"),
            (
                "```rust exercise id=a points=1\n```\n```rust check id=a\n```\n```rust wrong\n// breaks: x\n```\n",
                "day00-test.md:5: a `wrong` cell needs `id=NAME`",
            ),
            ("```rust wrong id=a\n// breaks: x\n```\n", "day00-test.md:1: `a` is not an exercise defined above"),
            (
                "```rust exercise id=a points=1\n```\n```rust check id=a\n```\n```rust wrong id=a\nlet y = 1;\n```\n",
                "day00-test.md:6: a `wrong` cell for `a` starts with `// breaks:",
            ),
            (
                "```rust exercise id=a points=1\n```\n```rust check id=a\n```\n```rust wrong id=a\n// breaks:\nlet y = 1;\n```\n",
                "day00-test.md:6: a `wrong` cell for `a` starts with `// breaks:",
            ),
            (
                "```rust exercise id=a points=1\n```\n```rust check id=a\n```\n```rust wrong id=a\nlet y = 1; // breaks: x\n```\n",
                "day00-test.md:6: a `wrong` cell for `a` starts with `// breaks:",
            ),
            (
                "```rust exercise id=a points=1\n```\n```rust wrong id=a points=1\n// breaks: x\n```\n",
                "`points` belongs on the exercise",
            ),
            (
                "```rust exercise id=a points=1\nlet y = 0;\n```\n```rust solution id=a\nlet y = x.sqr()?.sum_all()?;\n```\n\
                 ```rust check id=a\nassert!(y == x.sqr()?.sum_all()?);\n```\n",
                "day00-test.md:7: the check of `a` contains a line of its solution",
            ),
        ];
        for (text, expected) in cases {
            let error = parse(text).expect_err(text);
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let cell_of = |lines: usize| format!("text\n```rust\n{}```\n", "let a = 1;\n".repeat(lines));
        let error = parse(&cell_of(26)).expect_err("a 26-line cell");
        assert!(error.contains("day00-test.md:2: a code cell of 26 lines; keep cells within a screen (25)"), "{error}");
        assert!(parse(&cell_of(25)).is_ok(), "25 lines fit");
    }
}
