//! The kernel's input history, and the answers to `history_request`: the last `n` cells, a range of execution
//! counts, or an IPython-style glob search (`*` any text, `?` one character).

use std::sync::{Arc, Mutex};

use jupyter_protocol::{HistoryEntry, HistoryRequest};

/// Each stored cell: its execution count, its code and its text result (empty when it had none).
pub type History = Arc<Mutex<Vec<(usize, String, String)>>>;

/// Longest compiled search pattern; a longer one matches nothing rather than costing the kernel time.
const MAX_PATTERN_BYTES: usize = 1 << 20;

/// The entries `request` asks for, oldest first.
pub fn select(request: &HistoryRequest, entries: &[(usize, String, String)]) -> Vec<HistoryEntry> {
    let entry = |(n, input, output): &(usize, String, String), with_output: bool| {
        if with_output {
            HistoryEntry::InputOutput(1, *n, (input.clone(), output.clone()))
        } else {
            HistoryEntry::Input(1, *n, input.clone())
        }
    };
    match request {
        HistoryRequest::Tail { n, output, .. } => {
            let n = usize::try_from(*n).unwrap_or(0);
            entries[entries.len().saturating_sub(n)..].iter().map(|e| entry(e, *output)).collect()
        }
        HistoryRequest::Range { start, stop, output, .. } => {
            let (start, stop) = (usize::try_from(*start).unwrap_or(0), usize::try_from(*stop).unwrap_or(0));
            entries
                .iter()
                .filter(|(n, ..)| *n >= start && (stop == 0 || *n < stop))
                .map(|e| entry(e, *output))
                .collect()
        }
        HistoryRequest::Search { pattern, unique, output, n, .. } => {
            let Some(glob) = Glob::new(pattern) else { return Vec::new() };
            let mut seen = std::collections::HashSet::new();
            let mut found: Vec<HistoryEntry> = entries
                .iter()
                .rev()
                .filter(|(_, input, _)| glob.matches(input))
                .filter(|(_, input, _)| !*unique || seen.insert(input.clone()))
                .map(|e| entry(e, *output))
                .collect();
            if let Ok(n) = usize::try_from(*n)
                && n > 0
            {
                found.truncate(n);
            }
            found.reverse();
            found
        }
    }
}

/// A glob compiled to a regular expression: matching takes time linear in the text whatever the pattern
/// (`*a*a*a*a*b` backtracked exponentially in a naive matcher).
struct Glob(regex::Regex);

impl Glob {
    /// `None` for a pattern too large to compile within [`MAX_PATTERN_BYTES`].
    fn new(pattern: &str) -> Option<Glob> {
        let mut expression = String::from("(?s)^");
        for c in pattern.chars() {
            match c {
                '*' => expression.push_str(".*"),
                '?' => expression.push('.'),
                other => expression.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
            }
        }
        expression.push('$');
        regex::RegexBuilder::new(&expression)
            .size_limit(MAX_PATTERN_BYTES)
            .dfa_size_limit(MAX_PATTERN_BYTES)
            .build()
            .ok()
            .map(Glob)
    }

    fn matches(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob_match(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).is_some_and(|g| g.matches(text))
    }

    #[test]
    fn search_uses_glob_patterns() {
        assert!(glob_match("let x*", "let x = 1;"));
        assert!(glob_match("*matmul*", "a.matmul(&b)?"));
        assert!(!glob_match("let y*", "let x = 1;"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("a.c*", "a.c(1)") && !glob_match("a.c", "abc"), "other characters are literal");
        assert!(glob_match("*b*", "a\nb\nc"), "a cell of several lines");
    }

    #[test]
    fn a_pattern_made_to_backtrack_answers_at_once() {
        // 40 stars against 10,000 `a`s and no `b`: a backtracking matcher tries ~10,000^40 splits.
        let pattern = "*a".repeat(40) + "b";
        let text = "a".repeat(10_000);
        let started = std::time::Instant::now();
        assert!(!glob_match(&pattern, &text));
        assert!(glob_match(&("*a".repeat(40) + "*"), &text));
        // Not a benchmark: a generous bound that only an exponential matcher misses.
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn an_enormous_pattern_matches_nothing_instead_of_stalling() {
        assert!(!glob_match(&"?".repeat(2_000_000), "short"));
    }
}
