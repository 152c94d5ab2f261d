//! Reading Postgres rows into the shared raw shapes ([`crate::rows`]) and the queries the store's
//! methods share. Columns are read with `try_get`: a row of an unexpected shape is an error, not a
//! panic.

use std::borrow::Cow;

use postgres::Row;

use super::pool::Db;
use crate::error::{Result, StoreError};
use crate::model::{Account, Install, NewAccount};
pub(super) use crate::rows::*;

/// Postgres text cannot hold NUL characters. Text the store logs as it came (an upstream's
/// body, URL or error message) gets U+FFFD in their place, so the entry is written rather than
/// lost; other text with a NUL is refused as invalid input (see `pool::classify`).
pub(super) fn loggable(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

pub(super) fn loggable_opt(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(loggable)
}

// ---------- environments ----------

pub(super) fn env_from_row(r: &Row) -> Result<RawEnv> {
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

pub(super) fn ensure_env(db: &mut Db<'_>, id: &str) -> Result<()> {
    match db.query_opt("SELECT 1 FROM environments WHERE id = $1", &[&id])? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound("environment")),
    }
}

// ---------- installs ----------

pub(super) fn install_from_row(r: &Row) -> Result<RawInstall> {
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?))
}

pub(super) fn load_install(db: &mut Db<'_>, env: &str, integration: &str) -> Result<Install> {
    let row = db
        .query_opt(&format!("SELECT {INSTALL_COLS} FROM installs WHERE environment_id = $1 AND integration = $2"), &[&env, &integration])?
        .ok_or(StoreError::NotFound("install"))?;
    install_from_raw(install_from_row(&row)?)
}

// ---------- accounts ----------

pub(super) fn account_from_row(r: &Row) -> Result<RawAccount> {
    Ok(RawAccount {
        id: r.try_get(0)?,
        environment_id: r.try_get(1)?,
        integration: r.try_get(2)?,
        external_id: r.try_get(3)?,
        connection: r.try_get(4)?,
        credentials: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        status: r.try_get(7)?,
        status_reason: r.try_get(8)?,
        last_refresh_at: r.try_get(9)?,
        last_refresh_error: r.try_get(10)?,
        refresh_failures: r.try_get(11)?,
        refresh_count: r.try_get(12)?,
        refresh_fence: r.try_get(13)?,
        lease_owner: r.try_get(14)?,
        lease_expires_at: r.try_get(15)?,
        created_at: r.try_get(16)?,
        updated_at: r.try_get(17)?,
    })
}

pub(super) fn accounts_from_rows(rows: Vec<Row>) -> Result<Vec<Account>> {
    rows.iter().map(|r| account_from_row(r)?.into_account()).collect()
}

pub(super) fn find_account(db: &mut Db<'_>, env: &str, id: &str) -> Result<Option<Account>> {
    db.query_opt(&format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = $1 AND id = $2"), &[&env, &id])?
        .map(|r| account_from_row(&r)?.into_account())
        .transpose()
}

pub(super) fn load_account(db: &mut Db<'_>, env: &str, id: &str) -> Result<Account> {
    find_account(db, env, id)?.ok_or(StoreError::NotFound("account"))
}

pub(super) fn find_account_by_external(db: &mut Db<'_>, env: &str, external_id: &str) -> Result<Option<Account>> {
    db.query_opt(&format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = $1 AND external_id = $2"), &[&env, &external_id])?
        .map(|r| account_from_row(&r)?.into_account())
        .transpose()
}

/// Inserts an account. With `on_external_conflict_do_nothing`, an account of the same external id
/// makes it insert nothing and answer `false` (an import racing another import of the same
/// account); any other conflict (the id) is [`StoreError::Conflict`].
pub(super) fn insert_account(db: &mut Db<'_>, env: &str, a: &NewAccount, on_external_conflict_do_nothing: bool) -> Result<bool> {
    check_new_account(a)?;
    ensure_env(db, env)?;
    let now = now_ms();
    let sql = format!(
        "INSERT INTO accounts (id, environment_id, integration, external_id, connection, credentials, expires_at, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9){}",
        if on_external_conflict_do_nothing { " ON CONFLICT (environment_id, external_id) DO NOTHING" } else { "" }
    );
    let result = db.execute(
        &sql,
        &[
            &a.id,
            &env,
            &a.integration,
            &a.external_id,
            &json_text(&a.connection)?,
            &encode_credentials(&a.credentials)?,
            &a.expires_at.map(to_ms),
            &a.status.as_str(),
            &now,
        ],
    );
    match result {
        Ok(n) => Ok(n > 0),
        Err(e) if is_unique_violation(&e) => Err(duplicate_account(a)),
        Err(e) => Err(e),
    }
}

/// Whether an error is a unique constraint's (a name or id taken).
pub(super) fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres(pg) if pg.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION))
}

/// After a fenced update matched no row: tell "no such account" from "the lease was lost".
pub(super) fn fenced_miss(db: &mut Db<'_>, env: &str, id: &str, token: i64) -> StoreError {
    match find_account(db, env, id) {
        Ok(Some(_)) => StoreError::LeaseLost { token },
        Ok(None) => StoreError::NotFound("account"),
        Err(e) => e,
    }
}

// ---------- exchanges ----------

pub(super) fn exchange_from_row(r: &Row) -> Result<RawExchange> {
    let status: Option<i32> = r.try_get(7)?;
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        status.map(i64::from),
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
        r.try_get(12)?,
        r.try_get(13)?,
    ))
}
