//! The lesson's checks as the grader runs them, and what it accepts as their verdict.
//!
//! A check cell from the lesson runs in the submission's process, beside the learner's code, so the grader trusts
//! nothing that process could fake:
//! - **Names.** The check runs in a block that imports, from the prelude, every prelude name the check uses that the
//!   lesson does not define itself: a learner's own `fn randn` or `struct Tensor` cannot stand in for the prelude's,
//!   while the lesson's variables and the learner's answers (`squares`, `fn mean_of`) are the ones checked.
//! - **Verdicts.** The block's own `check` sends each verdict with a nonce, a fresh secret for this one cell
//!   ([`candlelit::exercises::graded_check`]). The check passes only when exactly as many verdicts as the check
//!   has `check(...)` calls arrive, each with the nonce, for this exercise, all passed, and the cell ended
//!   cleanly ([`judge`]). No verdict, an extra one, one without the nonce: the check fails, with a message.

use std::collections::BTreeSet;

use candlelit::exercises::CHECK_MIME;
use candlelit::protocol::VerdictRecord;
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use serde_json::Value;
use syn::visit::Visit;

use crate::lessons::{Lesson, LessonCell, Role};

/// Wraps a lesson's checks for grading.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Wrapper {
    /// Every name `candlelit::prelude` exports.
    prelude: BTreeSet<String>,
    /// Every name the lesson's own code binds or defines (its variables, functions, types, parameters).
    lesson: BTreeSet<String>,
}

impl Wrapper {
    /// A wrapper for `lesson`, given the source of the prelude module (`src/prelude.rs`) the session loads.
    ///
    /// # Errors
    /// When the prelude source does not parse.
    pub fn new(prelude_source: &str, lesson: &Lesson) -> Result<Self, String> {
        let file = syn::parse_file(prelude_source).map_err(|e| format!("the prelude's source does not parse: {e}"))?;
        let mut prelude = BTreeSet::new();
        for item in &file.items {
            if let syn::Item::Use(used) = item
                && matches!(used.vis, syn::Visibility::Public(_))
            {
                exported(&used.tree, &mut prelude);
            }
        }
        let mut lesson_names = Names::default();
        for cell in &lesson.cells {
            if let LessonCell::Code {
                role: Role::Plain | Role::Parameters | Role::Exercise { .. } | Role::Solution(_),
                source,
                ..
            } = cell
            {
                lesson_names.collect(source);
            }
        }
        Ok(Wrapper { prelude, lesson: lesson_names.0 })
    }

    /// `check` as the cell the grader runs, with `nonce` for its verdicts.
    pub fn wrap(&self, check: &str, nonce: &str) -> String {
        let used = identifiers(check);
        let imports: Vec<&str> = used
            .iter()
            .filter(|name| self.prelude.contains(*name) && !self.lesson.contains(*name) && *name != "check")
            .map(String::as_str)
            .collect();
        let import = if imports.is_empty() {
            String::new()
        } else {
            format!("#[allow(unused_imports)]\nuse ::candlelit::prelude::{{{}}};\n", imports.join(", "))
        };
        format!(
            "{{\n{import}#[allow(dead_code)]\nfn check(exercise: &str, body: impl FnOnce() -> \
             ::candlelit::exercises::CheckResult) {{\n    ::candlelit::exercises::graded_check({nonce:?}, exercise, \
             body)\n}}\n{check}\n}};"
        )
    }
}

/// How many verdicts a check cell gives: its calls of `check(...)` (a call inside a loop counts once, so a lesson's
/// check cell calls `check` once per exercise it checks, outside loops; the lesson tests grade the model answers,
/// which fails if not).
pub fn expected_verdicts(check: &str) -> usize {
    check.parse::<TokenStream>().map_or(0, count_check_calls)
}

