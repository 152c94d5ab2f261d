//! What both backends share about rows: timestamps as Unix milliseconds (so both answer with the
//! same millisecond precision), JSON columns, sealed credentials as a JSON object of base64 sealed
//! values, the column lists (the same names in both schemas), the conversion of raw column values
//! into the model, input checks, and the redaction of an exchange before it is written. Each
//! backend reads its rows into the `Raw*` shapes here and writes with its own SQL.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::apikey::{DISPLAY_PREFIX_LEN, PREFIX};
use crate::crypto::SealedValue;
use crate::error::{Result, StoreError};
use crate::model::{
    Account, AccountStatus, ApiKeyInfo, Environment, ExchangeEntry, Install, NewAccount, NewExchange, RefreshState, SealedCredentials,
};
use crate::redact::Redactor;

// ---------- conversions ----------

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

pub(crate) fn from_ms_opt(ms: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    ms.map(from_ms).transpose()
}

pub(crate) fn encode_credentials(c: &SealedCredentials) -> Result<Vec<u8>> {
    let map: BTreeMap<&str, String> = c.0.iter().map(|(k, v)| (k.as_str(), STANDARD.encode(v.as_bytes()))).collect();
    serde_json::to_vec(&map).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn decode_credentials(bytes: &[u8]) -> Result<SealedCredentials> {
    let map: BTreeMap<String, String> = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("credentials: {e}")))?;
    let mut out = BTreeMap::new();
    for (field, b64) in map {
        let raw = STANDARD.decode(b64).map_err(|e| StoreError::Corrupt(format!("credentials.{field}: {e}")))?;
        out.insert(field, SealedValue::from_bytes(raw)?);
    }
    Ok(SealedCredentials(out))
}

pub(crate) fn json_text(v: &Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn parse_json(s: &str, what: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn headers_text(h: &[(String, String)]) -> Result<String> {
    serde_json::to_string(h).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn parse_headers(s: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("headers: {e}")))
}

pub(crate) fn require_name(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{what} must not be empty")));
    }
    Ok(())
}

/// A lease's time to live in milliseconds.
pub(crate) fn ttl_ms(ttl: std::time::Duration) -> Result<i64> {
    i64::try_from(ttl.as_millis()).map_err(|_| StoreError::Invalid("lease ttl too long".into()))
}

// ---------- schema versions ----------

/// The error for a database whose recorded schema version is newer than this binary knows: it
/// was migrated by a newer Switchyard, and reading it with older code could misread or damage it.
pub(crate) fn newer_schema(current: i64, latest: i64) -> StoreError {
    StoreError::Schema(format!(
        "the database was migrated by a newer Switchyard (schema version {current}, this binary knows up to {latest}); \
         run the newer binary or restore a backup"
    ))
}

// ---------- environments ----------

pub(crate) const ENV_COLS: &str = "id, name, created_at";

pub(crate) type RawEnv = (String, String, i64);

pub(crate) fn env_from_raw((id, name, created): RawEnv) -> Result<Environment> {
    Ok(Environment { id, name, created_at: from_ms(created)? })
}

pub(crate) fn duplicate_environment(name: &str) -> StoreError {
    StoreError::Conflict(format!("an environment named `{name}` already exists"))
}

// ---------- installs ----------

pub(crate) const INSTALL_COLS: &str = "environment_id, integration, oauth_client_id, oauth_client_secret, settings, created_at, updated_at";

pub(crate) type RawInstall = (String, String, Option<String>, Option<Vec<u8>>, String, i64, i64);

pub(crate) fn install_from_raw(raw: RawInstall) -> Result<Install> {
    let (environment_id, integration, client_id, secret, settings, created, updated) = raw;
    Ok(Install {
        environment_id,
        integration,
        oauth_client_id: client_id,
        oauth_client_secret: secret.map(SealedValue::from_bytes).transpose()?,
        settings: parse_json(&settings, "install settings")?,
        created_at: from_ms(created)?,
        updated_at: from_ms(updated)?,
    })
}

/// Checks an install before it is written.
pub(crate) fn check_install(input: &crate::model::InstallInput) -> Result<()> {
    require_name("integration", &input.integration)?;
    if !input.settings.is_object() {
        return Err(StoreError::Invalid("install settings must be a JSON object".into()));
    }
    Ok(())
}

// ---------- accounts ----------

