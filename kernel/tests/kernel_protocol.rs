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
use jupyter_zmq_client::{ClientControlConnection, ClientIoPubConnection, ClientShellConnection};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Long enough for a cell that compiles the prelude from a cold cache.
const CELL_TIMEOUT: Duration = Duration::from_secs(900);

struct Kernel {
    child: Child,
    info: ConnectionInfo,
    shell: ClientShellConnection,
    iopub: ClientIoPubConnection,
    control: ClientControlConnection,
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
    let iopub = jupyter_zmq_client::create_client_iopub_connection(&info, "", &session).await?;
    let control = jupyter_zmq_client::create_client_control_connection(&info, &session).await?;
    let mut kernel = Kernel { child, info, shell, iopub, control, dir, serial: Some(serial) };
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

    k.control.send(JupyterMessage::new(ShutdownRequest { restart: false }, None)).await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), k.control.read()).await??;
    assert_eq!(reply.header.msg_type, "shutdown_reply");
    let deadline = Instant::now() + Duration::from_secs(10);
    while k.child.try_wait()?.is_none() {
        assert!(Instant::now() < deadline, "the kernel did not exit after shutdown_request");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(matches!(ReplyStatus::Ok, ReplyStatus::Ok));
    Ok(())
}

/// A standby kernel waiting on `socket`, as `candlelit lab` starts one; its log is `log`.
fn start_standby(socket: &std::path::Path, log: &std::path::Path, owner: u32) -> std::io::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_candlelit"))
        .args(["kernel", "--standby"])
        .arg(socket)
        .env("CANDLELIT_INTERRUPT_GRACE", "3")
        .env("CANDLELIT_STANDBY", socket)
        .env("CANDLELIT_STANDBY_OWNER", owner.to_string())
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
    let mut standby = start_standby(&socket, &log, owner.id())?;
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

    // Other CANDLELIT_* settings than the standby's: it refuses, and the kernel starts on its own.
    let mut own = start_kernel_with(Launch { env: env("4"), cwd: Some(notebooks.clone()) }, serial).await?;
    let answer = own.execute(who).await?;
    expect_ok(&answer);
    assert_eq!(answer.outputs("execute_result")[0]["data"]["text/plain"], "\"Jupyter\"");
    assert!(socket.exists(), "the standby must still wait after refusing");
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

    // Jupyter kills the process it started: the kernel it stood in for goes too.
    adopted.child.kill()?;
    adopted.child.wait()?;
    wait_for("the adopted kernel to exit", Duration::from_secs(10), || standby.try_wait().is_ok_and(|s| s.is_some()))
        .await?;

    // `candlelit lab` ends: the waiting standby removes its socket and exits.
    owner.kill()?;
    owner.wait()?;
    wait_for("the next standby to exit with its owner", Duration::from_secs(10), || !socket.exists()).await?;
    drop(adopted);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
