//! `$removeEmpty(value)`

use super::args::{arg, arity, deeper, is_empty};
use super::{ok, Call, Function, Twin};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "removeEmpty",
    signature: "$removeEmpty(value)",
    summary: "Drops empty members and elements, recursively.",
    doc: "Walks `value` depth first. In every object it removes the members whose value is empty, and in \
every array the elements that are empty, where empty means `null`, `\"\"`, `[]` or `{}` after the member's \
own contents were cleaned (so `{\"a\": {\"b\": null}}` loses `a` too). `0`, `false` and strings of spaces \
are not empty and stay. The value itself is returned cleaned even when nothing is left of it (`{}` or `[]`); \
a scalar is returned as it is. Undefined gives undefined.",
    examples: &[
        ok(
            "$removeEmpty($)",
            r#"{"name": "Ada", "title": "", "phones": [], "address": {"city": null, "zip": ""}, "tags": ["a", "", null], "score": 0, "active": false}"#,
            r#"{"name": "Ada", "tags": ["a"], "score": 0, "active": false}"#,
        ),
        ok("$removeEmpty(a)", r#"{"a": [{"b": null}, [[]], {"c": " "}]}"#, r#"[{"c": " "}]"#),
        ok("$removeEmpty({\"x\": null})", "{}", "{}"),
        ok("$removeEmpty(\"\")", "{}", r#""""#),
        ok("$removeEmpty(missing)", "{}", "null"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 1)?;
    Ok(clean(arg(args, 0)))
}

fn clean(value: &JValue) -> JValue {
    match value {
        JValue::Array(items) => {
            let kept: Vec<JValue> = items.iter().map(|item| deeper(|| clean(item))).filter(|item| !is_empty(item)).collect();
            JValue::array(kept)
        }
        JValue::Object(map) => {
            let kept = map
                .iter()
                .filter_map(|(key, item)| {
                    let item = deeper(|| clean(item));
                    (!is_empty(&item)).then(|| (key.clone(), item))
                })
                .collect();
            JValue::object(kept)
        }
        other => other.clone(),
    }
}
