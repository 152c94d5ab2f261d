//! API keys: `Authorization: Bearer <key>` names one environment, and every row a handler touches
//! is looked up within it, so another environment's account answers 404 like a missing one.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
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

/// Recently verified keys, so a request does not wait on the database to learn its environment.
/// A revoked key keeps working for at most [`KeyCache::TTL`] in a process that saw it.
pub struct KeyCache {
    entries: Mutex<HashMap<ApiKeyHash, (Environment, Instant)>>,
}

impl KeyCache {
    pub const TTL: Duration = Duration::from_secs(10);
    const MAX_ENTRIES: usize = 10_000;

    pub fn new() -> KeyCache {
        KeyCache { entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, hash: &ApiKeyHash) -> Option<Environment> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(hash).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(env, _)| env.clone())
    }

    fn put(&self, hash: ApiKeyHash, environment: Environment) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < Self::TTL);
        }
        entries.insert(hash, (environment, Instant::now()));
    }
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::new()
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
