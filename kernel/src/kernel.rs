//! `candlelit kernel --connection-file F`: the Jupyter kernel, speaking messaging protocol 5.3 over ZeroMQ.
//!
//! Sockets, framing and HMAC-SHA256 signing come from `jupyter-zmq-client`, message types from `jupyter-protocol`.
//! Four tasks serve the channels (heartbeat, shell, control, iopub) and one thread owns the [`Session`]:
//! - quick shell requests (`kernel_info`, `is_complete`, `history`, `comm_info`) are answered at once, even while
//!   the prelude is still loading or a cell runs;
//! - `execute`, `complete` and `inspect` queue for the session thread, in arrival order;
//! - `interrupt_request` on control (or SIGINT) asks the running cell to stop; `shutdown_request` ends the process.
//!
//! A message whose signature does not match the connection key is dropped and logged, never acted on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jupyter_protocol::{
    ClearOutput, CommInfoReply, CompleteReply, DisplayData, ErrorOutput, ExecuteInput, ExecuteReply, ExecuteResult,
    ExecutionCount, HelpLink, HistoryReply, InspectReply, InterruptReply, IoPubWelcome, IsCompleteReply,
    IsCompleteReplyStatus, JupyterMessage, JupyterMessageContent, KernelInfoReply, LanguageInfo, Media, Payload,
    ReplyError, ReplyStatus, ShutdownReply, Status, StreamContent, Transient, UpdateDisplayData,
};
use jupyter_zmq_client::{ConnectionInfo, RuntimeError, SubscriptionEvent};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::history::History;
use crate::session::{self, Completeness, Interrupter, Options, Output, Session};
use crate::wire::{Rejected, Request};

/// Reads the connection file and serves until a `shutdown_request`, calling `hooks` along the way.
///
/// # Errors
/// When the connection file cannot be read or a socket cannot be bound.
pub fn run(connection_file: &Path, hooks: Hooks) -> Result<(), String> {
    let info = read_connection_file(connection_file)?;
    serve_blocking(info, Prepared::start(), || {}, hooks)
}

/// What whoever starts the kernel may do at moments of its life; the kernel knows nothing more of them.
/// (`candlelit lab` uses them to keep a standby kernel loading: see `standby.rs`.)
#[derive(Default)]
pub struct Hooks {
    /// Called once the sockets are bound, with what the session thread is doing.
    pub serving: Option<Box<dyn FnOnce(Arc<Activity>) + Send>>,
    /// Called when a `shutdown_request` asks for a restart, before the kernel exits.
    pub restarting: Option<Box<dyn Fn() + Send + Sync>>,
}

/// The connection file's contents, checked for a signature scheme candlelit speaks.
///
/// # Errors
/// When the file cannot be read, is not a connection file, or asks for another scheme than HMAC-SHA256.
pub fn read_connection_file(connection_file: &Path) -> Result<ConnectionInfo, String> {
    let text = std::fs::read_to_string(connection_file)
        .map_err(|e| format!("cannot read the connection file {}: {e}", connection_file.display()))?;
    let info: ConnectionInfo = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a Jupyter connection file: {e}", connection_file.display()))?;
    if !info.key.is_empty() && info.signature_scheme != "hmac-sha256" {
        return Err(format!("unsupported signature scheme {:?}; use hmac-sha256", info.signature_scheme));
    }
    Ok(info)
}

/// Binds the sockets of `info`, calls `on_bound`, and serves `prepared` until a `shutdown_request`.
///
/// # Errors
/// When a socket cannot be bound or the async runtime cannot start.
pub fn serve_blocking(
    info: ConnectionInfo,
    prepared: Prepared,
    on_bound: impl FnOnce(),
    hooks: Hooks,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(serve(info, prepared, on_bound, hooks))
}

/// A kernel before it has sockets: the session thread (already loading the prelude), its work queue, and what it
/// shares with the channels. Starting this before a connection file exists is what makes a standby kernel.
pub struct Prepared {
    out_tx: UnboundedSender<Outgoing>,
    out_rx: UnboundedReceiver<Outgoing>,
    /// Questions of cells for the front end, answered once the stdin socket is bound.
    asks_rx: UnboundedReceiver<crate::stdin_channel::Ask>,
    history: History,
    interrupter: Arc<Mutex<Option<Interrupter>>>,
    jobs: JobSender,
    activity: Arc<Activity>,
}

