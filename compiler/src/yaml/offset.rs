//! Maps a position inside a string value back to the file, so an error inside a
//! JSONata block or a template points at its real line and column.

use super::node::{Node, NodeKind, ScalarKind};
use crate::source::SourceFile;

/// The character index in the file of character `offset` of the string `node` holds.
/// Exact for block scalars (`|`, `>` without blank lines) and for single-line plain or
/// quoted scalars without escapes; otherwise the closest place on the right line.
pub fn char_index(source: &SourceFile, node: &Node, offset: usize) -> usize {
    let NodeKind::Str(_, kind) = &node.kind else {
        return node.span.start;
    };
    match kind {
        ScalarKind::Literal | ScalarKind::Folded => block(source, node, offset),
        ScalarKind::Plain => (node.span.start + offset).min(node.span.end.max(node.span.start)),
        ScalarKind::SingleQuoted | ScalarKind::DoubleQuoted => {
            (node.span.start + 1 + offset).min(node.span.end.saturating_sub(1).max(node.span.start))
        }
    }
}

fn block(source: &SourceFile, node: &Node, offset: usize) -> usize {
    // The span starts at the `|` or `>` indicator, or (depending on the parser) at the
    // first content line.
    let (start_line, start_col) = source.line_col(node.span.start);
    let at_indicator = source.line_text(start_line).chars().nth(start_col - 1).is_some_and(|c| c == '|' || c == '>');
    let first = if at_indicator { start_line + 1 } else { start_line };
    // The block's indentation is that of its first non-blank line.
    let indent = (first..=source.line_count())
        .map(|l| source.line_text(l))
        .find(|t| !t.trim().is_empty())
        .map(|t| t.chars().take_while(|c| *c == ' ').count())
        .unwrap_or(0);
    let mut remaining = offset;
    let mut line = first;
    while line <= source.line_count() {
        let text = source.line_text(line);
        let content_len = text.chars().count().saturating_sub(indent);
        if remaining <= content_len {
            return source.char_index(line, indent + remaining + 1);
        }
        remaining -= content_len + 1;
        line += 1;
    }
    node.span.end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{load, Limits};

    #[test]
    fn block_scalar_offsets_land_on_their_line() {
        let text = "a:\n  expr: |\n    { \"x\": 1,\n      \"y\": ] }\n  other: 1\n";
        let file = SourceFile::new("t", "t", text);
        let (node, _) = load(0, &file, &Limits::default());
        let node = node.unwrap();
        let expr = node.lookup(&["a", "expr"]).unwrap();
        let value = expr.as_str().unwrap();
        let offset = value.chars().position(|c| c == ']').unwrap();
        assert_eq!(file.line_col(char_index(&file, expr, offset)), (4, 12));
    }

    #[test]
    fn quoted_and_plain_offsets() {
        let text = "a: \"x {{y\"\nb: p {{q\n";
        let file = SourceFile::new("t", "t", text);
        let (node, _) = load(0, &file, &Limits::default());
        let node = node.unwrap();
        assert_eq!(file.line_col(char_index(&file, node.lookup(&["a"]).unwrap(), 2)), (1, 7));
        assert_eq!(file.line_col(char_index(&file, node.lookup(&["b"]).unwrap(), 2)), (2, 6));
    }
}
