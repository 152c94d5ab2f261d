//! The adapter itself: a parsed expression shared between threads, and one evaluator per call.

use super::compiled::{self, Stop, V};
use super::convert::{self, ConvertError};
use super::error::{MappingError, MappingErrorKind};
use super::functions::{self, Call, Function};
use super::{Bindings, EvalOptions};
use crate::registry::functions::mentioned_names;
use crate::registry::{Expr, Origin};
use crate::spread;
use jsonata_core::ast::AstNode;
use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError, EvaluatorOptions};
use jsonata_core::value::JValue;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

/// A parsed JSONata expression with the place it was written. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Mapping {
    inner: Arc<Inner>,
}

struct Inner {
    ast: AstNode,
    source: String,
    origin: Origin,
    /// Every `$name` the source mentions (an over-approximation: names inside strings count).
    /// Bindings and library functions it does not mention are left out of the evaluator.
    names: BTreeSet<String>,
    /// `$eval` can reach any name, so everything is provided.
    everything: bool,
    /// The fast path, when every node of the expression is one it supports.
    compiled: Option<compiled::Program>,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("origin", &self.inner.origin).field("source", &self.inner.source).finish()
    }
}

impl Mapping {
    /// Parses the expression. The compiler has already checked its syntax, so an error here
    /// means the registry was not produced by `switchyard compile`.
    pub fn compile(expr: &Expr) -> Result<Mapping, MappingError> {
        Self::parse(&expr.source, &expr.origin)
    }

    /// Parses source text written at `origin`.
    pub fn parse(source: &str, origin: &Origin) -> Result<Mapping, MappingError> {
        let parsed = catch_unwind(|| jsonata_core::parser::parse(source));
        let ast = match parsed {
            Ok(Ok(ast)) => ast,
            Ok(Err(error)) => return Err(MappingError::syntax(&error.to_string(), origin)),
            Err(_) => {
                return Err(MappingError::new(MappingErrorKind::Internal, None, "the JSONata parser failed on this expression", origin))
            }
        };
        let names = mentioned_names(source);
        let everything = names.contains("eval");
        let compiled = if everything { None } else { compiled::compile(&ast) };
        Ok(Mapping { inner: Arc::new(Inner { ast, source: source.to_string(), origin: origin.clone(), names, everything, compiled }) })
    }

    /// Whether the expression runs on the compiled fast path (evaluated straight over
    /// `serde_json::Value`, falling back to the engine case by case), rather than on the engine
    /// for every evaluation.
    pub fn is_compiled(&self) -> bool {
        self.inner.compiled.is_some()
    }

    /// The same expression without the fast path: every evaluation on the engine. For tests
    /// that compare the two.
    #[doc(hidden)]
    pub fn interpreted(&self) -> Mapping {
        let inner = &self.inner;
        Mapping {
            inner: Arc::new(Inner {
                ast: inner.ast.clone(),
                source: inner.source.clone(),
                origin: inner.origin.clone(),
                names: inner.names.clone(),
                everything: inner.everything,
                compiled: None,
            }),
        }
    }

    /// The fast path alone, for tests: `None` when the expression is not compiled or this
    /// evaluation falls back to the engine; otherwise its compact JSON text, or a limit error.
    #[doc(hidden)]
    pub fn evaluate_compiled(
        &self,
        input: &serde_json::Value,
        bindings: &Bindings,
        options: &EvalOptions,
    ) -> Option<Result<String, MappingError>> {
        let program = self.inner.compiled.as_ref()?;
        let cancelled = cancel_check(options);
        let mut session = compiled::Session::new(program, bindings, options, &cancelled)?;
        let mut out = String::new();
        match session.run(input, false).and_then(|v| session.write_json(&v, &mut out)) {
            Ok(()) => Some(Ok(out)),
            Err(Stop::Fallback) => None,
            Err(Stop::Limit(message)) => Some(Err(self.limit_error(message))),
        }
    }

