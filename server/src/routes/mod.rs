//! The HTTP API: one module per group of endpoints, the shared pieces here.

mod accounts;
mod connect;
mod import;
mod installs;
mod logs;
mod ops;
mod proxy;
mod unified;

use crate::error::{ApiError, ApiResult};
use crate::exchange_log::{account_secrets, with_context, CallContext};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::Router;
use serde_json::Value;
use std::future::Future;
use std::time::Instant;
use switchyard_runtime::account::Account as RuntimeAccount;
use switchyard_runtime::error::{ErrorKind, RuntimeError};
use switchyard_store::{Account, AccountPatch, AccountStatus};

/// The largest request body accepted (an import of many accounts is the big one).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
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
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint; the API is described at /v1/openapi.json")
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

/// Runs an engine call for a stored account: its upstream exchanges are logged under the account
/// with its secrets redacted; its error comes back redacted of every secret the call knew (the
/// account's, the install's, any token a token response returned), before it is returned,
/// stored as a status reason or logged; a rate limit is counted; dead credentials mark the
/// account `needs_reauth`, so the next request is refused without calling the provider.
pub(crate) async fn engine_call<T, F>(state: &AppState, stored: &Account, account: &RuntimeAccount, call: F) -> Result<T, RuntimeError>
where
    F: Future<Output = Result<T, RuntimeError>>,
{
    let secrets = account_secrets(state.engine.registry(), account);
    let context = CallContext::new(&stored.environment_id, Some(&stored.id), &stored.integration, secrets);
    // Redacted by `with_context` already: what follows stores and logs only redacted text.
    let result = with_context(context, call).await;
    if let Err(error) = &result {
        match error.kind {
            ErrorKind::RateLimited => state.metrics.rate_limited(&stored.integration),
            ErrorKind::NeedsReauth => mark_needs_reauth(state, stored, &error.message).await,
            _ => {}
        }
    }
    result
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
