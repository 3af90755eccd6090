//! The kernel under real Python Jupyter clients: the `jupyter_kernel_test` conformance suite, and `candlelit lab`
//! driven through Jupyter Server's REST API and kernel websocket.
//!
//! The clients live in `.candlelit/venv`, made by `scripts/python-env` (which `scripts/test` runs first).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kernel-starting test at a time (each compiles cells; two at once on 2 cores only slow both down).
static SERIAL: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the kernel crate sits in the repository").to_path_buf()
}

fn python() -> PathBuf {
    let python = repo().join(".candlelit/venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/python-env (scripts/test does) to install the Jupyter clients",
        python.display()
    );
    python
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("candlelit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

#[test]
fn jupyter_kernel_test_conformance_suite_passes() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let prefix = scratch("conformance");
    let install = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["install", "--no-warm", "--prefix"])
        .arg(&prefix)
        .output()
        .expect("candlelit install runs");
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let out = Command::new(python())
        .args(["-m", "unittest", "-v", "test_conformance"])
        .current_dir(repo().join("tests/jupyter"))
        .env("JUPYTER_PATH", prefix.join("share/jupyter"))
        .env("JUPYTER_PLATFORM_DIRS", "1")
        .output()
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "conformance suite failed:\n{report}");
    // Every test ran: a skip would mean a sample is missing or the kernel lacks a feature.
    assert!(!report.contains("skipped"), "some conformance tests were skipped:\n{report}");
    let ran = report.lines().find(|l| l.starts_with("Ran ")).unwrap_or_default();
    assert!(ran.starts_with("Ran 13 tests"), "expected all 13 conformance tests to run: {ran}\n{report}");
    let _ = std::fs::remove_dir_all(&prefix);
}

/// Stops `candlelit lab` (which became `jupyter lab`) and the kernels it started.
struct Lab(Child);

impl Drop for Lab {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `candlelit lab` as a learner starts it, on a free port, serving `notebooks`.
struct RunningLab {
    lab: Lab,
    /// `http://127.0.0.1:PORT`.
    base: String,
    token: String,
    home: PathBuf,
    /// Where `lab` puts its standby kernel's socket and log.
    runtime: PathBuf,
}

impl RunningLab {
    fn start(name: &str, notebooks: &Path) -> RunningLab {
        let home = scratch(&format!("{name}-home"));
        // `candlelit lab` looks for JupyterLab in the venv under its home first: lend it the test venv.
        std::os::unix::fs::symlink(repo().join(".candlelit/venv"), home.join("venv")).expect("venv link");
        let runtime = scratch(&format!("{name}-runtime"));
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new(env!("CARGO_BIN_EXE_candlelit"))
            .args(["lab", "--no-browser", "--no-warm", "--port", &port.to_string(), "--notebook-dir"])
            .arg(notebooks)
            .env("CANDLELIT_HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("candlelit lab starts");
        let mut lab = Lab(child);
        let stdout = lab.0.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split_once("— ").map(|(_, url)| url.trim().to_string()))
            .expect("candlelit lab prints the address it serves");
        let (base, token) = address.split_once("/lab?token=").expect("address with a token");
        assert_eq!(base, format!("http://127.0.0.1:{port}"), "bound to loopback on the asked port");
        let (base, token) = (base.to_string(), token.to_string());
        std::thread::spawn(move || lines.for_each(drop));
        // Jupyter Server takes a few seconds to listen.
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "JupyterLab did not start listening on port {port}");
            std::thread::sleep(Duration::from_millis(250));
        }
        RunningLab { lab, base, token, home, runtime }
    }
}

