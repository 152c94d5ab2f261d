//! Inbound webhooks: a delivery is verified as the definition's `webhooks.verify` says,
//! then its parsed body is turned into events by `webhooks.events`, which also sees the
//! delivery's headers as `$headers` (lower-case names).

use crate::account::{Connection, Install};
use crate::error::{ErrorKind, RuntimeError};
use crate::mapping::{self, Bindings, EvalOptions, Mapping};
use crate::registry::{
    HmacAlgorithm, Scope, SecretEncoding, Segment, SignatureEncoding, SignatureFormat, Template, TimestampRule, TimestampUnit,
    WebhookVerify, Webhooks,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// One inbound request, as received.
pub struct Delivery<'a> {
    pub method: &'a str,
    /// The full URL the provider called: scheme, host, path and query.
    pub url: &'a str,
    pub headers: &'a HeaderMap,
    /// The raw body, unparsed.
    pub body: &'a [u8],
}

/// What the secret templates can read.
pub struct WebhookScopes<'a> {
    pub install: &'a Install,
    pub connection: &'a Connection,
}

fn rejected(message: impl Into<String>) -> RuntimeError {
    RuntimeError::new(ErrorKind::Auth, message)
}

/// Checks the delivery against `webhooks.verify`. `now` bounds the timestamp.
pub fn verify(webhooks: &Webhooks, delivery: &Delivery, scopes: &WebhookScopes, now: SystemTime) -> Result<(), RuntimeError> {
    match &webhooks.verify {
        WebhookVerify::None {} => Ok(()),
        WebhookVerify::Hmac { algorithm, secret, secret_encoding, signature, signed_content, timestamp } => {
            let key = decode_secret(&render_secret(secret, scopes)?, *secret_encoding)?;
            let header = header(delivery.headers, &signature.header)?;
            let candidates: Vec<&str> = match signature.format {
                SignatureFormat::Plain => vec![header.trim()],
                SignatureFormat::KeyValue => {
                    let key = signature.key.as_deref().unwrap_or("v1");
                    key_values(header).filter(|(k, _)| *k == key).map(|(_, v)| v).collect()
                }
            };
            let stamp = match timestamp {
                Some(rule) => Some(check_timestamp(rule, delivery.headers, header, now)?),
                None => None,
            };
            let content = signed(signed_content, delivery, stamp.as_deref())?;
            let expected = hmac(*algorithm, &key, &content)?;
            let matches = candidates.iter().any(|candidate| {
                let text = signature.prefix.as_deref().and_then(|p| candidate.strip_prefix(p)).unwrap_or(candidate);
                decode_signature(text, signature.encoding).is_some_and(|given| constant_time_eq(&given, &expected))
            });
            if matches {
                Ok(())
            } else {
                Err(rejected(format!("the `{}` signature does not match the delivery", signature.header)))
            }
        }
        WebhookVerify::Basic { username, password } => {
            let (user, pass) = (render_secret(username, scopes)?, render_secret(password, scopes)?);
            let given = header(delivery.headers, "authorization")?;
            let decoded = given
                .strip_prefix("Basic ")
                .and_then(|b| STANDARD.decode(b.trim()).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| rejected("the `Authorization` header holds no Basic credentials"))?;
            let expected = format!("{user}:{pass}");
            if constant_time_eq(decoded.as_bytes(), expected.as_bytes()) {
                Ok(())
            } else {
                Err(rejected("the Basic credentials do not match"))
            }
        }
        WebhookVerify::StandardWebhooks { secret, tolerance_seconds } => {
            let secret = render_secret(secret, scopes)?;
            let key = STANDARD
                .decode(secret.strip_prefix("whsec_").unwrap_or(&secret))
                .map_err(|_| RuntimeError::new(ErrorKind::InvalidRequest, "the Standard Webhooks secret is not base64 (`whsec_…`)"))?;
            let id = header(delivery.headers, "webhook-id")?;
            let stamp = header(delivery.headers, "webhook-timestamp")?;
            let seconds: i64 = stamp.trim().parse().map_err(|_| rejected(format!("`webhook-timestamp` is not unix seconds: {stamp:?}")))?;
            within(seconds as f64, *tolerance_seconds, now)?;
            let mut content = format!("{id}.{stamp}.").into_bytes();
            content.extend_from_slice(delivery.body);
            let expected = hmac(HmacAlgorithm::Sha256, &key, &content)?;
            let signatures = header(delivery.headers, "webhook-signature")?;
            let matches = signatures
                .split(' ')
                .filter_map(|s| s.strip_prefix("v1,"))
                .any(|s| decode_signature(s, SignatureEncoding::Base64).is_some_and(|given| constant_time_eq(&given, &expected)));
            if matches {
                Ok(())
            } else {
                Err(rejected("no `webhook-signature` matches the delivery"))
            }
        }
    }
}