pub(crate) const ACCOUNT_COLS: &str = "id, environment_id, integration, external_id, connection, credentials, expires_at, status, status_reason, \
     last_refresh_at, last_refresh_error, refresh_failures, refresh_count, refresh_fence, lease_owner, lease_expires_at, created_at, updated_at";

/// An account row as stored, in the order of [`ACCOUNT_COLS`].
pub(crate) struct RawAccount {
    pub(crate) id: String,
    pub(crate) environment_id: String,
    pub(crate) integration: String,
    pub(crate) external_id: Option<String>,
    pub(crate) connection: String,
    pub(crate) credentials: Vec<u8>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) status: String,
    pub(crate) status_reason: Option<String>,
    pub(crate) last_refresh_at: Option<i64>,
    pub(crate) last_refresh_error: Option<String>,
    pub(crate) refresh_failures: i64,
    pub(crate) refresh_count: i64,
    pub(crate) refresh_fence: i64,
    pub(crate) lease_owner: Option<String>,
    pub(crate) lease_expires_at: Option<i64>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

impl RawAccount {
    pub(crate) fn into_account(self) -> Result<Account> {
        Ok(Account {
            status: AccountStatus::parse(&self.status).ok_or_else(|| StoreError::Corrupt(format!("account status `{}`", self.status)))?,
            connection: parse_json(&self.connection, "account connection")?,
            credentials: decode_credentials(&self.credentials)?,
            expires_at: from_ms_opt(self.expires_at)?,
            refresh: RefreshState {
                last_refresh_at: from_ms_opt(self.last_refresh_at)?,
                last_error: self.last_refresh_error,
                consecutive_failures: self.refresh_failures.clamp(0, u32::MAX as i64) as u32,
                refresh_count: self.refresh_count.max(0) as u64,
                fence: self.refresh_fence,
                lease_owner: self.lease_owner,
                lease_expires_at: from_ms_opt(self.lease_expires_at)?,
            },
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
            id: self.id,
            environment_id: self.environment_id,
            integration: self.integration,
            external_id: self.external_id,
            status_reason: self.status_reason,
        })
    }
}

/// Checks a new account before it is written.
pub(crate) fn check_new_account(a: &NewAccount) -> Result<()> {
    require_name("account id", &a.id)?;
    require_name("integration", &a.integration)?;
    if a.external_id.as_deref().is_some_and(|e| e.is_empty()) {
        return Err(StoreError::Invalid("external_id must not be empty".into()));
    }
    Ok(())
}

/// The conflict of an account whose id or external id is taken.
pub(crate) fn duplicate_account(a: &NewAccount) -> StoreError {
    StoreError::Conflict(match &a.external_id {
        Some(ext) => format!("an account with id `{}` or external id `{ext}` already exists", a.id),
        None => format!("an account with id `{}` already exists", a.id),
    })
}

/// The external id an import needs.
pub(crate) fn import_external_id(a: &NewAccount) -> Result<&str> {
    a.external_id.as_deref().ok_or_else(|| StoreError::Invalid("an imported account needs an external_id (it makes a re-run safe)".into()))
}

// ---------- API keys ----------

/// The longest name a key may have.
pub const MAX_KEY_NAME_LEN: usize = 128;

pub(crate) const KEY_COLS: &str = "id, environment_id, name, prefix, created_at, last_used_at, revoked_at";

pub(crate) type RawKey = (String, String, Option<String>, Option<String>, i64, Option<i64>, Option<i64>);

pub(crate) fn key_from_raw((id, environment_id, name, prefix, created, used, revoked): RawKey) -> Result<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id,
        environment_id,
        name,
        prefix,
        created_at: from_ms(created)?,
        last_used_at: from_ms_opt(used)?,
        revoked_at: from_ms_opt(revoked)?,
    })
}

pub(crate) fn check_key_name(name: Option<&str>) -> Result<()> {
    match name {
        Some(name) if name.trim().is_empty() => Err(StoreError::Invalid("a key's name must not be empty".into())),
        Some(name) if name.chars().count() > MAX_KEY_NAME_LEN => {
            Err(StoreError::Invalid(format!("a key's name is at most {MAX_KEY_NAME_LEN} characters")))
        }
        Some(name) if name.chars().any(char::is_control) => {
            Err(StoreError::Invalid("a key's name must not hold control characters".into()))
        }
        _ => Ok(()),
    }
}

