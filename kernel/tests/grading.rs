//! `candlelit grade` on submissions made from the fixture lesson `day00-grading.md`: right, wrong, partly right,
//! with a check cell deleted or tampered with, and broken in every way a cell can break. Each gets the points it
//! deserves with a message that says why, and none stops the batch.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn candlelit(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_candlelit")).args(args).current_dir(dir).output().expect("candlelit runs")
}

/// The lesson's notebook as a learner receives it.
fn learner_notebook(dir: &Path) -> Value {
    let lessons = repo().join("kernel/tests/fixtures/lessons");
    let built = candlelit(dir, &["lessons", "build", "--lessons", &lessons.display().to_string(), "--notebooks", "."]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    serde_json::from_slice(&std::fs::read(dir.join("day00-grading.ipynb")).expect("built")).expect("json")
}

/// A submission: the learner's notebook with some cells' code replaced (by id), some removed, some added.
struct Answers<'a> {
    replace: &'a [(&'a str, &'a str)],
    remove: &'a [&'a str],
    append: &'a [&'a str],
}

fn submission(book: &Value, answers: &Answers) -> Value {
    let mut book = book.clone();
    let cells = book["cells"].as_array_mut().expect("cells");
    cells.retain(|c| !answers.remove.iter().any(|id| c["id"] == *id));
    for cell in cells.iter_mut() {
        if let Some((_, code)) = answers.replace.iter().find(|(id, _)| cell["id"] == *id) {
            cell["source"] = json!(code);
        }
    }
    for (n, code) in answers.append.iter().enumerate() {
        cells.push(json!({
            "cell_type": "code", "id": format!("added-{n}"), "metadata": {}, "execution_count": null,
            "outputs": [], "source": code,
        }));
    }
    book
}

const SQUARE: &str = "let squares = x.sqr()?;";
const MEAN: &str = "fn mean_of(t: &Tensor) -> Result<f32> {\n    t.mean_all()?.to_scalar::<f32>()\n}";

