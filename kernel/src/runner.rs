//! `candlelit run NB.ipynb`: executes a notebook headless in a fresh session and saves it with its outputs, as
//! JupyterLab would have (streams, displays, results, errors, execution counts).
//!
//! `-p NAME=VALUE` overrides a variable of the cell tagged `parameters` the way papermill does: a cell tagged
//! `injected-parameters` is added after it, re-declaring the variable with the type the parameters cell gave it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::notebook::{self, Notebook};
use crate::session::{self, Options, Output, Session};

/// Options of `candlelit run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The notebook to execute.
    pub notebook: PathBuf,
    /// Where to save the executed notebook (default: NAME.out.ipynb beside the input).
    #[arg(short = 'o', long, value_name = "OUT.ipynb")]
    pub output: Option<PathBuf>,
    /// Override a variable of the `parameters` cell, e.g. `-p epochs=1` (repeatable).
    #[arg(short = 'p', long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
    /// Stop a cell whose code runs longer than this many seconds (compiling the cell does not count).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    pub timeout: f64,
    /// Run every cell even after one fails (the exit status is then 0).
    #[arg(long)]
    pub allow_errors: bool,
}

/// Runs `candlelit run`.
///
/// # Errors
/// When the notebook cannot be read or written, a parameter does not apply, the session cannot start, or (without
/// `--allow-errors`) a cell fails; the executed notebook is saved in every case but the first three.
pub fn run(args: &Args) -> Result<(), String> {
    let mut book = Notebook::read(&args.notebook)?;
    let parameters = parse_parameters(&args.parameters)?;
    if !parameters.is_empty() {
        inject_parameters(&mut book, &parameters)?;
    }
    let output = args.output.clone().unwrap_or_else(|| default_output(&args.notebook));
    let timeout = Duration::from_secs_f64(args.timeout.max(0.1));
    eprintln!("candlelit run: starting a session for {}", args.notebook.display());
    let mut session = Session::start(Options::from_env())?;
    let failure = execute_notebook(&mut session, &mut book, timeout, args.allow_errors);
    std::fs::write(&output, book.to_text()).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    eprintln!("candlelit run: saved {}", output.display());
    match failure {
        Some(message) if !args.allow_errors => Err(message),
        _ => Ok(()),
    }
}

fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "notebook".into());
    input.with_file_name(format!("{stem}.out.ipynb"))
}

/// Executes every non-empty code cell in order, replacing its outputs. Returns the first failure, described for
/// a person (`cell 4 (id code-4) failed: ShapeError: …`); with `keep_going`, later cells still run.
pub fn execute_notebook(
    session: &mut Session,
    book: &mut Notebook,
    timeout: Duration,
    keep_going: bool,
) -> Option<String> {
    let mut count = 0;
    let mut first_failure = None;
    let total = book.cells.len();
    for (index, cell) in book.cells.iter_mut().enumerate() {
        if !notebook::is_code(cell) {
            continue;
        }
        cell["outputs"] = json!([]);
        cell["execution_count"] = Value::Null;
        let code = notebook::source(cell);
        if code.trim().is_empty() || first_failure.is_some() && !keep_going {
            continue;
        }
        count += 1;
        eprintln!("candlelit run: cell {}/{total}", index + 1);
        let ran = execute_cell(session, &code, count, timeout, None);
        cell["execution_count"] = json!(count);
        cell["outputs"] = Value::Array(ran.outputs);
        if let Some(error) = ran.error
            && first_failure.is_none()
        {
            let id = cell.get("id").and_then(Value::as_str).unwrap_or("?");
            first_failure = Some(format!("cell {} (id {id}) failed: {}", index + 1, error.to_text()));
        }
    }
    first_failure
}

/// What one cell left: its outputs as nbformat JSON, and its error if it failed.
#[derive(Debug)]
pub struct CellRun {
    /// nbformat output objects, in order.
    pub outputs: Vec<Value>,
    /// The error, when the cell failed (also the last output).
    pub error: Option<session::CellError>,
}