impl Prepared {
    /// Starts the session thread; the prelude loads while the caller waits for sockets.
    pub fn start() -> Prepared {
        let (out_tx, out_rx) = unbounded_channel::<Outgoing>();
        let history: History = Arc::default();
        let interrupter: Arc<Mutex<Option<Interrupter>>> = Arc::default();
        let activity = Arc::new(Activity::default());
        let (asks_tx, asks_rx) = unbounded_channel();
        let channels = SessionChannels { out: out_tx.clone(), asks: asks_tx };
        let jobs =
            start_session_thread(channels, Arc::clone(&history), Arc::clone(&interrupter), Arc::clone(&activity));
        Prepared { out_tx, out_rx, asks_rx, history, interrupter, jobs, activity }
    }

    /// Asks the running cell, if any, to stop.
    pub fn interrupter(&self) -> impl Fn() + Send + 'static {
        let interrupter = Arc::clone(&self.interrupter);
        move || {
            interrupt_running(&interrupter);
        }
    }

    /// What the session thread is doing.
    pub fn activity(&self) -> Arc<Activity> {
        Arc::clone(&self.activity)
    }

    /// Queues a change of the cells' working folder, ahead of any cell.
    pub fn enter_dir(&self, dir: PathBuf) {
        self.jobs.send(Job::EnterDir(dir));
    }
}

/// What the session thread is doing, for deciding when background work may start without slowing a learner's cell.
#[derive(Debug, Default)]
pub struct Activity {
    /// The session has started (or failed to).
    ready: AtomicBool,
    /// Requests handed to the session thread and not yet finished.
    pending: AtomicUsize,
    /// When the session thread last finished something.
    last_done: Mutex<Option<Instant>>,
}

impl Activity {
    /// How long the session has been loaded and idle; `None` while it loads or works.
    pub fn idle_for(&self) -> Option<Duration> {
        if !self.ready.load(Ordering::SeqCst) || self.pending.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.last_done.lock().ok().and_then(|t| *t).map(|t| t.elapsed())
    }

    fn finished(&self) {
        if let Ok(mut t) = self.last_done.lock() {
            *t = Some(Instant::now());
        }
    }
}

/// What the session thread sends back to the sockets.
enum Outgoing {
    Iopub(JupyterMessage),
    Shell(JupyterMessage),
}

/// Work for the session thread.
enum Job {
    Execute(JupyterMessage),
    Complete(JupyterMessage),
    Inspect(JupyterMessage),
    /// Make this the cells' working folder (a standby adopted by a notebook elsewhere).
    EnterDir(PathBuf),
}

/// Sends work to the session thread, counting it as pending until the thread has done it.
struct JobSender {
    /// Each job with the moment it arrived.
    jobs: std::sync::mpsc::Sender<(Instant, Job)>,
    activity: Arc<Activity>,
}

impl JobSender {
    /// Queues `job`; `false` when the session thread is gone.
    fn send(&self, job: Job) -> bool {
        self.activity.pending.fetch_add(1, Ordering::SeqCst);
        let sent = self.jobs.send((Instant::now(), job)).is_ok();
        if !sent {
            self.activity.pending.fetch_sub(1, Ordering::SeqCst);
        }
        sent
    }
}

