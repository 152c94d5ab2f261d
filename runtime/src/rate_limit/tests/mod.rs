//! Table-driven tests: each provider's `rate_limit` block as its definition would write it, a
//! response shaped like the provider's, a fixed `now`, and the exact normalized headers.
//!
//! The provider-shaped data (definitions, header names, bodies, case names) lives in
//! `cases.json`, where the provider each definition imitates is named; the Rust here names
//! definitions by the behaviour they exercise.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue as HttpValue};
use serde::Deserialize;
use serde_json::{json, Value};

use super::*;

mod behaviour;
mod providers;
use crate::registry::{
    Expr, HeaderEquals, HeaderValue, LimitedWhen, NumberFormat, RateLimit, RateLimited, ResetHeader, RetryAfter, RetryAfterUnit, TimeUnit,
};

// ---------- builders: the Rust twin of a definition's YAML, for definitions made in a test ----------

pub(super) fn on(status: &[u16]) -> LimitedWhen {
    LimitedWhen { status: status.to_vec(), header: None, body: None, kind: RateLimited }
}

pub(super) fn on_header(status: &[u16], name: &str, equals: Option<&str>) -> LimitedWhen {
    LimitedWhen { header: Some(HeaderEquals { name: name.into(), equals: equals.map(Into::into) }), ..on(status) }
}

pub(super) fn reset(header: &str, unit: TimeUnit) -> Option<ResetHeader> {
    Some(ResetHeader { header: header.into(), unit, prefix: None })
}

pub(super) fn retry(header: &str, unit: RetryAfterUnit) -> RetryAfter {
    RetryAfter { header: header.into(), unit, prefix: None }
}

pub(super) fn def(limited_when: Vec<LimitedWhen>) -> RateLimit {
    RateLimit { limited_when, limit: None, remaining: None, reset: None, retry_after: RetryAfter::default(), window_seconds: None }
}

// ---------- the data file ----------

/// `cases.json`: definitions by behaviour, and the limited-and-not cases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Data {
    #[serde(rename = "_about")]
    _about: String,
    pub(super) definitions: BTreeMap<String, Definition>,
    pub(super) limited_and_not: Vec<Case>,
}

/// A `rate_limit` block, in the shape a definition writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Definition {
    /// The provider whose definition this block imitates.
    pub(super) imitates: String,
    /// How that provider limits.
    #[allow(dead_code)]
    about: String,
    pub(super) rate_limit: RateLimit,
}

pub(super) static DATA: LazyLock<Data> =
    LazyLock::new(|| serde_json::from_str(include_str!("cases.json")).unwrap_or_else(|e| panic!("cases.json: {e}")));

/// The definition stored under `key`, with what it imitates for failure messages.
pub(super) fn definition(key: &str) -> &'static Definition {
    DATA.definitions.get(key).unwrap_or_else(|| panic!("cases.json has no definition `{key}`"))
}

/// The header a definition reads a field from.
pub(super) fn header_of(value: &Option<HeaderValue>) -> &str {
    &value.as_ref().expect("the definition reads this field").header
}

pub(super) fn reset_header_of(def: &RateLimit) -> &str {
    &def.reset.as_ref().expect("the definition reads a reset").header
}

// The definitions these tests use by hand, named by behaviour; `cases.json` names the provider
// each imitates.

// HubSpot: 429; Max / Remaining / Interval-Milliseconds (delta_millis); a 10 s window.
pub(super) fn interval_millis_limits() -> RateLimit {
    definition("interval_millis_limits").rate_limit.clone()
}

// GitHub: 429; 403 with remaining 0 (primary); 403 with retry-after (secondary).
pub(super) fn remaining_zero_or_retry_after_on_403() -> RateLimit {
    definition("remaining_zero_or_retry_after_on_403").rate_limit.clone()
}

// Shopify: 429; the `used/limit` bucket header; float Retry-After.
pub(super) fn used_of_limit_bucket() -> RateLimit {
    definition("used_of_limit_bucket").rate_limit.clone()
}

// Attio: 429 with an HTTP-date Retry-After.
pub(super) fn http_date_retry_after() -> RateLimit {
    definition("http_date_retry_after").rate_limit.clone()
}

// Jira: 429; ISO reset; Retry-After seconds.
pub(super) fn iso8601_reset() -> RateLimit {
    definition("iso8601_reset").rate_limit.clone()
}

