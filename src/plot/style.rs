//! Colours and fonts shared by every kind of figure.

use std::sync::Once;

use plotters::style::{FontStyle, RGBColor, register_font};

/// The ten series colours, in order (the familiar "tab10" palette of matplotlib).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// The colour of series or class number `i`.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `color` blended with white: `amount` 0 is white, 1 is the colour itself.
pub fn tint(color: RGBColor, amount: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - (255.0 - c as f64) * amount.clamp(0.0, 1.0)).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// A tick label: three significant digits at most, no trailing zeros (`2`, `0.3`, `1.25`, `1e-05`).
///
/// ```
/// use candlelit::plot::tick;
/// assert_eq!(tick(2.0), "2");
/// assert_eq!(tick(0.30000000001), "0.3");
/// assert_eq!(tick(-1.25), "-1.25");
/// assert_eq!(tick(0.00001), "1e-5");
/// ```
pub fn tick(v: f64) -> String {
    if v.abs() < 1e-12 || !v.is_finite() {
        return if v.is_finite() { "0".to_string() } else { v.to_string() };
    }
    let magnitude = v.abs().log10().floor() as i32;
    if !(-3..6).contains(&magnitude) {
        let text = format!("{v:.2e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// The font family every text in a figure uses; always registered from embedded bytes.
pub const FONT: &str = "sans-serif";

/// Registers the embedded fonts once, so that text renders the same on machines without any system font.
pub fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (family, bytes) in [
            (FONT, epaint_default_fonts::UBUNTU_LIGHT),
            ("serif", epaint_default_fonts::UBUNTU_LIGHT),
            ("monospace", epaint_default_fonts::HACK_REGULAR),
        ] {
            // The fonts are compiled in and known to parse; a failure here would be a packaging bug.
            if register_font(family, FontStyle::Normal, bytes).is_err() {
                eprintln!("candlelit: the embedded font for `{family}` did not load; figure text may be missing");
            }
        }
    });
}