#[test]
fn every_submission_gets_the_points_it_deserves_and_none_stops_the_batch() {
    let dir = std::env::temp_dir().join(format!("candlelit-grading-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let book = learner_notebook(&dir);
    let none: &[&str] = &[];
    let right: &[(&str, &str)] = &[("exercise-square", SQUARE), ("exercise-mean", MEAN)];
    let all_checks: &[&str] = &["check-square", "check-mean"];
    let hog = format!("{MEAN}\nlet hog: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 64 << 20]).collect();");
    let endless = format!("{MEAN}\nlet mut spins = 0u64;\nloop {{ spins += 1; }}");
    let fake_check = "fn check(id: &str, _body: impl FnOnce() -> CheckResult) {\n    \
        display(&Verdict { exercise: id.to_string(), passed: true, message: \"all checks passed\".into() });\n}";
    let cases: Vec<(&str, Value)> = vec![
        // Also leaves a variable behind, which the next submission must not see.
        ("correct", submission(&book, &Answers { replace: right, remove: none, append: &["let left_behind = 1;"] })),
        ("wrong", submission(&book, &Answers { replace: &[], remove: none, append: &["left_behind + 1"] })),
        (
            "partial",
            submission(
                &book,
                &Answers {
                    replace: &[
                        ("exercise-square", SQUARE),
                        ("exercise-mean", "fn mean_of(_t: &Tensor) -> Result<f32> { Ok(1.5) }"),
                    ],
                    remove: none,
                    append: &[],
                },
            ),
        ),
        ("deleted-check", submission(&book, &Answers { replace: right, remove: all_checks, append: &[] })),
        // A notebook command that would end the grader's session (and, before, the whole batch).
        (
            "quit-command",
            submission(
                &book,
                &Answers {
                    replace: &[("exercise-square", &format!(":quit\n{SQUARE}")), ("exercise-mean", MEAN)],
                    remove: none,
                    append: &[],
                },
            ),
        ),
        (
            "tampered-check",
            submission(
                &book,
                &Answers {
                    replace: &[
                        ("parameters", &format!("let n: usize = 4;\n{fake_check}")),
                        ("check-square", "println!(\"✔ square: all checks passed\");"),
                        ("check-mean", "check(\"mean\", || Ok(()));"),
                    ],
                    remove: none,
                    append: &[],
                },
            ),
        ),
        (
            "compile-error",
            submission(
                &book,
                &Answers {
                    replace: &[("exercise-square", "let squares: Tensor = x.sqr();"), ("exercise-mean", MEAN)],
                    remove: none,
                    append: &[],
                },
            ),
        ),
        (
            "panic",
            submission(
                &book,
                &Answers {
                    replace: &[
                        (
                            "exercise-square",
                            "let squares = x.sqr()?;\nlet values: Vec<f32> = squares.to_vec1()?;\nlet tenth = values[10];",
                        ),
                        ("exercise-mean", MEAN),
                    ],
                    remove: none,
                    append: &[],
                },
            ),
        ),
        (
            "endless-loop",
            submission(
                &book,
                &Answers {
                    replace: &[("exercise-square", SQUARE), ("exercise-mean", &endless)],
                    remove: none,
                    append: &[],
                },
            ),
        ),
        (
            "memory-hog",
            submission(
                &book,
                &Answers {
                    replace: &[("exercise-square", SQUARE), ("exercise-mean", &hog)],
                    remove: none,
                    append: &[],
                },
            ),
        ),
    ];
    let mut paths = Vec::new();
    for (name, notebook) in &cases {
        let path = format!("{name}.ipynb");
        std::fs::write(dir.join(&path), serde_json::to_string_pretty(notebook).expect("json")).expect("written");
        paths.push(path);
        if *name == "partial" {
            // A file that is not a notebook at all, in the middle of the batch.
            std::fs::write(dir.join("garbled.ipynb"), "{ this is not json").expect("written");
            paths.push("garbled.ipynb".into());
            // A file name a spreadsheet would run as a formula.
            std::fs::write(dir.join("=HYPERLINK(1).ipynb"), "{}").expect("written");
            paths.push("=HYPERLINK(1).ipynb".into());
        }
    }
    let mut args = vec![
        "grade",
        "--lesson",
        "day00-grading.md",
        "--json",
        "report.json",
        "--csv",
        "grades.csv",
        "--cell-timeout",
        "10",
        "--memory-limit",
        "1024",
    ];
    std::fs::copy(repo().join("kernel/tests/fixtures/lessons/day00-grading.md"), dir.join("day00-grading.md"))
        .expect("lesson copied");
    args.extend(paths.iter().map(String::as_str));
    let graded = candlelit(&dir, &args);
    let stdout = String::from_utf8_lossy(&graded.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&graded.stderr).into_owned();
    assert!(graded.status.success(), "{stdout}\n{stderr}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report")).expect("report json");
    assert_eq!(report["format"], "candlelit-grade/1");
    assert_eq!(report["max_points"], 5);
    assert_eq!(report["exercises"], json!([{"id": "square", "max_points": 2}, {"id": "mean", "max_points": 3}]));
    let submissions = report["submissions"].as_array().expect("submissions");
    assert_eq!(submissions.len(), paths.len(), "every submission is in the report, in order");
    let by_name = |name: &str| -> &Value {
        submissions.iter().find(|s| s["submission"] == format!("{name}.ipynb")).unwrap_or_else(|| panic!("{name}"))
    };
    let points = |name: &str| -> (u64, u64) {
        let s = by_name(name);
        let each = s["exercises"].as_array().expect("exercises");
        (each[0]["points"].as_u64().expect("points"), each[1]["points"].as_u64().expect("points"))
    };
    let feedback = |name: &str, exercise: usize| -> String {
        by_name(name)["exercises"][exercise]["feedback"].as_str().expect("feedback").to_string()
    };
    let problems = |name: &str| by_name(name)["problems"].to_string();
    let all = |name: &str| format!("{name}: {}", by_name(name));

    assert_eq!(points("correct"), (2, 3), "{}", all("correct"));
    assert_eq!(feedback("correct", 0), "all checks passed");

    assert_eq!(points("wrong"), (0, 0), "{}", all("wrong"));
    assert!(feedback("wrong", 0).contains("of squares is off by"), "{}", all("wrong"));
    assert!(feedback("wrong", 1).contains("mean_of(&x) is 0"), "{}", all("wrong"));
    assert!(problems("wrong").contains("left_behind"), "a fresh session per submission: {}", all("wrong"));

    // The visible check passes (1.5 is the mean of 0..4); the hidden one, on other data, does not.
    assert_eq!(points("partial"), (2, 0), "{}", all("partial"));
    assert!(feedback("partial", 1).contains("mean_of on another tensor is 1.5"), "{}", all("partial"));

    assert_eq!(by_name("garbled")["points"], 0);
    assert!(problems("garbled").contains("could not be read"), "{}", all("garbled"));

    assert_eq!(points("deleted-check"), (2, 3), "deleting checks changes nothing: {}", all("deleted-check"));
    assert_eq!(points("tampered-check"), (0, 0), "a faked ✔ earns nothing: {}", all("tampered-check"));

    assert_eq!(points("compile-error"), (0, 3), "{}", all("compile-error"));
    assert!(feedback("compile-error", 0).contains("does not compile"), "{}", all("compile-error"));

    assert_eq!(points("panic"), (0, 3), "{}", all("panic"));
    assert!(feedback("panic", 0).contains("panicked: index out of bounds"), "{}", all("panic"));

    assert_eq!(points("endless-loop"), (2, 0), "{}", all("endless-loop"));
    assert!(feedback("endless-loop", 1).contains("stopped after 10 s"), "{}", all("endless-loop"));

    assert_eq!(points("memory-hog"), (2, 0), "{}", all("memory-hog"));
    assert!(feedback("memory-hog", 1).contains("ran out of memory (the limit is 1024 MiB)"), "{}", all("memory-hog"));

    assert_eq!(points("quit-command"), (0, 3), "{}", all("quit-command"));
    assert!(feedback("quit-command", 0).contains("notebook command `:quit`"), "{}", all("quit-command"));

    // The solution never reaches the learner's feedback.
    assert!(!report.to_string().contains("mean_all"), "feedback must not reveal the solution");

    let csv = std::fs::read_to_string(dir.join("grades.csv")).expect("gradebook");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "submission,square,mean,total,max_points");
    assert_eq!(rows[1], "correct.ipynb,2,3,5,5");
    assert!(rows.contains(&"partial.ipynb,2,0,2,5") && rows.contains(&"garbled.ipynb,0,0,0,5"), "{csv}");
    assert!(rows.contains(&"'=HYPERLINK(1).ipynb,0,0,0,5"), "a formula-like name is quoted: {csv}");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("the folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "the reports are renamed into place: {leftovers:?}");
    assert_eq!(rows.len(), paths.len() + 1);

    let table_row = stdout.lines().find(|l| l.starts_with("partial.ipynb")).expect("a table row per submission");
    assert!(table_row.contains("✔ 2/2") && table_row.contains("✘ 0/3") && table_row.ends_with("2/5"), "{stdout}");
    assert!(stdout.contains("✘ mean: mean_of on another tensor"), "feedback under the table: {stdout}");

    // The total limit: a submission that uses it up is stopped, keeps what it earned, and says why.
    let limited = candlelit(
        &dir,
        &["grade", "--lesson", "day00-grading.md", "--total-timeout", "1", "--json", "limited.json", "correct.ipynb"],
    );
    assert!(limited.status.success(), "{}", String::from_utf8_lossy(&limited.stderr));
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("limited.json")).expect("report")).expect("report json");
    let submission = &report["submissions"][0];
    assert!(submission["problems"].to_string().contains("used up its 1 s"), "{submission}");
    assert_eq!(submission["exercises"][1]["points"], 0, "{submission}");
    assert!(
        submission["exercises"][1]["feedback"].as_str().is_some_and(|f| f.starts_with("not graded")),
        "{submission}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
