//! A confusion matrix as a heat map, with the count written in every cell.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Figure, frame, style};

/// Draws `counts` (rows: true class, columns: predicted class), row 0 at the top.
pub(crate) fn draw<DB: DrawingBackend>(
    fig: &Figure,
    area: &DrawingArea<DB, Shift>,
    counts: &[Vec<f64>],
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let c = counts.len() as u32;
    if c == 0 {
        return Err("confusion matrix: there is nothing to draw".into());
    }
    let name = |i: u32| fig.class_name(i as usize);
    let longest = (0..c).map(|i| name(i).chars().count()).max().unwrap_or(1) as u32;
    let mut builder = frame::builder(fig, area, (longest * 8 + 40).min(200));
    let mut chart =
        builder.build_cartesian_2d((0..c - 1).into_segmented(), (0..c - 1).into_segmented()).map_err(err)?;
    let x_name = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(j) => name(*j),
        _ => String::new(),
    };
    let y_name = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) if *i < c => name(c - 1 - *i),
        _ => String::new(),
    };
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh().x_labels(c as usize).y_labels(c as usize).x_label_formatter(&x_name).y_label_formatter(&y_name);
    mesh.label_style((style::FONT, 13));
    frame::name_axes(fig, &mut mesh);
    mesh.draw().map_err(err)?;
    let max = counts.iter().flatten().copied().fold(0.0, f64::max).max(1e-12);
    let base = style::color(0);
    for (i, row) in counts.iter().enumerate() {
        let y = c - 1 - i as u32;
        for (j, &count) in row.iter().enumerate() {
            let j = j as u32;
            let level = (count / max).clamp(0.0, 1.0);
            let cell = Rectangle::new(
                [
                    (SegmentValue::Exact(j), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(j + 1), SegmentValue::Exact(y + 1)),
                ],
                style::tint(base, 0.05 + 0.95 * level).filled(),
            );
            chart.draw_series(std::iter::once(cell)).map_err(err)?;
            let ink = if level > 0.55 { WHITE } else { BLACK };
            let text = if count.fract() == 0.0 { format!("{count:.0}") } else { format!("{count:.2}") };
            let font =
                TextStyle::from((style::FONT, 14).into_font()).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (SegmentValue::CenterOf(j), SegmentValue::CenterOf(y)),
                    font,
                )))
                .map_err(err)?;
        }
    }
    Ok(())
}
