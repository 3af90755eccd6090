//! Formatting numbers the way PyTorch prints them, so that a column of values lines up.

use super::PrintOptions;
use super::values::Values;

/// How every number of one tensor is written: one common style and width, chosen from all the values.
///
/// The rules are PyTorch's: integers as they are; floats that are all whole numbers as `3.`; otherwise fixed
/// point with `precision` digits, or scientific notation when the values span more than three orders of magnitude,
/// exceed 1e8 or go below 1e-4.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberFormat {
    style: Style,
    width: usize,
    precision: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Int,
    WholeFloat,
    Fixed,
    Scientific,
}

impl NumberFormat {
    /// Picks the style and width that fit all of `values`.
    pub fn for_values(values: &Values, options: &PrintOptions) -> Self {
        let precision = options.precision;
        let mut format = Self { style: Style::Int, width: 1, precision };
        match values {
            Values::Int(v) => {
                format.width = v.iter().map(|x| x.to_string().len()).max().unwrap_or(1);
            }
            Values::Float(v) => {
                let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite() && *x != 0.0).collect();
                format.style = Style::WholeFloat;
                if !finite.is_empty() {
                    let whole = finite.iter().all(|x| x.fract() == 0.0);
                    let max = finite.iter().fold(0f64, |m, x| m.max(x.abs()));
                    let min = finite.iter().fold(f64::INFINITY, |m, x| m.min(x.abs()));
                    let wide_range = max / min > 1000.0 || max > 1e8;
                    format.style = match (whole, wide_range || (!whole && min < 1e-4)) {
                        (_, true) => Style::Scientific,
                        (true, false) => Style::WholeFloat,
                        (false, false) => Style::Fixed,
                    };
                }
                format.style = match options.sci_mode {
                    Some(true) => Style::Scientific,
                    Some(false) if format.style == Style::Scientific => {
                        if finite.iter().all(|x| x.fract() == 0.0) {
                            Style::WholeFloat
                        } else {
                            Style::Fixed
                        }
                    }
                    _ => format.style,
                };
                format.width = finite.iter().map(|&x| format.bare(x).len()).max().unwrap_or(1);
            }
        }
        format
    }

    /// The width every formatted number is padded to.
    pub fn width(&self) -> usize {
        self.width
    }

    /// One value, right-aligned to the common width.
    pub fn format(&self, value: Option<Value>) -> String {
        let bare = match value {
            Some(Value::Int(x)) => x.to_string(),
            Some(Value::Float(x)) => self.bare(x),
            None => String::new(),
        };
        format!("{bare:>width$}", width = self.width)
    }

    /// One value without padding.
    fn bare(&self, x: f64) -> String {
        if x.is_nan() {
            return "nan".to_string();
        }
        if x.is_infinite() {
            return if x > 0.0 { "inf" } else { "-inf" }.to_string();
        }
        match self.style {
            Style::Int => format!("{x}"),
            Style::WholeFloat => format!("{x:.0}."),
            Style::Fixed => format!("{x:.prec$}", prec = self.precision),
            Style::Scientific => scientific(x, self.precision),
        }
    }
}

/// `1.2346e+04` rather than Rust's `1.2346e4`: a signed exponent with at least two digits, as PyTorch prints.
fn scientific(x: f64, precision: usize) -> String {
    let raw = format!("{x:.precision$e}");
    match raw.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => raw,
    }
}

/// One number from a tensor, for [`NumberFormat::format`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A float value.
    Float(f64),
    /// An integer value.
    Int(i64),
}

impl Values {
    /// The value at flat position `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<Value> {
        match self {
            Values::Float(v) => v.get(i).copied().map(Value::Float),
            Values::Int(v) => v.get(i).copied().map(Value::Int),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widths(v: &[f64]) -> (String, usize) {
        let f = NumberFormat::for_values(&Values::Float(v.to_vec()), &PrintOptions::default());
        (v.iter().map(|&x| f.format(Some(Value::Float(x)))).collect::<Vec<_>>().join("|"), f.width())
    }

    #[test]
    fn whole_floats_print_with_a_trailing_dot() {
        assert_eq!(widths(&[1.0, -20.0, 0.0]).0, "  1.|-20.|  0.");
    }

    #[test]
    fn fractions_print_with_four_digits() {
        assert_eq!(widths(&[0.5, -1.25]).0, " 0.5000|-1.2500");
    }

    #[test]
    fn wide_ranges_switch_to_scientific_notation() {
        assert_eq!(widths(&[1e-5, 1.0]).0, "1.0000e-05|1.0000e+00");
        assert_eq!(widths(&[1.0, 12345.0]).0, "1.0000e+00|1.2345e+04");
    }

    #[test]
    fn nan_and_infinities_are_spelled_like_pytorch() {
        assert_eq!(widths(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.0]).0, "nan|inf|-inf|1.");
    }
}
