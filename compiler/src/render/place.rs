//! What the renderers share: places in files (1-based line and column), diagnostics with
//! their place resolved, and text stripped of colour for the machine-read formats.

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;
use serde_json::{json, Value};

/// A place in a file. The file is named as diagnostics name it: relative to the parent
/// of the integrations directory, with `/`. Line and column are 1-based; the end column
/// is exclusive (one past the last character), as in `--format json`. A place known only
/// to the file has no line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
}

impl Location {
    /// The file as a whole.
    pub fn file(file: impl Into<String>) -> Location {
        Location { file: file.into(), ..Location::default() }
    }

    /// One point: `file:line:column`.
    pub fn at(file: impl Into<String>, line: usize, column: usize) -> Location {
        Location { file: file.into(), line: Some(line), column: Some(column), end_line: Some(line), end_column: Some(column + 1) }
    }

    /// Where a diagnostic points, if it names a file.
    pub fn of(diagnostic: &Diagnostic, files: &[SourceFile]) -> Option<Location> {
        let file = diagnostic.file.and_then(|i| files.get(i))?;
        let (line, column) = file.line_col(diagnostic.span.start);
        let (end_line, end_column) = file.line_col(diagnostic.span.end);
        Some(Location {
            file: file.name.clone(),
            line: Some(line),
            column: Some(column),
            end_line: Some(end_line),
            end_column: Some(end_column),
        })
    }

    /// `{"file", "line", "column", "end_line", "end_column"}`, null where unknown.
    pub fn to_json(&self) -> Value {
        json!({
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
        })
    }
}

impl std::fmt::Display for Location {
    /// `file`, `file:line` or `file:line:column`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// A diagnostic with its place resolved, so it can be rendered without its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedDiagnostic {
    pub diagnostic: Diagnostic,
    pub location: Option<Location>,
}

impl LocatedDiagnostic {
    pub fn new(diagnostic: &Diagnostic, files: &[SourceFile]) -> LocatedDiagnostic {
        LocatedDiagnostic { diagnostic: diagnostic.clone(), location: Location::of(diagnostic, files) }
    }

    pub fn all(diagnostics: &[Diagnostic], files: &[SourceFile]) -> Vec<LocatedDiagnostic> {
        diagnostics.iter().map(|d| LocatedDiagnostic::new(d, files)).collect()
    }

    /// The message, then its notes and help, one per line (no source excerpt).
    pub fn text(&self) -> String {
        let d = &self.diagnostic;
        let mut text = d.message.clone();
        for note in &d.notes {
            text.push_str(&format!("\nnote: {note}"));
        }
        if let Some(help) = &d.help {
            text.push_str(&format!("\nhelp: {help}"));
        }
        text
    }
}

/// `text` without ANSI escape sequences (the colours of the human output).
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in `@`..=`~`.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strips_colour_only() {
        assert_eq!(plain("\x1b[1;31mFAILED\x1b[0m a\x1bb"), "FAILED a\x1bb");
    }

    #[test]
    fn locations_display_what_they_know() {
        assert_eq!(Location::file("a.yaml").to_string(), "a.yaml");
        assert_eq!(Location::at("a.yaml", 3, 7).to_string(), "a.yaml:3:7");
        assert_eq!(Location::file("a.yaml").to_json()["line"], Value::Null);
    }
}
