//! One renderer of unified answers: what a client of the unified API receives for a call —
//! status, headers and body — for a record, a list page and every error.
//!
//! The server's routes send an [`Answer`] as it is, and fixture replay writes the same
//! [`Answer`] into its snapshots, so a snapshot holds exactly what a client receives. This is
//! also where per-model envelopes of records and errors (a legacy vendor's shapes) plug in.
//!
//! The error body, for every error of the API (docs/server.md, "Errors"):
//!
//! ```json
//! {"error": {"code": "rate_limited", "message": "…",
//!            "upstream": {"status": 429, "error": {…}, "body_excerpt": "…"}}}
//! ```
//!
//! `code` is stable and machine-readable; `message` says what happened and what to do;
//! `upstream` is present only when the provider answered, with its HTTP status, what the
//! definition's error mapping made of its body, and the start of that body.

use crate::engine::{UnifiedPage, UnifiedRecord};
use crate::error::RuntimeError;
use crate::rate_limit::RateLimitStatus;
use serde_json::{json, Map, Value};

/// A unified operation, for the status its success answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    List,
    Get,
    Create,
    Update,
    Delete,
}

impl Operation {
    /// 201 for a create (a record was made), 200 otherwise.
    pub fn success_status(self) -> u16 {
        match self {
            Operation::Create => 201,
            _ => 200,
        }
    }
}

/// An answer of the unified API.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    /// The normalized rate-limit headers (and `Retry-After` when limited), in the order they
    /// are sent. The body is always JSON (`content-type: application/json`).
    pub headers: Vec<(&'static str, String)>,
    /// The body, as JSON text.
    pub body: String,
}

impl Answer {
    /// A list page, whose body (the model's envelope, or `{results, next_cursor}`) is written
    /// by [`Engine::list_answer`](crate::engine::Engine::list_answer).
    pub fn list(page: &UnifiedPage, body: String) -> Answer {
        Answer { status: Operation::List.success_status(), headers: page.rate_limit.headers(), body }
    }

    /// One record (get, create, update, delete): the mapped record itself, as legacy clients
    /// expect it, `null` when the mapping maps the provider's answer to nothing.
    pub fn record(operation: Operation, record: &UnifiedRecord) -> Answer {
        Answer { status: operation.success_status(), headers: record.rate_limit.headers(), body: record.result.to_string() }
    }

    /// An error of the engine or the provider, with the rate-limit headers the provider's
    /// answer carried (so a 429 has `Retry-After` exactly as a success has its budget).
    pub fn error(error: &RuntimeError) -> Answer {
        Answer {
            status: error.status(),
            headers: error.rate_limit.as_ref().map(RateLimitStatus::headers).unwrap_or_default(),
            body: error_body(error.kind.code(), &error.message, error_details(error)).to_string(),
        }
    }

    /// The body parsed (key order kept).
    pub fn body_json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The error body every error of the API has: `{"error": {"code", "message", …details}}`.
pub fn error_body(code: &str, message: &str, details: Map<String, Value>) -> Value {
    let mut error = Map::with_capacity(2 + details.len());
    error.insert("code".into(), Value::from(code));
    error.insert("message".into(), Value::from(message));
    error.extend(details);
    json!({ "error": error })
}

/// The members of a runtime error's body beside `code` and `message`: `upstream`, when the
/// provider answered.
pub fn error_details(error: &RuntimeError) -> Map<String, Value> {
    let mut details = Map::new();
    if error.provider_status.is_some() || error.provider_error.is_some() {
        details.insert("upstream".into(), upstream(error));
    }
    details
}

/// What the provider said: its status, its error as the definition mapped it, and the start of
/// its body.
pub fn upstream(error: &RuntimeError) -> Value {
    json!({
        "status": error.provider_status,
        "error": error.provider_error,
        "body_excerpt": error.body_excerpt,
    })
}

/// Every text of `error` that can carry the provider's words, rewritten by `text`: the message,
/// the body excerpt (by `excerpt`: it may end in a cut), and every string of what the error
/// mapping made of the body (`upstream.error`) and of the parsed body (which a unified mapping's
/// `error` reads). The server redacts with it, where an engine call ends, before the error is
/// returned, stored or logged (`switchyard_store::redact`, docs/server.md "Secrets").
pub fn redact_error(error: &mut RuntimeError, text: &dyn Fn(&str) -> String, excerpt: &dyn Fn(&str) -> String) {
    error.message = text(&error.message);
    if let Some(body) = &mut error.body_excerpt {
        *body = excerpt(body);
    }
    for value in [&mut error.provider_error, &mut error.provider_body].into_iter().flatten() {
        redact_value(value, text);
    }
}

/// Every string of `value`, object keys included, rewritten by `text`.
fn redact_value(value: &mut Value, text: &dyn Fn(&str) -> String) {
    match value {
        Value::String(s) => *s = text(s),
        Value::Array(items) => items.iter_mut().for_each(|item| redact_value(item, text)),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().map(|key| text(key)).collect();
            if map.keys().zip(&keys).any(|(old, new)| old != new) {
                *map = std::mem::take(map).into_iter().zip(keys).map(|((_, value), key)| (key, value)).collect();
            }
            map.values_mut().for_each(|item| redact_value(item, text));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn an_error_from_the_provider_names_what_it_said() {
        let error = RuntimeError::new(ErrorKind::Validation, "bad email").with_response(400, br#"{"message":"bad"}"#);
        let answer = Answer::error(&error);
        assert_eq!(answer.status, 422);
        assert_eq!(
            answer.body,
            r#"{"error":{"code":"validation_failed","message":"bad email","upstream":{"status":400,"error":null,"body_excerpt":"{\"message\":\"bad\"}"}}}"#
        );
    }

    #[test]
    fn an_error_of_the_engine_has_no_upstream() {
        let answer = Answer::error(&RuntimeError::new(ErrorKind::InvalidRequest, "no such model"));
        assert_eq!((answer.status, answer.body.as_str()), (400, r#"{"error":{"code":"invalid_request","message":"no such model"}}"#));
        assert!(answer.headers.is_empty());
    }

    #[test]
    fn every_text_of_an_error_can_be_redacted() {
        let mut error = RuntimeError::new(ErrorKind::NeedsReauth, "bad key sk-1").with_response(401, br#"{"m":"bad key sk-1"}"#);
        error.provider_error = Some(json!({"code": "401", "message": "bad key sk-1", "sk-1": ["sk-1"]}));
        error.provider_body = Some(json!({"m": "bad key sk-1"}));
        redact_error(&mut error, &|t| t.replace("sk-1", "[R]"), &|t| t.replace("sk-1", "[cut]"));
        assert_eq!(error.message, "bad key [R]");
        assert_eq!(error.body_excerpt.as_deref(), Some(r#"{"m":"bad key [cut]"}"#));
        assert_eq!(error.provider_error, Some(json!({"code": "401", "message": "bad key [R]", "[R]": ["[R]"]})));
        assert_eq!(error.provider_body, Some(json!({"m": "bad key [R]"})));
    }

    #[test]
    fn a_create_answers_201() {
        let record = UnifiedRecord { result: json!({"id": "1"}), rate_limit: RateLimitStatus::default(), refreshed: None };
        assert_eq!(Answer::record(Operation::Create, &record).status, 201);
        assert_eq!(Answer::record(Operation::Update, &record).status, 200);
    }
}
