//! `/v1/accounts`: connect an account by importing its tokens (the hot swap of a migration: the
//! exact expiry is kept, the customer does not reconnect), read, change, delete, refresh.

use super::{engine_call, json, load_account, parse_json, Params};
use crate::accounts::{self as convert, check_connection, parse_credentials, view, AccountInput};
use crate::error::{ApiError, ApiResult};
use crate::exchange_log::{account_secrets, with_context, CallContext};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_registry::{Auth, Integration};
use switchyard_runtime::account as rt;
use switchyard_runtime::answer;
use switchyard_runtime::engine::{RefreshReason, TokenRefresher};
use switchyard_store::{Account, AccountPatch, AccountStatus, Install, NewAccount, SecretString, StoreError, UpsertOutcome};

/// A new account as submitted to `POST /v1/accounts`, one row of an import, or the result of an
/// OAuth callback.
pub(crate) struct Submission {
    pub integration: String,
    pub external_id: Option<String>,
    pub connection: Option<Value>,
    pub credentials: Option<Value>,
    /// `None`: verify when the definition has a verify call.
    pub verify: Option<bool>,
}

impl Submission {
    pub fn from_json(value: &Value) -> ApiResult<Submission> {
        let Value::Object(map) = value else { return Err(ApiError::bad_request("an account must be a JSON object")) };
        for key in map.keys() {
            if !matches!(key.as_str(), "integration" | "external_id" | "connection" | "credentials" | "verify") {
                return Err(ApiError::bad_request(format!(
                    "unknown field `{key}`; an account takes `integration`, `external_id`, `connection`, `credentials` and `verify`"
                )));
            }
        }
        let integration = match map.get("integration") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(ApiError::bad_request("`integration` is required: the name of a bundled integration")),
        };
        let external_id = match map.get("external_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 256 => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => return Err(ApiError::bad_request("`external_id` must be a non-empty string of at most 256 characters")),
        };
        let verify = match map.get("verify") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(ApiError::bad_request("`verify` must be true or false")),
        };
        Ok(Submission {
            integration,
            external_id,
            connection: map.get("connection").cloned(),
            credentials: map.get("credentials").cloned(),
            verify,
        })
    }
}

/// How a submission was stored.
pub(crate) struct Stored {
    pub account: Account,
    pub outcome: UpsertOutcome,
}

pub(crate) fn integration<'a>(state: &'a AppState, name: &str) -> ApiResult<&'a Integration> {
    state.engine.registry().integration(name).ok_or_else(|| {
        let known: Vec<&str> = state.engine.registry().integrations.iter().map(|i| i.name.as_str()).collect();
        ApiError::bad_request(format!("unknown integration `{name}`; this server has: {}", known.join(", ")))
            .with("field", Value::from("integration"))
    })
}