    /// [`Self::evaluate_compiled`] on JSON text parsed straight into the fast path's values
    /// (what [`evaluate_json_str`] and [`evaluate_each_json_text`] do first), for tests.
    #[doc(hidden)]
    pub fn evaluate_compiled_text(&self, input: &str, bindings: &Bindings, options: &EvalOptions) -> Option<Result<String, MappingError>> {
        let program = self.inner.compiled.as_ref()?;
        let cancelled = cancel_check(options);
        let input = compiled::parse_values(input, options.limits.max_input_depth)?;
        let mut session = compiled::Session::new(program, bindings, options, &cancelled)?;
        let mut out = String::new();
        match session.run_parsed(&input).and_then(|v| session.write_json(&v, &mut out)) {
            Ok(()) => Some(Ok(out)),
            Err(Stop::Fallback) => None,
            Err(Stop::Limit(message)) => Some(Err(self.limit_error(message))),
        }
    }

    /// [`Self::evaluate_compiled`] with no input ([`evaluate_without_input`]'s fast path).
    #[doc(hidden)]
    pub fn evaluate_compiled_without_input(&self, bindings: &Bindings, options: &EvalOptions) -> Option<Result<String, MappingError>> {
        let program = self.inner.compiled.as_ref()?;
        let cancelled = cancel_check(options);
        let mut session = compiled::Session::new(program, bindings, options, &cancelled)?;
        let mut out = String::new();
        match session.run_parsed(&V::Undef).and_then(|v| session.write_json(&v, &mut out)) {
            Ok(()) => Some(Ok(out)),
            Err(Stop::Fallback) => None,
            Err(Stop::Limit(message)) => Some(Err(self.limit_error(message))),
        }
    }

    fn limit_error(&self, message: String) -> MappingError {
        MappingError::from_engine(&EvaluatorError::EvaluationError(message), &self.inner.origin)
    }

    pub fn origin(&self) -> &Origin {
        &self.inner.origin
    }

    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Whether the expression may read the binding `$name` (true when it cannot be told, e.g.
    /// `$lookup($$, …)`), so a caller can skip building a binding nobody reads.
    pub fn mentions(&self, name: &str) -> bool {
        self.inner.everything || self.inner.names.contains(name)
    }

    fn error(&self, kind: MappingErrorKind, message: impl Into<String>) -> MappingError {
        MappingError::new(kind, None, message, &self.inner.origin)
    }

    fn convert_error(&self, error: ConvertError, what: &str, limit: usize) -> MappingError {
        match error {
            ConvertError::TooDeep if what == "result" => {
                self.error(MappingErrorKind::OutputTooDeep, format!("the result nests deeper than {limit} levels"))
            }
            ConvertError::TooDeep => self.error(MappingErrorKind::InputTooDeep, format!("{what} nests deeper than {limit} levels")),
            ConvertError::Invalid(message) => self.error(MappingErrorKind::InvalidInput, format!("{what} is not valid JSON: {message}")),
        }
    }
}

/// Whether the caller's cancel token has fired.
fn cancel_check(options: &EvalOptions) -> impl Fn() -> bool + '_ {
    move || options.cancel.as_ref().is_some_and(|token| token.is_cancelled())
}

/// One evaluator for one call: bindings converted, library registered, limits set.
struct Session<'m> {
    mapping: &'m Mapping,
    evaluator: Evaluator,
    call: Rc<Call>,
    result_depth: usize,
}

