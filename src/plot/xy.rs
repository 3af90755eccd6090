//! Line and scatter plots on numeric axes (linear or logarithmic), with optional decision regions behind.

use candle_core::{D, DType, Device, Result, Tensor};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, Ranged, ValueFormatter};
use plotters::prelude::*;

use super::values::IntoValues;
use super::{Figure, Series, frame, style};

/// A classifier's predictions on a grid, drawn as tinted cells behind the points.
#[derive(Debug, Clone)]
pub(crate) struct Regions {
    x: (f64, f64),
    y: (f64, f64),
    resolution: usize,
    classes: Vec<usize>,
}

impl Regions {
    /// Asks `classify` for the class of every cell centre of a `resolution`² grid over the plotted points.
    pub fn compute<F>(series: &[Series], classify: &F, resolution: usize) -> Result<Self>
    where
        F: Fn(&Tensor) -> Result<Tensor>,
    {
        let (Some(x), Some(y)) = (padded_extent(series, true, false), padded_extent(series, false, false)) else {
            candle_core::bail!("regions(): add scatter points first, so the grid knows where to go");
        };
        let step = |(lo, hi): (f64, f64), i: usize| lo + (hi - lo) * (i as f64 + 0.5) / resolution as f64;
        let mut grid = Vec::with_capacity(resolution * resolution * 2);
        for row in 0..resolution {
            for col in 0..resolution {
                grid.push(step(x, col) as f32);
                grid.push(step(y, row) as f32);
            }
        }
        let points = Tensor::from_vec(grid, (resolution * resolution, 2), &Device::Cpu)?;
        let out = classify(&points)?;
        let classes = match out.rank() {
            1 => out.to_dtype(DType::F64)?.to_vec1::<f64>()?.into_iter().map(|c| c.max(0.0) as usize).collect(),
            2 => out.argmax(D::Minus1)?.to_vec1::<u32>()?.into_iter().map(|c| c as usize).collect(),
            _ => {
                candle_core::bail!("regions(): the classifier returned shape {:?}; expected (M,) or (M, C)", out.dims())
            }
        };
        Ok(Self { x, y, resolution, classes })
    }
}

impl Regions {
    /// Tinted rectangles, one per run of equal classes along each grid row (slightly overlapping, so no seams).
    fn cells(&self) -> Vec<Rectangle<(f64, f64)>> {
        let (w, h) = ((self.x.1 - self.x.0) / self.resolution as f64, (self.y.1 - self.y.0) / self.resolution as f64);
        let mut cells = Vec::new();
        for (row, classes) in self.classes.chunks(self.resolution).enumerate() {
            let y0 = self.y.0 + row as f64 * h;
            let mut start = 0;
            for col in 1..=classes.len() {
                if col == classes.len() || classes[col] != classes[start] {
                    let (x0, x1) = (self.x.0 + start as f64 * w, self.x.0 + col as f64 * w);
                    let color = style::tint(style::color(classes[start]), 0.25);
                    cells.push(Rectangle::new([(x0, y0), (x1 + w * 0.05, y0 + h * 1.05)], color.filled()));
                    start = col;
                }
            }
        }
        cells
    }
}

/// The x and y columns of an `(N, 2)` tensor.
pub(crate) fn columns(points: &Tensor) -> Result<(Vec<f64>, Vec<f64>)> {
    match points.dims() {
        [_, 2] => Ok((points.narrow(1, 0, 1)?.into_values()?, points.narrow(1, 1, 1)?.into_values()?)),
        dims => candle_core::bail!("scatter points must have shape (N, 2), got {dims:?}"),
    }
}

/// Draws the series (and regions) with the axis kinds the figure asks for.
pub(crate) fn draw<DB: DrawingBackend>(
    fig: &Figure,
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    regions: Option<&Regions>,
) -> std::result::Result<(), String> {
    if series.is_empty() {
        return Err("this figure has no data yet: add a series with .line(..) or .scatter(..)".into());
    }
    let (x, y) = (extent(fig, series, regions, true)?, extent(fig, series, regions, false)?);
    match (fig.log_x, fig.log_y) {
        (false, false) => chart(fig, area, series, regions, x.0..x.1, y.0..y.1),
        (true, false) => chart(fig, area, series, regions, (x.0..x.1).log_scale(), y.0..y.1),
        (false, true) => chart(fig, area, series, regions, x.0..x.1, (y.0..y.1).log_scale()),
        (true, true) => chart(fig, area, series, regions, (x.0..x.1).log_scale(), (y.0..y.1).log_scale()),
    }
}

