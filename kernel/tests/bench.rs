//! `candlelit bench` measures the lessons' models in child processes with a session's settings, writes what it
//! measured, and still gives candlelit's figures — with a message saying why — when the PyTorch side cannot run.
//! (Speed itself is measured by `bench/training`, not asserted here: this is the debug build.)

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bench(extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["bench", "--models", "mlp", "--model-only"])
        .args(extra)
        .env("CANDLELIT_DEVICE", "cpu")
        .env_remove("RAYON_NUM_THREADS")
        .output()
        .expect("the candlelit binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn candlelit_alone_gives_a_table_and_json_lines_from_children_with_session_settings() {
    let json = std::env::temp_dir().join(format!("candlelit-bench-{}.jsonl", std::process::id()));
    let out = bench(&["--steps", "2", "--no-pytorch", "--rounds", "2", "--json", json.to_str().expect("utf-8 path")]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let row =
        stdout.lines().find(|l| l.starts_with("| MLP 784-128-64-10 (64) |")).unwrap_or_else(|| panic!("{stdout}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | label | candlelit | PyTorch | ratio | candlelit phases | PyTorch phases |
    let samples: f64 =
        cells[2].split(' ').next().map(|s| s.replace(',', "")).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    assert!(samples > 0.0, "a positive rate: {row}");
    assert_eq!((cells[3], cells[4]), ("–", "–"), "no PyTorch side, so no ratio: {row}");
    assert_eq!(stderr.matches("round ").count(), 2, "one progress line per round and model: {stderr}");

    let lines = std::fs::read_to_string(&json).expect("the measurements were written");
    let _ = std::fs::remove_file(&json);
    let rows: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    assert_eq!(rows.len(), 2, "one measurement a round: {lines}");
    let physical = std::thread::available_parallelism().map_or(1, usize::from);
    for row in &rows {
        assert_eq!(
            (row["side"].as_str(), row["model"].as_str(), row["device"].as_str()),
            (Some("candlelit"), Some("mlp"), Some("cpu"))
        );
        for key in ["samples_per_s", "forward_ms", "backward_ms", "step_ms"] {
            assert!(row[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {row}");
        }
        // The child ran with the thread count a session sets (the physical cores), though the test unset it.
        let threads: usize = row["threads"].as_str().and_then(|t| t.parse().ok()).unwrap_or(0);
        assert!((1..=physical).contains(&threads), "threads {threads} of {physical} CPUs: {row}");
        // Which library did the linear layers' products: OpenBLAS, which the test script installs.
        if std::env::var_os("CANDLELIT_EXPECT_BLAS").is_some() {
            assert!(row["blas"].as_str().is_some_and(|b| b.starts_with("OpenBLAS 0.")), "{row}");
        }
    }
    if std::env::var_os("CANDLELIT_EXPECT_BLAS").is_some() {
        assert!(stdout.contains("linear layers multiplied with OpenBLAS 0."), "{stdout}");
    }
}

#[test]
fn candlelit_blas_off_measures_the_built_in_products_and_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["bench", "--models", "mlp", "--model-only", "--steps", "1", "--rounds", "1", "--no-pytorch"])
        .env("CANDLELIT_DEVICE", "cpu")
        .env("CANDLELIT_BLAS", "off")
        .output()
        .expect("the candlelit binary runs");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("linear layers multiplied with the built-in gemm crate"), "{stdout}");
}

#[test]
fn a_missing_python_or_one_without_torch_still_gives_candlelits_figures_and_says_why() {
    let missing = bench(&["--steps", "2", "--rounds", "1", "--python", "/nonexistent/python3"]);
    let (stdout, stderr) = (text(&missing.stdout), text(&missing.stderr));
    assert!(missing.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("cannot run `/nonexistent/python3`") && stderr.contains("--python"), "{stderr}");
    assert!(stdout.contains("| MLP 784-128-64-10 (64) |"), "{stdout}");

    // The test venv (scripts/python-env) is a real Python without torch.
    let python = repo().join(".candlelit/venv/bin/python");
    assert!(python.exists(), "scripts/python-env makes {}", python.display());
    let no_torch = bench(&["--steps", "2", "--rounds", "1", "--python", python.to_str().expect("utf-8 path")]);
    let (stdout, stderr) = (text(&no_torch.stdout), text(&no_torch.stderr));
    assert!(no_torch.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("No module named 'torch'") && stderr.contains("bench/torch-venv"), "{stderr}");
    assert!(stdout.contains("| MLP 784-128-64-10 (64) |"), "{stdout}");
}

#[test]
fn a_step_count_of_zero_is_refused_with_usage() {
    let out = bench(&["--steps", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--steps"), "{}", text(&out.stderr));
}
