//! Jupyter notebooks (nbformat 4.5) as JSON: building new ones, reading cells, and writing them the way Jupyter
//! does (keys sorted, one-space indent, multi-line strings as lists of lines), so that files are stable in git.

use serde_json::{Map, Value, json};

/// The nbformat version candlelit writes.
pub const NBFORMAT_MINOR: u64 = 5;

/// A notebook: its cells, and every other field kept as it was so that what candlelit does not know survives a
/// read and a write.
#[derive(Debug, Clone, PartialEq)]
pub struct Notebook {
    /// The cells, in order, as JSON objects.
    pub cells: Vec<Value>,
    /// Every top-level field but `cells` (`metadata`, `nbformat`, `nbformat_minor`, …).
    pub rest: Map<String, Value>,
}

/// A cell of a new notebook.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCell {
    /// `"markdown"` or `"code"`.
    pub cell_type: &'static str,
    /// Stable id (1–64 characters of letters, digits, `-` and `_`).
    pub id: String,
    /// The cell's text.
    pub source: String,
    /// Tags (`metadata.tags`), e.g. `parameters`.
    pub tags: Vec<String>,
    /// candlelit's own metadata (`metadata.candlelit`), e.g. the exercise a cell belongs to.
    pub candlelit: Option<Value>,
}

impl Notebook {
    /// A notebook for the candlelit kernel with these cells and no outputs.
    pub fn new(cells: &[NewCell]) -> Notebook {
        let rest = json!({
                "metadata": {
                    "kernelspec": {"display_name": crate::install::DISPLAY_NAME, "language": "rust", "name": "candlelit"},
                    "language_info": {
                        "codemirror_mode": "rust", "file_extension": ".rs", "mimetype": "text/rust",
                        "name": "rust", "pygments_lexer": "rust"
                    }
                },
                "nbformat": 4,
                "nbformat_minor": NBFORMAT_MINOR,
        });
        let rest = match rest {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Notebook { cells: cells.iter().map(new_cell).collect(), rest }
    }

    /// Parses notebook JSON.
    ///
    /// # Errors
    /// When the text is not JSON or not a version-4 notebook.
    pub fn parse(text: &str) -> Result<Notebook, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("not a notebook (invalid JSON: {e})"))?;
        let not_v4 = || "not a Jupyter notebook in format 4 (no `nbformat: 4` and `cells` list)".to_string();
        let Value::Object(mut rest) = json else { return Err(not_v4()) };
        if rest.get("nbformat").and_then(Value::as_u64) != Some(4) {
            return Err(not_v4());
        }
        match rest.remove("cells") {
            Some(Value::Array(cells)) => Ok(Notebook { cells, rest }),
            _ => Err(not_v4()),
        }
    }

    /// Reads a notebook file.
    ///
    /// # Errors
    /// When the file cannot be read or is not a notebook.
    pub fn read(path: &std::path::Path) -> Result<Notebook, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Notebook::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The notebook as Jupyter writes it: sorted keys, one-space indent, a final newline.
    pub fn to_text(&self) -> String {
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        let mut json = self.rest.clone();
        json.insert("cells".into(), Value::Array(self.cells.clone()));
        // serde_json's map is sorted (no `preserve_order`), so keys come out in order like nbformat's.
        let _ = serde::Serialize::serialize(&json, &mut serializer);
        let mut text = String::from_utf8(out).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// A cell's source as one string (nbformat allows a string or a list of lines).
pub fn source(cell: &Value) -> String {
    match cell.get("source") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Text as nbformat stores it: a list of lines, each but the last ending in `\n`.
pub fn lines(text: &str) -> Value {
    Value::Array(text.split_inclusive('\n').map(|line| Value::String(line.to_string())).collect())
}

/// One form of a rich output as Jupyter carries it: JSON types (`application/json`, `…+json`) as JSON values,
/// everything else as the text it is.
pub fn mime_value(mime: &str, content: &str) -> Value {
    if mime == "application/json" || mime.ends_with("+json") {
        serde_json::from_str(content).unwrap_or_else(|_| Value::String(content.to_string()))
    } else {
        Value::String(content.to_string())
    }
}

/// The cell's tags (`metadata.tags`).
pub fn tags(cell: &Value) -> Vec<String> {
    cell.pointer("/metadata/tags")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether the cell is a code cell.
pub fn is_code(cell: &Value) -> bool {
    cell.get("cell_type").and_then(Value::as_str) == Some("code")
}

fn new_cell(cell: &NewCell) -> Value {
    let mut metadata = Map::new();
    if let Some(candlelit) = &cell.candlelit {
        metadata.insert("candlelit".into(), candlelit.clone());
    }
    if !cell.tags.is_empty() {
        metadata.insert("tags".into(), json!(cell.tags));
    }
    let mut value = json!({
        "cell_type": cell.cell_type,
        "id": cell.id,
        "metadata": metadata,
        "source": lines(&cell.source),
    });
    if cell.cell_type == "code" {
        value["execution_count"] = Value::Null;
        value["outputs"] = json!([]);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_like_jupyter_and_read_back() {
        let cell = NewCell {
            cell_type: "code",
            id: "c-1".into(),
            source: "let a = 1;\nlet b = 2;".into(),
            tags: vec!["parameters".into()],
            candlelit: None,
        };
        let notebook = Notebook::new(&[cell]);
        let text = notebook.to_text();
        assert!(text.starts_with("{\n \"cells\": [\n"), "{text}");
        assert!(text.contains("\"source\": [\n    \"let a = 1;\\n\",\n    \"let b = 2;\"\n   ]"), "{text}");
        let back = Notebook::parse(&text).expect("parses");
        assert_eq!(back, notebook);
        assert_eq!(source(&back.cells[0]), "let a = 1;\nlet b = 2;");
        assert_eq!(tags(&back.cells[0]), ["parameters"]);
    }

    #[test]
    fn what_is_not_a_notebook_says_so() {
        assert!(Notebook::parse("{").is_err_and(|e| e.contains("invalid JSON")));
        assert!(Notebook::parse("{\"nbformat\": 3, \"cells\": []}").is_err_and(|e| e.contains("format 4")));
    }
}