impl Drop for RunningLab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[test]
fn candlelit_lab_serves_the_kernel_through_jupyter_server() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let python = python();
    let notebooks = scratch("lab-notebooks");
    let running = RunningLab::start("lab", &notebooks);
    let (base, token, runtime) = (running.base.as_str(), running.token.as_str(), running.runtime.clone());
    // The token is in JupyterLab's environment, not on a command line any user of the machine can read.
    let exposed = processes_mentioning(std::path::Path::new(token));
    assert!(exposed.is_empty(), "the token is on a command line: {exposed:?}");
    let out = Command::new(&python)
        .arg(repo().join("tests/jupyter/lab_client.py"))
        .args([base, token])
        .output()
        .expect("the lab client runs");
    assert!(out.status.success(), "lab client failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    assert!(seen["kernelspecs"].as_array().expect("list").iter().any(|k| k == "candlelit"), "{seen}");
    assert_eq!(seen["display_name"], "Rust · candlelit");
    assert_eq!(seen["status"], "ok", "{seen}");
    assert_eq!(seen["result"], "6.0", "{seen}");
    // The kernel Jupyter started handed its connection file to the standby `lab` had started.
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    let standby = runtime.join(format!("candlelit-{}", unsafe { libc::getuid() }));
    let log = std::fs::read_to_string(standby.join(format!("standby-{}.log", running.lab.0.id()))).unwrap_or_default();
    assert!(log.contains("standby ready") && log.contains("standby taken"), "standby log:\n{log}");
    drop(running);
    // With JupyterLab gone, so are its standbys.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_mentioning(&standby).is_empty() {
        assert!(Instant::now() < deadline, "standbys outlived JupyterLab: {:?}", processes_mentioning(&standby));
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::fs::remove_dir_all(&runtime);
    let _ = std::fs::remove_dir_all(&notebooks);
}

/// A learner's session in a real browser: `candlelit lab`, Debian's Chromium driven by Selenium
/// (`tests/jupyter/browser_lab.py`), the Day 3 lesson run from the Run menu, then ■ and Restart. Screenshots go
/// to `target/browser-test/`.
#[test]
fn a_lesson_runs_in_jupyterlab_in_a_real_browser() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let python = python();
    let notebooks = scratch("browser-notebooks");
    let lesson = "day03-autograd.ipynb";
    let mut book: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo().join("notebooks").join(lesson)).expect("the lesson's notebook"))
            .expect("json");
    // What a learner might add at the end: a live figure, a tensor, a check that passes, an endless loop, a cell
    // that reads an earlier variable.
    let live = "let live = DisplayHandle::new();\nfor step in 0..5 {\n    let ys: Vec<f32> = (0..=step).map(|i| (i * i) as f32).collect();\n    \
        live.update(&Figure::new().title(format!(\"step {step}\")).line(\"y\", ys));\n    \
        std::thread::sleep(std::time::Duration::from_millis(300));\n}";
    let appended = [
        live,
        "Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu)?",
        "check(\"browser\", || expect_eq(1 + 1, 2, \"one plus one\"));",
        "println!(\"spinning\");\nlet mut turns = 0u64;\nloop {\n    turns += 1;\n}",
        "println!(\"still here: {lr}\");",
    ];
    let cells = book["cells"].as_array_mut().expect("cells");
    let lesson_cells = cells.iter().filter(|c| c["cell_type"] == "code").count();
    for (n, code) in appended.iter().enumerate() {
        cells.push(serde_json::json!({"cell_type": "code", "id": format!("browser-{n}"), "metadata": {},
            "execution_count": null, "outputs": [], "source": code}));
    }
    std::fs::write(notebooks.join(lesson), serde_json::to_string_pretty(&book).expect("json")).expect("written");
    let running = RunningLab::start("browser", &notebooks);
    let shots = repo().join("target/browser-test");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let out = Command::new(&python)
        .arg(repo().join("tests/jupyter/browser_lab.py"))
        .args([running.base.as_str(), running.token.as_str(), lesson])
        .arg(&shots)
        .arg((lesson_cells + appended.len()).to_string())
        .output()
        .expect("the browser script runs");
    let seen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{}\n{seen}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("browser test: {seen}");
    // Which kernels standbys served, and whether each had finished loading when taken (its wait is the learner's).
    let standbys = standby_logs(&running.runtime);
    println!("standby logs:\n{standbys}");
    let taken: Vec<&str> = standbys.lines().filter(|l| l.contains("standby taken by a kernel")).collect();
    assert_eq!(taken.len(), 2, "the notebook's kernel and its restart each adopt a standby: {standbys}");
    let seen: serde_json::Value = serde_json::from_str(seen.trim()).expect("the script prints JSON");
    assert_eq!(seen["code_cells"], lesson_cells, "{seen}");
    assert_eq!(seen["live_figure_images"], 1, "{seen}");
    for shot in ["1-opened", "2-all-cells-ran", "3-interrupted", "4-restarted"] {
        let png = std::fs::read(shots.join(format!("{shot}.png"))).expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "{shot}.png is not a PNG");
    }
    // The notebook as JupyterLab saved it, before the restart: every lesson cell ran, none failed.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(notebooks.join(lesson)).expect("saved")).expect("json");
    let code: Vec<&serde_json::Value> =
        saved["cells"].as_array().expect("cells").iter().filter(|c| c["cell_type"] == "code").collect();
    for cell in &code[..lesson_cells] {
        assert!(cell["execution_count"].is_number(), "a lesson cell did not run: {}", cell["source"]);
        let failed = cell["outputs"].as_array().into_iter().flatten().find(|o| o["output_type"] == "error");
        assert!(failed.is_none(), "a lesson cell failed in the browser: {} → {failed:?}", cell["source"]);
    }
    drop(running);
    let _ = std::fs::remove_dir_all(&notebooks);
}

