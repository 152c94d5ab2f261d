//! Rate limits: read a provider's rate-limit signals from a response and normalize them.
//!
//! A definition's `rate_limit` block (see `docs/dsl.md`, compiled into
//! [`crate::registry::RateLimit`]) says when a response counts as rate limited and which headers
//! hold the limit, the remaining budget, the reset and the retry delay. [`inspect`] applies it to
//! one response; [`RateLimitStatus::headers`] turns the result into the headers returned to callers.
//!
//! # What is read
//! - **Limited or not.** A response is limited when any `limited_when` rule matches: its status is
//!   in `status`, and, if given, the `header` condition holds (the header is present; with `equals`,
//!   one of its values equals `equals`, both trimmed) and the `body` condition holds (a JSONata
//!   expression on the parsed JSON body, evaluated by the caller's engine; a response without a JSON
//!   body never matches a rule with a `body` condition). GitHub's 403 with
//!   `x-ratelimit-remaining: 0`, Salesforce's 403 `REQUEST_LIMIT_EXCEEDED` and BambooHR's 503 with
//!   `Retry-After` are all rules; nothing else (no status is special, not even 429).
//! - **Numbers, on every response.** `limit`, `remaining`, `reset` and `retry_after` are read
//!   whether or not the response is limited, so callers can show the remaining budget on success.
//!   Header names are case-insensitive. A `number` is a whole non-negative number (`40.0` is 40;
//!   `39.5`, `-1`, `1e3` are not numbers). `used_of_limit` is `used/limit`: `limit` is the second
//!   number and `remaining` is limit − used (0 if used exceeds the limit). A `prefix` selects the
//!   first `,`/`;`-separated entry that starts with it, without the prefix (Salesforce's
//!   `api-usage=10018/100000; per-app-api-usage=17/250(…)` with prefix `api-usage=` reads
//!   `10018/100000`).
//!
//! # How units are converted
//! Every time becomes whole seconds from `now`, rounded up (a 1.2 s wait is 2 s; waiting a little
//! longer is safe, retrying early is not), and a time in the past is 0:
//!
//! | unit | the header holds | example → seconds |
//! |---|---|---|
//! | `delta_seconds` | seconds, integer or decimal | Shopify `Retry-After: 2.0` → 2 |
//! | `delta_millis` | milliseconds, integer or decimal | HubSpot `…-Interval-Milliseconds: 10000` → 10 |
//! | `epoch_seconds` | Unix time | GitHub `x-ratelimit-reset: 1655120964` → that minus now |
//! | `epoch_millis` | Unix time in ms | `1655120964000` → that minus now |
//! | `http_date` | IMF-fixdate (RFC 850 and asctime too) | Attio `Tue, 23 May 2023 14:42:01 GMT` |
//! | `iso8601` | RFC 3339, or without seconds | Jira `2024-06-01T09:00Z` |
//! | `auto` | RFC 9110 `Retry-After`: delay-seconds or an HTTP-date | `120`, `2.0`, a date |
//!
//! An epoch value outside the years 2000–3000 is rejected: it means the definition's unit is wrong
//! (a relative reset read as an epoch, or milliseconds read as seconds), and reading it would give
//! a wrong number. An ISO timestamp without an offset is rejected rather than guessed as UTC.
//!
//! A header that is absent leaves its field `None`. A header whose value cannot be read (not a
//! number, not ASCII, repeated with different values, out of range) is **ignored**: its field is
//! `None`, never a guess, never a panic. [`inspect_detailed`] also returns each ignored header with
//! the reason, for logging.
//!
//! # What is returned
//! [`RateLimitStatus`] holds `limited` and the numbers; [`RateLimitStatus::headers`] gives, in this
//! order and each only when its inputs are known:
//!
//! | header | value | needs |
//! |---|---|---|
//! | `ratelimit-limit` | the limit | limit |
//! | `ratelimit-remaining` | the remaining budget | remaining |
//! | `ratelimit-reset` | seconds until the reset (early IETF draft; the form Truto documents) | reset |
//! | `RateLimit-Policy` | `"default";q=<limit>;w=<window>` (latest draft, a Structured Field list) | limit (`w` when `window_seconds` is set) |
//! | `RateLimit` | `"default";r=<remaining>;t=<reset>` | remaining (`t` when the reset is known) |
//! | `Retry-After` | delay-seconds | a limited response with a known retry delay, or else a known reset |
//!
//! The structured fields are serialized with `sfv`; a number beyond the 15 digits a Structured Field
//! integer can hold leaves out its parameter (or the whole field, when the parameter is required).
//! There is one policy, named `default`: the DSL describes one limit per integration.
//!
//! # Why we never retry
//! This module only reads and normalizes; it never sleeps and never retries. A limit belongs to the
//! customer's account at the provider, shared with every other client of that account: only the
//! caller knows whether the call is worth waiting for (an interactive request would rather fail
//! fast; a sync job can reschedule), and a silent retry inside the server hides the limit, holds a
//! connection open for up to the reset (an hour on GitHub) and multiplies load on an upstream that
//! has just asked for less. So a limited response goes back to the caller at once, with the
//! provider's numbers in the normalized headers above.

