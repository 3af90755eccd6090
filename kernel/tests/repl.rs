//! `candlelit repl` through a pseudo-terminal (multi-line input, completion, Ctrl-C, `input()`, history across
//! restarts, figures, commands) and through standard input (scripts stop with status 1 at the first error).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use expectrl::{ControlCode, Expect};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("candlelit-repl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn repl_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_candlelit"));
    command.arg("repl").current_dir(dir).env("CANDLELIT_HOME", dir.join("home")).env("TERM", "xterm");
    // Datasets come from the real files beside the repository, into the scratch folder.
    let shared = std::env::var_os("CANDLELIT_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    command.env("CANDLELIT_DATA", dir.join("data")).env("CANDLELIT_DATA_MIRROR", shared);
    command
}

type Terminal = expectrl::session::OsSession;

/// An empty prompt as rustyline draws it (a prompt redrawn while an entry goes on has text after `>> `). Input
/// typed before it appears may be dropped, as in any line editor, so the test waits for it.
const PROMPT: &str = ">> \r";

fn start(dir: &Path) -> Terminal {
    let mut terminal = expectrl::Session::spawn(repl_command(dir)).expect("the REPL starts in a pseudo-terminal");
    // The first start on a machine compiles Candle; the test command warms the cache before the tests run.
    terminal.set_expect_timeout(Some(Duration::from_secs(300)));
    terminal.expect("device: cpu").expect("the banner names the device");
    terminal.expect(PROMPT).expect("a prompt");
    terminal.set_expect_timeout(Some(Duration::from_secs(90)));
    terminal
}

fn enter(terminal: &mut Terminal, line: &str) {
    terminal.send(line).expect("typed");
    terminal.send("\r").expect("Enter");
}

