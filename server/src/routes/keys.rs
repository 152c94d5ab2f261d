//! `/v1/api-keys`: the API keys of the caller's environment. A new key is shown once, in the
//! answer that creates it; a listing shows each key's id, name and display prefix (its first
//! characters), never the key or its hash.
//!
//! Revoking a key takes effect at once in this process (its cache entry is evicted) and within
//! a second in every other process sharing the database (see [`crate::keys`]). The environment's
//! last working key is only revoked with `?force=true`. A rotation creates a new key and revokes
//! the old one at once, or after `overlap_seconds` (up to 7 days) so deployments can switch over.

use super::{json, parse_json, Params};
use crate::error::{ApiError, ApiResult};
use crate::keys::{created_view, key_view, MAX_OVERLAP};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Duration;
use switchyard_store::{ApiKey, NewApiKey};

/// A JSON object body taking only `allowed` fields; an empty body is an empty object.
fn object_body(body: &Bytes, allowed: &[&str]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let Value::Object(map) = parse_json(body)? else { return Err(ApiError::bad_request("the body must be a JSON object")) };
    if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("unknown field `{key}`; this takes {}", quoted(allowed))).with("field", json!(key)));
    }
    Ok(map)
}

fn quoted(fields: &[&str]) -> String {
    fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" and ")
}

fn name_of(body: &Map<String, Value>) -> ApiResult<Option<String>> {
    match body.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => Ok(Some(name.clone())),
        Some(_) => Err(ApiError::bad_request("`name` must be a string").with("field", json!("name"))),
    }
}

/// `POST /v1/api-keys {name?}`: a new key of the environment; the answer (201) holds the key,
/// this once.
pub async fn create(State(state): State<AppState>, tenant: Tenant, body: Bytes) -> ApiResult<Response> {
    let body = object_body(&body, &["name"])?;
    let name = name_of(&body)?;
    let key = ApiKey::generate();
    let record = NewApiKey::of(&key, name);
    let env = tenant.id().to_string();
    let info = state.db(move |store| store.create_api_key(&env, record)).await?;
    Ok(json(StatusCode::CREATED, created_view(&info, &key)))
}

/// `GET /v1/api-keys`: every key of the environment, revoked ones included, oldest first.
pub async fn list(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Response> {
    let env = tenant.id().to_string();
    let keys = state.db(move |store| store.list_api_keys(&env)).await?;
    Ok(json(StatusCode::OK, json!({ "results": keys.iter().map(key_view).collect::<Vec<_>>() })))
}

/// `GET /v1/api-keys/{id}`.
pub async fn get(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> ApiResult<Response> {
    let env = tenant.id().to_string();
    let key = state.db(move |store| store.get_api_key(&env, &id)).await?;
    Ok(json(StatusCode::OK, key_view(&key)))
}

#[derive(Deserialize)]
pub struct RevokeQuery {
    #[serde(default)]
    force: bool,
}

/// `DELETE /v1/api-keys/{id}[?force=true]`: revokes the key now. The environment's last working
/// key answers 409 `last_api_key` unless forced.
pub async fn revoke(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Params(query): Params<RevokeQuery>,
) -> ApiResult<Response> {
    let (env, key_id) = (tenant.id().to_string(), id.clone());
    let revoked = state.db(move |store| store.revoke_api_key_by_id(&env, &key_id, query.force)).await;
    // Evicted whatever the outcome: a request racing this one re-reads the key.
    state.keys.evict_key(&id);
    match revoked {
        Ok(key) => Ok(json(StatusCode::OK, key_view(&key))),
        Err(error) if error.status == StatusCode::CONFLICT => Err(ApiError::new(StatusCode::CONFLICT, "last_api_key", error.message)),
        Err(error) => Err(error),
    }
}

/// `POST /v1/api-keys/{id}/rotate {overlap_seconds?, name?}`: a new key (201, shown once) that
/// replaces `id`; the old key stops working at once, or `overlap_seconds` from now.
pub async fn rotate(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = object_body(&body, &["overlap_seconds", "name"])?;
    let name = name_of(&body)?;
    let overlap = match body.get("overlap_seconds") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(value) => match value.as_u64() {
            Some(seconds) if seconds <= MAX_OVERLAP.as_secs() => Duration::from_secs(seconds),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "`overlap_seconds` must be a whole number from 0 to {} (7 days)",
                    MAX_OVERLAP.as_secs()
                ))
                .with("field", json!("overlap_seconds")))
            }
        },
    };
    let key = ApiKey::generate();
    let record = NewApiKey::of(&key, name);
    let (env, old_id) = (tenant.id().to_string(), id.clone());
    let rotated = state.db(move |store| store.rotate_api_key(&env, &old_id, record, overlap)).await;
    // The old key's cache entry holds no revocation time: re-read it.
    state.keys.evict_key(&id);
    let (new, old) = rotated?;
    let mut view = created_view(&new, &key);
    view["replaced"] = key_view(&old);
    Ok(json(StatusCode::CREATED, view))
}
