//! Errors as the API answers them: a status and `{"error": {"code", "message", …}}`, with the
//! normalized rate-limit headers when the error came from the provider.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use switchyard_runtime::error::RuntimeError;
use switchyard_store::{CryptoError, StoreError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra members of the error object (`upstream`, `field`, …).
    pub details: Map<String, Value>,
    pub headers: HeaderMap,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: Map::new(), headers: HeaderMap::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", message)
    }

    pub fn with(mut self, key: &str, value: Value) -> ApiError {
        self.details.insert(key.to_string(), value);
        self
    }

    /// An error of the provider or the engine. Its rate-limit status becomes headers, so a caller
    /// sees `Retry-After` on a 429 exactly as on a success.
    pub fn from_runtime(error: RuntimeError) -> ApiError {
        let status = StatusCode::from_u16(error.kind.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut api = ApiError::new(status, error.kind.code(), error.message.clone());
        if let Some(limits) = &error.rate_limit {
            api.headers = rate_limit_headers(limits);
        }
        if error.provider_status.is_some() || error.provider_error.is_some() {
            api.details.insert("upstream".into(), upstream_details(&error));
        }
        api
    }
}

/// What the provider said, for an error body: its status, its mapped error and an excerpt.
pub fn upstream_details(error: &RuntimeError) -> Value {
    json!({
        "kind": error.kind,
        "status": error.provider_status,
        "error": error.provider_error,
        "body_excerpt": error.body_excerpt,
    })
}

pub fn rate_limit_headers(limits: &switchyard_runtime::rate_limit::RateLimitStatus) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in limits.headers() {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(name, value);
        }
    }
    headers
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            StoreError::Invalid(message) => ApiError::bad_request(message),
            StoreError::LeaseLost { .. } => ApiError::new(StatusCode::CONFLICT, "refresh_conflict", error.to_string()),
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::internal("the database failed; see the server log")
            }
        }
    }
}

impl From<CryptoError> for ApiError {
    fn from(error: CryptoError) -> ApiError {
        tracing::error!(error = %error, "sealing failure");
        ApiError::internal("stored credentials could not be opened or sealed; check SWITCHYARD_SECRET_KEY")
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> ApiError {
        ApiError::from_runtime(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), Value::from(self.code));
        error.insert("message".into(), Value::from(self.message));
        error.extend(self.details);
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}
