//! OAuth2 token requests (refresh grant, client credentials; the authorization-code grant
//! is in `connect.rs`) and token responses.

use super::apply::basic;
use crate::account::Account;
use crate::error::{ErrorKind, RuntimeError};
use crate::http::{build_url, render, Body, Encoding, Scopes, UpstreamRequest, UpstreamResponse};
use crate::mapping::{self, Bindings, EvalOptions, Mapping};
use crate::rate_limit::{truthy, Matches, ResponseParts};
use crate::registry::{ClientAuth, Expr, HttpMethod, OAuth2, QueryArrayFormat, StoreValue, TokenFormat};
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenGrant {
    RefreshToken,
    ClientCredentials,
}

/// The outcome of a token request.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSet {
    pub access_token: String,
    /// The refresh token to keep: a new one if the provider rotated it, else the old one.
    pub refresh_token: Option<String>,
    /// True when the response carried a refresh token different from the one sent: the
    /// old one is dead and must never be sent again.
    pub rotated: bool,
    pub expires_at: Option<SystemTime>,
    /// Extra token-response fields stored into connection fields (`instance_url`, …).
    pub connection_updates: Vec<(String, String)>,
}

/// Builds the token request for a grant.
pub fn token_request(def: &OAuth2, account: &Account, grant: TokenGrant) -> Result<UpstreamRequest, RuntimeError> {
    token_endpoint_request(def, account, |form| {
        match grant {
            TokenGrant::RefreshToken => {
                let refresh = account.credentials.get("refresh_token").filter(|r| !r.is_empty()).ok_or_else(|| {
                    RuntimeError::new(
                        ErrorKind::NeedsReauth,
                        "the access token expired and the account has no refresh token; the customer must reconnect",
                    )
                })?;
                form.insert("grant_type".into(), "refresh_token".into());
                form.insert("refresh_token".into(), refresh.into());
            }
            TokenGrant::ClientCredentials => {
                form.insert("grant_type".into(), "client_credentials".into());
                if !def.scopes.is_empty() {
                    form.insert("scope".into(), def.scopes.join(&def.scope_separator).into());
                }
            }
        }
        Ok(())
    })
}

/// A request to the token endpoint, whatever the grant: the token URL rendered for the
/// account, the grant's own parameters (`grant` fills them in, and may refuse), then the
/// definition's `token_params`, then the client's credentials as `client_auth` says, all
/// encoded as `token_format` says. The refresh, client-credentials and authorization-code
/// grants all build their requests here.
pub(crate) fn token_endpoint_request(
    def: &OAuth2,
    account: &Account,
    grant: impl FnOnce(&mut Map<String, Value>) -> Result<(), RuntimeError>,
) -> Result<UpstreamRequest, RuntimeError> {
    let params = Map::new();
    let scopes =
        Scopes { connection: &account.connection, credentials: &account.credentials, params: &params, install: Some(&account.install) };
    let token_url = render(&def.token_url, &scopes, Encoding::BaseUrl)?;
    let url = build_url(&token_url, "", &[])?;
    let mut form = Map::new();
    grant(&mut form)?;
    for (name, value) in &def.token_params {
        form.insert(name.clone(), render(value, &scopes, Encoding::Raw)?.into());
    }
    // After the grant's own checks: an account without a refresh token needs reauth,
    // whatever its client.
    let client_id = render(&def.client_id, &scopes, Encoding::Raw)?;
    let client_secret = render(&def.client_secret, &scopes, Encoding::Raw)?;
    let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
    match def.client_auth {
        ClientAuth::Body => {
            form.insert("client_id".into(), client_id.into());
            form.insert("client_secret".into(), client_secret.into());
        }
        ClientAuth::BasicHeader => headers.push(("Authorization".to_string(), basic(&client_id, &client_secret))),
    }
    let body = match def.token_format {
        TokenFormat::Form => Body::form(&Value::Object(form), QueryArrayFormat::Repeat),
        TokenFormat::Json => Body::json(&Value::Object(form)),
    };
    Ok(UpstreamRequest { method: HttpMethod::Post, url, headers, body: Some(body) })
}

