//! Reading a provider's answer: rate limits first (a limit is never retried), then the
//! definition's error rules (`errors.when`, on any status), then the status, then the body,
//! with the definition's error mapping applied to errors.

use super::call::ProviderResponse;
use super::Engine;
use crate::error::{ErrorKind, RuntimeError};
use crate::http::UpstreamResponse;
use crate::mapping::Bindings;
use crate::pagination::headers_json;
use crate::rate_limit::{self, truthy, Matches, RateLimitStatus, ResponseParts};
use crate::registry::{Integration, Method, RateLimit};
use serde_json::Value;

impl Engine {
    /// `method` is the definition's method that was called (its own `errors.when` rules are
    /// checked before the integration's); `None` applies the integration's rules only.
    pub(crate) fn classify(
        &self,
        integration: &Integration,
        method: Option<&Method>,
        response: &UpstreamResponse,
    ) -> Result<ProviderResponse, RuntimeError> {
        self.classify_parsed(integration, method, response, parse_body(response))
    }

    /// [`Self::classify`] with the body already parsed (`Err`: why it is not JSON).
    pub(crate) fn classify_parsed(
        &self,
        integration: &Integration,
        method: Option<&Method>,
        response: &UpstreamResponse,
        parsed: Result<Value, String>,
    ) -> Result<ProviderResponse, RuntimeError> {
        // Borrowed for the error paths; the success path moves `parsed` (no copy of the page).
        let body = parsed.as_ref().unwrap_or(&Value::Null);
        let own = method.and_then(|m| m.rate_limit.as_ref());
        let rate_limit = match own {
            // An endpoint's own limit comes on top of the integration's: the one reported is
            // the one that binds first (see `binding`).
            Some(own) => binding(
                self.rate_limit_status(Some(own), response, parsed.as_ref().ok()),
                self.rate_limit_status(integration.rate_limit.as_ref(), response, parsed.as_ref().ok()),
            ),
            None => self.rate_limit_status(integration.rate_limit.as_ref(), response, parsed.as_ref().ok()),
        };
        let status = response.status;
        // With a rate_limit block its rules decide (Stripe's lock_timeout 429 is not a limit);
        // without one, a 429 is the only signal there is.
        if rate_limit.limited || (own.is_none() && integration.rate_limit.is_none() && status == 429) {
            let mut error = self.provider_error(integration, ErrorKind::RateLimited, response, body);
            error.message = match rate_limit.retry_after_seconds.or(rate_limit.reset_seconds) {
                Some(wait) => format!("the provider's rate limit was reached; retry in {wait} s ({})", error.message),
                None => format!("the provider's rate limit was reached ({})", error.message),
            };
            error.rate_limit = Some(RateLimitStatus { limited: true, ..rate_limit });
            return Err(error);
        }
        // The definition's error rules, on any status: a 200 whose body means "deleted" is
        // not_found; an error status can be reclassified. Rate limits were decided above.
        if let Some(kind) = self.error_rule_kind(integration, method, response, parsed.as_ref().ok()) {
            let mut error = self.provider_error(integration, kind, response, body);
            error.rate_limit = Some(rate_limit);
            return Err(error);
        }
        if !(200..300).contains(&status) {
            let kind = match status {
                401 => ErrorKind::Auth,
                404 | 410 => ErrorKind::NotFound,
                408 | 504 => ErrorKind::Timeout,
                400..=499 => ErrorKind::Validation,
                _ => ErrorKind::Upstream,
            };
            let mut error = self.provider_error(integration, kind, response, body);
            error.rate_limit = Some(rate_limit);
            return Err(error);
        }
        let body = parsed.map_err(|why| RuntimeError::new(ErrorKind::Upstream, why).with_response(status, &response.body))?;
        Ok(ProviderResponse {
            status,
            headers: response.headers.clone(),
            body,
            url: response.url.clone(),
            elapsed: response.elapsed,
            rate_limit,
            refreshed: None,
        })
    }

    /// The kind of the first `errors.when` rule that matches the response: the method's
    /// rules first, then the integration's.
    fn error_rule_kind(
        &self,
        integration: &Integration,
        method: Option<&Method>,
        response: &UpstreamResponse,
        body: Option<&Value>,
    ) -> Option<ErrorKind> {
        let method_rules = method.and_then(|m| m.errors.as_ref()).map(|e| e.when.as_slice()).unwrap_or_default();
        let integration_rules = integration.errors.as_ref().map(|e| e.when.as_slice()).unwrap_or_default();
        if method_rules.is_empty() && integration_rules.is_empty() {
            return None;
        }
        let parts = ResponseParts { status: response.status, headers: &response.headers, body };
        let matches =
            |expr: &crate::registry::Expr, body: &Value| self.eval(expr, body, &Bindings::new()).map(|v| truthy(&v)).unwrap_or(false);
        method_rules.iter().chain(integration_rules).find(|rule| rule.matches(&parts, &matches)).map(|rule| ErrorKind::from(rule.kind))
    }

