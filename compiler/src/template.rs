//! The placeholder language inside definition strings: `https://{{connection.shop}}.myshopify.com`.
//!
//! Parsed with a pest grammar (`template.pest`); errors are turned into one precise
//! message about the placeholder at fault rather than pest's list of expected rules.

use pest::Parser;
use pest_derive::Parser;
use switchyard_registry::{Scope, Segment, Template};

#[derive(Parser)]
#[grammar = "template.pest"]
struct TemplateGrammar;

/// A placeholder as written, before its scope is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawVar {
    pub scope: String,
    pub field: Vec<String>,
    /// Character offsets of the whole `{{…}}` within the template string.
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Var(RawVar),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub message: String,
    pub help: String,
    /// Character offsets within the template string.
    pub start: usize,
    pub end: usize,
}

pub fn parse(source: &str) -> Result<Vec<Piece>, TemplateError> {
    let pairs = match TemplateGrammar::parse(Rule::template, source) {
        Ok(pairs) => pairs,
        Err(error) => {
            let byte = match error.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((s, _)) => s,
            };
            return Err(explain(source, byte));
        }
    };
    let mut pieces = Vec::new();
    for pair in pairs.flatten() {
        match pair.as_rule() {
            Rule::text => pieces.push(Piece::Text(pair.as_str().to_string())),
            Rule::placeholder => {
                let span = pair.as_span();
                let path = pair.into_inner().next().expect("grammar: placeholder holds a path");
                let mut idents = path.as_str().split('.').map(str::to_string);
                let scope = idents.next().unwrap_or_default();
                pieces.push(Piece::Var(RawVar {
                    scope,
                    field: idents.collect(),
                    start: char_offset(source, span.start()),
                    end: char_offset(source, span.end()),
                }));
            }
            _ => {}
        }
    }
    Ok(pieces)
}

/// Turns pieces whose scopes were checked into the compiled form.
pub fn compile(source: &str, pieces: &[Piece]) -> Template {
    let segments = pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Text(t) => Some(Segment::Text(t.clone())),
            Piece::Var(v) => Scope::from_name(&v.scope).map(|scope| Segment::Var { scope, field: v.field.clone() }),
        })
        .collect();
    Template { source: source.to_string(), segments }
}

fn char_offset(source: &str, byte: usize) -> usize {
    source[..byte.min(source.len())].chars().count()
}

/// Finds the placeholder around the failure and says what is wrong with it.
fn explain(source: &str, failed_at: usize) -> TemplateError {
    // The grammar fails at the start of the piece it could not read: find the `{{` or
    // `}}` there, or the last `{{` before it.
    let opening = source[..failed_at.min(source.len())].rfind("{{").filter(|&o| !source[o..failed_at].contains("}}"));
    let at = opening.unwrap_or(failed_at);
    let rest = &source[at..];
    let (message, help, len) = if rest.starts_with("}}") {
        ("`}}` without an opening `{{`".to_string(), "remove the stray `}}`".to_string(), 2)
    } else if let Some(close) = rest.find("}}") {
        let inner = &rest[2..close];
        let trimmed = inner.trim();
        let problem = if trimmed.is_empty() {
            "an empty placeholder".to_string()
        } else if !trimmed.contains('.') {
            format!("placeholder `{{{{{trimmed}}}}}` has no field")
        } else if trimmed.split('.').any(str::is_empty) {
            format!("placeholder `{{{{{trimmed}}}}}` has an empty name around a `.`")
        } else if inner.contains("{{") {
            "a `{{` inside a placeholder".to_string()
        } else {
            format!("placeholder `{{{{{trimmed}}}}}` holds characters a name cannot have")
        };
        (problem, "write `{{scope.field}}`, e.g. `{{connection.shop}}`: names of letters, digits and `_`".to_string(), close + 2)
    } else {
        ("placeholder opened with `{{` is never closed".to_string(), "close it with `}}`".to_string(), rest.len())
    };
    let start = char_offset(source, at);
    TemplateError { message, help, start, end: start + rest[..len].chars().count() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(scope: &str, field: &[&str], start: usize, end: usize) -> Piece {
        Piece::Var(RawVar { scope: scope.into(), field: field.iter().map(|s| s.to_string()).collect(), start, end })
    }

    #[test]
    fn parses_text_and_placeholders() {
        assert_eq!(
            parse("https://{{ connection.shop }}.myshopify.com").unwrap(),
            vec![Piece::Text("https://".into()), var("connection", &["shop"], 8, 29), Piece::Text(".myshopify.com".into())]
        );
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("é{{params.id}}").unwrap(), vec![Piece::Text("é".into()), var("params", &["id"], 1, 14)]);
    }

    #[test]
    fn explains_malformed_placeholders() {
        let cases = [
            ("a {{connection.shop", "never closed", 2),
            ("a {{}} b", "empty placeholder", 2),
            ("{{connection}}", "has no field", 0),
            ("x {{connection.}}", "empty name", 2),
            ("{{connection.sh op}}", "characters a name cannot have", 0),
            ("a }} b", "without an opening", 2),
        ];
        for (source, expected, start) in cases {
            let error = parse(source).unwrap_err();
            assert!(error.message.contains(expected), "{source}: {}", error.message);
            assert_eq!(error.start, start, "{source}");
        }
    }
}
