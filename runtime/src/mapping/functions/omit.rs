//! `$omit(object, keys)`

use super::args::{arg, arity, mismatch, string_list};
use super::{fails, ok, Call, Function, Twin};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "omit",
    signature: "$omit(object, keys)",
    summary: "A copy of `object` without the members named in `keys`, in the object's order.",
    doc: "`keys` is an array of member names or one name; names the object does not have are ignored. \
`null` gives `null` and undefined gives undefined; anything else that is not an object is `T0410`. Handy \
for `custom_fields`: the record's properties minus the ones the unified model already has.",
    examples: &[
        ok(
            "$omit(properties, [\"firstname\", \"hs_object_id\"])",
            r#"{"properties": {"firstname": "Ada", "seats": "12", "hs_object_id": "51", "tier": "Gold"}}"#,
            r#"{"seats": "12", "tier": "Gold"}"#,
        ),
        ok("$omit($, \"secret\")", r#"{"secret": "x", "id": 1}"#, r#"{"id": 1}"#),
        ok("$omit(missing, \"a\")", "{}", "null"),
        fails("$omit(\"text\", \"a\")", "{}", "T0410"),
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
            let out = map.iter().filter(|(key, _)| !keys.iter().any(|k| k == *key)).map(|(k, v)| (k.clone(), v.clone())).collect();
            Ok(JValue::object(out))
        }
        _ => Err(mismatch(FUNCTION.name, 1, "be an object")),
    }
}
