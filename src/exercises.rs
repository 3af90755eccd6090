//! Exercise checks: the ✔ / ✘ a learner sees under a lesson's check cell, and what the grader reads.
//!
//! A lesson's check cell calls [`check`] with the exercise's id and a closure of `expect_*` calls. Each `expect_*`
//! says what is wrong in words a learner can act on, and none of them prints the expected *values*: a check tells
//! the learner where their answer goes wrong (a shape, a dtype, how far off, which element), never the answer.
//!
//! ```
//! use candlelit::prelude::*;
//! # fn main() -> Result<()> {
//! let x = Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?;
//! let squares = (&x * &x)?; // the learner's answer
//! check("square", || {
//!     expect_shape(&squares, &[3], "squares")?;
//!     expect_close(&squares, &x.sqr()?, 1e-6, "squares")
//! }); // shows "✔ square: all checks passed"
//! # Ok(()) }
//! ```
//!
//! In a candlelit session the verdict is one display with three forms: HTML for the notebook, plain text for the
//! terminal, and [`CHECK_MIME`] (JSON) for `candlelit grade`, which runs the lesson's own copy of the checks and
//! reads the verdicts from there — never from the learner's notebook.
//!
//! A failed check is not a cell error: "Run all" goes on past an exercise the learner has not done yet.

use std::fmt;

use crate::output::Rich;
use crate::protocol::VerdictRecord;

/// The mime type of a verdict as JSON ([`VerdictRecord`]): `{"exercise": ID, "passed": BOOL, "message": TEXT}`, and
/// `"nonce"` in the checks the grader runs ([`graded_check`]).
pub const CHECK_MIME: &str = "application/vnd.candlelit.check+json";

/// Why a check failed: a message for the learner.
///
/// `?` turns any Candle error inside a check into one ("the check stopped with an error: …"), so a check can use
/// tensor operations freely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    message: String,
}

impl CheckFailure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CheckFailure { message: message.into() }
    }

    /// What the learner reads.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckFailure {}

impl From<candle_core::Error> for CheckFailure {
    fn from(error: candle_core::Error) -> Self {
        let mut message = format!("the check stopped with an error: {}", crate::hints::message(&error));
        if let Some(hint) = crate::hints::hint_for(&error) {
            message.push_str(&format!(" (hint: {hint})"));
        }
        CheckFailure::new(message)
    }
}

/// What the closure given to [`check`] returns.
pub type CheckResult = std::result::Result<(), CheckFailure>;

/// The outcome of one [`check`]: which exercise, whether it passed, and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The exercise's id, as in the lesson (`exercise id=square`).
    pub exercise: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// "all checks passed", or what is wrong.
    pub message: String,
}

impl Verdict {
    /// One line: `✔ square: all checks passed` or `✘ square: …`.
    pub fn to_text(&self) -> String {
        format!("{} {}: {}", if self.passed { "✔" } else { "✘" }, self.exercise, self.message)
    }

    fn to_html(&self) -> String {
        let (mark, colour, background) =
            if self.passed { ("✔", "#2e7d32", "#edf7ed") } else { ("✘", "#c62828", "#fdecea") };
        format!(
            "<div style=\"border-left:4px solid {colour};background:{background};padding:6px 10px;\
             font-family:sans-serif\"><b style=\"color:{colour}\">{mark} {}</b>: {}</div>",
            crate::mime::escape_html(&self.exercise),
            crate::mime::escape_html(&self.message).replace('\n', "<br>")
        )
    }

    fn to_json(&self, nonce: Option<&str>) -> String {
        let record = VerdictRecord {
            exercise: self.exercise.clone(),
            passed: self.passed,
            message: self.message.clone(),
            nonce: nonce.map(str::to_string),
        };
        serde_json::to_string(&record).unwrap_or_default()
    }

