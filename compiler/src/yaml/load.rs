//! Builds the spanned tree from parser events, enforcing limits as it goes so that a
//! hostile file (alias bomb, deep nesting, huge size) costs bounded time and memory.

use super::node::{Entry, Node, NodeKind, ScalarKind};
use super::scalar::resolve_plain;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span};
use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, StrInput};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    /// Nodes in the document after alias expansion.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 4 * 1024 * 1024, max_depth: 64, max_nodes: 250_000 }
    }
}

/// Loads one YAML file. Returns the tree (if one could be built) and every problem
/// found; a problem that stops loading is the last diagnostic and the tree is `None`.
pub fn load(file: usize, source: &SourceFile, limits: &Limits) -> (Option<Node>, Vec<Diagnostic>) {
    if source.text.len() > limits.max_bytes {
        let d = Diagnostic::new(
            Code::FileTooLarge,
            format!("file is {} bytes, over the limit of {} bytes", source.text.len(), limits.max_bytes),
        )
        .at(file, Span::point(0))
        .help("definitions are small: split the file, or check that it is the file you meant");
        return (None, vec![d]);
    }
    let mut loader = Loader {
        parser: Parser::new_from_str(&source.text),
        file,
        source,
        limits,
        anchors: HashMap::new(),
        nodes: 0,
        diagnostics: Vec::new(),
        depth: 0,
        open: Vec::new(),
        chars: source.text.chars().count(),
    };
    match loader.document() {
        Ok(node) => (node, loader.diagnostics),
        Err(fatal) => {
            loader.diagnostics.push(fatal);
            (None, loader.diagnostics)
        }
    }
}

struct Loader<'a> {
    parser: Parser<'a, StrInput<'a>>,
    file: usize,
    source: &'a SourceFile,
    limits: &'a Limits,
    /// Anchored nodes with their size in nodes, so an alias is charged what it expands to.
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    diagnostics: Vec<Diagnostic>,
    /// Depth of the node being read, and where each open collection starts with its
    /// depth: to place a "too deep" error found by the scanner ahead of the events.
    depth: usize,
    open: Vec<(usize, usize)>,
    /// The text's length in characters: no span may point past it.
    chars: usize,
}

