//! `--format json`: one JSON document on stdout. For `check`: every diagnostic; for
//! `test`: every case with its status, duration, failures and diagnostics, and the totals.

use super::place::{plain, LocatedDiagnostic};
use crate::diagnostic::Diagnostic;
use crate::fixture::suite::{CaseReport, RunReport};
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

/// `switchyard test --format json`:
///
/// ```json
/// {
///   "definitions": {"compiled": true, "diagnostics": [...]},
///   "cases": [{"id", "integration", "name", "fixture", "status": "passed"|"failed",
///              "duration", "failure", "failures": [{"kind", "code", "message", "text", "location"}],
///              "diagnostics": [...], "notes": [...]}],
///   "totals": {"cases", "passed", "failed", "duration"}
/// }
/// ```
///
/// Durations are in seconds. `failure` is the human report of the failure (null when the
/// case passed); `failures` the same, reason by reason, each with its place.
pub fn render_test_json(run: &RunReport) -> String {
    let cases: Vec<Value> = run.cases.iter().map(case_json).collect();
    document(json!({
        "definitions": {
            "compiled": run.compiled(),
            "message": run.not_compiled.as_deref(),
            "diagnostics": run.definitions.iter().map(diagnostic_json).collect::<Vec<_>>(),
        },
        "cases": cases,
        "totals": {
            "cases": run.cases.len(),
            "passed": run.passed(),
            "failed": run.failed(),
            "duration": seconds(run.duration.as_secs_f64()),
        },
    }))
}

fn case_json(case: &CaseReport) -> Value {
    let failures: Vec<Value> = case
        .failures
        .iter()
        .map(|f| {
            json!({
                "kind": f.kind.as_str(),
                "code": f.code,
                "message": plain(&f.message),
                "text": plain(&f.text),
                "location": f.location.to_json(),
            })
        })
        .collect();
    json!({
        "id": case.id,
        "integration": case.integration,
        "name": case.name,
        "fixture": case.fixture,
        "status": if case.passed { "passed" } else { "failed" },
        "duration": seconds(case.duration.as_secs_f64()),
        "failure": (!case.passed).then(|| plain(&case.details)),
        "failures": failures,
        "diagnostics": case.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
        "notes": case.notes,
    })
}

/// Seconds, rounded to the microsecond so the numbers stay short.
fn seconds(value: f64) -> Value {
    json!((value * 1e6).round() / 1e6)
}

fn document(value: Value) -> String {
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}
