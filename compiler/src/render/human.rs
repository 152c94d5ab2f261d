//! rustc-style output: `error[E0201]: …`, the place, the source line, a caret, help; and
//! the `ok`/`FAILED` lines of `switchyard test`.

use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceFile;
use std::fmt::Write;

/// ANSI colour, only when asked for (a terminal, and `NO_COLOR` unset).
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

pub fn render_human(diagnostics: &[Diagnostic], files: &[SourceFile], color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    for d in diagnostics {
        render_one(&mut out, d, files, &style);
        out.push('\n');
    }
    out
}

fn render_one(out: &mut String, d: &Diagnostic, files: &[SourceFile], style: &Style) {
    let (word, color) = match d.severity() {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    let _ = writeln!(out, "{}{}", style.paint(color, &format!("{word}[{}]", d.code.id())), style.paint("1", &format!(": {}", d.message)));
    let Some(file) = d.file.and_then(|i| files.get(i)) else {
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  = {} {help}", style.paint("1", "help:"));
        }
        return;
    };
    let (line, col) = file.line_col(d.span.start);
    let (end_line, end_col) = file.line_col(d.span.end);
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    let blue = |s: &str| style.paint("1;34", s);
    let _ = writeln!(out, "{pad}{} {}:{line}:{col}", blue("-->"), file.name);
    let text = file.line_text(line);
    if !text.is_empty() || file.line_count() >= line {
        let _ = writeln!(out, "{pad} {}", blue("|"));
        let _ = writeln!(out, "{} {} {}", blue(&line.to_string()), blue("|"), text.replace('\t', " "));
        let width = if end_line == line { end_col.saturating_sub(col).max(1) } else { text.chars().count().saturating_sub(col - 1).max(1) };
        let caret = format!("{}{}", " ".repeat(col - 1), "^".repeat(width));
        let label = d.label.as_deref().map(|l| format!(" {l}")).unwrap_or_default();
        let _ = writeln!(out, "{pad} {} {}", blue("|"), style.paint(color, &format!("{caret}{label}")));
    }
    for note in &d.notes {
        let _ = writeln!(out, "{pad} {} {} {note}", blue("="), style.paint("1", "note:"));
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "{pad} {} {} {help}", blue("="), style.paint("1", "help:"));
    }
}

/// The last line of a run: `error: 2 errors and 1 warning in 3 files` or `ok: …`.
pub fn summary(errors: usize, warnings: usize, files: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors > 0 {
        format!("error: {} and {} in {} checked", plural(errors, "error"), plural(warnings, "warning"), plural(files, "file"))
    } else {
        format!("ok: {} checked, {}", plural(files, "file"), plural(warnings, "warning"))
    }
}

//END
