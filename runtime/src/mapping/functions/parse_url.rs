//! `$parseUrl(text)`

use super::args::{arg, arity, fail, mismatch};
use super::codes::BAD_URL;
use super::{fails, ok, Call, Function, Twin};
use indexmap::IndexMap;
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "parseUrl",
    signature: "$parseUrl(text)",
    summary: "The parts of a URL: `{scheme, host, port, path, query, fragment}`.",
    doc: "Parses with the WHATWG URL rules (what browsers and Node's `URL` do): the scheme and host are \
lowercased, the path keeps its percent escapes. `port` is a number, or `null` when absent or the scheme's \
default. `query` is the query string read as `$parseQuery` reads it (`{}` when there is none). `fragment` is \
the text after `#`, or `null` when absent or empty. User names and passwords are not returned.\n\n\
A relative reference starting with `/` or `?` (a relative `nextRecordsUrl`) is accepted: `scheme`, `host` \
and `port` are then `null`. Anything else that is not a URL is `F0301`. Undefined gives undefined; `null` \
gives `null`.",
    examples: &[
        ok(
            "$parseUrl(paging.next.link)",
            r#"{"paging": {"next": {"link": "https://api.example.com/crm/v3/objects/contacts?limit=100&after=MTAw"}}}"#,
            r#"{"scheme": "https", "host": "api.example.com", "port": null, "path": "/crm/v3/objects/contacts", "query": {"limit": "100", "after": "MTAw"}, "fragment": null}"#,
        ),
        ok("$parseUrl(nextRecordsUrl).path", r#"{"nextRecordsUrl": "/services/data/v62.0/query/01gRO0000016PIAYA2-2000"}"#, r#""/services/data/v62.0/query/01gRO0000016PIAYA2-2000""#),
        ok(
            "$parseUrl(\"HTTP://Example.COM:8080/a%20b/../c?x=1&x=2#top\")",
            "{}",
            r#"{"scheme": "http", "host": "example.com", "port": 8080, "path": "/c", "query": {"x": ["1", "2"]}, "fragment": "top"}"#,
        ),
        fails("$parseUrl(\"not a url\")", "{}", "F0301"),
        fails("$parseUrl(42)", "{}", "T0410"),
    ],
    twin: Twin::Faithful,
    call,
};

const RELATIVE_BASE: &str = "http://relative.invalid";

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 1)?;
    let text: &str = match arg(args, 0) {
        JValue::Undefined => return Ok(JValue::Undefined),
        JValue::Null => return Ok(JValue::Null),
        JValue::String(text) => text,
        _ => return Err(mismatch(FUNCTION.name, 1, "be a string")),
    };
    let relative = text.starts_with('/') || text.starts_with('?');
    let parsed = if relative {
        url::Url::parse(RELATIVE_BASE).and_then(|base| base.join(text))
    } else {
        url::Url::parse(text)
    };
    let url = parsed.map_err(|e| fail(BAD_URL, format!("{text:?} is not a URL ({e})")))?;
    let absent = |value: Option<JValue>| if relative { JValue::Null } else { value.unwrap_or(JValue::Null) };
    let mut out = IndexMap::new();
    out.insert("scheme".to_string(), absent(Some(JValue::string(url.scheme()))));
    out.insert("host".to_string(), absent(url.host_str().filter(|h| !h.is_empty()).map(JValue::string)));
    out.insert("port".to_string(), absent(url.port().map(|p| JValue::Number(f64::from(p)))));
    out.insert("path".to_string(), JValue::string(url.path()));
    out.insert("query".to_string(), super::parse_query::parse(url.query().unwrap_or("")));
    out.insert("fragment".to_string(), url.fragment().filter(|f| !f.is_empty()).map_or(JValue::Null, JValue::string));
    Ok(JValue::object(out))
}
