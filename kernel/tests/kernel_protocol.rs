//! The real kernel over real ZeroMQ sockets, driven by a Jupyter client (`jupyter-zmq-client`), on 127.0.0.1.
//!
//! These tests compile cells with the real prelude, so they expect a warm compile cache (`scripts/test` runs
//! `candlelit install` first); with a cold cache the first cell of each test waits for Candle to compile.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jupyter_protocol::{
    CompleteRequest, ConnectionInfo, ExecuteRequest, HistoryRequest, InspectRequest, InterruptRequest,
    IsCompleteRequest, JupyterMessage, JupyterMessageContent, KernelInfoRequest, ReplyStatus, ShutdownRequest,
};
use jupyter_zmq_client::{
    ClientControlConnection, ClientIoPubConnection, ClientShellConnection, ClientStdinConnection,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Long enough for a cell that compiles the prelude from a cold cache.
const CELL_TIMEOUT: Duration = Duration::from_secs(900);

struct Kernel {
    child: Child,
    info: ConnectionInfo,
    shell: ClientShellConnection,
    iopub: ClientIoPubConnection,
    control: ClientControlConnection,
    /// The stdin channel, with the shell socket's identity (as jupyter_client gives it).
    stdin: ClientStdinConnection,
    dir: PathBuf,
    /// Held while the kernel lives: one kernel at a time (see [`SERIAL`]).
    serial: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl Drop for Kernel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Everything one request produced: the shell reply and the iopub messages between busy and idle.
struct Exchange {
    reply: JupyterMessage,
    iopub: Vec<JupyterMessage>,
}

impl Exchange {
    fn reply_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.reply.content).unwrap_or_default()
    }

    fn outputs(&self, msg_type: &str) -> Vec<serde_json::Value> {
        self.iopub
            .iter()
            .filter(|m| m.header.msg_type == msg_type)
            .map(|m| serde_json::to_value(&m.content).unwrap_or_default())
            .collect()
    }

    fn stream(&self, name: &str) -> String {
        self.outputs("stream").iter().filter(|c| c["name"] == name).filter_map(|c| c["text"].as_str()).collect()
    }
}

/// One kernel at a time: each compiles cells with rustc, and two at once on a 2-core machine make timings (the
/// interrupt grace period above all) meaningless.
/// An async mutex: each test has its own runtime, and the guard is held across awaits.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start_kernel() -> Result<Kernel, Box<dyn std::error::Error>> {
    let serial = SERIAL.lock().await;
    start_kernel_with(Launch::default(), serial).await
}

/// How Jupyter would start the kernel: environment and working folder, beyond the defaults.
#[derive(Default)]
struct Launch {
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

async fn start_kernel_with(
    launch: Launch,
    serial: tokio::sync::MutexGuard<'static, ()>,
) -> Result<Kernel, Box<dyn std::error::Error>> {
    let ports = jupyter_zmq_client::peek_ports("127.0.0.1".parse()?, 5).await?;
    let key = uuid::Uuid::new_v4().to_string();
    let info: ConnectionInfo = serde_json::from_value(serde_json::json!({
        "ip": "127.0.0.1", "transport": "tcp", "signature_scheme": "hmac-sha256", "key": key,
        "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2], "control_port": ports[3],
        "hb_port": ports[4],
    }))?;
    let dir = std::env::temp_dir().join(format!("candlelit-kernel-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("connection.json");
    std::fs::write(&file, serde_json::to_string(&info)?)?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_candlelit"));
    command.args(["kernel", "--connection-file"]).arg(&file).env("CANDLELIT_INTERRUPT_GRACE", "3");
    command.envs(launch.env).stdin(Stdio::null());
    if let Some(cwd) = launch.cwd {
        command.current_dir(cwd);
    }
    let child = command.spawn()?;
    let session = uuid::Uuid::new_v4().to_string();
    // The kernel binds at once; connecting before that is fine (ZeroMQ retries).
    let identity = jupyter_zmq_client::peer_identity_for_session(&session)?;
    let shell = jupyter_zmq_client::create_client_shell_connection_with_identity(&info, &session, identity).await?;
    let identity = jupyter_zmq_client::peer_identity_for_session(&session)?;
    let stdin = jupyter_zmq_client::create_client_stdin_connection_with_identity(&info, &session, identity).await?;
    let iopub = jupyter_zmq_client::create_client_iopub_connection(&info, "", &session).await?;
    let control = jupyter_zmq_client::create_client_control_connection(&info, &session).await?;
    let mut kernel = Kernel { child, info, shell, iopub, control, stdin, dir, serial: Some(serial) };
    // Wait until iopub delivers (a PUB socket drops messages sent before the subscription is in place).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let exchange = kernel.request(KernelInfoRequest::default().into(), Duration::from_secs(5)).await;
        if exchange.is_ok() {
            break;
        }
        if Instant::now() > deadline {
            return Err("the kernel never answered kernel_info with iopub status messages".into());
        }
    }
    Ok(kernel)
}

impl Kernel {
    /// Stops the kernel, handing on the one-at-a-time lock for the next kernel of the same test.
    fn stop(mut self) -> Option<tokio::sync::MutexGuard<'static, ()>> {
        self.serial.take()
    }

    /// Sends a shell request; collects iopub until the matching idle and the shell reply.
    async fn request(&mut self, content: JupyterMessageContent, timeout: Duration) -> Result<Exchange, String> {
        let message = JupyterMessage::new(content, None);
        let id = message.header.msg_id.clone();
        self.shell.send(message).await.map_err(|e| e.to_string())?;
        self.collect(&id, timeout, true).await
    }

    async fn collect(&mut self, id: &str, timeout: Duration, shell: bool) -> Result<Exchange, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut iopub = Vec::new();
        loop {
            let message = tokio::time::timeout_at(deadline, self.iopub.read())
                .await
                .map_err(|_| format!("no idle status for {id} in time"))?
                .map_err(|e| e.to_string())?;
            if message.parent_header.as_ref().map(|h| h.msg_id.as_str()) != Some(id) {
                continue;
            }
            let idle = matches!(&message.content, JupyterMessageContent::Status(s)
                if matches!(s.execution_state, jupyter_protocol::ExecutionState::Idle));
            iopub.push(message);
            if idle {
                break;
            }
        }
        let reply = if shell {
            tokio::time::timeout_at(deadline, self.shell.read())
                .await
                .map_err(|_| "no shell reply")?
                .map_err(|e| e.to_string())?
        } else {
            tokio::time::timeout_at(deadline, self.control.read())
                .await
                .map_err(|_| "no control reply")?
                .map_err(|e| e.to_string())?
        };
        Ok(Exchange { reply, iopub })
    }

