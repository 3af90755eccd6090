//! Histograms (numeric bins) and bar charts (named categories).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Figure, frame, style};

/// Counts of `values` in `bins` equal-width bins over their range: the bin edges and the counts.
pub(crate) fn bin(values: &[f64], bins: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if finite.is_empty() {
        return None;
    }
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
    let width = (hi - lo) / bins as f64;
    let edges = (0..=bins).map(|i| lo + width * i as f64).collect();
    let mut counts = vec![0.0; bins];
    for v in finite {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1.0;
    }
    Some((edges, counts))
}

/// A histogram: one bar per bin, touching its neighbours.
pub(crate) fn histogram<DB: DrawingBackend>(
    fig: &Figure,
    area: &DrawingArea<DB, Shift>,
    values: &[f64],
    bins: usize,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (edges, counts) = bin(values, bins).ok_or("histogram: the data holds no finite numbers")?;
    let top = counts.iter().copied().fold(0.0, f64::max) * 1.08 + 1e-9;
    let mut chart = frame::builder(fig, area, 62).build_cartesian_2d(edges[0]..edges[bins], 0.0..top).map_err(err)?;
    frame::numeric_mesh(fig, &mut chart).map_err(err)?;
    let color = style::color(0);
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| Rectangle::new([(edges[i], 0.0), (edges[i + 1], c)], style::tint(color, 0.8).filled()));
    chart.draw_series(bars).map_err(err)?;
    Ok(())
}

/// A bar chart with the labels under the bars.
pub(crate) fn bar<DB: DrawingBackend>(
    fig: &Figure,
    area: &DrawingArea<DB, Shift>,
    labels: &[String],
    values: &[f64],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    if values.is_empty() {
        return Err("bar chart: there are no bars to draw".into());
    }
    let lo = values.iter().copied().fold(0.0, f64::min);
    let hi = values.iter().copied().fold(0.0, f64::max);
    let pad = (hi - lo).max(1e-9) * 0.08;
    let n = values.len() as u32;
    let mut chart = frame::builder(fig, area, 62)
        .build_cartesian_2d((0..n - 1).into_segmented(), (lo - if lo < 0.0 { pad } else { 0.0 })..hi + pad)
        .map_err(err)?;
    let label_of = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let mut m = chart.configure_mesh();
    m.disable_x_mesh()
        .x_labels(labels.len())
        .x_label_formatter(&label_of)
        .y_label_formatter(&|v| style::tick(*v))
        .label_style((style::FONT, 13))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT);
    frame::name_axes(fig, &mut m);
    m.draw().map_err(err)?;
    let bars = values.iter().enumerate().map(|(i, &v)| {
        let i = i as u32;
        let mut bar =
            Rectangle::new([(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), v)], style::color(0).filled());
        bar.set_margin(0, 0, 6, 6);
        bar
    });
    chart.draw_series(bars).map_err(err)?;
    Ok(())
}