/// Reads a token response (JSON, or form-encoded as some providers answer by default).
pub fn parse_token_response(
    def: &OAuth2,
    response: &UpstreamResponse,
    previous_refresh: Option<&str>,
    now: SystemTime,
) -> Result<TokenSet, RuntimeError> {
    let parsed = token_body(response);
    // The definition's own rules first (`token_response.error_when`), on any status.
    if let Some(kind) = rule_kind(def, response, parsed.as_ref()) {
        return Err(token_error(def, response, Some(kind)));
    }
    if !(200..300).contains(&response.status) {
        return Err(classify_token_error(def, response));
    }
    let body = parsed.ok_or_else(|| {
        RuntimeError::new(ErrorKind::Upstream, "the token endpoint answered with a body that is neither JSON nor form-encoded")
            .with_response(response.status, &response.body)
    })?;
    // Some providers answer 200 with an error object.
    if def.token_response.error.lookup(&body).and_then(text).is_some_and(|c| !c.is_empty())
        && def.token_response.access_token.lookup(&body).is_none()
    {
        return Err(classify_token_error(def, response));
    }
    let access_token = def.token_response.access_token.lookup(&body).and_then(text).filter(|t| !t.is_empty()).ok_or_else(|| {
        RuntimeError::new(ErrorKind::Upstream, format!("the token response has no `{}`", def.token_response.access_token))
            .with_response(response.status, &response.body)
    })?;
    let new_refresh = def.token_response.refresh_token.lookup(&body).and_then(text).filter(|t| !t.is_empty());
    let rotated = matches!((&new_refresh, previous_refresh), (Some(new), Some(old)) if new != old);
    let expires_at = expiry(def.token_response.expires_in.lookup(&body), now);
    let connection_updates = def
        .token_response
        .store
        .iter()
        .filter_map(|(field, value)| {
            let stored = match value {
                StoreValue::Value(path) => path.lookup(&body).and_then(text),
                StoreValue::Expiry { expires_in } => expiry(expires_in.lookup(&body), now).map(rfc3339),
            };
            stored.map(|v| (field.clone(), v))
        })
        .collect();
    Ok(TokenSet {
        access_token,
        refresh_token: new_refresh.or_else(|| previous_refresh.map(str::to_string)),
        rotated,
        expires_at,
        connection_updates,
    })
}

/// The longest token lifetime believed, ten years: a longer `expires_in` is capped to it.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

