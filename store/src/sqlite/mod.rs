//! The embedded [`Store`]: one SQLite file in WAL mode, shared safely by several processes.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so two
//! processes never both read-then-write on stale data); the busy timeout makes a second writer wait for
//! the first instead of failing.

mod migrations;
mod rows;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

pub use migrations::{migrate, MIGRATIONS};
use rows::*;

use crate::apikey::ApiKeyHash;
use crate::error::{Result, StoreError};
use crate::ids;
use crate::model::{
    Account, AccountPatch, Environment, ExchangeEntry, Install, InstallInput, LeaseOutcome, NewAccount, NewExchange, RefreshLease,
    SealedCredentials, UpsertOutcome,
};
use crate::redact::Redactor;
use crate::store::Store;

/// How long a writer waits for another process's write lock before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteStore {
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
        let path = path.as_ref().to_path_buf();
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(busy_timeout)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!("{}: could not enable WAL mode (got {mode})", path.display())));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The applied schema version.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn().query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?)
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

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.conn();
        f(&conn)
    }
}

impl Store for SqliteStore {
    fn create_environment(&self, name: &str) -> Result<Environment> {
        require_name("environment name", name)?;
        self.write(|tx| {
            let env = Environment { id: ids::environment_id(), name: name.to_owned(), created_at: from_ms(now_ms())? };
            match tx.execute(
                "INSERT INTO environments (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![env.id, env.name, to_ms(env.created_at)],
            ) {
                Ok(_) => Ok(env),
                Err(e) if is_constraint(&e) => Err(StoreError::Conflict(format!("an environment named `{name}` already exists"))),
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
        self.write(|tx| {
            ensure_env(tx, environment_id)?;
            match tx.execute(
                "INSERT INTO api_keys (hash, environment_id, created_at) VALUES (?1, ?2, ?3)",
                params![&hash.0[..], environment_id, now_ms()],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_constraint(&e) => Err(StoreError::Conflict("this API key is already registered".into())),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn environment_by_api_key(&self, hash: &ApiKeyHash) -> Result<Environment> {
        self.read(|c| {
            let raw = cached_row(
                c,
                "SELECT e.id, e.name, e.created_at FROM api_keys k JOIN environments e ON e.id = k.environment_id WHERE k.hash = ?1",
                [&hash.0[..]],
                env_from_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound("API key"))?;
            env_from_raw(raw)
        })
    }

    fn revoke_api_key(&self, hash: &ApiKeyHash) -> Result<()> {
        self.write(|tx| match tx.execute("DELETE FROM api_keys WHERE hash = ?1", [&hash.0[..]])? {
            0 => Err(StoreError::NotFound("API key")),
            _ => Ok(()),
        })
    }

    fn upsert_install(&self, environment_id: &str, input: InstallInput) -> Result<Install> {
        require_name("integration", &input.integration)?;
        if !input.settings.is_object() {
            return Err(StoreError::Invalid("install settings must be a JSON object".into()));
        }
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
        let Some(external_id) = account.external_id.clone() else {
            return Err(StoreError::Invalid("an imported account needs an external_id (it makes a re-run safe)".into()));
        };
        self.write(|tx| {
            if let Some(existing) = find_account_by_external(tx, environment_id, &external_id)? {
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
        let ttl_ms = i64::try_from(ttl.as_millis()).map_err(|_| StoreError::Invalid("lease ttl too long".into()))?;
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
        let r = Redactor::new(secrets);
        let url = r.redact(&exchange.url);
        let method = r.redact(&exchange.method);
        let req_h = headers_text(&r.headers(&exchange.request_headers))?;
        let resp_h = headers_text(&r.headers(&exchange.response_headers))?;
        let req_b = exchange.request_body.as_deref().map(|b| r.body(b));
        let resp_b = exchange.response_body.as_deref().map(|b| r.body(b));
        let error = exchange.error.as_deref().map(|b| r.body(b));
        let latency = i64::try_from(exchange.latency.as_millis()).unwrap_or(i64::MAX);
        self.write(|tx| {
            ensure_env(tx, environment_id)?;
            if let Some(account) = &exchange.account_id {
                load_account(tx, environment_id, account)?;
            }
            tx.prepare_cached(
                "INSERT INTO exchanges (environment_id, account_id, integration, at, method, url, status, latency_ms, request_headers, \
                 request_body, response_headers, response_body, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
                environment_id,
                exchange.account_id,
                exchange.integration,
                now_ms(),
                method,
                url,
                exchange.status,
                latency,
                req_h,
                req_b,
                resp_h,
                resp_b,
                error
            ])?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn list_exchanges(&self, environment_id: &str, account_id: Option<&str>, limit: usize) -> Result<Vec<ExchangeEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {EXCHANGE_COLS} FROM exchanges WHERE environment_id = ?1 AND (?2 IS NULL OR account_id = ?2) ORDER BY id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![environment_id, account_id, limit], exchange_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            rows.into_iter().map(exchange_from_raw).collect()
        })
    }

    fn prune_exchanges(&self, before: DateTime<Utc>) -> Result<usize> {
        self.write(|tx| Ok(tx.execute("DELETE FROM exchanges WHERE at < ?1", [to_ms(before)])?))
    }
}
