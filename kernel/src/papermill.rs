//! papermill's parameters in the kernel. papermill (with `python/papermill-candlelit`) injects a cell of untyped
//! `let NAME = VALUE;` lines under the header [`HEADER`]; Rust would give `let epochs = 1;` the type `i32`, not the
//! `usize` the notebook declared. The kernel remembers the type every variable was declared with and gives each
//! injected variable its type, as `candlelit run -p` does.

use std::collections::HashMap;

/// The first line of papermill's injected cell (written by the plugin's translator).
pub const HEADER: &str = "// Parameters — set by papermill";

/// Types of variables as cells declared them (`let epochs: usize = 30;`), the latest declaration winning.
#[derive(Default)]
pub struct DeclaredTypes(HashMap<String, String>);

impl DeclaredTypes {
    /// Remembers the typed `let`s of a cell that ran.
    pub fn record(&mut self, code: &str) {
        for (name, ty) in crate::runner::declared_variables(code) {
            match ty {
                Some(ty) => self.0.insert(name, ty),
                None => self.0.remove(&name),
            };
        }
    }

    /// The cell to run for `code`: papermill's injected cell with each variable given its declared type, or
    /// `None` for any other cell (and for a variable never declared with a type, kept as written).
    pub fn typed(&self, code: &str) -> Option<String> {
        let body = code.trim_start().strip_prefix(HEADER)?;
        let mut out = format!("{HEADER}\n");
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let typed = line
                .strip_prefix("let ")
                .and_then(|rest| rest.strip_suffix(';'))
                .and_then(|rest| rest.split_once(" = "))
                .and_then(|(name, value)| Some(crate::runner::declaration(name, Some(self.0.get(name)?), value)));
            match typed {
                Some(declaration) => out.push_str(&declaration),
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_parameters_get_the_types_the_notebook_declared() {
        let mut declared = DeclaredTypes::default();
        declared.record("let epochs: usize = 30;\nlet name: &str = \"fashion\";\nlet lr = 0.1;");
        let injected = format!("{HEADER}\nlet epochs = 1;\nlet name = \"mnist\";\nlet lr = 0.5;\nlet extra = true;\n");
        let typed = declared.typed(&injected).expect("papermill's cell");
        assert!(typed.contains("let epochs: usize = 1;"), "{typed}");
        assert!(typed.contains("let name: &str = \"mnist\";"), "{typed}");
        assert!(typed.contains("let lr = 0.5;") && typed.contains("let extra = true;"), "untyped stay as written");
        assert_eq!(declared.typed("let epochs = 1;"), None, "any other cell runs as written");
    }
}
