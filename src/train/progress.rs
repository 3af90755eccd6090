//! A progress bar for epochs and batches (like `tqdm`), redrawn in place: in a notebook one output is updated
//! (Jupyter's `update_display_data`), in a terminal one line is rewritten.
//!
//! ```
//! use candlelit::prelude::*;
//! let batches = progress(0..100).desc("epoch 1");
//! let bar = batches.handle();                 // to add numbers while the loop runs
//! for i in batches {
//!     bar.set("loss", 1.0 / (i as f64 + 1.0));
//! }
//! assert_eq!(bar.position(), 100);
//! assert!(bar.line().contains("100/100") && bar.line().contains("loss=0.0100"));
//! ```

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::output::{Bundle, DisplayHandle, in_candlelit_session};

/// How often a running bar redraws at most; the last step always shows.
const REDRAW_EVERY: Duration = Duration::from_millis(150);
const WIDTH: usize = 24;

#[derive(Debug)]
struct State {
    desc: String,
    total: Option<usize>,
    position: usize,
    values: Vec<(String, String)>,
    started: Instant,
    last_drawn: Option<Instant>,
    finished: bool,
    display: Option<DisplayHandle>,
    quiet: bool,
}

/// A progress bar: a shared handle (clone it freely) that counts steps and shows them with any numbers you set.
#[derive(Debug, Clone)]
pub struct Progress {
    state: Arc<Mutex<State>>,
}

impl Progress {
    /// A bar for `total` steps (`None` when the count is unknown: it then shows a count and a rate).
    pub fn new(total: impl Into<Option<usize>>) -> Self {
        let state = State {
            desc: String::new(),
            total: total.into(),
            position: 0,
            values: Vec::new(),
            started: Instant::now(),
            last_drawn: None,
            finished: false,
            display: None,
            quiet: false,
        };
        Self { state: Arc::new(Mutex::new(state)) }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Sets the label in front of the bar (`"epoch 3/10"`).
    pub fn desc(self, desc: impl Into<String>) -> Self {
        self.with(|s| s.desc = desc.into());
        self
    }

    /// Draws nothing (the bar still counts); for code that runs in tests or batch jobs.
    pub fn quiet(self) -> Self {
        self.with(|s| s.quiet = true);
        self
    }

    /// Advances by `n` steps and redraws if it is time.
    pub fn inc(&self, n: usize) {
        self.with(|s| s.position += n);
        self.draw(false);
    }

    /// Shows `name=value` after the bar (tqdm's `set_postfix`); floats show with 4 decimals.
    pub fn set(&self, name: &str, value: impl Into<f64>) {
        let value: f64 = value.into();
        let text =
            if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { format!("{value:.4}") };
        self.with(|s| match s.values.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = text,
            None => s.values.push((name.to_string(), text)),
        });
        self.draw(false);
    }

    /// The number of steps done.
    pub fn position(&self) -> usize {
        self.with(|s| s.position)
    }

    /// Marks the bar done and draws it one last time (called for you when a [`ProgressIter`] ends).
    pub fn finish(&self) {
        let first = self.with(|s| !std::mem::replace(&mut s.finished, true));
        if first {
            self.draw(true);
        }
    }

    /// The bar as one line of text: `epoch 1 ━━━━━━━━━━──── 60/100 [00:03<00:02, 20.0 it/s] loss=0.2`.
    pub fn line(&self) -> String {
        self.with(|s| render(s))
    }

