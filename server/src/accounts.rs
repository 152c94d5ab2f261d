//! Accounts three ways: as a caller submits them (connection fields and credentials, checked
//! against the integration's definition), as the store keeps them (secrets sealed), and as the
//! engine runs them (secrets open, only for the length of a call). The API's view of an account
//! never holds a secret.

use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use switchyard_registry::{Auth, FieldType, Integration};
use switchyard_runtime::account::{self as rt, Connection, Credentials, Secret};
use switchyard_store::{Account, Install, Keyring, SealedCredentials, SecretString};

/// Secret connection fields (type `secret` in the definition) are sealed with the credentials,
/// under this prefix, and never appear in the account's `connection`.
const SECRET_CONNECTION_PREFIX: &str = "connection.";

/// Credentials as submitted: the auth's fields, with the access token's expiry.
#[derive(Debug, Default)]
pub struct CredentialInput {
    pub fields: BTreeMap<String, SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Connection fields and credentials as submitted, checked against the definition.
#[derive(Debug)]
pub struct AccountInput {
    /// Non-secret connection fields, stored as they are.
    pub connection: Map<String, Value>,
    /// Credentials plus secret connection fields, to seal.
    pub secrets: BTreeMap<String, SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The credential fields an integration's auth reads.
pub fn credential_fields(integration: &Integration) -> Vec<String> {
    let declared = integration.auth.credentials();
    if declared.is_empty() {
        integration.auth.default_credentials().iter().map(|s| s.to_string()).collect()
    } else {
        declared.to_vec()
    }
}

/// Reads `credentials` of a request body: every field a string, except the expiry, given either
/// as `expires_at` (RFC 3339) or `expires_in` (seconds from now), not both. The exact expiry of an imported
/// token is kept, so a migrated account is refreshed when its old vendor would have refreshed it.
pub fn parse_credentials(integration: &Integration, value: Option<&Value>, now: DateTime<Utc>) -> ApiResult<CredentialInput> {
    let allowed = credential_fields(integration);
    let mut input = CredentialInput::default();
    let Some(value) = value else { return Ok(input) };
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request("`credentials` must be an object of credential fields"));
    };
    let given = |name: &str| map.get(name).is_some_and(|v| !v.is_null());
    if given("expires_at") && given("expires_in") {
        // Two expiries that may disagree: which one the caller meant is not ours to guess.
        return Err(ApiError::bad_request(
            "`credentials.expires_at` and `credentials.expires_in` were both given: send one of them (the expiry as an \
             RFC 3339 time, or as seconds from now)",
        )
        .with("field", Value::from("credentials.expires_in")));
    }
    for (name, value) in map {
        match name.as_str() {
            "expires_at" => {
                if value.is_null() {
                    continue;
                }
                let text = value.as_str().ok_or_else(|| ApiError::bad_request("`credentials.expires_at` must be an RFC 3339 time"))?;
                let at = DateTime::parse_from_rfc3339(text).map_err(|e| {
                    ApiError::bad_request(format!(
                        "`credentials.expires_at`: `{text}` is not an RFC 3339 time ({e}); e.g. 2026-01-31T12:00:00Z"
                    ))
                })?;
                input.expires_at = Some(at.with_timezone(&Utc));
            }
            "expires_in" => {
                if value.is_null() {
                    continue;
                }
                let seconds = value
                    .as_f64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e10)
                    .ok_or_else(|| ApiError::bad_request("`credentials.expires_in` must be a number of seconds"))?;
                input.expires_at = Some(now + chrono::Duration::milliseconds((seconds * 1000.0) as i64));
            }
            _ if !allowed.iter().any(|a| a == name) => {
                return Err(ApiError::bad_request(format!(
                    "unknown credential field `{name}`: `{}` ({} auth) takes {}",
                    integration.name,
                    integration.auth.type_name(),
                    list(&allowed)
                ))
                .with("field", Value::from(format!("credentials.{name}"))));
            }
            _ => match value {
                Value::String(s) => {
                    input.fields.insert(name.clone(), SecretString::new(s.clone()));
                }
                Value::Null => {}
                _ => {
                    return Err(ApiError::bad_request(format!("`credentials.{name}` must be a string"))
                        .with("field", Value::from(format!("credentials.{name}"))))
                }
            },
        }
    }
    if input.expires_at.is_some() && !input.fields.contains_key("access_token") {
        return Err(ApiError::bad_request(
            "`credentials.expires_at` / `expires_in` is the expiry of an `access_token`, and none was given",
        ));
    }
    Ok(input)
}

