//! A study's trials as a table: text in a terminal, HTML in a notebook, the best trial marked.

use std::fmt;

use super::TrialRecord;

/// The trials of a [`Study`](super::Study) as a table.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialTable {
    pub(super) trials: Vec<TrialRecord>,
    pub(super) best: Option<usize>,
}

impl TrialTable {
    fn columns(&self) -> Vec<String> {
        let mut names: Vec<String> = self.trials.iter().flat_map(|t| t.params.keys().cloned()).collect();
        names.sort();
        names.dedup();
        names
    }

    fn cells(&self, t: &TrialRecord, columns: &[String]) -> Vec<String> {
        let mut row = vec![t.number.to_string(), t.state.to_string(), format!("{:.4}", t.value)];
        row.extend(columns.iter().map(|c| t.params.get(c).map(ToString::to_string).unwrap_or_default()));
        row
    }

    /// The table as HTML (the best trial in bold).
    pub fn to_html(&self) -> String {
        let columns = self.columns();
        let esc = crate::mime::escape_html;
        let mut html = String::from("<table><thead><tr><th>trial</th><th>state</th><th>value</th>");
        for c in &columns {
            html.push_str(&format!("<th>{}</th>", esc(c)));
        }
        html.push_str("</tr></thead><tbody>");
        for t in &self.trials {
            let style = if Some(t.number) == self.best { " style=\"font-weight:bold\"" } else { "" };
            html.push_str(&format!("<tr{style}>"));
            for cell in self.cells(t, &columns) {
                html.push_str(&format!("<td>{}</td>", esc(&cell)));
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
        html
    }

    /// Shows the table in a notebook (evcxr's display convention).
    pub fn evcxr_display(&self) {
        crate::mime::emit(&[("text/html", self.to_html()), ("text/plain", self.to_string())]);
    }
}

impl fmt::Display for TrialTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.columns();
        let mut rows = vec![
            ["trial".to_string(), "state".to_string(), "value".to_string()]
                .into_iter()
                .chain(columns.iter().cloned())
                .collect::<Vec<_>>(),
        ];
        rows.extend(self.trials.iter().map(|t| self.cells(t, &columns)));
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        for (n, row) in rows.iter().enumerate() {
            let mark = if n > 0 && Some(n - 1) == self.best { " ← best" } else { "" };
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
            writeln!(f, "{}{mark}", cells.join("  "))?;
        }
        Ok(())
    }
}