impl<'m> Session<'m> {
    fn new(mapping: &'m Mapping, bindings: &Bindings, options: &EvalOptions) -> Result<Self, MappingError> {
        let limits = &options.limits;
        let mut context = Context::new();
        for (name, value) in bindings.iter() {
            if mapping.mentions(name) {
                let value = convert::from_value(value, limits.max_input_depth)
                    .map_err(|e| mapping.convert_error(e, &format!("the binding `${name}`"), limits.max_input_depth))?;
                context.bind(name.to_string(), value);
            }
        }
        let engine_options = EvaluatorOptions {
            timeout_ms: Some(limits.timeout_ms),
            cancel: Some(options.cancel.clone().unwrap_or_default().0),
            max_stack_depth: Some(limits.max_stack_depth),
            max_sequence_length: Some(limits.max_sequence_length),
        };
        let call = Rc::new(Call::new(engine_options.clone(), limits.max_input_depth));
        let mut evaluator = Evaluator::with_options(context, engine_options);
        for function in functions::all() {
            if mapping.mentions(function.name) {
                register(&mut evaluator, function, &call);
            }
        }
        if let Some(now) = options.now_millis {
            if mapping.mentions("now") || mapping.mentions("millis") {
                functions::clock::freeze(&mut evaluator, now, &call);
            }
        }
        Ok(Session { mapping, evaluator, call, result_depth: limits.max_input_depth.saturating_mul(2) })
    }

    fn run(&mut self, input: &JValue) -> Result<JValue, MappingError> {
        self.call.start();
        let Session { mapping, evaluator, .. } = self;
        let ast = &mapping.inner.ast;
        match catch_unwind(AssertUnwindSafe(|| evaluator.evaluate(ast, input))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(MappingError::from_engine(&error, &mapping.inner.origin)),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(mapping.error(MappingErrorKind::Internal, format!("the JSONata engine failed: {detail}")))
            }
        }
    }

    fn to_value(&self, value: &JValue) -> Result<serde_json::Value, MappingError> {
        convert::to_value(value, self.result_depth).map_err(|e| self.mapping.convert_error(e, "result", self.result_depth))
    }
}

fn register(evaluator: &mut Evaluator, function: &'static Function, call: &Rc<Call>) {
    let call = Rc::clone(call);
    let implementation = function.call;
    let result =
        evaluator.register_fn(function.name, move |args: &[JValue]| -> Result<JValue, EvaluatorError> { implementation(args, &call) });
    debug_assert!(result.is_ok(), "library function ${} collides with a built-in", function.name);
}

/// Evaluates `mapping` on `input`. An undefined result (nothing matched) is `null`.
pub fn evaluate(
    mapping: &Mapping,
    input: &serde_json::Value,
    bindings: &Bindings,
    options: &EvalOptions,
) -> Result<serde_json::Value, MappingError> {
    if let Some(program) = &mapping.inner.compiled {
        let cancelled = cancel_check(options);
        if let Some(mut fast) = compiled::Session::new(program, bindings, options, &cancelled) {
            match fast.run(input, false).and_then(|v| fast.to_value(&v)) {
                Ok(value) => return Ok(value),
                Err(Stop::Limit(message)) => return Err(mapping.limit_error(message)),
                Err(Stop::Fallback) => {}
            }
        }
    }
    let mut session = Session::new(mapping, bindings, options)?;
    let depth = options.limits.max_input_depth;
    let input = convert::from_value(input, depth).map_err(|e| mapping.convert_error(e, "the input", depth))?;
    let result = session.run(&input)?;
    session.to_value(&result)
}

/// JSON text in, compact JSON text out, with object keys in the order the mapping writes
/// them and numbers written as JavaScript writes them. An undefined result is `null`.
pub fn evaluate_json_str(mapping: &Mapping, input: &str, bindings: &Bindings, options: &EvalOptions) -> Result<String, MappingError> {
    if let Some(program) = &mapping.inner.compiled {
        let cancelled = cancel_check(options);
        if let Some(value) = compiled::parse_values(input, options.limits.max_input_depth) {
            if let Some(mut fast) = compiled::Session::new(program, bindings, options, &cancelled) {
                let mut out = String::new();
                match fast.run_parsed(&value).and_then(|v| fast.write_json(&v, &mut out)) {
                    Ok(()) => return Ok(out),
                    Err(Stop::Limit(message)) => return Err(mapping.limit_error(message)),
                    Err(Stop::Fallback) => {}
                }
            }
        } else if let Some(value) = compiled::parse(input, options.limits.max_input_depth) {
            if let Some(mut fast) = compiled::Session::new(program, bindings, options, &cancelled) {
                let mut out = String::new();
                match fast.run(&value, true).and_then(|v| fast.write_json(&v, &mut out)) {
                    Ok(()) => return Ok(out),
                    Err(Stop::Limit(message)) => return Err(mapping.limit_error(message)),
                    Err(Stop::Fallback) => {}
                }
            }
        }
    }
    let mut session = Session::new(mapping, bindings, options)?;
    let depth = options.limits.max_input_depth;
    let input = convert::parse_json(input, depth).map_err(|e| mapping.convert_error(e, "the input", depth))?;
    let result = session.run(&input)?;
    let mut out = String::new();
    convert::write_json(&result, &mut out, session.result_depth).map_err(|e| mapping.convert_error(e, "result", session.result_depth))?;
    Ok(out)
}

