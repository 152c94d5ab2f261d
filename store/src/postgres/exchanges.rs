//! The exchange log on Postgres: appends (redacted before the transaction, as on SQLite), the
//! indexed page, pruning by age and the per-environment cap, both in batches.

use postgres::types::ToSql;

use super::pool::Db;
use super::rows::*;
use super::PostgresStore;
use crate::error::Result;
use crate::store::ExchangePage;

/// Writes a prepared (redacted) exchange of the environment; returns its id.
pub(super) fn insert(db: &mut Db<'_>, row: &PreparedExchange, environment_id: &str) -> Result<i64> {
    if let Some(account) = &row.account_id {
        load_account(db, environment_id, account)?;
    }
    let status = row.status.map(i32::from);
    let inserted = db.query_one(
        "INSERT INTO exchanges (environment_id, account_id, integration, at, method, url, status, latency_ms, request_headers, \
         request_body, response_headers, response_body, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         RETURNING id",
        &[
            &environment_id,
            &row.account_id,
            &loggable(&row.integration),
            &now_ms(),
            &loggable(&row.method),
            &loggable(&row.url),
            &status,
            &row.latency,
            &loggable(&row.request_headers),
            &loggable_opt(&row.request_body),
            &loggable(&row.response_headers),
            &loggable_opt(&row.response_body),
            &loggable_opt(&row.error),
        ],
    )?;
    Ok(inserted.try_get(0)?)
}

/// The log page statement: served by `exchanges_environment_id` (environment_id, id) without an
/// account, by `exchanges_environment` (environment_id, account_id, id) with one, both walked in
/// `id DESC` order from `before`, so the statement reads `limit` rows and sorts nothing.
pub(super) fn page_sql(with_account: bool) -> String {
    if with_account {
        format!("SELECT {EXCHANGE_COLS} FROM exchanges WHERE environment_id = $1 AND account_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4")
    } else {
        format!("SELECT {EXCHANGE_COLS} FROM exchanges WHERE environment_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
    }
}

/// Whether the environment's log (or the account's part of it) has an entry older than `id`.
fn has_older(db: &mut Db<'_>, environment_id: &str, account_id: Option<&str>, id: i64) -> Result<bool> {
    let found = match account_id {
        Some(account) => db.query_opt(
            "SELECT 1 FROM exchanges WHERE environment_id = $1 AND account_id = $2 AND id < $3 LIMIT 1",
            &[&environment_id, &account, &id],
        )?,
        None => db.query_opt("SELECT 1 FROM exchanges WHERE environment_id = $1 AND id < $2 LIMIT 1", &[&environment_id, &id])?,
    };
    Ok(found.is_some())
}

pub(super) fn page(
    db: &mut Db<'_>,
    environment_id: &str,
    account_id: Option<&str>,
    before: Option<i64>,
    limit: usize,
    max_bytes: usize,
) -> Result<ExchangePage> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let before = before.unwrap_or(i64::MAX);
    let rows = match account_id {
        Some(account) => db.query(&page_sql(true), &[&environment_id, &account, &before, &limit])?,
        None => db.query(&page_sql(false), &[&environment_id, &before, &limit])?,
    };
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    let mut cut = false;
    for row in &rows {
        let raw = exchange_from_row(row)?;
        bytes = bytes.saturating_add(entry_bytes(&raw));
        entries.push(exchange_from_raw(raw)?);
        // At least one entry, so a caller paging with `before` always moves on.
        if bytes >= max_bytes {
            cut = true;
            break;
        }
    }
    let full = i64::try_from(entries.len()).unwrap_or(i64::MAX) >= limit;
    let next_before = match entries.last() {
        // One more probe of the same index says whether older entries are left.
        Some(last) if (cut || full) && has_older(db, environment_id, account_id, last.id)? => Some(last.id),
        _ => None,
    };
    Ok(ExchangePage { entries, next_before })
}

impl PostgresStore {
    /// Deletes, [`PRUNE_BATCH`] rows per transaction, the rows `select` (a statement taking
    /// `params` and then a `LIMIT`) names; returns how many. Between batches the row locks are
    /// released, so other writers interleave with a large prune.
    pub(super) fn delete_in_batches(&self, select: &str, params: &[&(dyn ToSql + Sync)]) -> Result<usize> {
        let sql = format!("DELETE FROM exchanges WHERE id IN ({select} LIMIT {PRUNE_BATCH})");
        let mut total = 0;
        loop {
            let n = self.write(|tx| tx.execute(&sql, params))?;
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            total += n;
            if n < PRUNE_BATCH {
                return Ok(total);
            }
            std::thread::sleep(PRUNE_PAUSE);
        }
    }

    /// Evicts the oldest entries of one environment beyond `keep`; returns how many.
    pub(super) fn evict_environment(&self, environment_id: &str, keep: u64) -> Result<usize> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        // Two index probes bound the count from above (ids are shared by every environment, so the
        // span overestimates); only an environment that may be over the cap is counted exactly.
        let (oldest, newest) = self.read(|db| {
            let mut first = |order: &str| -> Result<Option<i64>> {
                let sql = format!("SELECT id FROM exchanges WHERE environment_id = $1 ORDER BY id {order} LIMIT 1");
                db.query_opt(&sql, &[&environment_id])?.map(|r| r.try_get(0)).transpose().map_err(Into::into)
            };
            Ok((first("ASC")?, first("DESC")?))
        })?;
        let (Some(oldest), Some(newest)) = (oldest, newest) else { return Ok(0) };
        if newest.saturating_sub(oldest) < keep {
            return Ok(0);
        }
        // The newest entry past the cap: it and everything older go. A walk of `keep` entries of
        // the (environment_id, id) index.
        let threshold: Option<i64> = self.read(|db| {
            db.query_opt(
                "SELECT id FROM exchanges WHERE environment_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2",
                &[&environment_id, &keep],
            )?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(Into::into)
        })?;
        let Some(threshold) = threshold else { return Ok(0) };
        self.delete_in_batches(
            "SELECT id FROM exchanges WHERE environment_id = $1 AND id <= $2 ORDER BY id",
            &[&environment_id, &threshold],
        )
    }
}