fn count_check_calls(tokens: TokenStream) -> usize {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut count = 0;
    for (at, tree) in trees.iter().enumerate() {
        match tree {
            TokenTree::Group(group) => count += count_check_calls(group.stream()),
            TokenTree::Ident(ident) if ident == "check" => {
                let called =
                    matches!(trees.get(at + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis);
                let qualified =
                    at > 0 && matches!(&trees[at - 1], TokenTree::Punct(p) if p.as_char() == '.' || p.as_char() == ':');
                count += usize::from(called && !qualified);
            }
            _ => {}
        }
    }
    count
}

/// The verdict of one check cell the grader ran: `Ok(messages)` when it passed.
///
/// `outputs` are the cell's nbformat outputs, `failed` says why the cell itself failed (if it did).
pub fn judge(
    outputs: &[Value],
    nonce: &str,
    exercise: &str,
    expected: usize,
    failed: Option<String>,
) -> Result<Vec<String>, String> {
    let mut genuine = Vec::new();
    let mut forged = 0;
    for data in outputs.iter().filter_map(|o| o.get("data")).filter_map(|d| d.get(CHECK_MIME)) {
        match serde_json::from_value::<VerdictRecord>(data.clone()) {
            Ok(record) if record.nonce.as_deref() == Some(nonce) => genuine.push(record),
            _ => forged += 1,
        }
    }
    if let Some(failure) = genuine.iter().find(|v| !v.passed) {
        return Err(failure.message.clone());
    }
    if forged > 0 {
        return Err(format!(
            "a verdict that did not come from the lesson's checks appeared while they ran (something in the \
             submission showed {forged} of its own), so this check cannot be trusted and counts as failed"
        ));
    }
    if let Some(why) = failed {
        return Err(why);
    }
    if let Some(other) = genuine.iter().find(|v| v.exercise != exercise) {
        return Err(format!("the check reported on exercise `{}` instead of `{exercise}`", other.exercise));
    }
    if genuine.len() != expected {
        return Err(if genuine.is_empty() {
            "the check gave no verdict: something in the submission stopped it or took over its output".to_string()
        } else {
            format!("the check gave {} verdicts where it has {expected}; it counts as failed", genuine.len())
        });
    }
    Ok(genuine.into_iter().map(|v| v.message).collect())
}

/// Takes the nonces out of the verdicts in `outputs`, before they go into a learner's feedback notebook.
pub fn strip_nonces(outputs: &mut [Value]) {
    for data in outputs.iter_mut().filter_map(|o| o.get_mut("data")).filter_map(|d| d.get_mut(CHECK_MIME)) {
        if let Some(object) = data.as_object_mut() {
            object.remove("nonce");
        }
    }
}

/// The names a `pub use` tree exports (`a::{b, c as d}` → `b`, `d`; `_` and globs export nothing by name).
fn exported(tree: &syn::UseTree, names: &mut BTreeSet<String>) {
    match tree {
        syn::UseTree::Path(path) => exported(&path.tree, names),
        syn::UseTree::Name(name) => {
            names.insert(name.ident.to_string());
        }
        syn::UseTree::Rename(rename) if rename.rename != "_" => {
            names.insert(rename.rename.to_string());
        }
        syn::UseTree::Group(group) => group.items.iter().for_each(|tree| exported(tree, names)),
        syn::UseTree::Rename(_) | syn::UseTree::Glob(_) => {}
    }
}

/// Every identifier in `code`, from its tokens (so it works for any code rustc would lex).
fn identifiers(code: &str) -> BTreeSet<String> {
    fn walk(tokens: TokenStream, into: &mut BTreeSet<String>) {
        for tree in tokens {
            match tree {
                TokenTree::Ident(ident) => {
                    into.insert(ident.to_string());
                }
                TokenTree::Group(group) => walk(group.stream(), into),
                _ => {}
            }
        }
    }
    let mut found = BTreeSet::new();
    if let Ok(tokens) = code.parse::<TokenStream>() {
        walk(tokens, &mut found);
    }
    found
}

/// Names bound or defined anywhere in some code: patterns (`let`, parameters, closures, arms) and items. Taking
/// too many only means a name is not imported for the checks; taking too few could shadow a lesson's variable.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn collect(&mut self, code: &str) {
        let rust: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with(':') || l.trim_start().starts_with("::"))
            .collect::<Vec<_>>()
            .join("\n");
        match syn::parse_str::<syn::Block>(&format!("{{\n{rust}\n}}")) {
            Ok(block) => self.visit_block(&block),
            // Code syn cannot read: every identifier counts as the lesson's, which keeps its names safe.
            Err(_) => self.0.extend(identifiers(&rust)),
        }
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.0.insert(pat.ident.to_string());
        syn::visit::visit_pat_ident(self, pat);
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        let ident = match item {
            syn::Item::Fn(f) => Some(&f.sig.ident),
            syn::Item::Struct(s) => Some(&s.ident),
            syn::Item::Enum(e) => Some(&e.ident),
            syn::Item::Const(c) => Some(&c.ident),
            syn::Item::Static(s) => Some(&s.ident),
            syn::Item::Type(t) => Some(&t.ident),
            syn::Item::Trait(t) => Some(&t.ident),
            syn::Item::Mod(m) => Some(&m.ident),
            syn::Item::Union(u) => Some(&u.ident),
            syn::Item::Macro(m) => m.ident.as_ref(),
            _ => None,
        };
        if let Some(ident) = ident {
            self.0.insert(ident.to_string());
        }
        if let syn::Item::Use(used) = item {
            exported(&used.tree, &mut self.0);
        }
        syn::visit::visit_item(self, item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wrapper() -> Wrapper {
        let prelude = "pub use crate::random::{randn, rand};\npub use candle_core::{Tensor, Device};\n\
                       pub use crate::exercises::{check, expect_close};\npub use crate::x as _;";
        let lesson = Lesson {
            path: "day00.md".into(),
            cells: vec![LessonCell::Code {
                role: Role::Plain,
                source: ":dep x\nlet (rand, other) = (1, 2);\nfn mean_of() {}".into(),
                line: 1,
            }],
        };
        Wrapper::new(prelude, &lesson).expect("parses")
    }

    #[test]
    fn checks_import_the_prelude_names_they_use_but_not_the_lessons_own() {
        let wrapped =
            wrapper().wrap("check(\"x\", || { let t = randn(3, &Device::Cpu)?; mean_of(); rand; Ok(()) });", "n1");
        assert!(wrapped.contains("use ::candlelit::prelude::{Device, randn};"), "{wrapped}");
        assert!(wrapped.contains("graded_check(\"n1\", exercise, body)"), "{wrapped}");
        assert!(!wrapped.contains("check}") && !wrapped.contains(", check"), "the block's own check is not imported");
        assert!(syn::parse_str::<syn::Block>(wrapped.trim_end_matches(';')).is_ok(), "{wrapped}");
    }

    #[test]
    fn the_expected_verdicts_are_the_bare_check_calls() {
        assert_eq!(expected_verdicts("check(\"a\", || Ok(()));"), 1);
        assert_eq!(expected_verdicts("{ check(\"a\", || Ok(())); }\nx.check(1); y::check(2); let check = 3;"), 1);
        assert_eq!(expected_verdicts("check(\"a\", || Ok(()));\ncheck(\"b\", || Ok(()));"), 2);
    }

    #[test]
    fn only_the_expected_genuine_passing_verdicts_pass() {
        let verdict = |passed: bool, nonce: Option<&str>| {
            let mut data = json!({"exercise": "sq", "passed": passed, "message": if passed { "all checks passed" } else { "off by 1" }});
            if let Some(nonce) = nonce {
                data["nonce"] = json!(nonce);
            }
            json!({"output_type": "display_data", "data": {CHECK_MIME: data}})
        };
        let good = verdict(true, Some("n"));
        assert_eq!(judge(std::slice::from_ref(&good), "n", "sq", 1, None), Ok(vec!["all checks passed".to_string()]));
        assert!(judge(&[], "n", "sq", 1, None).is_err_and(|e| e.contains("no verdict")));
        assert!(judge(&[good.clone(), good.clone()], "n", "sq", 1, None).is_err_and(|e| e.contains("2 verdicts")));
        for forged in [verdict(true, None), verdict(true, Some("guess"))] {
            let judged = judge(&[forged, good.clone()], "n", "sq", 1, None);
            assert!(judged.is_err_and(|e| e.contains("did not come from the lesson")));
        }
        assert_eq!(judge(&[good.clone(), verdict(false, Some("n"))], "n", "sq", 2, None), Err("off by 1".into()));
        assert_eq!(
            judge(std::slice::from_ref(&good), "n", "sq", 1, Some("it panicked".into())),
            Err("it panicked".into())
        );
        assert!(
            judge(std::slice::from_ref(&good), "n", "other", 1, None).is_err_and(|e| e.contains("instead of `other`"))
        );
        let mut outputs = vec![good];
        strip_nonces(&mut outputs);
        assert!(outputs[0]["data"][CHECK_MIME].get("nonce").is_none());
    }
}
