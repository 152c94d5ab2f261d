//! API key rows on Postgres: the same rules as SQLite's (see `sqlite/api_keys.rs`): a key is never
//! deleted by the store, revoking sets `revoked_at`, a key works while `revoked_at` is null or in
//! the future, and triggers bump `api_key_generation` on every revocation.
//!
//! Several nodes manage keys at once here, so the checks that read before they write (the last
//! working key, a key already rotated) run with the environment's row locked (`FOR NO KEY
//! UPDATE`): two revocations of an environment's last two keys cannot both pass the check. The
//! lock does not block the environment's other writes (inserts only take `KEY SHARE` on it).

use std::time::Duration;

use chrono::{DateTime, Utc};
use postgres::Row;

use super::pool::Db;
use super::rows::{
    check_key_name, check_key_prefix, duplicate_key, env_from_raw, from_ms_opt, is_unique_violation, key_from_raw, last_key, not_rotatable,
    now_ms, overlap_ms, to_ms, RawKey, KEY_COLS,
};
use crate::apikey::ApiKeyHash;
use crate::error::{Result, StoreError};
use crate::ids;
use crate::model::{ApiKeyGrant, ApiKeyInfo, NewApiKey};

fn key_from_row(r: &Row) -> Result<RawKey> {
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?, r.try_get(6)?))
}

/// Locks the environment's row for the rest of the transaction (key management of one
/// environment runs one at a time); [`StoreError::NotFound`] if there is no such environment.
fn lock_env(db: &mut Db<'_>, environment_id: &str) -> Result<()> {
    match db.query_opt("SELECT 1 FROM environments WHERE id = $1 FOR NO KEY UPDATE", &[&environment_id])? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound("environment")),
    }
}

pub(super) fn insert_key(db: &mut Db<'_>, environment_id: &str, key: &NewApiKey, now: i64) -> Result<ApiKeyInfo> {
    check_key_name(key.name.as_deref())?;
    super::rows::ensure_env(db, environment_id)?;
    let id = ids::api_key_id();
    let hash: &[u8] = &key.hash.0;
    match db.execute(
        "INSERT INTO api_keys (id, hash, environment_id, name, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        &[&id, &hash, &environment_id, &key.name, &key.prefix, &now],
    ) {
        Ok(_) => load_key(db, environment_id, &id),
        Err(e) if is_unique_violation(&e) => Err(duplicate_key()),
        Err(e) => Err(e),
    }
}

pub(super) fn load_key(db: &mut Db<'_>, environment_id: &str, id: &str) -> Result<ApiKeyInfo> {
    let row = db
        .query_opt(&format!("SELECT {KEY_COLS} FROM api_keys WHERE environment_id = $1 AND id = $2"), &[&environment_id, &id])?
        .ok_or(StoreError::NotFound("API key"))?;
    key_from_raw(key_from_row(&row)?)
}

pub(super) fn list_keys(db: &mut Db<'_>, environment_id: &str) -> Result<Vec<ApiKeyInfo>> {
    let rows =
        db.query(&format!("SELECT {KEY_COLS} FROM api_keys WHERE environment_id = $1 ORDER BY created_at, seq"), &[&environment_id])?;
    rows.iter().map(|r| key_from_raw(key_from_row(r)?)).collect()
}

/// Whether the environment has a key other than `except` that is neither revoked nor scheduled
/// to be.
fn has_other_open_key(db: &mut Db<'_>, environment_id: &str, except: &str) -> Result<bool> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM api_keys WHERE environment_id = $1 AND id <> $2 AND revoked_at IS NULL LIMIT 1",
            &[&environment_id, &except],
        )?
        .is_some())
}

pub(super) fn revoke_key(db: &mut Db<'_>, environment_id: &str, id: &str, force: bool) -> Result<ApiKeyInfo> {
    lock_env(db, environment_id)?;
    let key = load_key(db, environment_id, id)?;
    let now = now_ms();
    if key.revoked_at.is_some_and(|at| to_ms(at) <= now) {
        return Ok(key);
    }
    if !force && !has_other_open_key(db, environment_id, id)? {
        return Err(last_key(id));
    }
    db.execute("UPDATE api_keys SET revoked_at = $1 WHERE environment_id = $2 AND id = $3", &[&now, &environment_id, &id])?;
    load_key(db, environment_id, id)
}

pub(super) fn rotate_key(
    db: &mut Db<'_>,
    environment_id: &str,
    id: &str,
    mut new: NewApiKey,
    overlap: Duration,
) -> Result<(ApiKeyInfo, ApiKeyInfo)> {
    lock_env(db, environment_id)?;
    let old = load_key(db, environment_id, id)?;
    if let Some(at) = old.revoked_at {
        return Err(not_rotatable(id, at));
    }
    let overlap_ms = overlap_ms(overlap)?;
    let now = now_ms();
    if new.name.is_none() {
        new.name = old.name.clone();
    }
    let created = insert_key(db, environment_id, &new, now)?;
    db.execute(
        "UPDATE api_keys SET revoked_at = $1 WHERE environment_id = $2 AND id = $3",
        &[&now.saturating_add(overlap_ms), &environment_id, &id],
    )?;
    Ok((created, load_key(db, environment_id, id)?))
}

pub(super) fn grant(db: &mut Db<'_>, hash: &ApiKeyHash) -> Result<ApiKeyGrant> {
    let hash: &[u8] = &hash.0;
    let row = db
        .query_opt(
            "SELECT e.id, e.name, e.created_at, k.id, k.revoked_at FROM api_keys k JOIN environments e ON e.id = k.environment_id \
             WHERE k.hash = $1 AND (k.revoked_at IS NULL OR k.revoked_at > $2)",
            &[&hash, &now_ms()],
        )?
        .ok_or(StoreError::NotFound("API key"))?;
    let environment = env_from_raw((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))?;
    let revoked: Option<i64> = row.try_get(4)?;
    Ok(ApiKeyGrant { environment, key_id: row.try_get(3)?, revoked_at: from_ms_opt(revoked)? })
}

pub(super) fn generation(db: &mut Db<'_>) -> Result<i64> {
    Ok(db.query_one("SELECT generation FROM api_key_generation WHERE id = 1", &[])?.try_get(0)?)
}

pub(super) fn touch(db: &mut Db<'_>, id: &str, at: DateTime<Utc>, prefix: Option<&str>) -> Result<()> {
    check_key_prefix(prefix)?;
    db.execute(
        "UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, $2), $2), prefix = COALESCE(prefix, $3) WHERE id = $1",
        &[&id, &to_ms(at), &prefix],
    )?;
    Ok(())
}

pub(super) fn revoke_by_hash(db: &mut Db<'_>, hash: &ApiKeyHash) -> Result<()> {
    let hash: &[u8] = &hash.0;
    match db
        .execute("UPDATE api_keys SET revoked_at = $2 WHERE hash = $1 AND (revoked_at IS NULL OR revoked_at > $2)", &[&hash, &now_ms()])?
    {
        0 => Err(StoreError::NotFound("API key")),
        _ => Ok(()),
    }
}
