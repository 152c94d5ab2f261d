//! One error type for everything a unified call can run into, classified so a caller
//! can act on it (reconnect, wait, fix the request) and shown with the provider's own
//! status and an excerpt of its body.

use crate::rate_limit::status::RateLimitStatus;
use crate::registry::{RuleErrorKind, TokenErrorKind};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The provider rejected the credentials (after one refresh-and-retry where possible).
    Auth,
    /// The credentials cannot be refreshed (`invalid_grant`, a 401 right after a refresh):
    /// the customer must reconnect.
    NeedsReauth,
    RateLimited,
    NotFound,
    /// The provider rejected the request (other 4xx).
    Validation,
    /// The provider failed (5xx) or answered something unreadable.
    Upstream,
    Timeout,
    Connection,
    /// A JSONata mapping failed.
    Mapping,
    /// Pagination went wrong: a repeated cursor, too many pages, a tampered cursor.
    Pagination,
    /// The call itself is wrong: an unknown model or method, a missing parameter.
    InvalidRequest,
}

impl ErrorKind {
    /// The HTTP status a unified API answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Auth | ErrorKind::NeedsReauth => 401,
            ErrorKind::RateLimited => 429,
            ErrorKind::NotFound => 404,
            ErrorKind::Validation => 422,
            ErrorKind::Upstream | ErrorKind::Connection => 502,
            ErrorKind::Timeout => 504,
            ErrorKind::Mapping => 500,
            ErrorKind::Pagination | ErrorKind::InvalidRequest => 400,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth_failed",
            ErrorKind::NeedsReauth => "needs_reauth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Validation => "validation_failed",
            ErrorKind::Upstream => "upstream_error",
            ErrorKind::Timeout => "upstream_timeout",
            ErrorKind::Connection => "upstream_unreachable",
            ErrorKind::Mapping => "mapping_failed",
            ErrorKind::Pagination => "pagination_failed",
            ErrorKind::InvalidRequest => "invalid_request",
        }
    }
}

/// What a definition's error rule says a response means.
impl From<RuleErrorKind> for ErrorKind {
    fn from(kind: RuleErrorKind) -> ErrorKind {
        match kind {
            RuleErrorKind::Auth => ErrorKind::Auth,
            RuleErrorKind::NotFound => ErrorKind::NotFound,
            RuleErrorKind::Validation => ErrorKind::Validation,
            RuleErrorKind::Upstream => ErrorKind::Upstream,
        }
    }
}

/// What a definition's token error rule says a token endpoint's answer means.
impl From<TokenErrorKind> for ErrorKind {
    fn from(kind: TokenErrorKind) -> ErrorKind {
        match kind {
            TokenErrorKind::NeedsReauth => ErrorKind::NeedsReauth,
            TokenErrorKind::Auth => ErrorKind::Auth,
            TokenErrorKind::Upstream => ErrorKind::Upstream,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimeError {
    pub kind: ErrorKind,
    pub message: String,
    /// The provider's HTTP status, when the error came from a response.
    pub provider_status: Option<u16>,
    /// The start of the provider's body (at most [`BODY_EXCERPT`] bytes), as text.
    pub body_excerpt: Option<String>,
    /// What the definition's error mapping made of the response (`{code, message}`).
    pub provider_error: Option<serde_json::Value>,
    #[serde(skip)]
    pub rate_limit: Option<RateLimitStatus>,
    /// The provider's parsed error body, for a unified mapping's own `error` mapping.
    #[serde(skip)]
    pub provider_body: Option<serde_json::Value>,
}

/// How much of a provider's error body an error carries.
pub const BODY_EXCERPT: usize = 512;

impl RuntimeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> RuntimeError {
        RuntimeError {
            kind,
            message: message.into(),
            provider_status: None,
            body_excerpt: None,
            provider_error: None,
            rate_limit: None,
            provider_body: None,
        }
    }

    pub fn with_response(mut self, status: u16, body: &[u8]) -> RuntimeError {
        self.provider_status = Some(status);
        if !body.is_empty() {
            let cut = body.len().min(BODY_EXCERPT);
            self.body_excerpt = Some(String::from_utf8_lossy(&body[..cut]).into_owned());
        }
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.http_status()
    }

    /// The error body a unified API returns.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "kind": self.kind,
                "code": self.kind.code(),
                "message": self.message,
                "provider_status": self.provider_status,
                "provider_error": self.provider_error,
                "body_excerpt": self.body_excerpt,
            }
        })
    }
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)?;
        if let Some(status) = self.provider_status {
            write!(f, " (provider answered HTTP {status})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuntimeError {}