    fn bundle(&self, nonce: Option<&str>) -> Vec<(&'static str, String)> {
        vec![(CHECK_MIME, self.to_json(nonce)), ("text/html", self.to_html()), ("text/plain", self.to_text())]
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl Rich for Verdict {
    fn mime_bundle(&self) -> candle_core::Result<Vec<(&'static str, String)>> {
        Ok(self.bundle(None))
    }
}

/// A verdict the grader asked for: the [`CHECK_MIME`] form carries the grader's nonce.
struct GradedVerdict<'a>(&'a Verdict, &'a str);

impl Rich for GradedVerdict<'_> {
    fn mime_bundle(&self) -> candle_core::Result<Vec<(&'static str, String)>> {
        Ok(self.0.bundle(Some(self.1)))
    }
}

/// Runs the expectations in `body` for exercise `exercise` and shows ✔ or ✘ with the message.
///
/// A panic inside `body` (an index out of range in the learner's code, say) fails the check with the panic's
/// message instead of stopping the cell; a `todo!()` still in the learner's answer fails it with "not done yet" and
/// what to do.
pub fn check(exercise: &str, body: impl FnOnce() -> CheckResult) {
    crate::output::display(&evaluate(exercise, body));
}

/// The `check` of the checks `candlelit grade` runs: the verdict goes to the session whatever state the cells left
/// behind, and its [`CHECK_MIME`] form carries `nonce`, a fresh secret of the grader's for this one check cell. The
/// grader counts only verdicts with that nonce, so a verdict a submission prints or displays itself earns nothing.
pub fn graded_check(nonce: &str, exercise: &str, body: impl FnOnce() -> CheckResult) {
    let verdict = evaluate(exercise, body);
    crate::output::display_to_session(&GradedVerdict(&verdict, nonce));
}

/// Like [`check`], but returns the [`Verdict`] instead of showing it (for tests and custom reports).
///
/// ```
/// use candlelit::prelude::*;
/// let answer = 41;
/// let verdict = evaluate("answer", || expect(answer == 42, "`answer` should be the answer"));
/// assert!(!verdict.passed);
/// assert_eq!(verdict.to_text(), "✘ answer: `answer` should be the answer");
/// ```
pub fn evaluate(exercise: &str, body: impl FnOnce() -> CheckResult) -> Verdict {
    // The session's panic hook reports every panic as a failed cell; a panic inside a check is the check's
    // verdict instead, so the hook is set aside while the body runs.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    std::panic::set_hook(hook);
    let (passed, message) = match outcome {
        Ok(Ok(())) => (true, "all checks passed".to_string()),
        Ok(Err(failure)) => (false, failure.message),
        Err(payload) if payload.downcast_ref::<crate::cell::Interrupted>().is_some() => {
            std::panic::resume_unwind(payload)
        }
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            (false, panic_message(&text))
        }
    };
    Verdict { exercise: exercise.to_string(), passed, message }
}

/// What a learner reads when a check panicked: `todo!()` means "not answered yet", anything else is quoted.
fn panic_message(text: &str) -> String {
    if text.starts_with("not yet implemented") || text.starts_with("not implemented") {
        "not done yet: replace `todo!()` in the exercise cell with your answer, run that cell, then run this check \
         again"
            .to_string()
    } else {
        format!("the check panicked: {text}")
    }
}

/// Fails with `message` unless `condition` holds.
///
/// ```
/// use candlelit::prelude::*;
/// assert!(expect(1 + 1 == 2, "arithmetic").is_ok());
/// ```
pub fn expect(condition: bool, message: impl fmt::Display) -> CheckResult {
    if condition { Ok(()) } else { Err(CheckFailure::new(message.to_string())) }
}

/// Fails unless `actual == expected`. The message shows the learner's value, not the expected one.
///
/// ```
/// use candlelit::prelude::*;
/// let failure = expect_eq(3, 4, "the number of classes").unwrap_err();
/// assert_eq!(failure.message(), "the number of classes is 3, which is not what the exercise asks for");
/// ```
pub fn expect_eq<T: PartialEq + fmt::Debug>(actual: T, expected: T, what: &str) -> CheckResult {
    expect(actual == expected, format_args!("{what} is {actual:?}, which is not what the exercise asks for"))
}

/// Fails unless `tensor` has exactly the dimensions `dims`.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let y = Tensor::zeros((3, 4), DType::F32, &Device::Cpu)?;
/// let failure = expect_shape(&y, &[4, 3], "y").unwrap_err();
/// assert_eq!(failure.message(), "y has shape [3, 4]; the exercise needs [4, 3]");
/// # Ok(()) }
/// ```
pub fn expect_shape(tensor: &candle_core::Tensor, dims: &[usize], what: &str) -> CheckResult {
    expect(tensor.dims() == dims, format_args!("{what} has shape {:?}; the exercise needs {dims:?}", tensor.dims()))
}

/// Fails unless `actual` has `expected`'s shape and every element is within `tolerance` of it. The message says
/// how far off the worst element is and where, without the expected values.
///
/// ```
/// use candlelit::prelude::*;
/// # fn main() -> Result<()> {
/// let dev = Device::Cpu;
/// let mine = Tensor::new(&[[1f32, 2.], [3., 4.5]], &dev)?;
/// let right = Tensor::new(&[[1f32, 2.], [3., 4.]], &dev)?;
/// let failure = expect_close(&mine, &right, 1e-4, "w").unwrap_err();
/// assert_eq!(failure.message(), "w is off by 0.5 at [1, 1] (it must be within 0.0001 everywhere)");
/// # Ok(()) }
/// ```
pub fn expect_close(
    actual: &candle_core::Tensor,
    expected: &candle_core::Tensor,
    tolerance: f64,
    what: &str,
) -> CheckResult {
    expect_shape(actual, expected.dims(), what)?;
    let as_f64 = |t: &candle_core::Tensor| -> candle_core::Result<Vec<f64>> {
        t.to_dtype(candle_core::DType::F64)?.flatten_all()?.to_vec1::<f64>()
    };
    let (mine, theirs) = (as_f64(actual)?, as_f64(expected)?);
    let worst = mine
        .iter()
        .zip(&theirs)
        .map(|(a, b)| if a.is_nan() != b.is_nan() { f64::INFINITY } else { (a - b).abs() })
        .enumerate()
        .filter(|(_, gap)| !gap.is_nan())
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match worst {
        Some((at, gap)) if gap > tolerance => Err(CheckFailure::new(format!(
            "{what} is off by {} at {:?} (it must be within {tolerance} everywhere)",
            if gap.is_infinite() {
                "a NaN".to_string()
            } else {
                format!("{gap:.4}").trim_end_matches('0').trim_end_matches('.').to_string()
            },
            unravel(at, actual.dims())
        ))),
        _ => Ok(()),
    }
}

