//! Shared functions: `functions:` in integration.yaml (callable from every expression of the
//! integration, its unified mappings included) and in unified/<model>.yaml (callable from that
//! file's expressions). Each is checked at its own place as one JSONata lambda with a name that
//! hides nothing; then every expression that calls some is stored with them bound in front of
//! it (`switchyard_registry::functions`), and functions nobody calls are warned about.

use super::expressions::check_expr;
use super::Ctx;
use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use indexmap::IndexMap;
use jsonata_core::ast::AstNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeSet;
use switchyard_registry::vocabulary::{JSONATA_FUNCTIONS, LIBRARY_FUNCTIONS};
use switchyard_registry::{functions as shared, Expr};

/// The bindings an expression may read (dsl.md, "JSONata inputs and bindings").
const BINDINGS: &[&str] = &["params", "query", "connection", "headers", "page"];

/// `functions` as written: name -> source.
pub type FunctionSources = IndexMap<String, String>;

/// Removes `functions` from a parsed definition (the registry's types have no place for it:
/// the compiler binds the functions into the expressions that call them) and returns it. The
/// schema has already checked its names and that each value is a string.
pub fn take_functions(json: &mut serde_json::Value) -> FunctionSources {
    let mut out = FunctionSources::new();
    if let Some(serde_json::Value::Object(functions)) = json.as_object_mut().and_then(|o| o.remove("functions")) {
        for (name, source) in functions {
            if let serde_json::Value::String(source) = source {
                out.insert(name, source);
            }
        }
    }
    out
}

/// One checked shared function.
#[derive(Debug, Clone)]
pub struct SharedFunction {
    pub source: String,
    /// The file it is declared in and the span of its name, for the unused warning.
    pub file: usize,
    pub key_span: Span,
}

/// The valid shared functions of one file, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct Functions {
    pub items: IndexMap<String, SharedFunction>,
}

impl Functions {
    /// `(name, source)` pairs, `outer`'s first: what an expression of this scope may call.
    pub fn scope<'a>(&'a self, outer: Option<&'a Functions>) -> Vec<(&'a str, &'a str)> {
        outer.into_iter().chain([self]).flat_map(|f| f.items.iter().map(|(n, f)| (n.as_str(), f.source.as_str()))).collect()
    }

    /// W0406 for each function that `used` does not name.
    pub fn warn_unused(&self, used: &BTreeSet<String>, out: &mut Vec<Diagnostic>) {
        for (name, function) in &self.items {
            if !used.contains(name) {
                out.push(
                    Diagnostic::new(Code::UnusedFunction, format!("the shared function `${name}` is never called"))
                        .at(function.file, function.key_span)
                        .label("never called")
                        .help(format!("remove it, or call it as `${name}(…)`")),
                );
            }
        }
    }
}

/// Checks the functions of the file of `ctx`. `outer`: the integration's, when the file is a
/// unified mapping. Functions with an error are left out of the result.
pub fn check_functions(ctx: &mut Ctx, sources: FunctionSources, outer: Option<&Functions>) -> Functions {
    let mut functions = Functions::default();
    for (name, source) in sources {
        let path = ["functions", name.as_str()];
        let before = ctx.diagnostics.len();
        let mut expr = Expr { source, origin: Default::default() };
        check_expr(ctx, &mut expr, &path);
        let mut ok = !ctx.diagnostics[before..].iter().any(Diagnostic::is_error);
        if ok && !is_lambda(&expr.source) {
            let span = ctx.span(&path);
            ctx.push(
                Diagnostic::new(Code::InvalidFunction, format!("`{name}` is not a function"))
                    .at(ctx.file, span)
                    .label("not a JSONata lambda")
                    .help("write one lambda, such as `function($x) { $x ? $x : null }`"),
            );
            ok = false;
        }
        if let Some(taken) = taken_by(&name, outer) {
            let span = ctx.key_span(&path);
            ctx.push(
                Diagnostic::new(Code::FunctionNameTaken, format!("`${name}` would hide {taken}"))
                    .at(ctx.file, span)
                    .label("name already taken")
                    .help("rename the function"),
            );
            ok = false;
        }
        if ok {
            let key_span = ctx.key_span(&path);
            functions.items.insert(name, SharedFunction { source: expr.source, file: ctx.file, key_span });
        }
    }
    functions
}

/// What `$name` already is, if anything.
fn taken_by(name: &str, outer: Option<&Functions>) -> Option<String> {
    if JSONATA_FUNCTIONS.contains(&name) {
        Some(format!("JSONata's function `${name}`"))
    } else if LIBRARY_FUNCTIONS.contains(&name) {
        Some(format!("the library function `${name}` (docs/functions.md)"))
    } else if BINDINGS.contains(&name) {
        Some(format!("the binding `${name}`"))
    } else if outer.is_some_and(|o| o.items.contains_key(name)) {
        Some(format!("the function `${name}` that integration.yaml shares"))
    } else {
        None
    }
}

/// Whether `source` (which parses) is one lambda.
fn is_lambda(source: &str) -> bool {
    matches!(std::panic::catch_unwind(|| jsonata_core::parser::parse(source)), Ok(Ok(AstNode::Lambda { .. })))
}

/// Every expression of `value` (a typed definition: each `{source, origin}` object of its JSON
/// form, wherever it is) that calls a function of `scope`: their names go into `used` and, with
/// `bind`, the functions are bound in front of the expression. Walking the JSON form rather than
/// the types keeps every place an expression can be in covered, including places added later.
/// `Err` is a bug: a bound expression that does not parse, or a definition that does not read
/// back.
pub fn bind_functions<T: Serialize + DeserializeOwned>(
    value: &mut T,
    scope: &[(&str, &str)],
    bind: bool,
    used: &mut BTreeSet<String>,
) -> Result<(), String> {
    if scope.is_empty() {
        return Ok(());
    }
    let mut json = serde_json::to_value(&*value).map_err(|e| e.to_string())?;
    let mut error = None;
    let mut changed = false;
    each_source(&mut json, &mut |source| {
        let called = shared::called(source, scope);
        used.extend(called.iter().map(|(name, _)| name.to_string()));
        if bind && !called.is_empty() {
            let bound = shared::bind(source, &called);
            if let Err(e) = crate::jsonata::check(&bound) {
                error.get_or_insert_with(|| format!("the expression with its shared functions does not parse: {}", e.message));
            }
            *source = bound;
            changed = true;
        }
    });
    if let Some(error) = error {
        return Err(error);
    }
    if changed {
        *value = serde_json::from_value(json).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn each_source(value: &mut serde_json::Value, f: &mut impl FnMut(&mut String)) {
    match value {
        // An expression: `{source, origin: {file, line, col}}` (a map of plain strings never is).
        serde_json::Value::Object(map) if map.len() == 2 && map.get("origin").is_some_and(|o| o.get("line").is_some()) => {
            if let Some(serde_json::Value::String(source)) = map.get_mut("source") {
                f(source);
            }
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| each_source(v, f)),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| each_source(v, f)),
        _ => {}
    }
}
