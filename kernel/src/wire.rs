//! Reading requests off a socket: signature check by `jupyter-zmq-client`, a replay check, parsing by
//! `jupyter-protocol`, with the optional fields the protocol allows filled in first.
//!
//! `jupyter-protocol` types a few optional fields as required — a `history_request` that searches without `n`
//! (which `jupyter_client` sends, meaning "no limit") fails to parse, and the request would go unanswered.
//! [`read`] fills such fields with the protocol's defaults before parsing, so every valid request gets its reply.
//! A signed request whose content still does not fit its type comes back as [`Request::Malformed`], so that the
//! kernel can answer it with an error instead of leaving the client waiting.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent, UnknownMessage};
use jupyter_zmq_client::{Connection, RawMessage, RuntimeError};
use serde_json::Value;

/// A signed request, as read.
pub enum Request {
    /// Content that fits its message type (an unknown type is `UnknownMessage`).
    Parsed(JupyterMessage),
    /// Content that does not fit its type: the message with its content kept raw, and what is wrong with it.
    Malformed(JupyterMessage, String),
}

/// Why a message was not read.
#[derive(Debug)]
pub enum Rejected {
    /// The socket failed, the signature did not verify, or the frames are not a Jupyter message.
    Wire(RuntimeError),
    /// The exact message (same signature) was received before: replayed by someone who saw it.
    Replayed,
}

impl From<RuntimeError> for Rejected {
    fn from(error: RuntimeError) -> Self {
        Rejected::Wire(error)
    }
}

impl From<serde_json::Error> for Rejected {
    fn from(error: serde_json::Error) -> Self {
        Rejected::Wire(error.into())
    }
}

/// Signatures of the messages received, as `jupyter_client`'s digest history keeps them: a signed message is
/// acted on once. The oldest are forgotten past [`Signatures::CAPACITY`].
#[derive(Default)]
pub struct Signatures(Mutex<Seen>);

/// The signatures remembered, and the order they came in (oldest first).
#[derive(Default)]
struct Seen {
    set: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

impl Signatures {
    /// How many signatures are remembered.
    pub const CAPACITY: usize = 1 << 16;