/// Fails unless the number `actual` is within `tolerance` of `expected`, showing only the learner's value.
///
/// ```
/// use candlelit::prelude::*;
/// assert!(expect_near(0.5001, 0.5, 1e-3, "the mean").is_ok());
/// let failure = expect_near(0.7, 0.5, 1e-3, "the mean").unwrap_err();
/// assert_eq!(failure.message(), "the mean is 0.7, which is not within 0.001 of the answer");
/// ```
pub fn expect_near(actual: f64, expected: f64, tolerance: f64, what: &str) -> CheckResult {
    expect(
        (actual - expected).abs() <= tolerance,
        format_args!("{what} is {actual}, which is not within {tolerance} of the answer"),
    )
}

/// A flat index as a multi-dimensional one.
fn unravel(mut flat: usize, dims: &[usize]) -> Vec<usize> {
    let mut index = vec![0; dims.len()];
    for (slot, &size) in index.iter_mut().zip(dims).rev() {
        if size > 0 {
            *slot = flat % size;
            flat /= size;
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn a_panic_inside_a_check_is_its_verdict_not_a_crash() {
        let verdict = evaluate("index", || {
            let v: Vec<u8> = Vec::new();
            expect(v[3] == 0, "unreachable")
        });
        assert!(!verdict.passed);
        assert!(verdict.message.starts_with("the check panicked: index out of bounds"), "{}", verdict.message);
    }

    #[test]
    fn an_unanswered_exercise_says_what_to_do() {
        fn answer() -> u32 {
            todo!()
        }
        let verdict = evaluate("todo", || expect(answer() == 1, "unreachable"));
        assert!(!verdict.passed);
        assert!(verdict.message.starts_with("not done yet: replace `todo!()`"), "{}", verdict.message);
    }

    #[test]
    fn candle_errors_fail_the_check_with_a_hint() {
        let a = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).expect("a");
        let verdict = evaluate("matmul", || {
            a.matmul(&a)?;
            Ok(())
        });
        assert!(!verdict.passed);
        assert!(verdict.message.contains("the check stopped with an error"), "{}", verdict.message);
        assert!(verdict.message.contains("hint:"), "{}", verdict.message);
    }

    #[test]
    fn the_verdict_has_json_for_the_grader_and_escaped_html_for_people() {
        let verdict = Verdict { exercise: "x".into(), passed: false, message: "a <b> & c".into() };
        let bundle = verdict.mime_bundle().expect("bundle");
        let json: serde_json::Value = serde_json::from_str(&bundle[0].1).expect("json");
        assert_eq!(bundle[0].0, CHECK_MIME);
        assert_eq!(json, serde_json::json!({"exercise": "x", "passed": false, "message": "a <b> & c"}));
        assert!(bundle[1].1.contains("a &lt;b&gt; &amp; c") && bundle[1].1.contains("✘ x"));
        assert_eq!(bundle[2].1, "✘ x: a <b> & c");
    }

    #[test]
    fn close_finds_the_worst_element_and_nans() {
        let dev = Device::Cpu;
        let right = Tensor::new(&[[0f32, 1., 2.], [3., 4., 5.]], &dev).expect("t");
        let nan = Tensor::new(&[[0f32, 1., 2.], [3., f32::NAN, 5.]], &dev).expect("t");
        let failure = expect_close(&nan, &right, 1e-3, "y").expect_err("a NaN is never close");
        assert_eq!(failure.message(), "y is off by a NaN at [1, 1] (it must be within 0.001 everywhere)");
        assert!(expect_close(&right, &right, 0.0, "y").is_ok());
        let wrong_shape = expect_close(&right.t().expect("t"), &right, 1e-3, "y").expect_err("shape");
        assert_eq!(wrong_shape.message(), "y has shape [3, 2]; the exercise needs [2, 3]");
        assert_eq!(unravel(5, &[2, 3]), [1, 2]);
    }
}
