//! `GET /v1/logs`: upstream exchanges of the environment (optionally of one account), newest
//! first, redacted and truncated when they were written, a page at a time.
//!
//! What one call can cost is bounded: at most [`MAX_LIMIT`] entries and about
//! [`PAGE_MAX_BYTES`] of stored text, read through an index in `id DESC` order on one of the
//! store's read connections (never the writer's), and turned into JSON off the async workers.
//! `before` (the previous page's `next_before`) pages back through the log.

use super::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::ExchangeEntry;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// A page stops after the entry that brings its stored text to this (a stored entry is at most
/// about 300 KB: three 16 KiB bodies and 2 × 64 header pairs of up to 1 KiB each).
pub const PAGE_MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
pub struct LogQuery {
    account_id: Option<String>,
    limit: Option<usize>,
    /// Only entries with an id below this: the previous page's `next_before`.
    before: Option<i64>,
}

pub async fn list(State(state): State<AppState>, tenant: Tenant, Params(query): Params<LogQuery>) -> ApiResult<Response> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("`limit` must be from 1 to {MAX_LIMIT}")));
    }
    if query.before.is_some_and(|b| b < 1) {
        return Err(ApiError::bad_request("`before` must be an entry id (a previous page's `next_before`)"));
    }
    let env = tenant.id().to_string();
    if let Some(account_id) = &query.account_id {
        // Another environment's account answers 404, as everywhere.
        let (e, id) = (env.clone(), account_id.clone());
        state.db(move |store| store.get_account(&e, &id)).await?;
    }
    // Exchanges of requests answered before this one are written first.
    state.log.flush().await;
    let body = state
        .db(move |store| {
            let page = store.list_exchange_page(&env, query.account_id.as_deref(), query.before, limit, PAGE_MAX_BYTES)?;
            // Serialized here, on the blocking pool: a page is up to a few MB of JSON.
            let value = json!({ "results": page.entries.iter().map(view).collect::<Vec<_>>(), "next_before": page.next_before });
            serde_json::to_vec(&value).map_err(|e| switchyard_store::StoreError::Invalid(e.to_string()))
        })
        .await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response())
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
