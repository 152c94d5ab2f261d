//! Turning live exchanges into fixture exchanges with every secret replaced.
//!
//! The redactor starts with the account's secrets and the fake values the fixture's
//! account will hold (`fake-access-token`, …), and learns more as it goes: a token
//! response's new `access_token` becomes `fake-access-token-2`, and every later request
//! that carries it is redacted to the same fake, so the recording replays exactly.
//! Besides known values, anything under a secret-looking name (`Authorization`,
//! `Cookie`, `Set-Cookie`, `*_token`, `*secret*`, …) that still looks live is replaced.

use super::fixture::{Exchange, HeaderValues, QueryValue, RecordedResponse, RequestMatcher};
use super::record::Recorded;
use super::secrets::{is_marked_fake, is_secret_name};
use base64::Engine as _;
use indexmap::IndexMap;
use serde_json::{Map, Value};

/// Response headers that say nothing about the API and change on every call.
const NOISE_HEADERS: &[&str] = &[
    "date",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "alt-svc",
    "cf-ray",
    "cf-cache-status",
    "server",
    "strict-transport-security",
    "report-to",
    "nel",
    "expect-ct",
    "x-envoy-upstream-service-time",
    "x-trace",
    "x-request-id",
    "vary",
];

/// The fake value for a credential name: `access_token` -> `fake-access-token`.
pub fn fake_value(name: &str) -> String {
    format!("fake-{}", name.to_ascii_lowercase().replace('_', "-"))
}