/// Runs `code` as execution `count`, stopping it once its code has run for `timeout` (an interrupt, then a restart of
/// the process if it is ignored — see `Session`). Compiling the cell does not count: how long rustc takes depends on
/// the machine and its load, not on the cell, and a compilation that never ends is the caller's to stop (the
/// grader's sandbox has a total time). Output past `max_output` bytes, when given, is dropped with a note saying so.
pub fn execute_cell(
    session: &mut Session,
    code: &str,
    count: usize,
    timeout: Duration,
    max_output: Option<usize>,
) -> CellRun {
    /// How often the watchdog looks whether the cell's code has started.
    const POLL: Duration = Duration::from_millis(50);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let interrupter = session.interrupter();
    let watchdog = std::thread::spawn(move || {
        loop {
            let left = interrupter.running_for().map_or(POLL, |ran| timeout.saturating_sub(ran));
            if left.is_zero() {
                interrupter.interrupt();
                return true;
            }
            if done_rx.recv_timeout(left.min(POLL)) != Err(crossbeam_channel::RecvTimeoutError::Timeout) {
                return false;
            }
        }
    });
    let mut outputs = Outputs { limit: max_output, ..Outputs::default() };
    let mut error = None;
    session.execute(code, &mut |output| match output {
        Output::Error(e) => error = Some(e),
        other => outputs.push(other, count),
    });
    let _ = done_tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    if let Some(e) = &mut error
        && timed_out
    {
        e.ename = "CellTimeout".into();
        e.hint = Some(format!(
            "the cell ran longer than {:.0} s and was stopped; make it do less (smaller parameters) or raise --timeout",
            timeout.as_secs_f64()
        ));
    }
    let mut list = outputs.finish();
    if let Some(e) = &error {
        list.push(json!({
            "output_type": "error", "ename": e.ename, "evalue": e.evalue, "traceback": e.traceback(),
        }));
    }
    CellRun { outputs: list, error }
}

/// Outputs of one cell as nbformat JSON, merging consecutive stream text and honouring `clear_output`.
#[derive(Default)]
struct Outputs {
    list: Vec<Value>,
    /// Stream text not yet in `list` (`stdout` or `stderr`, the text): consecutive lines of one stream are joined
    /// here, in time linear in their length, and become one output when something else arrives.
    stream: Option<(&'static str, String)>,
    /// A `clear_output(wait=True)` waiting for the next output.
    clear_pending: bool,
    /// Where each display id's outputs are in `list`, for updates (as nbclient does).
    tracked: std::collections::HashMap<String, Vec<usize>>,
    /// Bytes of output kept so far, and the most to keep (`None`: no limit).
    kept: usize,
    limit: Option<usize>,
    /// Output was dropped for the limit.
    truncated: bool,
}

impl Outputs {
    fn push(&mut self, output: Output, count: usize) {
        if let Output::Clear { wait } = output {
            if wait {
                self.clear_pending = true;
            } else {
                self.clear();
            }
            return;
        }
        if let Output::Update { id, bundle } = &output {
            // An update replaces the display in place and is not itself an output; it does not end a
            // pending clear.
            for &i in self.tracked.get(id).map(Vec::as_slice).unwrap_or_default() {
                if let Some(out) = self.list.get_mut(i) {
                    out["data"] = data(bundle);
                }
            }
            return;
        }
        if std::mem::take(&mut self.clear_pending) {
            self.clear();
        }
        if !self.within_limit(&output) {
            return;
        }
        match output {
            Output::Stdout(text) => self.stream_text("stdout", &text),
            Output::Stderr(text) => self.stream_text("stderr", &text),
            other => {
                self.flush_stream();
                match other {
                    Output::Display(bundle) => {
                        self.list.push(json!({"output_type": "display_data", "data": data(&bundle), "metadata": {}}))
                    }
                    Output::Tracked { id, bundle } => {
                        self.tracked.entry(id).or_default().push(self.list.len());
                        self.list.push(json!({"output_type": "display_data", "data": data(&bundle), "metadata": {}}))
                    }
                    Output::Page(text) => self.list.push(json!({
                        "output_type": "display_data", "data": {"text/plain": notebook::lines(&text)}, "metadata": {},
                    })),
                    Output::Result(bundle) => self.list.push(json!({
                        "output_type": "execute_result", "data": data(&bundle), "metadata": {},
                        "execution_count": count,
                    })),
                    _ => {}
                }
            }
        }
    }

    fn clear(&mut self) {
        self.list.clear();
        self.tracked.clear();
        self.stream = None;
        self.kept = 0;
    }

    /// Counts `output` against the limit; `false` when it must be dropped (the first drop adds a note).
    fn within_limit(&mut self, output: &Output) -> bool {
        let Some(limit) = self.limit else { return true };
        let size = match output {
            Output::Stdout(text) | Output::Stderr(text) | Output::Page(text) => text.len(),
            Output::Display(bundle) | Output::Result(bundle) | Output::Tracked { bundle, .. } => {
                bundle.iter().map(|(mime, content)| mime.len() + content.len()).sum()
            }
            _ => 0,
        };
        if self.kept + size <= limit {
            self.kept += size;
            return true;
        }
        if !std::mem::replace(&mut self.truncated, true) {
            self.stream_text(
                "stderr",
                &format!(
                    "\n[candlelit: this cell's output passed {} KiB, so the rest of it was dropped]\n",
                    limit / 1024
                ),
            );
        }
        false
    }

