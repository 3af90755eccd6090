//! evcxr's rich-output convention: a value shows itself by printing mime blocks on stdout.
//!
//! A block is a line `EVCXR_BEGIN_CONTENT <mime type>`, the content, and a line `EVCXR_END_CONTENT`. evcxr, and
//! candlelit's own session, collect the blocks a cell prints into one Jupyter mime bundle, so a value can offer
//! several forms (plain text for a terminal, HTML or SVG for a notebook) and the front end picks the richest.
//! Every displayable prelude value has an `evcxr_display` method built on [`emit`].

use std::io::Write;

/// The line that opens a mime block.
pub const BEGIN: &str = "EVCXR_BEGIN_CONTENT";
/// The line that closes a mime block.
pub const END: &str = "EVCXR_END_CONTENT";

/// One mime block as text: the opening line with the mime type, the content, the closing line.
///
/// ```
/// let b = candlelit::mime::block("text/plain", "hello");
/// assert_eq!(b, "EVCXR_BEGIN_CONTENT text/plain\nhello\nEVCXR_END_CONTENT\n");
/// ```
pub fn block(mime_type: &str, content: &str) -> String {
    let newline = if content.ends_with('\n') { "" } else { "\n" };
    format!("{BEGIN} {mime_type}\n{content}{newline}{END}\n")
}

/// Prints a bundle — several forms of one value — as consecutive mime blocks, in one write to stdout.
///
/// ```
/// candlelit::mime::emit(&[("text/plain", "3".to_string()), ("text/html", "<b>3</b>".to_string())]);
/// ```
pub fn emit(bundle: &[(&str, String)]) {
    let text: String = bundle.iter().map(|(mime_type, content)| block(mime_type, content)).collect();
    let mut out = std::io::stdout().lock();
    // Printing can only fail when stdout is closed; there is then nobody to tell.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Escapes `&`, `<`, `>` and `"` for HTML text and attribute values.
///
/// ```
/// assert_eq!(candlelit::mime::escape_html("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
/// ```
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}
