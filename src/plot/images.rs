//! A grid of images with captions, from a batch tensor, like torchvision's `make_grid`.

use candle_core::{DType, Result, Tensor};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style;

/// More images than this in one figure is almost always a mistake (a whole dataset passed by accident).
const MAX_IMAGES: usize = 256;
/// Images are enlarged by a whole factor until their longer side reaches about this many pixels.
const TARGET_SIDE: usize = 96;
const GAP: u32 = 8;
const CAPTION_HEIGHT: u32 = 18;
const TITLE_HEIGHT: u32 = 32;

/// The images of a figure, as RGB pixels, with their captions and layout choice.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageGrid {
    images: Vec<Vec<u8>>,
    height: usize,
    width: usize,
    pub captions: Vec<String>,
    pub columns: Option<usize>,
}

impl ImageGrid {
    /// Reads `(H, W)`, `(N, H, W)` or `(N, C, H, W)` (C = 1 or 3) into RGB bytes, scaling values to 0–255.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        let (n, c, h, w) = match *t.dims() {
            [h, w] => (1, 1, h, w),
            [n, h, w] => (n, 1, h, w),
            [n, c @ (1 | 3), h, w] => (n, c, h, w),
            _ => candle_core::bail!(
                "Figure::images needs shape (H, W), (N, H, W) or (N, C, H, W) with C = 1 or 3; got {:?}",
                t.dims()
            ),
        };
        if n > MAX_IMAGES {
            candle_core::bail!(
                "Figure::images: {n} images is too many for one figure; show a few with `images.narrow(0, 0, 16)?`"
            );
        }
        if n == 0 || h == 0 || w == 0 {
            candle_core::bail!("Figure::images: the tensor {:?} holds no pixels", t.dims());
        }
        let raw = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let per_image = c * h * w;
        let images = raw
            .chunks(per_image)
            .map(|img| {
                let bytes = to_bytes(img, t.dtype());
                (0..h * w).flat_map(|p| (0..3).map(move |k| (p, k))).map(|(p, k)| bytes[p + (k % c) * h * w]).collect()
            })
            .collect();
        Ok(Self { images, height: h, width: w, captions: Vec::new(), columns: None })
    }

    fn columns(&self) -> usize {
        self.columns.unwrap_or(8).min(self.images.len()).max(1)
    }

    fn rows(&self) -> usize {
        self.images.len().div_ceil(self.columns())
    }

    fn caption_height(&self) -> u32 {
        if self.captions.is_empty() { 0 } else { CAPTION_HEIGHT }
    }

    fn scale(&self) -> usize {
        (TARGET_SIDE / self.height.max(self.width).max(1)).max(1)
    }

    /// The figure size that shows every image at its chosen scale.
    pub fn natural_size(&self, titled: bool) -> (u32, u32) {
        let s = self.scale();
        let cell_w = (self.width * s) as u32 + GAP;
        let cell_h = (self.height * s) as u32 + GAP + self.caption_height();
        let title = if titled { TITLE_HEIGHT } else { 0 };
        (self.columns() as u32 * cell_w + GAP, self.rows() as u32 * cell_h + GAP + title)
    }

    /// Draws the grid, fitting the images into the area (enlarged by a whole factor, never shrunk below 1).
    pub fn draw<DB: DrawingBackend>(
        &self,
        title: Option<&str>,
        area: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let area = match title {
            Some(t) => area.titled(t, (style::FONT, 20)).map_err(err)?,
            None => area.clone(),
        };
        let (aw, ah) = area.dim_in_pixel();
        let (cols, rows) = (self.columns(), self.rows());
        let fit_w = (aw.saturating_sub(GAP) as usize / cols).saturating_sub(GAP as usize) / self.width;
        let fit_h = (ah.saturating_sub(GAP) as usize / rows).saturating_sub((GAP + self.caption_height()) as usize)
            / self.height;
        let s = fit_w.min(fit_h).clamp(1, self.scale().max(1));
        let (iw, ih) = (self.width * s, self.height * s);
        let (cell_w, cell_h) = (iw as i32 + GAP as i32, ih as i32 + (GAP + self.caption_height()) as i32);
        for (i, pixels) in self.images.iter().enumerate() {
            let (x, y) = (GAP as i32 + (i % cols) as i32 * cell_w, GAP as i32 + (i / cols) as i32 * cell_h);
            let big = enlarge(pixels, self.width, self.height, s);
            let element = BitMapElement::<(i32, i32)>::with_owned_buffer((x, y), (iw as u32, ih as u32), big)
                .ok_or("image grid: pixel buffer has the wrong size")?;
            area.draw(&element).map_err(err)?;
            if let Some(caption) = self.captions.get(i) {
                let font = TextStyle::from((style::FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
                area.draw(&Text::new(caption.clone(), (x + iw as i32 / 2, y + ih as i32 + 3), font)).map_err(err)?;
            }
        }
        Ok(())
    }
}

/// One image's values as bytes: u8 as they are, values in [0, 1] times 255, anything else stretched min–max.
fn to_bytes(values: &[f64], dtype: DType) -> Vec<u8> {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (offset, scale) = if dtype == DType::U8 || (lo >= 0.0 && hi <= 255.0 && !dtype.is_float()) {
        (0.0, 1.0)
    } else if lo >= 0.0 && hi <= 1.0 {
        (0.0, 255.0)
    } else if hi > lo {
        (lo, 255.0 / (hi - lo))
    } else {
        (lo, 0.0)
    };
    values
        .iter()
        .map(|v| if v.is_finite() { ((v - offset) * scale).round().clamp(0.0, 255.0) as u8 } else { 0 })
        .collect()
}

/// Nearest-neighbour enlargement of an RGB image by a whole factor.
fn enlarge(rgb: &[u8], width: usize, height: usize, factor: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rgb.len() * factor * factor);
    for y in 0..height * factor {
        for x in 0..width * factor {
            let p = ((y / factor) * width + x / factor) * 3;
            out.extend_from_slice(&rgb[p..p + 3]);
        }
    }
    out
}