/// Checks a new account's connection fields and credentials against the definition.
pub fn check_new(integration: &Integration, connection: Option<&Value>, credentials: CredentialInput) -> ApiResult<AccountInput> {
    let mut secrets = credentials.fields;
    let connection = check_connection(integration, connection, &mut secrets, true)?;
    let needed: Vec<String> = match &integration.auth {
        // Either token lets the account work: a refresh token alone is refreshed on first use.
        Auth::OAuth2(oauth) if oauth.grant == switchyard_registry::OAuthGrant::AuthorizationCode => {
            if !secrets.contains_key("access_token") && !secrets.contains_key("refresh_token") {
                return Err(ApiError::bad_request(format!(
                    "`{}` uses OAuth2: give `credentials.access_token` (with `expires_at` or `expires_in` if it expires) and \
                     `credentials.refresh_token`, or connect through /v1/connect/{}/authorize",
                    integration.name, integration.name
                )));
            }
            Vec::new()
        }
        Auth::OAuth2(_) => Vec::new(),
        _ => credential_fields(integration),
    };
    let missing: Vec<String> = needed.into_iter().filter(|f| !secrets.contains_key(f)).collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("`{}` needs credentials {}", integration.name, list(&missing))));
    }
    Ok(AccountInput { connection, secrets, expires_at: credentials.expires_at })
}

/// Checks connection fields: an object of strings, then the definition's rules
/// (`switchyard_runtime::account::check_connection_fields`: known names, allowed values,
/// patterns; with `complete`, required ones present and defaults filled). Secret fields are
/// moved into `secrets`; one already there counts as given.
pub fn check_connection(
    integration: &Integration,
    value: Option<&Value>,
    secrets: &mut BTreeMap<String, SecretString>,
    complete: bool,
) -> ApiResult<Map<String, Value>> {
    let empty = Map::new();
    let given = match value {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(map)) => map,
        Some(_) => return Err(ApiError::bad_request("`connection` must be an object of connection fields")),
    };
    let mut texts: Vec<(&str, &str)> = Vec::with_capacity(given.len());
    for (name, value) in given {
        match value {
            Value::String(text) => texts.push((name, text)),
            Value::Null => {}
            // An unknown name is reported as such by the rules, whatever its value.
            _ if !integration.connection.fields.contains_key(name) => texts.push((name, "")),
            _ => {
                return Err(ApiError::bad_request(format!("`connection.{name}` must be a string"))
                    .with("field", Value::from(format!("connection.{name}"))))
            }
        }
    }
    let already: Vec<(String, String)> = secrets
        .iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(SECRET_CONNECTION_PREFIX)?.to_string(), value.expose().to_string())))
        .filter(|(name, _)| !given.contains_key(name))
        .collect();
    texts.extend(already.iter().map(|(name, value)| (name.as_str(), value.as_str())));
    let checked = rt::check_connection_fields(integration, texts, complete)
        .map_err(|e| ApiError::bad_request(e.message).with("field", Value::from(e.field)))?;
    let mut out = Map::new();
    for (name, text) in checked {
        match integration.connection.fields.get(&name).map(|f| f.field_type) {
            Some(FieldType::Secret) => {
                secrets.insert(format!("{SECRET_CONNECTION_PREFIX}{name}"), SecretString::new(text));
            }
            _ => {
                out.insert(name, Value::String(text));
            }
        }
    }
    Ok(out)
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The engine's view of a stored account: secrets opened, the install's OAuth client attached.
pub fn to_runtime(keyring: &Keyring, account: &Account, install: Option<&Install>) -> ApiResult<rt::Account> {
    let opened = account.credentials.open(keyring, &account.id)?;
    let mut connection: Connection = match &account.connection {
        Value::Object(map) => map.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect(),
        _ => Connection::default(),
    };
    let mut credentials = Credentials::default();
    for (name, value) in &opened {
        match name.strip_prefix(SECRET_CONNECTION_PREFIX) {
            Some(field) => connection.set(field, value.expose()),
            None => credentials.set(name, value.expose()),
        }
    }
    credentials.expires_at = account.expires_at.map(to_system_time);
    let install = match install {
        Some(install) => rt::Install {
            client_id: install.oauth_client_id.clone(),
            client_secret: match &install.oauth_client_secret {
                Some(sealed) => Some(Secret::new(
                    keyring
                        .open_str(&Install::seal_row(&install.environment_id, &install.integration), Install::CLIENT_SECRET_FIELD, sealed)?
                        .expose(),
                )),
                None => None,
            },
            webhook_secret: None,
        },
        None => rt::Install::default(),
    };
    Ok(rt::Account {
        id: Some(account.id.clone()),
        environment: Some(account.environment_id.clone()),
        integration: account.integration.clone(),
        connection,
        credentials,
        install,
    })
}

