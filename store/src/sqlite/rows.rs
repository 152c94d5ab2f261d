//! Reading SQLite rows into the shared raw shapes ([`crate::rows`]) and the queries the store's
//! methods share.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::error::{Result, StoreError};
use crate::model::{Account, Install, NewAccount};
pub(super) use crate::rows::*;

pub(super) fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

// ---------- environments ----------

pub(super) fn env_from_row(r: &Row<'_>) -> rusqlite::Result<RawEnv> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
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

pub(super) fn install_from_row(r: &Row<'_>) -> rusqlite::Result<RawInstall> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
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
    check_new_account(a)?;
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
        Err(e) if is_constraint(&e) => Err(duplicate_account(a)),
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