/// Every standby log `candlelit lab` wrote under `runtime`, joined.
fn standby_logs(runtime: &Path) -> String {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(runtime)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|dir| std::fs::read_dir(dir.path()).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.iter().filter_map(|log| std::fs::read_to_string(log).ok()).collect()
}

/// The tools instructors run notebooks with — papermill (with parameters, through `python/papermill-candlelit`),
/// `jupyter nbconvert --execute` and nbclient's `jupyter execute` — each run Day 1 to the end with the kernel,
/// side by side.
#[test]
fn papermill_nbconvert_and_nbclient_run_a_lesson_to_the_end() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let python = python();
    let dir = scratch("instructor-tools");
    let install = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["install", "--no-warm", "--prefix"])
        .arg(dir.join("prefix"))
        .output()
        .expect("candlelit install runs");
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let lesson = "day01-candle-and-notebooks.ipynb";
    for copy in ["nbconvert.ipynb", "nbclient.ipynb", "papermill-in.ipynb"] {
        std::fs::copy(repo().join("notebooks").join(lesson), dir.join(copy)).expect("copied");
    }
    let tool = |args: &[&str]| {
        Command::new(&python)
            .args(args)
            .current_dir(&dir)
            .env("JUPYTER_PATH", dir.join("prefix/share/jupyter"))
            .env("JUPYTER_PLATFORM_DIRS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs")
    };
    let runs = [
        (
            "papermill",
            tool(&["-m", "papermill", "-k", "candlelit", "papermill-in.ipynb", "papermill.ipynb", "-p", "seed", "3"]),
        ),
        (
            "nbconvert",
            tool(&[
                "-m",
                "jupyter",
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                "--inplace",
                "--ExecutePreprocessor.kernel_name=candlelit",
                "--ExecutePreprocessor.timeout=600",
                "nbconvert.ipynb",
            ]),
        ),
        ("nbclient", tool(&["-m", "jupyter", "execute", "--inplace", "--kernel_name=candlelit", "nbclient.ipynb"])),
    ];
    for (name, run) in runs {
        let out = run.wait_with_output().expect("the tool ends");
        assert!(out.status.success(), "{name} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let book: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.ipynb"))).expect("its notebook"))
                .expect("json");
        let code: Vec<&serde_json::Value> =
            book["cells"].as_array().expect("cells").iter().filter(|c| c["cell_type"] == "code").collect();
        for cell in &code {
            assert!(cell["execution_count"].is_number(), "{name}: a cell did not run: {}", cell["source"]);
            let failed = cell["outputs"].as_array().into_iter().flatten().find(|o| o["output_type"] == "error");
            assert!(failed.is_none(), "{name}: a cell failed: {} → {failed:?}", cell["source"]);
        }
        let verdicts = book.to_string().matches("✘").count();
        assert!(verdicts >= 5, "{name}: the exercises' checks showed their verdicts ({verdicts} ✘)");
        if name == "papermill" {
            // The injected cell papermill wrote, run with the type the parameters cell declared (an i32 would
            // not compile where the lesson uses it as a u64).
            let injected = code
                .iter()
                .find(|c| {
                    c["metadata"]["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "injected-parameters"))
                })
                .expect("papermill's injected-parameters cell");
            let source = injected["source"].as_array().map(|l| l.iter().filter_map(|l| l.as_str()).collect::<String>());
            assert!(source.is_some_and(|s| s.contains("let seed = 3;")), "{injected}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Command lines of running processes that mention `path` (from /proc).
fn processes_mentioning(path: &std::path::Path) -> Vec<String> {
    let needle = path.display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle))
        .collect()
}

/// `candlelit lessons build` on the fixture lesson, then `candlelit run` on its notebook: parameters overridden,
/// every kind of output saved, and the saved notebook valid for Python's `nbformat` (what JupyterLab opens).
#[test]
fn the_runner_saves_a_valid_notebook_with_parameters_overridden() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = scratch("runner");
    let lessons = repo().join("kernel/tests/fixtures/lessons");
    let candlelit = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_candlelit")).args(args).current_dir(&dir).output().expect("candlelit runs")
    };
    let built = candlelit(&["lessons", "build", "--lessons", &lessons.display().to_string(), "--notebooks", "."]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));

    // Without --allow-errors the run stops at the failing check (the exercise is not done), says which cell, and
    // still saves what ran.
    let stopped = candlelit(&["run", "day00-every-tag.ipynb", "-o", "stopped.ipynb", "-p", "epochs=3"]);
    assert!(!stopped.status.success(), "a failing cell must fail the run");
    let message = String::from_utf8_lossy(&stopped.stderr);
    assert!(message.contains("(id check-double) failed") && message.contains("twice"), "{message}");
    let saved = notebook(&dir.join("stopped.ipynb"));
    let last = saved["cells"].as_array().and_then(|c| c.iter().rev().find(|c| c["cell_type"] == "code")).cloned();
    assert_eq!(
        last.expect("code cells")["execution_count"],
        serde_json::Value::Null,
        "cells after a failure do not run"
    );

    let ran = candlelit(&[
        "run",
        "day00-every-tag.ipynb",
        "-o",
        "ran.ipynb",
        "-p",
        "epochs=3",
        "-p",
        "label=ci",
        "--allow-errors",
    ]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let saved = notebook(&dir.join("ran.ipynb"));
    let cells = saved["cells"].as_array().expect("cells");
    let injected = cells.iter().position(|c| c["id"] == "injected-parameters").expect("an injected cell");
    assert_eq!(cells[injected - 1]["id"], "parameters", "injected right after the parameters cell");
    let text =
        |c: &serde_json::Value| c["source"].as_array().map(|l| l.iter().filter_map(|s| s.as_str()).collect::<String>());
    let injected_source = text(&cells[injected]).unwrap_or_default();
    assert!(
        injected_source.contains("let epochs: usize = 3;") && injected_source.contains("let label: &str = \"ci\";"),
        "{injected_source}"
    );
    let outputs = |id: &str| cells.iter().find(|c| c["id"] == id).map(|c| c["outputs"].clone()).unwrap_or_default();
    let shown = outputs("code-4").to_string();
    assert!(shown.contains("ci: 3 epochs at rate 0.5"), "parameters reached the cells: {shown}");
    assert!(
        shown.contains("\"name\":\"stderr\"") && shown.contains("image/svg+xml") && shown.contains("execute_result"),
        "{shown}"
    );
    assert!(shown.contains("[[3., 3.],"), "the tensor result shows its values: {shown}");
    assert!(outputs("check-double").to_string().contains("\"output_type\":\"error\""), "the stub fails its check");
    // A `check` verdict is a display, kept as JSON for the grader and as HTML and text for people.
    let verdict = outputs("check-double-2");
    assert_eq!(
        verdict[0]["data"]["application/vnd.candlelit.check+json"],
        serde_json::json!({"exercise": "double", "passed": false, "message": "`doubled % 2` is 1, which is not what the exercise asks for"}),
        "{verdict}"
    );
    assert!(verdict[0]["data"]["text/html"].to_string().contains("✘ double"), "{verdict}");
    let counts: Vec<_> =
        cells.iter().filter(|c| c["cell_type"] == "code").map(|c| c["execution_count"].clone()).collect();
    assert_eq!(
        counts,
        (1..=counts.len()).map(serde_json::Value::from).collect::<Vec<_>>(),
        "every code cell ran, counted in order"
    );

    let check = Command::new(python())
        .args(["-c", "import sys, nbformat\nfor p in sys.argv[1:]:\n    nbformat.validate(nbformat.read(p, as_version=4))\nprint('valid')"])
        .args([dir.join("stopped.ipynb"), dir.join("ran.ipynb"), dir.join("day00-every-tag.ipynb")])
        .output()
        .expect("python runs");
    assert!(check.status.success(), "nbformat rejects a notebook: {}", String::from_utf8_lossy(&check.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

fn notebook(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the notebook was saved")).expect("JSON")
}
