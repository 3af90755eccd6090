//! Every kind of figure, written as SVG and PNG and read back; text without any system font.

use candlelit::plot::{PALETTE, color};
use candlelit::prelude::*;
use plotters::style::RGBColor;

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// Parses an SVG document, failing the test if it is not well-formed XML with an `<svg>` root.
fn parse(svg: &str) -> roxmltree::Document<'_> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc
}

fn elements<'a>(doc: &'a roxmltree::Document<'a>, tag: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants().filter(|n| n.tag_name().name() == tag).collect()
}

/// How many points each polyline drawn in `stroke` colour has (a 2-point one is a legend sample).
fn polyline_points(doc: &roxmltree::Document, stroke: RGBColor) -> Vec<usize> {
    elements(doc, "polyline")
        .iter()
        .filter(|n| n.attribute("stroke") == Some(&hex(stroke)))
        .map(|n| n.attribute("points").unwrap_or("").split_whitespace().count())
        .collect()
}

fn count_filled(doc: &roxmltree::Document, tag: &str, fill: RGBColor) -> usize {
    elements(doc, tag).iter().filter(|n| n.attribute("fill") == Some(&hex(fill))).count()
}

fn texts(doc: &roxmltree::Document) -> Vec<String> {
    elements(doc, "text").iter().map(|n| n.text().unwrap_or("").trim().to_string()).collect()
}

/// Decodes a PNG and checks its size and that it shows something: dark ink and several colours.
fn check_png(fig: &Figure) -> image::RgbImage {
    let png = fig.to_png().expect("renders to PNG");
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("a valid PNG").to_rgb8();
    assert_eq!(img.dimensions(), fig.pixel_size());
    let inked = img.pixels().filter(|p| p.0.iter().any(|&c| c < 200)).count();
    assert!(inked > (img.width() * img.height()) as usize / 200, "the PNG is nearly blank: {inked} inked pixels");
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() >= 3, "only {} colours", colours.len());
    img
}

fn has_colour(img: &image::RgbImage, c: RGBColor) -> bool {
    img.pixels().any(|p| p.0 == [c.0, c.1, c.2])
}

