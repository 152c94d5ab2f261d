//! The YAML document as a tree in which every node keeps its source span.

use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String, ScalarKind),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// How a string was written: needed to map a position inside the string (a JSONata
/// error) back to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "boolean",
            NodeKind::Int(_) | NodeKind::Float(_) => "number",
            NodeKind::Str(..) => "string",
            NodeKind::Seq(_) => "list",
            NodeKind::Map(_) => "mapping",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Follows JSON Pointer segments (already unescaped).
    pub fn lookup<'a, S: AsRef<str>>(&'a self, segments: &[S]) -> Option<&'a Node> {
        let mut node = self;
        for segment in segments {
            let segment = segment.as_ref();
            node = match &node.kind {
                NodeKind::Map(entries) => &entries.iter().find(|e| e.key == segment)?.value,
                NodeKind::Seq(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The span of the key that holds the node at `segments` (for "unknown key" errors),
    /// or the node's own span where it has no key (a list item, the root).
    pub fn key_span<S: AsRef<str>>(&self, segments: &[S]) -> Option<Span> {
        let (last, parent) = segments.split_last()?;
        let parent = self.lookup(parent)?;
        match &parent.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == last.as_ref()).map(|e| e.key_span),
            NodeKind::Seq(items) => items.get(last.as_ref().parse::<usize>().ok()?).map(|n| n.span),
            _ => None,
        }
    }

    /// The document as JSON, for JSON Schema validation and typed deserialization.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            NodeKind::Str(s, _) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect()),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s, _) => Some(s),
            _ => None,
        }
    }
}
