//! Reading requests off a socket: signature check by `jupyter-zmq-client`, parsing by `jupyter-protocol`, with
//! the optional fields the protocol allows filled in first.
//!
//! `jupyter-protocol` types a few optional fields as required — a `history_request` that searches without `n`
//! (which `jupyter_client` sends, meaning "no limit") fails to parse, and the request would go unanswered.
//! [`read`] fills such fields with the protocol's defaults before parsing, so every valid request gets its reply.

use jupyter_protocol::{Header, JupyterMessage, JupyterMessageContent};
use jupyter_zmq_client::{Connection, RawMessage, RuntimeError};
use serde_json::Value;

/// Reads one request. A bad or missing signature is an error (the caller drops and logs the message).
///
/// # Errors
/// A socket error, a signature that does not verify, or a message that is not a Jupyter request.
pub async fn read<S: zeromq::SocketRecv>(connection: &mut Connection<S>) -> Result<JupyterMessage, RuntimeError> {
    let raw = RawMessage::from_multipart(connection.socket.recv().await?, &connection.mac)?;
    let header: Header = serde_json::from_slice(&raw.jparts[0])?;
    let mut content: Value = serde_json::from_slice(&raw.jparts[3])?;
    fill_optional_fields(&header.msg_type, &mut content);
    let content = JupyterMessageContent::from_type_and_content(&header.msg_type, content)
        .map_err(|source| RuntimeError::ParseError { msg_type: header.msg_type.clone(), source })?;
    Ok(JupyterMessage {
        zmq_identities: raw.zmq_identities,
        header,
        // An empty parent header (`{}`) is no header.
        parent_header: serde_json::from_slice(&raw.jparts[1]).ok(),
        metadata: serde_json::from_slice(&raw.jparts[2])?,
        content,
        buffers: raw.jparts.get(4..).map(<[_]>::to_vec).unwrap_or_default(),
        channel: None,
    })
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
}
