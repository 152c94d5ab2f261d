//! The HTTP API: one module per group of endpoints, the shared pieces here.

mod accounts;
mod connect;
mod import;
mod installs;
mod keys;
mod logs;
mod ops;
mod proxy;
mod unified;

use crate::error::{send, ApiError, ApiResult};
use crate::exchange_log::{account_secrets, with_context, CallContext};
use crate::refresh::watching_leases;
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::Router;
use futures_util::StreamExt;
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchyard_runtime::account::Account as RuntimeAccount;
use switchyard_runtime::answer::Answer;
use switchyard_runtime::error::{ErrorKind, RuntimeError};
use switchyard_store::{Account, AccountPatch, AccountStatus};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The largest request body accepted (an import of many accounts is the big one).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A request body up to this size is not counted against the body budget: a small request is
/// never refused for the budget.
const SMALL_BODY: u64 = 64 * 1024;

/// The API: every route takes the API key but `/healthz`, `/v1/openapi.json` and the OAuth
/// callback. `/metrics` is not served here: it has a listener of its own ([`metrics_router`]).
pub fn router(state: AppState) -> Router {
    let budget = Arc::new(BodyBudget::new(state.config.body_budget));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/v1/openapi.json", get(ops::openapi))
        .route("/v1/installs", get(installs::list))
        .route("/v1/installs/{integration}", put(installs::put).get(installs::get).delete(installs::delete))
        .route("/v1/accounts", post(accounts::create).get(accounts::list))
        .route("/v1/accounts/import", post(import::import))
        .route("/v1/accounts/{id}", get(accounts::get).patch(accounts::patch).delete(accounts::delete))
        .route("/v1/accounts/{id}/refresh", post(accounts::refresh))
        .route("/v1/connect/{integration}/authorize", get(connect::authorize))
        .route("/v1/connect/callback", get(connect::callback))
        .route("/v1/unified/{model}/{resource}", get(unified::list).post(unified::create))
        .route("/v1/unified/{model}/{resource}/{id}", get(unified::get).patch(unified::update).delete(unified::delete))
        .route("/v1/proxy/{account_id}/{*path}", any(proxy::proxy))
        .route("/v1/logs", get(logs::list))
        .route("/v1/api-keys", post(keys::create).get(keys::list))
        .route("/v1/api-keys/{id}", get(keys::get).delete(keys::revoke))
        .route("/v1/api-keys/{id}/rotate", post(keys::rotate))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(budget, budget_bodies))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The metrics listener (`--metrics-listen`): `/metrics` without an API key, and nothing else.
/// Prometheus scrapes it on an address of its own, which the operator keeps off the public
/// network; the API listener never serves metrics.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "the metrics listener serves only GET /metrics") })
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    if uri.path() == "/metrics" {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not served on the API listener: start the server with --metrics-listen ADDR and scrape ADDR/metrics",
        );
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; the API is described at /v1/openapi.json")
}

/// Marks a response whose error status is the provider's, passed through as it is (the raw
/// proxy): [`json_errors`] leaves it alone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Passthrough;

/// Every error the server answers is `{"error": {"code", "message"}}`: the handlers' own errors
/// are [`ApiError`]s already; this turns the rest (the rejections of axum's extractors and
/// router, in plain text: a path parameter that is not UTF-8 after percent-decoding, 405, 413,
/// a body that could not be read) into the same shape, keeping their status, headers and words. A provider's error passed through by the proxy ([`Passthrough`]) is left as it is.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<Passthrough>().is_some() {
        return response;
    }
    let is_json = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (code, fallback) = match status {
        StatusCode::BAD_REQUEST => ("invalid_request", "the request is malformed"),
        StatusCode::UNAUTHORIZED => ("unauthorized", "the request needs an API key"),
        StatusCode::NOT_FOUND => ("not_found", "no such endpoint; the API is described at /v1/openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this route does not take this method"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "the request body's content type is not accepted"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "the server cannot answer now; retry shortly"),
        s if s.is_client_error() => ("invalid_request", "the request was refused"),
        _ => ("internal_error", "the server failed; see the server log"),
    };
    let message = match status {
        // The router adds `Allow` to the answer after this layer.
        StatusCode::METHOD_NOT_ALLOWED => "this route does not take this method; the `Allow` header lists those it takes".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => format!("the request body is larger than the {MAX_BODY_BYTES} bytes a request may carry"),
        _ if text.is_empty() => fallback.to_string(),
        _ => text,
    };
    let mut error = ApiError::new(status, code, message);
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            error.headers.append(name.clone(), value.clone());
        }
    }
    error.into_response()
}

