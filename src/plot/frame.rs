//! The chart frame every plotted figure shares: margins, title, grid, tick labels and axis names.

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::prelude::*;

use super::{Figure, style};

/// A chart builder with the figure's title and room for tick labels (`y_label_width` pixels on the left).
pub(crate) fn builder<'a, 'b, DB: DrawingBackend>(
    fig: &Figure,
    area: &'a DrawingArea<DB, Shift>,
    y_label_width: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).x_label_area_size(42).y_label_area_size(y_label_width);
    if let Some(title) = &fig.title {
        builder.caption(title.clone(), (style::FONT, 20));
    }
    builder
}

/// Writes the figure's axis names, when it has them.
pub(crate) fn name_axes<X: Ranged, Y: Ranged, DB: DrawingBackend>(
    fig: &Figure,
    mesh: &mut MeshStyle<'_, '_, X, Y, DB>,
) {
    if let Some(label) = &fig.x_label {
        mesh.x_desc(label);
    }
    if let Some(label) = &fig.y_label {
        mesh.y_desc(label);
    }
}

/// A light grid with short tick labels and the axis names, for charts with numbers on both axes.
pub(crate) fn numeric_mesh<DB, X, Y>(
    fig: &Figure,
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut mesh = chart.configure_mesh();
    mesh.label_style((style::FONT, 13))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .x_label_formatter(&|v| style::tick(*v))
        .y_label_formatter(&|v| style::tick(*v));
    name_axes(fig, &mut mesh);
    mesh.draw()
}
