//! `--format json`: one object with every diagnostic, for editors and CI annotations.

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;
use serde_json::{json, Value};

pub fn render_json(diagnostics: &[Diagnostic], files: &[SourceFile]) -> String {
    let items: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let place = d.file.and_then(|i| files.get(i)).map(|file| {
                let (line, column) = file.line_col(d.span.start);
                let (end_line, end_column) = file.line_col(d.span.end);
                json!({"file": file.name, "line": line, "column": column, "end_line": end_line, "end_column": end_column})
            });
            json!({
                "code": d.code.id(),
                "severity": d.severity().as_str(),
                "title": d.code.title(),
                "message": d.message,
                "location": place,
                "label": d.label,
                "help": d.help,
                "notes": d.notes,
            })
        })
        .collect();
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let mut text = serde_json::to_string_pretty(&json!({
        "diagnostics": items,
        "errors": errors,
        "warnings": diagnostics.len() - errors,
    }))
    .expect("JSON values serialize");
    text.push('\n');
    text
}