/// Evaluates `mapping` with no input at all: `$` is undefined, not `null` (`$string()` is then
/// undefined, where on `null` it is `"null"`). What `switchyard eval MAPPING` does without an
/// input file, as JSONata's own exerciser does. Compact JSON text out; an undefined result is
/// `null`.
pub fn evaluate_without_input(mapping: &Mapping, bindings: &Bindings, options: &EvalOptions) -> Result<String, MappingError> {
    if let Some(result) = mapping.evaluate_compiled_without_input(bindings, options) {
        return result;
    }
    let mut session = Session::new(mapping, bindings, options)?;
    let result = session.run(&JValue::Undefined)?;
    let mut out = String::new();
    convert::write_json(&result, &mut out, session.result_depth).map_err(|e| mapping.convert_error(e, "result", session.result_depth))?;
    Ok(out)
}

/// Evaluates `mapping` on each input and writes the results as one JSON array, straight to
/// text: the per-record mapping of a page as an API answers it, with no `serde_json::Value`
/// built for the results. A record mapped to nothing (undefined or `null`) is left out. A large
/// page is mapped in two halves at once while a core is idle ([`spread`]).
pub fn evaluate_each_json(
    mapping: &Mapping,
    inputs: &[serde_json::Value],
    bindings: &Bindings,
    options: &EvalOptions,
) -> Result<String, MappingError> {
    let written = write_each(mapping, inputs.len(), |i| Record::Value(&inputs[i]), bindings, options)?;
    written.ok_or_else(|| mapping.error(MappingErrorKind::Internal, "records given as values were read as text"))
}

/// [`evaluate_each_json`] on records given as text: `spans` of `text` (a page's records, found
/// in it without parsing the page). Each record is parsed straight into the fast path's values,
/// or for the engine when it falls back. `Ok(None)` when a record's text is not JSON: the
/// caller then reads the page whole, which reports it where it belongs.
pub fn evaluate_each_json_text(
    mapping: &Mapping,
    text: &str,
    spans: &[std::ops::Range<usize>],
    bindings: &Bindings,
    options: &EvalOptions,
) -> Result<Option<String>, MappingError> {
    write_each(mapping, spans.len(), |i| Record::Text(&text[spans[i].clone()]), bindings, options)
}

/// The records `0..len` (`record(i)` gives each) mapped and written as one JSON array, records
/// mapped to nothing left out; in two halves at once while a core is idle. `Ok(None)` when a
/// record given as text is not JSON.
fn write_each<'a>(
    mapping: &'a Mapping,
    len: usize,
    record: impl Fn(usize) -> Record<'a> + Sync,
    bindings: &'a Bindings,
    options: &EvalOptions,
) -> Result<Option<String>, MappingError> {
    // Each half has its own evaluators (they are not `Send`); the first writes the `[`.
    let write_part = |range: std::ops::Range<usize>| -> Result<Option<String>, MappingError> {
        let cancelled = cancel_check(options);
        let fast = mapping.inner.compiled.as_ref().and_then(|p| compiled::Session::new(p, bindings, options, &cancelled));
        let mut out = String::with_capacity(range.len() * 512 + 2);
        if range.start == 0 {
            out.push('[');
        }
        let written = write_records(mapping, fast, range.map(&record), bindings, options, &mut out)?;
        Ok((written == Written::All).then_some(out))
    };
    let (first, second) = spread::halves(len, write_part);
    let Some(mut out) = first? else { return Ok(None) };
    match second.transpose()? {
        Some(None) => return Ok(None),
        Some(Some(second)) if !second.is_empty() => {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&second);
        }
        _ => {}
    }
    out.push(']');
    Ok(Some(out))
}

