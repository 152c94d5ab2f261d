//! `/v1/unified/{model}/{resource}`: one API over every integration. The account decides the
//! provider; the definition's mappings decide the shape. Every answer carries the normalized
//! rate-limit headers; an upstream 429 comes back at once (never retried, never delayed).

use super::{engine_call, load_usable_account, parse_json, CallError};
use crate::error::{send, ApiError, ApiResult};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use serde_json::{Map, Value};
use switchyard_runtime::answer::{Answer, Operation};
use switchyard_runtime::engine::{ListRequest, UnifiedRecord, WriteRequest};

/// The caller's query: `account_id` picks the account, `page_size` and `cursor` drive a list, and
/// everything else reaches the mappings as `$query` (a repeated name becomes a list).
struct CallQuery {
    account_id: String,
    page_size: Option<u64>,
    cursor: Option<String>,
    rest: Map<String, Value>,
}

fn call_query(raw: Option<String>) -> ApiResult<CallQuery> {
    let mut account_id = None;
    let mut page_size = None;
    let mut cursor = None;
    let mut rest = Map::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "account_id" => account_id = Some(value.into_owned()),
            "page_size" => {
                let size =
                    value.parse::<u64>().ok().filter(|n| (1..=10_000).contains(n)).ok_or_else(|| {
                        ApiError::bad_request(format!("`page_size` must be a whole number from 1 to 10000, not `{value}`"))
                    })?;
                page_size = Some(size);
            }
            "cursor" => cursor = Some(value.into_owned()).filter(|c| !c.is_empty()),
            _ => match rest.get_mut(name.as_ref()) {
                Some(Value::Array(items)) => items.push(Value::from(value.into_owned())),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, Value::from(value.into_owned())]);
                }
                None => {
                    rest.insert(name.into_owned(), Value::from(value.into_owned()));
                }
            },
        }
    }
    let account_id = account_id
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::bad_request("`account_id` is required: the account whose integration answers"))?;
    Ok(CallQuery { account_id, page_size, cursor, rest })
}

pub async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((model, resource)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = call_query(raw)?;
    let (stored, account) = load_usable_account(&state, &tenant, &query.account_id).await?;
    let request = ListRequest { page_size: query.page_size, cursor: query.cursor, query: query.rest };
    // The page is written inside the call: an error of its mapping is redacted like the call's.
    let engine = &state.engine;
    let answer = engine_call(&state, &stored, &account, async {
        let page = engine.list(&account, &model, &resource, &request).await?;
        engine.list_answer(&stored.integration, &model, &resource, &request, &page)
    })
    .await;
    Ok(match answer {
        Ok(answer) => send(answer),
        Err(error) => error.unified(),
    })
}

pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((model, resource, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = call_query(raw)?;
    no_list_parameters(&query)?;
    let (stored, account) = load_usable_account(&state, &tenant, &query.account_id).await?;
    let record = engine_call(&state, &stored, &account, state.engine.get(&account, &model, &resource, &id, &query.rest)).await;
    Ok(record_response(Operation::Get, record))
}

pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((model, resource)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let query = call_query(raw)?;
    no_list_parameters(&query)?;
    let request = WriteRequest { body: parse_json(&body)?, query: query.rest };
    let (stored, account) = load_usable_account(&state, &tenant, &query.account_id).await?;
    let record = engine_call(&state, &stored, &account, state.engine.create(&account, &model, &resource, &request)).await;
    Ok(record_response(Operation::Create, record))
}

pub async fn update(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((model, resource, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let query = call_query(raw)?;
    no_list_parameters(&query)?;
    let request = WriteRequest { body: parse_json(&body)?, query: query.rest };
    let (stored, account) = load_usable_account(&state, &tenant, &query.account_id).await?;
    let record = engine_call(&state, &stored, &account, state.engine.update(&account, &model, &resource, &id, &request)).await;
    Ok(record_response(Operation::Update, record))
}

pub async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((model, resource, id)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let query = call_query(raw)?;
    no_list_parameters(&query)?;
    let (stored, account) = load_usable_account(&state, &tenant, &query.account_id).await?;
    let record = engine_call(&state, &stored, &account, state.engine.delete(&account, &model, &resource, &id, &query.rest)).await;
    Ok(record_response(Operation::Delete, record))
}

fn no_list_parameters(query: &CallQuery) -> ApiResult<()> {
    if query.page_size.is_some() || query.cursor.is_some() {
        return Err(ApiError::bad_request("`page_size` and `cursor` apply to lists only"));
    }
    Ok(())
}

/// A single record, or the error the call ended with, as the renderer writes it.
fn record_response(operation: Operation, record: Result<UnifiedRecord, CallError>) -> Response {
    match record {
        Ok(record) => send(Answer::record(operation, &record)),
        Err(error) => error.unified(),
    }
}
