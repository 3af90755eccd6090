//! The course's lessons, end to end, with parameters made small: the grader gives the lesson's model answers full
//! marks and the untouched learner notebook zero, with feedback a learner can act on; the learner's feedback
//! notebook (every cell as it ran) has no error output, its figures, and a "not done yet" verdict per check. Every
//! `wrong` answer of a lesson gets ✘ from its exercise's visible check (see [`assert_wrong_answers_rejected`]).
//!
//! Each lesson is graded as two submissions: the untouched learner notebook, and the solved notebook with the
//! lesson's wrong answers run before their model answers (`lessons solved --wrong`). The second holds every cell of
//! the solved notebook in its order, so its full marks with no failed cell are the model answers' full marks; a
//! third submission of the solved notebook alone would run the whole lesson again to show nothing more.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("candlelit-lessons-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn candlelit(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_candlelit")).args(args).current_dir(dir).output().expect("candlelit runs")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(value: &Value) -> String {
    match value {
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn cells_tagged<'a>(book: &'a Value, tag: &str) -> Vec<&'a Value> {
    book["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["metadata"]["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag)))
        .collect()
}

/// The course's rules for a lesson, read from its source and its two notebooks: at least five exercises, each
/// with a model answer, a visible check and a hidden one; `todo!()` where the learner writes; a `parameters` cell;
/// no cell longer than a screen.
fn assert_lesson_rules(stem: &str) {
    let lesson = std::fs::read_to_string(repo().join("lessons").join(format!("{stem}.md"))).expect("lesson source");
    let ids = |tag: &str| -> BTreeSet<String> {
        lesson
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("```rust {tag} id=")))
            .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_string())
            .collect()
    };
    let exercises = ids("exercise");
    assert!(exercises.len() >= 5, "{stem}: {} exercises; the course needs at least 5", exercises.len());
    for tag in ["solution", "check", "hidden-check"] {
        assert_eq!(ids(tag), exercises, "{stem}: every exercise needs a `{tag}` cell");
    }
    let book = read_json(&repo().join("notebooks").join(format!("{stem}.ipynb")));
    assert_eq!(cells_tagged(&book, "parameters").len(), 1, "{stem}: one parameters cell");
    for cell in cells_tagged(&book, "exercise") {
        assert!(
            // `todo!()`, or `todo!("...")` where a find-the-bug exercise ends its buggy code with what to do.
            text(&cell["source"]).contains("todo!("),
            "{stem}: {} should leave a todo!() to the learner",
            cell["id"]
        );
    }
    for cell in book["cells"].as_array().expect("cells") {
        let lines = text(&cell["source"]).lines().count();
        let limit = if cell["cell_type"] == "code" { 25 } else { 35 };
        assert!(lines <= limit, "{stem}: cell {} has {lines} lines; keep cells within a screen ({limit})", cell["id"]);
    }
}

/// What an executed notebook shows: error outputs, SVG figures, and the text of each check verdict.
struct Executed {
    errors: Vec<String>,
    figures: usize,
    verdicts: Vec<String>,
}

fn executed(book: &Value) -> Executed {
    let mut seen = Executed { errors: Vec::new(), figures: 0, verdicts: Vec::new() };
    for cell in book["cells"].as_array().expect("cells") {
        for output in cell["outputs"].as_array().into_iter().flatten() {
            if output["output_type"] == "error" {
                seen.errors.push(format!("cell {}: {} {}", cell["id"], output["ename"], output["evalue"]));
            }
            let data = &output["data"];
            if data.get("image/svg+xml").is_some() {
                seen.figures += 1;
            }
            if data.get("application/vnd.candlelit.check+json").is_some() {
                seen.verdicts.push(text(&data["text/plain"]));
            }
        }
    }
    seen
}

