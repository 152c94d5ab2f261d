//! `$jsonParse(text)`

use super::args::{arg, arity, fail, mismatch};
use super::codes::JSON_TOO_DEEP;
use super::{fails, ok, Call, Function, Twin};
use crate::mapping::convert::{parse_json, ConvertError};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "jsonParse",
    signature: "$jsonParse(text)",
    summary: "The value a JSON text holds; `null` when the text is not JSON.",
    doc: "For providers that put JSON inside a string field. Text that is not valid JSON (including `\"\"` \
and trailing garbage) gives `null`, not an error, so one odd record does not fail a whole page; test for \
`null` where that matters. JSON nested deeper than the mapping's input depth limit is error `F0501`. `null` \
gives `null`, undefined gives undefined, and any other non-string is `T0410`. Object keys keep their order; \
a repeated key keeps its first position and its last value, as `JSON.parse` does. Differs from \
`JSON.parse` on escaped lone surrogates (`\"\\ud800\"`), which give `null` here.",
    examples: &[
        ok("$jsonParse(metadata).plan", r#"{"metadata": "{\"plan\": \"pro\", \"seats\": 12}"}"#, r#""pro""#),
        ok("$jsonParse(\"[1, 2.5, true, null]\")", "{}", "[1, 2.5, true, null]"),
        ok("$jsonParse(\"{oops\")", "{}", "null"),
        ok("$jsonParse(\"\")", "{}", "null"),
        fails("$jsonParse(42)", "{}", "T0410"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], call: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 1)?;
    match arg(args, 0) {
        JValue::Undefined => Ok(JValue::Undefined),
        JValue::Null => Ok(JValue::Null),
        JValue::String(text) => match parse_json(text, call.max_depth()) {
            Ok(value) => Ok(value),
            Err(ConvertError::Invalid(_)) => Ok(JValue::Null),
            Err(ConvertError::TooDeep) => Err(fail(JSON_TOO_DEEP, format!("the JSON nests deeper than {} levels", call.max_depth()))),
        },
        _ => Err(mismatch(FUNCTION.name, 1, "be a string")),
    }
}