type Fatal = Diagnostic;

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Fatal> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, Span::new(span.start.index().min(self.chars), span.end.index().min(self.chars)))),
            Some(Err(error)) => Err(self.syntax_error(&error)),
            None => Err(Diagnostic::new(Code::YamlSyntax, "unexpected end of the YAML stream")
                .at(self.file, Span::point(self.source.text.chars().count()))),
        }
    }

    fn document(&mut self) -> Result<Option<Node>, Fatal> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return Err(Diagnostic::new(Code::UnsupportedYaml, "a second YAML document in one file")
                            .at(self.file, span)
                            .label("second document starts here")
                            .help(
                                "a definition file holds one document: remove the `---` line and what follows, or move it to its own file",
                            ));
                    }
                    let (event, span) = self.next()?;
                    root = Some(self.node(event, span, 0)?);
                }
                Event::DocumentEnd => {}
                _ => return Err(Diagnostic::new(Code::YamlSyntax, "unexpected YAML event outside a document").at(self.file, span)),
            }
        }
        match root {
            Some(node) if !(node.kind == NodeKind::Null && is_blank(&self.source.text)) => Ok(Some(node)),
            _ => Err(Diagnostic::new(Code::EmptyFile, "the file holds no YAML document")
                .at(self.file, Span::point(0))
                .help("write the definition here (see docs/dsl.md), or delete the file")),
        }
    }

    fn count(&mut self, span: Span, amount: usize) -> Result<(), Fatal> {
        self.nodes += amount;
        if self.nodes > self.limits.max_nodes {
            return Err(Diagnostic::new(Code::AliasLimit, format!("the document expands to more than {} nodes", self.limits.max_nodes))
                .at(self.file, span)
                .label("limit reached here")
                .help("this looks like an alias bomb: write the values out instead of nesting aliases"));
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, span: Span, depth: usize) -> Result<Node, Fatal> {
        if depth > self.limits.max_depth {
            return Err(Diagnostic::new(Code::TooDeep, format!("the document nests deeper than {} levels", self.limits.max_depth))
                .at(self.file, span)
                .label("too deep here")
                .help("definitions never need this depth: flatten the structure"));
        }
        let start_nodes = self.nodes;
        self.count(span, 1)?;
        self.depth = depth;
        let tag = match &event {
            Event::Scalar(_, _, _, tag) | Event::SequenceStart(_, tag) | Event::MappingStart(_, tag) => tag.as_deref(),
            _ => None,
        };
        if let Some(tag) = tag.filter(|t| !t.is_yaml_core_schema()) {
            return Err(Diagnostic::new(Code::UnsupportedYaml, format!("custom YAML tag `{}{}`", tag.handle, tag.suffix))
                .at(self.file, self.tag_span(span))
                .label("tag not supported")
                .help("definitions are plain YAML: remove the tag and write the value itself"));
        }
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let kind = match style {
                    ScalarStyle::Plain => resolve_plain(&text),
                    ScalarStyle::SingleQuoted => NodeKind::Str(text.into_owned(), ScalarKind::SingleQuoted),
                    ScalarStyle::DoubleQuoted => NodeKind::Str(text.into_owned(), ScalarKind::DoubleQuoted),
                    ScalarStyle::Literal => NodeKind::Str(text.into_owned(), ScalarKind::Literal),
                    ScalarStyle::Folded => NodeKind::Str(text.into_owned(), ScalarKind::Folded),
                };
                (Node { span, kind }, anchor)
            }
            Event::SequenceStart(anchor, _tag) => {
                self.open.push((span.start, depth));
                let mut items = Vec::new();
                let end = loop {
                    let (event, item_span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break item_span.end;
                    }
                    items.push(self.node(event, item_span, depth + 1)?);
                };
                self.open.pop();
                (Node { span: Span::new(span.start, end), kind: NodeKind::Seq(items) }, anchor)
            }
            Event::MappingStart(anchor, _tag) => {
                self.open.push((span.start, depth));
                let mut entries: Vec<Entry> = Vec::new();
                let end = loop {
                    let (event, key_span) = self.next()?;
                    if let Event::MappingEnd = event {
                        break key_span.end;
                    }
                    let key_node = self.node(event, key_span, depth + 1)?;
                    let key = match key_node.kind {
                        NodeKind::Str(s, _) => s,
                        NodeKind::Null => String::new(),
                        NodeKind::Bool(b) => b.to_string(),
                        NodeKind::Int(i) => i.to_string(),
                        NodeKind::Float(_) => self.source_slice(key_node.span).to_string(),
                        NodeKind::Seq(_) | NodeKind::Map(_) => {
                            return Err(Diagnostic::new(Code::UnsupportedYaml, "a mapping key must be a plain string")
                                .at(self.file, key_node.span)
                                .label("complex key")
                                .help("use a string key"));
                        }
                    };
                    let (event, value_span) = self.next()?;
                    let value = self.node(event, value_span, depth + 1)?;
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        let (line, col) = self.source.line_col(first.key_span.start);
                        self.diagnostics.push(
                            Diagnostic::new(Code::DuplicateKey, format!("duplicate key `{key}`"))
                                .at(self.file, key_node.span)
                                .label("defined again here")
                                .note(format!("first defined at {}:{line}:{col}", self.source.name))
                                .help("remove one of the two, or rename it"),
                        );
                        continue;
                    }
                    entries.push(Entry { key, key_span: key_node.span, value });
                };
                self.open.pop();
                (Node { span: Span::new(span.start, end), kind: NodeKind::Map(entries) }, anchor)
            }
            Event::Alias(id) => {
                self.nodes -= 1;
                let Some((node, size)) = self.anchors.get(&id).cloned() else {
                    return Err(Diagnostic::new(Code::YamlSyntax, "alias to an unknown anchor").at(self.file, span));
                };
                self.count(span, size)?;
                return Ok(Node { span, kind: node.kind });
            }
            other => {
                return Err(Diagnostic::new(Code::YamlSyntax, format!("unexpected YAML event {other:?}")).at(self.file, span));
            }
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), self.nodes - start_nodes));
        }
        Ok(node)
    }

    /// The flow bracket at which the nesting passes the limit. The outermost open bracket
    /// has the depth its collection was read at, or (if the parser has not reached it
    /// yet) the depth of the node being read.
    fn first_too_deep_bracket(&self) -> Option<usize> {
        let brackets = open_flow_run(&self.source.text, self.limits.max_depth + 2);
        let first = *brackets.first()?;
        let first_depth = self.open.iter().find(|(start, _)| *start == first).map_or(self.depth, |(_, d)| *d);
        brackets.get((self.limits.max_depth + 1).checked_sub(first_depth)?).copied()
    }

    /// The span of a tag written before a node (the parser's span starts at the node).
    fn tag_span(&self, node: Span) -> Span {
        let chars: Vec<char> = self.source.text.chars().take(node.start + 1).collect();
        let line_start = chars.iter().rposition(|c| *c == '\n').map_or(0, |p| p + 1);
        match chars[line_start..].iter().rposition(|c| *c == '!') {
            Some(bang) => {
                let start = line_start + bang;
                let len = self.source.text.chars().skip(start).take_while(|c| !c.is_whitespace()).count();
                Span::new(start, start + len)
            }
            None => node,
        }
    }

    fn source_slice(&self, span: Span) -> String {
        self.source.text.chars().skip(span.start).take(span.end - span.start).collect()
    }

    fn syntax_error(&self, error: &ScanError) -> Diagnostic {
        let marker = error.marker();
        // The scanner's index can run past the end on some inputs (found by fuzzing).
        let at = marker.index().min(self.chars);
        let (line, _) = self.source.line_col(at);
        if let Some(tab) = self.indentation_tab(line) {
            return Diagnostic::new(Code::TabIndentation, "tab character used for indentation")
                .at(self.file, Span::new(tab, tab + 1))
                .label("tab")
                .help("YAML indentation must use spaces: replace the tab with spaces");
        }
        if error.info().contains("recursion limit") {
            // The scanner stops at its own limit; point at the level where ours is passed.
            let at = self.first_too_deep_bracket().unwrap_or(at);
            return Diagnostic::new(Code::TooDeep, format!("the document nests deeper than {} levels", self.limits.max_depth))
                .at(self.file, Span::point(at))
                .label("too deep here")
                .help("definitions never need this depth: flatten the structure");
        }
        if let Some(open) = unclosed_flow(&self.source.text, at) {
            let c = self.source.text.chars().nth(open).unwrap_or('[');
            let closing = if c == '[' { ']' } else { '}' };
            let (l, col) = self.source.line_col(at);
            return Diagnostic::new(Code::YamlSyntax, format!("this `{c}` is never closed"))
                .at(self.file, Span::new(open, open + 1))
                .label("unclosed")
                .note(format!("the parser stopped at {l}:{col}: {}", error.info()))
                .help(format!("close it with `{closing}` before the line ends, or write the list as a block (one `- item` per line)"));
        }
        Diagnostic::new(Code::YamlSyntax, error.info().to_string())
            .at(self.file, Span::point(at))
            .help("check the indentation, quotes and brackets on this line and the one before")
    }

    /// The character index of a tab in the indentation of `line` or the line before it.
    fn indentation_tab(&self, line: usize) -> Option<usize> {
        for candidate in [line, line.saturating_sub(1)] {
            if candidate == 0 {
                continue;
            }
            let text = self.source.line_text(candidate);
            let indent: String = text.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            if let Some(col) = indent.find('\t') {
                return Some(self.source.char_index(candidate, col + 1));
            }
        }
        None
    }
}

