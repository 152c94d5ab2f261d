//! `GET /v1/logs`: recent upstream exchanges of the environment (optionally of one account),
//! newest first, redacted and truncated when they were written.

use super::{json, Params};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::ExchangeEntry;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

#[derive(Deserialize)]
pub struct LogQuery {
    account_id: Option<String>,
    limit: Option<usize>,
}

pub async fn list(State(state): State<AppState>, tenant: Tenant, Params(query): Params<LogQuery>) -> ApiResult<Response> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("`limit` must be from 1 to {MAX_LIMIT}")));
    }
    let env = tenant.id().to_string();
    if let Some(account_id) = &query.account_id {
        // Another environment's account answers 404, as everywhere.
        let (e, id) = (env.clone(), account_id.clone());
        state.db(move |store| store.get_account(&e, &id)).await?;
    }
    // Exchanges of requests answered before this one are written first.
    state.log.flush().await;
    let entries = state.db(move |store| store.list_exchanges(&env, query.account_id.as_deref(), limit)).await?;
    Ok(json(StatusCode::OK, json!({ "results": entries.iter().map(view).collect::<Vec<_>>() })))
}

fn view(entry: &ExchangeEntry) -> Value {
    let headers = |pairs: &[(String, String)]| Value::Array(pairs.iter().map(|(n, v)| json!([n, v])).collect());
    json!({
        "id": entry.id,
        "at": entry.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "account_id": entry.account_id,
        "integration": entry.integration,
        "method": entry.method,
        "url": entry.url,
        "status": entry.status,
        "latency_ms": entry.latency_ms,
        "request": { "headers": headers(&entry.request_headers), "body": entry.request_body },
        "response": { "headers": headers(&entry.response_headers), "body": entry.response_body },
        "error": entry.error,
    })
}