    /// Whether `signature` is new (and remembers it). Empty signatures (no key) are never remembered.
    fn first_time(&self, signature: &[u8]) -> bool {
        if signature.is_empty() {
            return true;
        }
        let Ok(mut seen) = self.0.lock() else { return false };
        if !seen.set.insert(signature.to_vec()) {
            return false;
        }
        seen.order.push_back(signature.to_vec());
        if seen.order.len() > Self::CAPACITY
            && let Some(oldest) = seen.order.pop_front()
        {
            seen.set.remove(&oldest);
        }
        true
    }
}

/// Reads one request, checks its signature and that it was not seen before (`signatures` is shared by the
/// sockets of one kernel).
///
/// # Errors
/// A socket error, a signature that does not verify, a replayed message, or frames that are not a Jupyter message.
pub async fn read<S: zeromq::SocketRecv>(
    connection: &mut Connection<S>,
    signatures: &Signatures,
) -> Result<Request, Rejected> {
    let multipart = connection.socket.recv().await.map_err(RuntimeError::from)?;
    let signature = multipart
        .iter()
        .position(|part| &part[..] == b"<IDS|MSG>")
        .and_then(|delimiter| multipart.get(delimiter + 1))
        .map(|part| part.to_vec())
        .unwrap_or_default();
    let raw = RawMessage::from_multipart(multipart, &connection.mac)?;
    if !signatures.first_time(&signature) {
        return Err(Rejected::Replayed);
    }
    let header: Header = serde_json::from_slice(&raw.jparts[0])?;
    let mut content: Value = serde_json::from_slice(&raw.jparts[3])?;
    fill_optional_fields(&header.msg_type, &mut content);
    let mut message = JupyterMessage {
        zmq_identities: raw.zmq_identities,
        header,
        // An empty parent header (`{}`) is no header.
        parent_header: serde_json::from_slice(&raw.jparts[1]).ok(),
        metadata: serde_json::from_slice(&raw.jparts[2]).unwrap_or_else(|_| Value::Object(Default::default())),
        content: JupyterMessageContent::UnknownMessage(UnknownMessage::default()),
        buffers: raw.jparts.get(4..).map(<[_]>::to_vec).unwrap_or_default(),
        channel: None,
    };
    match JupyterMessageContent::from_type_and_content(&message.header.msg_type, content.clone()) {
        Ok(parsed) => {
            message.content = parsed;
            Ok(Request::Parsed(message))
        }
        Err(error) => {
            let msg_type = message.header.msg_type.clone();
            message.content = JupyterMessageContent::UnknownMessage(UnknownMessage { msg_type, content });
            Ok(Request::Malformed(message, error.to_string()))
        }
    }
}

/// The reply a request of `request_type` gets when the kernel cannot act on it: `{type}_reply` with the
/// protocol's error content (plus `execution_count` for `execute_reply`), or `None` for a type that is not a
/// request (it gets no reply, only busy and idle).
pub fn error_reply(request: &JupyterMessage, ename: &str, evalue: &str) -> Option<JupyterMessage> {
    let stem = request.header.msg_type.strip_suffix("_request")?;
    let mut content = serde_json::json!({
        "status": "error", "ename": ename, "evalue": evalue, "traceback": [format!("{ename}: {evalue}")],
    });
    if stem == "execute" {
        content["execution_count"] = Value::from(0);
    }
    let reply = UnknownMessage { msg_type: format!("{stem}_reply"), content };
    Some(JupyterMessage::new(JupyterMessageContent::UnknownMessage(reply), Some(request)))
}

/// Fills the optional fields of a request's content with the protocol's defaults.
fn fill_optional_fields(msg_type: &str, content: &mut Value) {
    let Value::Object(fields) = content else { return };
    let mut default = |name: &str, value: Value| {
        if fields.get(name).is_none_or(Value::is_null) {
            fields.insert(name.to_string(), value);
        }
    };
    if msg_type == "history_request" {
        // n = 0 means no limit for a search; the tail of zero entries for `tail` (IPython answers the same).
        default("n", Value::from(0));
        default("unique", Value::Bool(false));
        default("output", Value::Bool(false));
        default("raw", Value::Bool(true));
        default("start", Value::from(0));
        default("stop", Value::from(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_search_without_n_or_unique_parses() {
        let mut content =
            serde_json::json!({ "hist_access_type": "search", "pattern": "40*", "raw": true, "output": false });
        fill_optional_fields("history_request", &mut content);
        let parsed = JupyterMessageContent::from_type_and_content("history_request", content).expect("parses");
        assert!(matches!(
            parsed,
            JupyterMessageContent::HistoryRequest(jupyter_protocol::HistoryRequest::Search { n: 0, unique: false, .. })
        ));
    }

    #[test]
    fn given_fields_are_kept() {
        let mut content = serde_json::json!({ "hist_access_type": "tail", "n": 3, "raw": true, "output": true });
        fill_optional_fields("history_request", &mut content);
        assert_eq!(content["n"], 3);
        assert_eq!(content["output"], true);
    }

    #[test]
    fn a_signature_is_acted_on_once_and_the_oldest_are_forgotten() {
        let signatures = Signatures::default();
        assert!(signatures.first_time(b"abc") && !signatures.first_time(b"abc"));
        assert!(signatures.first_time(b"") && signatures.first_time(b""), "unsigned messages have no history");
        for n in 0..Signatures::CAPACITY {
            assert!(signatures.first_time(format!("{n}").as_bytes()));
        }
        assert!(signatures.first_time(b"abc"), "forgotten after CAPACITY newer ones");
    }

    #[test]
    fn a_request_that_cannot_be_acted_on_gets_its_reply_type_with_an_error() {
        let request = JupyterMessage::new(
            JupyterMessageContent::UnknownMessage(UnknownMessage {
                msg_type: "execute_request".into(),
                content: serde_json::json!({}),
            }),
            None,
        );
        let reply = error_reply(&request, "BadRequest", "missing field `code`").expect("a reply");
        assert_eq!(reply.header.msg_type, "execute_reply");
        let content = serde_json::to_value(&reply.content).expect("json");
        assert_eq!(content["status"], "error");
        assert_eq!(content["execution_count"], 0);
        assert_eq!(reply.parent_header.map(|h| h.msg_id), Some(request.header.msg_id.clone()));
        let stream = JupyterMessage::new(
            JupyterMessageContent::UnknownMessage(UnknownMessage { msg_type: "comm_msg".into(), content: Value::Null }),
            None,
        );
        assert!(error_reply(&stream, "x", "y").is_none(), "only requests get replies");
    }
}