#[test]
fn the_terminal_repl_edits_completes_interrupts_and_remembers() {
    let dir = scratch("pty");
    let mut repl = start(&dir);

    enter(&mut repl, ":help");
    repl.expect(":vars").expect("help lists the commands");
    repl.expect(PROMPT).expect("a prompt after the help");

    enter(&mut repl, "let t = Tensor::ones((2, 2), DType::F32, &Device::Cpu)?;");
    repl.expect(PROMPT).expect("prompt after a statement");

    // An open brace continues the entry; the value shows once it is complete.
    enter(&mut repl, "fn double(x: f32) -> f32 {");
    enter(&mut repl, "    2.0 * x");
    enter(&mut repl, "}");
    repl.expect(PROMPT).expect("the entry ended with its closing brace");
    enter(&mut repl, "double(21.0)");
    repl.expect("42").expect("the multi-line function was defined");
    repl.expect(PROMPT).expect("the prompt again");

    // Tab completes a method name from the session: `t.matm` becomes `t.matmul`.
    repl.send("t.matm").expect("typed");
    repl.send("\t").expect("Tab");
    repl.expect("matmul").expect("completed");
    enter(&mut repl, "(&t)?");
    repl.expect("[[2., 2.],").expect("the completed call ran and the tensor printed its values");
    repl.expect(PROMPT).expect("the prompt again");

    // Ctrl-C stops a running entry and keeps the variables.
    enter(&mut repl, "println!(\"spinning\"); loop { std::thread::sleep(std::time::Duration::from_millis(10)); }");
    repl.expect("spinning").expect("the loop started");
    repl.send(ControlCode::EndOfText).expect("Ctrl-C");
    repl.expect("KeyboardInterrupt").expect("the entry was interrupted");
    repl.expect(PROMPT).expect("the prompt again");
    enter(&mut repl, "t.sum_all()?");
    repl.expect("4.").expect("variables survive the interrupt");
    repl.expect(PROMPT).expect("the prompt again");

    // input() asks on the terminal; getpass() does not echo what is typed.
    enter(&mut repl, "let who = input(\"Your name? \")?;");
    repl.expect("Your name? ").expect("the prompt of input()");
    enter(&mut repl, "Ada");
    repl.expect(PROMPT).expect("the prompt after the answer");
    enter(&mut repl, "format!(\"hello {who}\")");
    repl.expect("\"hello Ada\"").expect("the answer reached the cell");
    repl.expect(PROMPT).expect("the prompt again");
    enter(&mut repl, "let key = getpass(\"Key: \")?;");
    repl.expect("Key: ").expect("the prompt of getpass()");
    enter(&mut repl, "sesame");
    let typed = repl.expect(PROMPT).expect("the prompt after the hidden answer");
    assert!(!String::from_utf8_lossy(typed.before()).contains("sesame"), "the password was echoed");
    enter(&mut repl, "key.len()");
    repl.expect("6").expect("the hidden answer reached the cell");
    repl.expect(PROMPT).expect("the prompt again");

    enter(&mut repl, ":vars");
    repl.expect("t: Tensor").expect("`:vars` lists t with its type");
    repl.expect(PROMPT).expect("the prompt again");
    enter(&mut repl, ":device");
    repl.expect("device: cpu").expect(":device");
    repl.expect("CPU linear layers: ").expect(":device names the library of the linear layers");
    repl.expect(PROMPT).expect("the prompt again");

    enter(&mut repl, "Figure::new().title(\"y\").line(\"y\", &[1f32, 2., 3.])");
    repl.expect("figure saved to candlelit-figure-1.svg").expect("a figure becomes a file");
    repl.expect(PROMPT).expect("the prompt again");
    let svg = std::fs::read_to_string(dir.join("candlelit-figure-1.svg")).expect("the figure file");
    assert!(svg.starts_with("<svg"), "{svg:.80}");

    enter(&mut repl, ":clear");
    repl.expect("every variable is gone").expect(":clear");
    repl.expect(PROMPT).expect("the prompt again");
    enter(&mut repl, "t");
    repl.expect("cannot find value `t`").expect("`:clear` forgot t");
    repl.expect(PROMPT).expect("the prompt again");
    enter(&mut repl, "let broken: u8 = \"text\";");
    repl.expect("mismatched types").expect("a compile error is shown");
    repl.expect(PROMPT).expect("the prompt again");
    enter(&mut repl, "println!(\"history {}\", 6 * 7)");
    repl.expect("history 42").expect("the REPL goes on after an error");
    repl.expect(PROMPT).expect("the prompt again");
    repl.send(ControlCode::EndOfTransmission).expect("Ctrl-D");
    repl.expect(expectrl::Eof).expect("Ctrl-D quits");
    let history = std::fs::read_to_string(dir.join("home/repl_history")).expect("history saved in the home");
    assert!(history.contains("fn double(x: f32) -> f32 {"), "{history}");

    // A new REPL has the history: Up brings back the last entry.
    let mut again = start(&dir);
    again.send("\x1b[A").expect("Up");
    again.send("\r").expect("Enter");
    again.expect("history 42").expect("the last entry of the earlier session ran again");
    again.expect(PROMPT).expect("the prompt again");
    enter(&mut again, "t");
    again.expect("cannot find value `t`").expect("variables do not outlive their session");
    again.expect(PROMPT).expect("the prompt again");
    again.send(ControlCode::EndOfTransmission).expect("Ctrl-D");
    let _ = std::fs::remove_dir_all(&dir);
}