mod parse;
pub(crate) mod status;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::SystemTime;

use reqwest::header::HeaderMap;

use crate::registry::{Expr, HeaderValue, NumberFormat, RateLimit, ResponseRule};
pub use parse::ParseError;
use parse::Unit;
pub use status::RateLimitStatus;

/// The parts of an upstream response that rate-limit detection reads.
pub struct ResponseParts<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    /// The body parsed as JSON; `None` when it is not JSON (a `body` condition then never holds).
    pub body: Option<&'a serde_json::Value>,
}

/// Which field of the `rate_limit` block a header feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Limit,
    Remaining,
    Reset,
    RetryAfter,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Limit => "limit",
            Field::Remaining => "remaining",
            Field::Reset => "reset",
            Field::RetryAfter => "retry_after",
        })
    }
}

/// A header that was present but ignored, for logging.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate_limit.{field}: ignored header `{header}`: {value:?}: {error}")]
pub struct HeaderProblem {
    pub field: Field,
    /// The header name as the definition spells it.
    pub header: String,
    /// The value (lossy UTF-8, at most 64 characters).
    pub value: String,
    pub error: ParseError,
}

/// [`inspect`]'s result with the headers it had to ignore.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inspection {
    pub status: RateLimitStatus,
    pub problems: Vec<HeaderProblem>,
}

/// Reads a response's rate-limit state per the definition.
///
/// `body_matches` evaluates a rule's JSONata `body` condition (the caller owns the JSONata engine);
/// it returns true when the condition holds. It is only called for a rule whose status matched,
/// and only when the response has a JSON body.
pub fn inspect(
    def: &RateLimit,
    response: &ResponseParts,
    now: SystemTime,
    body_matches: &dyn Fn(&Expr, &serde_json::Value) -> bool,
) -> RateLimitStatus {
    inspect_detailed(def, response, now, body_matches).status
}

