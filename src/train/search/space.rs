//! What a study searches: each parameter's range in the coordinates TPE models, and the values it stands for.

use std::fmt;

/// One suggested value, as the study stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// From `suggest_float*`.
    Float(f64),
    /// From `suggest_int*`.
    Int(i64),
    /// From `suggest_categorical`: the choice's text.
    Choice(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Float(v) if v.abs() != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) => write!(f, "{v:.3e}"),
            ParamValue::Float(v) => write!(f, "{v:.4}"),
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Choice(c) => write!(f, "{c}"),
        }
    }
}

impl ParamValue {
    /// The number a float or integer parameter holds (`None` for a choice).
    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            ParamValue::Float(x) => Some(*x),
            ParamValue::Int(x) => Some(*x as f64),
            ParamValue::Choice(_) => None,
        }
    }
}

/// The search space of one parameter, in the coordinates TPE models (logarithms for log scales, indices for
/// choices).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Space {
    Float { low: f64, high: f64, log: bool, step: Option<f64> },
    Int { low: i64, high: i64, log: bool },
    Choice { n: usize },
}

impl Space {
    /// Whether the parameter is searched on a log scale.
    pub(crate) fn is_log(&self) -> bool {
        matches!(self, Space::Float { log: true, .. } | Space::Int { log: true, .. })
    }

    /// Where `value` sits on the scale the parameter is searched on: its logarithm on a log scale, the number
    /// itself otherwise; `None` for a choice, which has no order.
    pub(crate) fn coordinate(&self, value: &ParamValue) -> Option<f64> {
        let x = value.number()?;
        Some(if self.is_log() { x.ln() } else { x })
    }

    /// The half-open range `[start, end)` TPE samples in.
    pub(crate) fn range(&self) -> (f64, f64) {
        match *self {
            Space::Float { low, high, log: true, .. } => {
                (low.ln(), high.ln() + f64::EPSILON * high.ln().abs().max(1.0))
            }
            Space::Float { low, high, step: Some(step), .. } => (low, high + step),
            Space::Float { low, high, .. } => (low, high + f64::EPSILON * high.abs().max(1.0)),
            Space::Int { low, high, log: true } => ((low as f64).ln(), ((high + 1) as f64).ln()),
            Space::Int { low, high, .. } => (low as f64, (high + 1) as f64),
            Space::Choice { n } => (0.0, n as f64),
        }
    }

    /// The value a point of the range stands for.
    pub(crate) fn value(&self, x: f64) -> ParamValue {
        match *self {
            Space::Float { low, high, log, step } => {
                let v = if log { x.exp() } else { x };
                let v = match step {
                    Some(step) => low + ((v - low) / step).floor() * step,
                    None => v,
                };
                ParamValue::Float(v.clamp(low, high))
            }
            Space::Int { low, high, log } => {
                let v = if log { x.exp().floor() } else { x.floor() };
                ParamValue::Int((v as i64).clamp(low, high))
            }
            Space::Choice { n } => ParamValue::Int((x.floor() as i64).clamp(0, n as i64 - 1)),
        }
    }
}
