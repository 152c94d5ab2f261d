//! Operations: `/healthz`, `/metrics` (Prometheus), `/v1/openapi.json`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Healthy when the database answers: `{"status": "ok", "storage": "ok", …}`; else 503 with
/// `"storage": "unavailable"` and the documented error (`storage_unavailable`), so a load balancer
/// takes the node out until the database is back.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.db(|store| store.health()).await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({ "status": "ok", "storage": "ok", "integrations": state.engine.registry().integrations.len() })),
        )
            .into_response(),
        Err(e) => {
            let mut body = switchyard_runtime::answer::error_body(e.code, &e.message, e.details);
            body["status"] = json!("unavailable");
            body["storage"] = json!("unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, e.headers, axum::Json(body)).into_response()
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render()).into_response()
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}