/// Binds the sockets, then serves shell, control, stdin, iopub and the heartbeat until a `shutdown_request`.
async fn serve(info: ConnectionInfo, prepared: Prepared, on_bound: impl FnOnce(), hooks: Hooks) -> Result<(), String> {
    let session_id = uuid::Uuid::new_v4().to_string();
    let bind = |what: &str, e: RuntimeError| format!("cannot bind the {what} socket: {e}");
    let shell =
        jupyter_zmq_client::create_kernel_shell_connection(&info, &session_id).await.map_err(|e| bind("shell", e))?;
    let control = jupyter_zmq_client::create_kernel_control_connection(&info, &session_id)
        .await
        .map_err(|e| bind("control", e))?;
    let stdin =
        jupyter_zmq_client::create_kernel_stdin_connection(&info, &session_id).await.map_err(|e| bind("stdin", e))?;
    let mut heartbeat =
        jupyter_zmq_client::create_kernel_heartbeat_connection(&info).await.map_err(|e| bind("heartbeat", e))?;
    // XPUB rather than PUB: the kernel learns when a client subscribes and greets it with `iopub_welcome`
    // (JEP 65), so clients know from when on they see every output.
    let mut iopub = jupyter_zmq_client::create_kernel_iopub_xpub_connection(&info, &session_id)
        .await
        .map_err(|e| bind("iopub", e))?;

    on_bound();
    if info.key.is_empty() {
        eprintln!(
            "candlelit: WARNING: the connection file has an empty key, so messages are not signed: any process on \
             this machine that can reach the kernel's ports can run code in it. Start kernels through Jupyter, \
             which sets a key."
        );
    }
    // Shared by shell, control and stdin: a signed message is acted on once, on whichever socket it arrives.
    let signatures = Arc::new(crate::wire::Signatures::default());
    let Prepared { out_tx, mut out_rx, asks_rx, history, interrupter, jobs, activity } = prepared;
    {
        let signatures = Arc::clone(&signatures);
        tokio::spawn(async move { crate::stdin_channel::serve(stdin, asks_rx, &signatures).await });
    }
    let Hooks { serving, restarting } = hooks;
    if let Some(serving) = serving {
        serving(activity);
    }
    let (iopub_tx, mut iopub_rx) = unbounded_channel::<JupyterMessage>();

    tokio::spawn(async move {
        loop {
            match heartbeat.single_heartbeat().await {
                Ok(()) => {}
                // The socket is closed: the kernel is ending.
                Err(RuntimeError::ZmqError(zeromq::ZmqError::NoMessage)) => break,
                // One peer's malformed ping, or a peer gone before its pong: the heartbeat goes on for the others
                // (ending here would make every front end think the kernel died).
                Err(e) => eprintln!("candlelit: heartbeat: ignored {e}"),
            }
        }
    });
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                message = iopub_rx.recv() => match message {
                    Some(message) => message,
                    None => break,
                },
                event = iopub.recv_subscription() => match event {
                    Ok(SubscriptionEvent::Subscribe(topic)) => IoPubWelcome::new(topic).into(),
                    Ok(SubscriptionEvent::Unsubscribe(_)) => continue,
                    Err(e) => {
                        eprintln!("candlelit: ignored a malformed iopub subscription: {e}");
                        continue;
                    }
                },
            };
            if let Err(e) = iopub.send(message).await {
                eprintln!("candlelit: could not publish on iopub: {e}");
            }
        }
    });

    let (mut shell_send, mut shell_recv) = shell.split();
    let (shell_tx, mut shell_rx) = unbounded_channel::<JupyterMessage>();
    tokio::spawn(async move {
        while let Some(message) = shell_rx.recv().await {
            if let Err(e) = shell_send.send(message).await {
                eprintln!("candlelit: could not reply on shell: {e}");
            }
        }
    });
    // The session thread's messages go out in the order they were made.
    {
        let (iopub_tx, shell_tx) = (iopub_tx.clone(), shell_tx.clone());
        tokio::spawn(async move {
            while let Some(out) = out_rx.recv().await {
                let _ = match out {
                    Outgoing::Iopub(m) => iopub_tx.send(m).is_ok(),
                    Outgoing::Shell(m) => shell_tx.send(m).is_ok(),
                };
            }
        });
    }

    {
        let interrupter = Arc::clone(&interrupter);
        tokio::spawn(async move {
            let Ok(mut sigint) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()) else {
                return;
            };
            while sigint.recv().await.is_some() {
                interrupt_running(&interrupter);
            }
        });
    }

    let shell_task = {
        let (iopub_tx, history, out_tx) = (iopub_tx.clone(), Arc::clone(&history), out_tx.clone());
        let signatures = Arc::clone(&signatures);
        tokio::spawn(async move {
            loop {
                let request = match crate::wire::read(&mut shell_recv, &signatures).await {
                    Ok(Request::Parsed(m)) => m,
                    Ok(Request::Malformed(m, why)) => {
                        answer_at_once(&iopub_tx, &out_tx, &m, malformed_reply(&m, &why));
                        continue;
                    }
                    Err(e) => {
                        log_rejected("shell", &e);
                        continue;
                    }
                };
                if let Some(reply) = quick_reply(&request, &history) {
                    answer_at_once(&iopub_tx, &out_tx, &request, Some(reply));
                    continue;
                }
                let job = match &request.content {
                    JupyterMessageContent::ExecuteRequest(_) => Job::Execute(request),
                    JupyterMessageContent::CompleteRequest(_) => Job::Complete(request),
                    JupyterMessageContent::InspectRequest(_) => Job::Inspect(request),
                    _ => {
                        answer_at_once(&iopub_tx, &out_tx, &request, unhandled_reply(&request, "shell"));
                        continue;
                    }
                };
                if !jobs.send(job) {
                    break;
                }
            }
        })
    };

    let (mut control_send, mut control_recv) = control.split();
    let publish = |message: JupyterMessage| {
        let _ = iopub_tx.send(message);
    };
    loop {
        let request = match crate::wire::read(&mut control_recv, &signatures).await {
            Ok(Request::Parsed(m)) => m,
            Ok(Request::Malformed(m, why)) => {
                let _busy = Busy::new(&publish, &publish, &m);
                if let Some(reply) = malformed_reply(&m, &why) {
                    let _ = control_send.send(reply).await;
                }
                continue;
            }
            Err(e) => {
                log_rejected("control", &e);
                continue;
            }
        };
        let busy = Busy::new(&publish, &publish, &request);
        let reply = match &request.content {
            JupyterMessageContent::InterruptRequest(_) => {
                interrupt_running(&interrupter);
                Some(InterruptReply::new().as_child_of(&request))
            }
            JupyterMessageContent::ShutdownRequest(req) => {
                if req.restart
                    && let Some(restarting) = &restarting
                {
                    restarting();
                }
                let reply = ShutdownReply { restart: req.restart, status: ReplyStatus::Ok, error: None };
                let _ = control_send.send(reply.as_child_of(&request)).await;
                drop(busy);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                shell_task.abort();
                return Ok(());
            }
            _ => quick_reply(&request, &history).or_else(|| unhandled_reply(&request, "control")),
        };
        if let Some(reply) = reply {
            let _ = control_send.send(reply).await;
        }
        drop(busy);
    }
}

