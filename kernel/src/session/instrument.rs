//! Rewrites a cell before evcxr compiles it, so it can be interrupted and its errors carry hints.
//!
//! Three insertions, all on the lines they belong to (so line numbers stay put):
//! - `candlelit::cell::start();` before the first statement — marks the start of the run;
//! - `candlelit::cell::checkpoint();` at the top of every `loop`, `while` and `for` body — where an interrupt
//!   stops the cell while keeping earlier variables;
//! - `candlelit::cell::hinted(EXPR)?` for each `EXPR?` that returns from the cell itself (not those inside
//!   closures or functions) — reports the error with the prelude's hint.
//!
//! The paths have no leading `::`: evcxr reads a line that starts with `:` as one of its commands.
//! Code that `syn` cannot parse is left alone; the session then runs it as written.

use proc_macro2::LineColumn;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

const START: &str = "candlelit::cell::start(); ";
const CHECKPOINT: &str = " candlelit::cell::checkpoint();";
const HINTED: &str = "candlelit::cell::hinted(";

/// The instrumented cell, or `None` when the cell cannot be parsed (or has nothing to run).
pub fn instrument(code: &str) -> Option<String> {
    if code.trim().is_empty() {
        return None;
    }
    // Parse as the body of a block: statements, items and a final expression, like a cell.
    let wrapped = format!("{{\n{code}\n}}");
    let block: syn::Block = syn::parse_str(&wrapped).ok()?;
    let mut finder = Finder::default();
    finder.visit_block(&block);

    let line_starts: Vec<usize> = std::iter::once(0).chain(wrapped.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let offset = |at: LineColumn| -> Option<usize> {
        let start = *line_starts.get(at.line.checked_sub(1)?)?;
        let line = &wrapped[start..];
        Some(start + line.char_indices().nth(at.column).map_or(line.len(), |(i, _)| i))
    };
    let mut inserts: Vec<(usize, usize, &str)> = Vec::new();
    for (seq, (at, text)) in finder.inserts.iter().enumerate() {
        inserts.push((offset(*at)?, seq + 1, text));
    }
    // Sequence 0 is applied last at its offset, so `start();` goes before any wrapper of the first statement.
    let first = block.stmts.first().map(|s| s.span().start()).and_then(offset).unwrap_or(2);
    inserts.push((first, 0, START));
    // Back to front, and at one offset the inner (later-visited) text first, so outer wrappers end up outside.
    inserts.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out = wrapped;
    for (at, _, text) in inserts {
        out.insert_str(at, text);
    }
    // Drop the "{\n" and "\n}" added above.
    Some(out[2..out.len() - 2].to_string())
}

#[derive(Default)]
struct Finder {
    /// Text to insert before a position, in visiting order.
    inserts: Vec<(LineColumn, &'static str)>,
    /// How many closures or functions we are inside: a `?` there returns from them, not from the cell.
    nested: usize,
}

impl Finder {
    fn loop_body(&mut self, body: &syn::Block) {
        let open = body.brace_token.span.open().end();
        self.inserts.push((open, CHECKPOINT));
    }

    fn nested<F: FnOnce(&mut Self)>(&mut self, f: F) {
        self.nested += 1;
        f(self);
        self.nested -= 1;
    }
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_expr_loop(&mut self, node: &'ast syn::ExprLoop) {
        self.loop_body(&node.body);
        visit::visit_expr_loop(self, node);
    }

    fn visit_expr_while(&mut self, node: &'ast syn::ExprWhile) {
        self.loop_body(&node.body);
        visit::visit_expr_while(self, node);
    }

    fn visit_expr_for_loop(&mut self, node: &'ast syn::ExprForLoop) {
        self.loop_body(&node.body);
        visit::visit_expr_for_loop(self, node);
    }

    fn visit_expr_try(&mut self, node: &'ast syn::ExprTry) {
        if self.nested == 0 {
            self.inserts.push((node.expr.span().start(), HINTED));
            self.inserts.push((node.question_token.span.start(), ")"));
        }
        visit::visit_expr_try(self, node);
    }

    fn visit_expr_closure(&mut self, node: &'ast syn::ExprClosure) {
        self.nested(|me| visit::visit_expr_closure(me, node));
    }

    fn visit_expr_async(&mut self, node: &'ast syn::ExprAsync) {
        self.nested(|me| visit::visit_expr_async(me, node));
    }

    fn visit_expr_try_block(&mut self, node: &'ast syn::ExprTryBlock) {
        self.nested(|me| visit::visit_expr_try_block(me, node));
    }

    fn visit_item(&mut self, node: &'ast syn::Item) {
        self.nested(|me| visit::visit_item(me, node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_start_and_every_loop_body() {
        let out =
            instrument("let mut n = 0;\nfor i in 0..3 { n += i; }\nwhile n > 0 {\n    n -= 1;\n}\nloop { break }")
                .expect("parses");
        assert_eq!(
            out,
            "candlelit::cell::start(); let mut n = 0;\n\
             for i in 0..3 { candlelit::cell::checkpoint(); n += i; }\n\
             while n > 0 { candlelit::cell::checkpoint();\n    n -= 1;\n}\n\
             loop { candlelit::cell::checkpoint(); break }"
        );
    }

    #[test]
    fn wraps_top_level_question_marks_only() {
        let out = instrument("let c = a.matmul(&b)?.sum_all()?;\nlet f = |x: i32| -> Result<i32> { Ok(g(x)?) };")
            .expect("parses");
        assert_eq!(
            out,
            "candlelit::cell::start(); let c = candlelit::cell::hinted(candlelit::cell::hinted(a.matmul(&b))?\
             .sum_all())?;\nlet f = |x: i32| -> Result<i32> { Ok(g(x)?) };"
        );
    }

    #[test]
    fn a_cell_that_starts_with_a_question_mark_starts_before_the_wrappers() {
        let out = instrument("a.sum_all()?.to_scalar::<f32>()?").expect("parses");
        assert_eq!(
            out,
            "candlelit::cell::start(); candlelit::cell::hinted(candlelit::cell::hinted(a.sum_all())?\
             .to_scalar::<f32>())?"
        );
    }

    #[test]
    fn functions_defined_in_a_cell_keep_their_question_marks_but_get_checkpoints() {
        let out = instrument("fn f() -> Result<()> {\n    for _ in 0..2 { g()?; }\n    Ok(())\n}").expect("parses");
        assert!(out.contains("{ candlelit::cell::checkpoint(); g()?; }"), "{out}");
        assert!(!out.contains("hinted"), "{out}");
    }

    #[test]
    fn keeps_non_ascii_text_and_final_expressions() {
        let out = instrument("let s = \"größe\"; for _ in 0..1 {}\ns.len()").expect("parses");
        assert_eq!(
            out,
            "candlelit::cell::start(); let s = \"größe\"; for _ in 0..1 { candlelit::cell::checkpoint();}\ns.len()"
        );
    }

    #[test]
    fn leaves_unparsable_or_empty_cells_alone() {
        assert_eq!(instrument("let x = ;"), None);
        assert_eq!(instrument("   \n"), None);
    }
}