/// When a token expires, from its lifetime in seconds (`expires_in`, RFC 6749 §5.1):
/// - absent or `null`: no expiry given (`None`): the token is used until a 401 says otherwise
///   (Salesforce sends none);
/// - a number, or a string holding one: that many seconds from `now`, at most
///   [`MAX_TOKEN_LIFETIME`]; zero or negative means already expired (`now`): the token serves
///   the call that fetched it, and the next call refreshes it first;
/// - anything else (`"soon"`, a boolean, an object): unreadable, and treated as already
///   expired, since a token is never trusted past an expiry that cannot be read. The answer is
///   not refused: its tokens, a rotated refresh token above all, must be kept.
fn expiry(value: Option<&Value>, now: SystemTime) -> Option<SystemTime> {
    let seconds = match value? {
        Value::Null => return None,
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match seconds.filter(|s| s.is_finite() && *s > 0.0) {
        Some(seconds) => Some(now + Duration::from_secs_f64(seconds.min(MAX_TOKEN_LIFETIME.as_secs_f64()))),
        None => Some(now),
    }
}

fn rfc3339(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The kind of the first `token_response.error_when` rule that matches the response.
fn rule_kind(def: &OAuth2, response: &UpstreamResponse, body: Option<&Value>) -> Option<ErrorKind> {
    let rules = &def.token_response.error_when;
    if rules.is_empty() {
        return None;
    }
    let parts = ResponseParts { status: response.status, headers: &response.headers, body };
    // A condition that cannot be evaluated does not hold (as for `errors.when`).
    let matches = |expr: &Expr, body: &Value| {
        Mapping::compile(expr)
            .ok()
            .and_then(|m| mapping::evaluate(&m, body, &Bindings::new(), &EvalOptions::default()).ok())
            .is_some_and(|v| truthy(&v))
    };
    rules.iter().find(|r| r.matches(&parts, &matches)).map(|r| ErrorKind::from(r.kind))
}

fn token_body(response: &UpstreamResponse) -> Option<Value> {
    if let Ok(value) = serde_json::from_slice::<Value>(&response.body) {
        return value.is_object().then_some(value);
    }
    let text = std::str::from_utf8(&response.body).ok()?;
    if !text.contains('=') {
        return None;
    }
    let map: Map<String, Value> =
        url::form_urlencoded::parse(text.as_bytes()).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
    Some(Value::Object(map))
}

/// `invalid_grant` (RFC 6749 §5.2) means the refresh token is dead: the customer must
/// reconnect, and retrying would only repeat the failure. The code and description are read
/// where `token_response.error` and `error_description` say (RFC 6749's keys by default).
pub fn classify_token_error(def: &OAuth2, response: &UpstreamResponse) -> RuntimeError {
    token_error(def, response, None)
}

/// A token-endpoint error: of `kind` when a rule decided it, else classified by status and code.
fn token_error(def: &OAuth2, response: &UpstreamResponse, kind: Option<ErrorKind>) -> RuntimeError {
    let body = token_body(response).unwrap_or(Value::Null);
    let code = def.token_response.error.lookup(&body).and_then(text).unwrap_or_default();
    let description = def.token_response.error_description.lookup(&body).and_then(text).unwrap_or_default();
    let description = description.as_str();
    let kind = kind.unwrap_or(match (response.status, code.as_str()) {
        (429, _) => ErrorKind::RateLimited,
        (_, "invalid_grant") => ErrorKind::NeedsReauth,
        (_, "invalid_client" | "unauthorized_client") => ErrorKind::Auth,
        (_, "server_error" | "temporarily_unavailable") => ErrorKind::Upstream,
        (s, _) if s >= 500 => ErrorKind::Upstream,
        // A refusal of the refresh token under another name (GitHub answers 200 with
        // `bad_refresh_token`), or a plain 400/401.
        (200..=299, c) if !c.is_empty() => ErrorKind::NeedsReauth,
        (400 | 401, _) => ErrorKind::NeedsReauth,
        _ => ErrorKind::Upstream,
    });
    let detail = if code.is_empty() {
        format!("HTTP {}", response.status)
    } else if description.is_empty() {
        code.clone()
    } else {
        format!("{code}: {description}")
    };
    let message = match kind {
        ErrorKind::NeedsReauth => format!("the provider refused to refresh the token ({detail}); the customer must reconnect"),
        ErrorKind::Auth => format!("the provider rejected the OAuth client ({detail}); check the install's client id and secret"),
        ErrorKind::RateLimited => format!("the token endpoint is rate limited ({detail})"),
        _ => format!("the token endpoint failed ({detail})"),
    };
    let mut error = RuntimeError::new(kind, message).with_response(response.status, &response.body);
    if kind == ErrorKind::RateLimited {
        error.rate_limit =
            Some(crate::rate_limit::RateLimitStatus { limited: true, retry_after_seconds: retry_after(response), ..Default::default() });
    }
    if !code.is_empty() {
        error.provider_error = Some(serde_json::json!({ "code": code, "message": description }));
    }
    error
}

/// `Retry-After` as delay-seconds (whole or fractional, rounded up) or an HTTP-date.
fn retry_after(response: &UpstreamResponse) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| seconds.ceil() as u64);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0)).unwrap_or(0))
}
