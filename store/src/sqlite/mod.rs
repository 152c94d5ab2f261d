//! The embedded [`Store`]: one SQLite file in WAL mode, shared safely by several processes.
//!
//! Writes go through one connection: every write runs in a `BEGIN IMMEDIATE` transaction (the
//! write lock is taken up front, so two processes never both read-then-write on stale data); the busy
//! timeout makes a second writer wait for the first instead of failing.
//!
//! Reads go through a small pool of read-only connections ([`ReadPool`]). In WAL mode a reader sees
//! the last committed state and neither blocks the writer nor waits for it, nor for another reader:
//! a long read of one tenant's exchange log holds one read connection, not the writer's lock. The
//! heavy reads (log pages) may hold at most all but one of the read connections, so a point read
//! (an account, an API key, `/healthz`) always finds one free or about to be.

mod api_keys;
mod migrations;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

pub use migrations::{migrate, MIGRATIONS};
use rows::*;

use crate::apikey::ApiKeyHash;
use crate::error::{Result, StoreError};
use crate::ids;
use crate::model::{
    Account, AccountCursor, AccountPage, AccountPatch, ApiKeyGrant, ApiKeyInfo, Environment, Install, InstallInput, LeaseOutcome,
    NewAccount, NewApiKey, NewExchange, RefreshLease, SealedCredentials, UpsertOutcome,
};
use crate::redact::Redactor;
use crate::store::{ExchangePage, Store};

/// How long a writer waits for another process's write lock before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::rows::PRUNE_BATCH;

/// The number of read connections: one per core, at least 2 (so a point read always has one while a
/// log page is read), at most 8.
fn default_readers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 8)
}