/// Walks flow brackets outside quotes and comments, calling `visit` with the stack of
/// open brackets after each opening one; stops at `until` (a character index).
fn walk_flow(text: &str, until: usize, mut visit: impl FnMut(&[usize]) -> bool) -> Vec<usize> {
    let mut open = Vec::new();
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut previous = '\n';
    for (i, c) in text.chars().enumerate().take(until) {
        match (quote, c) {
            (_, '\n') => {
                comment = false;
            }
            _ if comment => {}
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '#') if previous.is_whitespace() => comment = true,
            (None, '"' | '\'') if previous.is_whitespace() || "[{,:".contains(previous) => quote = Some(c),
            (None, '[' | '{') => {
                open.push(i);
                if visit(&open) {
                    return open;
                }
            }
            (None, ']' | '}') => {
                open.pop();
            }
            _ => {}
        }
        previous = c;
    }
    open
}

/// The innermost flow bracket still open at `until`.
fn unclosed_flow(text: &str, until: usize) -> Option<usize> {
    walk_flow(text, until, |_| false).last().copied()
}

/// The first flow brackets of the outermost run still open, up to `n` of them.
fn open_flow_run(text: &str, n: usize) -> Vec<usize> {
    walk_flow(text, usize::MAX, |open| open.len() >= n)
}

fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
        let file = SourceFile::new("t.yaml", "t.yaml", text);
        load(0, &file, &Limits::default())
    }

    fn first_code(text: &str) -> Code {
        run(text).1.first().expect("a diagnostic").code
    }

    #[test]
    fn spans_and_values() {
        let (node, diags) = run("a: 1\nb:\n  - x\n  - 'y'\n");
        assert!(diags.is_empty());
        let node = node.unwrap();
        assert_eq!(node.to_json(), serde_json::json!({"a": 1, "b": ["x", "y"]}));
        assert_eq!(node.key_span(&["b"]).unwrap(), Span::new(5, 6));
    }

    #[test]
    fn hostile_inputs_are_errors() {
        assert_eq!(first_code(""), Code::EmptyFile);
        assert_eq!(first_code("# only a comment\n"), Code::EmptyFile);
        assert_eq!(first_code("a: 1\na: 2\n"), Code::DuplicateKey);
        assert_eq!(first_code("a:\n\tb: 1\n"), Code::TabIndentation);
        assert_eq!(first_code("a: [1, 2\n"), Code::YamlSyntax);
        assert_eq!(first_code("a: !include other.yaml\n"), Code::UnsupportedYaml);
        // Found by fuzzing: the scanner's position ran past the end of the text.
        let (_, diagnostics) = run("%\u{10AC0}}}\n}");
        assert!(diagnostics.iter().all(|d| d.span.end <= 6), "{diagnostics:?}");
        assert!(run("a: !!str 12\n").1.is_empty());
        assert_eq!(first_code("a: 1\n---\nb: 2\n"), Code::UnsupportedYaml);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(first_code(&deep), Code::TooDeep);
        let deep_block: String = (0..2_000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(first_code(&deep_block), Code::TooDeep);
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 { "a".to_string() } else { format!("b{}", i - 1) };
            bomb.push_str(&format!(
                "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        assert_eq!(first_code(&bomb), Code::AliasLimit);
    }
}