fn script(dir: &Path, text: &str) -> std::process::Output {
    let mut child = repl_command(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the REPL starts");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("script written");
    child.wait_with_output().expect("the REPL ends")
}

#[test]
fn a_script_on_standard_input_runs_entry_by_entry_and_stops_at_the_first_error() {
    let dir = scratch("script");
    // Two crates of the learner's own: `outer`, loaded with `:dep`, re-exports `inner`. evcxr's rust-analyzer
    // indexes only what a cell can name (vendor/evcxr/PATCHED.md), and that includes both: a variable of a type
    // from each is typed and kept for the next entry.
    for (name, lib, deps) in [
        ("inner", "pub struct Depth(pub u32);\npub fn deep() -> Depth { Depth(7) }\n", ""),
        (
            "outer",
            "pub use inner;\npub struct Meters(pub f64);\npub fn meters() -> Meters { Meters(2.5) }\n",
            "inner = { path = \"../inner\" }",
        ),
    ] {
        std::fs::create_dir_all(dir.join(name).join("src")).expect("crate folder");
        let manifest =
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\n{deps}\n");
        std::fs::write(dir.join(name).join("Cargo.toml"), manifest).expect("manifest");
        std::fs::write(dir.join(name).join("src/lib.rs"), lib).expect("library");
    }
    let good = script(
        &dir,
        "let x = randn((3, 4), &Device::Cpu)?;\nfn rows(t: &Tensor) -> usize {\n    t.dims()[0]\n}\n\
         println!(\"rows {}\", rows(&x));\nx.dims()\n\
         :dep outer = { path = \"outer\" }\nlet m = outer::meters();\nlet d = outer::inner::deep();\n\
         println!(\"own crates {} {}\", m.0, d.0);\n\
         std::fs::write(\"outer/src/lib.rs\", \"pub use inner;\\npub struct Meters(pub f64);\\npub fn meters() -> Meters { Meters(4.5) }\\n\")?;\n\
         println!(\"edited crate {}\", outer::meters().0);\n\
         let data = image_splits(\"fashion-mnist\")?;\n\
         let loader = DataLoader::new(data.test.clone().with_transform(ToTensor)).batch_size(500).num_workers(2);\n\
         let mut seen = 0usize;\nfor batch in &loader { let (x, y) = batch?; seen += y.dim(0)?; }\n\
         println!(\"seen {seen} of {}\", data.test.len());\n\
         println!(\"threads={}\", std::env::var(\"RAYON_NUM_THREADS\").unwrap_or_default());\n\
         println!(\"spin={}\", std::env::var(\"CANDLE_BARRIER_POOL_SPIN_LIMIT\").unwrap_or_default());\n\
         println!(\"openblas={}\", std::env::var(\"OPENBLAS_THREAD_TIMEOUT\").unwrap_or_default());\n\
         println!(\"blas={}\", cpu_blas().unwrap_or_default());\n",
    );
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&good.stderr));
    assert!(stdout.contains("rows 3") && stdout.contains("[3, 4]"), "{stdout}");
    assert!(stdout.contains("own crates 2.5 7"), "{stdout}");
    // A cell compiles without cargo while nothing but the cell changed (vendor/evcxr/PATCHED.md); a crate of the
    // learner's own that a cell edits is not that: its next use sees the edit.
    assert!(stdout.contains("edited crate 4.5"), "{stdout}");
    // The prelude's data in a session: a loader kept in a variable, worker threads, data from the mirror.
    assert!(stdout.contains("seen 10000 of 10000"), "{stdout}");
    assert!(!stdout.lines().any(|l| l.trim() == "()"), "a loop ending an entry shows nothing: {stdout}");
    // The cell process gets its thread count once (Candle would re-count the cores on every operation).
    let threads = stdout.lines().find_map(|l| l.strip_prefix("threads=")).and_then(|n| n.trim().parse::<usize>().ok());
    assert!(threads.is_some_and(|n| n >= 1), "RAYON_NUM_THREADS in the cell process: {stdout}");
    // ... and a short spin for Candle's element-wise pool, so it does not hold a core the next product needs.
    assert!(
        stdout.lines().any(|l| l.trim() == "spin=300"),
        "CANDLE_BARRIER_POOL_SPIN_LIMIT in the cell process: {stdout}"
    );
    // The same for OpenBLAS's threads; and the cells find OpenBLAS, which the test script installs.
    assert!(stdout.lines().any(|l| l.trim() == "openblas=4"), "OPENBLAS_THREAD_TIMEOUT in the cell process: {stdout}");
    if std::env::var_os("CANDLELIT_EXPECT_BLAS").is_some() {
        assert!(stdout.lines().any(|l| l.starts_with("blas=OpenBLAS 0.")), "cpu_blas() in a session: {stdout}");
    }

    let bad = script(
        &dir,
        "println!(\"before\");\nlet a = Tensor::ones((2, 3), DType::F32, &Device::Cpu)?;\n\
         let b = a.matmul(&a)?;\nprintln!(\"after\");\n",
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&bad.stdout), String::from_utf8_lossy(&bad.stderr));
    assert_eq!(bad.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("before") && !stdout.contains("after"), "{stdout}");
    assert!(stderr.contains("ShapeError") && stderr.contains("line 3"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "no colour codes in a pipe: {stderr}");

    let unfinished = script(&dir, "fn f() {\n");
    assert_eq!(unfinished.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unfinished.stderr).contains("starts at line 1"));
    let _ = std::fs::remove_dir_all(&dir);
}
