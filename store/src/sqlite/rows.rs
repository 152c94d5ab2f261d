//! Row mapping and the queries the store's methods share: timestamps as Unix milliseconds, JSON columns,
//! sealed credentials as a JSON object of base64 sealed values.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde_json::Value;

use crate::crypto::SealedValue;
use crate::error::{Result, StoreError};
use crate::model::{Account, AccountStatus, Environment, ExchangeEntry, Install, NewAccount, RefreshState, SealedCredentials};

// ---------- conversions ----------

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

pub(super) fn from_ms_opt(ms: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    ms.map(from_ms).transpose()
}

pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

pub(super) fn encode_credentials(c: &SealedCredentials) -> Result<Vec<u8>> {
    let map: BTreeMap<&str, String> = c.0.iter().map(|(k, v)| (k.as_str(), STANDARD.encode(v.as_bytes()))).collect();
    serde_json::to_vec(&map).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(super) fn decode_credentials(bytes: &[u8]) -> Result<SealedCredentials> {
    let map: BTreeMap<String, String> = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("credentials: {e}")))?;
    let mut out = BTreeMap::new();
    for (field, b64) in map {
        let raw = STANDARD.decode(b64).map_err(|e| StoreError::Corrupt(format!("credentials.{field}: {e}")))?;
        out.insert(field, SealedValue::from_bytes(raw)?);
    }
    Ok(SealedCredentials(out))
}

pub(super) fn json_text(v: &Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(super) fn parse_json(s: &str, what: &str) -> Result<Value> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(super) fn headers_text(h: &[(String, String)]) -> Result<String> {
    serde_json::to_string(h).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(super) fn parse_headers(s: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("headers: {e}")))
}

pub(super) fn require_name(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{what} must not be empty")));
    }
    Ok(())
}

// ---------- environments ----------

pub(super) const ENV_COLS: &str = "id, name, created_at";

pub(super) fn env_from_row(r: &Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

pub(super) fn env_from_raw((id, name, created): (String, String, i64)) -> Result<Environment> {
    Ok(Environment { id, name, created_at: from_ms(created)? })
}

/// `query_row` on a statement from the connection's cache: the statements a request runs
/// (the account, the API key, the install) are compiled once, not on every request.
pub(super) fn cached_row<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

pub(super) fn env_exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(cached_row(conn, "SELECT 1 FROM environments WHERE id = ?1", [id], |_| Ok(())).optional()?.is_some())
}

pub(super) fn ensure_env(conn: &Connection, id: &str) -> Result<()> {
    if env_exists(conn, id)? {
        Ok(())
    } else {
        Err(StoreError::NotFound("environment"))
    }
}

// ---------- installs ----------

pub(super) const INSTALL_COLS: &str = "environment_id, integration, oauth_client_id, oauth_client_secret, settings, created_at, updated_at";

pub(super) type RawInstall = (String, String, Option<String>, Option<Vec<u8>>, String, i64, i64);

