//! Argument checking and errors shared by the library functions.

use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::{with_stack, JValue};

/// Argument `index` (0-based), undefined when not given.
pub(crate) fn arg(args: &[JValue], index: usize) -> &JValue {
    const UNDEFINED: &JValue = &JValue::Undefined;
    args.get(index).unwrap_or(UNDEFINED)
}

/// Checks the number of arguments.
pub(crate) fn arity(args: &[JValue], name: &str, min: usize, max: usize) -> Result<(), EvaluatorError> {
    if args.len() > max {
        return Err(mismatch(name, max + 1, "not be given (too many arguments)"));
    }
    if args.len() < min {
        return Err(mismatch(name, args.len() + 1, "be given"));
    }
    Ok(())
}

/// `T0410`, JSONata's code for an argument that does not match the function's signature.
pub(crate) fn mismatch(name: &str, position: usize, expected: &str) -> EvaluatorError {
    EvaluatorError::TypeError(format!("T0410: Argument {position} of function ${name} must {expected}"))
}

/// One of our own `F` codes (see `codes.rs`).
pub(crate) fn fail(code: &str, message: impl std::fmt::Display) -> EvaluatorError {
    EvaluatorError::EvaluationError(format!("{code}: {message}"))
}

/// An optional string argument: `None` when undefined.
pub(crate) fn opt_str<'a>(args: &'a [JValue], index: usize, name: &str) -> Result<Option<&'a str>, EvaluatorError> {
    match arg(args, index) {
        JValue::Undefined => Ok(None),
        JValue::String(s) => Ok(Some(s)),
        _ => Err(mismatch(name, index + 1, "be a string")),
    }
}

/// A string argument that must be there.
pub(crate) fn req_str<'a>(args: &'a [JValue], index: usize, name: &str) -> Result<&'a str, EvaluatorError> {
    match arg(args, index) {
        JValue::String(s) => Ok(s),
        _ => Err(mismatch(name, index + 1, "be a string")),
    }
}

/// A list of strings: an array of strings, or one string.
pub(crate) fn string_list(args: &[JValue], index: usize, name: &str) -> Result<Vec<String>, EvaluatorError> {
    match arg(args, index) {
        JValue::String(s) => Ok(vec![s.to_string()]),
        JValue::Array(items) => items
            .iter()
            .map(|item| match item {
                JValue::String(s) => Ok(s.to_string()),
                _ => Err(mismatch(name, index + 1, "be an array of strings")),
            })
            .collect(),
        _ => Err(mismatch(name, index + 1, "be an array of strings")),
    }
}

/// Empty in the sense of `$removeEmpty` and `$firstNonEmpty`: undefined, `null`, `""`, `[]`
/// or `{}`.
pub(crate) fn is_empty(value: &JValue) -> bool {
    match value {
        JValue::Undefined | JValue::Null => true,
        JValue::String(s) => s.is_empty(),
        JValue::Array(items) => items.is_empty(),
        JValue::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// A number, string or boolean as text, as JavaScript's `String()` writes it; `None` for anything else.
pub(crate) fn scalar_text(value: &JValue) -> Option<String> {
    match value {
        JValue::String(s) => Some(s.to_string()),
        JValue::Number(n) => {
            let mut out = String::new();
            crate::mapping::convert::write_number(*n, &mut out);
            Some(out)
        }
        JValue::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Trims ASCII whitespace (space, tab, CR, LF) only, the same on both implementations.
pub(crate) fn trim_ascii(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// Runs `f` one level deeper in a recursive walk, on a fresh stack segment when needed.
pub(crate) fn deeper<R>(f: impl FnOnce() -> R) -> R {
    with_stack(f)
}