    fn draw(&self, force: bool) {
        let now = Instant::now();
        let (text, html, handle, quiet, finished) = {
            let mut guard = match self.state.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            let s = &mut *guard;
            let due = s.last_drawn.is_none_or(|t| now.duration_since(t) >= REDRAW_EVERY);
            let complete = s.total.is_some_and(|t| s.position >= t);
            if s.quiet || !(force || due || complete) {
                return;
            }
            s.last_drawn = Some(now);
            let handle = s.display.get_or_insert_with(DisplayHandle::new).clone();
            (render(s), render_html(s), handle, s.quiet, s.finished)
        };
        if quiet {
            return;
        }
        if in_candlelit_session() {
            handle.update(&Bundle(vec![("text/html", html), ("text/plain", text)]));
        } else {
            let mut err = std::io::stderr().lock();
            // A terminal gets one line rewritten in place; a log file gets a line per redraw.
            let _ = if err.is_terminal() {
                write!(err, "\r\x1b[2K{text}{}", if finished { "\n" } else { "" })
            } else {
                writeln!(err, "{text}")
            };
            let _ = err.flush();
        }
    }
}

fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn render(s: &State) -> String {
    let elapsed = s.started.elapsed();
    let rate = s.position as f64 / elapsed.as_secs_f64().max(1e-9);
    let mut out = String::new();
    if !s.desc.is_empty() {
        out.push_str(&s.desc);
        out.push(' ');
    }
    match s.total {
        Some(total) => {
            let frac = if total == 0 { 1.0 } else { (s.position as f64 / total as f64).min(1.0) };
            let filled = (frac * WIDTH as f64).round() as usize;
            let left = if rate > 0.0 {
                Duration::from_secs_f64(total.saturating_sub(s.position) as f64 / rate)
            } else {
                Duration::ZERO
            };
            out.push_str(&format!(
                "{}{} {}/{} [{}<{}, {:.1} it/s]",
                "━".repeat(filled),
                "─".repeat(WIDTH - filled),
                s.position,
                total,
                clock(elapsed),
                clock(left),
                rate
            ));
        }
        None => out.push_str(&format!("{} [{}, {:.1} it/s]", s.position, clock(elapsed), rate)),
    }
    for (name, value) in &s.values {
        out.push_str(&format!(" {name}={value}"));
    }
    out
}

fn render_html(s: &State) -> String {
    let text = crate::mime::escape_html(&render(s));
    match s.total {
        Some(total) => format!(
            "<div style=\"font-family:monospace\"><progress value=\"{}\" max=\"{}\" style=\"width:16em\"></progress> {text}</div>",
            s.position.min(total),
            total.max(1)
        ),
        None => format!("<div style=\"font-family:monospace\">{text}</div>"),
    }
}

/// An iterator that advances a [`Progress`] bar as it is consumed; made by [`progress`].
#[derive(Debug)]
pub struct ProgressIter<I> {
    inner: I,
    bar: Progress,
}

/// Wraps an iterator (a range of epochs, a data loader's batches) in a progress bar, like `tqdm(iterable)`. The
/// total comes from the iterator's length when it knows it.
pub fn progress<I: IntoIterator>(iter: I) -> ProgressIter<I::IntoIter> {
    let inner = iter.into_iter();
    let (low, high) = inner.size_hint();
    let total = (Some(low) == high).then_some(low);
    ProgressIter { inner, bar: Progress::new(total) }
}

impl<I> ProgressIter<I> {
    /// Sets the bar's label.
    pub fn desc(self, desc: impl Into<String>) -> Self {
        let bar = self.bar.desc(desc);
        Self { inner: self.inner, bar }
    }

    /// Sets the number of steps when the iterator does not know it.
    pub fn total(self, total: usize) -> Self {
        self.bar.with(|s| s.total = Some(total));
        self
    }

    /// Draws nothing (the bar still counts).
    pub fn quiet(self) -> Self {
        let bar = self.bar.quiet();
        Self { inner: self.inner, bar }
    }

    /// The bar, to [`set`](Progress::set) numbers on it from inside the loop.
    pub fn handle(&self) -> Progress {
        self.bar.clone()
    }
}

impl<I: Iterator> Iterator for ProgressIter<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        match self.inner.next() {
            Some(item) => {
                if self.bar.position() == 0 {
                    self.bar.draw(true);
                }
                self.bar.inc(1);
                Some(item)
            }
            None => {
                self.bar.finish();
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}
