//! The `candlelit` binary answers `--help` and `--version`, refuses what it does not know, builds lessons, and
//! runs a notebook headless without waiting for input nobody can type.

use std::process::Command;

fn candlelit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_candlelit")).args(args).output().expect("the candlelit binary runs")
}

#[test]
fn version_names_the_package_version() {
    let out = candlelit(&["--version"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("candlelit {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_describes_the_tool() {
    let out = candlelit(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("deep learning in Rust") && text.contains("Usage: candlelit"), "{text}");
}

#[test]
fn unknown_arguments_fail_with_usage() {
    let out = candlelit(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: candlelit"));
}

#[test]
fn no_arguments_report_the_build() {
    let out = candlelit(&[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let cuda = if cfg!(feature = "cuda") { "yes" } else { "no" };
    assert!(text.contains(&format!("CUDA support: {cuda}")), "{text}");
}

/// `lessons build` twice gives the same bytes; `lessons check` passes then, and names the file and the fix when a
/// notebook is stale or left over, or the file and line when a lesson is malformed.
#[test]
fn lessons_build_is_deterministic_and_check_finds_stale_and_malformed_lessons() {
    let dir = std::env::temp_dir().join(format!("candlelit-lessons-{}", std::process::id()));
    let (lessons, notebooks) = (dir.join("lessons"), dir.join("notebooks"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&lessons).expect("lessons folder");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lessons/day00-every-tag.md");
    std::fs::copy(fixture, lessons.join("day00-every-tag.md")).expect("fixture copied");
    let run = |action: &str| {
        let (l, n) = (lessons.display().to_string(), notebooks.display().to_string());
        candlelit(&["lessons", action, "--lessons", &l, "--notebooks", &n])
    };
    let notebook = notebooks.join("day00-every-tag.ipynb");

    assert!(!run("check").status.success(), "a missing notebook fails the check");
    assert!(run("build").status.success());
    let first = std::fs::read(&notebook).expect("built");
    assert!(run("build").status.success());
    assert_eq!(std::fs::read(&notebook).expect("rebuilt"), first, "building twice gives identical bytes");
    let text = String::from_utf8_lossy(&first);
    assert!(!text.contains("hidden-check") && !text.contains("2 * epochs;"), "no hidden checks or solutions: {text}");
    assert!(
        text.contains("\"check-double\"") && text.contains("\"exercise-double\"") && text.contains("\"parameters\"")
    );
    let checked = run("check");
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert!(String::from_utf8_lossy(&checked.stdout).contains("1 exercise(s), 2 point(s)"));

    std::fs::write(&notebook, text.replace("change this line", "changed by hand")).expect("edited");
    std::fs::write(notebooks.join("orphan.ipynb"), "{}").expect("orphan");
    let stale = String::from_utf8_lossy(&run("check").stderr).into_owned();
    assert!(stale.contains("day00-every-tag.ipynb: stale") && stale.contains("candlelit lessons build"), "{stale}");
    assert!(stale.contains("orphan.ipynb: no lesson"), "{stale}");

    std::fs::write(lessons.join("day01-broken.md"), "# Broken\n\n```rust exercise id=x points=1\nlet x = 1;\n```\n")
        .expect("broken lesson");
    let broken = String::from_utf8_lossy(&run("check").stderr).into_owned();
    assert!(broken.contains("day01-broken.md:3: exercise `x` has no `check` cell"), "{broken}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `candlelit run` has nobody to type: a cell that asks for input gets an error it can see at once, whether it
/// uses the prelude's `input()` or reads stdin itself, and the run goes on to the next cell.
#[test]
fn a_headless_run_answers_input_with_an_error_instead_of_waiting() {
    let dir = std::env::temp_dir().join(format!("candlelit-headless-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder");
    let cell = |id: &str, code: &str| {
        serde_json::json!({"cell_type": "code", "id": id, "metadata": {}, "execution_count": null, "outputs": [],
            "source": code})
    };
    let book = serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [
            cell("prelude-input", "let name = input(\"Your name? \")?;"),
            cell("raw-read", "let mut line = String::new();\nlet read = std::io::stdin().read_line(&mut line);\nread.is_err()"),
            cell("after", "6 * 7"),
        ],
    });
    let notebook = dir.join("asks.ipynb");
    std::fs::write(&notebook, book.to_string()).expect("written");
    let out = dir.join("asked.ipynb");
    let ran = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["run", "--allow-errors", "--timeout", "120", "-o"])
        .arg(&out)
        .arg(&notebook)
        .output()
        .expect("candlelit runs");
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let done: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).expect("saved")).expect("json");
    let outputs = |n: usize| done["cells"][n]["outputs"].to_string();
    assert!(outputs(0).contains("nobody can type an answer in a headless run"), "{}", outputs(0));
    assert!(outputs(1).contains("\"true\"") && outputs(1).contains("reads a line from stdin"), "{}", outputs(1));
    assert!(outputs(2).contains("42"), "{}", outputs(2));
    let _ = std::fs::remove_dir_all(&dir);
}
