//! What a cell produces, as the front ends receive it: outputs in order, rich values as mime bundles, and
//! completions.

use super::CellError;

/// One rich value: `(mime type, data)` pairs, richest first (`image/png` data is base64).
pub type MimeBundle = Vec<(String, String)>;

/// Something a cell produced, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Text the cell printed on standard output.
    Stdout(String),
    /// Text the cell printed on standard error (compiler warnings included).
    Stderr(String),
    /// Something the cell showed while running (`display(&x)` in the prelude).
    Display(MimeBundle),
    /// A display that later outputs may replace (`DisplayHandle` in the prelude: progress bars, live figures).
    Tracked {
        /// The display id (Jupyter's `transient.display_id`).
        id: String,
        /// What to show.
        bundle: MimeBundle,
    },
    /// Replaces what an earlier [`Output::Tracked`] with the same id shows, wherever it is.
    Update {
        /// The display id.
        id: String,
        /// What to show instead.
        bundle: MimeBundle,
    },
    /// The cell asked to clear its output (`clear_output(wait)`); with `wait`, when the next output arrives.
    Clear {
        /// Keep the old output until new output replaces it.
        wait: bool,
    },
    /// Documentation to read beside the notebook (`:doc NAME`), shown in Jupyter's pager.
    Page(String),
    /// The value of the cell's final expression.
    Result(MimeBundle),
    /// The cell failed; always the last output of a cell.
    Error(CellError),
}

/// Completions at a cursor, with the range (in characters) they replace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completions {
    /// Candidate texts.
    pub matches: Vec<String>,
    /// First character replaced.
    pub start: usize,
    /// One past the last character replaced.
    pub end: usize,
}

/// Where a mime type goes in a bundle: richest first, unknown types last.
pub(super) fn richness(mime: &str) -> usize {
    const ORDER: [&str; 5] = ["image/png", "image/svg+xml", "text/html", "text/markdown", "text/plain"];
    ORDER.iter().position(|m| *m == mime).unwrap_or(ORDER.len())
}

/// The final value's mime bundle, richest first, without evcxr's empty entries.
pub(super) fn bundle_of(outputs: &evcxr::EvalOutputs) -> MimeBundle {
    let mut bundle: MimeBundle = outputs
        .content_by_mime_type
        .iter()
        .filter(|(_, data)| !data.is_empty())
        .map(|(mime, data)| (mime.clone(), data.clone()))
        .collect();
    bundle.sort_by_key(|(mime, _)| richness(mime));
    bundle
}
