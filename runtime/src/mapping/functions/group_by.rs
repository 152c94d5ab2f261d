//! `$groupBy(array, key)`

use super::args::{arg, arity, fail, mismatch, req_str, scalar_text};
use super::codes::{BAD_KEY, BAD_KEY_EXPRESSION};
use super::{fails, ok, Call, Function, Twin};
use indexmap::IndexMap;
use jsonata_core::evaluator::{Context, Evaluator, EvaluatorError};
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "groupBy",
    signature: "$groupBy(array, key)",
    summary: "An object from each key to the array of elements with that key.",
    doc: "`key` is a JSONata expression, as a string, evaluated on each element: a field name (`\"stage\"`), \
a path (`\"properties.dealstage\"`) or any expression (`\"$lowercase(type)\"`). It sees the standard \
functions only (not this library, not the mapping's bindings) and shares the mapping's limits. A key that is a \
number or boolean is used as text (`3` groups under `\"3\"`); elements whose key is undefined or `null` are \
left out; any other key (an object, an array) is `F0402`. Groups appear in the order their key first appears, \
elements in their order. A single value counts as an array of one; undefined gives undefined. An expression \
that does not parse is `F0401`. (A function cannot be passed as `key`: the engine cannot call a JSONata \
function from a library function.)",
    examples: &[
        ok(
            "$groupBy(emails, \"type\")",
            r#"{"emails": [{"email": "a@x.com", "type": "work"}, {"email": "b@x.com", "type": "home"}, {"email": "c@x.com", "type": "work"}]}"#,
            r#"{"work": [{"email": "a@x.com", "type": "work"}, {"email": "c@x.com", "type": "work"}], "home": [{"email": "b@x.com", "type": "home"}]}"#,
        ),
        ok(
            "$groupBy(deals, \"$lowercase(stage)\").won.id",
            r#"{"deals": [{"id": "1", "stage": "WON"}, {"id": "2", "stage": "lost"}, {"id": "3", "stage": "Won"}, {"id": "4"}]}"#,
            r#"["1", "3"]"#,
        ),
        ok("$groupBy(items, \"n\")", r#"{"items": [{"n": 1}, {"n": true}]}"#, r#"{"1": [{"n": 1}], "true": [{"n": true}]}"#),
        fails("$groupBy(items, \"n\")", r#"{"items": [{"n": [1]}]}"#, "F0402"),
        fails("$groupBy(items, \"(\")", r#"{"items": [1]}"#, "F0401"),
        fails("$groupBy(items, function($x) { $x })", r#"{"items": [1]}"#, "T0410"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], call: &Call) -> Result<JValue, EvaluatorError> {
    let Some(keyed) = keyed(args, FUNCTION.name, call)? else {
        return Ok(JValue::Undefined);
    };
    let mut groups: IndexMap<String, Vec<JValue>> = IndexMap::new();
    for (key, element) in keyed {
        groups.entry(key).or_default().push(element);
    }
    Ok(JValue::object(groups.into_iter().map(|(key, elements)| (key, JValue::array(elements))).collect()))
}

/// Each element of `args[0]` with its key (`args[1]` evaluated on it), leaving out elements
/// without one. `None` when `args[0]` is undefined. Shared with `$keyBy`.
pub(super) fn keyed(args: &[JValue], name: &str, call: &Call) -> Result<Option<Vec<(String, JValue)>>, EvaluatorError> {
    arity(args, name, 2, 2)?;
    if matches!(arg(args, 1), JValue::Lambda(_) | JValue::Builtin { .. }) {
        return Err(mismatch(name, 2, "be a string holding a JSONata expression, e.g. \"type\""));
    }
    let expression = req_str(args, 1, name)?;
    let elements: Vec<JValue> = match arg(args, 0) {
        JValue::Undefined => return Ok(None),
        JValue::Array(items) => items.iter().cloned().collect(),
        value => vec![value.clone()],
    };
    let ast = match std::panic::catch_unwind(|| jsonata_core::parser::parse(expression)) {
        Ok(Ok(ast)) => ast,
        Ok(Err(error)) => return Err(fail(BAD_KEY_EXPRESSION, format!("the key expression {expression:?} of ${name} does not parse: {error}"))),
        Err(_) => return Err(fail(BAD_KEY_EXPRESSION, format!("the key expression {expression:?} of ${name} does not parse"))),
    };
    let mut evaluator = Evaluator::with_options(Context::new(), call.nested_options());
    let mut out = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        let key = evaluator.evaluate(&ast, &element)?;
        match key {
            JValue::Undefined | JValue::Null => continue,
            key => match scalar_text(&key) {
                Some(text) => out.push((text, element)),
                None => return Err(fail(BAD_KEY, format!("the key of element {} is not a string, number or boolean", index + 1))),
            },
        }
    }
    Ok(Some(out))
}
