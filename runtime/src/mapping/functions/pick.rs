//! `$pick(object, keys)`

use super::args::{arg, arity, mismatch, string_list};
use super::{fails, ok, Call, Function, Twin};
use indexmap::IndexMap;
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "pick",
    signature: "$pick(object, keys)",
    summary: "A copy of `object` with only the members named in `keys`, in the order of `keys`.",
    doc: "`keys` is an array of member names or one name. Names the object does not have are skipped; \
members whose value is `null` are kept. The result's keys follow `keys`, not the object. `null` gives \
`null` and undefined gives undefined; anything else that is not an object is `T0410`.",
    examples: &[
        ok(
            "$pick(properties, [\"lastname\", \"firstname\", \"nickname\"])",
            r#"{"properties": {"firstname": "Ada", "lastname": "Lovelace", "email": "ada@x.com"}}"#,
            r#"{"lastname": "Lovelace", "firstname": "Ada"}"#,
        ),
        ok("$pick($, \"id\")", r#"{"id": "51", "archived": false}"#, r#"{"id": "51"}"#),
        ok("$pick(null, [\"a\"])", "{}", "null"),
        fails("$pick([1, 2], [\"a\"])", "{}", "T0410"),
        fails("$pick($, [1])", r#"{"a": 1}"#, "T0410"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 2, 2)?;
    let keys = string_list(args, 1, FUNCTION.name)?;
    match arg(args, 0) {
        JValue::Undefined => Ok(JValue::Undefined),
        JValue::Null => Ok(JValue::Null),
        JValue::Object(map) => {
            let mut out = IndexMap::with_capacity(keys.len());
            for key in keys {
                if let Some(value) = map.get(&key) {
                    out.insert(key, value.clone());
                }
            }
            Ok(JValue::object(out))
        }
        _ => Err(mismatch(FUNCTION.name, 1, "be an object")),
    }
}
