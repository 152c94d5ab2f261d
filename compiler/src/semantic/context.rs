//! What every semantic check needs: the file, its tree, what the definition declares,
//! and where to push diagnostics.

use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span};
use crate::yaml::Node;
use indexmap::IndexMap;
use std::collections::BTreeSet;

/// Names the definition declares, against which placeholders are checked.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    pub connection: Vec<String>,
    pub credentials: Vec<String>,
    /// Connection fields some template or token-response `store` uses.
    pub used_connection: BTreeSet<String>,
    /// `params` each provider method uses: (resource, method) -> names.
    pub method_params: IndexMap<(String, String), Vec<String>>,
}

pub struct Ctx<'a> {
    pub file: usize,
    /// The file's name as stored in expression origins (relative, `/`-separated).
    pub origin_name: String,
    pub source: &'a SourceFile,
    pub root: &'a Node,
    pub declared: Declared,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: usize, origin_name: String, source: &'a SourceFile, root: &'a Node) -> Ctx<'a> {
        Ctx { file, origin_name, source, root, declared: Declared::default(), diagnostics: Vec::new() }
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The span of the value at `path`, or of the nearest ancestor that exists (a
    /// defaulted value has no span of its own).
    pub fn span(&self, path: &[&str]) -> Span {
        for len in (0..=path.len()).rev() {
            if let Some(node) = self.root.lookup(&path[..len]) {
                return node.span;
            }
        }
        self.root.span
    }

    /// The span of the key that holds `path`, or of the value if it has no key.
    pub fn key_span(&self, path: &[&str]) -> Span {
        for len in (1..=path.len()).rev() {
            if let Some(span) = self.root.key_span(&path[..len]) {
                return span;
            }
        }
        self.root.span
    }

    pub fn node(&self, path: &[&str]) -> Option<&'a Node> {
        self.root.lookup(path)
    }
}
