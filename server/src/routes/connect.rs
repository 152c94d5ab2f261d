//! OAuth connect: `GET /v1/connect/{integration}/authorize` sends the customer to the provider's
//! consent screen (with state and PKCE), `GET /v1/connect/callback` exchanges the code and creates
//! the account, or gives new tokens to the account with the same `external_id` (a reconnect).
//!
//! The redirect URI registered with the provider is `{public_url}/v1/connect/callback`. After the
//! callback the browser goes to `return_to` when given, which must be at or below one of the
//! install's `settings.return_urls`, compared as parsed URLs (no open redirect:
//! [`return_url_allows`]), with `account_id` added to its query.

use super::accounts::{account_by_external_id, external_id_taken, install_of, integration};
use super::json;
use crate::accounts::{self as convert, check_connection, view};
use crate::connect_state::{ConnectState, LIFETIME_SECONDS};
use crate::error::{ApiError, ApiResult};
use crate::exchange_log::{account_secrets, with_context, CallContext};
use crate::state::AppState;
use crate::tenancy::Tenant;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use switchyard_registry::{Auth, OAuthGrant};
use switchyard_runtime::answer;
use switchyard_runtime::auth::{callback_connection, Pkce};
use switchyard_store::redact::Redactor;
use switchyard_store::{AccountStatus, NewAccount, SecretString, StoreError};

fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Query: `external_id`, `return_to`, and connection fields as `connection.NAME=VALUE`.
pub async fn authorize(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let definition = integration(&state, &name)?;
    let Auth::OAuth2(oauth) = &definition.auth else {
        return Err(ApiError::bad_request(format!("`{name}` does not use OAuth2; create its accounts with POST /v1/accounts")));
    };
    if oauth.grant != OAuthGrant::AuthorizationCode {
        return Err(ApiError::bad_request(format!(
            "`{name}` uses the client-credentials grant: there is no consent screen; use POST /v1/accounts"
        )));
    }
    let mut external_id = None;
    let mut return_to = None;
    let mut connection = Map::new();
    for (key, value) in query_pairs(&raw) {
        match key.as_str() {
            "external_id" => external_id = Some(value).filter(|v| !v.is_empty()),
            "return_to" => return_to = Some(value).filter(|v| !v.is_empty()),
            other => match other.strip_prefix("connection.") {
                Some(field) => {
                    connection.insert(field.to_string(), Value::from(value));
                }
                None => {
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter `{other}`; authorize takes `external_id`, `return_to` and `connection.FIELD`"
                    )))
                }
            },
        }
    }
    let mut secrets = BTreeMap::new();
    let checked = check_connection(definition, Some(&Value::Object(connection.clone())), &mut secrets, false)?;
    // Fields the token response (an API domain) or the callback (a company id) fills in are not
    // asked of the customer.
    for (field, spec) in &definition.connection.fields {
        let given = checked.contains_key(field) || secrets.contains_key(&format!("connection.{field}"));
        let filled_later = oauth.token_response.store.contains_key(field) || spec.from_callback.is_some();
        if spec.required && spec.default.is_none() && !given && !filled_later {
            return Err(ApiError::bad_request(format!("`{name}` needs connection field `{field}`: pass it as `connection.{field}=…`"))
                .with("field", Value::from(format!("connection.{field}"))));
        }
    }
    let install = install_of(&state, tenant.id(), &name).await?;
    if install.client_id.is_none() {
        return Err(ApiError::bad_request(format!(
            "`{name}` is not installed with an OAuth client in this environment: PUT /v1/installs/{name} with `oauth_client` first"
        )));
    }
    if let Some(target) = &return_to {
        check_return_to(&state, tenant.id(), &name, target).await?;
    }
    let pkce = oauth.pkce.then(Pkce::generate);
    let sealed_state = ConnectState {
        environment_id: tenant.id().to_string(),
        integration: name.clone(),
        code_verifier: pkce.as_ref().map(|p| p.verifier.clone()),
        external_id,
        connection,
        return_to,
        expires_at: chrono::Utc::now().timestamp() + LIFETIME_SECONDS,
        nonce: switchyard_store::ids::new_id("n"),
    }
    .seal(&state.keyring)
    .map_err(ApiError::internal)?;
    let input = convert::AccountInput { connection: checked, secrets, expires_at: None };
    let account = convert::unsaved_runtime(&name, &input, install);
    let url = state.engine.authorize_url(&account, &state.config.redirect_uri(), &sealed_state, pkce.as_ref())?;
    let wants_json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    if wants_json {
        return Ok(json(StatusCode::OK, json!({ "authorize_url": url.as_str() })));
    }
    Ok(Redirect::to(url.as_str()).into_response())
}

