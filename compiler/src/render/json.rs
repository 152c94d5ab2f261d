//! `--format json`: one JSON document on stdout. For `check`: every diagnostic; for
//! `test`: every case with its status, duration, failures and diagnostics, and the totals.

use super::place::LocatedDiagnostic;
use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;
use serde_json::{json, Value};

pub fn render_json(diagnostics: &[Diagnostic], files: &[SourceFile]) -> String {
    let items: Vec<Value> = LocatedDiagnostic::all(diagnostics, files).iter().map(diagnostic_json).collect();
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    document(json!({
        "diagnostics": items,
        "errors": errors,
        "warnings": diagnostics.len() - errors,
    }))
}

/// One diagnostic: code, severity, title, message, location (null when it names no
/// file), label, help, notes.
pub fn diagnostic_json(located: &LocatedDiagnostic) -> Value {
    let d = &located.diagnostic;
    json!({
        "code": d.code.id(),
        "severity": d.severity().as_str(),
        "title": d.code.title(),
        "message": d.message,
        "location": located.location.as_ref().map(|l| l.to_json()),
        "label": d.label,
        "help": d.help,
        "notes": d.notes,
    })
}

/// A JSON document as the CLI prints it: pretty, with a final line break.
pub fn document(value: Value) -> String {
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}