/// The server-wide budget of request bodies held in memory (`ServerConfig::body_budget`), in
/// permits of 1 KiB. A body over [`SMALL_BODY`] holds permits for its whole size from when its
/// head is read (its `Content-Length`), or as it arrives (a chunked body), until the answer is
/// sent. When the budget is spent, such a body is refused at once with 503 `server_busy` and
/// `Retry-After: 1`, before it is read: N concurrent uploads of 32 MiB never hold more than the
/// budget. A body larger than the whole budget (or than [`MAX_BODY_BYTES`]) is refused with 413.
struct BodyBudget {
    permits: Arc<Semaphore>,
    /// The largest body accepted: the body limit or the whole budget, the smaller.
    max_body: u64,
}

impl BodyBudget {
    fn new(bytes: u64) -> BodyBudget {
        let permits = (kib(bytes) as usize).min(Semaphore::MAX_PERMITS);
        BodyBudget { permits: Arc::new(Semaphore::new(permits)), max_body: bytes.min(MAX_BODY_BYTES as u64) }
    }
}

fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

fn server_busy() -> Response {
    let mut error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_busy",
        "the server is holding as many large request bodies as its body budget allows; retry in a moment",
    );
    error.headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    error.into_response()
}

fn too_large(max: u64) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the request body is larger than the {max} bytes a request may carry; split it (an import, into several)"),
    )
    .into_response()
}

/// What a chunked body holds of the budget while it is read, and why it was refused.
#[derive(Default)]
struct Held {
    permits: Option<OwnedSemaphorePermit>,
    refused: Option<StatusCode>,
}

async fn budget_bodies(State(budget): State<Arc<BodyBudget>>, request: Request, next: Next) -> Response {
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length <= SMALL_BODY => next.run(request).await,
        Some(length) if length > budget.max_body => too_large(budget.max_body),
        Some(length) => match budget.permits.clone().try_acquire_many_owned(kib(length)) {
            Ok(permit) => {
                let response = next.run(request).await;
                drop(permit);
                response
            }
            Err(_) => server_busy(),
        },
        None if request.body().is_end_stream() => next.run(request).await,
        None => {
            // No length given (chunked): the body is counted as it arrives.
            let held = Arc::new(Mutex::new(Held::default()));
            let (parts, body) = request.into_parts();
            let counted = counted_body(body, budget.clone(), held.clone());
            let response = next.run(Request::from_parts(parts, counted)).await;
            let refused = held.lock().unwrap_or_else(|p| p.into_inner()).refused;
            match refused {
                Some(StatusCode::PAYLOAD_TOO_LARGE) => too_large(budget.max_body),
                Some(_) => server_busy(),
                None => response,
            }
        }
    }
}

/// `body`, taking permits of the budget as its bytes arrive past [`SMALL_BODY`]; when none are
/// left (or the body passes the largest size), it ends with an error and notes why in `held`.
fn counted_body(body: Body, budget: Arc<BodyBudget>, held: Arc<Mutex<Held>>) -> Body {
    let mut total: u64 = 0;
    let stream = body.into_data_stream().map(move |chunk| -> Result<Bytes, axum::BoxError> {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total <= SMALL_BODY {
            return Ok(chunk);
        }
        let mut held = held.lock().unwrap_or_else(|p| p.into_inner());
        if total > budget.max_body {
            held.refused = Some(StatusCode::PAYLOAD_TOO_LARGE);
            return Err("the request body is too large".into());
        }
        let have = held.permits.as_ref().map_or(0, |p| p.num_permits() as u32);
        let want = kib(total);
        if want > have {
            match budget.permits.clone().try_acquire_many_owned(want - have) {
                Ok(more) => match held.permits.as_mut() {
                    Some(permits) => permits.merge(more),
                    None => held.permits = Some(more),
                },
                Err(_) => {
                    held.refused = Some(StatusCode::SERVICE_UNAVAILABLE);
                    return Err("the body budget is spent".into());
                }
            }
        }
        Ok(chunk)
    });
    Body::from_stream(stream)
}

/// Counts and times every request by route template, and logs it (never the query: it may carry
/// a cursor or an OAuth code).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.request(method.as_str(), &route, status, elapsed);
    tracing::info!(method = %method, route = %route, status, elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}

/// Query parameters read into `T`, with a JSON error (axum's own rejection is plain text).
pub(crate) struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        parse_query(query).map(Params)
    }
}

fn parse_query<T: serde::de::DeserializeOwned>(query: &str) -> ApiResult<T> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}").parse().map_err(|_| ApiError::bad_request("the query string is malformed"))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::bad_request(format!("bad query parameter: {}", e.body_text())))
}

/// A JSON request body, with a parse error that says where.
pub(crate) fn parse_json(bytes: &Bytes) -> ApiResult<Value> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request needs a JSON body"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e} (line {}, column {})", e.line(), e.column())))
}

