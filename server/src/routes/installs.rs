//! `/v1/installs`: an integration installed in an environment, with the team's own OAuth client
//! (bring your own app) and per-environment settings. The client secret is sealed and never shown.

use super::{json, parse_json};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use switchyard_store::{Install, InstallInput, SecretString};

pub fn view(install: &Install) -> Value {
    json!({
        "integration": install.integration,
        "oauth_client": {
            "client_id": install.oauth_client_id,
            "client_secret_set": install.oauth_client_secret.is_some(),
        },
        "settings": install.settings,
        "created_at": install.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "updated_at": install.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

pub async fn put(State(state): State<AppState>, tenant: Tenant, Path(integration): Path<String>, body: Bytes) -> ApiResult<Response> {
    if state.engine.registry().integration(&integration).is_none() {
        return Err(ApiError::not_found(&format!("integration `{integration}`")));
    }
    let body = parse_json(&body)?;
    let Value::Object(body) = body else { return Err(ApiError::bad_request("the body must be a JSON object")) };
    for key in body.keys() {
        if !matches!(key.as_str(), "oauth_client" | "settings") {
            return Err(ApiError::bad_request(format!("unknown field `{key}`; an install takes `oauth_client` and `settings`")));
        }
    }
    let (client_id, client_secret) = match body.get("oauth_client") {
        None | Some(Value::Null) => (None, None),
        Some(Value::Object(client)) => {
            for key in client.keys() {
                if !matches!(key.as_str(), "client_id" | "client_secret") {
                    return Err(ApiError::bad_request(format!(
                        "unknown field `oauth_client.{key}`; expected `client_id` and `client_secret`"
                    )));
                }
            }
            let text = |name: &str| -> ApiResult<Option<String>> {
                match client.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                    Some(_) => Err(ApiError::bad_request(format!("`oauth_client.{name}` must be a non-empty string"))),
                }
            };
            (text("client_id")?, text("client_secret")?)
        }
        Some(_) => return Err(ApiError::bad_request("`oauth_client` must be an object with `client_id` and `client_secret`")),
    };
    let settings = match body.get("settings") {
        None | Some(Value::Null) => json!({}),
        Some(Value::Object(map)) => Value::Object(map.clone()),
        Some(_) => return Err(ApiError::bad_request("`settings` must be an object")),
    };
    let sealed = match client_secret {
        Some(secret) => Some(state.keyring.seal_str(
            &Install::seal_row(tenant.id(), &integration),
            Install::CLIENT_SECRET_FIELD,
            &SecretString::new(secret),
        )?),
        None => None,
    };
    let input = InstallInput { integration, oauth_client_id: client_id, oauth_client_secret: sealed, settings };
    let env = tenant.id().to_string();
    let install = state.db(move |store| store.upsert_install(&env, input)).await?;
    Ok(json(StatusCode::OK, view(&install)))
}

pub async fn get(State(state): State<AppState>, tenant: Tenant, Path(integration): Path<String>) -> ApiResult<Response> {
    let env = tenant.id().to_string();
    let install = state.db(move |store| store.get_install(&env, &integration)).await?;
    Ok(json(StatusCode::OK, view(&install)))
}

pub async fn list(State(state): State<AppState>, tenant: Tenant) -> ApiResult<Response> {
    let env = tenant.id().to_string();
    let installs = state.db(move |store| store.list_installs(&env)).await?;
    Ok(json(StatusCode::OK, json!({ "results": installs.iter().map(view).collect::<Vec<_>>() })))
}

pub async fn delete(State(state): State<AppState>, tenant: Tenant, Path(integration): Path<String>) -> ApiResult<Response> {
    let env = tenant.id().to_string();
    state.db(move |store| store.delete_install(&env, &integration)).await?;
    Ok(json(StatusCode::OK, json!({ "deleted": true })))
}
