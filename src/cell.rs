//! What the candlelit session wraps around a notebook cell.
//!
//! Learners never call these directly: the session inserts the calls into each cell before evcxr compiles it.
//! They live in the prelude because they must run *inside* the process that evaluates cells:
//!
//! - [`install`] makes Ctrl-C / the Jupyter ■ button set a flag instead of killing the process, and turns panics
//!   into one tidy line the session can read (no backtrace noise).
//! - [`start`] marks the moment a cell begins to run (compilation is over).
//! - [`checkpoint`] sits at the top of every loop body in a cell; when the flag is set it stops the cell by
//!   unwinding, which evcxr catches, so every variable from earlier cells survives an interrupt.
//! - [`hinted`] wraps each `?` at the top level of a cell: a failed step is reported with the prelude's hint.
//!
//! Long-running prelude code (data loaders, training helpers) can call [`interrupt_requested`] to stop early.
//!
//! What they report goes to the session as [`protocol`](crate::protocol) lines, never shown to the learner.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use crate::hints;
use crate::protocol::{self, Message};

/// The interrupt flag: one per process (cells share the prelude as one library), so the handler installed by one
/// cell stops loops in later cells.
fn flag() -> &'static Arc<AtomicBool> {
    static FLAG: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));
    &FLAG
}

/// The panic payload of a cell stopped by an interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

/// Sets up the evaluation process: SIGINT sets the interrupt flag (instead of ending the process), and panics are
/// reported as one protocol line. Called once by the session after the prelude loads; calling it again is harmless.
///
/// # Errors
/// When the operating system refuses to install the signal handler.
pub fn install() -> std::io::Result<()> {
    crate::output::enter_session();
    #[cfg(unix)]
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(flag()))?;
    std::panic::set_hook(Box::new(|info| {
        let message = if info.payload().downcast_ref::<Interrupted>().is_some() {
            Message::Interrupted
        } else {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the cell panicked".to_string());
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            Message::Panic { message, location }
        };
        protocol::emit(&message);
    }));
    Ok(())
}

/// Marks the start of a cell's run and forgets any interrupt that arrived before it.
pub fn start() {
    flag().store(false, Ordering::SeqCst);
    protocol::emit(&Message::Running);
}

/// Whether an interrupt was requested since the cell started. Prelude loops may poll this to stop cleanly.
pub fn interrupt_requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Stops the running cell (by unwinding with [`Interrupted`]) when an interrupt was requested.
pub fn checkpoint() {
    if flag().swap(false, Ordering::SeqCst) {
        std::panic::panic_any(Interrupted);
    }
}

/// The error left after [`hinted`] reported a failure; evcxr prints it as [`protocol::REPORTED`], which the session
/// drops.
#[derive(Debug, Clone, Copy)]
pub struct Reported;

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(protocol::REPORTED)
    }
}

impl std::error::Error for Reported {}

/// Passes `Ok` through; reports an `Err` (message without backtrace, a hint for Candle errors) to the session.
///
/// # Errors
/// Returns [`Reported`] whenever `result` is an error.
pub fn hinted<T, E: fmt::Display + 'static>(result: Result<T, E>) -> Result<T, Reported> {
    result.map_err(|error| {
        let any: &dyn std::any::Any = &error;
        let (ename, message, hint) = if let Some(e) = any.downcast_ref::<candle_core::Error>() {
            (kind_name(e), hints::message(e), hints::hint_for(e))
        } else if let Some(e) = any.downcast_ref::<hints::LearnerError>() {
            (kind_name(e.error()), hints::message(e.error()), e.hint().map(str::to_string))
        } else {
            let full = std::any::type_name::<E>();
            let short = full.split('<').next().unwrap_or(full).rsplit("::").next().unwrap_or(full);
            (short.to_string(), error.to_string(), None)
        };
        protocol::emit(&Message::Error { ename, message, hint });
        Reported
    })
}

/// A short, PyTorch-like name for the kind of a Candle error, seen through backtrace and context wrappers.
fn kind_name(error: &candle_core::Error) -> String {
    use candle_core::Error as E;
    let name = match error {
        E::WithBacktrace { inner, .. } | E::Context { inner, .. } | E::WithPath { inner, .. } => {
            return kind_name(inner);
        }
        E::ShapeMismatchBinaryOp { .. }
        | E::BroadcastIncompatibleShapes { .. }
        | E::ShapeMismatch { .. }
        | E::ShapeMismatchCat { .. }
        | E::UnexpectedNumberOfDims { .. }
        | E::UnexpectedShape { .. } => "ShapeError",
        E::DTypeMismatchBinaryOp { .. } | E::UnexpectedDType { .. } | E::UnsupportedDTypeForOp(..) => "DTypeError",
        E::DeviceMismatchBinaryOp { .. } => "DeviceError",
        E::DimOutOfRange { .. } | E::NarrowInvalidArgs { .. } => "IndexError",
        _ => "CandleError",
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_see_through_wrappers() {
        let e = candle_core::Error::Msg("boom".into()).context("while testing");
        assert_eq!(kind_name(&e), "CandleError");
        let shape = candle_core::Tensor::zeros((2, 3), candle_core::DType::F32, &candle_core::Device::Cpu)
            .and_then(|a| a.matmul(&a));
        assert_eq!(shape.err().map(|e| kind_name(&e)).as_deref(), Some("ShapeError"));
    }

    #[test]
    fn checkpoint_stops_only_after_a_request() {
        checkpoint();
        flag().store(true, Ordering::SeqCst);
        let caught = std::panic::catch_unwind(checkpoint);
        let payload = caught.err().map(|p| p.downcast_ref::<Interrupted>().is_some());
        assert_eq!(payload, Some(true));
        assert!(!interrupt_requested(), "a checkpoint consumes the request");
    }
}
