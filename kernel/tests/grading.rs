//! `candlelit grade` on submissions made from the fixture lesson `day00-grading.md`: right, wrong, partly right,
//! with a check cell deleted or tampered with, and broken in every way a cell can break. Each gets the points it
//! deserves with a message that says why, and none stops the batch.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// The command lines of processes the escape submission starts, still running anywhere on the machine.
fn survivors() -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.trim() == "sleep 37" || c.trim() == "sleep 38" || c.contains("echo late"))
        .collect()
}

/// `N children…` → N.
fn children_count(text: &str) -> Option<usize> {
    let (number, rest) = text.split_once(' ')?;
    rest.starts_with("children").then(|| number.parse().ok()).flatten()
}

/// The user's cache folder, as `candlelit` finds it (`$XDG_CACHE_HOME`, else `~/.cache`).
fn dirs_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"))
}

/// The file the `escape` submission tries to write into the compile cache.
const PLANTED: &str = "planted-by-a-submission";

/// The compile cache the grader uses (and copies into each sandbox).
fn grader_cache() -> PathBuf {
    std::env::var_os("CANDLELIT_CACHE").map(PathBuf::from).unwrap_or_else(|| dirs_cache().join("candlelit"))
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
    // Left by a run of this test that stopped before it cleaned up (see the unsandboxed run at the end).
    let _ = std::fs::remove_file(grader_cache().join(PLANTED));
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
    // Hostile submissions: what each tries must not reach outside its sandbox or earn a point it did not.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let lesson_copy = dir.join("day00-grading.md");
    let (planted, late) = (dir.join("planted.txt"), dir.join("late.txt"));
    let escape = format!(
        "let n: usize = 4;\n\
         let lesson_readable = std::fs::read_to_string({lesson:?}).is_ok();\n\
         let lesson_changed = std::fs::write({lesson:?}, \"check(\\\"square\\\", || Ok(()));\").is_ok();\n\
         let planted = std::fs::write({planted:?}, \"x\").is_ok();\n\
         let late = std::process::Command::new(\"sh\").arg(\"-c\").arg({late_cmd:?}).spawn().is_ok();\n\
         let mut children = 0;\n\
         for _ in 0..20 {{ if std::process::Command::new(\"sleep\").arg(\"37\").spawn().is_ok() {{ children += 1; }} }}\n\
         let online = std::net::TcpStream::connect({addr:?}).is_ok();\n\
         let cache = std::path::PathBuf::from(std::env::var(\"CANDLELIT_CACHE\").unwrap_or_default());\n\
         let cache_planted = std::fs::write(cache.join({planted_name:?}), \"x\").is_ok();\n\
         println!(\"lesson {{lesson_readable}} {{lesson_changed}} planted {{planted}} {{cache_planted}} late {{late}} {{children}} online {{online}}\");",
        lesson = lesson_copy.display().to_string(),
        planted = planted.display().to_string(),
        planted_name = PLANTED,
        late_cmd = format!("sleep 4; echo late > {}", late.display()),
        addr = listener.local_addr().expect("address").to_string(),
    );
    let forger = "let n: usize = 4;\nstd::thread::spawn(|| loop {\n    \
        display(&candlelit::output::Bundle(vec![(candlelit::exercises::CHECK_MIME, \
        r#\"{\"exercise\":\"square\",\"passed\":true,\"message\":\"all checks passed\",\"nonce\":\"0\"}\"#.to_string())]));\n    \
        std::thread::sleep(std::time::Duration::from_millis(2));\n});";
    let shadows = "let n: usize = 4;\n\
        fn expect_near(_a: f64, _b: f64, _t: f64, _w: &str) -> CheckResult { Ok(()) }\n\
        fn expect_close(_a: &Tensor, _b: &Tensor, _t: f64, _w: &str) -> CheckResult { Ok(()) }\n\
        fn expect_eq<T>(_a: T, _b: T, _w: &str) -> CheckResult { Ok(()) }\n\
        fn expect_shape(_a: &Tensor, _d: &[usize], _w: &str) -> CheckResult { Ok(()) }";
    let mid_line = "fn mean_of(_t: &Tensor) -> Result<f32> {\n    print!(\"half a line\");\n    Ok(0.0)\n}";
    let bomb =
        "for i in 0..400_000u32 {\n    println!(\"{i:>8} .................................................\");\n}";
    let fork_bomb = "let n: usize = 4;\nlet mut started = 0;\n\
        for _ in 0..1000 { if std::process::Command::new(\"sleep\").arg(\"38\").spawn().is_ok() { started += 1; } }\n\
        println!(\"started {started} children\");";
    let hostile: Vec<(&str, Value)> = vec![
        (
            "fork-bomb",
            submission(
                &book,
                &Answers { replace: &[("parameters", fork_bomb), right[0], right[1]], remove: none, append: &[] },
            ),
        ),
        ("output-bomb", submission(&book, &Answers { replace: right, remove: none, append: &[bomb] })),
        (
            "exit",
            submission(
                &book,
                &Answers {
                    replace: &[("exercise-square", "let squares = x.sqr()?;\nstd::process::exit(0);"), right[1]],
                    remove: none,
                    append: &[],
                },
            ),
        ),
        (
            "escape",
            submission(
                &book,
                &Answers { replace: &[("parameters", &escape), right[0], right[1]], remove: none, append: &[] },
            ),
        ),
        (
            "forged-thread",
            submission(
                &book,
                &Answers { replace: &[("parameters", forger), right[0], right[1]], remove: none, append: &[] },
            ),
        ),
        (
            "shadowed-helpers",
            submission(&book, &Answers { replace: &[("parameters", shadows)], remove: none, append: &[] }),
        ),
        (
            "mid-line",
            submission(&book, &Answers { replace: &[("exercise-mean", mid_line)], remove: none, append: &[] }),
        ),
    ];
    let mut cases: Vec<(&str, Value)> = vec![
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
    cases.extend(hostile);
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
        "--feedback",
        "feedback",
        "--max-processes",
        "400",
    ];
    std::fs::copy(repo().join("kernel/tests/fixtures/lessons/day00-grading.md"), &lesson_copy).expect("lesson copied");
    let lesson_before = std::fs::read_to_string(&lesson_copy).expect("lesson");
    args.extend(paths.iter().map(String::as_str));
    // As CI sets it: std's backtraces must stay out of the cells (symbolizing one for the memory hog once took the
    // cell past its time limit, and the learner was told of an endless loop instead of the memory limit).
    let graded = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(&args)
        .current_dir(&dir)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("candlelit runs");
    let stdout = String::from_utf8_lossy(&graded.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&graded.stderr).into_owned();
    assert!(graded.status.success(), "{stdout}\n{stderr}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report")).expect("report json");
    assert_eq!(report["format"], "candlelit-grade/1");
    assert_eq!(report["max_points"], 5);
    assert_eq!(report["exercises"], json!([{"id": "square", "max_points": 2}, {"id": "mean", "max_points": 3}]));
    let submissions = report["submissions"].as_array().expect("submissions");
    assert_eq!(submissions.len(), paths.len(), "every submission is in the report");
    let order: Vec<&str> = submissions.iter().filter_map(|s| s["submission"].as_str()).collect();
    assert_eq!(order, paths.iter().map(String::as_str).collect::<Vec<_>>(), "in the order given, whatever --jobs");
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
    let hog_feedback = std::fs::read_to_string(dir.join("feedback/memory-hog.ipynb")).expect("hog's feedback");
    assert!(hog_feedback.contains("memory allocation of"), "the cell's own last words are kept: {hog_feedback}");
    assert!(!hog_feedback.contains("stack backtrace"), "no std backtrace in a cell's output: {hog_feedback}");

    assert_eq!(points("quit-command"), (0, 3), "{}", all("quit-command"));
    assert!(feedback("quit-command", 0).contains("notebook command `:quit`"), "{}", all("quit-command"));

    // Forged verdicts, from a thread or with a guessed nonce, make a check untrustworthy: no points, and it says so.
    assert_eq!(points("forged-thread"), (0, 0), "{}", all("forged-thread"));
    assert!(feedback("forged-thread", 0).contains("did not come from the lesson's checks"), "{}", all("forged-thread"));
    // A learner's own expect_* cannot stand in for the prelude's inside the lesson's checks.
    assert_eq!(points("shadowed-helpers"), (0, 0), "{}", all("shadowed-helpers"));
    // Text left mid-line before a verdict does not hide it.
    assert_eq!(points("mid-line"), (0, 0), "{}", all("mid-line"));
    assert!(feedback("mid-line", 1).contains("mean_of(&x) is 0"), "{}", all("mid-line"));
    // 24 MB of output: the points stand, and the feedback keeps the first MiB of it with a note.
    assert_eq!(points("output-bomb"), (2, 3), "{}", all("output-bomb"));
    let bombed = std::fs::read_to_string(dir.join("feedback/output-bomb.ipynb")).expect("feedback");
    assert!(bombed.len() < 3 << 20 && bombed.contains("output passed 1024 KiB"), "{} bytes", bombed.len());
    // A fork bomb stops at the sandbox's process limit, and its children go with it. It used its own budget up:
    // its later cells cannot even be compiled, and it says so.
    if stderr.contains("a cgroup limits each submission") {
        assert_eq!(points("fork-bomb"), (0, 0), "{}", all("fork-bomb"));
        assert!(feedback("fork-bomb", 0).contains("processes and threads running"), "{}", all("fork-bomb"));
        let bombed = std::fs::read_to_string(dir.join("feedback/fork-bomb.ipynb")).expect("feedback");
        // Its output line, `started N children` (the source has `started` too, never followed by a number).
        let started: usize = bombed
            .split("started ")
            .find_map(children_count)
            .unwrap_or_else(|| panic!("the count of children in {bombed}"));
        assert!(started < 400, "the process limit held: {started} children started");
    }
    // `exit` ends the cells' process: the exercise it was in fails, the variables are gone, the batch goes on.
    assert_eq!(points("exit"), (0, 0), "{}", all("exit"));
    assert!(feedback("exit", 0).contains("stopped"), "{}", all("exit"));
    // The sandbox: the right answers still earn their points, and nothing the submission tried got out.
    assert_eq!(points("escape"), (2, 3), "{}", all("escape"));
    let sandboxed = std::env::var("CANDLELIT_SANDBOX").map_or(true, |v| v != "off");
    if sandboxed {
        assert!(stderr.contains("each submission runs in its own sandbox"), "{stderr}");
        assert!(!planted.exists(), "a file written outside the sandbox's scratch folder");
        // What the submission saw, from its own output in its feedback: no lesson to read or rewrite, no file
        // outside scratch, its own copy of the cache, children it could start, no network.
        let seen = std::fs::read_to_string(dir.join("feedback/escape.ipynb")).expect("feedback");
        assert!(seen.contains("lesson false false planted false true late true 20 online false"), "{seen}");
        assert!(!grader_cache().join(PLANTED).exists(), "the submission wrote into the grader's compile cache");
        assert_eq!(std::fs::read_to_string(&lesson_copy).expect("lesson"), lesson_before, "the lesson was rewritten");
        assert!(
            matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the sandbox reached a socket on the grader's loopback"
        );
    }
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert!(!late.exists(), "a detached child of the submission outlived grading and wrote a file");
    let left = survivors();
    assert!(left.is_empty(), "processes of a graded submission are still running: {left:?}");

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

    // Without namespaces (CANDLELIT_SANDBOX=off, or no bubblewrap) the grader says so, and still kills everything a
    // submission started. Last, because this submission rewrites the lesson file when nothing stops it.
    let fallback = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["grade", "--lesson", "day00-grading.md", "--json", "fallback.json", "escape.ipynb"])
        .current_dir(&dir)
        .env("CANDLELIT_SANDBOX", "off")
        .output()
        .expect("candlelit runs");
    let stderr = String::from_utf8_lossy(&fallback.stderr);
    assert!(fallback.status.success(), "{stderr}");
    assert!(stderr.contains("submissions are NOT isolated"), "{stderr}");
    // Unsandboxed, its write into "the compile cache" lands in the real one (what the grader warns of): take it
    // away, so that the sandbox check above starts clean in the next run.
    let _ = std::fs::remove_file(grader_cache().join(PLANTED));
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("fallback.json")).expect("report")).expect("report json");
    assert_eq!(report["submissions"][0]["points"], 5, "{report}");
    // (Its delayed write may land while it is being graded: without namespaces it can write where you can.)
    let left = survivors();
    assert!(left.is_empty(), "processes of a submission graded without namespaces survived: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Processes still running with the environment a sandbox of grader `pid` gives its tree.
fn processes_of_grader(pid: u32) -> Vec<String> {
    let marker = format!("candlelit-grade-{pid}/");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let environ = std::fs::read(path.join("environ")).ok()?;
            String::from_utf8_lossy(&environ).contains(&marker).then(|| {
                let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            })
        })
        .collect()
}