/// The body condition of `body_error_code_on_403`, emulated by [`body_matches`].
pub(super) const BODY_ERROR_CODE_CONDITION: &str = r#""REQUEST_LIMIT_EXCEEDED" in errorCode"#;

// Salesforce: 403 with errorCode REQUEST_LIMIT_EXCEEDED; usage as `api-usage=used/limit`.
pub(super) fn body_error_code_on_403() -> RateLimit {
    definition("body_error_code_on_403").rate_limit.clone()
}

// Pipedrive: 429; x-ratelimit-reset in delta seconds; a 2 s window.
pub(super) fn delta_seconds_reset_short_window() -> RateLimit {
    definition("delta_seconds_reset_short_window").rate_limit.clone()
}

// ---------- the test harness ----------

/// `now` from an RFC 3339 timestamp.
pub(super) fn at(rfc3339: &str) -> SystemTime {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    UNIX_EPOCH + Duration::new(t.timestamp() as u64, t.timestamp_subsec_nanos())
}

pub(super) fn header_map<N: AsRef<str>, V: AsRef<str>>(headers: &[(N, V)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(HeaderName::try_from(name.as_ref()).unwrap(), HttpValue::from_str(value.as_ref()).unwrap());
    }
    map
}

/// Emulates the JSONata engine for the conditions these tests use.
pub(super) fn body_matches(expr: &Expr, body: &Value) -> bool {
    match expr.source.as_str() {
        // JSONata maps `errorCode` over an array body: true when any element has the code.
        BODY_ERROR_CODE_CONDITION => {
            let items = match body {
                Value::Array(items) => items.as_slice(),
                other => std::slice::from_ref(other),
            };
            items.iter().any(|item| item.get("errorCode") == Some(&json!("REQUEST_LIMIT_EXCEEDED")))
        }
        other => panic!("no emulation for {other}"),
    }
}

/// A response (status, headers, body) at a fixed `now`, and exactly what it must normalize to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Case {
    name: String,
    /// Why the expected values are what they are, where it takes arithmetic.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    /// A key of `definitions`.
    definition: String,
    status: u16,
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<Value>,
    now: Now,
    expect: Expected,
    headers_out: Vec<(String, String)>,
}

/// An RFC 3339 timestamp, or Unix milliseconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum Now {
    Rfc3339(String),
    UnixMillis(u64),
}

impl Now {
    fn time(&self) -> SystemTime {
        match self {
            Now::Rfc3339(text) => at(text),
            Now::UnixMillis(millis) => UNIX_EPOCH + Duration::from_millis(*millis),
        }
    }
}

/// A [`RateLimitStatus`], every field spelled out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    limited: bool,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset_seconds: Option<u64>,
    retry_after_seconds: Option<u64>,
    window_seconds: Option<u64>,
}

impl Expected {
    fn status(&self) -> RateLimitStatus {
        expect(self.limited, self.limit, self.remaining, self.reset_seconds, self.retry_after_seconds, self.window_seconds)
    }
}

pub(super) fn expect(
    limited: bool,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry: Option<u64>,
    window: Option<u64>,
) -> RateLimitStatus {
    RateLimitStatus { limited, limit, remaining, reset_seconds: reset, retry_after_seconds: retry, window_seconds: window }
}

pub(super) fn run(cases: &[Case]) {
    assert!(!cases.is_empty(), "cases.json has no cases");
    let mut failures = Vec::new();
    for case in cases {
        let def = &definition(&case.definition).rate_limit;
        let headers = header_map(&case.headers);
        let response = ResponseParts { status: case.status, headers: &headers, body: case.body.as_ref() };
        let got = inspect_detailed(def, &response, case.now.time(), &body_matches);
        let got_headers = got.status.headers();
        let want_headers: Vec<(&str, String)> = case.headers_out.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let want = case.expect.status();
        if got.status != want {
            failures.push(format!("{}: status\n  got  {:?}\n  want {:?}", case.name, got.status, want));
        }
        if got_headers != want_headers {
            failures.push(format!("{}: headers\n  got  {:?}\n  want {:?}", case.name, got_headers, want_headers));
        }
        if !got.problems.is_empty() {
            failures.push(format!("{}: unexpected problems {:?}", case.name, got.problems));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