/// A stored account of the tenant and the engine's view of it (secrets opened, install attached).
pub(crate) async fn load_account(state: &AppState, tenant: &Tenant, account_id: &str) -> ApiResult<(Account, RuntimeAccount)> {
    let (env, id) = (tenant.id().to_string(), account_id.to_string());
    let (stored, install) = state
        .db(move |store| {
            let account = store.get_account(&env, &id)?;
            let install = match store.get_install(&env, &account.integration) {
                Ok(install) => Some(install),
                Err(switchyard_store::StoreError::NotFound(_)) => None,
                Err(e) => return Err(e),
            };
            Ok((account, install))
        })
        .await?;
    let runtime = crate::accounts::to_runtime(&state.keyring, &stored, install.as_ref())?;
    Ok((stored, runtime))
}

/// [`load_account`] for a call that goes upstream: an account that cannot make it is refused first.
pub(crate) async fn load_usable_account(state: &AppState, tenant: &Tenant, account_id: &str) -> ApiResult<(Account, RuntimeAccount)> {
    let (stored, account) = load_account(state, tenant, account_id).await?;
    ensure_usable(&stored)?;
    Ok((stored, account))
}

/// Refuses calls for an account that cannot make them, before anything goes upstream.
pub(crate) fn ensure_usable(account: &Account) -> ApiResult<()> {
    match account.status {
        AccountStatus::Active => Ok(()),
        AccountStatus::NeedsReauth => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "needs_reauth",
            format!(
                "account {} needs to be reconnected{}; give it new credentials with PATCH /v1/accounts/{} or reconnect",
                account.id,
                account.status_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                account.id
            ),
        )),
        AccountStatus::Disabled => {
            Err(ApiError::new(StatusCode::FORBIDDEN, "account_disabled", format!("account {} is disabled", account.id)))
        }
    }
}

/// How an engine call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The engine's error (the provider's answer, a mapping, the transport): the unified routes
    /// render it with `Answer::error`, the others as an [`ApiError`].
    Engine(RuntimeError),
    /// The server's own answer: 503 `refresh_in_progress` when another process holds the
    /// account's refresh lease.
    Server(ApiError),
}

impl CallError {
    /// The answer of a unified route.
    pub fn unified(self) -> Response {
        match self {
            CallError::Engine(error) => send(Answer::error(&error)),
            CallError::Server(error) => error.into_response(),
        }
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> ApiError {
        match error {
            CallError::Engine(error) => ApiError::from_runtime(error),
            CallError::Server(error) => error,
        }
    }
}

/// Runs an engine call for a stored account: its upstream exchanges are logged under the account
/// with its secrets redacted; its error comes back redacted of every secret the call knew (the
/// account's, the install's, any token a token response returned), before it is returned,
/// stored as a status reason or logged; a rate limit is counted; dead credentials mark the
/// account `needs_reauth`, so the next request is refused without calling the provider; a
/// refresh lease another process holds past the refresher's bounded wait answers 503
/// `refresh_in_progress` with `Retry-After`.
pub(crate) async fn engine_call<T, F>(state: &AppState, stored: &Account, account: &RuntimeAccount, call: F) -> Result<T, CallError>
where
    F: Future<Output = Result<T, RuntimeError>>,
{
    let secrets = account_secrets(state.engine.registry(), account);
    let context = CallContext::new(&stored.environment_id, Some(&stored.id), &stored.integration, secrets);
    // Redacted by `with_context` already: what follows stores and logs only redacted text.
    let (result, lease_busy) = watching_leases(with_context(context, call)).await;
    let error = match result {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    if let Some(left) = lease_busy {
        return Err(CallError::Server(refresh_in_progress(&error.message, left)));
    }
    match error.kind {
        ErrorKind::RateLimited => state.metrics.rate_limited(&stored.integration),
        ErrorKind::NeedsReauth => mark_needs_reauth(state, stored, &error.message).await,
        _ => {}
    }
    Err(CallError::Engine(error))
}

/// 503 `refresh_in_progress`: retry when the other process's lease lapses (`Retry-After`).
fn refresh_in_progress(message: &str, left: Duration) -> ApiError {
    let seconds = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let mut error =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "refresh_in_progress", message).with("retry_after", Value::from(seconds));
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        error.headers.insert(RETRY_AFTER, value);
    }
    error
}

/// Marks the account `needs_reauth` with `reason`: the message of an error [`engine_call`] has
/// redacted (cut after redaction, so no fragment of a secret is left at the cut).
async fn mark_needs_reauth(state: &AppState, stored: &Account, reason: &str) {
    if stored.status != AccountStatus::Active {
        return;
    }
    let (env, id) = (stored.environment_id.clone(), stored.id.clone());
    let patch = AccountPatch { status: Some(AccountStatus::NeedsReauth), status_reason: Some(truncate(reason, 300)), ..Default::default() };
    if let Err(error) = state.db(move |store| store.update_account(&env, &id, patch)).await {
        tracing::warn!(account = %stored.id, error = %error.message, "could not mark the account needs_reauth");
    } else {
        tracing::warn!(account = %stored.id, integration = %stored.integration, "account needs reauthorization");
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A JSON response with a status.
pub(crate) fn json(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

#[cfg(test)]
mod tests;
