//! A model's layers, output shapes and parameter counts as a table, like `torchinfo.summary`.

use std::fmt;

/// One layer of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The layer's name in the model.
    pub name: String,
    /// The layer's kind (`Linear`, `Conv2d`, `Relu`, ...).
    pub kind: String,
    /// The shape of its output for the summarised input.
    pub output_shape: Vec<usize>,
    /// Its number of parameters.
    pub params: usize,
    /// Whether it trains (not frozen).
    pub trainable: bool,
}

/// What [`Sequential::summary`](super::Sequential::summary) finds: the input shape, then one row per layer.
/// Shows as a table in a notebook and as text anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    input_shape: Vec<usize>,
    rows: Vec<SummaryRow>,
}

fn shape_text(dims: &[usize]) -> String {
    let inner: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("[{}]", inner.join(", "))
}

/// `1234567` → `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Summary {
    pub(crate) fn new(input_shape: Vec<usize>, rows: Vec<SummaryRow>) -> Self {
        Self { input_shape, rows }
    }

    /// The layers, in order.
    pub fn rows(&self) -> &[SummaryRow] {
        &self.rows
    }

    /// The input shape the summary ran with.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// The model's output shape.
    pub fn output_shape(&self) -> &[usize] {
        self.rows.last().map_or(&self.input_shape, |r| &r.output_shape)
    }

    /// All parameters.
    pub fn total_params(&self) -> usize {
        self.rows.iter().map(|r| r.params).sum()
    }

    /// The parameters of layers that are not frozen.
    pub fn trainable_params(&self) -> usize {
        self.rows.iter().filter(|r| r.trainable).map(|r| r.params).sum()
    }

    /// The summary as an HTML table (what a notebook shows).
    pub fn to_html(&self) -> String {
        let esc = crate::mime::escape_html;
        let mut html = String::from(
            "<table><thead><tr><th>#</th><th>layer</th><th>kind</th><th>output shape</th><th>params</th></tr></thead><tbody>",
        );
        html.push_str(&format!(
            "<tr><td></td><td>input</td><td></td><td>{}</td><td></td></tr>",
            shape_text(&self.input_shape)
        ));
        for (i, r) in self.rows.iter().enumerate() {
            let frozen = if r.trainable || r.params == 0 { "" } else { " (frozen)" };
            html.push_str(&format!(
                "<tr><td>{i}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:right\">{}{frozen}</td></tr>",
                esc(&r.name),
                esc(&r.kind),
                shape_text(&r.output_shape),
                thousands(r.params)
            ));
        }
        html.push_str(&format!(
            "</tbody></table><p>Total params: {} · trainable: {} · frozen: {}</p>",
            thousands(self.total_params()),
            thousands(self.trainable_params()),
            thousands(self.total_params() - self.trainable_params())
        ));
        html
    }

    /// The forms a notebook can show: an HTML table and the text table.
    pub fn mime_bundle(&self) -> Vec<(&'static str, String)> {
        vec![("text/html", self.to_html()), ("text/plain", self.to_string())]
    }

    /// Shows the summary in a notebook (evcxr's display convention).
    pub fn evcxr_display(&self) {
        crate::mime::emit(&self.mime_bundle());
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = vec![("layer (kind)".to_string(), "output shape".to_string(), "params".to_string())];
        lines.push(("input".to_string(), shape_text(&self.input_shape), String::new()));
        for r in &self.rows {
            let frozen = if r.trainable || r.params == 0 { "" } else { " (frozen)" };
            lines.push((
                format!("{} ({})", r.name, r.kind),
                shape_text(&r.output_shape),
                format!("{}{frozen}", thousands(r.params)),
            ));
        }
        let w0 = lines.iter().map(|l| l.0.chars().count()).max().unwrap_or(0);
        let w1 = lines.iter().map(|l| l.1.chars().count()).max().unwrap_or(0);
        let w2 = lines.iter().map(|l| l.2.chars().count()).max().unwrap_or(0);
        let rule = "─".repeat(w0 + w1 + w2 + 4);
        for (i, (a, b, c)) in lines.iter().enumerate() {
            writeln!(f, "{a:<w0$}  {b:<w1$}  {c:>w2$}")?;
            if i == 0 {
                writeln!(f, "{rule}")?;
            }
        }
        writeln!(f, "{rule}")?;
        writeln!(f, "Total params: {}", thousands(self.total_params()))?;
        writeln!(f, "Trainable params: {}", thousands(self.trainable_params()))?;
        write!(f, "Non-trainable params: {}", thousands(self.total_params() - self.trainable_params()))
    }
}
