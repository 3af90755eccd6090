//! `candlelit bench`: how fast the lessons' models train here, through the prelude's layers, beside PyTorch on the
//! same machine in the same run.
//!
//! One training step is forward, cross-entropy, backward and an SGD step, for the lessons' MLP (784-128-64-10, at
//! batch 64 and 1024) and the Day 8 CNN (batch 64), on random 28×28 inputs. Each measurement runs in a fresh child
//! process — candlelit's (`candlelit-bench-worker`, kernel/src/bench_worker.rs) with the settings every session
//! gives its cells (threads, allocator, Candle's spin), then
//! PyTorch's (`bench/train_throughput.py`, built in) — alternating model by model for `--rounds` rounds, so that a
//! machine getting faster or slower mid-run moves both sides alike. The tables give medians, steps per second and
//! the ratio candlelit / PyTorch. For the CNN, single ops are timed too (the prelude's layers, Candle's own ops on
//! the same inputs, and PyTorch's), to show which part of a step is slow.

use serde_json::Value;

use crate::bench_model::Model;
#[cfg(test)]
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The PyTorch side, run with the Python given by `--python`.
const PYTORCH_SCRIPT: &str = include_str!("../../bench/train_throughput.py");

/// Options of `candlelit bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training steps per measurement of the CNN, after 5 warm-up steps; the MLP runs 4× as many at batch 1024 and
    /// 16× at batch 64, whose steps are shorter (the same on both sides).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// Rounds: each measures every model once on each side; the tables show the medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Models, comma-separated: mlp (batch 64), mlp1024 (batch 1024), cnn (Day 8's, batch 64).
    #[arg(long, value_delimiter = ',', default_value = "mlp,mlp1024,cnn")]
    models: Vec<Model>,
    /// A Python with PyTorch for the baseline (`bench/torch-venv` prints one, installing it the first time).
    #[arg(long, default_value = "python3", value_name = "PYTHON")]
    python: PathBuf,
    /// Measure candlelit alone.
    #[arg(long, conflicts_with = "python")]
    no_pytorch: bool,
    /// Leave out the CNN's single-op timings.
    #[arg(long)]
    model_only: bool,
    /// Also write every measurement, one JSON object a line, to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// Runs `candlelit bench`.
pub fn run(args: &Args) -> std::result::Result<(), String> {
    let worker = worker_binary()?;
    let mut json_file = match &args.json {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot write the measurements to {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut rows: Vec<Value> = Vec::new();
    // Each measurement goes to the file as soon as it is taken, so a failure later in the run loses none of them.
    let mut keep = |new: Vec<Value>, rows: &mut Vec<Value>| -> std::result::Result<(), String> {
        if let Some(file) = json_file.as_mut() {
            for row in &new {
                writeln!(file, "{row}").map_err(|e| format!("cannot write the measurements: {e}"))?;
            }
        }
        rows.extend(new);
        Ok(())
    };
    let mut pytorch = (!args.no_pytorch).then_some(args.python.as_path());
    for round in 1..=args.rounds {
        for &model in &args.models {
            let ours = candlelit_side(&worker, model, args)?;
            let mut line = format!("round {round}/{}: {:<26} candlelit {}", args.rounds, model.label(), rate(&ours));
            let device = ours.iter().find_map(|row| row["device"].as_str()).unwrap_or("cpu").to_string();
            keep(ours, &mut rows)?;
            if let Some(python) = pytorch {
                match pytorch_side(python, model, args, &device) {
                    Ok(theirs) => {
                        line += &format!(" · PyTorch {}", rate(&theirs));
                        keep(theirs, &mut rows)?;
                    }
                    Err(why) => {
                        eprintln!("candlelit bench: the PyTorch side did not run, so there are no ratios: {why}");
                        pytorch = None;
                    }
                }
            }
            eprintln!("{line}");
        }
    }
    print!("{}", blas_line(&rows));
    print!("{}", tables(&rows, &args.models));
    Ok(())
}

/// Which library did the linear layers' CPU products in the candlelit measurements (nothing on a GPU).
fn blas_line(rows: &[Value]) -> String {
    let cpu = rows.iter().find(|row| row["side"] == "candlelit" && row["device"] == "cpu");
    match cpu.map(|row| &row["blas"]) {
        None => String::new(),
        Some(Value::String(blas)) => {
            format!("candlelit's linear layers multiplied with {blas} (CANDLELIT_BLAS=off measures without it)\n")
        }
        Some(_) => "candlelit's linear layers multiplied with the built-in gemm crate (no system BLAS)\n".to_string(),
    }
}

/// `1,234 samples/s` of the model row among `rows`.
fn rate(rows: &[Value]) -> String {
    rows.iter()
        .find_map(|row| row["samples_per_s"].as_f64())
        .map_or_else(|| "?".to_string(), |v| format!("{} samples/s", thousands(v)))
}

/// The measuring binary, `candlelit-bench-worker`, built beside this one (kernel/src/bench_worker.rs).
fn worker_binary() -> std::result::Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the candlelit binary: {e}"))?;
    let worker = exe.with_file_name(format!("candlelit-bench-worker{}", std::env::consts::EXE_SUFFIX));
    if worker.is_file() {
        Ok(worker)
    } else {
        Err(format!(
            "the measurements run in `{}`, which is not built: run `cargo build --release --bins` (it builds both \
             binaries), then this command again",
            worker.display()
        ))
    }
}

/// Training steps of one measurement of `model` when `--steps` asks for `steps`. The batch-64 MLP's step is about a
/// fiftieth of the CNN's, so it runs 16× as many (40 of them took 20 ms, where one scheduler hiccup moved the
/// figure by a third) and the batch-1024 MLP 4×; both sides run the same count.
fn steps_for(model: Model, steps: u32) -> u32 {
    steps.saturating_mul(match model {
        Model::Mlp => 16,
        Model::Mlp1024 => 4,
        Model::Cnn => 1,
    })
}

/// Runs the worker for one model with a session's settings, and reads its JSON lines.
fn candlelit_side(worker: &Path, model: Model, args: &Args) -> std::result::Result<Vec<Value>, String> {
    let mut command = Command::new(worker);
    command.args([model.name(), &steps_for(model, args.steps).to_string()]);
    if args.model_only {
        command.arg("--model-only");
    }
    command.envs(crate::session::cell_process_env());
    let output = command.output().map_err(|e| format!("cannot start a measurement: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "the candlelit measurement of {} failed ({}):\n{}",
            model.name(),
            output.status,
            stderr.trim()
        ));
    }
    json_lines(&output.stdout, "candlelit")
}

