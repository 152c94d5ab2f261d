//! API keys: `Authorization: Bearer <key>` names one environment, and every row a handler touches
//! is looked up within it, so another environment's account answers 404 like a missing one.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use switchyard_store::{ApiKeyHash, Environment};

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

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing API key: send `Authorization: Bearer <api key>` (see `switchyard env create`)"))?;
        let text = value.to_str().map_err(|_| unauthorized("the Authorization header is not text"))?;
        let key = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| unauthorized("expected `Authorization: Bearer <api key>`"))?;
        let hash = ApiKeyHash::of(key);
        if let Some(environment) = state.keys.get(&hash) {
            return Ok(Tenant { environment });
        }
        let environment = state.db(move |store| store.environment_by_api_key(&hash)).await.map_err(|e| match e.status {
            StatusCode::NOT_FOUND => unauthorized("unknown API key"),
            _ => e,
        })?;
        state.keys.put(hash, environment.clone());
        Ok(Tenant { environment })
    }
}
