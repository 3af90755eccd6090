//! Laying a tensor's formatted values out as nested, bracketed rows, PyTorch style.

use super::PrintOptions;
use super::number::NumberFormat;
use super::values::Grid;

/// The bracketed rows of a tensor of rank 1 or more (without the header line).
///
/// Rows of a matrix are separated by one line break, matrices of a 3-d tensor by a blank line, and so on; a
/// summarised dimension shows `...` where its middle was left out. Long rows wrap at `options.line_width`.
pub(crate) fn layout(grid: &Grid, format: &NumberFormat, options: &PrintOptions) -> String {
    if grid.dims.contains(&0) {
        return "[]".to_string();
    }
    block(grid, format, options, 0, 0, 0)
}

/// The brackets for dimension `d`, starting at flat position `offset`, indented by `indent` columns.
fn block(grid: &Grid, format: &NumberFormat, options: &PrintOptions, d: usize, offset: usize, indent: usize) -> String {
    let rank = grid.dims.len();
    let stride: usize = grid.dims[d + 1..].iter().product();
    let mut parts: Vec<String> = (0..grid.dims[d])
        .map(|i| {
            if d + 1 == rank {
                format.format(grid.values.get(offset + i))
            } else {
                block(grid, format, options, d + 1, offset + i * stride, indent + 1)
            }
        })
        .collect();
    if let Some(at) = grid.elided_after[d] {
        parts.insert(at, "...".to_string());
    }
    if d + 1 == rank {
        return row(&parts, format.width(), grid.elided_after[d].is_some(), indent, options.line_width);
    }
    let separator = format!(",{}{}", "\n".repeat(rank - d - 1), " ".repeat(indent + 1));
    format!("[{}]", parts.join(&separator))
}

/// One innermost row; wrapped over several lines when it is not summarised and would be too wide.
fn row(items: &[String], width: usize, summarised: bool, indent: usize, line_width: usize) -> String {
    if summarised {
        return format!("[{}]", items.join(", "));
    }
    let per_line = (line_width.saturating_sub(indent) / (width + 2)).max(1);
    let lines: Vec<String> = items.chunks(per_line).map(|chunk| chunk.join(", ")).collect();
    format!("[{}]", lines.join(&format!(",\n{}", " ".repeat(indent + 1))))
}