/// `busy` on iopub now, `idle` when dropped: how every request the kernel handles is bracketed (the protocol's
/// rule), whichever task handles it and however it ends.
struct Busy<'a> {
    idle: &'a dyn Fn(JupyterMessage),
    request: &'a JupyterMessage,
}

impl<'a> Busy<'a> {
    /// Publishes busy through `busy`; idle will go through `idle` (the same channel, or one ordered after the
    /// reply).
    fn new(busy: &dyn Fn(JupyterMessage), idle: &'a dyn Fn(JupyterMessage), request: &'a JupyterMessage) -> Self {
        busy(Status::busy().as_child_of(request));
        Busy { idle, request }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        (self.idle)(Status::idle().as_child_of(self.request));
    }
}

/// Logs a message that was not acted on, and why.
pub fn log_rejected(channel: &str, error: &Rejected) {
    match error {
        Rejected::Wire(RuntimeError::VerifyError(_) | RuntimeError::MissingHmac) => {
            eprintln!("candlelit: dropped a message on {channel} with a bad or missing signature")
        }
        Rejected::Replayed => {
            eprintln!("candlelit: dropped a replayed message on {channel} (its signature was seen before)")
        }
        Rejected::Wire(other) => eprintln!("candlelit: dropped a malformed message on {channel}: {other}"),
    }
}

/// Busy, the reply (if the request gets one) after whatever the session thread sent before, then idle: how a
/// shell request the kernel answers without the session is bracketed.
fn answer_at_once(
    iopub_tx: &UnboundedSender<JupyterMessage>,
    out_tx: &UnboundedSender<Outgoing>,
    request: &JupyterMessage,
    reply: Option<JupyterMessage>,
) {
    let busy = |message| {
        let _ = iopub_tx.send(message);
    };
    let idle = |message| {
        let _ = out_tx.send(Outgoing::Iopub(message));
    };
    let _busy = Busy::new(&busy, &idle, request);
    if let Some(reply) = reply {
        let _ = out_tx.send(Outgoing::Shell(reply));
    }
}

/// The error reply to a signed request whose content does not fit its type (say, an `execute_request` without
/// `code`): the client learns what is wrong instead of waiting for a reply that never comes.
fn malformed_reply(request: &JupyterMessage, why: &str) -> Option<JupyterMessage> {
    eprintln!("candlelit: answered a malformed {} with an error: {why}", request.header.msg_type);
    let evalue = format!("candlelit could not read this {}: {why}", request.header.msg_type);
    crate::wire::error_reply(request, "BadRequest", &evalue)
}

