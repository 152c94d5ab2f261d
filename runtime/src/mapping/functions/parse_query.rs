//! `$parseQuery(text)`

use super::args::{arg, arity, mismatch};
use super::{fails, ok, Call, Function, Twin};
use indexmap::IndexMap;
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "parseQuery",
    signature: "$parseQuery(text)",
    summary: "A query string as an object: `\"a=1&b=x%20y\"` is `{\"a\": \"1\", \"b\": \"x y\"}`.",
    doc: "Reads `application/x-www-form-urlencoded` text as browsers do (`URLSearchParams`): one leading `?` \
is dropped, pairs are split on `&`, `+` is a space, percent escapes are decoded as UTF-8 (invalid bytes \
become U+FFFD), a pair without `=` has the value `\"\"`, and empty pairs are skipped. A name that appears \
more than once gives an array of its values, in order. Keys are in the order they first appear. Values are \
always strings. Undefined gives undefined; `null` gives `null`; `\"\"` gives `{}`.",
    examples: &[
        ok("$parseQuery(\"?limit=100&after=MTAw&properties=email%2Cfirstname\")", "{}", r#"{"limit": "100", "after": "MTAw", "properties": "email,firstname"}"#),
        ok("$parseQuery(\"tag=a&tag=b&q=ada+lovelace&flag\")", "{}", r#"{"tag": ["a", "b"], "q": "ada lovelace", "flag": ""}"#),
        ok("$parseQuery(\"\")", "{}", "{}"),
        fails("$parseQuery(42)", "{}", "T0410"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 1)?;
    match arg(args, 0) {
        JValue::Undefined => Ok(JValue::Undefined),
        JValue::Null => Ok(JValue::Null),
        JValue::String(text) => Ok(parse(text.strip_prefix('?').unwrap_or(text))),
        _ => Err(mismatch(FUNCTION.name, 1, "be a string")),
    }
}

/// Form-encoded pairs (no leading `?` expected). Shared with `$parseUrl`.
pub(super) fn parse(text: &str) -> JValue {
    let mut out: IndexMap<String, Vec<String>> = IndexMap::new();
    for (key, value) in url::form_urlencoded::parse(text.as_bytes()) {
        out.entry(key.into_owned()).or_default().push(value.into_owned());
    }
    JValue::object(
        out.into_iter()
            .map(|(key, mut values)| {
                let value = if values.len() == 1 {
                    JValue::string(values.pop().unwrap_or_default())
                } else {
                    JValue::array(values.into_iter().map(JValue::string).collect())
                };
                (key, value)
            })
            .collect(),
    )
}