#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// (live, fake), longest live value first.
    pairs: Vec<(String, String)>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Replaces `live` with `fake` wherever it appears.
    pub fn add(&mut self, live: &str, fake: &str) {
        if live.is_empty() || live == fake || self.pairs.iter().any(|(l, _)| l == live) {
            return;
        }
        self.pairs.push((live.to_string(), fake.to_string()));
        self.pairs.sort_by_key(|(live, _)| std::cmp::Reverse(live.len()));
    }

    /// Every live value this redactor replaces.
    pub fn live_values(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(l, _)| l.as_str())
    }

    /// `text` with every known live value replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (live, fake) in &self.pairs {
            if out.contains(live.as_str()) {
                out = out.replace(live.as_str(), fake);
            }
        }
        out
    }

    /// A fake for a secret found under `name` that is not known yet; learned for later.
    fn learn(&mut self, name: &str, live: &str) -> String {
        let base = fake_value(name);
        let mut fake = base.clone();
        let mut n = 2;
        while self.pairs.iter().any(|(_, f)| *f == fake) {
            fake = format!("{base}-{n}");
            n += 1;
        }
        self.add(live, &fake);
        fake
    }

    /// A value under a secret-looking name: known values replaced, and what still looks
    /// live replaced by a learned fake.
    fn secret_value(&mut self, name: &str, value: &str) -> String {
        let redacted = self.redact_header(value);
        if redacted != value || is_marked_fake(&redacted) || redacted.trim().len() < 8 {
            return redacted;
        }
        // `Bearer <live>` keeps its scheme.
        if let Some((scheme, rest)) = redacted.split_once(' ') {
            if scheme.len() < 10 && !scheme.contains('=') && !rest.trim().is_empty() {
                let fake = self.learn(name, rest.trim());
                return format!("{scheme} {fake}");
            }
        }
        self.learn(name, &redacted)
    }

    /// A header value: `Basic` credentials are decoded, redacted and encoded again.
    fn redact_header(&self, value: &str) -> String {
        if let Some(rest) = value.strip_prefix("Basic ") {
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
                let text = String::from_utf8_lossy(&decoded);
                return format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(self.redact(&text)));
            }
        }
        self.redact(value)
    }

    /// A recorded exchange, redacted, as a fixture exchange.
    pub fn exchange(&mut self, recorded: &Recorded) -> Exchange {
        let request = self.request(recorded);
        let response = self.response(recorded);
        Exchange { request, response }
    }

    fn request(&mut self, recorded: &Recorded) -> RequestMatcher {
        let r = &recorded.request;
        let mut query: IndexMap<String, QueryValue> = IndexMap::new();
        for (name, value) in r.url.query_pairs() {
            let value = if is_secret_name(&name) { self.secret_value(&name, &value) } else { self.redact(&value) };
            match query.get_mut(name.as_ref()) {
                Some(QueryValue::One(first)) => {
                    let first = first.clone();
                    query.insert(name.into_owned(), QueryValue::Many(vec![first, value]));
                }
                Some(QueryValue::Many(values)) => values.push(value),
                None => {
                    query.insert(name.into_owned(), QueryValue::One(value));
                }
            }
        }
        let mut headers = IndexMap::new();
        for (name, value) in &r.headers {
            let value = if is_secret_name(name) { self.secret_value(name, value) } else { self.redact(value) };
            headers.insert(name.to_ascii_lowercase(), value);
        }
        let (mut body, mut form, mut body_text) = (None, None, None);
        if let Some(b) = &r.body {
            if b.content_type.contains("json") {
                match serde_json::from_slice::<Value>(&b.bytes) {
                    Ok(value) => body = Some(self.json(None, value)),
                    Err(_) => body_text = Some(self.redact(&String::from_utf8_lossy(&b.bytes))),
                }
            } else if b.content_type.contains("x-www-form-urlencoded") {
                let mut fields = IndexMap::new();
                for (name, value) in url::form_urlencoded::parse(&b.bytes) {
                    let value = if is_secret_name(&name) { self.secret_value(&name, &value) } else { self.redact(&value) };
                    fields.insert(name.into_owned(), value);
                }
                form = Some(fields);
            } else {
                body_text = Some(self.redact(&String::from_utf8_lossy(&b.bytes)));
            }
        }
        RequestMatcher { method: r.method, path: self.redact(r.url.path()), query, headers, body, form, body_text }
    }

    fn response(&mut self, recorded: &Recorded) -> RecordedResponse {
        let r = &recorded.response;
        let mut headers: IndexMap<String, HeaderValues> = IndexMap::new();
        for name in r.headers.keys() {
            let lower = name.as_str().to_ascii_lowercase();
            if NOISE_HEADERS.contains(&lower.as_str()) {
                continue;
            }
            let mut values = Vec::new();
            for value in r.headers.get_all(name) {
                let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
                let text = if lower == "set-cookie" {
                    self.cookie(&text)
                } else if is_secret_name(&lower) {
                    self.secret_value(&lower, &text)
                } else {
                    self.redact(&text)
                };
                values.push(text);
            }
            let entry = if values.len() == 1 { HeaderValues::One(values.remove(0)) } else { HeaderValues::Many(values) };
            headers.insert(lower, entry);
        }
        let content_type = r.header("content-type").unwrap_or("").to_ascii_lowercase();
        let (mut body, mut body_text) = (None, None);
        if !r.body.is_empty() {
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(value) => body = Some(self.json(None, value)),
                Err(_) if content_type.contains("x-www-form-urlencoded") => {
                    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
                    for (name, value) in url::form_urlencoded::parse(&r.body) {
                        let value = if is_secret_name(&name) { self.secret_value(&name, &value) } else { self.redact(&value) };
                        serializer.append_pair(&name, &value);
                    }
                    body_text = Some(serializer.finish());
                }
                Err(_) => body_text = Some(self.redact(&String::from_utf8_lossy(&r.body))),
            }
        }
        RecordedResponse { status: r.status, headers, body, body_text }
    }

    /// `name=value; attributes`: the value is replaced.
    fn cookie(&mut self, text: &str) -> String {
        let (pair, attributes) = text.split_once(';').map(|(p, a)| (p, Some(a))).unwrap_or((text, None));
        let pair = match pair.split_once('=') {
            Some((name, _)) => format!("{}=fake-cookie", name.trim()),
            None => "fake-cookie".to_string(),
        };
        match attributes {
            Some(a) => format!("{pair};{}", self.redact(a)),
            None => pair,
        }
    }

    fn json(&mut self, key: Option<&str>, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(match key {
                Some(k) if is_secret_name(k) => self.secret_value(k, &s),
                _ => self.redact(&s),
            }),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.json(key, v)).collect()),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let v = self.json(Some(&k), v);
                    out.insert(self.redact(&k), v);
                }
                Value::Object(out)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Body, UpstreamRequest, UpstreamResponse};
    use crate::registry::HttpMethod;
    use reqwest::header::HeaderMap;

    #[test]
    fn learns_refreshed_tokens_and_redacts_later_requests() {
        let live_refresh = "R7xQ2mV9kL4pN8sT1wZ3yB6cD0fG5hJ";
        let mut redactor = Redactor::new();
        redactor.add(live_refresh, "fake-refresh-token");
        redactor.add("C1ientS3cretQ7vR2xL9mN4pK8sT", "fake-client-secret");
        let token_request = UpstreamRequest {
            method: HttpMethod::Post,
            url: url::Url::parse("https://api.example.com/oauth/v1/token").unwrap(),
            headers: vec![],
            body: Some(Body::form(
                &serde_json::json!({"grant_type": "refresh_token", "refresh_token": live_refresh, "client_secret": "C1ientS3cretQ7vR2xL9mN4pK8sT"}),
                Default::default(),
            )),
        };
        let mut headers = HeaderMap::new();
        headers.insert("set-cookie", "__cf_bm=Zx81kQ0pLm2vN7sT9wB4; path=/; HttpOnly".parse().unwrap());
        let token_response = UpstreamResponse {
            status: 200,
            headers,
            body: bytes::Bytes::from(
                r#"{"access_token":"CJSP5qf1KhICAQEYs-gDIIGOBiiiqQMyGQAf3xBKml","refresh_token":"R7xQ2mV9kL4pN8sT1wZ3yB6cD0fG5hJ","expires_in":1800}"#,
            ),
            elapsed: Default::default(),
            url: token_request.url.clone(),
        };
        let exchange = redactor.exchange(&Recorded { request: token_request, response: token_response });
        let form = exchange.request.form.unwrap();
        assert_eq!(form["refresh_token"], "fake-refresh-token");
        assert_eq!(form["client_secret"], "fake-client-secret");
        let body = exchange.response.body.unwrap();
        assert_eq!(body["access_token"], "fake-access-token");
        assert_eq!(body["refresh_token"], "fake-refresh-token");
        assert_eq!(exchange.response.headers["set-cookie"], HeaderValues::One("__cf_bm=fake-cookie; path=/; HttpOnly".into()));
        assert_eq!(redactor.redact("Bearer CJSP5qf1KhICAQEYs-gDIIGOBiiiqQMyGQAf3xBKml"), "Bearer fake-access-token");
    }
}
