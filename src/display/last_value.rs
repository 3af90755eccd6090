//! How the last expression of a notebook cell shows itself.
//!
//! evcxr ends a cell whose last line is an expression with `(expr).evcxr_display();`, and only when that does not
//! compile does it try again with `{:?}` — a second compilation of the whole cell, which a learner waits for on
//! every such cell. [`CellValue`] gives every `Debug` value an `evcxr_display` method, so the first compilation
//! succeeds; tensors (and `Var`s) show their values like PyTorch does, everything else shows its `{:?}` text,
//! exactly what evcxr would have printed. Values with their own `evcxr_display` ([`Shown`](super::Shown),
//! [`Figure`](crate::plot::Figure)) keep it: an inherent method wins over a trait method.

use std::any::Any;
use std::fmt::Debug;

use candle_core::{Tensor, Var};

/// A value that can end a notebook cell; implemented for every `Debug` value that owns its data.
///
/// The prelude brings the trait into scope unnamed, so learners never type it.
///
/// ```
/// use candlelit::prelude::*;
/// // Prints `EVCXR_BEGIN_CONTENT text/plain`, `[1, 2]` and `EVCXR_END_CONTENT` on stdout.
/// vec![1, 2].evcxr_display();
/// ```
pub trait CellValue {
    /// Prints the value as mime blocks (see [`crate::mime`]): the values of a tensor, the `{:?}` text otherwise.
    fn evcxr_display(&self);
}

impl<T: Debug + Any> CellValue for T {
    fn evcxr_display(&self) {
        crate::mime::emit(&bundle(self));
    }
}

/// The mime bundle a cell's last value shows: a tensor's text and HTML table, or the `{:?}` text; nothing for `()`
/// (a cell ending in a `for` loop or a call that returns nothing, as in Python).
fn bundle<T: Debug + Any>(value: &T) -> Vec<(&'static str, String)> {
    let any: &dyn Any = value;
    if any.is::<()>() {
        return Vec::new();
    }
    let tensor = any.downcast_ref::<Tensor>().or_else(|| any.downcast_ref::<Var>().map(Var::as_tensor));
    match tensor.map(|t| super::show(t).mime_bundle()) {
        Some(Ok(bundle)) => bundle,
        // A tensor whose values cannot be read (a device error) still shows what it is.
        Some(Err(e)) => {
            vec![("text/plain", format!("{value:?} (values cannot be shown: {})", crate::hints::message(&e)))]
        }
        None => vec![("text/plain", format!("{value:?}"))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn tensors_show_their_values_and_other_values_their_debug_text() {
        let t = Tensor::new(&[1f32, 2.], &Device::Cpu).expect("tensor");
        let shown = bundle(&t);
        assert_eq!(shown[0], ("text/plain", "Tensor(shape=[2], dtype=f32, device=cpu)\n[1., 2.]".to_string()));
        assert!(shown[1].1.contains("<table"), "{shown:?}");
        let var = Var::from_tensor(&t).expect("var");
        assert_eq!(bundle(&var)[0], shown[0]);
        assert_eq!(bundle(&vec![1, 2]), vec![("text/plain", "[1, 2]".to_string())]);
        assert_eq!(bundle(&"hi"), vec![("text/plain", "\"hi\"".to_string())]);
        assert!(bundle(&()).is_empty(), "a unit value shows nothing");
    }
}