/// Runs the built-in PyTorch script with `python` for one model on `device`, and reads its JSON lines.
fn pytorch_side(python: &Path, model: Model, args: &Args, device: &str) -> std::result::Result<Vec<Value>, String> {
    let mut command = Command::new(python);
    command.args(["-", model.name(), &steps_for(model, args.steps).to_string(), "--device", device]);
    if args.model_only {
        command.arg("--model-only");
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
            format!("cannot run `{}` ({e}); pass --python with a Python that has torch", python.display())
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A Python that exits before reading its script shows up in its exit status below.
        let _ = stdin.write_all(PYTORCH_SCRIPT.as_bytes());
    }
    let output = child.wait_with_output().map_err(|e| format!("`{}` did not finish: {e}", python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        let hint = if stderr.contains("No module named 'torch'") {
            " (this Python has no torch: `bench/torch-venv` prints one that has)"
        } else {
            ""
        };
        return Err(format!("`{}` exited with {}: {last}{hint}", python.display(), output.status));
    }
    json_lines(&output.stdout, "pytorch")
}

/// The JSON objects among `stdout`'s lines, each checked to come from `side`.
fn json_lines(stdout: &[u8], side: &str) -> std::result::Result<Vec<Value>, String> {
    let text = String::from_utf8_lossy(stdout);
    let rows: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).map_err(|e| format!("a {side} measurement was not JSON ({e}): {l}")))
        .collect::<std::result::Result<_, _>>()?;
    if rows.is_empty() || rows.iter().any(|r| r["side"] != side) {
        return Err(format!("the {side} side printed no measurement of its own:\n{text}"));
    }
    Ok(rows)
}

