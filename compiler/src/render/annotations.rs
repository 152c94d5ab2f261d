//! `--format github`: GitHub Actions workflow commands, one per problem, so a run
//! annotates the pull request at the YAML line that is wrong:
//!
//! ```text
//! ::error file=integrations/x/integration.yaml,line=34,col=1,endLine=34,endColumn=9,title=E0201::unknown key `pagnation` in the top level%0Ahelp: did you mean `pagination`?
//! ```
//!
//! As GitHub's toolkit does (`@actions/core`, `command.ts`), the message escapes `%`, CR and
//! LF as `%25`, `%0D`, `%0A`, and the properties escape `:` and `,` as `%3A`, `%2C` too.
//! Columns are given only when the place starts and ends on one line (GitHub ignores them
//! otherwise); `endColumn` is inclusive.

use super::place::{plain, LocatedDiagnostic, Location};
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::SourceFile;

/// Lines of one annotation's message at most; the log has the rest.
const MAX_LINES: usize = 60;

/// A workflow command's message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `switchyard check --format github`: one `::error` or `::warning` per diagnostic, titled
/// with its code. `root` is put in front of every file name (so that the path is relative
/// to the repository's root, where the workflow runs): empty, or a directory ending in `/`.
pub fn render_annotations(diagnostics: &[Diagnostic], files: &[SourceFile], root: &str) -> String {
    LocatedDiagnostic::all(diagnostics, files).iter().map(|d| diagnostic_command(d, root, d.diagnostic.code.id())).collect()
}

/// One diagnostic as a workflow command titled `title`.
pub fn diagnostic_command(d: &LocatedDiagnostic, root: &str, title: &str) -> String {
    let severity = match d.diagnostic.severity() {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    command(severity, d.location.as_ref(), root, title, &d.text())
}

/// `::<severity> file=…,line=…,col=…,endLine=…,endColumn=…,title=…::<message>` and a line break.
pub fn command(severity: &str, location: Option<&Location>, root: &str, title: &str, message: &str) -> String {
    let mut properties = Vec::new();
    if let Some(place) = location {
        properties.push(format!("file={}", escape_property(&format!("{root}{}", place.file))));
        if let Some(line) = place.line {
            properties.push(format!("line={line}"));
            match place.end_line {
                Some(end_line) if end_line != line => properties.push(format!("endLine={end_line}")),
                _ => {
                    if let Some(column) = place.column {
                        properties.push(format!("col={column}"));
                        properties.push(format!("endLine={line}"));
                        let end = place.end_column.map_or(column, |end| end.saturating_sub(1).max(column));
                        properties.push(format!("endColumn={end}"));
                    }
                }
            }
        }
    }
    properties.push(format!("title={}", escape_property(title)));
    let mut message: Vec<String> = plain(message).trim_end().lines().map(str::to_string).collect();
    if message.len() > MAX_LINES {
        let more = message.len() - MAX_LINES;
        message.truncate(MAX_LINES);
        message.push(format!("… ({more} more lines in the log)"));
    }
    format!("::{severity} {}::{}\n", properties.join(","), escape_data(&message.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_toolkit_does() {
        assert_eq!(escape_data("100% done\r\nnext: a,b"), "100%25 done%0D%0Anext: a,b");
        assert_eq!(escape_property("a/b.yaml: x,y%\n"), "a/b.yaml%3A x%2Cy%25%0A");
    }

    #[test]
    fn columns_only_on_one_line() {
        let one = Location { file: "a.yaml".into(), line: Some(3), column: Some(5), end_line: Some(3), end_column: Some(9) };
        assert_eq!(
            command("error", Some(&one), "", "E0201", "bad"),
            "::error file=a.yaml,line=3,col=5,endLine=3,endColumn=8,title=E0201::bad\n"
        );
        let two = Location { end_line: Some(4), ..one.clone() };
        assert_eq!(command("warning", Some(&two), "repo/", "t", "x\ny"), "::warning file=repo/a.yaml,line=3,endLine=4,title=t::x%0Ay\n");
        assert_eq!(command("error", Some(&Location::file("f.yaml")), "", "c: d", "m"), "::error file=f.yaml,title=c%3A d::m\n");
    }
}