    /// The response's rate-limit state per `policy` (the method's own or the integration's;
    /// `body` is the parsed JSON body, if any: a rule with a `body` condition never matches
    /// without one).
    pub(crate) fn rate_limit_status(
        &self,
        policy: Option<&RateLimit>,
        response: &UpstreamResponse,
        body: Option<&Value>,
    ) -> RateLimitStatus {
        match policy {
            Some(def) => {
                let parts = ResponseParts { status: response.status, headers: &response.headers, body };
                let matches = |expr: &crate::registry::Expr, body: &Value| {
                    self.eval(expr, body, &Bindings::new()).map(|v| truthy(&v)).unwrap_or(false)
                };
                rate_limit::inspect(def, &parts, self.now(), &matches)
            }
            None => RateLimitStatus::default(),
        }
    }

    /// An error carrying the provider's status, body excerpt, and what the definition's
    /// error mapping makes of it.
    fn provider_error(&self, integration: &Integration, kind: ErrorKind, response: &UpstreamResponse, body: &Value) -> RuntimeError {
        let mut error = RuntimeError::new(kind, format!("the provider answered HTTP {}", response.status))
            .with_response(response.status, &response.body);
        error.provider_body = Some(body_or_text(body, response));
        if let Some(errors) = &integration.errors {
            let input = serde_json::json!({ "status": response.status, "headers": headers_json(&response.headers), "body": body_or_text(body, response) });
            match self.eval(&errors.mapping, &input, &Bindings::new()) {
                Ok(mapped @ Value::Object(_)) => {
                    if let Some(message) = mapped.get("message").and_then(Value::as_str) {
                        error.message = format!("the provider answered HTTP {}: {message}", response.status);
                    }
                    error.provider_error = Some(mapped);
                }
                Ok(_) => {}
                Err(mapping_error) => {
                    error.message = format!("{} (and the error mapping failed: {})", error.message, mapping_error.message);
                }
            }
        }
        error
    }
}

/// Of an endpoint's own limit and the integration's, the one a caller meets first: a limited
/// one (if both say so, the one with nothing remaining, else the longer wait), else the one
/// with fewer requests remaining (a known count before an unknown one; the endpoint's own on a
/// tie).
fn binding(own: RateLimitStatus, integration: RateLimitStatus) -> RateLimitStatus {
    let wait = |s: &RateLimitStatus| s.retry_after_seconds.or(s.reset_seconds).unwrap_or(0);
    let spent = |s: &RateLimitStatus| s.remaining == Some(0);
    match (own.limited, integration.limited) {
        (true, true) => {
            if (spent(&integration) && !spent(&own)) || (spent(&integration) == spent(&own) && wait(&integration) > wait(&own)) {
                integration
            } else {
                own
            }
        }
        (true, false) => own,
        (false, true) => integration,
        (false, false) => match (own.remaining, integration.remaining) {
            (Some(a), Some(b)) if b < a => integration,
            (None, Some(_)) => integration,
            _ => own,
        },
    }
}

/// The body as JSON: empty is `Null`; anything else must parse.
pub(super) fn parse_body(response: &UpstreamResponse) -> Result<Value, String> {
    let bytes = &response.body;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    // Checked as UTF-8 once, whole (fast on ASCII), rather than string by string as
    // `from_slice` does; text that is not UTF-8 goes to `from_slice` for its error's place.
    let parsed = match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    };
    parsed.map_err(|e| {
        let kind = response.header("content-type").unwrap_or("no content type");
        if e.is_eof() {
            format!("the provider's response body is truncated JSON ({kind}, {} bytes): {e}", bytes.len())
        } else {
            format!("the provider's response is not JSON ({kind}, {} bytes): {e}", bytes.len())
        }
    })
}

/// An error body for the error mapping: JSON if it parses, else the text.
fn body_or_text(body: &Value, response: &UpstreamResponse) -> Value {
    if body.is_null() && !response.body.is_empty() {
        Value::String(String::from_utf8_lossy(&response.body[..response.body.len().min(4096)]).into_owned())
    } else {
        body.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(limited: bool, remaining: Option<u64>, wait: Option<u64>) -> RateLimitStatus {
        RateLimitStatus { limited, limit: Some(100), remaining, reset_seconds: wait, retry_after_seconds: wait, window_seconds: None }
    }

    #[test]
    fn the_limit_that_binds_first_is_reported() {
        let (own, account) = (status(false, Some(99), Some(41)), status(false, Some(699), Some(41)));
        assert_eq!(binding(own.clone(), account.clone()), own, "fewer remaining");
        assert_eq!(binding(status(false, Some(700), None), account.clone()), account, "fewer remaining");
        assert_eq!(binding(status(false, None, None), account.clone()), account, "a known count first");
        let limited_account = status(true, Some(0), Some(41));
        assert_eq!(binding(status(true, Some(52), Some(41)), limited_account.clone()), limited_account, "the one spent");
        assert_eq!(binding(own.clone(), limited_account.clone()), limited_account, "the limited one");
        let (short, long) = (status(true, Some(0), Some(5)), status(true, Some(0), Some(60)));
        assert_eq!(binding(short, long.clone()), long, "the longer wait");
    }
}
