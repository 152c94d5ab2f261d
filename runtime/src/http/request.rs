//! The request sent upstream: URL, headers, body.

use crate::error::{ErrorKind, RuntimeError};
use crate::registry::{HttpMethod, QueryArrayFormat};
use bytes::Bytes;
use serde_json::Value;
use url::Url;

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    pub method: HttpMethod,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub content_type: &'static str,
    pub bytes: Bytes,
}

impl Body {
    pub fn json(value: &Value) -> Body {
        Body { content_type: "application/json", bytes: Bytes::from(serde_json::to_vec(value).expect("JSON values serialize")) }
    }

    pub fn form(value: &Value, format: QueryArrayFormat) -> Body {
        Body { content_type: "application/x-www-form-urlencoded", bytes: Bytes::from(encode_form(value, format)) }
    }
}

impl UpstreamRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Sets a header, replacing any of the same name (names compare case-insensitively).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.into()));
    }
}

/// Joins the rendered base URL and path and appends the query. The path was rendered
/// with every placeholder encoded as one segment, so it cannot leave the base URL.
pub fn build_url(base: &str, path: &str, query: &[(String, String)]) -> Result<Url, RuntimeError> {
    let joined = format!("{}{}", base.trim_end_matches('/'), path);
    let mut url = Url::parse(&joined)
        .map_err(|e| RuntimeError::new(ErrorKind::InvalidRequest, format!("cannot build the upstream URL {joined:?}: {e}")))?;
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, value);
        }
    }
    Ok(url)
}

/// Turns one query value (a string, number, boolean or array) into pairs, arrays in the
/// integration's format. Null leaves the parameter out.
pub fn query_pairs(name: &str, value: &Value, format: QueryArrayFormat, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            let texts: Vec<String> = items.iter().filter(|v| !v.is_null()).map(scalar_text).collect();
            match format {
                QueryArrayFormat::Repeat => out.extend(texts.into_iter().map(|t| (name.to_string(), t))),
                QueryArrayFormat::Comma => out.push((name.to_string(), texts.join(","))),
                QueryArrayFormat::Brackets => out.extend(texts.into_iter().map(|t| (format!("{name}[]"), t))),
                QueryArrayFormat::Indices => out.extend(texts.into_iter().enumerate().map(|(i, t)| (format!("{name}[{i}]"), t))),
            }
        }
        other => out.push((name.to_string(), scalar_text(other))),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `application/x-www-form-urlencoded` of a JSON object. Nested objects use bracket keys
/// (`metadata[crm_id]=42`), the convention of form-encoded APIs; arrays follow the
/// integration's array format.
pub fn encode_form(value: &Value, format: QueryArrayFormat) -> String {
    fn flatten(name: &str, value: &Value, format: QueryArrayFormat, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    flatten(&format!("{name}[{key}]"), inner, format, out);
                }
            }
            other => query_pairs(name, other, format, out),
        }
    }
    let mut pairs = Vec::new();
    if let Value::Object(map) = value {
        for (name, value) in map {
            flatten(name, value, format, &mut pairs);
        }
    }
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in &pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn array_formats() {
        let value = json!(["a", 1, true]);
        let mut out = Vec::new();
        for format in [QueryArrayFormat::Repeat, QueryArrayFormat::Comma, QueryArrayFormat::Brackets, QueryArrayFormat::Indices] {
            query_pairs("f", &value, format, &mut out);
        }
        let url = build_url("https://x.test/api/", "/items", &out).unwrap();
        assert_eq!(
            url.as_str(),
            "https://x.test/api/items?f=a&f=1&f=true&f=a%2C1%2Ctrue&f%5B%5D=a&f%5B%5D=1&f%5B%5D=true&f%5B0%5D=a&f%5B1%5D=1&f%5B2%5D=true"
        );
    }

    #[test]
    fn form_bodies() {
        assert_eq!(
            encode_form(&json!({"grant_type": "refresh_token", "scope": "a b", "n": null}), QueryArrayFormat::Repeat),
            "grant_type=refresh_token&scope=a+b"
        );
        assert_eq!(
            encode_form(&json!({"email": "a@x", "metadata": {"crm_id": "42", "tier": {"level": 2}}}), QueryArrayFormat::Repeat),
            "email=a%40x&metadata%5Bcrm_id%5D=42&metadata%5Btier%5D%5Blevel%5D=2"
        );
    }
}