/// [`inspect`], also returning every header that was present but could not be read.
pub fn inspect_detailed(
    def: &RateLimit,
    response: &ResponseParts,
    now: SystemTime,
    body_matches: &dyn Fn(&Expr, &serde_json::Value) -> bool,
) -> Inspection {
    let mut problems = Vec::new();
    let mut read = |field: Field, header: &str, parse: &dyn Fn(&str) -> Result<u64, ParseError>| {
        let result = header_text(response.headers, header).and_then(|text| match text {
            Some(text) => parse(text).map(Some),
            None => Ok(None),
        });
        result.unwrap_or_else(|error| {
            problems.push(HeaderProblem { field, header: header.to_owned(), value: raw_value(response.headers, header), error });
            None
        })
    };
    let limit = def.limit.as_ref().and_then(|v| read(Field::Limit, &v.header, &|text| read_count(v, text, parse::parse_limit)));
    let remaining =
        def.remaining.as_ref().and_then(|v| read(Field::Remaining, &v.header, &|text| read_count(v, text, parse::parse_remaining)));
    let reset_seconds = def.reset.as_ref().and_then(|r| {
        let unit = Unit::from(r.unit);
        read(Field::Reset, &r.header, &|text| parse::parse_seconds_until(parse::strip_prefix(text, r.prefix.as_deref())?, unit, now))
    });
    let retry_unit = Unit::from(def.retry_after.unit);
    let retry_prefix = def.retry_after.prefix.as_deref();
    let retry_after_seconds = read(Field::RetryAfter, &def.retry_after.header, &|text| {
        parse::parse_seconds_until(parse::strip_prefix(text, retry_prefix)?, retry_unit, now)
    });

    let limited = def.limited_when.iter().any(|rule| rule.matches(response, body_matches));
    Inspection {
        status: RateLimitStatus { limited, limit, remaining, reset_seconds, retry_after_seconds, window_seconds: def.window_seconds },
        problems,
    }
}

/// Applies a HeaderValue's prefix, then reads the count in its format with `pick`.
fn read_count(value: &HeaderValue, text: &str, pick: fn(&str, NumberFormat) -> Result<u64, ParseError>) -> Result<u64, ParseError> {
    pick(parse::strip_prefix(text, value.prefix.as_deref())?, value.format)
}

/// Matching a definition's [`ResponseRule`] against a response: one method for the three
/// families (`rate_limit.limited_when`, `errors.when`, `auth.token_response.error_when`).
pub trait Matches {
    /// Whether the rule's conditions hold: the status is listed (an empty list accepts any
    /// status, for every family; a definition's `limited_when` rule always lists some), the
    /// header is present (with `equals`, one of its values equals it, both trimmed), and the
    /// `body` expression holds on the parsed body per `body_matches` (never, when the response
    /// has none). The rule's `kind` is not looked at: what a match means is the caller's.
    fn matches(&self, response: &ResponseParts, body_matches: &dyn Fn(&Expr, &serde_json::Value) -> bool) -> bool;
}

impl<K> Matches for ResponseRule<K> {
    fn matches(&self, response: &ResponseParts, body_matches: &dyn Fn(&Expr, &serde_json::Value) -> bool) -> bool {
        if !self.status.is_empty() && !self.status.contains(&response.status) {
            return false;
        }
        if let Some(condition) = &self.header {
            let mut values = response.headers.get_all(condition.name.as_str()).iter();
            let holds = match &condition.equals {
                None => values.next().is_some(),
                Some(expected) => {
                    let expected = expected.trim();
                    values.any(|v| v.to_str().is_ok_and(|text| text.trim() == expected))
                }
            };
            if !holds {
                return false;
            }
        }
        match (&self.body, response.body) {
            (None, _) => true,
            (Some(expr), Some(body)) => body_matches(expr, body),
            (Some(_), None) => false,
        }
    }
}

/// Whether a rule's `body` expression gave a truthy value (JSONata's truthiness: an array is
/// true when any item is).
pub(crate) fn truthy(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(truthy),
        Value::Object(_) => true,
    }
}

/// The header's trimmed text: `None` when absent; an error when it is not visible ASCII, empty,
/// or repeated with different values (which one is current cannot be known).
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ParseError> {
    let mut text = None;
    for value in headers.get_all(name) {
        let this = value.to_str().map_err(|_| ParseError::NotText)?.trim();
        match text {
            None => text = Some(this),
            Some(seen) if seen == this => {}
            Some(_) => return Err(ParseError::Conflicting),
        }
    }
    match text {
        Some("") => Err(ParseError::Empty),
        text => Ok(text),
    }
}

fn raw_value(headers: &HeaderMap, name: &str) -> String {
    let joined: Vec<String> = headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
    joined.join(", ").chars().take(64).collect()
}