/// The error reply to a request candlelit does not handle on `channel` (`None` for a message that is not a
/// request, which gets only busy and idle).
fn unhandled_reply(request: &JupyterMessage, channel: &str) -> Option<JupyterMessage> {
    let kind = &request.header.msg_type;
    eprintln!("candlelit: no handler for {kind} on {channel}");
    crate::wire::error_reply(request, "UnknownMessageType", &format!("candlelit does not handle {kind} on {channel}"))
}

/// Replies that need no session: answered immediately, in any state.
fn quick_reply(request: &JupyterMessage, history: &History) -> Option<JupyterMessage> {
    Some(match &request.content {
        JupyterMessageContent::KernelInfoRequest(_) => kernel_info().as_child_of(request),
        JupyterMessageContent::IsCompleteRequest(req) => {
            let reply = match session::completeness(&req.code) {
                Completeness::Complete => IsCompleteReply::complete(),
                Completeness::Invalid => IsCompleteReply::invalid(),
                Completeness::Incomplete { indent } => IsCompleteReply::new(IsCompleteReplyStatus::Incomplete, indent),
            };
            reply.as_child_of(request)
        }
        JupyterMessageContent::CommInfoRequest(_) => {
            CommInfoReply { status: ReplyStatus::Ok, comms: HashMap::new(), error: None }.as_child_of(request)
        }
        JupyterMessageContent::HistoryRequest(req) => {
            let entries = history.lock().map(|h| h.clone()).unwrap_or_default();
            HistoryReply::new(crate::history::select(req, &entries)).as_child_of(request)
        }
        _ => return None,
    })
}

fn kernel_info() -> KernelInfoReply {
    KernelInfoReply {
        status: ReplyStatus::Ok,
        protocol_version: "5.3".into(),
        implementation: "candlelit".into(),
        implementation_version: env!("CARGO_PKG_VERSION").into(),
        language_info: LanguageInfo {
            name: "rust".into(),
            version: rustc_version(),
            mimetype: Some("text/rust".into()),
            file_extension: Some(".rs".into()),
            pygments_lexer: Some("rust".into()),
            codemirror_mode: Some(jupyter_protocol::CodeMirrorMode::Simple("rust".into())),
            nbconvert_exporter: Some("script".into()),
        },
        banner: format!(
            "candlelit {} — Rust with Candle's teaching prelude (use candlelit::prelude::* is already in scope).",
            env!("CARGO_PKG_VERSION")
        ),
        help_links: vec![
            HelpLink { text: "Candle".into(), url: "https://docs.rs/candle-core".into() },
            HelpLink { text: "The Rust book".into(), url: "https://doc.rust-lang.org/book/".into() },
        ],
        debugger: false,
        error: None,
    }
}

fn rustc_version() -> String {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            std::process::Command::new("rustc")
                .arg("--version")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        })
        .clone()
}

/// Asks the running cell, if any, to stop (SIGINT, `interrupt_request`, or a standby's stand-in).
fn interrupt_running(interrupter: &Mutex<Option<Interrupter>>) {
    if let Some(i) = interrupter.lock().ok().and_then(|g| g.clone()) {
        i.interrupt();
    }
}

/// Where the session thread sends what the channels deliver: outputs and replies, and questions for stdin.
struct SessionChannels {
    out: UnboundedSender<Outgoing>,
    asks: UnboundedSender<crate::stdin_channel::Ask>,
}