    fn stream_text(&mut self, name: &'static str, text: &str) {
        match &mut self.stream {
            Some((current, buffer)) if *current == name => buffer.push_str(text),
            _ => {
                self.flush_stream();
                self.stream = Some((name, text.to_string()));
            }
        }
    }

    fn flush_stream(&mut self) {
        if let Some((name, text)) = self.stream.take() {
            if let Some(last) = self.list.last_mut()
                && last["output_type"] == "stream"
                && last["name"] == name
            {
                let joined = format!("{}{text}", notebook::source(&json!({"source": last["text"].clone()})));
                last["text"] = notebook::lines(&joined);
                return;
            }
            self.list.push(json!({"output_type": "stream", "name": name, "text": notebook::lines(&text)}));
        }
    }

    /// The outputs, in order.
    fn finish(mut self) -> Vec<Value> {
        self.flush_stream();
        self.list
    }
}

/// A mime bundle as nbformat `data`: text types as lists of lines, base64 images as one string, JSON as JSON.
fn data(bundle: &session::MimeBundle) -> Value {
    let mut map = Map::new();
    for (mime, content) in bundle {
        let value = match notebook::mime_value(mime, content) {
            Value::String(text) if !mime.starts_with("image/") || mime == "image/svg+xml" => notebook::lines(&text),
            value => value,
        };
        map.insert(mime.clone(), value);
    }
    Value::Object(map)
}

/// `NAME=VALUE` pairs, in order.
pub(crate) fn parse_parameters(raw: &[String]) -> Result<Vec<(String, String)>, String> {
    raw.iter()
        .map(|p| {
            let (name, value) =
                p.split_once('=').ok_or_else(|| format!("`-p {p}`: write NAME=VALUE, e.g. -p epochs=1"))?;
            let name = name.trim();
            if syn::parse_str::<syn::Ident>(name).is_err() {
                return Err(format!("`-p {p}`: `{name}` is not a Rust variable name"));
            }
            Ok((name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Adds the `injected-parameters` cell after the `parameters` cell (replacing an earlier injected one).
pub(crate) fn inject_parameters(book: &mut Notebook, parameters: &[(String, String)]) -> Result<(), String> {
    book.cells.retain(|c| !notebook::tags(c).iter().any(|t| t == "injected-parameters"));
    let at = book
        .cells
        .iter()
        .position(|c| notebook::is_code(c) && notebook::tags(c).iter().any(|t| t == "parameters"))
        .ok_or("this notebook has no cell tagged `parameters`, so -p has nothing to override")?;
    let declared = declared_variables(&notebook::source(&book.cells[at]));
    let mut code = String::from("// Parameters set by `candlelit run -p` (or `grade -p`).\n");
    for (name, value) in parameters {
        let Some((_, ty)) = declared.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "`-p {name}=…`: the parameters cell has no variable `{name}` (it has: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ));
        };
        code.push_str(&declaration(name, ty.as_deref(), value));
    }
    let cell = json!({
        "cell_type": "code", "id": "injected-parameters", "execution_count": null, "outputs": [],
        "metadata": {"tags": ["injected-parameters"]}, "source": notebook::lines(code.trim_end()),
    });
    book.cells.insert(at + 1, cell);
    Ok(())
}

/// `let NAME: TYPE = VALUE;`, quoting VALUE when the type is text and it is not quoted yet.
pub(crate) fn declaration(name: &str, ty: Option<&str>, value: &str) -> String {
    let quoted = value.starts_with('"');
    match ty {
        Some(ty) if !quoted && ty.replace(' ', "") == "&str" => format!("let {name}: {ty} = {value:?};\n"),
        Some(ty) if !quoted && ty == "String" => format!("let {name}: String = String::from({value:?});\n"),
        Some(ty) => format!("let {name}: {ty} = {value};\n"),
        None => format!("let {name} = {value};\n"),
    }
}

/// The `let` variables of a cell with their written types (`None` when not annotated).
pub(crate) fn declared_variables(code: &str) -> Vec<(String, Option<String>)> {
    use quote::ToTokens as _;
    let Ok(block) = syn::parse_str::<syn::Block>(&format!("{{\n{code}\n}}")) else { return Vec::new() };
    block
        .stmts
        .iter()
        .filter_map(|stmt| match stmt {
            syn::Stmt::Local(local) => match &local.pat {
                syn::Pat::Type(typed) => match &*typed.pat {
                    syn::Pat::Ident(ident) => {
                        Some((ident.ident.to_string(), Some(tidy_type(&typed.ty.to_token_stream().to_string()))))
                    }
                    _ => None,
                },
                syn::Pat::Ident(ident) => Some((ident.ident.to_string(), None)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A type as people write it: `&str`, `Vec<f32>`, not the token spacing `& str`, `Vec < f32 >`.
fn tidy_type(tokens: &str) -> String {
    [("& ", "&"), (" <", "<"), ("< ", "<"), (" >", ">"), (" ,", ","), (" :: ", "::"), ("( ", "("), (" )", ")")]
        .iter()
        .fold(tokens.to_string(), |text, (from, to)| text.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_replaces_its_display_in_place_and_a_clear_forgets_it() {
        let text = |t: &str| vec![("text/plain".to_string(), t.to_string())];
        let mut outputs = Outputs::default();
        outputs.push(Output::Tracked { id: "bar".into(), bundle: text("0/3") }, 1);
        outputs.push(Output::Stdout("epoch done\n".into()), 1);
        outputs.push(Output::Update { id: "bar".into(), bundle: text("3/3") }, 1);
        outputs.push(Output::Update { id: "unknown".into(), bundle: text("ignored") }, 1);
        outputs.flush_stream();
        assert_eq!(outputs.list.len(), 2, "an update is not an output of its own");
        assert_eq!(outputs.list[0]["data"]["text/plain"], json!(["3/3"]));
        assert_eq!(outputs.list[1]["text"], json!(["epoch done\n"]));
        outputs.push(Output::Clear { wait: false }, 1);
        outputs.push(Output::Update { id: "bar".into(), bundle: text("4/3") }, 1);
        assert!(outputs.finish().is_empty(), "after a clear the old display is gone");
    }

    #[test]
    fn streams_merge_in_one_output_and_output_past_the_limit_is_dropped_with_a_note() {
        let mut outputs = Outputs { limit: Some(2048), ..Outputs::default() };
        for n in 0..10_000 {
            outputs.push(Output::Stdout(format!("line {n}\n")), 1);
        }
        outputs.push(Output::Display(vec![("text/plain".into(), "late".into())]), 1);
        let list = outputs.finish();
        assert_eq!(list.len(), 2, "{list:?}");
        let kept = notebook::source(&json!({"source": list[0]["text"].clone()}));
        assert!(kept.starts_with("line 0\nline 1\n") && kept.len() <= 2048, "{} bytes", kept.len());
        assert_eq!(list[1]["name"], "stderr");
        assert!(notebook::source(&json!({"source": list[1]["text"].clone()})).contains("passed 2 KiB"));
        let mut unlimited = Outputs::default();
        for n in 0..200_000 {
            unlimited.push(Output::Stdout(format!("{n}\n")), 1);
        }
        assert_eq!(unlimited.finish()[0]["text"].as_array().map(Vec::len), Some(200_000));
    }

    #[test]
    fn parameters_keep_the_declared_type_and_quote_text() {
        let declared = declared_variables("let epochs: usize = 5;\nlet lr = 0.1;\nlet name: &str = \"a\";");
        assert_eq!(
            declared,
            [
                ("epochs".to_string(), Some("usize".to_string())),
                ("lr".to_string(), None),
                ("name".to_string(), Some("&str".to_string()))
            ]
        );
        assert_eq!(declaration("epochs", Some("usize"), "1"), "let epochs: usize = 1;\n");
        assert_eq!(declaration("name", Some("&str"), "fashion"), "let name: &str = \"fashion\";\n");
        assert_eq!(tidy_type("Vec < (usize , f32) >"), "Vec<(usize, f32)>");
        assert_eq!(declaration("lr", None, "0.5"), "let lr = 0.5;\n");
    }

    #[test]
    fn parameters_that_do_not_apply_say_why() {
        let mut book = Notebook::new(&[crate::notebook::NewCell {
            cell_type: "code",
            id: "parameters".into(),
            source: "let epochs: usize = 5;".into(),
            tags: vec!["parameters".into()],
            candlelit: None,
        }]);
        let unknown = inject_parameters(&mut book, &[("epoch".into(), "1".into())]);
        assert!(unknown.is_err_and(|e| e.contains("no variable `epoch`") && e.contains("epochs")));
        assert!(parse_parameters(&["epochs".into()]).is_err_and(|e| e.contains("NAME=VALUE")));
        assert!(parse_parameters(&["2x=1".into()]).is_err_and(|e| e.contains("not a Rust variable name")));
        inject_parameters(&mut book, &[("epochs".into(), "1".into())]).expect("applies");
        inject_parameters(&mut book, &[("epochs".into(), "2".into())]).expect("replaces the earlier one");
        assert_eq!(book.cells.len(), 2);
        assert!(notebook::source(&book.cells[1]).ends_with("let epochs: usize = 2;"));
    }
}