fn chart<DB, X, Y>(
    fig: &Figure,
    area: &DrawingArea<DB, Shift>,
    series: &[Series],
    regions: Option<&Regions>,
    x: X,
    y: Y,
) -> std::result::Result<(), String>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut chart = frame::builder(fig, area, 62).build_cartesian_2d(x, y).map_err(err)?;
    if let Some(r) = regions {
        chart.draw_series(r.cells()).map_err(err)?;
    }
    frame::numeric_mesh(fig, &mut chart).map_err(err)?;
    for s in series {
        let color = style::color(s.color);
        let points = s.xs.iter().copied().zip(s.ys.iter().copied());
        let drawn = if s.points {
            chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled()))).map_err(err)?
        } else {
            chart.draw_series(LineSeries::new(points, color.stroke_width(2))).map_err(err)?
        };
        if !s.name.is_empty() {
            let points = s.points;
            drawn.label(s.name.clone()).legend(move |(x, y)| -> DynElement<'static, DB, (i32, i32)> {
                if points {
                    Circle::new((x + 10, y), 3, color.filled()).into_dyn()
                } else {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)).into_dyn()
                }
            });
        }
    }
    if series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .label_font((style::FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .position(legend_corner(series, fig))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

/// The corner of the plot with the fewest data points, where the legend hides the least.
fn legend_corner(series: &[Series], fig: &Figure) -> SeriesLabelPosition {
    let (Some(x), Some(y)) = (padded_extent(series, true, fig.log_x), padded_extent(series, false, fig.log_y)) else {
        return SeriesLabelPosition::UpperRight;
    };
    let unit = |v: f64, (lo, hi): (f64, f64), log: bool| {
        if log { (v.ln() - lo.ln()) / (hi.ln() - lo.ln()) } else { (v - lo) / (hi - lo) }
    };
    let mut crowd = [0usize; 4]; // upper right, upper left, lower right, lower left
    for s in series {
        for (&px, &py) in s.xs.iter().zip(&s.ys) {
            let (u, v) = (unit(px, x, fig.log_x), unit(py, y, fig.log_y));
            let right = u > 0.6;
            let left = u < 0.4;
            let (upper, lower) = (v > 0.7, v < 0.3);
            for (i, hit) in [upper && right, upper && left, lower && right, lower && left].into_iter().enumerate() {
                crowd[i] += usize::from(hit);
            }
        }
    }
    let corners = [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ];
    let best = (0..4).min_by_key(|&i| crowd[i]).unwrap_or(0);
    corners.into_iter().nth(best).unwrap_or(SeriesLabelPosition::UpperRight)
}

/// The plotted range along x (`horizontal`) or y, with a little room around the data.
fn extent(
    fig: &Figure,
    series: &[Series],
    regions: Option<&Regions>,
    horizontal: bool,
) -> std::result::Result<(f64, f64), String> {
    let log = if horizontal { fig.log_x } else { fig.log_y };
    if log {
        let axis = if horizontal { "x" } else { "y" };
        if let Some(bad) = series.iter().flat_map(|s| s.axis(horizontal).iter()).find(|v| v.is_finite() && **v <= 0.0) {
            return Err(format!("a log-scale {axis} axis needs positive values, but the data holds {bad}"));
        }
    }
    let from_regions = regions.map(|r| if horizontal { r.x } else { r.y });
    from_regions
        .or_else(|| padded_extent(series, horizontal, log))
        .ok_or_else(|| "the data holds no finite numbers".into())
}

/// The range covering the finite x (`horizontal`) or y values, padded by 5% (by a factor on a log axis).
fn padded_extent(series: &[Series], horizontal: bool, log: bool) -> Option<(f64, f64)> {
    let finite =
        series.iter().flat_map(|s| s.axis(horizontal).iter().copied()).filter(|v| v.is_finite() && (!log || *v > 0.0));
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    Some(if log {
        (lo / 1.25, hi * 1.25)
    } else if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (lo - 1.0, hi + 1.0)
    })
}

impl Series {
    /// The x values (`horizontal`) or the y values.
    fn axis(&self, horizontal: bool) -> &[f64] {
        if horizontal { &self.xs } else { &self.ys }
    }
}
