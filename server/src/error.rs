//! Errors as the API answers them: a status and `{"error": {"code", "message", …}}` (the body
//! `switchyard_runtime::answer` renders for every error), with the normalized rate-limit headers
//! when the error came from the provider.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use switchyard_runtime::answer::{self, Answer};
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
    /// sees `Retry-After` on a 429 exactly as on a success. An error of an engine call arrives
    /// here redacted of the call's secrets (`exchange_log::with_context`): its text is sent as
    /// it is.
    pub fn from_runtime(error: RuntimeError) -> ApiError {
        // The same parts as `Answer::error`, the unified routes' renderer.
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let mut api = ApiError::new(status, error.kind.code(), error.message.clone());
        api.details = answer::error_details(&error);
        if let Some(limits) = &error.rate_limit {
            api.headers = header_map(&limits.headers());
        }
        api
    }
}

/// Headers as axum sends them (a name or value HTTP cannot carry is left out).
pub fn header_map(headers: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(*name), HeaderValue::try_from(value.as_str())) {
            map.append(name, value);
        }
    }
    map
}

/// An answer of the unified API ([`Answer`]), sent as it was rendered.
pub fn send(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response =
        (status, [(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], answer.body).into_response();
    response.headers_mut().extend(header_map(&answer.headers));
    response
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            StoreError::Invalid(message) => ApiError::bad_request(message),
            StoreError::LeaseLost { .. } => ApiError::new(StatusCode::CONFLICT, "refresh_conflict", error.to_string()),
            // Postgres is down or unreachable: fail fast and say so; the pool reconnects by
            // itself, so a retry shortly after may succeed.
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "the database is unavailable");
                let mut api = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the database cannot be reached right now; retry shortly (the server reconnects by itself)",
                );
                api.headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
                api
            }
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
        let body = answer::error_body(self.code, &self.message, self.details);
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}
