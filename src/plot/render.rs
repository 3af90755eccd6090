//! Turning a [`Figure`] into SVG or PNG, files, and inline notebook output.

use std::path::Path;

use candle_core::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Content, Figure, bars, confusion, style, xy};

const DEFAULT_SIZE: (u32, u32) = (640, 420);

impl Figure {
    /// The size the figure is drawn at: the one set with [`size`](Figure::size), else a default for its kind.
    pub fn pixel_size(&self) -> (u32, u32) {
        match (&self.size, &self.content) {
            (Some(size), _) => *size,
            (None, Content::Images(grid)) => grid.natural_size(self.title.is_some()),
            (None, Content::Confusion { counts }) => {
                let side = (counts.len() as u32 * 48 + 160).clamp(320, 900);
                (side + 40, side)
            }
            (None, _) => DEFAULT_SIZE,
        }
    }

    /// The figure as an SVG document (text as `<text>` elements, images embedded as PNG).
    pub fn to_svg(&self) -> Result<String> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, self.pixel_size()).into_drawing_area();
            self.draw_on(&root)?;
            root.present().map_err(|e| render_error(e.to_string()))?;
        }
        Ok(svg)
    }

    /// The figure as PNG bytes; text is drawn with the embedded font.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let (w, h) = self.pixel_size();
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
            self.draw_on(&root)?;
            root.present().map_err(|e| render_error(e.to_string()))?;
        }
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&rgb, w, h, image::ColorType::Rgb8)
            .map_err(|e| render_error(format!("PNG encoding failed: {e}")))?;
        Ok(png)
    }

    /// Writes the figure to `path`, as PNG or SVG according to its extension (`.png`, `.svg`).
    ///
    /// ```no_run
    /// # use candlelit::prelude::*;
    /// # fn main() -> Result<()> {
    /// Figure::new().line("loss", &[1.0, 0.5, 0.3]).save("loss.png")?;
    /// # Ok(()) }
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let bytes = match ext.as_deref() {
            Some("png") => self.to_png()?,
            Some("svg") => self.to_svg()?.into_bytes(),
            _ => candle_core::bail!("cannot save a figure as {path:?}: end the file name with .png or .svg"),
        };
        std::fs::write(path, bytes).map_err(|e| Error::Msg(format!("could not write the figure to {path:?}: {e}")))
    }

    /// The forms a notebook can choose from: `image/svg+xml`, and a one-line `text/plain` description.
    pub fn mime_bundle(&self) -> Result<Vec<(&'static str, String)>> {
        let (w, h) = self.pixel_size();
        let title = self.title.as_deref().map(|t| format!(" \"{t}\"")).unwrap_or_default();
        Ok(vec![("image/svg+xml", self.to_svg()?), ("text/plain", format!("Figure{title} ({w}×{h})"))])
    }

    /// Shows the figure inline in a notebook (its [`mime_bundle`](Self::mime_bundle), through the evcxr mime
    /// convention); a problem with the figure is printed on stderr instead.
    pub fn evcxr_display(&self) {
        match self.mime_bundle() {
            Ok(bundle) => crate::mime::emit(&bundle),
            Err(e) => eprintln!("{e}"),
        }
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if let Some(problem) = &self.problem {
            return Err(render_error(problem.clone()));
        }
        style::fonts();
        root.fill(&WHITE).map_err(|e| render_error(e.to_string()))?;
        let drawn = match &self.content {
            Content::Xy { series, regions } => xy::draw(self, root, series, regions.as_ref()),
            Content::Histogram { values, bins } => bars::histogram(self, root, values, *bins),
            Content::Bar { labels, values } => bars::bar(self, root, labels, values),
            Content::Images(grid) => grid.draw(self.title.as_deref(), root),
            Content::Confusion { counts } => confusion::draw(self, root, counts),
        };
        drawn.map_err(render_error)
    }
}

fn render_error(problem: String) -> Error {
    Error::Msg(format!("cannot draw this figure: {problem}"))
}

use image::ImageEncoder as _;
