//! API key rows: the queries behind key management and key verification.
//!
//! A key is never deleted by the store: revoking sets `revoked_at` (now, or a moment ahead after a
//! rotation with an overlap), and a key works while `revoked_at` is null or in the future. Every
//! change of `revoked_at` bumps `api_key_generation` (a trigger, migration 3).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::rows::{
    cached_row, check_key_name, check_key_prefix, duplicate_key, ensure_env, env_from_raw, from_ms_opt, is_constraint, key_from_raw,
    last_key, not_rotatable, now_ms, overlap_ms, to_ms, RawKey, KEY_COLS,
};
use crate::apikey::ApiKeyHash;
use crate::error::{Result, StoreError};
use crate::ids;
use crate::model::{ApiKeyGrant, ApiKeyInfo, NewApiKey};

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<RawKey> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

pub(super) fn insert_key(tx: &Transaction<'_>, environment_id: &str, key: &NewApiKey, now: i64) -> Result<ApiKeyInfo> {
    check_key_name(key.name.as_deref())?;
    ensure_env(tx, environment_id)?;
    let id = ids::api_key_id();
    match tx.execute(
        "INSERT INTO api_keys (id, hash, environment_id, name, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, &key.hash.0[..], environment_id, key.name, key.prefix, now],
    ) {
        Ok(_) => load_key(tx, environment_id, &id),
        Err(e) if is_constraint(&e) => Err(duplicate_key()),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn load_key(c: &Connection, environment_id: &str, id: &str) -> Result<ApiKeyInfo> {
    let raw = cached_row(
        c,
        &format!("SELECT {KEY_COLS} FROM api_keys WHERE environment_id = ?1 AND id = ?2"),
        [environment_id, id],
        key_from_row,
    )
    .optional()?
    .ok_or(StoreError::NotFound("API key"))?;
    key_from_raw(raw)
}

pub(super) fn list_keys(c: &Connection, environment_id: &str) -> Result<Vec<ApiKeyInfo>> {
    let mut stmt = c.prepare_cached(&format!("SELECT {KEY_COLS} FROM api_keys WHERE environment_id = ?1 ORDER BY created_at, rowid"))?;
    let rows = stmt.query_map([environment_id], key_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(key_from_raw).collect()
}

/// Whether the environment has a key other than `except` that is neither revoked nor scheduled
/// to be.
fn has_other_open_key(tx: &Transaction<'_>, environment_id: &str, except: &str) -> Result<bool> {
    Ok(cached_row(
        tx,
        "SELECT 1 FROM api_keys WHERE environment_id = ?1 AND id <> ?2 AND revoked_at IS NULL LIMIT 1",
        [environment_id, except],
        |_| Ok(()),
    )
    .optional()?
    .is_some())
}

pub(super) fn revoke_key(tx: &Transaction<'_>, environment_id: &str, id: &str, force: bool) -> Result<ApiKeyInfo> {
    let key = load_key(tx, environment_id, id)?;
    let now = now_ms();
    if key.revoked_at.is_some_and(|at| to_ms(at) <= now) {
        return Ok(key);
    }
    if !force && !has_other_open_key(tx, environment_id, id)? {
        return Err(last_key(id));
    }
    tx.execute("UPDATE api_keys SET revoked_at = ?1 WHERE environment_id = ?2 AND id = ?3", params![now, environment_id, id])?;
    load_key(tx, environment_id, id)
}

pub(super) fn rotate_key(
    tx: &Transaction<'_>,
    environment_id: &str,
    id: &str,
    mut new: NewApiKey,
    overlap: Duration,
) -> Result<(ApiKeyInfo, ApiKeyInfo)> {
    let old = load_key(tx, environment_id, id)?;
    if let Some(at) = old.revoked_at {
        return Err(not_rotatable(id, at));
    }
    let overlap_ms = overlap_ms(overlap)?;
    let now = now_ms();
    if new.name.is_none() {
        new.name = old.name.clone();
    }
    let created = insert_key(tx, environment_id, &new, now)?;
    tx.execute(
        "UPDATE api_keys SET revoked_at = ?1 WHERE environment_id = ?2 AND id = ?3",
        params![now.saturating_add(overlap_ms), environment_id, id],
    )?;
    Ok((created, load_key(tx, environment_id, id)?))
}

pub(super) fn grant(c: &Connection, hash: &ApiKeyHash) -> Result<ApiKeyGrant> {
    let (env_id, env_name, env_created, key_id, revoked): (String, String, i64, String, Option<i64>) = cached_row(
        c,
        "SELECT e.id, e.name, e.created_at, k.id, k.revoked_at FROM api_keys k JOIN environments e ON e.id = k.environment_id \
         WHERE k.hash = ?1 AND (k.revoked_at IS NULL OR k.revoked_at > ?2)",
        params![&hash.0[..], now_ms()],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .optional()?
    .ok_or(StoreError::NotFound("API key"))?;
    Ok(ApiKeyGrant { environment: env_from_raw((env_id, env_name, env_created))?, key_id, revoked_at: from_ms_opt(revoked)? })
}

pub(super) fn generation(c: &Connection) -> Result<i64> {
    Ok(cached_row(c, "SELECT generation FROM api_key_generation WHERE id = 1", [], |r| r.get(0))?)
}

pub(super) fn touch(tx: &Transaction<'_>, id: &str, at: DateTime<Utc>, prefix: Option<&str>) -> Result<()> {
    check_key_prefix(prefix)?;
    tx.prepare_cached(
        "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, ?2), ?2), prefix = COALESCE(prefix, ?3) WHERE id = ?1",
    )?
    .execute(params![id, to_ms(at), prefix])?;
    Ok(())
}

pub(super) fn revoke_by_hash(tx: &Transaction<'_>, hash: &ApiKeyHash) -> Result<()> {
    let now = now_ms();
    match tx.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE hash = ?1 AND (revoked_at IS NULL OR revoked_at > ?2)",
        params![&hash.0[..], now],
    )? {
        0 => Err(StoreError::NotFound("API key")),
        _ => Ok(()),
    }
}