async fn check_return_to(state: &AppState, environment: &str, integration: &str, target: &str) -> ApiResult<()> {
    let (env, name) = (environment.to_string(), integration.to_string());
    let settings = state
        .db(move |store| match store.get_install(&env, &name) {
            Ok(install) => Ok(install.settings),
            Err(StoreError::NotFound(_)) => Ok(Value::Null),
            Err(e) => Err(e),
        })
        .await?;
    let allowed: Vec<&str> =
        settings.get("return_urls").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let accepted = url::Url::parse(target).ok().is_some_and(|target| allowed.iter().any(|base| return_url_allows(base, &target)));
    if !accepted {
        return Err(ApiError::bad_request(format!(
            "`return_to` must be an absolute URL under one of the install's `settings.return_urls` ({}): the same scheme, \
             host and port, no user name or password, and a path at or below the allowed one; add it with PUT /v1/installs/{integration}",
            if allowed.is_empty() { "none set".to_string() } else { allowed.join(", ") }
        ))
        .with("field", Value::from("return_to")));
    }
    Ok(())
}

/// Whether `target` is at or below the allowed return URL `base`, compared as parsed URLs (never
/// as text: `https://app.example.com.evil.com` and `https://app.example.com@evil.com` start with
/// `https://app.example.com`): the same scheme (http or https), host and port exactly, no
/// userinfo in either, and the target's path equal to the base's path or below it on a `/`
/// boundary (`/connected` allows `/connected` and `/connected/…`, not `/connected-evil`). Both
/// are parsed by the WHATWG rules browsers follow, so dot segments (`..`, `%2e%2e`) are resolved
/// and the host lower-cased before the comparison. The base's query and fragment are ignored;
/// the target may have its own.
fn return_url_allows(base: &str, target: &url::Url) -> bool {
    let Ok(base) = url::Url::parse(base.trim()) else { return false };
    let no_userinfo = |url: &url::Url| url.username().is_empty() && url.password().is_none();
    if !matches!(target.scheme(), "http" | "https")
        || target.scheme() != base.scheme()
        || target.host().is_none()
        || target.host() != base.host()
        || target.port_or_known_default() != base.port_or_known_default()
        || !no_userinfo(target)
        || !no_userinfo(&base)
    {
        return false;
    }
    let (base_path, path) = (base.path(), target.path());
    if base_path.ends_with('/') {
        path.starts_with(base_path)
    } else {
        path == base_path || path.strip_prefix(base_path).is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The provider sends the browser here with `code` and `state` (or `error`).
pub async fn callback(State(state): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let pairs = query_pairs(&raw);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let text = get("state").ok_or_else(|| ApiError::bad_request("the callback has no `state`"))?;
    let connect = ConnectState::open(&state.keyring, &text, chrono::Utc::now()).map_err(ApiError::bad_request)?;
    if let Some(error) = get("error") {
        // The provider's words, redacted of the install's client secret like any other.
        let install = install_of(&state, &connect.environment_id, &connect.integration).await?;
        let redactor = Redactor::from_secrets(install.client_secret.iter().map(|s| s.expose()));
        let (error, description) = (redactor.redact(&error), redactor.redact(&get("error_description").unwrap_or_default()));
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "authorization_denied",
            format!("the provider answered `{error}`: {description}"),
        )
        .with("upstream", json!({ "error": error, "error_description": description })));
    }
    let code = get("code").filter(|c| !c.is_empty()).ok_or_else(|| ApiError::bad_request("the callback has neither `code` nor `error`"))?;
    let definition = integration(&state, &connect.integration)?;
    // Fields the redirect fills in (`from_callback`) take the provider's value over the
    // customer's, and are checked like any other before the code is spent.
    let mut given = connect.connection.clone();
    for (field, value) in callback_connection(definition, &pairs) {
        given.insert(field, Value::from(value));
    }
    for (field, spec) in &definition.connection.fields {
        if let Some(param) = spec.from_callback.as_deref().filter(|_| spec.required && spec.default.is_none() && !given.contains_key(field))
        {
            return Err(ApiError::bad_request(format!("the callback has no `{param}`, which fills connection field `{field}`"))
                .with("field", Value::from(format!("connection.{field}"))));
        }
    }
    let mut secrets = BTreeMap::new();
    let connection = check_connection(definition, Some(&Value::Object(given)), &mut secrets, false)?;
    let install = install_of(&state, &connect.environment_id, &connect.integration).await?;
    let input = convert::AccountInput { connection, secrets, expires_at: None };
    let account = convert::unsaved_runtime(&connect.integration, &input, install);
    let mut secrets = account_secrets(state.engine.registry(), &account);
    secrets.push(code.clone());
    // The error comes back redacted of the code, the client secret and the tokens (`with_context`).
    let context = CallContext::new(&connect.environment_id, None, &connect.integration, secrets);
    let redirect_uri = state.config.redirect_uri();
    let exchange = state.engine.exchange_code(&account, &code, &redirect_uri, connect.code_verifier.as_deref());
    let tokens = with_context(context, exchange).await.map_err(|error| {
        ApiError::new(StatusCode::BAD_GATEWAY, "code_exchange_failed", format!("the provider did not exchange the code: {}", error.message))
            .with("upstream", answer::upstream(&error))
    })?;

    let mut secrets = input.secrets;
    secrets.insert("access_token".into(), SecretString::new(tokens.access_token.clone()));
    if let Some(refresh) = &tokens.refresh_token {
        secrets.insert("refresh_token".into(), SecretString::new(refresh.clone()));
    }
    let mut connection = input.connection;
    for (field, value) in &tokens.connection_updates {
        connection.insert(field.clone(), Value::from(value.clone()));
    }
    // Now every required field must be there, the token response's included.
    let mut unused = BTreeMap::new();
    let connection = check_connection(definition, Some(&Value::Object(connection)), &mut unused, true)?;
    let expires_at = tokens.expires_at.map(convert::to_utc);
    let env = connect.environment_id.clone();
    let external_id = connect.external_id.clone();
    let id = switchyard_store::ids::account_id();
    let existing = match &external_id {
        Some(external) => account_by_external_id(&state, &env, external).await?,
        None => None,
    };
    let account = match existing {
        // A reconnect: new tokens for the account the customer already has.
        Some(existing) if existing.integration == connect.integration => {
            let sealed = convert::seal(&state.keyring, &existing.id, &secrets)?;
            let (e, i) = (env.clone(), existing.id.clone());
            let connection = Value::Object(connection);
            state
                .db(move |store| {
                    store.replace_credentials(&e, &i, sealed, expires_at)?;
                    store.update_account(&e, &i, switchyard_store::AccountPatch { connection: Some(connection), ..Default::default() })
                })
                .await?
        }
        Some(existing) => return Err(external_id_taken(&existing)),
        None => {
            let sealed = convert::seal(&state.keyring, &id, &secrets)?;
            let new = NewAccount {
                id,
                integration: connect.integration.clone(),
                external_id: external_id.clone(),
                connection: Value::Object(connection),
                credentials: sealed,
                expires_at,
                status: AccountStatus::Active,
            };
            match state.db(move |store| store.create_account(&env, new)).await {
                Ok(account) => account,
                // Another callback took the external id meanwhile: name its account, not the id
                // this one would have had.
                Err(error) if error.status == StatusCode::CONFLICT => match &external_id {
                    Some(external) => match account_by_external_id(&state, &connect.environment_id, external).await? {
                        Some(existing) => return Err(external_id_taken(&existing)),
                        None => return Err(error),
                    },
                    None => return Err(error),
                },
                Err(error) => return Err(error),
            }
        }
    };
    match &connect.return_to {
        Some(target) => {
            let mut url = url::Url::parse(target).map_err(|_| ApiError::bad_request("`return_to` is not a URL"))?;
            url.query_pairs_mut().append_pair("account_id", &account.id);
            Ok(Redirect::to(url.as_str()).into_response())
        }
        None => Ok(json(StatusCode::CREATED, view(&account))),
    }
}
