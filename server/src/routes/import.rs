//! `POST /v1/accounts/import`: many accounts at once, as a JSON array or NDJSON exported from a
//! legacy vendor. Each row is checked, verified (unless `?verify=false`) and stored on its own, and
//! the answer reports every row. Rows are keyed by `external_id`, so re-running an import after a
//! partial failure creates only what is missing and never overwrites an account (whose tokens may
//! have rotated since).

use super::accounts::{store_new, Submission};
use super::{json, Params};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::UpsertOutcome;

const MAX_ROWS: usize = 10_000;
/// Rows verified at once: enough to import quickly, few enough not to trip a provider's limit.
const CONCURRENCY: usize = 4;

#[derive(Deserialize)]
pub struct ImportQuery {
    verify: Option<bool>,
}

pub async fn import(
    State(state): State<AppState>,
    tenant: Tenant,
    Params(query): Params<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let rows = parse_rows(&headers, &body)?;
    if rows.is_empty() {
        return Err(ApiError::bad_request("the import holds no accounts"));
    }
    if rows.len() > MAX_ROWS {
        return Err(ApiError::bad_request(format!("an import holds at most {MAX_ROWS} accounts; split this one ({} rows)", rows.len())));
    }
    let environment = tenant.id().to_string();
    let results: Vec<Value> = futures_util::stream::iter(rows.into_iter().enumerate())
        .map(|(index, row)| {
            let state = state.clone();
            let environment = environment.clone();
            async move { import_row(&state, &environment, index, row, query.verify).await }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count();
    let summary = json!({ "created": count("created"), "already_exists": count("already_exists"), "failed": count("failed") });
    Ok(json(StatusCode::OK, json!({ "summary": summary, "results": results })))
}

async fn import_row(state: &AppState, environment: &str, index: usize, row: Result<Value, String>, verify: Option<bool>) -> Value {
    let row_number = index + 1;
    let failed = |external_id: Option<&str>, code: &str, message: String, extra: Option<Value>| {
        let mut error = json!({ "code": code, "message": message });
        if let (Some(extra), Some(map)) = (extra, error.as_object_mut()) {
            map.insert("upstream".into(), extra);
        }
        json!({ "row": row_number, "external_id": external_id, "status": "failed", "error": error })
    };
    let row = match row {
        Ok(row) => row,
        Err(message) => return failed(None, "invalid_request", message, None),
    };
    let external_id = row.get("external_id").and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_number().map(|n| n.to_string())));
    let mut submission = match Submission::from_json(&row) {
        Ok(s) => s,
        Err(e) => return failed(external_id.as_deref(), e.code, e.message, None),
    };
    if submission.verify.is_none() {
        submission.verify = verify;
    }
    match store_new(state, environment, submission, true).await {
        Ok(stored) => json!({
            "row": row_number,
            "external_id": stored.account.external_id,
            "status": match stored.outcome { UpsertOutcome::Created => "created", UpsertOutcome::AlreadyExists => "already_exists" },
            "account_id": stored.account.id,
        }),
        Err(e) => {
            let upstream = e.details.get("upstream").cloned();
            failed(external_id.as_deref(), e.code, e.message, upstream)
        }
    }
}

/// A JSON array, or NDJSON (one object per line; blank lines skipped). A malformed NDJSON line
/// (not JSON, or not UTF-8) fails only its row; a JSON array is one document, refused whole.
fn parse_rows(headers: &HeaderMap, body: &Bytes) -> ApiResult<Vec<Result<Value, String>>> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let ndjson = content_type.contains("ndjson") || content_type.contains("jsonlines") || first != Some(&b'[');
    if !ndjson {
        let text = std::str::from_utf8(body)
            .map_err(|e| ApiError::bad_request(format!("the import is not UTF-8 text (invalid bytes at offset {})", e.valid_up_to())))?;
        let value: Value = serde_json::from_str(text).map_err(|e| {
            ApiError::bad_request(format!("the import is not a valid JSON array: {e} (line {}, column {})", e.line(), e.column()))
        })?;
        let Value::Array(rows) = value else { return Err(ApiError::bad_request("the import must be a JSON array or NDJSON")) };
        return Ok(rows.into_iter().map(Ok).collect());
    }
    Ok(body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(n, line)| {
            let line = std::str::from_utf8(line)
                .map_err(|e| format!("line {} is not UTF-8 text (invalid bytes from byte {} of the line)", n + 1, e.valid_up_to() + 1))?;
            serde_json::from_str::<Value>(line).map_err(|e| format!("line {} is not valid JSON: {e}", n + 1))
        })
        .collect())
}