/// The events of a verified delivery: `webhooks.events` on the parsed body, with `$headers`.
pub fn events(webhooks: &Webhooks, delivery: &Delivery, options: &EvalOptions) -> Result<Vec<Value>, RuntimeError> {
    let body: Value = serde_json::from_slice(delivery.body)
        .map_err(|e| RuntimeError::new(ErrorKind::InvalidRequest, format!("the webhook body is not JSON: {e}")))?;
    let mapping = Mapping::compile(&webhooks.events).map_err(|e| RuntimeError::new(ErrorKind::Mapping, e.to_string()))?;
    let bindings = Bindings::new().with("headers", crate::pagination::headers_json(delivery.headers));
    let result =
        mapping::evaluate(&mapping, &body, &bindings, options).map_err(|e| RuntimeError::new(ErrorKind::Mapping, e.to_string()))?;
    match result {
        Value::Array(events) => Ok(events),
        Value::Null => Ok(Vec::new()),
        other => Err(RuntimeError::new(
            ErrorKind::Mapping,
            format!("the webhook events expression at {} must return an array, not {other}", webhooks.events.origin),
        )),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, RuntimeError> {
    headers.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| rejected(format!("the delivery has no `{name}` header")))
}

fn key_values(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(',').filter_map(|part| part.trim().split_once('=')).map(|(k, v)| (k.trim(), v.trim()))
}

fn render_secret(template: &Template, scopes: &WebhookScopes) -> Result<String, RuntimeError> {
    let mut out = String::new();
    for segment in &template.segments {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Var { scope, field } => {
                let name = field.join(".");
                let value = match scope {
                    Scope::Install => scopes.install.get(&name),
                    Scope::Connection => scopes.connection.get(&name),
                    _ => None,
                };
                out.push_str(value.ok_or_else(|| {
                    RuntimeError::new(
                        ErrorKind::InvalidRequest,
                        format!("`{}.{name}` is not set, so deliveries cannot be verified", scope.name()),
                    )
                })?);
            }
        }
    }
    Ok(out)
}

fn decode_secret(text: &str, encoding: SecretEncoding) -> Result<Vec<u8>, RuntimeError> {
    let bad = |what: &str| RuntimeError::new(ErrorKind::InvalidRequest, format!("the webhook secret is not {what}"));
    match encoding {
        SecretEncoding::Utf8 => Ok(text.as_bytes().to_vec()),
        SecretEncoding::Hex => hex(text).ok_or_else(|| bad("hex")),
        SecretEncoding::Base64 => STANDARD.decode(text.trim()).map_err(|_| bad("base64")),
    }
}

fn decode_signature(text: &str, encoding: SignatureEncoding) -> Option<Vec<u8>> {
    match encoding {
        SignatureEncoding::Hex => hex(text.trim()),
        SignatureEncoding::Base64 => STANDARD.decode(text.trim()).ok(),
    }
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// The signed bytes: the `signed_content` template over the request scope.
fn signed(template: &Template, delivery: &Delivery, timestamp: Option<&str>) -> Result<Vec<u8>, RuntimeError> {
    let mut out = Vec::with_capacity(delivery.body.len() + 64);
    for segment in &template.segments {
        match segment {
            Segment::Text(text) => out.extend_from_slice(text.as_bytes()),
            Segment::Var { field, .. } => match field.join(".").as_str() {
                "body" => out.extend_from_slice(delivery.body),
                "method" => out.extend_from_slice(delivery.method.as_bytes()),
                "url" => out.extend_from_slice(delivery.url.as_bytes()),
                "timestamp" => out.extend_from_slice(
                    timestamp
                        .ok_or_else(|| RuntimeError::new(ErrorKind::InvalidRequest, "the signed content needs a timestamp"))?
                        .as_bytes(),
                ),
                other => {
                    return Err(RuntimeError::new(ErrorKind::InvalidRequest, format!("`request.{other}` is not a field of a delivery")))
                }
            },
        }
    }
    Ok(out)
}

/// Reads the timestamp (its text as received) and checks it is within the tolerance of `now`.
fn check_timestamp(rule: &TimestampRule, headers: &HeaderMap, signature: &str, now: SystemTime) -> Result<String, RuntimeError> {
    let text = match (&rule.header, &rule.key) {
        (Some(name), _) => header(headers, name)?.trim().to_string(),
        (None, Some(key)) => key_values(signature)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.to_string())
            .ok_or_else(|| rejected(format!("the signature header has no `{key}=` timestamp")))?,
        (None, None) => return Err(rejected("the timestamp rule names no header or key")),
    };
    let unreadable = || rejected(format!("the delivery's timestamp {text:?} is not readable"));
    let seconds = match rule.unit {
        TimestampUnit::EpochSeconds => text.parse::<f64>().map_err(|_| unreadable())?,
        TimestampUnit::EpochMillis => text.parse::<f64>().map_err(|_| unreadable())? / 1000.0,
        TimestampUnit::Iso8601 => chrono::DateTime::parse_from_rfc3339(&text).map_err(|_| unreadable())?.timestamp_millis() as f64 / 1000.0,
    };
    within(seconds, rule.tolerance_seconds, now)?;
    Ok(text)
}

fn within(seconds: f64, tolerance: u64, now: SystemTime) -> Result<(), RuntimeError> {
    let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    if (now - seconds).abs() > tolerance as f64 {
        return Err(rejected(format!("the delivery's timestamp is more than {tolerance} s from now")));
    }
    Ok(())
}

fn hmac(algorithm: HmacAlgorithm, key: &[u8], content: &[u8]) -> Result<Vec<u8>, RuntimeError> {
    match algorithm {
        HmacAlgorithm::Sha256 => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(content);
            Ok(mac.finalize().into_bytes().to_vec())
        }
        // No SHA-1 implementation is linked in; no bundled definition needs the legacy algorithm.
        HmacAlgorithm::Sha1 => {
            Err(RuntimeError::new(ErrorKind::InvalidRequest, "HMAC-SHA1 webhook verification is not supported by this runtime"))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
