//! `switchyard test --format junit`: JUnit XML in the common schema (Ant's and Jenkins',
//! written down as Windy Road's `JUnit.xsd`; `tests/data/junit.xsd` is our copy, and
//! `tests/ci_formats.rs` validates against it):
//!
//! ```xml
//! <testsuites>
//!   <testsuite name="<integration>" package="<integration>" id="0" hostname="…" timestamp="2026-11-24T10:00:00"
//!              tests="3" failures="1" errors="0" time="0.012">
//!     <properties/>
//!     <testcase classname="<integration>" name="<case>" time="0.004">
//!       <failure type="snapshot" message="the outcome differs from …">the diff</failure>
//!     </testcase>
//!     <system-out>snapshots written</system-out>
//!     <system-err/>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! One `<testsuite>` per integration, one `<testcase>` per fixture case. A case whose
//! fixture does not load, or that cannot start, has an `<error>` (its diagnostics); a case
//! whose checks fail has a `<failure>` (the schema allows one per case: its `type` is the
//! first reason's kind, its `message` every reason's one line, its text the whole report).
//! When the definitions do not compile, a suite `definitions` holds one case `compile` with
//! an `<error>` listing their diagnostics. The schema puts no attributes on `<testsuites>`:
//! the totals are on each `<testsuite>`. Text is escaped, and characters XML 1.0 cannot
//! carry (control characters) are written as `\u{…}`.

use super::place::{plain, LocatedDiagnostic};
use crate::fixture::suite::{CaseReport, RunReport};
use std::fmt::Write;
use std::time::Duration;

pub fn render_junit(run: &RunReport, hostname: &str) -> String {
    let timestamp = switchyard_runtime::replay::format_time(run.started).trim_end_matches('Z').to_string();
    let hostname = if hostname.trim().is_empty() { "localhost" } else { hostname.trim() };
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    let mut id = 0;
    let mut open = |out: &mut String, name: &str, counts: (usize, usize, usize), time: Duration| {
        let (tests, failures, errors) = counts;
        let _ = writeln!(
            out,
            "  <testsuite name=\"{name}\" package=\"{name}\" id=\"{id}\" hostname=\"{host}\" timestamp=\"{timestamp}\" \
             tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time}\">\n    <properties/>",
            name = attribute(name),
            host = attribute(hostname),
            time = seconds(time),
        );
        id += 1;
    };
    if let Some(message) = &run.not_compiled {
        open(&mut out, "definitions", (1, 0, 1), run.duration);
        let _ = writeln!(
            out,
            "    <testcase classname=\"definitions\" name=\"compile\" time=\"{}\">\n      \
             <error type=\"definitions\" message=\"{}\">{}</error>\n    </testcase>",
            seconds(run.duration),
            attribute(message),
            text(&diagnostics_text(&run.definitions, message))
        );
        out.push_str("    <system-out/>\n    <system-err/>\n  </testsuite>\n");
    }
    let mut start = 0;
    while start < run.cases.len() {
        let integration = &run.cases[start].integration;
        let end = start + run.cases[start..].iter().take_while(|c| &c.integration == integration).count();
        let cases = &run.cases[start..end];
        let errors = cases.iter().filter(|c| errored(c)).count();
        let failures = cases.iter().filter(|c| !c.passed && !errored(c)).count();
        open(&mut out, integration, (cases.len(), failures, errors), cases.iter().map(|c| c.duration).sum());
        let mut notes = Vec::new();
        for case in cases {
            testcase(&mut out, case);
            notes.extend(case.notes.iter().map(|n| format!("{}: {n}", case.id)));
        }
        if notes.is_empty() {
            out.push_str("    <system-out/>\n");
        } else {
            let _ = writeln!(out, "    <system-out>{}</system-out>", text(&notes.join("\n")));
        }
        out.push_str("    <system-err/>\n  </testsuite>\n");
        start = end;
    }
    out.push_str("</testsuites>\n");
    out
}

/// This machine's name, for the `hostname` attribute; `localhost` when unknown.
pub fn hostname() -> String {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    read("/proc/sys/kernel/hostname")
        .or_else(|| read("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether the case never ran (its fixture does not load, or it cannot start).
fn errored(case: &CaseReport) -> bool {
    !case.passed && case.failures.iter().any(|f| f.kind.stopped_the_case())
}

fn testcase(out: &mut String, case: &CaseReport) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{}\"",
        attribute(&case.integration),
        attribute(&case.name),
        seconds(case.duration)
    );
    if case.passed {
        out.push_str("/>\n");
        return;
    }
    let element = if errored(case) { "error" } else { "failure" };
    let kind = case.failures.first().map(|f| f.kind.as_str()).unwrap_or("failure");
    let mut messages: Vec<String> = Vec::new();
    for failure in &case.failures {
        let message = plain(&failure.message);
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    let message = match messages.len() {
        0..=3 => messages.join("; "),
        n => format!("{}; … and {} more", messages[..3].join("; "), n - 3),
    };
    let _ = writeln!(
        out,
        ">\n      <{element} type=\"{kind}\" message=\"{}\">{}</{element}>\n    </testcase>",
        attribute(&message),
        text(&plain(&case.details))
    );
}

/// The definitions' diagnostics, one after the other: `error[E0201]: message`, the place,
/// notes and help; then `message`.
fn diagnostics_text(diagnostics: &[LocatedDiagnostic], message: &str) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let _ = writeln!(out, "{}[{}]: {}", d.diagnostic.severity().as_str(), d.diagnostic.code.id(), d.diagnostic.message);
        if let Some(place) = &d.location {
            let _ = writeln!(out, "  --> {place}");
        }
        for note in &d.diagnostic.notes {
            let _ = writeln!(out, "  = note: {note}");
        }
        if let Some(help) = &d.diagnostic.help {
            let _ = writeln!(out, "  = help: {help}");
        }
    }
    out.push_str(message);
    out
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Element text: `&`, `<`, `>` escaped, CR kept as `&#13;`.
fn text(value: &str) -> String {
    escape(value, false)
}

/// An attribute value in double quotes: line breaks and tabs as character references, so
/// they survive attribute-value normalization.
fn attribute(value: &str) -> String {
    escape(value, true)
}

fn escape(value: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            '\n' | '\t' => out.push(c),
            c if allowed(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out
}

/// XML 1.0's `Char`, without the line breaks and tab handled above.
fn allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_characters_xml_cannot_carry() {
        assert_eq!(text("a < b && c > d \"q\"\r\n\tx"), "a &lt; b &amp;&amp; c &gt; d \"q\"&#13;\n\tx");
        assert_eq!(attribute("line 1\nline \"2\"\t"), "line 1&#10;line &quot;2&quot;&#9;");
        assert_eq!(text("bell\u{7} esc\u{1b} nul\u{0} \u{FFFE}"), "bell\\u{7} esc\\u{1b} nul\\u{0} \\u{fffe}");
        assert_eq!(text("]]> é 😀"), "]]&gt; é 😀");
    }
}