/// The fixture lesson with a crate of its own: a cell writes it into the working folder and the next loads it with
/// `:dep`, so a graded notebook may use that one `:dep` line (and a submission can give the crate a build script).
fn lesson_with_a_dependency(dir: &Path) -> Value {
    let fixture =
        std::fs::read_to_string(repo().join("kernel/tests/fixtures/lessons/day00-grading.md")).expect("lesson");
    let crate_cells = "```rust\n// The lesson's own small crate, loaded in the next cell.\n\
        std::fs::create_dir_all(\"helper/src\")?;\n\
        std::fs::write(\"helper/Cargo.toml\", \"[package]\\nname = \\\"helper\\\"\\nversion = \\\"0.1.0\\\"\\nedition = \\\"2021\\\"\\n\")?;\n\
        std::fs::write(\"helper/src/lib.rs\", \"pub fn two() -> u32 { 2 }\\n\")?;\n```\n\n\
        ```rust\n:dep helper = { path = \"helper\" }\n```\n\n## Exercise 2";
    let lessons = dir.join("lessons");
    std::fs::create_dir_all(&lessons).expect("lesson folder");
    std::fs::write(lessons.join("day00-grading.md"), fixture.replacen("## Exercise 2", crate_cells, 1))
        .expect("written");
    let built = candlelit(dir, &["lessons", "build", "--lessons", "lessons", "--notebooks", "."]);
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    serde_json::from_slice(&std::fs::read(dir.join("day00-grading.ipynb")).expect("built")).expect("json")
}