/// The median of `key` over the rows of `side` that `pick` selects, if there are any.
fn median(rows: &[Value], side: &str, pick: impl Fn(&Value) -> bool, key: &str) -> Option<f64> {
    let mut values: Vec<f64> =
        rows.iter().filter(|r| r["side"] == side && pick(r)).filter_map(|r| r[key].as_f64()).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The result tables in Markdown: one row per model, then one per single op (when any were measured).
fn tables(rows: &[Value], models: &[Model]) -> String {
    let mut out = String::from(
        "\n| model (batch) | candlelit samples/s (steps/s) | PyTorch samples/s (steps/s) | ratio | candlelit fwd/bwd/step ms | PyTorch fwd/bwd/step ms |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for &model in models {
        let of = |r: &Value| r["model"] == model.name();
        let cell = |side: &str| match median(rows, side, of, "samples_per_s") {
            Some(v) => format!("{} ({:.1})", thousands(v), v / model.batch() as f64),
            None => "–".to_string(),
        };
        let phases = |side: &str| {
            let ms: Vec<String> = ["forward_ms", "backward_ms", "step_ms"]
                .iter()
                .map(|k| median(rows, side, of, k).map_or("–".to_string(), |v| format!("{v:.2}")))
                .collect();
            ms.join("/")
        };
        let ratio = match (median(rows, "candlelit", of, "samples_per_s"), median(rows, "pytorch", of, "samples_per_s"))
        {
            (Some(c), Some(p)) if p > 0.0 => format!("{:.2}×", c / p),
            _ => "–".to_string(),
        };
        out += &format!(
            "| {} | {} | {} | {ratio} | {} | {} |\n",
            model.label(),
            cell("candlelit"),
            cell("pytorch"),
            phases("candlelit"),
            phases("pytorch")
        );
    }
    let mut ops: Vec<&str> = Vec::new();
    for name in rows.iter().filter(|r| r["side"] == "candlelit").filter_map(|r| r["op"].as_str()) {
        if !ops.contains(&name) {
            ops.push(name);
        }
    }
    if !ops.is_empty() {
        out += "\n| op | candlelit fwd / bwd ms | PyTorch fwd / bwd ms | forward ratio | backward ratio (PyTorch/candlelit) |\n| --- | --- | --- | --- | --- |\n";
    }
    for op in ops {
        // A "Candle conv2d …" row is Candle's own op on the inputs of PyTorch's "conv2d …" row.
        let base = op.strip_prefix("Candle ").unwrap_or(op);
        let m = |side: &str, name: &str, key: &str| median(rows, side, |r| r["op"] == name, key);
        let (c_f, c_b) = (m("candlelit", op, "forward_ms"), m("candlelit", op, "backward_ms"));
        let (p_f, p_b) = (m("pytorch", base, "forward_ms"), m("pytorch", base, "backward_ms"));
        let pair = |f: Option<f64>, b: Option<f64>| match (f, b) {
            (Some(f), Some(b)) => format!("{f:.2} / {b:.2}"),
            _ => "–".to_string(),
        };
        let ratio = |p: Option<f64>, c: Option<f64>| match (p, c) {
            (Some(p), Some(c)) if c > 0.0 => format!("{:.2}×", p / c),
            _ => "–".to_string(),
        };
        out += &format!(
            "| {op} | {} | {} | {} | {} |\n",
            pair(c_f, c_b),
            pair(p_f, p_b),
            ratio(p_f, c_f),
            ratio(p_b, c_b)
        );
    }
    out
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_middle_or_the_mean_of_the_two_middles() {
        let rows: Vec<Value> = [3.0, 1.0, 2.0, 10.0]
            .iter()
            .map(|v| json!({"side": "candlelit", "model": "mlp", "samples_per_s": v}))
            .collect();
        let all = |_: &Value| true;
        assert_eq!(median(&rows, "candlelit", all, "samples_per_s"), Some(2.5));
        assert_eq!(median(&rows[..3], "candlelit", all, "samples_per_s"), Some(2.0));
        assert_eq!(median(&rows, "pytorch", all, "samples_per_s"), None);
    }

    #[test]
    fn tables_give_ratios_only_where_both_sides_ran() {
        let rows = vec![
            json!({"side": "candlelit", "model": "mlp", "samples_per_s": 64000.0, "forward_ms": 0.3, "backward_ms": 0.4, "step_ms": 0.1}),
            json!({"side": "pytorch", "model": "mlp", "samples_per_s": 32000.0, "forward_ms": 0.6, "backward_ms": 0.8, "step_ms": 0.2}),
            json!({"side": "candlelit", "model": "cnn", "samples_per_s": 1000.0, "forward_ms": 9.0, "backward_ms": 20.0, "step_ms": 1.0}),
        ];
        let text = tables(&rows, &[Model::Mlp, Model::Cnn]);
        assert!(text.contains("| MLP 784-128-64-10 (64) | 64,000 (1000.0) | 32,000 (500.0) | 2.00× | 0.30/0.40/0.10 | 0.60/0.80/0.20 |"), "{text}");
        assert!(text.contains("| Day 8 CNN (64) | 1,000 (15.6) | – | – |"), "{text}");
        assert!(!text.contains("| op |"), "no single ops were measured: {text}");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1234567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(0.2), "0");
    }
}