/// Starts the thread that owns the session; returns where to send it work.
fn start_session_thread(
    channels: SessionChannels,
    history: History,
    interrupter: Arc<Mutex<Option<Interrupter>>>,
    activity: Arc<Activity>,
) -> JobSender {
    let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<(Instant, Job)>();
    let queued = Arc::clone(&activity);
    std::thread::spawn(move || {
        let session = Session::start(Options::from_env());
        if let (Ok(s), Ok(mut slot)) = (&session, interrupter.lock()) {
            *slot = Some(s.interrupter());
        }
        if let Err(e) = &session {
            eprintln!("candlelit: {e}");
        }
        activity.finished();
        activity.ready.store(true, Ordering::SeqCst);
        let SessionChannels { out, asks } = channels;
        let mut worker = Worker { session, out, asks, history, count: 0, declared: Default::default() };
        let mut next = None;
        while let Some((_, job)) = next.take().or_else(|| jobs_rx.recv().ok()) {
            let failed_at = worker.handle(job);
            activity.finished();
            activity.pending.fetch_sub(1, Ordering::SeqCst);
            let Some(failed_at) = failed_at else { continue };
            // Like ipykernel: requests queued while a cell failed are aborted, not run on a broken state. One that
            // arrived after the failure was reported (the client saw the error and went on) runs as usual.
            while let Ok((arrived, job)) = jobs_rx.try_recv() {
                if arrived > failed_at {
                    next = Some((arrived, job));
                    break;
                }
                match job {
                    Job::Execute(request) => worker.abort(&request),
                    other => {
                        worker.handle(other);
                    }
                }
                activity.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    });
    JobSender { jobs: jobs_tx, activity: queued }
}

struct Worker {
    session: Result<Session, String>,
    out: UnboundedSender<Outgoing>,
    asks: UnboundedSender<crate::stdin_channel::Ask>,
    history: History,
    count: usize,
    /// The types variables were declared with, for papermill's injected parameters.
    declared: crate::papermill::DeclaredTypes,
}

impl Worker {
    fn iopub(&self, message: JupyterMessage) {
        let _ = self.out.send(Outgoing::Iopub(message));
    }

    fn reply(&self, message: JupyterMessage) {
        let _ = self.out.send(Outgoing::Shell(message));
    }

    /// Handles one job between busy and idle; returns when an execute with `stop_on_error` failed (just before
    /// its reply was sent).
    fn handle(&mut self, job: Job) -> Option<Instant> {
        let request = match &job {
            Job::Execute(r) | Job::Complete(r) | Job::Inspect(r) => r.clone(),
            Job::EnterDir(dir) => {
                if let Ok(session) = &mut self.session
                    && let Err(e) = session.enter_dir(dir)
                {
                    eprintln!("candlelit: {e}");
                }
                return None;
            }
        };
        let out = self.out.clone();
        let publish = move |message| {
            let _ = out.send(Outgoing::Iopub(message));
        };
        let _busy = Busy::new(&publish, &publish, &request);
        match job {
            Job::Execute(request) => self.execute(&request),
            Job::Complete(request) => {
                self.complete(&request);
                None
            }
            Job::Inspect(request) => {
                self.inspect(&request);
                None
            }
            // Answered above, before any busy status.
            Job::EnterDir(_) => None,
        }
    }

    fn abort(&self, request: &JupyterMessage) {
        let publish = |message| self.iopub(message);
        let _busy = Busy::new(&publish, &publish, request);
        let reply = execute_reply(ReplyStatus::Aborted, ExecutionCount::new(self.count));
        self.reply(reply.as_child_of(request));
    }

    fn execute(&mut self, request: &JupyterMessage) -> Option<Instant> {
        let JupyterMessageContent::ExecuteRequest(req) = &request.content else { return None };
        let silent = req.silent;
        if !silent {
            self.count += 1;
        }
        let count = ExecutionCount::new(self.count);
        if !silent {
            self.iopub(ExecuteInput { code: req.code.clone(), execution_count: count }.as_child_of(request));
        }
        let mut error: Option<session::CellError> = None;
        let mut payload = Vec::new();
        let mut result_text = String::new();
        let out = self.out.clone();
        let publish = |message: JupyterMessage| {
            if !silent {
                let _ = out.send(Outgoing::Iopub(message));
            }
        };
        match &mut self.session {
            Ok(session) => {
                let interrupter = session.interrupter();
                session.set_input(crate::stdin_channel::source(self.asks.clone(), request.clone(), interrupter));
                let code = self.declared.typed(&req.code).unwrap_or_else(|| req.code.clone());
                session.execute(&code, &mut |output| match output {
                    Output::Stdout(text) => publish(StreamContent::stdout(&text).as_child_of(request)),
                    Output::Stderr(text) => publish(StreamContent::stderr(&text).as_child_of(request)),
                    Output::Page(text) => {
                        payload.push(Payload::Page { data: media(&[("text/plain".into(), text)]), start: 0 })
                    }
                    Output::Display(bundle) => publish(DisplayData::new(media(&bundle)).as_child_of(request)),
                    Output::Tracked { id, bundle } => {
                        let display = DisplayData {
                            transient: Some(Transient { display_id: Some(id) }),
                            ..DisplayData::new(media(&bundle))
                        };
                        publish(display.as_child_of(request))
                    }
                    Output::Update { id, bundle } => {
                        publish(UpdateDisplayData::new(media(&bundle), &id).as_child_of(request))
                    }
                    Output::Clear { wait } => publish(ClearOutput { wait }.as_child_of(request)),
                    Output::Result(bundle) => {
                        result_text =
                            bundle.iter().find(|(m, _)| m == "text/plain").map(|(_, d)| d.clone()).unwrap_or_default();
                        // `transient`, when present, must be an object (the protocol's schema), never null.
                        let result = ExecuteResult {
                            transient: Some(Transient::default()),
                            ..ExecuteResult::new(count, media(&bundle))
                        };
                        publish(result.as_child_of(request));
                    }
                    Output::Error(e) => error = Some(e),
                });
            }
            Err(message) => {
                error = Some(session::CellError {
                    kind: session::ErrorKind::Restarted,
                    ename: "PreludeError".into(),
                    evalue: message.clone(),
                    hint: None,
                    details: String::new(),
                });
            }
        }
        if error.is_none() {
            self.declared.record(&req.code);
        }
        if req.store_history
            && !silent
            && let Ok(mut h) = self.history.lock()
        {
            h.push((self.count, req.code.clone(), result_text));
        }
        match error {
            None => {
                self.reply(ExecuteReply { payload, ..execute_reply(ReplyStatus::Ok, count) }.as_child_of(request));
                None
            }
            Some(e) => {
                let (ename, evalue, traceback) = (e.ename.clone(), e.evalue.clone(), e.traceback());
                publish(
                    ErrorOutput { ename: ename.clone(), evalue: evalue.clone(), traceback: traceback.clone() }
                        .as_child_of(request),
                );
                let reply = ExecuteReply {
                    error: Some(Box::new(ReplyError { ename, evalue, traceback })),
                    ..execute_reply(ReplyStatus::Error, count)
                };
                let failed_at = req.stop_on_error.then(Instant::now);
                self.reply(reply.as_child_of(request));
                failed_at
            }
        }
    }

    fn complete(&mut self, request: &JupyterMessage) {
        let JupyterMessageContent::CompleteRequest(req) = &request.content else { return };
        let found = match &mut self.session {
            Ok(session) => session.complete(&req.code, req.cursor_pos),
            Err(_) => session::Completions { matches: Vec::new(), start: req.cursor_pos, end: req.cursor_pos },
        };
        let reply = CompleteReply {
            matches: found.matches,
            cursor_start: found.start,
            cursor_end: found.end,
            ..CompleteReply::default()
        };
        self.reply(reply.as_child_of(request));
    }

    fn inspect(&mut self, request: &JupyterMessage) {
        let JupyterMessageContent::InspectRequest(req) = &request.content else { return };
        let found = match &mut self.session {
            Ok(session) => session.inspect(&req.code, req.cursor_pos),
            Err(_) => None,
        };
        let reply = match found {
            Some(text) => InspectReply {
                found: true,
                data: media(&[("text/plain".to_string(), text)]),
                ..InspectReply::default()
            },
            None => InspectReply::default(),
        };
        self.reply(reply.as_child_of(request));
    }
}

/// An `execute_reply` with what every reply carries: status, count, and `user_expressions` as an empty object
/// (candlelit evaluates none; the protocol's schema wants an object, not null).
fn execute_reply(status: ReplyStatus, execution_count: ExecutionCount) -> ExecuteReply {
    ExecuteReply { status, execution_count, user_expressions: Some(HashMap::new()), ..ExecuteReply::default() }
}

/// A mime bundle as `jupyter-protocol`'s `Media`.
fn media(bundle: &[(String, String)]) -> Media {
    let map: serde_json::Map<String, serde_json::Value> =
        bundle.iter().map(|(m, d)| (m.clone(), crate::notebook::mime_value(m, d))).collect();
    serde_json::from_value(serde_json::Value::Object(map)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_keeps_every_mime_type() {
        let m = media(&[("image/svg+xml".into(), "<svg/>".into()), ("text/plain".into(), "Figure".into())]);
        let json = serde_json::to_value(&m).unwrap_or_default();
        assert_eq!(json["image/svg+xml"], "<svg/>");
        assert_eq!(json["text/plain"], "Figure");
    }
}
