//! API keys: `Authorization: Bearer <key>` (the scheme in any case) names one environment, and every row a handler touches
//! is looked up within it, so another environment's account answers 404 like a missing one.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use switchyard_store::Environment;

/// The environment the request's API key belongs to.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub environment: Environment,
}

impl Tenant {
    pub fn id(&self) -> &str {
        &self.environment.id
    }
}

fn unauthorized(message: &str) -> ApiError {
    let mut error = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    error.headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    error
}

/// The credentials of an `Authorization: Bearer <token>` value: the scheme in any case (RFC 7235
/// §2.1), then one or more spaces or tabs, then the token (surrounding whitespace ignored).
pub fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim();
    let scheme = value.get(..6)?;
    let rest = &value[6..];
    if !scheme.eq_ignore_ascii_case("bearer") || !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim()).filter(|token| !token.is_empty())
}

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing API key: send `Authorization: Bearer <api key>` (see `switchyard env create`)"))?;
        let text = value.to_str().map_err(|_| unauthorized("the Authorization header is not text"))?;
        let key = bearer_token(text).ok_or_else(|| unauthorized("expected `Authorization: Bearer <api key>`"))?;
        // Cached keys are never served once revoked (see `crate::keys`).
        let environment = state.keys.authenticate(&state.store, key).await.map_err(|e| match e.status {
            StatusCode::NOT_FOUND => unauthorized("unknown or revoked API key"),
            _ => e,
        })?;
        Ok(Tenant { environment })
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_scheme_is_case_insensitive() {
        for value in ["Bearer k1", "BEARER k1", "bearer k1", "bEaReR k1", "Bearer   k1", "Bearer\tk1", "  Bearer k1  "] {
            assert_eq!(bearer_token(value), Some("k1"), "{value:?}");
        }
        for value in ["Basic k1", "Bearerk1", "Bearer", "Bearer   ", "Bearerx k1", "k1", "", "Bé k1"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