/// Grades the solved and the learner's notebooks with small parameters (`grade -p`), and reads the learner's
/// feedback notebook as a learner's "Run all" would leave it.
fn lesson_runs_and_grades(stem: &str, parameters: &[&str], min_figures: usize) {
    assert_lesson_rules(stem);
    let dir = scratch(stem);
    let learner = repo().join("notebooks").join(format!("{stem}.ipynb"));
    std::fs::copy(&learner, dir.join("learner.ipynb")).expect("copy the learner notebook");
    let lesson = repo().join("lessons").join(format!("{stem}.md")).display().to_string();
    let wrong_dir = dir.join("wrong");
    let built = candlelit(&dir, &["lessons", "solved", "--wrong", &wrong_dir.display().to_string()]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let wrong = wrong_dir.join(format!("{stem}--wrong.ipynb"));
    assert!(wrong.is_file(), "{stem}: every lesson has wrong answers, each a requirement its check enforces");
    let wrong = wrong.display().to_string();
    let mut args = vec![
        "grade",
        &wrong,
        "learner.ipynb",
        "--lesson",
        &lesson,
        "--json",
        "report.json",
        "--feedback",
        "feedback",
        "--total-timeout",
        "3600",
    ];
    for p in parameters {
        args.extend(["-p", p]);
    }
    let graded = candlelit(&dir, &args);
    let stdout = String::from_utf8_lossy(&graded.stdout);
    assert!(graded.status.success(), "{stem}: {stdout}\n{}", String::from_utf8_lossy(&graded.stderr));

    // 1. The grader: the model answers earn every point, the untouched notebook none, and nothing crashes.
    let report = read_json(&dir.join("report.json"));
    let max = report["max_points"].as_u64().expect("max_points");
    let submissions = report["submissions"].as_array().expect("submissions");
    let [model, untouched] = submissions.as_slice() else {
        panic!("{stem}: two submissions graded: {report}");
    };
    assert_wrong_answers_rejected(stem, model, &read_json(&dir.join(format!("feedback/wrong/{stem}--wrong.ipynb"))));
    assert_eq!(untouched["points"].as_u64(), Some(0), "{stem}: {untouched:#}");
    assert_eq!(
        untouched["problems"],
        serde_json::json!([]),
        "{stem}: the untouched notebook runs cleanly: {untouched:#}"
    );
    for exercise in untouched["exercises"].as_array().expect("exercises") {
        let feedback = exercise["feedback"].as_str().unwrap_or_default();
        assert!(feedback.contains("not done yet"), "{stem}: feedback should say what to do: {exercise}");
    }
    assert!(stdout.contains(&format!("0/{max}")) && stdout.contains(&format!("{max}/{max}")), "{stem}: {stdout}");

    // 2. "Run all" on the notebook a learner opens, as the learner's feedback notebook shows it: no errors, its
    //    figures, a ✘ "not done yet" in every check cell, and the parameters injected.
    let ran_book = read_json(&dir.join("feedback/learner.ipynb"));
    let seen = executed(&ran_book);
    assert!(seen.errors.is_empty(), "{stem}: {:?}", seen.errors);
    assert!(
        seen.figures >= min_figures,
        "{stem}: {} inline SVG figures, expected at least {min_figures}",
        seen.figures
    );
    let checks = cells_tagged(&ran_book, "check");
    for cell in &checks {
        let verdicts = executed(&serde_json::json!({"cells": [cell]})).verdicts;
        assert!(!verdicts.is_empty(), "{stem}: no verdict in {}", cell["id"]);
        for verdict in verdicts {
            assert!(verdict.starts_with('✘') && verdict.contains("not done yet"), "{stem}: {verdict}");
        }
    }
    assert!(!checks.is_empty(), "{stem}: check cells");
    let injected = cells_tagged(&ran_book, "injected-parameters");
    assert_eq!(injected.len(), usize::from(!parameters.is_empty()), "{stem}: the parameters were injected");
    assert!(injected.iter().all(|c| c["execution_count"].is_number()), "{stem}: the injected cell ran");
    let summary = text(&ran_book["cells"][0]["source"]);
    assert!(summary.starts_with(&format!("# Graded by candlelit: 0 / {max} points")), "{stem}: {summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The lesson's `wrong` answers, each run in its exercise's place with the visible check after it (one cell
/// each, see `Lesson::wrong_notebook` in kernel/src/lessons.rs): every one ran (no failed cell), and the visible
/// check said ✘ with a message, not "not done yet" and not ✔ — what the learner's check cell would show for that
/// answer. The grader runs that same check among the exercise's checks, so a ✘ there is zero points at grading
/// too. The model answers that follow still earn full marks, so the wrong answers did not upset the lesson's
/// later cells. Fails naming the lesson, the exercise and the requirement (`// breaks:`) a check let through.
fn assert_wrong_answers_rejected(stem: &str, graded: &Value, book: &Value) {
    let mut accepted = Vec::new();
    let mut count = 0;
    for cell in book["cells"].as_array().expect("cells") {
        let Some(wrong) = cell["metadata"]["candlelit"].get("wrong") else { continue };
        count += 1;
        let verdicts = executed(&serde_json::json!({"cells": [cell]})).verdicts;
        let rejected = verdicts.iter().any(|v| {
            v.starts_with('✘')
                && !v.contains("not done yet")
                && v.split_once(": ").is_some_and(|(_, message)| !message.trim().is_empty())
        });
        if !rejected {
            let errors = executed(&serde_json::json!({"cells": [cell]})).errors;
            accepted.push(format!(
                "lessons/{stem}.md:{}: exercise `{}`: the visible check does not reject the wrong answer that breaks \
                 \"{}\" (verdicts: {verdicts:?}{})",
                wrong["line"],
                wrong["exercise"].as_str().unwrap_or_default(),
                wrong["breaks"].as_str().unwrap_or_default(),
                if errors.is_empty() { String::new() } else { format!("; the cell failed: {errors:?}") }
            ));
        }
    }
    assert!(count > 0, "{stem}: the wrong-answer notebook has no wrong answers");
    assert!(
        accepted.is_empty(),
        "{stem}: {} of {count} wrong answers got through:\n{}",
        accepted.len(),
        accepted.join("\n")
    );
    assert_eq!(
        graded["points"], graded["max_points"],
        "{stem}: with the wrong answers run before them, the model answers should still earn full marks: {graded:#}"
    );
    assert_eq!(graded["problems"], serde_json::json!([]), "{stem}: {graded:#}");
    eprintln!("{stem}: {count} wrong answer(s), each rejected by its visible check");
}

/// Claims `stem` in the lesson queue `CANDLELIT_LESSON_QUEUE` (a folder shared by the lanes `scripts/test` runs):
/// true when this process is the first to ask, so that every lesson runs in exactly one lane. Without a queue
/// every lesson is this process's.
fn claim(stem: &str) -> bool {
    let Some(queue) = std::env::var_os("CANDLELIT_LESSON_QUEUE") else { return true };
    std::fs::create_dir_all(&queue).expect("the lesson queue folder");
    match std::fs::create_dir(Path::new(&queue).join(stem)) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => panic!("claiming {stem} in the lesson queue: {e}"),
    }
}

/// One lesson after another in this process. `scripts/test` starts this test alongside the others and a second
/// copy once those are done; the two share a queue (see [`claim`]) and take the lessons longest first, so they
/// finish close together. Every lesson is tried; the failures are reported together.
#[test]
fn lessons_run_end_to_end_and_grade() {
    // Longest first (Day 8 takes about 250 s in the lane, Day 1 about 40 s).
    let lessons: [(&str, &[&str], usize); 10] = [
        // The CNN and the MLP for 1 epoch on 1,000 images, the augmentation runs on 300.
        ("day08-convolutional-networks", &["epochs=1", "train_limit=1000", "aug_images=300", "aug_epochs=1"], 5),
        // Two searches of 6 trials on 500 images, 2 epochs each; the winner's run on 1,000 images for 1 epoch.
        (
            "day07-hyperparameter-search",
            &[
                "trials=6",
                "max_epochs=2",
                "search_images=500",
                "valid_images=300",
                "final_epochs=1",
                "final_images=1000",
                "toy_seeds=2",
            ],
            9,
        ),
        // Features of 500 training and 300 test images through the pretrained ResNet-20; label counts 50 / 200 / 500;
        // the CNN from scratch for 20 steps at each; one epoch of fine-tuning (at least 10 steps) at each.
        (
            "day09-transfer-learning",
            &[
                "train_limit=500",
                "test_limit=300",
                "few_labels=50",
                "some_labels=200",
                "head_steps=50",
                "cnn_epochs=1",
                "cnn_min_steps=20",
                "finetune_epochs=1",
                "finetune_min_steps=10",
            ],
            4,
        ),
        // The question answerer for 5 epochs; the language models for 1 epoch on the first 20,000 words of Tiny
        // Shakespeare with a vocabulary of 2,000.
        ("day10-recurrent-networks", &["qa_epochs=5", "lm_tokens=20000", "vocab_cap=2000", "lm_epochs=1"], 2),
        // The real Fashion-MNIST from ../shared/data: its first 1,000 training images, all 10,000 test images.
        ("day06-ann-fashion-mnist", &["epochs=1", "train_limit=1000"], 8),
        ("day05-nn-dataset-dataloader", &["epochs=3"], 1),
        ("day04-network-from-scratch", &["epochs=30"], 1),
        ("day03-autograd", &["steps=10"], 2),
        ("day02-tensor-operations", &["samples=2000", "seed=1"], 3),
        ("day01-candle-and-notebooks", &["seed=3"], 0),
    ];
    // CANDLELIT_LESSONS=day07,day08 runs only the lessons whose names start with one of those (while writing one).
    let only: Vec<String> = std::env::var("CANDLELIT_LESSONS")
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let mut failures = Vec::new();
    for (stem, parameters, figures) in lessons {
        if !only.is_empty() && !only.iter().any(|p| stem.starts_with(p.as_str())) {
            eprintln!("{stem}: left out (CANDLELIT_LESSONS={})", only.join(","));
            continue;
        }
        if !claim(stem) {
            eprintln!("{stem}: run by the other lane");
            continue;
        }
        let started = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(|| lesson_runs_and_grades(stem, parameters, figures));
        eprintln!(
            "{stem}: {} in {:.0} s",
            if outcome.is_ok() { "passed" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        if outcome.is_err() {
            failures.push(stem);
        }
    }
    assert!(failures.is_empty(), "lessons that failed (messages above): {failures:?}");
}
