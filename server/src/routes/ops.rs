//! Operations: `/healthz`, `/metrics` (Prometheus), `/v1/openapi.json`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Healthy when the database answers.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.db(|store| store.list_environments().map(|e| e.len())).await {
        Ok(_) => (StatusCode::OK, axum::Json(json!({ "status": "ok", "integrations": state.engine.registry().integrations.len() })))
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "status": "unavailable", "error": e.message }))).into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render()).into_response()
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}
