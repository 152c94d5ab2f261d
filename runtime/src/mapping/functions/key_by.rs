//! `$keyBy(array, key)`

use super::group_by::keyed;
use super::{ok, Call, Function, Twin};
use indexmap::IndexMap;
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "keyBy",
    signature: "$keyBy(array, key)",
    summary: "An object from each key to the element with that key (the last one, when several share it).",
    doc: "`key` works as in `$groupBy`: a JSONata expression as a string, evaluated on each element; number \
and boolean keys are used as text, elements whose key is undefined or `null` are left out, other keys are \
`F0402`. When several elements share a key the last one wins, at the position where the key first appeared. \
A single value counts as an array of one; undefined gives undefined.",
    examples: &[
        ok(
            "$keyBy(custom_fields, \"name\")",
            r#"{"custom_fields": [{"name": "tier", "value": "Gold"}, {"name": "seats", "value": 12}]}"#,
            r#"{"tier": {"name": "tier", "value": "Gold"}, "seats": {"name": "seats", "value": 12}}"#,
        ),
        ok("$keyBy(rows, \"k\").a.v", r#"{"rows": [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}]}"#, "3"),
        ok("$keyBy(missing, \"k\")", "{}", "null"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], call: &Call) -> Result<JValue, EvaluatorError> {
    let Some(keyed) = keyed(args, FUNCTION.name, call)? else {
        return Ok(JValue::Undefined);
    };
    let mut out: IndexMap<String, JValue> = IndexMap::with_capacity(keyed.len());
    for (key, element) in keyed {
        out.insert(key, element);
    }
    Ok(JValue::object(out))
}