/// Both files from `save`, by extension, and a clear error for any other extension.
fn check_save(fig: &Figure, name: &str) {
    let dir = std::env::temp_dir().join(format!("candlelit-plots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    fig.save(dir.join(format!("{name}.svg"))).unwrap();
    fig.save(dir.join(format!("{name}.png"))).unwrap();
    let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
    parse(&svg);
    let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let err = fig.save(dir.join(format!("{name}.jpg"))).unwrap_err().to_string();
    assert!(err.contains(".png or .svg"), "{err}");
}

#[test]
fn line_plot_with_two_series_legend_and_labels() {
    let fig = Figure::new()
        .title("Loss")
        .xlabel("epoch")
        .ylabel("loss")
        .line("train", &[2.0f32, 1.0, 0.6, 0.5])
        .line_xy("validation", &[0.0, 1.0, 2.0, 3.0, 4.0], &[2.1, 1.2, 0.8, 0.7, 0.7]);
    let svg = fig.to_svg().unwrap();
    let doc = parse(&svg);
    assert_eq!(polyline_points(&doc, PALETTE[0]), vec![4, 2], "train: the line and its legend sample");
    assert_eq!(polyline_points(&doc, PALETTE[1]), vec![5, 2], "validation: the line and its legend sample");
    let t = texts(&doc);
    for label in ["Loss", "epoch", "loss", "train", "validation"] {
        assert!(t.iter().any(|x| x == label), "missing text {label:?} in {t:?}");
    }
    let img = check_png(&fig);
    assert!(has_colour(&img, PALETTE[0]) && has_colour(&img, PALETTE[1]));
    check_save(&fig, "lines");
}

#[test]
fn log_scale_ticks_are_powers_and_bad_values_are_explained() {
    let fig = Figure::new().log_y().line("loss", &[10.0, 1.0, 0.1, 0.01]);
    let doc_text = fig.to_svg().unwrap();
    let t = texts(&parse(&doc_text));
    for tick in ["0.01", "0.1", "1", "10"] {
        assert!(t.iter().any(|x| x == tick), "log axis tick {tick} missing from {t:?}");
    }
    check_png(&fig);
    let err = Figure::new().log_y().line("bad", &[1.0, 0.0]).to_svg().unwrap_err().to_string();
    assert!(err.contains("log-scale y axis needs positive values"), "{err}");
}

#[test]
fn scatter_by_class_with_decision_regions() -> Result<()> {
    let dev = Device::Cpu;
    let mut pts = Vec::new();
    let mut labels = Vec::new();
    for (class, n) in [(0u32, 5), (1, 6), (2, 7)] {
        for i in 0..n {
            pts.extend([class as f32 * 3.0 + i as f32 * 0.1, i as f32 * 0.2]);
            labels.push(class);
        }
    }
    let points = Tensor::from_vec(pts, (18, 2), &dev)?;
    let labels = Tensor::new(labels.as_slice(), &dev)?;
    let fig = Figure::new()
        .class_names(["cat", "dog", "bird"])
        .scatter_classes(&points, &labels)
        .regions(|p| p.narrow(1, 0, 1)?.squeeze(1)?.affine(1.0 / 3.0, 0.5)?.floor()?.clamp(0f32, 2f32), 40);
    let svg = fig.to_svg()?;
    let doc = parse(&svg);
    for (class, n) in [(0, 5), (1, 6), (2, 7)] {
        assert_eq!(count_filled(&doc, "circle", color(class)), n + 1, "class {class}: its points and a legend marker");
    }
    let t = texts(&doc);
    assert!(["cat", "dog", "bird"].iter().all(|name| t.iter().any(|x| x == name)), "{t:?}");
    let region_rects = elements(&doc, "rect").len();
    assert!(region_rects >= 40 * 3, "each grid row holds a run per class: {region_rects} rects");
    let img = check_png(&fig);
    assert!(has_colour(&img, color(2)));
    check_save(&fig, "scatter");
    Ok(())
}

#[test]
fn plain_scatter_and_mismatched_lengths() {
    let fig = Figure::new().scatter("pts", &[1.0, 2.0, 3.0], &[3.0, 1.0, 2.0]);
    assert_eq!(count_filled(&parse(&fig.to_svg().unwrap()), "circle", color(0)), 3 + 1);
    let err = Figure::new().scatter("pts", &[1.0, 2.0], &[1.0]).to_svg().unwrap_err().to_string();
    assert!(err.contains("2 x values but 1 y values"), "{err}");
    let err = Figure::new().to_png().unwrap_err().to_string();
    assert!(err.contains("no data yet"), "{err}");
}

#[test]
fn histogram_bins_the_values() {
    let values: Vec<f64> = (0..100).map(f64::from).collect();
    let fig = Figure::histogram(&values, 10).title("uniform");
    let svg = fig.to_svg().unwrap();
    let doc = parse(&svg);
    let bars: Vec<_> = elements(&doc, "rect").into_iter().filter(|n| n.attribute("fill") != Some("#FFFFFF")).collect();
    assert_eq!(bars.len(), 10, "one bar per bin");
    let heights: Vec<&str> = bars.iter().map(|b| b.attribute("height").unwrap()).collect();
    assert!(heights.windows(2).all(|w| w[0] == w[1]), "10 values in every bin, so equal heights: {heights:?}");
    check_png(&fig);
    check_save(&fig, "histogram");
}

#[test]
fn bar_chart_has_one_bar_per_label() {
    let fig = Figure::bar(["sgd", "adam", "rmsprop"], &[0.81, 0.89, 0.87]).ylabel("accuracy");
    let doc_text = fig.to_svg().unwrap();
    let doc = parse(&doc_text);
    assert_eq!(count_filled(&doc, "rect", color(0)), 3);
    let t = texts(&doc);
    assert!(["sgd", "adam", "rmsprop", "accuracy"].iter().all(|l| t.iter().any(|x| x == l)), "{t:?}");
    check_png(&fig);
    check_save(&fig, "bar");
    let err = Figure::bar(["a", "b"], &[1.0]).to_svg().unwrap_err().to_string();
    assert!(err.contains("2 labels but 1 values"), "{err}");
}

#[test]
fn image_grid_from_nchw_and_nhw_tensors() -> Result<()> {
    let dev = Device::Cpu;
    let images = Tensor::arange(0f32, 5. * 28. * 28., &dev)?.reshape((5, 1, 28, 28))?;
    let fig = Figure::images(&images).captions(["0", "1", "2", "3", "4"]).columns(3).title("digits");
    let svg = fig.to_svg()?;
    let doc = parse(&svg);
    assert_eq!(elements(&doc, "image").len(), 5);
    let t = texts(&doc);
    assert!((0..5).all(|i| t.contains(&i.to_string())) && t.contains(&"digits".to_string()), "{t:?}");
    let (w, h) = fig.pixel_size();
    assert!(w > h, "5 images in rows of 3 make a wide figure: {w}×{h}");
    let img = check_png(&fig);
    // The stretched ramp reaches black and white in every image.
    assert!(has_colour(&img, RGBColor(0, 0, 0)) && has_colour(&img, RGBColor(255, 255, 255)));
    check_save(&fig, "images");

    let rgb = Tensor::ones((2, 3, 8, 8), DType::U8, &dev)?.affine(200.0, 0.0)?;
    assert_eq!(elements(&parse(&Figure::images(&rgb).to_svg()?), "image").len(), 2);
    let err = Figure::images(&Tensor::zeros((2, 2, 2, 2, 2), DType::F32, &dev)?).to_svg().unwrap_err().to_string();
    assert!(err.contains("(N, C, H, W)"), "{err}");
    Ok(())
}

#[test]
fn confusion_matrix_heat_map_writes_every_count() -> Result<()> {
    let counts = Tensor::new(&[[50u32, 2, 1], [3, 40, 7], [0, 5, 45]], &Device::Cpu)?;
    let fig = Figure::confusion(&counts).class_names(["cat", "dog", "bird"]).title("Confusion");
    let doc_text = fig.to_svg()?;
    let doc = parse(&doc_text);
    let t = texts(&doc);
    for n in ["50", "2", "1", "3", "40", "7", "0", "5", "45"] {
        assert!(t.iter().any(|x| x == n), "count {n} missing from {t:?}");
    }
    assert_eq!(t.iter().filter(|x| *x == "dog").count(), 2, "class names label both axes");
    let cells = elements(&doc, "rect").len() - 1;
    assert_eq!(cells, 9, "one cell per pair of classes (plus the background)");
    check_png(&fig);
    check_save(&fig, "confusion");
    let err = Figure::confusion(&[1.0, 2.0, 3.0]).to_svg().unwrap_err().to_string();
    assert!(err.contains("square"), "{err}");
    Ok(())
}

#[test]
fn function_and_its_autograd_derivative() {
    let fig = plot_fn(|x| x.sqr(), -2.0..2.0).title("x²");
    let svg = fig.to_svg().unwrap();
    let doc = parse(&svg);
    let f = polyline_points(&doc, PALETTE[0]);
    let df = polyline_points(&doc, PALETTE[1]);
    assert_eq!((f[0], df[0]), (201, 201));
    // d(x²)/dx = 2x is a straight line: its first, middle and last points are collinear.
    let line = elements(&doc, "polyline")
        .into_iter()
        .find(|n| n.attribute("stroke") == Some(&hex(PALETTE[1])))
        .unwrap()
        .attribute("points")
        .unwrap()
        .to_string();
    let pts: Vec<(f64, f64)> = line
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect();
    let (a, m, b) = (pts[0], pts[100], pts[200]);
    let expected_mid = (a.1 + b.1) / 2.0;
    assert!((m.1 - expected_mid).abs() <= 1.0, "derivative of x² is not a line: {a:?} {m:?} {b:?}");
    assert!(a.1 > b.1, "2x rises left to right (SVG y grows downward)");
    check_png(&fig);
    check_save(&fig, "function");

    let err = plot_fn(|x| x.sum_all(), -1.0..1.0).to_svg().unwrap_err().to_string();
    assert!(err.contains("element by element"), "{err}");
}

#[test]
fn figures_show_inline_as_svg() {
    let fig = Figure::new().title("t").line("a", &[1.0, 2.0]);
    let bundle = fig.mime_bundle().unwrap();
    assert_eq!(bundle[0].0, "image/svg+xml");
    parse(&bundle[0].1);
    assert_eq!(bundle[1], ("text/plain", "Figure \"t\" (640×420)".to_string()));
}

/// Runs the real check in a child process whose mount namespace hides every system font folder.
#[test]
fn text_renders_with_no_system_fonts() {
    if std::env::var_os("CANDLELIT_FONTLESS_CHILD").is_some() {
        return fontless_check();
    }
    let exe = std::env::current_exe().unwrap();
    let script = r#"set -e
for d in /usr/share/fonts /usr/local/share/fonts /etc/fonts "$HOME/.fonts" "$HOME/.local/share/fonts"; do
  if [ -d "$d" ]; then mount -t tmpfs none "$d"; fi
done
exec "$@""#;
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", script, "sh"])
        .arg(&exe)
        .args(["--exact", "text_renders_with_no_system_fonts", "--nocapture", "--test-threads=1"])
        .env("CANDLELIT_FONTLESS_CHILD", "1")
        .output()
        .expect("`unshare` (util-linux) runs the check in a namespace without fonts");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the font-less child failed:\n{log}");
    assert!(log.contains("FONTLESS-CHECK-PASSED"), "the child did not run the check:\n{log}");
}

fn fontless_check() {
    for d in ["/usr/share/fonts", "/etc/fonts"] {
        if let Ok(entries) = std::fs::read_dir(d) {
            assert_eq!(entries.count(), 0, "{d} should be hidden in the child");
        }
    }
    // Same layout, with and without glyphs in the title: only the text can differ.
    let blank = Figure::new().line("", &[1.0, 2.0, 3.0]).title("  ");
    let titled = Figure::new().line("", &[1.0, 2.0, 3.0]).title("Training loss");
    let (a, b) = (blank.to_png().unwrap(), titled.to_png().unwrap());
    let (a, b) = (image::load_from_memory(&a).unwrap().to_rgb8(), image::load_from_memory(&b).unwrap().to_rgb8());
    let glyph_pixels = (0..a.width())
        .flat_map(|x| (0..a.height()).map(move |y| (x, y)))
        .filter(|&(x, y)| a.get_pixel(x, y) != b.get_pixel(x, y))
        .inspect(|&(_, y)| assert!(y < 40, "only the title band may differ, not row {y}"))
        .filter(|&(x, y)| b.get_pixel(x, y).0[0] < 100)
        .count();
    assert!(glyph_pixels > 150, "the title drew only {glyph_pixels} dark glyph pixels");
    assert!(titled.to_svg().unwrap().contains("Training loss"));
    println!("FONTLESS-CHECK-PASSED");
}