    async fn execute(&mut self, code: &str) -> Result<Exchange, String> {
        let request = ExecuteRequest { stop_on_error: false, ..ExecuteRequest::new(code.to_string()) };
        self.request(request.into(), CELL_TIMEOUT).await
    }
}

fn expect_ok(exchange: &Exchange) {
    assert_eq!(status(exchange), "ok", "{:?} {:?}", exchange.outputs("error"), exchange.stream("stderr"));
}

fn status(exchange: &Exchange) -> String {
    exchange.reply_json()["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_gives_streams_results_figures_and_learner_readable_errors() -> TestResult {
    let mut k = start_kernel().await?;

    let first = k.execute("let x = 40 + 2;\nprintln!(\"to stdout\");\neprintln!(\"to stderr\");\nx").await?;
    assert_eq!(status(&first), "ok", "{:?}", first.outputs("error"));
    assert_eq!(first.stream("stdout"), "to stdout\n");
    assert!(first.stream("stderr").contains("to stderr\n"));
    let result = first.outputs("execute_result");
    assert_eq!(result.len(), 1);
    assert_eq!(result[0]["data"]["text/plain"], "42");
    assert_eq!(first.outputs("execute_input")[0]["code"].as_str().map(|c| c.contains("40 + 2")), Some(true));
    let states: Vec<_> = first.outputs("status").iter().map(|s| s["execution_state"].clone()).collect();
    assert_eq!(states, vec![serde_json::json!("busy"), serde_json::json!("idle")]);

    let shown = k.execute("let t = Tensor::new(&[[1f32, 2.], [3., 4.]], &device()?)?;\nt.show()").await?;
    assert_eq!(status(&shown), "ok", "{:?}", shown.outputs("error"));
    let data = &shown.outputs("execute_result")[0]["data"];
    assert!(data["text/plain"].as_str().is_some_and(|t| t.contains("[[1., 2.],")), "{data}");
    assert!(data["text/html"].as_str().is_some_and(|t| t.contains("<table")), "{data}");

    let figure = k.execute("Figure::new().title(\"squares\").line(\"y\", &[0f32, 1., 4., 9.])").await?;
    assert_eq!(status(&figure), "ok", "{:?}", figure.outputs("error"));
    let data = &figure.outputs("execute_result")[0]["data"];
    assert!(data["image/svg+xml"].as_str().is_some_and(|svg| svg.contains("<svg") && svg.contains("squares")));

    // A loss curve redrawn while the cell runs: each clear_output(wait) comes before the figure that replaces it.
    let live = k
        .execute(
            "for i in 1..=3 {\n    clear_output(true);\n    display(&Figure::new().line(\"loss\", &[1.0, 0.5, 0.25][..i]));\n}",
        )
        .await?;
    assert_eq!(status(&live), "ok", "{:?}", live.outputs("error"));
    let order: Vec<&str> = live
        .iopub
        .iter()
        .map(|m| m.header.msg_type.as_str())
        .filter(|t| *t == "clear_output" || *t == "display_data")
        .collect();
    assert_eq!(order, ["clear_output", "display_data"].repeat(3), "{order:?}");
    assert!(live.outputs("clear_output").iter().all(|c| c["wait"] == true));
    assert!(
        live.outputs("display_data")
            .iter()
            .all(|d| d["data"]["image/svg+xml"].as_str().is_some_and(|s| s.contains("<svg")))
    );

    // A progress bar and a live history: one display_data each with a display id, then update_display_data
    // messages with the same id (Jupyter redraws the output in place), the last one showing the finished bar.
    let bar = k
        .execute(
            "let mut history = History::new();\nlet bar = Progress::new(30).desc(\"epoch 1\");\nfor i in 0..30 {\n    std::thread::sleep(std::time::Duration::from_millis(20));\n    bar.inc(1);\n    if i % 10 == 9 { history.push(i / 10, &[(\"loss\", 1.0 / (i as f64 + 1.0))]); history.show(&[\"loss\"]); }\n}\nbar.finish();",
        )
        .await?;
    assert_eq!(status(&bar), "ok", "{:?}", bar.outputs("error"));
    let shown = bar.outputs("display_data");
    assert_eq!(shown.len(), 2, "one display for the bar, one for the figure: {shown:?}");
    let bar_id = shown[0]["transient"]["display_id"].as_str().unwrap_or_default().to_string();
    let figure_id = shown[1]["transient"]["display_id"].as_str().unwrap_or_default().to_string();
    assert!(!bar_id.is_empty() && !figure_id.is_empty() && bar_id != figure_id, "{shown:?}");
    let updates = bar.outputs("update_display_data");
    let of = |id: &str| updates.iter().filter(|u| u["transient"]["display_id"] == id).cloned().collect::<Vec<_>>();
    let bar_updates = of(&bar_id);
    assert!(bar_updates.len() >= 2, "the bar redraws in place: {updates:?}");
    let last = bar_updates.last().map(|u| u["data"]["text/plain"].to_string()).unwrap_or_default();
    assert!(last.contains("epoch 1") && last.contains("30/30"), "{last}");
    assert!(bar_updates.iter().all(|u| u["data"]["text/html"].as_str().is_some_and(|h| h.contains("<progress"))));
    assert_eq!(of(&figure_id).len(), 2, "the figure is redrawn after epochs 2 and 3");
    assert!(of(&figure_id).iter().all(|u| u["data"]["image/svg+xml"].as_str().is_some_and(|s| s.contains("<svg"))));

    // A model built in one cell is a variable the next cell uses (its type path must be nameable).
    let model = k
        .execute("let model = Sequential::new(&Device::Cpu).add(\"fc\", |vb| nn::linear(2, 1, vb))?.push(nn::Relu);")
        .await?;
    assert_eq!(status(&model), "ok", "{:?}", model.outputs("error"));
    let count = k.execute("model.param_count()").await?;
    assert_eq!(count.outputs("execute_result")[0]["data"]["text/plain"], "3", "{:?}", count.outputs("error"));

    // `:doc` puts documentation in the pager (an execute_reply payload), like `name?` in IPython.
    let doc = k.execute(":doc Tensor::matmul").await?;
    assert_eq!(status(&doc), "ok", "{:?}", doc.outputs("error"));
    let page = &doc.reply_json()["payload"][0];
    assert_eq!(page["source"], "page");
    assert!(page["data"]["text/plain"].as_str().is_some_and(|t| t.contains("matmul")), "{page}");

    let compile = k.execute("let y: i32 = \"forty-two\";").await?;
    assert_eq!(status(&compile), "error");
    assert_eq!(compile.reply_json()["ename"], "CompileError");
    let traceback = compile.outputs("error")[0]["traceback"].to_string();
    assert!(traceback.contains("mismatched types") && traceback.contains("let y: i32"), "{traceback}");
    assert!(!traceback.contains("candlelit::cell"), "instrumentation must not show: {traceback}");

    let shape = k.execute("let a = Tensor::ones((2, 3), DType::F32, &device()?)?;\nlet c = a.matmul(&a)?;").await?;
    assert_eq!(status(&shape), "error");
    let reply = shape.reply_json();
    assert_eq!(reply["ename"], "ShapeError");
    assert!(reply["evalue"].as_str().is_some_and(|e| e.contains("[2, 3]")), "{reply}");
    let traceback = reply["traceback"].to_string();
    assert!(traceback.contains("hint") && traceback.contains(".t()"), "{traceback}");
    assert!(!traceback.contains("<unknown>") && !shape.stream("stderr").contains("backtrace"), "{traceback}");

    let panic = k.execute("let v: Vec<i32> = Vec::new();\nlet first = v[3];").await?;
    assert_eq!(status(&panic), "error");
    assert_eq!(panic.reply_json()["ename"], "Panic");
    assert!(panic.reply_json()["evalue"].as_str().is_some_and(|e| e.contains("index out of bounds")));

    let after = k.execute("x + 1").await?;
    assert_eq!(after.outputs("execute_result")[0]["data"]["text/plain"], "43", "x survives errors and panics");
    let count = after.reply_json()["execution_count"].as_u64();
    assert_eq!(count, Some(12));
    Ok(())
}

impl Kernel {
    /// Sends `code` with `allow_stdin`; returns the request's id.
    async fn send_asking(&mut self, code: &str, allow_stdin: bool) -> Result<String, String> {
        let request = ExecuteRequest { allow_stdin, stop_on_error: false, ..ExecuteRequest::new(code.to_string()) };
        let message = JupyterMessage::new(request, None);
        let id = message.header.msg_id.clone();
        self.shell.send(message).await.map_err(|e| e.to_string())?;
        Ok(id)
    }

    /// Waits for the kernel's `input_request`, answers `value`; returns the request's (prompt, password).
    async fn answer_input(&mut self, value: &str) -> Result<(String, bool), Box<dyn std::error::Error>> {
        let asked = tokio::time::timeout(CELL_TIMEOUT, self.stdin.read()).await??;
        let JupyterMessageContent::InputRequest(request) = &asked.content else {
            return Err(format!("expected an input_request, got {}", asked.header.msg_type).into());
        };
        let question = (request.prompt.clone(), request.password);
        let reply = jupyter_protocol::InputReply { value: value.to_string(), ..Default::default() };
        self.stdin.send(reply.as_child_of(&asked)).await?;
        Ok(question)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_asks_the_front_end_for_input_through_stdin() -> TestResult {
    let mut k = start_kernel().await?;
    // The prelude's input(): the prompt reaches the client, the answer reaches the cell.
    let id = k.send_asking("let name = input(\"Your name? \")?;\nprintln!(\"hello {name}\");", true).await?;
    assert_eq!(k.answer_input("Ada").await?, ("Your name? ".to_string(), false));
    let asked = k.collect(&id, CELL_TIMEOUT, true).await?;
    expect_ok(&asked);
    assert_eq!(asked.stream("stdout"), "hello Ada\n");

    // getpass() asks for a password.
    let id = k.send_asking("let secret = getpass(\"Key: \")?;\nsecret.len()", true).await?;
    assert_eq!(k.answer_input("hunter2").await?, ("Key: ".to_string(), true));
    let asked = k.collect(&id, CELL_TIMEOUT, true).await?;
    assert_eq!(asked.outputs("execute_result")[0]["data"]["text/plain"], "7");

    // A plain read_line on stdin is asked for too (no prompt), and does not eat the kernel's own commands.
    let code = "let mut line = String::new();\nstd::io::stdin().read_line(&mut line)?;\nline.trim().to_uppercase()";
    let id = k.send_asking(code, true).await?;
    assert_eq!(k.answer_input("raw answer").await?, (String::new(), false));
    let asked = k.collect(&id, CELL_TIMEOUT, true).await?;
    expect_ok(&asked);
    assert_eq!(asked.outputs("execute_result")[0]["data"]["text/plain"], "\"RAW ANSWER\"");

    // A front end that takes no input: the cell gets an error at once instead of waiting.
    let id = k.send_asking("let name = input(\"Name? \")?;", false).await?;
    let refused = k.collect(&id, CELL_TIMEOUT, true).await?;
    assert_eq!(status(&refused), "error");
    let evalue = refused.reply_json()["evalue"].as_str().unwrap_or_default().to_string();
    assert!(evalue.contains("takes no input"), "{evalue}");

    // The session goes on with its variables.
    let after = k.execute("secret.len() + 1").await?;
    expect_ok(&after);
    assert_eq!(after.outputs("execute_result")[0]["data"]["text/plain"], "8");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_an_endless_loop_and_keeps_variables() -> TestResult {
    let mut k = start_kernel().await?;
    let setup = k.execute("let kept = vec![1, 2, 3];\nmanual_seed(7);").await?;
    assert_eq!(status(&setup), "ok", "{:?}", setup.outputs("error"));

    let message = JupyterMessage::new(ExecuteRequest::new("let mut n = 0u64;\nloop { n += 1; }".into()), None);
    let id = message.header.msg_id.clone();
    k.shell.send(message).await?;
    // Let it compile and spin, then interrupt over the control channel.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let interrupt = JupyterMessage::new(InterruptRequest {}, None);
    let sent = Instant::now();
    k.control.send(interrupt).await?;
    let exchange = k.collect(&id, CELL_TIMEOUT, true).await?;
    let stopped_after = sent.elapsed();
    let reply = exchange.reply_json();
    assert_eq!(reply["status"], "error");
    assert_eq!(reply["ename"], "KeyboardInterrupt", "{reply}");
    assert!(stopped_after < Duration::from_secs(2), "stopped after {stopped_after:?}");
    let control_reply = tokio::time::timeout(Duration::from_secs(5), k.control.read()).await??;
    assert_eq!(control_reply.header.msg_type, "interrupt_reply");

    let check = k.execute("kept.len()").await?;
    assert_eq!(check.outputs("execute_result")[0]["data"]["text/plain"], "3", "variables survive the interrupt");

    // The seed set before the interrupt still drives the generator: one process-wide generator, not one per cell.
    let seeded = k.execute("manual_seed(7); let a = randn(3, &Device::Cpu)?.to_vec1::<f32>()?; a").await?;
    let again = k.execute("manual_seed(7);").await?;
    assert_eq!(status(&again), "ok");
    let b = k.execute("randn(3, &Device::Cpu)?.to_vec1::<f32>()?").await?;
    assert_eq!(
        seeded.outputs("execute_result")[0]["data"]["text/plain"],
        b.outputs("execute_result")[0]["data"]["text/plain"],
        "manual_seed in one cell seeds randn in the next"
    );
    Ok(())
}

/// Whether process `pid` still exists (and is not a zombie waiting for its parent).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_killed_mid_cell_takes_its_cell_process_with_it() -> TestResult {
    let mut k = start_kernel().await?;
    let pid = k.execute("std::process::id()").await?;
    let pid: u32 = pid.outputs("execute_result")[0]["data"]["text/plain"].as_str().unwrap_or_default().parse()?;
    assert_ne!(pid, k.child.id(), "cells run in a process of their own");
    k.shell.send(JupyterMessage::new(ExecuteRequest::new("let mut n = 0u64;\nloop { n += 1; }".into()), None)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(running(pid), "the cell process runs the loop");
    // What Jupyter does to a kernel that does not answer a shutdown: SIGKILL, no chance to clean up.
    k.child.kill()?;
    k.child.wait()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while running(pid) {
        assert!(Instant::now() < deadline, "the cell process {pid} outlived its kernel");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_that_runs_out_of_memory_says_so_and_the_next_cell_works() -> TestResult {
    let serial = SERIAL.lock().await;
    let launch = Launch { env: vec![("CANDLELIT_CELL_MEMORY_LIMIT".into(), "512".into())], cwd: None };
    let mut k = start_kernel_with(launch, serial).await?;
    let hog = k.execute("let hog = vec![1u8; 8 << 30];\nhog.len()").await?;
    assert_eq!(status(&hog), "error");
    let reply = hog.reply_json();
    assert_eq!(reply["ename"], "OutOfMemory", "{reply}");
    let evalue = reply["evalue"].as_str().unwrap_or_default();
    assert!(evalue.contains("ran out of memory (it asked for 8.0 GiB)") && evalue.contains("512 MiB"), "{evalue}");
    let next = k.execute("6 * 7").await?;
    expect_ok(&next);
    assert_eq!(next.outputs("execute_result")[0]["data"]["text/plain"], "42");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_that_ignores_the_interrupt_is_stopped_by_a_restart_that_says_so() -> TestResult {
    let mut k = start_kernel().await?;
    expect_ok(&k.execute("let lost = 1;").await?);
    let message = JupyterMessage::new(
        ExecuteRequest::new("std::thread::sleep(std::time::Duration::from_secs(600));".into()),
        None,
    );
    let id = message.header.msg_id.clone();
    k.shell.send(message).await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    k.control.send(JupyterMessage::new(InterruptRequest {}, None)).await?;
    let exchange = k.collect(&id, CELL_TIMEOUT, true).await?;
    let reply = exchange.reply_json();
    assert_eq!(reply["ename"], "KernelRestarted", "{reply}");
    assert!(reply["evalue"].as_str().is_some_and(|e| e.contains("variables are gone") && e.contains("loaded again")));
    let _ = tokio::time::timeout(Duration::from_secs(5), k.control.read()).await;
    // The prelude works again, and the old variable is gone with a compile error that names it.
    let fresh = k.execute("Tensor::ones(2, DType::F32, &Device::Cpu)?.sum_all()?.to_scalar::<f32>()?").await?;
    expect_ok(&fresh);
    assert_eq!(fresh.outputs("execute_result")[0]["data"]["text/plain"], "2.0");
    let gone = k.execute("lost").await?;
    assert_eq!(status(&gone), "error");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_with_a_bad_signature_is_dropped_and_nothing_runs() -> TestResult {
    let mut k = start_kernel().await?;
    let marker = k.dir.join("tampered-ran");
    let code = format!("std::fs::write({:?}, \"ran\").unwrap();", marker.display().to_string());
    // A hand-built message, signed with the wrong key, on a raw DEALER socket.
    use zeromq::{Socket, SocketRecv as _, SocketSend};
    let mut raw = zeromq::DealerSocket::new();
    raw.connect(&k.info.shell_url()).await?;
    let header = serde_json::json!({"msg_id": "tampered-1", "session": "evil", "username": "x", "date": "2026-01-01T00:00:00Z",
        "msg_type": "execute_request", "version": "5.3"});
    let content = serde_json::json!({"code": code, "silent": false, "store_history": true, "user_expressions": {},
        "allow_stdin": false, "stop_on_error": true});
    let parts: Vec<bytes::Bytes> = vec![
        "<IDS|MSG>".into(),
        "0000000000000000000000000000000000000000000000000000000000000000".into(),
        header.to_string().into(),
        "{}".into(),
        "{}".into(),
        content.to_string().into(),
    ];
    raw.send(zeromq::ZmqMessage::try_from(parts).map_err(|_| "empty message")?).await?;
    // The same code with a valid signature runs; the tampered one never did.
    let control = k.execute("let ok = 1;").await?;
    assert_eq!(status(&control), "ok", "{:?}", control.outputs("error"));
    assert!(tokio::time::timeout(Duration::from_millis(500), raw.recv()).await.is_err(), "no reply to a bad message");
    assert!(!marker.exists(), "a message with a bad signature was executed");
    let genuine = k.execute(&code).await?;
    assert_eq!(status(&genuine), "ok", "{:?}", genuine.outputs("error"));
    assert!(marker.exists());
    Ok(())
}

/// The 64 bytes a ZeroMQ 3.0 peer opens with (signature, version, the NULL mechanism, "not a server").
fn zmtp_greeting() -> Vec<u8> {
    let mut greeting = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0];
    let mut mechanism = b"NULL".to_vec();
    mechanism.resize(20, 0);
    greeting.extend(mechanism);
    greeting.resize(64, 0);
    greeting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_announcing_a_huge_frame_on_any_socket_is_dropped_and_the_kernel_goes_on() -> TestResult {
    use tokio::io::AsyncWriteExt as _;
    let mut k = start_kernel().await?;
    let ports = [k.info.shell_port, k.info.iopub_port, k.info.stdin_port, k.info.control_port, k.info.hb_port];
    let mut peers = Vec::new();
    for port in ports {
        // Before any signature can be checked: a greeting, then a frame header announcing 1 TiB (as a command
        // frame on one connection, as a message frame on another).
        for flags in [0x06u8, 0x02] {
            let mut peer = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            peer.write_all(&zmtp_greeting()).await?;
            let mut header = vec![flags];
            header.extend((1u64 << 40).to_be_bytes());
            peer.write_all(&header).await?;
            peer.write_all(&[0u8; 4096]).await?;
            peers.push(peer);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(k.child.try_wait()?.is_none(), "the kernel ended after a forged frame header");
    let info = k.request(KernelInfoRequest::default().into(), Duration::from_secs(30)).await?;
    assert_eq!(info.reply_json()["status"], "ok");
    let ran = k.execute("let after_the_flood = 6 * 7;\nafter_the_flood").await?;
    expect_ok(&ran);
    assert_eq!(ran.outputs("execute_result")[0]["data"]["text/plain"], "42");
    drop(peers);
    Ok(())
}

/// A request signed with `key`, as the frames a DEALER socket sends.
fn signed(key: &str, msg_type: &str, msg_id: &str, content: &serde_json::Value) -> zeromq::ZmqMessage {
    let header = serde_json::json!({"msg_id": msg_id, "session": "raw-test", "username": "test",
        "date": "2026-01-01T00:00:00Z", "msg_type": msg_type, "version": "5.3"});
    let parts = [header.to_string(), "{}".to_string(), "{}".to_string(), content.to_string()];
    let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let mut context = ring::hmac::Context::with_key(&mac);
    for part in &parts {
        context.update(part.as_bytes());
    }
    let signature: String = context.sign().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let mut frames: Vec<bytes::Bytes> = vec!["<IDS|MSG>".into(), signature.into()];
    frames.extend(parts.into_iter().map(bytes::Bytes::from));
    zeromq::ZmqMessage::try_from(frames).unwrap_or_else(|_| unreachable!("six frames"))
}

/// A reply read off a raw DEALER socket: its header and content.
async fn raw_reply(raw: &mut zeromq::DealerSocket, within: Duration) -> Option<(serde_json::Value, serde_json::Value)> {
    use zeromq::SocketRecv as _;
    let frames = tokio::time::timeout(within, raw.recv()).await.ok()?.ok()?.into_vec();
    let at = frames.iter().position(|f| &f[..] == b"<IDS|MSG>")?;
    let json = |n: usize| serde_json::from_slice(frames.get(at + n)?).ok();
    Some((json(2)?, json(5)?))
}

impl Kernel {
    /// The iopub statuses (`busy`, `idle`) whose parent is `id`, up to its idle.
    async fn statuses_of(&mut self, id: &str, within: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        while let Ok(Ok(message)) = tokio::time::timeout_at(deadline, self.iopub.read()).await {
            if message.parent_header.as_ref().map(|h| h.msg_id.as_str()) != Some(id) {
                continue;
            }
            if let JupyterMessageContent::Status(status) = &message.content {
                let state = serde_json::to_value(&status.execution_state).unwrap_or_default();
                seen.push(state.as_str().unwrap_or_default().to_string());
                if seen.last().is_some_and(|s| s == "idle") {
                    break;
                }
            }
        }
        seen
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_message_runs_once_and_bad_or_unknown_requests_get_error_replies() -> TestResult {
    use zeromq::{Socket, SocketSend};
    let mut k = start_kernel().await?;
    let key = k.info.key.clone();
    let mut raw = zeromq::DealerSocket::new();
    raw.connect(&k.info.shell_url()).await?;
    let marker = k.dir.join("replayed");
    let code = format!(
        "use std::io::Write as _;\nstd::fs::OpenOptions::new().create(true).append(true).open({:?})?.write_all(b\"x\")?;",
        marker.display().to_string()
    );
    let content = serde_json::json!({"code": code, "silent": false, "store_history": true, "user_expressions": {},
        "allow_stdin": false, "stop_on_error": true});
    // Sent, answered, then the very same frames again (what someone who saw them on the wire could do).
    raw.send(signed(&key, "execute_request", "replay-1", &content)).await?;
    let (header, reply) = raw_reply(&mut raw, CELL_TIMEOUT).await.ok_or("no reply to the first send")?;
    assert_eq!((header["msg_type"].as_str(), reply["status"].as_str()), (Some("execute_reply"), Some("ok")), "{reply}");
    raw.send(signed(&key, "execute_request", "replay-1", &content)).await?;
    let after = k.execute("let after_the_replay = 1;").await?;
    expect_ok(&after);
    assert_eq!(std::fs::read_to_string(&marker)?, "x", "the replayed message ran again");
    assert!(raw_reply(&mut raw, Duration::from_millis(500)).await.is_none(), "no reply to a replay");

    // Signed, but an execute_request without code: an error reply that says what is wrong, between busy and idle.
    raw.send(signed(&key, "execute_request", "no-code-1", &serde_json::json!({"silent": false}))).await?;
    let (header, reply) =
        raw_reply(&mut raw, Duration::from_secs(30)).await.ok_or("no reply to a malformed request")?;
    assert_eq!(header["msg_type"], "execute_reply");
    assert_eq!(reply["status"], "error", "{reply}");
    assert!(reply["evalue"].as_str().is_some_and(|e| e.contains("code")), "{reply}");
    assert_eq!(k.statuses_of("no-code-1", Duration::from_secs(10)).await, ["busy", "idle"]);

    // A request type the kernel does not know: busy, its `_reply` with an error, idle; and the kernel goes on.
    raw.send(signed(&key, "frobnicate_request", "unknown-1", &serde_json::json!({}))).await?;
    let (header, reply) = raw_reply(&mut raw, Duration::from_secs(30)).await.ok_or("no reply to an unknown request")?;
    assert_eq!(
        (header["msg_type"].as_str(), reply["ename"].as_str()),
        (Some("frobnicate_reply"), Some("UnknownMessageType"))
    );
    assert_eq!(k.statuses_of("unknown-1", Duration::from_secs(10)).await, ["busy", "idle"]);
    let still = k.execute("after_the_replay + 1").await?;
    assert_eq!(still.outputs("execute_result")[0]["data"]["text/plain"], "2");
    Ok(())
}

#[test]
fn a_connection_file_without_a_key_gets_a_loud_warning() -> TestResult {
    use std::io::BufRead as _;
    let dir = std::env::temp_dir().join(format!("candlelit-kernel-nokey-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let ports: Vec<u16> = (0..5)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()))
        .collect::<Result<_, _>>()?;
    let info = serde_json::json!({"ip": "127.0.0.1", "transport": "tcp", "signature_scheme": "hmac-sha256", "key": "",
        "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2], "control_port": ports[3],
        "hb_port": ports[4]});
    let file = dir.join("connection.json");
    std::fs::write(&file, info.to_string())?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["kernel", "--connection-file"])
        .arg(&file)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("stderr")?;
    let (found_tx, found_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("WARNING") && line.contains("empty key") {
                let _ = found_tx.send(line);
            }
        }
    });
    let warning = found_rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let warning = warning.map_err(|_| "no warning about the empty key on stderr")?;
    assert!(warning.contains("any process on this machine"), "{warning}");
    Ok(())
}

/// A small deterministic generator (xorshift64*), so that a failing fuzz run can be repeated from its seed.
struct Fuzz(u64);

impl Fuzz {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, most: usize) -> bytes::Bytes {
        let len = self.below(most + 1);
        (0..len).map(|_| self.next() as u8).collect::<Vec<u8>>().into()
    }

    /// One hostile message: random frames, a signed one cut short, a wrong signature, a signed one of a wrong
    /// or unknown type, unreadable JSON, no delimiter. Nothing signed can run code or shut the kernel down.
    fn message(&mut self, key: &str) -> zeromq::ZmqMessage {
        let signed_types = [
            "execute_request",
            "complete_request",
            "inspect_request",
            "history_request",
            "kernel_info_request",
            "is_complete_request",
            "comm_info_request",
            "input_reply",
            "frobnicate_request",
            "comm_msg",
            "interrupt_reply",
            "",
        ];
        let contents =
            [r#"{"code": 5}"#, "[]", "null", r#"{"cursor_pos": -1}"#, r#"{"hist_access_type": "x"}"#, "{", ""];
        let frames: Vec<bytes::Bytes> = match self.below(6) {
            0 => (0..=self.below(8)).map(|_| self.bytes(300)).collect(),
            1 => {
                let full = signed(key, "kernel_info_request", &format!("cut-{}", self.next()), &serde_json::json!({}));
                let mut frames = full.into_vec();
                frames.truncate(self.below(frames.len()));
                frames
            }
            2 => {
                let mut frames = signed(key, "kernel_info_request", "forged", &serde_json::json!({})).into_vec();
                frames[1] = self.bytes(64);
                frames
            }
            3 | 4 => {
                let msg_type = signed_types[self.below(signed_types.len())];
                let header = serde_json::json!({"msg_id": format!("fuzz-{}", self.next()), "session": "fuzz",
                    "username": "f", "date": "2026-01-01T00:00:00Z", "msg_type": msg_type, "version": "5.3"});
                let content = contents[self.below(contents.len())].to_string();
                let parts = [header.to_string(), "{}".into(), "{}".into(), content];
                let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
                let mut context = ring::hmac::Context::with_key(&mac);
                parts.iter().for_each(|p| context.update(p.as_bytes()));
                let signature: String = context.sign().as_ref().iter().map(|b| format!("{b:02x}")).collect();
                let mut frames: Vec<bytes::Bytes> = vec!["<IDS|MSG>".into(), signature.into()];
                frames.extend(parts.into_iter().map(bytes::Bytes::from));
                frames
            }
            _ => vec![self.bytes(40), self.bytes(200), self.bytes(200)],
        };
        let frames = if frames.is_empty() { vec![bytes::Bytes::new()] } else { frames };
        zeromq::ZmqMessage::try_from(frames).unwrap_or_else(|_| unreachable!("at least one frame"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_fuzz_on_every_socket_leaves_the_kernel_answering() -> TestResult {
    use zeromq::{Socket, SocketSend};
    let mut k = start_kernel().await?;
    let key = k.info.key.clone();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64 | 1;
    println!("fuzz seed {seed}");
    let mut fuzz = Fuzz(seed);
    let mut dealers = Vec::new();
    let names = ["shell", "control", "stdin", "heartbeat"];
    for url in [k.info.shell_url(), k.info.control_url(), k.info.stdin_url(), k.info.hb_url()] {
        let mut dealer = zeromq::DealerSocket::new();
        dealer.connect(&url).await?;
        dealers.push(dealer);
    }
    let mut subscriber = zeromq::SubSocket::new();
    subscriber.connect(&k.info.iopub_url()).await?;
    // Two heartbeat peers that once stopped the kernel's heartbeat for everyone: a ping of one frame (no envelope),
    // and a client that pings and leaves before the answer.
    dealers[3].send(zeromq::ZmqMessage::from("one frame")).await?;
    {
        let mut leaver = zeromq::ReqSocket::new();
        leaver.connect(&k.info.hb_url()).await?;
        leaver.send(zeromq::ZmqMessage::from("ping")).await?;
    }
    for round in 0..400 {
        if round % 5 == 4 {
            // iopub takes subscriptions only: random topics, and unsubscribing from them.
            let topic = String::from_utf8_lossy(&fuzz.bytes(30)).into_owned();
            subscriber.subscribe(&topic).await?;
            continue;
        }
        let message = fuzz.message(&key);
        let socket = fuzz.below(dealers.len());
        // The messages are well-formed ZeroMQ, so the kernel has no reason to drop a peer: a send that finds no
        // peer means a socket of the kernel's stopped serving.
        if let Err(e) = tokio::time::timeout(Duration::from_secs(5), dealers[socket].send(message)).await? {
            return Err(format!("round {round}: the {} socket is gone ({e}; seed {seed})", names[socket]).into());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(k.child.try_wait()?.is_none(), "the kernel ended during the fuzz (seed {seed})");
    // A front end's heartbeat still gets its answer (a kernel that stops answering pings is declared dead).
    let mut ping = zeromq::ReqSocket::new();
    ping.connect(&k.info.hb_url()).await?;
    ping.send(zeromq::ZmqMessage::from("ping")).await?;
    let pong = tokio::time::timeout(Duration::from_secs(10), zeromq::SocketRecv::recv(&mut ping)).await;
    assert!(matches!(pong, Ok(Ok(_))), "no answer to a heartbeat after the fuzz (seed {seed}): {pong:?}");
    let info = k.request(KernelInfoRequest::default().into(), Duration::from_secs(30)).await?;
    assert_eq!(info.reply_json()["status"], "ok", "seed {seed}");
    let ran = k.execute("let after_the_fuzz = 40 + 2;\nafter_the_fuzz").await?;
    expect_ok(&ran);
    assert_eq!(ran.outputs("execute_result")[0]["data"]["text/plain"], "42", "seed {seed}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_info_is_complete_complete_inspect_history_and_shutdown_answer() -> TestResult {
    let mut k = start_kernel().await?;
    let info = k.request(KernelInfoRequest::default().into(), Duration::from_secs(30)).await?.reply_json();
    assert_eq!(info["protocol_version"], "5.3");
    assert_eq!(info["language_info"]["name"], "rust");
    assert_eq!(info["language_info"]["file_extension"], ".rs");
    assert_eq!(info["language_info"]["mimetype"], "text/rust");
    assert_eq!(info["language_info"]["codemirror_mode"], "rust");

    let mut verdicts = HashMap::new();
    for code in ["fn f() {", "let v = vec![1,", "let x = 1;", "let x = (1];"] {
        let reply = k.request(IsCompleteRequest { code: code.into() }.into(), Duration::from_secs(30)).await?;
        verdicts.insert(code, reply.reply_json()["status"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(verdicts["fn f() {"], "incomplete");
    assert_eq!(verdicts["let v = vec![1,"], "incomplete");
    assert_eq!(verdicts["let x = 1;"], "complete");
    assert_eq!(verdicts["let x = (1];"], "invalid");

    expect_ok(&k.execute("let learning_rate = 0.1f32;").await?);
    let code = "let y = learning_";
    let complete =
        k.request(CompleteRequest { code: code.into(), cursor_pos: code.len() }.into(), CELL_TIMEOUT).await?;
    let reply = complete.reply_json();
    assert!(reply["matches"].as_array().is_some_and(|m| m.iter().any(|c| c == "learning_rate")), "{reply}");
    assert_eq!(reply["cursor_start"], 8);
    assert_eq!(reply["cursor_end"], code.len());

    let code = "let z = Tensor::zeros(3, DType::F32, &Device::Cpu);";
    let inspect = k
        .request(InspectRequest { code: code.into(), cursor_pos: 18, detail_level: Some(0) }.into(), CELL_TIMEOUT)
        .await?;
    let reply = inspect.reply_json();
    assert_eq!(reply["found"], true, "{reply}");
    assert!(reply["data"]["text/plain"].as_str().is_some_and(|t| t.contains("zeros")), "{reply}");

    let history = k
        .request(HistoryRequest::Tail { n: 5, output: false, raw: true }.into(), Duration::from_secs(30))
        .await?
        .reply_json();
    let entries = history["history"].as_array().cloned().unwrap_or_default();
    assert!(entries.iter().any(|e| e[2] == "let learning_rate = 0.1f32;"), "{history}");

    let comm =
        k.request(jupyter_protocol::CommInfoRequest { target_name: None }.into(), Duration::from_secs(30)).await?;
    assert_eq!(comm.reply_json()["status"], "ok");

    // Shut down in the middle of an endless cell: the kernel exits, and so does the process running the cell.
    let pid = k.execute("std::process::id()").await?;
    let pid: u32 = pid.outputs("execute_result")[0]["data"]["text/plain"].as_str().unwrap_or_default().parse()?;
    k.shell.send(JupyterMessage::new(ExecuteRequest::new("loop { std::hint::spin_loop(); }".into()), None)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    k.control.send(JupyterMessage::new(ShutdownRequest { restart: false }, None)).await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), k.control.read()).await??;
    assert_eq!(reply.header.msg_type, "shutdown_reply");
    assert!(matches!(&reply.content, JupyterMessageContent::ShutdownReply(r) if r.status == ReplyStatus::Ok));
    let deadline = Instant::now() + Duration::from_secs(10);
    while k.child.try_wait()?.is_none() || running(pid) {
        assert!(Instant::now() < deadline, "the kernel or its cell process {pid} outlived shutdown_request");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A standby kernel waiting on `socket`, as `candlelit lab` starts one; its log is `log`.
fn start_standby(socket: &std::path::Path, log: &std::path::Path, owner: &str) -> std::io::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["kernel", "--standby"])
        .arg(socket)
        .env("CANDLELIT_INTERRUPT_GRACE", "3")
        .env("CANDLELIT_STANDBY", socket)
        .env("CANDLELIT_STANDBY_OWNER", owner)
        .env("WHO_STARTED_ME", "the standby")
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(log)?)
        .spawn()
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_kernel_takes_over_only_a_matching_launch_and_lives_as_long_as_its_stand_in() -> TestResult {
    let serial = SERIAL.lock().await;
    let dir = std::env::temp_dir().join(format!("candlelit-standby-test-{}", uuid::Uuid::new_v4()));
    let notebooks = dir.join("notebooks");
    std::fs::create_dir_all(&notebooks)?;
    std::fs::write(notebooks.join("note.txt"), "next to the notebook")?;
    let (socket, log) = (dir.join("standby.sock"), dir.join("standby.log"));
    // The owner stands for `candlelit lab`: when it ends, every standby it owns ends.
    let mut owner = Command::new("sleep").arg("900").spawn()?;
    let mut standby = start_standby(&socket, &log, &owner.id().to_string())?;
    wait_for("the standby to load the prelude", CELL_TIMEOUT, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("standby ready"))
    })
    .await?;
    let env = |grace: &str| {
        [
            ("CANDLELIT_STANDBY", socket.display().to_string()),
            ("CANDLELIT_STANDBY_OWNER", owner.id().to_string()),
            ("CANDLELIT_INTERRUPT_GRACE", grace.to_string()),
            ("WHO_STARTED_ME", "Jupyter".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    };
    let who = "std::env::var(\"WHO_STARTED_ME\")?";

    // A client that connects and says nothing: the standby gives up on it after a few seconds.
    let silent = std::os::unix::net::UnixStream::connect(&socket)?;
    // Other CANDLELIT_* settings than the standby's: it refuses, and the kernel starts on its own.
    let mut own = start_kernel_with(Launch { env: env("4"), cwd: Some(notebooks.clone()) }, serial).await?;
    let answer = own.execute(who).await?;
    expect_ok(&answer);
    assert_eq!(answer.outputs("execute_result")[0]["data"]["text/plain"], "\"Jupyter\"");
    assert!(socket.exists(), "the standby must still wait after refusing");
    drop(silent);
    let serial = own.stop().ok_or("the kernel lost its lock")?;

    // Same settings: the standby takes over, runs cells in the launch's folder, and keeps its variables.
    let mut adopted = start_kernel_with(Launch { env: env("3"), cwd: Some(notebooks.clone()) }, serial).await?;
    let answer = adopted.execute(who).await?;
    expect_ok(&answer);
    assert_eq!(answer.outputs("execute_result")[0]["data"]["text/plain"], "\"the standby\"");
    let read = adopted.execute("let note = std::fs::read_to_string(\"note.txt\")?;\nnote.len()").await?;
    expect_ok(&read);
    assert_eq!(read.outputs("execute_result")[0]["data"]["text/plain"], "20");
    assert!(!socket.exists(), "a standby that was taken must not be offered again");

    // Idle for a few seconds, the adopted kernel starts the next standby on the same socket.
    wait_for("the next standby", Duration::from_secs(60), || socket.exists()).await?;

    // Jupyter kills the process it started: the kernel it stood in for goes too, and so does its cell process.
    let cells = adopted.execute("std::process::id()").await?;
    let cells: u32 = cells.outputs("execute_result")[0]["data"]["text/plain"].as_str().unwrap_or_default().parse()?;
    adopted.child.kill()?;
    adopted.child.wait()?;
    wait_for("the adopted kernel to exit", Duration::from_secs(10), || standby.try_wait().is_ok_and(|s| s.is_some()))
        .await?;
    wait_for("the standby's cell process to exit", Duration::from_secs(10), || !running(cells)).await?;

    // `candlelit lab` ends: the waiting standby removes its socket and exits.
    owner.kill()?;
    owner.wait()?;
    wait_for("the next standby to exit with its owner", Duration::from_secs(10), || !socket.exists()).await?;
    drop(adopted);

    // An owner whose pid now belongs to another process (same pid, another start time) counts as gone.
    let impostor = Command::new("sleep").arg("900").spawn()?;
    let mut orphan = start_standby(&socket, &dir.join("orphan.log"), &format!("{}@1", impostor.id()))?;
    wait_for("a standby whose owner's pid was reused to exit", Duration::from_secs(30), || {
        orphan.try_wait().is_ok_and(|s| s.is_some())
    })
    .await?;
    let mut impostor = impostor;
    impostor.kill()?;
    impostor.wait()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
