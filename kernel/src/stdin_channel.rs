//! The kernel's stdin channel: a cell that asks for a line (`input()`, `getpass()`, `read_line` on stdin) gets
//! it from the front end as Jupyter does it — `input_request` to the client that sent the `execute_request`,
//! `input_reply` back — when that request allowed stdin.

use std::sync::mpsc;
use std::time::Duration;

use jupyter_protocol::{InputRequest, JupyterMessage, JupyterMessageContent};
use jupyter_zmq_client::KernelStdinConnection;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;

use crate::session::{InputSource, Interrupter};
use crate::wire::{Request, Signatures};

/// One question for the front end, from the session thread to the stdin task.
pub struct Ask {
    /// The `execute_request` whose cell asks (the answer goes to its client).
    parent: JupyterMessage,
    prompt: String,
    password: bool,
    answer: mpsc::Sender<Result<String, String>>,
    /// Fires when the cell was interrupted while waiting: the stdin task stops waiting for this answer.
    cancel: oneshot::Receiver<()>,
}

/// The input source for the cell of `parent`: asks through `asks` if `parent` allowed stdin, stops waiting when
/// the cell is interrupted.
pub fn source(asks: UnboundedSender<Ask>, parent: JupyterMessage, interrupter: Interrupter) -> InputSource {
    let allowed = matches!(&parent.content, JupyterMessageContent::ExecuteRequest(r) if r.allow_stdin);
    Box::new(move |request| {
        if !allowed {
            return Err("this front end takes no input (its execute_request has allow_stdin false)".into());
        }
        let (answer, answered) = mpsc::channel();
        let (stop, cancel) = oneshot::channel();
        let ask =
            Ask { parent: parent.clone(), prompt: request.prompt.clone(), password: request.password, answer, cancel };
        asks.send(ask).map_err(|_| "the kernel's stdin channel is closed".to_string())?;
        let interrupts = interrupter.interrupts();
        loop {
            match answered.recv_timeout(Duration::from_millis(100)) {
                Ok(answer) => return answer,
                Err(mpsc::RecvTimeoutError::Timeout) if interrupter.interrupts() != interrupts => {
                    let _ = stop.send(());
                    return Err("the cell was interrupted while it waited for input".into());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err("the kernel's stdin channel closed".into()),
            }
        }
    })
}

/// Serves the stdin socket: each [`Ask`] becomes an `input_request` to its client, answered by the next
/// `input_reply` (signed, not replayed) or given up when cancelled.
pub async fn serve(mut stdin: KernelStdinConnection, mut asks: UnboundedReceiver<Ask>, signatures: &Signatures) {
    while let Some(ask) = asks.recv().await {
        // The client's stdin socket has its shell socket's identity, which `as_child_of` copies from the request.
        let request = InputRequest { prompt: ask.prompt.clone(), password: ask.password }.as_child_of(&ask.parent);
        if let Err(e) = stdin.send(request).await {
            let _ = ask.answer.send(Err(format!("could not ask the front end on stdin: {e}")));
            continue;
        }
        let mut cancel = ask.cancel;
        let answer = loop {
            tokio::select! {
                read = crate::wire::read(&mut stdin, signatures) => match read {
                    Ok(Request::Parsed(JupyterMessage { content: JupyterMessageContent::InputReply(reply), .. })) => {
                        break Ok(reply.value);
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        crate::kernel::log_rejected("stdin", &e);
                        continue;
                    }
                },
                _ = &mut cancel => break Err("cancelled".to_string()),
            }
        };
        let _ = ask.answer.send(answer);
    }
}