/// A record to map: a value of a parsed page, or a record's JSON text.
#[derive(Clone, Copy)]
enum Record<'a> {
    Value(&'a serde_json::Value),
    Text(&'a str),
}

/// How far [`write_records`] got.
#[derive(Debug, PartialEq)]
enum Written {
    All,
    /// A record given as text is not JSON (the records before it are written).
    NotJson,
}

/// Maps each record on the fast path where it can (`fast`), else on the engine, appending the
/// results to `out` separated by commas (the caller writes the brackets); a record mapped to
/// undefined or `null` is left out.
fn write_records<'a>(
    mapping: &Mapping,
    mut fast: Option<compiled::Session<'a, '_>>,
    records: impl Iterator<Item = Record<'a>>,
    bindings: &Bindings,
    options: &EvalOptions,
    out: &mut String,
) -> Result<Written, MappingError> {
    let mut slow: Option<Session> = None;
    let depth = options.limits.max_input_depth;
    let start = out.len();
    for record in records {
        // Where this record's text starts (before its comma): a record that falls back or is
        // left out is cut back to here.
        let before = out.len();
        if before > start {
            out.push(',');
        }
        let mark = out.len();
        if let Some(fast) = &mut fast {
            let ran = match record {
                Record::Value(value) => Some(fast.run(value, false)),
                // Text this parser does not take (too deep, too wide, not JSON) goes to the engine.
                Record::Text(text) => compiled::parse_values(text, depth).map(|value| fast.run_parsed(&value)),
            };
            match ran {
                Some(Ok(v)) if v.is_nothing() => {
                    out.truncate(before);
                    continue;
                }
                Some(Ok(v)) => match fast.write_json(&v, out) {
                    Ok(()) => continue,
                    Err(Stop::Limit(message)) => return Err(mapping.limit_error(message)),
                    Err(Stop::Fallback) => out.truncate(mark),
                },
                Some(Err(Stop::Limit(message))) => return Err(mapping.limit_error(message)),
                Some(Err(Stop::Fallback)) | None => {}
            }
        }
        let session = match &mut slow {
            Some(session) => session,
            None => slow.insert(Session::new(mapping, bindings, options)?),
        };
        let input = match record {
            Record::Value(value) => convert::from_value(value, depth),
            Record::Text(text) => match convert::parse_json(text, depth) {
                Err(_) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() => {
                    out.truncate(before);
                    return Ok(Written::NotJson);
                }
                parsed => parsed,
            },
        };
        let input = input.map_err(|e| mapping.convert_error(e, "the input", depth))?;
        let result = session.run(&input)?;
        if matches!(result, JValue::Undefined | JValue::Null) {
            out.truncate(before);
            continue;
        }
        convert::write_json(&result, out, session.result_depth).map_err(|e| mapping.convert_error(e, "result", session.result_depth))?;
    }
    Ok(Written::All)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn mapping_is_shareable() {
        assert_send_sync::<Mapping>();
        assert_send_sync::<Bindings>();
        assert_send_sync::<MappingError>();
        fn send<T: Send + Sync>() {}
        send::<EvalOptions>();
    }

    #[test]
    fn names_after_dollar_are_collected() {
        let names = mentioned_names("($p := properties; $s($p.x) & $query.a & $$.b & '$pick')");
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["p", "pick", "query", "s"]);
    }
}