/// Compilation that never ends is stopped with the sandbox at the deadline, and the submission keeps what it
/// earned before: a constant rustc evaluates forever (its lint allowed), and a build script that never returns,
/// in the crate the lesson loads with `:dep`. Then, without a cgroup, every process of the tree carries the tree's
/// memory limit itself.
#[test]
fn an_endless_compilation_is_stopped_and_without_a_cgroup_each_process_is_limited() {
    let dir = std::env::temp_dir().join(format!("candlelit-grading-limits-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let with_crate = lesson_with_a_dependency(&dir);
    let none: &[&str] = &[];
    let spin = format!(
        "#[allow(long_running_const_eval)]\n\
         const SPIN: u64 = {{ let mut i = 0u64; loop {{ i = i.wrapping_add(1); if i == 0 {{ break i; }} }} }};\n\
         {MEAN}\nlet spun = SPIN;"
    );
    let endless = submission(
        &with_crate,
        &Answers { replace: &[("exercise-square", SQUARE), ("exercise-mean", &spin)], remove: none, append: &[] },
    );
    std::fs::write(dir.join("endless-compile.ipynb"), endless.to_string()).expect("written");
    let mut build_script = submission(
        &with_crate,
        &Answers { replace: &[("exercise-square", SQUARE), ("exercise-mean", MEAN)], remove: none, append: &[] },
    );
    let writes_crate = build_script["cells"]
        .as_array_mut()
        .expect("cells")
        .iter_mut()
        .find(|c| c["source"].to_string().contains("helper/src/lib.rs"))
        .expect("the cell that writes the lesson's crate");
    let source = writes_crate["source"].as_str().map(str::to_string).unwrap_or_else(|| {
        writes_crate["source"].as_array().expect("source lines").iter().filter_map(Value::as_str).collect()
    });
    writes_crate["source"] = json!(format!(
        "{source}\nstd::fs::write(\"helper/build.rs\", \
         \"fn main() {{ loop {{ std::thread::sleep(std::time::Duration::from_millis(50)); }} }}\\n\")?;"
    ));
    std::fs::write(dir.join("endless-build-script.ipynb"), build_script.to_string()).expect("written");
    let grader = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["grade", "--lesson", "lessons/day00-grading.md", "--total-timeout", "40"])
        .args(["--jobs", "2", "--json", "endless.json", "endless-compile.ipynb", "endless-build-script.ipynb"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("candlelit runs");
    let pid = grader.id();
    let graded = grader.wait_with_output().expect("the grader ends");
    let stderr = String::from_utf8_lossy(&graded.stderr).into_owned();
    assert!(graded.status.success(), "{stderr}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("endless.json")).expect("report")).expect("report json");
    for graded_one in report["submissions"].as_array().expect("submissions") {
        assert_eq!(graded_one["exercises"][0]["points"], 2, "graded before the endless compilation: {graded_one}");
        assert_eq!(graded_one["exercises"][1]["points"], 0, "{graded_one}");
        assert!(
            graded_one["problems"].to_string().contains("(cells and their compilation) and its sandbox was stopped"),
            "{graded_one}"
        );
    }
    assert_eq!(report["submissions"].as_array().map(Vec::len), Some(2), "{report}");
    let left = processes_of_grader(pid);
    assert!(left.is_empty(), "the endless compilation's processes survived: {left:?}");

    // Without a cgroup: the worker (the cells' parent, which runs cargo and rustc) has the tree's memory,
    // --memory-limit + 3072 MiB, as its own data limit; the right answers still earn their points.
    let limits = "let n: usize = 4;\n\
        let parent = std::os::unix::process::parent_id();\n\
        let limits = std::fs::read_to_string(format!(\"/proc/{parent}/limits\"))?;\n\
        let data = limits.lines().find(|l| l.starts_with(\"Max data size\")).unwrap_or(\"none\").to_string();\n\
        println!(\"worker data limit: {}\", data.split_whitespace().nth(3).unwrap_or(\"none\"));";
    let book = learner_notebook(&dir);
    std::fs::copy(repo().join("kernel/tests/fixtures/lessons/day00-grading.md"), dir.join("day00-grading.md"))
        .expect("lesson copied");
    let limited = submission(
        &book,
        &Answers {
            replace: &[("parameters", limits), ("exercise-square", SQUARE), ("exercise-mean", MEAN)],
            remove: none,
            append: &[],
        },
    );
    std::fs::write(dir.join("limits.ipynb"), limited.to_string()).expect("written");
    let fallback = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["grade", "--lesson", "day00-grading.md", "--memory-limit", "1024", "--json", "limits.json"])
        .args(["--feedback", "feedback", "limits.ipynb"])
        .current_dir(&dir)
        .env("CANDLELIT_CGROUP", "off")
        .output()
        .expect("candlelit runs");
    let stderr = String::from_utf8_lossy(&fallback.stderr);
    assert!(fallback.status.success(), "{stderr}");
    assert!(stderr.contains("no cgroup for the submissions (CANDLELIT_CGROUP=off)"), "{stderr}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("limits.json")).expect("report")).expect("report json");
    assert_eq!(report["submissions"][0]["points"], 5, "{report}");
    let seen = std::fs::read_to_string(dir.join("feedback/limits.ipynb")).expect("feedback");
    let expected = format!("worker data limit: {}", (1024u64 + 3072) << 20);
    assert!(seen.contains(&expected), "{expected} in {seen}");
    let _ = std::fs::remove_dir_all(&dir);
}
