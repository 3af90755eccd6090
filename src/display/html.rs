//! 1-D and 2-D tensors as HTML tables with row and column numbers, for notebooks.

use super::number::NumberFormat;
use super::values::Grid;
use crate::mime::escape_html;

const TABLE_STYLE: &str = "border-collapse:collapse;font-family:monospace;font-size:12px";
const CELL_STYLE: &str = "padding:1px 8px;text-align:right";
const INDEX_STYLE: &str = "padding:1px 8px;text-align:right;color:#888;font-weight:normal";

/// A table whose caption is `header`; summarised rows and columns show `⋮` and `…`.
pub(crate) fn table(header: &str, grid: &Grid, format: &NumberFormat) -> String {
    let (rows, cols, row_gap, col_gap, true_cols) = match grid.dims.as_slice() {
        [n] => (1, *n, None, grid.elided_after[0], *n),
        [r, c] => (*r, *c, grid.elided_after[0], grid.elided_after[1], *c),
        _ => (0, 0, None, None, 0),
    };
    let col_numbers = original_indices(cols, col_gap, grid.full[grid.dims.len() - 1]);
    let row_numbers = original_indices(rows, row_gap, grid.full[0]);
    let mut html = format!(
        "<table class=\"candlelit-tensor\" style=\"{TABLE_STYLE}\">\n<caption style=\"text-align:left;\
         font-family:monospace\">{}</caption>\n<thead><tr><th></th>",
        escape_html(header)
    );
    for (j, number) in col_numbers.iter().enumerate() {
        if col_gap == Some(j) {
            html.push_str(&format!("<th style=\"{INDEX_STYLE}\">…</th>"));
        }
        html.push_str(&format!("<th style=\"{INDEX_STYLE}\">{number}</th>"));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for (i, number) in row_numbers.iter().enumerate() {
        if row_gap == Some(i) {
            html.push_str(&gap_row(cols, col_gap));
        }
        let label = if grid.dims.len() == 1 { String::new() } else { number.to_string() };
        html.push_str(&format!("<tr><th style=\"{INDEX_STYLE}\">{label}</th>"));
        for j in 0..cols {
            if col_gap == Some(j) {
                html.push_str(&format!("<td style=\"{CELL_STYLE}\">…</td>"));
            }
            let cell = format.format(grid.values.get(i * true_cols + j));
            html.push_str(&format!("<td style=\"{CELL_STYLE}\">{}</td>", escape_html(cell.trim())));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>");
    html
}

/// The row of `⋮` that stands for the rows left out of a summarised matrix.
fn gap_row(cols: usize, col_gap: Option<usize>) -> String {
    let mut html = format!("<tr><th style=\"{INDEX_STYLE}\">⋮</th>");
    for j in 0..cols {
        if col_gap == Some(j) {
            html.push_str(&format!("<td style=\"{CELL_STYLE}\">⋱</td>"));
        }
        html.push_str(&format!("<td style=\"{CELL_STYLE}\">⋮</td>"));
    }
    html.push_str("</tr>\n");
    html
}

/// The original index of each kept entry: `0..kept`, or the head and the tail of `0..full` when summarised.
fn original_indices(kept: usize, gap: Option<usize>, full: usize) -> Vec<usize> {
    match gap {
        Some(edge) => (0..edge).chain(full - (kept - edge)..full).collect(),
        None => (0..kept).collect(),
    }
}
