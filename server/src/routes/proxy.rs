//! `ANY /v1/proxy/{account_id}/{path…}`: a raw request to the account's provider with its auth
//! injected. Only the integration's own origin, under its base URL, can be reached: the runtime
//! refuses absolute URLs, `..` (plain or encoded) and anything that would leave it.

use super::{engine_call, load_usable_account, Passthrough};
use crate::error::{header_map, ApiError, ApiResult};
use crate::exchange_log::account_secrets;
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::Response;
use switchyard_runtime::account::Account as RuntimeAccount;
use switchyard_runtime::engine::{ProxyRequest, ProxyResponse};
use switchyard_store::redact::Redactor;

pub async fn proxy(
    State(state): State<AppState>,
    tenant: Tenant,
    Path((account_id, _)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    // The path as sent, still percent-encoded: the router's decoded copy would hide `%2e%2e`.
    let path =
        uri.path().strip_prefix("/v1/proxy/").and_then(|rest| rest.split_once('/')).map(|(_, path)| path).unwrap_or_default().to_string();
    let (stored, account) = load_usable_account(&state, &tenant, &account_id).await?;
    let request = ProxyRequest {
        method: method.as_str().to_string(),
        path,
        query: uri.query().map(str::to_string),
        headers: headers.iter().filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_string(), v.to_string()))).collect(),
        body: (!body.is_empty()).then_some(body),
    };
    let mut response = engine_call(&state, &stored, &account, state.engine.proxy(&account, request)).await?;
    if response.rate_limit.limited {
        state.metrics.rate_limited(&stored.integration);
    }
    if response.status >= 400 {
        redact_error_response(&state, &account, &mut response);
    }
    // The provider's status, errors included, passes as it is: not one of the API's errors.
    let mut out = Response::builder().status(response.status).extension(Passthrough);
    if let Some(headers) = out.headers_mut() {
        for (name, value) in response.headers.iter() {
            headers.append(name, value.clone());
        }
        for (name, value) in header_map(&response.rate_limit.headers()).iter() {
            headers.insert(name, value.clone());
        }
    }
    out.body(Body::from(response.body)).map_err(|e| ApiError::internal(format!("could not build the proxied response: {e}")))
}

/// A provider's error answer (4xx, 5xx) is its words about the request, and may repeat the
/// credentials it was sent (`Invalid API Key provided: …`): its body and header values are
/// redacted of the account's secrets (and of tokens a refresh during the call returned), as every
/// error the API returns is. A successful answer is the provider's data and passes as it is.
fn redact_error_response(state: &AppState, account: &RuntimeAccount, response: &mut ProxyResponse) {
    let mut secrets = account_secrets(state.engine.registry(), account);
    if let Some(refreshed) = &response.refreshed {
        secrets.extend(refreshed.credentials.secret_values().map(str::to_string));
    }
    let redactor = Redactor::from_secrets(secrets);
    if redactor.is_empty() {
        return;
    }
    if let Some(body) = redactor.redact_bytes(&response.body) {
        response.body = Bytes::from(body);
        response.headers.remove(CONTENT_LENGTH);
    }
    for value in response.headers.values_mut() {
        if let Some(redacted) = redactor.redact_bytes(value.as_bytes()) {
            if let Ok(redacted) = HeaderValue::from_bytes(&redacted) {
                *value = redacted;
            }
        }
    }
}