/// The runtime account for a submission not stored yet (verification before storing).
pub fn unsaved_runtime(integration: &str, input: &AccountInput, install: rt::Install) -> rt::Account {
    let mut connection: Connection = input.connection.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect();
    let mut credentials = Credentials::default();
    for (name, value) in &input.secrets {
        match name.strip_prefix(SECRET_CONNECTION_PREFIX) {
            Some(field) => connection.set(field, value.expose()),
            None => credentials.set(name, value.expose()),
        }
    }
    credentials.expires_at = input.expires_at.map(to_system_time);
    rt::Account { id: None, environment: None, integration: integration.to_string(), connection, credentials, install }
}

/// Splits refreshed runtime credentials back into sealed-field form. Secret connection fields
/// come from `secret_connection` (the stored ones): a refresh never changes them.
pub fn secrets_of(
    credentials: &Credentials,
    secret_connection: impl IntoIterator<Item = (String, SecretString)>,
) -> BTreeMap<String, SecretString> {
    let mut out: BTreeMap<String, SecretString> =
        credentials.names().filter_map(|n| credentials.get(n).map(|v| (n.clone(), SecretString::new(v)))).collect();
    out.extend(secret_connection);
    out
}

/// The sealed secret connection fields of an account, opened.
pub fn secret_connection_fields(keyring: &Keyring, account: &Account) -> ApiResult<Vec<(String, SecretString)>> {
    let mut out = Vec::new();
    for (name, sealed) in &account.credentials.0 {
        if name.starts_with(SECRET_CONNECTION_PREFIX) {
            out.push((name.clone(), keyring.open_str(&account.id, name, sealed)?));
        }
    }
    Ok(out)
}

pub fn seal(keyring: &Keyring, account_id: &str, secrets: &BTreeMap<String, SecretString>) -> ApiResult<SealedCredentials> {
    Ok(SealedCredentials::seal(keyring, account_id, secrets)?)
}

pub fn to_system_time(at: DateTime<Utc>) -> SystemTime {
    let millis = at.timestamp_millis();
    if millis >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_millis(millis as u64)
    } else {
        SystemTime::UNIX_EPOCH
    }
}

pub fn to_utc(at: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(at)
}

/// An account as the API shows it: connection fields (not the secret ones), the names of the
/// credential fields it holds, never their values.
pub fn view(account: &Account) -> Value {
    let credential_fields: Vec<&String> = account.credentials.0.keys().filter(|k| !k.starts_with(SECRET_CONNECTION_PREFIX)).collect();
    let secret_connection: Vec<&str> = account.credentials.0.keys().filter_map(|k| k.strip_prefix(SECRET_CONNECTION_PREFIX)).collect();
    json!({
        "id": account.id,
        "integration": account.integration,
        "external_id": account.external_id,
        "status": account.status.as_str(),
        "status_reason": account.status_reason,
        "connection": account.connection,
        "secret_connection_fields": secret_connection,
        "credential_fields": credential_fields,
        "expires_at": account.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "refresh": {
            "last_refresh_at": account.refresh.last_refresh_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "last_error": account.refresh.last_error,
            "consecutive_failures": account.refresh.consecutive_failures,
            "refresh_count": account.refresh.refresh_count,
        },
        "created_at": account.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "updated_at": account.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}
