//! Whether a cell's text is ready to run: Jupyter's `is_complete` and the REPL's "keep reading" rule.
//!
//! A scan that knows Rust's comments, strings (also raw and byte strings) and character literals, so a `{` inside
//! `"{}"` does not count. Open delimiters, strings or block comments mean "incomplete"; a closing delimiter that
//! does not match means "invalid".

/// The verdict on a piece of code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// Ready to run.
    Complete,
    /// More input is needed; `indent` is what the next line should start with.
    Incomplete {
        /// Suggested indentation for the next line.
        indent: String,
    },
    /// Can never be completed by adding text (a stray or mismatched closing delimiter).
    Invalid,
}

/// Judges `code`.
pub fn check(code: &str) -> Completeness {
    let chars: Vec<char> = code.chars().collect();
    let mut open: Vec<char> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if next == Some('*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => return incomplete(open.len() + 1),
                        (Some('/'), Some('*')) => (depth, i) = (depth + 1, i + 2),
                        (Some('*'), Some('/')) => (depth, i) = (depth - 1, i + 2),
                        _ => i += 1,
                    }
                }
                continue;
            }
            '"' => match skip_string(&chars, i + 1) {
                Some(end) => i = end,
                None => return incomplete(open.len()),
            },
            'r' | 'b' if !prev_is_ident(&chars, i) => {
                if let Some((hashes, start)) = raw_string_start(&chars, i) {
                    match skip_raw_string(&chars, start, hashes) {
                        Some(end) => i = end,
                        None => return incomplete(open.len()),
                    }
                } else if c == 'b' && next == Some('"') {
                    match skip_string(&chars, i + 2) {
                        Some(end) => i = end,
                        None => return incomplete(open.len()),
                    }
                }
            }
            '\'' => i = skip_char_literal(&chars, i),
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(want) {
                    return Completeness::Invalid;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if open.is_empty() { Completeness::Complete } else { incomplete(open.len()) }
}

fn incomplete(depth: usize) -> Completeness {
    Completeness::Incomplete { indent: "    ".repeat(depth) }
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Index of the closing quote of a string whose body starts at `i`, or `None` when it never closes.
fn skip_string(chars: &[char], mut i: usize) -> Option<usize> {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// For `r"`, `r#"`, `br#"` at `i`: the number of `#` and the index of the body's first character.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes + 1))
}

fn skip_raw_string(chars: &[char], mut i: usize, hashes: usize) -> Option<usize> {
    while i < chars.len() {
        if chars[i] == '"' && chars[i + 1..].iter().take(hashes).filter(|&&c| c == '#').count() == hashes {
            return Some(i + hashes);
        }
        i += 1;
    }
    None
}

/// Skips a character literal (`'a'`, `'\n'`, `'\u{1F600}'`); a lifetime or label (`'a`) is left alone.
fn skip_char_literal(chars: &[char], i: usize) -> usize {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            let mut j = i + 3;
            while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                j += 1;
            }
            j
        }
        (Some(_), Some('\'')) => i + 2,
        _ => i,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_incomplete(code: &str) -> bool {
        matches!(check(code), Completeness::Incomplete { .. })
    }

    #[test]
    fn open_delimiters_are_incomplete() {
        for code in [
            "fn f() {",
            "let v = vec![1, 2,",
            "let t = Tensor::new(&[1f32, 2.], &dev",
            "for x in 0..3 {\n    if x > 1 {",
        ] {
            assert!(is_incomplete(code), "{code}");
        }
        assert_eq!(check("fn f() {\n    if true {"), Completeness::Incomplete { indent: "        ".into() });
    }

    #[test]
    fn balanced_code_is_complete() {
        for code in [
            "let x = 1;",
            "fn f() { }",
            r#"println!("{}", "{");"#,
            r##"let s = r#"a " { b"#;"##,
            "let c = '{'; let d = '\\'';",
            "fn f<'a>(x: &'a str) -> &'a str { x }",
            "// {\nlet y = 2;",
            "/* { /* nested */ */ let z = 3;",
            "let b = b\"{\";",
        ] {
            assert_eq!(check(code), Completeness::Complete, "{code}");
        }
    }

    #[test]
    fn unterminated_strings_and_comments_are_incomplete() {
        assert!(is_incomplete("let s = \"abc"));
        assert!(is_incomplete("/* still open"));
        assert!(is_incomplete("let s = r#\"abc\""));
    }

    #[test]
    fn mismatched_closers_are_invalid() {
        assert_eq!(check("let x = (1];"), Completeness::Invalid);
        assert_eq!(check("}"), Completeness::Invalid);
    }
}