pub(super) fn install_from_row(r: &Row<'_>) -> rusqlite::Result<RawInstall> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

pub(super) fn install_from_raw(raw: RawInstall) -> Result<Install> {
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

pub(super) fn load_install(conn: &Connection, env: &str, integration: &str) -> Result<Install> {
    let raw = cached_row(
        conn,
        &format!("SELECT {INSTALL_COLS} FROM installs WHERE environment_id = ?1 AND integration = ?2"),
        [env, integration],
        install_from_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound("install"))?;
    install_from_raw(raw)
}

// ---------- accounts ----------

pub(super) const ACCOUNT_COLS: &str = "id, environment_id, integration, external_id, connection, credentials, expires_at, status, status_reason, \
     last_refresh_at, last_refresh_error, refresh_failures, refresh_count, refresh_fence, lease_owner, lease_expires_at, created_at, updated_at";

pub(super) struct RawAccount {
    id: String,
    environment_id: String,
    integration: String,
    external_id: Option<String>,
    connection: String,
    credentials: Vec<u8>,
    expires_at: Option<i64>,
    status: String,
    status_reason: Option<String>,
    last_refresh_at: Option<i64>,
    last_refresh_error: Option<String>,
    refresh_failures: i64,
    refresh_count: i64,
    refresh_fence: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

pub(super) fn account_from_row(r: &Row<'_>) -> rusqlite::Result<RawAccount> {
    Ok(RawAccount {
        id: r.get(0)?,
        environment_id: r.get(1)?,
        integration: r.get(2)?,
        external_id: r.get(3)?,
        connection: r.get(4)?,
        credentials: r.get(5)?,
        expires_at: r.get(6)?,
        status: r.get(7)?,
        status_reason: r.get(8)?,
        last_refresh_at: r.get(9)?,
        last_refresh_error: r.get(10)?,
        refresh_failures: r.get(11)?,
        refresh_count: r.get(12)?,
        refresh_fence: r.get(13)?,
        lease_owner: r.get(14)?,
        lease_expires_at: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

impl RawAccount {
    pub(super) fn into_account(self) -> Result<Account> {
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

pub(super) fn find_account(conn: &Connection, env: &str, id: &str) -> Result<Option<Account>> {
    cached_row(conn, &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = ?1 AND id = ?2"), [env, id], account_from_row)
        .optional()?
        .map(RawAccount::into_account)
        .transpose()
}

pub(super) fn load_account(conn: &Connection, env: &str, id: &str) -> Result<Account> {
    find_account(conn, env, id)?.ok_or(StoreError::NotFound("account"))
}

pub(super) fn find_account_by_external(conn: &Connection, env: &str, external_id: &str) -> Result<Option<Account>> {
    cached_row(
        conn,
        &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = ?1 AND external_id = ?2"),
        [env, external_id],
        account_from_row,
    )
    .optional()?
    .map(RawAccount::into_account)
    .transpose()
}

pub(super) fn insert_account(tx: &Transaction<'_>, env: &str, a: &NewAccount) -> Result<()> {
    require_name("account id", &a.id)?;
    require_name("integration", &a.integration)?;
    if a.external_id.as_deref().is_some_and(|e| e.is_empty()) {
        return Err(StoreError::Invalid("external_id must not be empty".into()));
    }
    ensure_env(tx, env)?;
    let now = now_ms();
    let result = tx.execute(
        "INSERT INTO accounts (id, environment_id, integration, external_id, connection, credentials, expires_at, status, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
        params![
            a.id,
            env,
            a.integration,
            a.external_id,
            json_text(&a.connection)?,
            encode_credentials(&a.credentials)?,
            a.expires_at.map(to_ms),
            a.status.as_str(),
            now
        ],
    );
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(StoreError::Conflict(match &a.external_id {
            Some(ext) => format!("an account with id `{}` or external id `{ext}` already exists", a.id),
            None => format!("an account with id `{}` already exists", a.id),
        })),
        Err(e) => Err(e.into()),
    }
}

/// After a fenced update matched no row: tell "no such account" from "the lease was lost".
pub(super) fn fenced_miss(conn: &Connection, env: &str, id: &str, token: i64) -> StoreError {
    match find_account(conn, env, id) {
        Ok(Some(_)) => StoreError::LeaseLost { token },
        Ok(None) => StoreError::NotFound("account"),
        Err(e) => e,
    }
}

// ---------- exchanges ----------

pub(super) const EXCHANGE_COLS: &str =
    "id, environment_id, account_id, integration, at, method, url, status, latency_ms, request_headers, \
     request_body, response_headers, response_body, error";

pub(super) type RawExchange = (
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

pub(super) fn exchange_from_row(r: &Row<'_>) -> rusqlite::Result<RawExchange> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

pub(super) fn exchange_from_raw(raw: RawExchange) -> Result<ExchangeEntry> {
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