pub(crate) async fn install_of(state: &AppState, environment: &str, integration: &str) -> ApiResult<rt::Install> {
    let (env, name) = (environment.to_string(), integration.to_string());
    let install = state
        .db(move |store| match store.get_install(&env, &name) {
            Ok(install) => Ok(Some(install)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
    let Some(install) = install else { return Ok(rt::Install::default()) };
    let secret = match &install.oauth_client_secret {
        Some(sealed) => Some(rt::Secret::new(
            state.keyring.open_str(&Install::seal_row(environment, integration), Install::CLIENT_SECRET_FIELD, sealed)?.expose(),
        )),
        None => None,
    };
    Ok(rt::Install { client_id: install.oauth_client_id.clone(), client_secret: secret, webhook_secret: None })
}

/// Checks, verifies (unless told not to) and stores a new account. With `idempotent`, an
/// existing account with the same external id is returned unchanged and nothing is called.
pub(crate) async fn store_new(state: &AppState, environment: &str, submission: Submission, idempotent: bool) -> ApiResult<Stored> {
    let definition = integration(state, &submission.integration)?;
    if idempotent && submission.external_id.is_none() {
        return Err(ApiError::bad_request("`external_id` is required in an import: it makes a re-run safe"));
    }
    // Before anything is verified: a taken external id is refused (or, in an import, reported)
    // without calling the provider.
    if let Some(external_id) = &submission.external_id {
        if let Some(account) = account_by_external_id(state, environment, external_id).await? {
            if idempotent && account.integration == submission.integration {
                return Ok(Stored { account, outcome: UpsertOutcome::AlreadyExists });
            }
            return Err(external_id_taken(&account));
        }
    }
    let credentials = parse_credentials(definition, submission.credentials.as_ref(), chrono::Utc::now())?;
    let mut input = convert::check_new(definition, submission.connection.as_ref(), credentials)?;
    let install = install_of(state, environment, &submission.integration).await?;
    let verify = match submission.verify {
        Some(true) if definition.verify.is_none() => {
            return Err(ApiError::bad_request(format!(
                "`{}` defines no verify call, so the credentials cannot be checked; send `\"verify\": false`",
                definition.name
            )))
        }
        Some(v) => v,
        None => definition.verify.is_some(),
    };
    if verify {
        verify_account(state, environment, &submission.integration, &mut input, install).await?;
    }
    let id = switchyard_store::ids::account_id();
    let sealed = convert::seal(&state.keyring, &id, &input.secrets)?;
    let new = NewAccount {
        id,
        integration: submission.integration.clone(),
        external_id: submission.external_id.clone(),
        connection: Value::Object(input.connection),
        credentials: sealed,
        expires_at: input.expires_at,
        status: AccountStatus::Active,
    };
    let env = environment.to_string();
    let external_id = submission.external_id.clone();
    let created = if idempotent {
        state.db(move |store| store.import_account(&env, new)).await
    } else {
        state.db(move |store| store.create_account(&env, new).map(|account| (account, UpsertOutcome::Created))).await
    };
    match created {
        Ok((account, outcome)) => Ok(Stored { account, outcome }),
        // Another request took the external id while this one was verified: name its account
        // (the store's message names the id this one would have had, which does not exist).
        Err(error) if error.status == StatusCode::CONFLICT => match &external_id {
            Some(external_id) => match account_by_external_id(state, environment, external_id).await? {
                Some(account) if idempotent && account.integration == submission.integration => {
                    Ok(Stored { account, outcome: UpsertOutcome::AlreadyExists })
                }
                Some(account) => Err(external_id_taken(&account)),
                None => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("external id `{external_id}` was taken by another request meanwhile; try again"),
                )),
            },
            None => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// The account of the environment with this external id, if any.
pub(crate) async fn account_by_external_id(state: &AppState, environment: &str, external_id: &str) -> ApiResult<Option<Account>> {
    let (env, external_id) = (environment.to_string(), external_id.to_string());
    state
        .db(move |store| match store.account_by_external_id(&env, &external_id) {
            Ok(account) => Ok(Some(account)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await
}

/// 409: the external id belongs to `account`, which the answer names (`account_id`).
pub(crate) fn external_id_taken(account: &Account) -> ApiError {
    let external_id = account.external_id.as_deref().unwrap_or_default();
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        format!(
            "external id `{external_id}` is already used by account {} (`{}`); give that account new credentials with \
             PATCH /v1/accounts/{}, or use another external id",
            account.id, account.integration, account.id
        ),
    )
    .with("account_id", Value::from(account.id.clone()))
}

/// Runs the definition's verify call with the submitted credentials. On failure nothing is
/// stored and the caller sees what the provider said. A refresh during verification (an expired
/// imported token) replaces the submitted tokens with the new ones: with a rotating provider the
/// submitted refresh token is already dead.
async fn verify_account(
    state: &AppState,
    environment: &str,
    integration: &str,
    input: &mut AccountInput,
    install: rt::Install,
) -> ApiResult<()> {
    let account = convert::unsaved_runtime(integration, input, install);
    let secrets = account_secrets(state.engine.registry(), &account);
    let context = CallContext::new(environment, None, integration, secrets);
    // The error comes back redacted of the submitted credentials (`with_context`).
    match with_context(context, state.engine.verify(&account)).await {
        Ok(response) => {
            if let Some(refreshed) = response.refreshed {
                let secret_connection: Vec<(String, SecretString)> =
                    input.secrets.iter().filter(|(k, _)| k.starts_with("connection.")).map(|(k, v)| (k.clone(), v.clone())).collect();
                input.secrets = convert::secrets_of(&refreshed.credentials, secret_connection);
                input.expires_at = refreshed.credentials.expires_at.map(convert::to_utc);
                for (field, value) in refreshed.connection.iter() {
                    if input.connection.contains_key(field) || !input.secrets.contains_key(&format!("connection.{field}")) {
                        input.connection.insert(field.clone(), Value::from(value.clone()));
                    }
                }
            }
            Ok(())
        }
        Err(error) => {
            let status = error.provider_status;
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification_failed",
                format!("the provider did not accept the credentials: {}", error.message),
            )
            .with("upstream", answer::upstream(&error))
            .with("upstream_status", Value::from(status)))
        }
    }
}

pub async fn create(State(state): State<AppState>, tenant: Tenant, body: Bytes) -> ApiResult<Response> {
    let submission = Submission::from_json(&parse_json(&body)?)?;
    let stored = store_new(&state, tenant.id(), submission, false).await?;
    Ok(json(StatusCode::CREATED, view(&stored.account)))
}

#[derive(Deserialize)]
pub struct ListQuery {
    integration: Option<String>,
    limit: Option<usize>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

/// Accounts per page of `GET /v1/accounts` when `limit` is not given, and at most.
const LIST_DEFAULT_LIMIT: usize = 100;
const LIST_MAX_LIMIT: usize = 500;

/// A page's `next_cursor`: where the page ended in creation order (opaque to callers).
fn list_cursor(after: &switchyard_store::AccountCursor) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", after.created_at.timestamp_millis(), after.id))
}

fn parse_list_cursor(text: &str) -> ApiResult<switchyard_store::AccountCursor> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request("`cursor` is not a cursor of this list: pass a previous page's `next_cursor`").with("field", json!("cursor"))
    };
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (ms, id) = decoded.split_once(':').ok_or_else(bad)?;
    let created_at = ms.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_millis).ok_or_else(bad)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(switchyard_store::AccountCursor { created_at, id: id.to_string() })
}

/// `GET /v1/accounts[?integration=][&limit=][&cursor=]`: a page of the environment's accounts in
/// creation order (`limit`, default 100, at most 500), and `next_cursor` for the next page (null
/// on the last). Read through an index in that order: a page costs the same however many
/// accounts there are.
pub async fn list(State(state): State<AppState>, tenant: Tenant, Params(query): Params<ListQuery>) -> ApiResult<Response> {
    let limit = query.limit.unwrap_or(LIST_DEFAULT_LIMIT);
    if limit == 0 || limit > LIST_MAX_LIMIT {
        return Err(ApiError::bad_request(format!("`limit` must be from 1 to {LIST_MAX_LIMIT}")).with("field", json!("limit")));
    }
    let after = query.cursor.as_deref().filter(|c| !c.is_empty()).map(parse_list_cursor).transpose()?;
    let env = tenant.id().to_string();
    let page = state.db(move |store| store.list_accounts_page(&env, query.integration.as_deref(), after.as_ref(), limit)).await?;
    Ok(json(
        StatusCode::OK,
        json!({
            "results": page.accounts.iter().map(view).collect::<Vec<_>>(),
            "next_cursor": page.next_after.as_ref().map(list_cursor),
        }),
    ))
}

pub async fn get(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> ApiResult<Response> {
    let env = tenant.id().to_string();
    let account = state.db(move |store| store.get_account(&env, &id)).await?;
    Ok(json(StatusCode::OK, view(&account)))
}

/// Changes connection fields, the status (`active` / `disabled`), or the credentials (a
/// reconnect: a `needs_reauth` account becomes active again).
pub async fn patch(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>, body: Bytes) -> ApiResult<Response> {
    let body = parse_json(&body)?;
    let Value::Object(body) = body else { return Err(ApiError::bad_request("the body must be a JSON object")) };
    for key in body.keys() {
        if !matches!(key.as_str(), "connection" | "status" | "credentials") {
            return Err(ApiError::bad_request(format!("unknown field `{key}`; PATCH takes `connection`, `status` and `credentials`")));
        }
    }
    let env = tenant.id().to_string();
    let (lookup_env, lookup_id) = (env.clone(), id.clone());
    let account = state.db(move |store| store.get_account(&lookup_env, &lookup_id)).await?;
    let definition = integration(&state, &account.integration)?;

    let mut patch = AccountPatch::default();
    let mut new_secret_connection = std::collections::BTreeMap::new();
    if let Some(connection) = body.get("connection") {
        let changes = check_connection(definition, Some(connection), &mut new_secret_connection, false)?;
        let mut merged = account.connection.as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            merged.insert(k, v);
        }
        patch.connection = Some(Value::Object(merged));
    }
    match body.get("status") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "active" || s == "disabled" => {
            patch.status = AccountStatus::parse(s);
            patch.status_reason = None;
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "`status` can be set to `active` or `disabled` (`needs_reauth` is set by the server; new credentials clear it)",
            ))
        }
    }
    let credentials = match body.get("credentials") {
        Some(value) if !value.is_null() => Some(parse_credentials(definition, Some(value), chrono::Utc::now())?),
        _ => None,
    };
    if credentials.is_none() && !new_secret_connection.is_empty() {
        // Secret connection fields live with the credentials: keep the current ones, change these.
        let mut secrets = account.credentials.open(&state.keyring, &account.id)?;
        secrets.extend(new_secret_connection.clone());
        let sealed = convert::seal(&state.keyring, &account.id, &secrets)?;
        let (e, i, exp) = (env.clone(), id.clone(), account.expires_at);
        state.db(move |store| store.replace_credentials(&e, &i, sealed, exp)).await?;
    }
    if let Some(credentials) = credentials {
        let mut secrets: std::collections::BTreeMap<String, SecretString> =
            convert::secret_connection_fields(&state.keyring, &account)?.into_iter().collect();
        secrets.extend(new_secret_connection);
        secrets.extend(credentials.fields);
        let sealed = convert::seal(&state.keyring, &account.id, &secrets)?;
        let (e, i, exp) = (env.clone(), id.clone(), credentials.expires_at);
        state.db(move |store| store.replace_credentials(&e, &i, sealed, exp)).await?;
    }
    let updated = state.db(move |store| store.update_account(&env, &id, patch)).await?;
    Ok(json(StatusCode::OK, view(&updated)))
}

pub async fn delete(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> ApiResult<Response> {
    let env = tenant.id().to_string();
    state.db(move |store| store.delete_account(&env, &id)).await?;
    Ok(json(StatusCode::OK, json!({ "deleted": true })))
}

/// Refreshes the access token now, through the same single flight and lease as a refresh on use.
pub async fn refresh(State(state): State<AppState>, tenant: Tenant, Path(id): Path<String>) -> ApiResult<Response> {
    let (stored, account) = load_account(&state, &tenant, &id).await?;
    let definition = integration(&state, &stored.integration)?;
    if !matches!(definition.auth, Auth::OAuth2(_)) {
        return Err(ApiError::bad_request(format!("`{}` does not use OAuth2: there is no token to refresh", definition.name)));
    }
    super::ensure_usable(&stored)?;
    let engine = state.engine.clone();
    let refresher = state.refresher.clone();
    engine_call(&state, &stored, &account, async { refresher.refresh(&engine, &account, RefreshReason::Rejected).await }).await?;
    let env = tenant.id().to_string();
    let account = state.db(move |store| store.get_account(&env, &id)).await?;
    Ok(json(StatusCode::OK, view(&account)))
}
