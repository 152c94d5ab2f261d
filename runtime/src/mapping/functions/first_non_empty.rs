//! `$firstNonEmpty(value, …)`

use super::args::is_empty;
use super::{ok, Call, Function, Twin};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "firstNonEmpty",
    signature: "$firstNonEmpty(value1, value2, …)",
    summary: "The first argument that is not empty, else `null`.",
    doc: "Takes any number of arguments and returns the first that is not empty, where empty means \
undefined, `null`, `\"\"`, `[]` or `{}` (the same test as `$removeEmpty`; `0`, `false` and `\" \"` are not \
empty). When all are empty, or there are none, the result is `null`, so the key stays in the record with an \
explicit `null`.",
    examples: &[
        ok("$firstNonEmpty(nickname, first_name, \"(unknown)\")", r#"{"nickname": "", "first_name": "Ada"}"#, r#""Ada""#),
        ok("$firstNonEmpty(a, b, c)", r#"{"a": null, "b": [], "c": 0}"#, "0"),
        ok("$firstNonEmpty(a, b)", r#"{"b": {}}"#, "null"),
        ok("{\"title\": $firstNonEmpty(missing)}", "{}", r#"{"title": null}"#),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    Ok(args.iter().find(|value| !is_empty(value)).cloned().unwrap_or(JValue::Null))
}
