//! Comparing a request with a recorded one, field by field, so a mismatch reads like
//! `query.after: expected "c2", got "c3"`.

use super::fixture::RequestMatcher;
use crate::http::UpstreamRequest;
use serde_json::Value;
use std::fmt;

/// One way a request differs from a recorded one. `expected` is the recording's,
/// `actual` the request's; `None` means absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `method`, `path`, `query.after`, `header authorization`, `body.properties.email`, `form.grant_type`, …
    pub place: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.expected, &self.actual) {
            (Some(e), Some(a)) => write!(f, "{}: expected {e}, got {a}", self.place),
            (Some(e), None) => write!(f, "{}: expected {e}, got nothing", self.place),
            (None, Some(a)) => write!(f, "{}: not in the recording, got {a}", self.place),
            (None, None) => write!(f, "{}: differs", self.place),
        }
    }
}

impl Difference {
    fn new(place: impl Into<String>, expected: Option<String>, actual: Option<String>) -> Difference {
        Difference { place: place.into(), expected, actual }
    }

    /// How far apart: a different method or path counts for more than a query value.
    pub fn weight(&self) -> usize {
        match self.place.as_str() {
            "method" | "path" => 10,
            _ => 1,
        }
    }
}

fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

fn quoted_list(values: &[&str]) -> String {
    if values.len() == 1 {
        quoted(values[0])
    } else {
        format!("[{}]", values.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(", "))
    }
}

/// Every difference between `request` and the recorded `matcher`; empty when they match.
pub fn compare(matcher: &RequestMatcher, request: &UpstreamRequest) -> Vec<Difference> {
    let mut out = Vec::new();
    if matcher.method != request.method {
        out.push(Difference::new("method", Some(matcher.method.as_str().into()), Some(request.method.as_str().into())));
    }
    let path = decode(request.url.path());
    if decode(&matcher.path) != path {
        out.push(Difference::new("path", Some(quoted(&matcher.path)), Some(quoted(&path))));
    }
    let actual: Vec<(String, String)> = request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let expected: Vec<(String, Vec<&str>)> = matcher.query.iter().map(|(k, v)| (k.clone(), v.values())).collect();
    compare_pairs("query", &expected, &actual, &mut out);
    for (name, value) in &matcher.headers {
        match request.header(name) {
            Some(got) if got == value => {}
            got => out.push(Difference::new(format!("header {}", name.to_ascii_lowercase()), Some(quoted(value)), got.map(quoted))),
        }
    }
    let body_bytes = request.body.as_ref().map(|b| b.bytes.as_ref()).unwrap_or(&[]);
    if let Some(expected) = &matcher.body {
        match serde_json::from_slice::<Value>(body_bytes) {
            Ok(actual) => compare_json("body", expected, &actual, &mut out),
            Err(_) => out.push(Difference::new("body", Some(expected.to_string()), Some(describe_bytes(body_bytes)))),
        }
    }
    if let Some(form) = &matcher.form {
        let actual: Vec<(String, String)> =
            url::form_urlencoded::parse(body_bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let expected: Vec<(String, Vec<&str>)> = form.iter().map(|(k, v)| (k.clone(), vec![v.as_str()])).collect();
        compare_pairs("form", &expected, &actual, &mut out);
    }
    if let Some(text) = &matcher.body_text {
        let actual = String::from_utf8_lossy(body_bytes);
        if actual != *text {
            out.push(Difference::new("body_text", Some(quoted(text)), Some(quoted(&actual))));
        }
    }
    out
}

fn describe_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "no body".to_string()
    } else {
        quoted(&String::from_utf8_lossy(&bytes[..bytes.len().min(200)]))
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Compares name/value pairs (query or form): every expected name with its values in
/// order, and no other name.
fn compare_pairs(prefix: &str, expected: &[(String, Vec<&str>)], actual: &[(String, String)], out: &mut Vec<Difference>) {
    for (name, values) in expected {
        let got: Vec<&str> = actual.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
        if got != *values {
            let actual = if got.is_empty() { None } else { Some(quoted_list(&got)) };
            out.push(Difference::new(format!("{prefix}.{name}"), Some(quoted_list(values)), actual));
        }
    }
    let mut reported: Vec<&str> = Vec::new();
    for (name, _) in actual {
        if !expected.iter().any(|(n, _)| n == name) && !reported.contains(&name.as_str()) {
            reported.push(name);
            let got: Vec<&str> = actual.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
            out.push(Difference::new(format!("{prefix}.{name}"), None, Some(quoted_list(&got))));
        }
    }
}

/// Deep JSON comparison with a path for each difference.
fn compare_json(place: &str, expected: &Value, actual: &Value, out: &mut Vec<Difference>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let child = format!("{place}.{key}");
                match a.get(key) {
                    Some(av) => compare_json(&child, ev, av, out),
                    None => out.push(Difference::new(child, Some(ev.to_string()), None)),
                }
            }
            for (key, av) in a {
                if !e.contains_key(key) {
                    out.push(Difference::new(format!("{place}.{key}"), None, Some(av.to_string())));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare_json(&format!("{place}[{i}]"), ev, av, out);
            }
        }
        (e, a) if e != a => out.push(Difference::new(place, Some(e.to_string()), Some(a.to_string()))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;
    use crate::registry::HttpMethod;
    use indexmap::IndexMap;

    fn request(url: &str) -> UpstreamRequest {
        UpstreamRequest {
            method: HttpMethod::Get,
            url: url::Url::parse(url).unwrap(),
            headers: vec![("Authorization".into(), "Bearer fake-token".into())],
            body: None,
        }
    }

    fn matcher(query: &[(&str, &str)]) -> RequestMatcher {
        RequestMatcher {
            method: HttpMethod::Get,
            path: "/crm/v3/objects/contacts".into(),
            query: query.iter().map(|(k, v)| (k.to_string(), super::super::QueryValue::One(v.to_string()))).collect(),
            headers: IndexMap::from([("authorization".to_string(), "Bearer fake-token".to_string())]),
            body: None,
            form: None,
            body_text: None,
        }
    }

    #[test]
    fn names_the_differing_query_value() {
        let diffs =
            compare(&matcher(&[("limit", "2"), ("after", "c2")]), &request("https://x.test/crm/v3/objects/contacts?limit=2&after=c3"));
        assert_eq!(diffs.iter().map(|d| d.to_string()).collect::<Vec<_>>(), vec![r#"query.after: expected "c2", got "c3""#]);
    }

    #[test]
    fn missing_and_extra_parameters_and_bodies() {
        let mut r = request("https://x.test/crm/v3/objects/contacts?extra=1");
        r.method = HttpMethod::Post;
        r.body = Some(Body::json(&serde_json::json!({"properties": {"email": "b@x.com"}})));
        let mut m = matcher(&[("limit", "2")]);
        m.method = HttpMethod::Post;
        m.body = Some(serde_json::json!({"properties": {"email": "a@x.com"}}));
        let shown: Vec<String> = compare(&m, &r).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                r#"query.limit: expected "2", got nothing"#,
                r#"query.extra: not in the recording, got "1""#,
                r#"body.properties.email: expected "a@x.com", got "b@x.com""#
            ]
        );
    }

    #[test]
    fn matches_exactly() {
        assert!(compare(&matcher(&[("limit", "2")]), &request("https://x.test/crm/v3/objects/contacts?limit=2")).is_empty());
    }
}