/// Checks the display prefix `touch_api_key` may record.
pub(crate) fn check_key_prefix(prefix: Option<&str>) -> Result<()> {
    if prefix.is_some_and(|p| p.chars().count() != DISPLAY_PREFIX_LEN || !p.starts_with(PREFIX)) {
        return Err(StoreError::Invalid(format!(
            "a key's display prefix is `{PREFIX}` and {} more characters",
            DISPLAY_PREFIX_LEN - PREFIX.len()
        )));
    }
    Ok(())
}

pub(crate) fn duplicate_key() -> StoreError {
    StoreError::Conflict("this API key is already registered".into())
}

/// Revoking the environment's last working key without `force`.
pub(crate) fn last_key(id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "API key {id} is the environment's last working key: revoking it would lock the environment out; create or rotate \
         a key first, or force the revocation"
    ))
}

/// Rotating a key that was revoked (or already rotated, when `at` is ahead).
pub(crate) fn not_rotatable(id: &str, at: DateTime<Utc>) -> StoreError {
    let when = if at <= Utc::now() { "was revoked" } else { "was already rotated; it stops working" };
    StoreError::Conflict(format!(
        "API key {id} {when} at {}: rotate a working key",
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    ))
}

pub(crate) fn overlap_ms(overlap: std::time::Duration) -> Result<i64> {
    i64::try_from(overlap.as_millis()).map_err(|_| StoreError::Invalid("the overlap is too long".into()))
}

// ---------- exchanges ----------

pub(crate) const EXCHANGE_COLS: &str =
    "id, environment_id, account_id, integration, at, method, url, status, latency_ms, request_headers, \
     request_body, response_headers, response_body, error";

/// An exchange row as stored, in the order of [`EXCHANGE_COLS`].
pub(crate) type RawExchange = (
    i64,
    String,
    Option<String>,
    String,
    i64,
    String,
    String,
    Option<i64>,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

pub(crate) fn exchange_from_raw(raw: RawExchange) -> Result<ExchangeEntry> {
    let (id, environment_id, account_id, integration, at, method, url, status, latency, req_h, req_b, resp_h, resp_b, error) = raw;
    Ok(ExchangeEntry {
        id,
        environment_id,
        account_id,
        integration,
        at: from_ms(at)?,
        method,
        url,
        status: status.map(|s| u16::try_from(s).map_err(|_| StoreError::Corrupt(format!("status {s}")))).transpose()?,
        latency_ms: latency.max(0) as u64,
        request_headers: parse_headers(&req_h)?,
        request_body: req_b,
        response_headers: parse_headers(&resp_h)?,
        response_body: resp_b,
        error,
    })
}

/// Roughly what a stored entry weighs: its text columns.
pub(crate) fn entry_bytes(e: &RawExchange) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    e.5.len() + e.6.len() + e.9.len() + e.11.len() + opt(&e.10) + opt(&e.12) + opt(&e.13) + 64
}

/// An exchange redacted and truncated, ready to insert (the work done before a transaction
/// starts, so no lock is held while it runs).
pub(crate) struct PreparedExchange {
    pub(crate) account_id: Option<String>,
    pub(crate) integration: String,
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) status: Option<u16>,
    pub(crate) latency: i64,
    pub(crate) request_headers: String,
    pub(crate) request_body: Option<String>,
    pub(crate) response_headers: String,
    pub(crate) response_body: Option<String>,
    pub(crate) error: Option<String>,
}

impl PreparedExchange {
    pub(crate) fn new(exchange: NewExchange, r: &Redactor) -> Result<PreparedExchange> {
        Ok(PreparedExchange {
            url: r.redact(&exchange.url),
            method: r.redact(&exchange.method),
            request_headers: headers_text(&r.headers(&exchange.request_headers))?,
            response_headers: headers_text(&r.headers(&exchange.response_headers))?,
            request_body: exchange.request_body.as_deref().map(|b| r.body(b)),
            response_body: exchange.response_body.as_deref().map(|b| r.body(b)),
            error: exchange.error.as_deref().map(|b| r.body(b)),
            latency: i64::try_from(exchange.latency.as_millis()).unwrap_or(i64::MAX),
            status: exchange.status,
            account_id: exchange.account_id,
            integration: exchange.integration,
        })
    }
}

/// Rows deleted per write transaction when the log is pruned or capped: the lock is released
/// between batches, so the exchange writer and the API's writes interleave with a large prune
/// instead of waiting for all of it.
pub const PRUNE_BATCH: usize = 500;
/// The pause between two prune batches, for writers waiting on the lock to get it.
pub(crate) const PRUNE_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);