pub struct SqliteStore {
    // Declared first so they close first: the writer, closing last, checkpoints the WAL.
    readers: ReadPool,
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteStore({})", self.path.display())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, DEFAULT_BUSY_TIMEOUT)
    }

    pub fn open_with(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<Self> {
        Self::open_with_readers(path, busy_timeout, default_readers())
    }

    /// As [`SqliteStore::open_with`], with `readers` read connections (at least 1). Heavy reads (log
    /// pages) use at most `readers - 1` of them when there are two or more.
    pub fn open_with_readers(path: impl AsRef<Path>, busy_timeout: Duration, readers: usize) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(busy_timeout)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!("{}: could not enable WAL mode (got {mode})", path.display())));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        let readers = ReadPool::new(path.clone(), busy_timeout, readers.max(1));
        // Open one reader now: a file a read-only connection cannot use fails here, not on the
        // first request.
        drop(readers.get(Weight::Light)?);
        Ok(SqliteStore { readers, conn: Mutex::new(conn), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The applied schema version.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn().query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?)
    }

    /// `EXPLAIN QUERY PLAN` of the statement [`Store::list_exchange_page`] runs (with or without an
    /// account), one line per plan row: tests check that it walks an index in `id DESC` order.
    pub fn exchange_page_plan(&self, with_account: bool) -> Result<Vec<String>> {
        let sql = format!("EXPLAIN QUERY PLAN {}", exchange_page_sql(with_account));
        let conn = self.readers.get(Weight::Light)?;
        let mut stmt = conn.prepare(&sql)?;
        let params: Vec<rusqlite::types::Value> = if with_account {
            vec!["env".to_string().into(), "acct".to_string().into(), i64::MAX.into(), 10i64.into()]
        } else {
            vec!["env".to_string().into(), i64::MAX.into(), 10i64.into()]
        };
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// `EXPLAIN QUERY PLAN` of the statement [`Store::list_accounts_page`] runs (with or without
    /// an integration, from the first page or after a cursor), one line per plan row: tests check
    /// that it walks an index and sorts nothing.
    pub fn account_page_plan(&self, with_integration: bool, with_cursor: bool) -> Result<Vec<String>> {
        let sql = format!("EXPLAIN QUERY PLAN {}", account_page_sql(with_integration, with_cursor));
        let conn = self.readers.get(Weight::Light)?;
        let mut stmt = conn.prepare(&sql)?;
        let mut params: Vec<rusqlite::types::Value> = vec!["env".to_string().into()];
        if with_integration {
            params.push("crm".to_string().into());
        }
        if with_cursor {
            params.push(0i64.into());
            params.push("acc_0".to_string().into());
        }
        params.push(10i64.into());
        let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (it rolls back on drop).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in a write transaction; commits on `Ok`, rolls back on `Err`.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a read connection (a point read).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.get(Weight::Light)?;
        f(&conn)
    }

    /// Runs `f` on a read connection, as one of the heavy reads (at most all but one connection).
    fn read_heavy<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.readers.get(Weight::Heavy)?;
        f(&conn)
    }

    /// Deletes, [`PRUNE_BATCH`] rows per write transaction, the rows `select` (a statement taking
    /// `params` and then a `LIMIT`) names; returns how many.
    fn delete_in_batches(&self, select: &str, params: &[&dyn rusqlite::ToSql]) -> Result<usize> {
        let sql = format!("DELETE FROM exchanges WHERE id IN ({select} LIMIT {PRUNE_BATCH})");
        let mut total = 0;
        loop {
            let n = self.write(|tx| Ok(tx.prepare_cached(&sql)?.execute(params)?))?;
            total += n;
            if n < PRUNE_BATCH {
                return Ok(total);
            }
            std::thread::sleep(PRUNE_PAUSE);
        }
    }

    /// Evicts the oldest entries of one environment beyond `keep`; returns how many.
    fn evict_environment(&self, environment_id: &str, keep: u64) -> Result<usize> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        // Two index probes bound the count from above (ids are shared by every environment, so the
        // span overestimates); only an environment that may be over the cap is counted exactly.
        let (oldest, newest): (Option<i64>, Option<i64>) = self.read(|c| {
            let first = |order: &str| -> Result<Option<i64>> {
                Ok(cached_row(
                    c,
                    &format!("SELECT id FROM exchanges WHERE environment_id = ?1 ORDER BY id {order} LIMIT 1"),
                    [environment_id],
                    |r| r.get(0),
                )
                .optional()?)
            };
            Ok((first("ASC")?, first("DESC")?))
        })?;
        let (Some(oldest), Some(newest)) = (oldest, newest) else { return Ok(0) };
        if newest.saturating_sub(oldest) < keep {
            return Ok(0);
        }
        // The newest entry past the cap: it and everything older go. A walk of `keep` entries of the
        // (environment_id, id) index, on a read connection.
        let threshold: Option<i64> = self.read_heavy(|c| {
            Ok(cached_row(
                c,
                "SELECT id FROM exchanges WHERE environment_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2",
                params![environment_id, keep],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        let Some(threshold) = threshold else { return Ok(0) };
        self.delete_in_batches(
            "SELECT id FROM exchanges WHERE environment_id = ?1 AND id <= ?2 ORDER BY id",
            &[&environment_id, &threshold],
        )
    }
}

/// What a read costs: a point read, or a page of the exchange log.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Weight {
    Light,
    Heavy,
}

/// Read-only connections to the database, opened on demand up to `max`, reused.
struct ReadPool {
    path: PathBuf,
    busy_timeout: Duration,
    max: usize,
    /// Heavy reads allowed at once: `max - 1` (at least 1).
    max_heavy: usize,
    state: Mutex<PoolState>,
    changed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Connection>,
    /// Connections open (idle or lent).
    open: usize,
    /// Heavy reads in progress.
    heavy: usize,
}

impl ReadPool {
    fn new(path: PathBuf, busy_timeout: Duration, max: usize) -> ReadPool {
        let max_heavy = if max > 1 { max - 1 } else { 1 };
        ReadPool { path, busy_timeout, max, max_heavy, state: Mutex::new(PoolState::default()), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, weight: Weight) -> Result<Reader<'_>> {
        let mut state = self.lock();
        loop {
            let heavy_ok = weight == Weight::Light || state.heavy < self.max_heavy;
            if heavy_ok && (!state.idle.is_empty() || state.open < self.max) {
                break;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if weight == Weight::Heavy {
            state.heavy += 1;
        }
        let conn = match state.idle.pop() {
            Some(conn) => conn,
            None => {
                state.open += 1;
                drop(state);
                match self.open() {
                    Ok(conn) => conn,
                    Err(e) => {
                        let mut state = self.lock();
                        state.open -= 1;
                        if weight == Weight::Heavy {
                            state.heavy -= 1;
                        }
                        self.changed.notify_all();
                        return Err(e);
                    }
                }
            }
        };
        Ok(Reader { pool: self, conn: Some(conn), weight })
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(self.busy_timeout)?;
        conn.execute_batch("PRAGMA query_only = ON;")?;
        Ok(conn)
    }
}

/// A read connection lent by the pool; returned when dropped.
struct Reader<'a> {
    pool: &'a ReadPool,
    conn: Option<Connection>,
    weight: Weight,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("a lent connection")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        if let Some(conn) = self.conn.take() {
            state.idle.push(conn);
        }
        if self.weight == Weight::Heavy {
            state.heavy -= 1;
        }
        drop(state);
        self.pool.changed.notify_all();
    }
}

/// The log page statement: served by `exchanges_environment_id` (environment_id, id) without an
/// account, by `exchanges_environment` (environment_id, account_id, id) with one, both walked in
/// `id DESC` order from `before`, so the statement reads `limit` rows and sorts nothing.
fn exchange_page_sql(with_account: bool) -> String {
    if with_account {
        format!("SELECT {EXCHANGE_COLS} FROM exchanges WHERE environment_id = ?1 AND account_id = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4")
    } else {
        format!("SELECT {EXCHANGE_COLS} FROM exchanges WHERE environment_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3")
    }
}

/// The account page statement: served by `accounts_environment_created` (environment_id,
/// created_at, id) without an integration, by `accounts_environment_integration` (environment_id,
/// integration, created_at, id) with one, walked in order from the cursor (a row-value
/// comparison the index seeks to), so a page reads `limit` rows and sorts nothing. Parameters:
/// environment, [integration], [cursor time, cursor id], limit.
fn account_page_sql(with_integration: bool, with_cursor: bool) -> String {
    let mut sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = ?");
    if with_integration {
        sql.push_str(" AND integration = ?");
    }
    if with_cursor {
        sql.push_str(" AND (created_at, id) > (?, ?)");
    }
    sql.push_str(" ORDER BY created_at, id LIMIT ?");
    sql
}

/// Whether the environment's log (or the account's part of it) has an entry older than `id`.
fn has_older(c: &Connection, environment_id: &str, account_id: Option<&str>, id: i64) -> Result<bool> {
    let found = match account_id {
        Some(account) => cached_row(
            c,
            "SELECT 1 FROM exchanges WHERE environment_id = ?1 AND account_id = ?2 AND id < ?3 LIMIT 1",
            params![environment_id, account, id],
            |_| Ok(()),
        ),
        None => {
            cached_row(c, "SELECT 1 FROM exchanges WHERE environment_id = ?1 AND id < ?2 LIMIT 1", params![environment_id, id], |_| Ok(()))
        }
    };
    Ok(found.optional()?.is_some())
}

impl Store for SqliteStore {
    fn health(&self) -> Result<()> {
        // A read connection answering a trivial query: the file is there and readable.
        self.read(|c| Ok(cached_row(c, "SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?))
    }

    fn create_environment(&self, name: &str) -> Result<Environment> {
        require_name("environment name", name)?;
        self.write(|tx| {
            let env = Environment { id: ids::environment_id(), name: name.to_owned(), created_at: from_ms(now_ms())? };
            match tx.execute(
                "INSERT INTO environments (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![env.id, env.name, to_ms(env.created_at)],
            ) {
                Ok(_) => Ok(env),
                Err(e) if is_constraint(&e) => Err(duplicate_environment(name)),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn get_environment(&self, id: &str) -> Result<Environment> {
        self.read(|c| {
            let raw = cached_row(c, &format!("SELECT {ENV_COLS} FROM environments WHERE id = ?1"), [id], env_from_row)
                .optional()?
                .ok_or(StoreError::NotFound("environment"))?;
            env_from_raw(raw)
        })
    }

    fn environment_by_name(&self, name: &str) -> Result<Environment> {
        self.read(|c| {
            let raw = cached_row(c, &format!("SELECT {ENV_COLS} FROM environments WHERE name = ?1"), [name], env_from_row)
                .optional()?
                .ok_or(StoreError::NotFound("environment"))?;
            env_from_raw(raw)
        })
    }

    fn list_environments(&self) -> Result<Vec<Environment>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {ENV_COLS} FROM environments ORDER BY name"))?;
            let rows = stmt.query_map([], env_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(env_from_raw).collect()
        })
    }

    fn add_api_key(&self, environment_id: &str, hash: &ApiKeyHash) -> Result<()> {
        let key = NewApiKey { hash: *hash, name: None, prefix: None };
        self.write(|tx| api_keys::insert_key(tx, environment_id, &key, now_ms())).map(|_| ())
    }

    fn environment_by_api_key(&self, hash: &ApiKeyHash) -> Result<Environment> {
        Ok(self.api_key_grant(hash)?.environment)
    }

    fn revoke_api_key(&self, hash: &ApiKeyHash) -> Result<()> {
        self.write(|tx| api_keys::revoke_by_hash(tx, hash))
    }

    fn create_api_key(&self, environment_id: &str, key: NewApiKey) -> Result<ApiKeyInfo> {
        self.write(|tx| api_keys::insert_key(tx, environment_id, &key, now_ms()))
    }

    fn list_api_keys(&self, environment_id: &str) -> Result<Vec<ApiKeyInfo>> {
        self.read(|c| {
            ensure_env(c, environment_id)?;
            api_keys::list_keys(c, environment_id)
        })
    }

    fn get_api_key(&self, environment_id: &str, id: &str) -> Result<ApiKeyInfo> {
        self.read(|c| api_keys::load_key(c, environment_id, id))
    }

    fn revoke_api_key_by_id(&self, environment_id: &str, id: &str, force: bool) -> Result<ApiKeyInfo> {
        self.write(|tx| api_keys::revoke_key(tx, environment_id, id, force))
    }

    fn rotate_api_key(&self, environment_id: &str, id: &str, new: NewApiKey, overlap: Duration) -> Result<(ApiKeyInfo, ApiKeyInfo)> {
        self.write(|tx| api_keys::rotate_key(tx, environment_id, id, new, overlap))
    }

    fn api_key_grant(&self, hash: &ApiKeyHash) -> Result<ApiKeyGrant> {
        self.read(|c| api_keys::grant(c, hash))
    }

    fn api_key_generation(&self) -> Result<i64> {
        self.read(api_keys::generation)
    }

    fn touch_api_key(&self, id: &str, at: DateTime<Utc>, prefix: Option<&str>) -> Result<()> {
        self.write(|tx| api_keys::touch(tx, id, at, prefix))
    }

    fn upsert_install(&self, environment_id: &str, input: InstallInput) -> Result<Install> {
        check_install(&input)?;
        self.write(|tx| {
            ensure_env(tx, environment_id)?;
            let now = now_ms();
            tx.execute(
                "INSERT INTO installs (environment_id, integration, oauth_client_id, oauth_client_secret, settings, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
                 ON CONFLICT (environment_id, integration) DO UPDATE SET oauth_client_id = excluded.oauth_client_id, \
                 oauth_client_secret = excluded.oauth_client_secret, settings = excluded.settings, updated_at = excluded.updated_at",
                params![
                    environment_id,
                    input.integration,
                    input.oauth_client_id,
                    input.oauth_client_secret.as_ref().map(|s| s.as_bytes()),
                    json_text(&input.settings)?,
                    now
                ],
            )?;
            load_install(tx, environment_id, &input.integration)
        })
    }

    fn get_install(&self, environment_id: &str, integration: &str) -> Result<Install> {
        self.read(|c| load_install(c, environment_id, integration))
    }

    fn list_installs(&self, environment_id: &str) -> Result<Vec<Install>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {INSTALL_COLS} FROM installs WHERE environment_id = ?1 ORDER BY integration"))?;
            let rows = stmt.query_map([environment_id], install_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(install_from_raw).collect()
        })
    }

    fn delete_install(&self, environment_id: &str, integration: &str) -> Result<()> {
        self.write(|tx| {
            match tx.execute("DELETE FROM installs WHERE environment_id = ?1 AND integration = ?2", [environment_id, integration])? {
                0 => Err(StoreError::NotFound("install")),
                _ => Ok(()),
            }
        })
    }

    fn create_account(&self, environment_id: &str, account: NewAccount) -> Result<Account> {
        self.write(|tx| {
            insert_account(tx, environment_id, &account)?;
            load_account(tx, environment_id, &account.id)
        })
    }

    fn import_account(&self, environment_id: &str, account: NewAccount) -> Result<(Account, UpsertOutcome)> {
        let external_id = import_external_id(&account)?;
        self.write(|tx| {
            if let Some(existing) = find_account_by_external(tx, environment_id, external_id)? {
                return Ok((existing, UpsertOutcome::AlreadyExists));
            }
            insert_account(tx, environment_id, &account)?;
            Ok((load_account(tx, environment_id, &account.id)?, UpsertOutcome::Created))
        })
    }

    fn get_account(&self, environment_id: &str, account_id: &str) -> Result<Account> {
        self.read(|c| load_account(c, environment_id, account_id))
    }

    fn account_by_external_id(&self, environment_id: &str, external_id: &str) -> Result<Account> {
        self.read(|c| find_account_by_external(c, environment_id, external_id)?.ok_or(StoreError::NotFound("account")))
    }

    fn list_accounts(&self, environment_id: &str, integration: Option<&str>) -> Result<Vec<Account>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = ?1 AND (?2 IS NULL OR integration = ?2) ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map(params![environment_id, integration], account_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(RawAccount::into_account).collect()
        })
    }

    fn list_accounts_page(
        &self,
        environment_id: &str,
        integration: Option<&str>,
        after: Option<&AccountCursor>,
        limit: usize,
    ) -> Result<AccountPage> {
        // One more than asked says whether another page follows.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1).saturating_add(1);
        self.read(|c| {
            let mut stmt = c.prepare_cached(&account_page_sql(integration.is_some(), after.is_some()))?;
            let mut params: Vec<rusqlite::types::Value> = vec![environment_id.to_string().into()];
            if let Some(integration) = integration {
                params.push(integration.to_string().into());
            }
            if let Some(after) = after {
                params.push(to_ms(after.created_at).into());
                params.push(after.id.clone().into());
            }
            params.push(fetch.into());
            let rows = stmt.query_map(rusqlite::params_from_iter(params), account_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            let mut accounts = rows.into_iter().map(RawAccount::into_account).collect::<Result<Vec<_>>>()?;
            let more = accounts.len() > limit;
            accounts.truncate(limit);
            let next_after = match accounts.last() {
                Some(last) if more => Some(AccountCursor { created_at: last.created_at, id: last.id.clone() }),
                _ => None,
            };
            Ok(AccountPage { accounts, next_after })
        })
    }

    fn update_account(&self, environment_id: &str, account_id: &str, patch: AccountPatch) -> Result<Account> {
        self.write(|tx| {
            let current = load_account(tx, environment_id, account_id)?;
            let connection = patch.connection.unwrap_or(current.connection);
            let (status, reason) = match patch.status {
                Some(s) => (s, patch.status_reason),
                None => (current.status, current.status_reason),
            };
            tx.execute(
                "UPDATE accounts SET connection = ?1, status = ?2, status_reason = ?3, updated_at = ?4 WHERE environment_id = ?5 AND id = ?6",
                params![json_text(&connection)?, status.as_str(), reason, now_ms(), environment_id, account_id],
            )?;
            load_account(tx, environment_id, account_id)
        })
    }

    fn delete_account(&self, environment_id: &str, account_id: &str) -> Result<()> {
        self.write(|tx| match tx.execute("DELETE FROM accounts WHERE environment_id = ?1 AND id = ?2", [environment_id, account_id])? {
            0 => Err(StoreError::NotFound("account")),
            _ => Ok(()),
        })
    }

    fn replace_credentials(
        &self,
        environment_id: &str,
        account_id: &str,
        credentials: SealedCredentials,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account> {
        let blob = encode_credentials(&credentials)?;
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE accounts SET credentials = ?1, expires_at = ?2, \
                 status = CASE WHEN status = 'needs_reauth' THEN 'active' ELSE status END, \
                 status_reason = CASE WHEN status = 'needs_reauth' THEN NULL ELSE status_reason END, \
                 refresh_fence = refresh_fence + 1, lease_owner = NULL, lease_expires_at = NULL, refresh_failures = 0, \
                 last_refresh_error = NULL, updated_at = ?3 WHERE environment_id = ?4 AND id = ?5",
                params![blob, expires_at.map(to_ms), now_ms(), environment_id, account_id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("account"));
            }
            load_account(tx, environment_id, account_id)
        })
    }

    fn acquire_refresh_lease(&self, environment_id: &str, account_id: &str, owner: &str, ttl: Duration) -> Result<LeaseOutcome> {
        require_name("lease owner", owner)?;
        let ttl_ms = ttl_ms(ttl)?;
        self.write(|tx| {
            let now = now_ms();
            let expires = now.saturating_add(ttl_ms);
            let token: Option<i64> = cached_row(
                tx,
                "UPDATE accounts SET refresh_fence = refresh_fence + 1, lease_owner = ?1, lease_expires_at = ?2 \
                     WHERE environment_id = ?3 AND id = ?4 AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= ?5) \
                     RETURNING refresh_fence",
                params![owner, expires, environment_id, account_id, now],
                |r| r.get(0),
            )
            .optional()?;
            // Re-read inside the same transaction: the credentials another refresher may just have written.
            let account = load_account(tx, environment_id, account_id)?;
            match token {
                Some(token) => {
                    Ok(LeaseOutcome::Acquired(RefreshLease { token, owner: owner.to_owned(), expires_at: from_ms(expires)?, account }))
                }
                None => Ok(LeaseOutcome::HeldByAnother {
                    owner: account.refresh.lease_owner.clone().unwrap_or_default(),
                    expires_at: account.refresh.lease_expires_at.unwrap_or(account.updated_at),
                }),
            }
        })
    }

    fn complete_refresh(
        &self,
        environment_id: &str,
        account_id: &str,
        token: i64,
        credentials: SealedCredentials,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account> {
        let blob = encode_credentials(&credentials)?;
        self.write(|tx| {
            let now = now_ms();
            let n = tx.execute(
                "UPDATE accounts SET credentials = ?1, expires_at = ?2, lease_owner = NULL, lease_expires_at = NULL, \
                 last_refresh_at = ?3, last_refresh_error = NULL, refresh_failures = 0, refresh_count = refresh_count + 1, updated_at = ?3 \
                 WHERE environment_id = ?4 AND id = ?5 AND refresh_fence = ?6 AND lease_owner IS NOT NULL",
                params![blob, expires_at.map(to_ms), now, environment_id, account_id, token],
            )?;
            if n == 0 {
                return Err(fenced_miss(tx, environment_id, account_id, token));
            }
            load_account(tx, environment_id, account_id)
        })
    }

    fn fail_refresh(&self, environment_id: &str, account_id: &str, token: i64, error: &str, needs_reauth: bool) -> Result<Account> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE accounts SET lease_owner = NULL, lease_expires_at = NULL, last_refresh_error = ?1, \
                 refresh_failures = refresh_failures + 1, \
                 status = CASE WHEN ?2 AND status = 'active' THEN 'needs_reauth' ELSE status END, \
                 status_reason = CASE WHEN ?2 AND status = 'active' THEN ?1 ELSE status_reason END, updated_at = ?3 \
                 WHERE environment_id = ?4 AND id = ?5 AND refresh_fence = ?6 AND lease_owner IS NOT NULL",
                params![error, needs_reauth, now_ms(), environment_id, account_id, token],
            )?;
            if n == 0 {
                return Err(fenced_miss(tx, environment_id, account_id, token));
            }
            load_account(tx, environment_id, account_id)
        })
    }

    fn release_refresh_lease(&self, environment_id: &str, account_id: &str, token: i64) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE accounts SET lease_owner = NULL, lease_expires_at = NULL \
                 WHERE environment_id = ?1 AND id = ?2 AND refresh_fence = ?3 AND lease_owner IS NOT NULL",
                params![environment_id, account_id, token],
            )?;
            if n == 0 {
                return Err(fenced_miss(tx, environment_id, account_id, token));
            }
            Ok(())
        })
    }

    fn append_exchange(&self, environment_id: &str, exchange: NewExchange, secrets: &[&str]) -> Result<i64> {
        let row = PreparedExchange::new(exchange, &Redactor::new(secrets))?;
        self.write(|tx| {
            ensure_env(tx, environment_id)?;
            insert_exchange(&row, tx, environment_id)
        })
    }

    fn append_exchanges(&self, environment_id: &str, exchanges: Vec<NewExchange>, secrets: &[&str]) -> Result<Vec<i64>> {
        let redactor = Redactor::new(secrets);
        let rows = exchanges.into_iter().map(|e| PreparedExchange::new(e, &redactor)).collect::<Result<Vec<_>>>()?;
        self.write(|tx| {
            ensure_env(tx, environment_id)?;
            rows.iter().map(|row| insert_exchange(row, tx, environment_id)).collect()
        })
    }

    fn list_exchange_page(
        &self,
        environment_id: &str,
        account_id: Option<&str>,
        before: Option<i64>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<ExchangePage> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = before.unwrap_or(i64::MAX);
        self.read_heavy(|c| {
            let mut stmt = c.prepare_cached(&exchange_page_sql(account_id.is_some()))?;
            let mut rows = match account_id {
                Some(account) => stmt.query(params![environment_id, account, before, limit])?,
                None => stmt.query(params![environment_id, before, limit])?,
            };
            let mut entries = Vec::new();
            let mut bytes = 0usize;
            let mut cut = false;
            while let Some(row) = rows.next()? {
                let raw = exchange_from_row(row)?;
                bytes = bytes.saturating_add(entry_bytes(&raw));
                entries.push(exchange_from_raw(raw)?);
                // At least one entry, so a caller paging with `before` always moves on.
                if bytes >= max_bytes {
                    cut = true;
                    break;
                }
            }
            drop(rows);
            let full = i64::try_from(entries.len()).unwrap_or(i64::MAX) >= limit;
            let next_before = match entries.last() {
                // One more probe of the same index says whether older entries are left.
                Some(last) if (cut || full) && has_older(c, environment_id, account_id, last.id)? => Some(last.id),
                _ => None,
            };
            Ok(ExchangePage { entries, next_before })
        })
    }

    fn prune_exchanges(&self, before: DateTime<Utc>) -> Result<usize> {
        self.delete_in_batches("SELECT id FROM exchanges WHERE at < ?1 ORDER BY at", &[&to_ms(before)])
    }

    fn evict_exchanges(&self, max_per_environment: u64) -> Result<usize> {
        let environments: Vec<String> = self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id FROM environments ORDER BY id")?;
            let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(ids)
        })?;
        let mut total = 0;
        for environment in environments {
            total += self.evict_environment(&environment, max_per_environment)?;
        }
        Ok(total)
    }
}

/// Writes a prepared (redacted) exchange of the environment; returns its id.
fn insert_exchange(row: &PreparedExchange, tx: &Transaction<'_>, environment_id: &str) -> Result<i64> {
    if let Some(account) = &row.account_id {
        load_account(tx, environment_id, account)?;
    }
    tx.prepare_cached(
        "INSERT INTO exchanges (environment_id, account_id, integration, at, method, url, status, latency_ms, request_headers, \
             request_body, response_headers, response_body, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        environment_id,
        row.account_id,
        row.integration,
        now_ms(),
        row.method,
        row.url,
        row.status,
        row.latency,
        row.request_headers,
        row.request_body,
        row.response_headers,
        row.response_body,
        row.error
    ])?;
    Ok(tx.last_insert_rowid())
}
