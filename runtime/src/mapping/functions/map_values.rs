//! `$mapValues(value, mapping, default?, options?)`

use super::args::{arg, arity, fail, mismatch, scalar_text, trim_ascii};
use super::codes::BAD_ARGUMENT;
use super::{fails, ok, Call, Function, Twin};
use indexmap::IndexMap;
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "mapValues",
    signature: "$mapValues(value, mapping, default?, options?)",
    summary: "Enum mapping: looks `value` up among the keys of `mapping`, with a default and case folding.",
    doc: "`mapping` is an object from provider values to unified values, e.g. `{\"office\": \"work\", \"mobile\": \
\"mobile\"}`. A string `value` is matched against its keys; a number or boolean is matched as text (`3` \
matches `\"3\"`). By default the match ignores case (both sides lowercased) and ignores spaces, tabs and line \
breaks around `value`; the first key that matches wins.\n\n\
When nothing matches, or `value` is `null`, the result is `default`; without a `default` argument (or when \
it is undefined) the value comes back unchanged, so unknown values pass through. An array maps element by \
element. Undefined gives undefined.\n\n\
`options` is an object: `{\"ignoreCase\": false}` makes the match case-sensitive, `{\"trim\": false}` keeps \
the spaces. Any other option is `F0101`.",
    examples: &[
        ok(
            "$mapValues(type, {\"office\": \"work\", \"mobile\": \"mobile\", \"home\": \"home\"}, \"other\")",
            r#"{"type": "Office"}"#,
            r#""work""#,
        ),
        ok("$mapValues(label, {\"work\": \"work\"}, \"other\")", r#"{"label": "pager"}"#, r#""other""#),
        ok("$mapValues(status, {\"open\": \"OPEN\"})", r#"{"status": "pending"}"#, r#""pending""#),
        ok("$mapValues(visible_to, {\"1\": \"owner\", \"3\": \"company\"}, null)", r#"{"visible_to": 3}"#, r#""company""#),
        ok("$mapValues(phones.label, {\"mobile\": \"mobile\", \"work\": \"work\"}, \"other\")", r#"{"phones": [{"label": "MOBILE"}, {"label": " work "}, {"label": "fax"}]}"#, r#"["mobile", "work", "other"]"#),
        ok("$mapValues(t, {\"Work\": \"work\"}, \"other\", {\"ignoreCase\": false})", r#"{"t": "work"}"#, r#""other""#),
        ok("$mapValues(t, {\"a\": 1}, \"none\")", r#"{"t": null}"#, r#""none""#),
        ok("$mapValues(missing, {\"a\": 1}, \"none\")", "{}", "null"),
        fails("$mapValues(t, [\"a\"])", r#"{"t": "a"}"#, "T0410"),
        fails("$mapValues(t, {\"a\": 1}, null, {\"fold\": true})", r#"{"t": "a"}"#, "F0101"),
    ],
    twin: Twin::Faithful,
    call,
};

struct Options {
    ignore_case: bool,
    trim: bool,
}

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 2, 4)?;
    let JValue::Object(mapping) = arg(args, 1) else {
        return Err(mismatch(FUNCTION.name, 2, "be an object"));
    };
    let default = match arg(args, 2) {
        JValue::Undefined => None,
        value => Some(value),
    };
    let options = options(arg(args, 3))?;
    let lookup = |value: &JValue| -> JValue {
        let found = match value {
            JValue::Null => None,
            value => scalar_text(value).and_then(|text| find(mapping, &text, &options)),
        };
        match (found, default) {
            (Some(found), _) => found.clone(),
            (None, Some(default)) => default.clone(),
            (None, None) => value.clone(),
        }
    };
    Ok(match arg(args, 0) {
        JValue::Undefined => JValue::Undefined,
        JValue::Array(items) => JValue::array(items.iter().map(lookup).collect()),
        value => lookup(value),
    })
}

fn find<'m>(mapping: &'m IndexMap<String, JValue>, text: &str, options: &Options) -> Option<&'m JValue> {
    let text = if options.trim { trim_ascii(text) } else { text };
    if !options.ignore_case {
        return mapping.get(text);
    }
    let wanted = text.to_lowercase();
    mapping.iter().find(|(key, _)| key.to_lowercase() == wanted).map(|(_, value)| value)
}

fn options(value: &JValue) -> Result<Options, EvaluatorError> {
    let mut options = Options { ignore_case: true, trim: true };
    match value {
        JValue::Undefined | JValue::Null => {}
        JValue::Object(map) => {
            for (key, value) in map.iter() {
                let flag = match value {
                    JValue::Bool(b) => *b,
                    _ => return Err(fail(BAD_ARGUMENT, format!("option `{key}` of $mapValues must be true or false"))),
                };
                match key.as_str() {
                    "ignoreCase" => options.ignore_case = flag,
                    "trim" => options.trim = flag,
                    _ => return Err(fail(BAD_ARGUMENT, format!("$mapValues has no option `{key}` (it has `ignoreCase` and `trim`)"))),
                }
            }
        }
        _ => return Err(mismatch(FUNCTION.name, 4, "be an object")),
    }
    Ok(options)
}
