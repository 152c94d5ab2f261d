//! The [`Store`] several Switchyard nodes share: one Postgres database.
//!
//! Same semantics as [`crate::SqliteStore`] in every method; what differs is how writes are kept
//! safe when several nodes write at once. Each write runs in one transaction (`READ COMMITTED`),
//! and every write that reads before it writes either does it in one statement (the lease: a
//! conditional `UPDATE … RETURNING`, which Postgres re-checks on the row's latest version after
//! waiting for a concurrent writer, so exactly one of several racing acquirers gets it; a patch of
//! an account; an import with `ON CONFLICT DO NOTHING`) or locks the row it reads first (API key
//! management locks the environment's row). Nothing reads a value to write it back later.
//!
//! Connections come from a small pool of our own ([`pool`]): a call fails with
//! [`StoreError::Unavailable`] within about the connect or checkout timeout when the database is
//! down, and succeeds again once it is back, without reopening the store.
//!
//! The methods block (the postgres crate runs each connection on a runtime of its own): call them
//! from `spawn_blocking` or a plain thread, never from an async task.

mod api_keys;
mod exchanges;
pub mod migrations;
mod options;
mod pool;
mod rows;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use migrations::MIGRATIONS;
pub use options::PostgresOptions;
use pool::{Db, Pool};
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

pub struct PostgresStore {
    pool: Pool,
    /// `host:port/database`, for `Debug` (never the password).
    target: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresStore({})", self.target)
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (see [`PostgresOptions`] for its form and TLS) and
    /// brings its schema up to date. Fails with [`StoreError::Unavailable`] if the database
    /// cannot be reached within the connect timeout, [`StoreError::Schema`] if it was migrated by
    /// a newer Switchyard, [`StoreError::Invalid`] for a malformed URL or CA file, and
    /// [`StoreError::Postgres`] when the server refuses (a wrong password, a missing database)
    /// or TLS is refused (a certificate that does not verify, `sslmode=require` and a server
    /// without TLS, or TLS required by the server under `sslmode=disable`).
    pub fn open(url: &str, options: PostgresOptions) -> Result<Self> {
        let config = options::client_config(url, &options)?;
        let tls = options::tls(&options)?;
        let target = describe_target(&config);
        let pool = Pool::new(config, tls, &options);
        {
            // The first connection of the pool migrates, and stays in the pool.
            let mut conn = pool.get()?;
            migrations::migrate(conn.transaction()?)?;
        }
        Ok(PostgresStore { pool, target })
    }

    /// The applied schema version.
    pub fn schema_version(&self) -> Result<i64> {
        self.read(|db| Ok(db.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.try_get(0)?))
    }

    /// `EXPLAIN` of the statement [`Store::list_exchange_page`] runs (with or without an
    /// account), one line per plan line, planned with sequential scans, bitmap scans and sorts
    /// disabled: if it still shows a `Sort`, no index serves the page in order. Tests check it.
    pub fn exchange_page_plan(&self, with_account: bool) -> Result<Vec<String>> {
        let sql = format!("EXPLAIN {}", exchanges::page_sql(with_account));
        self.explain(|db| match with_account {
            true => db.query(&sql, &[&"env", &"acct", &i64::MAX, &10i64]),
            false => db.query(&sql, &[&"env", &i64::MAX, &10i64]),
        })
    }

    /// `EXPLAIN` of the statement [`Store::list_accounts_page`] runs, planned as
    /// [`PostgresStore::exchange_page_plan`] is.
    pub fn account_page_plan(&self, with_integration: bool, with_cursor: bool) -> Result<Vec<String>> {
        let sql = format!("EXPLAIN {}", account_page_sql(with_integration, with_cursor));
        self.explain(|db| {
            let (env, integration, at, id, limit) = ("env", "crm", 0i64, "acc_0", 10i64);
            match (with_integration, with_cursor) {
                (false, false) => db.query(&sql, &[&env, &limit]),
                (true, false) => db.query(&sql, &[&env, &integration, &limit]),
                (false, true) => db.query(&sql, &[&env, &at, &id, &limit]),
                (true, true) => db.query(&sql, &[&env, &integration, &at, &id, &limit]),
            }
        })
    }

    fn explain(&self, run: impl FnOnce(&mut Db<'_>) -> Result<Vec<postgres::Row>>) -> Result<Vec<String>> {
        self.write(|db| {
            db.batch("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off")?;
            let rows = run(db)?;
            rows.iter().map(|r| Ok(r.try_get::<_, String>(0)?)).collect()
        })
    }

    /// Runs `f` in a transaction; commits on `Ok`, rolls back on `Err`.
    fn write<T>(&self, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a connection outside a transaction (each statement sees the last commit).
    fn read<T>(&self, f: impl FnOnce(&mut Db<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.pool.get()?;
        let mut db = conn.db()?;
        f(&mut db)
    }
}

/// `host:port/database` of a configuration.
fn describe_target(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or_default())
}

/// The account page statement: served by `accounts_environment_created` (environment_id,
/// created_at, id) without an integration, by `accounts_environment_integration` (environment_id,
/// integration, created_at, id) with one, walked in order from the cursor (a row comparison the
/// index seeks to). Parameters: environment, [integration], [cursor time, cursor id], limit.
fn account_page_sql(with_integration: bool, with_cursor: bool) -> String {
    let mut n = 1;
    let mut next = || {
        n += 1;
        n
    };
    let mut sql = format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = $1");
    if with_integration {
        sql.push_str(&format!(" AND integration = ${}", next()));
    }
    if with_cursor {
        let (a, b) = (next(), next());
        sql.push_str(&format!(" AND (created_at, id) > (${a}, ${b})"));
    }
    sql.push_str(&format!(" ORDER BY created_at, id LIMIT ${}", next()));
    sql
}

impl Store for PostgresStore {
    fn health(&self) -> Result<()> {
        self.read(|db| db.query_one("SELECT 1", &[]).map(drop))
    }

    fn create_environment(&self, name: &str) -> Result<Environment> {
        require_name("environment name", name)?;
        self.write(|tx| {
            let env = Environment { id: ids::environment_id(), name: name.to_owned(), created_at: from_ms(now_ms())? };
            match tx.execute(
                "INSERT INTO environments (id, name, created_at) VALUES ($1, $2, $3)",
                &[&env.id, &env.name, &to_ms(env.created_at)],
            ) {
                Ok(_) => Ok(env),
                Err(e) if is_unique_violation(&e) => Err(duplicate_environment(name)),
                Err(e) => Err(e),
            }
        })
    }

    fn get_environment(&self, id: &str) -> Result<Environment> {
        self.read(|db| {
            let row = db.query_opt(&format!("SELECT {ENV_COLS} FROM environments WHERE id = $1"), &[&id])?;
            env_from_raw(env_from_row(&row.ok_or(StoreError::NotFound("environment"))?)?)
        })
    }

    fn environment_by_name(&self, name: &str) -> Result<Environment> {
        self.read(|db| {
            let row = db.query_opt(&format!("SELECT {ENV_COLS} FROM environments WHERE name = $1"), &[&name])?;
            env_from_raw(env_from_row(&row.ok_or(StoreError::NotFound("environment"))?)?)
        })
    }

    fn list_environments(&self) -> Result<Vec<Environment>> {
        self.read(|db| {
            let rows = db.query(&format!("SELECT {ENV_COLS} FROM environments ORDER BY name"), &[])?;
            rows.iter().map(|r| env_from_raw(env_from_row(r)?)).collect()
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
        self.read(|db| {
            ensure_env(db, environment_id)?;
            api_keys::list_keys(db, environment_id)
        })
    }

    fn get_api_key(&self, environment_id: &str, id: &str) -> Result<ApiKeyInfo> {
        self.read(|db| api_keys::load_key(db, environment_id, id))
    }

    fn revoke_api_key_by_id(&self, environment_id: &str, id: &str, force: bool) -> Result<ApiKeyInfo> {
        self.write(|tx| api_keys::revoke_key(tx, environment_id, id, force))
    }

    fn rotate_api_key(&self, environment_id: &str, id: &str, new: NewApiKey, overlap: Duration) -> Result<(ApiKeyInfo, ApiKeyInfo)> {
        self.write(|tx| api_keys::rotate_key(tx, environment_id, id, new, overlap))
    }

    fn api_key_grant(&self, hash: &ApiKeyHash) -> Result<ApiKeyGrant> {
        self.read(|db| api_keys::grant(db, hash))
    }

    fn api_key_generation(&self) -> Result<i64> {
        self.read(api_keys::generation)
    }

    fn touch_api_key(&self, id: &str, at: DateTime<Utc>, prefix: Option<&str>) -> Result<()> {
        self.write(|tx| api_keys::touch(tx, id, at, prefix))
    }

    fn upsert_install(&self, environment_id: &str, input: InstallInput) -> Result<Install> {
        check_install(&input)?;
        let settings = json_text(&input.settings)?;
        let secret = input.oauth_client_secret.as_ref().map(|s| s.as_bytes());
        self.write(|tx| {
            ensure_env(tx, environment_id)?;
            tx.execute(
                "INSERT INTO installs (environment_id, integration, oauth_client_id, oauth_client_secret, settings, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) \
                 ON CONFLICT (environment_id, integration) DO UPDATE SET oauth_client_id = excluded.oauth_client_id, \
                 oauth_client_secret = excluded.oauth_client_secret, settings = excluded.settings, updated_at = excluded.updated_at",
                &[&environment_id, &input.integration, &input.oauth_client_id, &secret, &settings, &now_ms()],
            )?;
            load_install(tx, environment_id, &input.integration)
        })
    }

    fn get_install(&self, environment_id: &str, integration: &str) -> Result<Install> {
        self.read(|db| load_install(db, environment_id, integration))
    }

    fn list_installs(&self, environment_id: &str) -> Result<Vec<Install>> {
        self.read(|db| {
            let rows = db.query(
                &format!("SELECT {INSTALL_COLS} FROM installs WHERE environment_id = $1 ORDER BY integration"),
                &[&environment_id],
            )?;
            rows.iter().map(|r| install_from_raw(install_from_row(r)?)).collect()
        })
    }

    fn delete_install(&self, environment_id: &str, integration: &str) -> Result<()> {
        self.write(|tx| {
            match tx.execute("DELETE FROM installs WHERE environment_id = $1 AND integration = $2", &[&environment_id, &integration])? {
                0 => Err(StoreError::NotFound("install")),
                _ => Ok(()),
            }
        })
    }

    fn create_account(&self, environment_id: &str, account: NewAccount) -> Result<Account> {
        self.write(|tx| {
            insert_account(tx, environment_id, &account, false)?;
            load_account(tx, environment_id, &account.id)
        })
    }

    fn import_account(&self, environment_id: &str, account: NewAccount) -> Result<(Account, UpsertOutcome)> {
        let external_id = import_external_id(&account)?;
        self.write(|tx| {
            if let Some(existing) = find_account_by_external(tx, environment_id, external_id)? {
                return Ok((existing, UpsertOutcome::AlreadyExists));
            }
            // Another node importing the same account at this moment: its insert waits for ours
            // or ours for its, and the one that comes second inserts nothing and, in a statement
            // of its own, sees the committed row.
            if insert_account(tx, environment_id, &account, true)? {
                return Ok((load_account(tx, environment_id, &account.id)?, UpsertOutcome::Created));
            }
            match find_account_by_external(tx, environment_id, external_id)? {
                Some(existing) => Ok((existing, UpsertOutcome::AlreadyExists)),
                // Deleted again in between: as if a conflict with a moving target.
                None => Err(duplicate_account(&account)),
            }
        })
    }

    fn get_account(&self, environment_id: &str, account_id: &str) -> Result<Account> {
        self.read(|db| load_account(db, environment_id, account_id))
    }

    fn account_by_external_id(&self, environment_id: &str, external_id: &str) -> Result<Account> {
        self.read(|db| find_account_by_external(db, environment_id, external_id)?.ok_or(StoreError::NotFound("account")))
    }

    fn list_accounts(&self, environment_id: &str, integration: Option<&str>) -> Result<Vec<Account>> {
        self.read(|db| {
            let rows = db.query(
                &format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts WHERE environment_id = $1 AND ($2::text IS NULL OR integration = $2) \
                     ORDER BY created_at, id"
                ),
                &[&environment_id, &integration],
            )?;
            accounts_from_rows(rows)
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
        let sql = account_page_sql(integration.is_some(), after.is_some());
        let cursor = after.map(|a| (to_ms(a.created_at), a.id.as_str()));
        self.read(|db| {
            let rows = match (integration, &cursor) {
                (None, None) => db.query(&sql, &[&environment_id, &fetch])?,
                (Some(i), None) => db.query(&sql, &[&environment_id, &i, &fetch])?,
                (None, Some((at, id))) => db.query(&sql, &[&environment_id, at, id, &fetch])?,
                (Some(i), Some((at, id))) => db.query(&sql, &[&environment_id, &i, at, id, &fetch])?,
            };
            let mut accounts = accounts_from_rows(rows)?;
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
        let connection = patch.connection.as_ref().map(json_text).transpose()?;
        let status = patch.status.map(|s| s.as_str());
        self.write(|tx| {
            // One statement: a concurrent patch of the other fields is not overwritten with the
            // values read before it.
            let n = tx.execute(
                "UPDATE accounts SET connection = COALESCE($1, connection), status = COALESCE($2, status), \
                 status_reason = CASE WHEN $2::text IS NULL THEN status_reason ELSE $3 END, updated_at = $4 \
                 WHERE environment_id = $5 AND id = $6",
                &[&connection, &status, &patch.status_reason, &now_ms(), &environment_id, &account_id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("account"));
            }
            load_account(tx, environment_id, account_id)
        })
    }

    fn delete_account(&self, environment_id: &str, account_id: &str) -> Result<()> {
        self.write(|tx| {
            match tx.execute("DELETE FROM accounts WHERE environment_id = $1 AND id = $2", &[&environment_id, &account_id])? {
                0 => Err(StoreError::NotFound("account")),
                _ => Ok(()),
            }
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
                "UPDATE accounts SET credentials = $1, expires_at = $2, \
                 status = CASE WHEN status = 'needs_reauth' THEN 'active' ELSE status END, \
                 status_reason = CASE WHEN status = 'needs_reauth' THEN NULL ELSE status_reason END, \
                 refresh_fence = refresh_fence + 1, lease_owner = NULL, lease_expires_at = NULL, refresh_failures = 0, \
                 last_refresh_error = NULL, updated_at = $3 WHERE environment_id = $4 AND id = $5",
                &[&blob, &expires_at.map(to_ms), &now_ms(), &environment_id, &account_id],
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
            // One conditional update: a racing acquirer waits for this row lock, then Postgres
            // re-checks the condition on the row as committed, finds the lease held, and updates
            // nothing. Exactly one wins.
            let token: Option<i64> = tx
                .query_opt(
                    "UPDATE accounts SET refresh_fence = refresh_fence + 1, lease_owner = $1, lease_expires_at = $2 \
                     WHERE environment_id = $3 AND id = $4 AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= $5) \
                     RETURNING refresh_fence",
                    &[&owner, &expires, &environment_id, &account_id, &now],
                )?
                .map(|r| r.try_get(0))
                .transpose()?;
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
            let n = tx.execute(
                "UPDATE accounts SET credentials = $1, expires_at = $2, lease_owner = NULL, lease_expires_at = NULL, \
                 last_refresh_at = $3, last_refresh_error = NULL, refresh_failures = 0, refresh_count = refresh_count + 1, updated_at = $3 \
                 WHERE environment_id = $4 AND id = $5 AND refresh_fence = $6 AND lease_owner IS NOT NULL",
                &[&blob, &expires_at.map(to_ms), &now_ms(), &environment_id, &account_id, &token],
            )?;
            if n == 0 {
                return Err(fenced_miss(tx, environment_id, account_id, token));
            }
            load_account(tx, environment_id, account_id)
        })
    }

    fn fail_refresh(&self, environment_id: &str, account_id: &str, token: i64, error: &str, needs_reauth: bool) -> Result<Account> {
        // The upstream's words, kept as they came (a NUL excepted, which Postgres cannot store).
        let error = loggable(error);
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE accounts SET lease_owner = NULL, lease_expires_at = NULL, last_refresh_error = $1, \
                 refresh_failures = refresh_failures + 1, \
                 status = CASE WHEN $2 AND status = 'active' THEN 'needs_reauth' ELSE status END, \
                 status_reason = CASE WHEN $2 AND status = 'active' THEN $1 ELSE status_reason END, updated_at = $3 \
                 WHERE environment_id = $4 AND id = $5 AND refresh_fence = $6 AND lease_owner IS NOT NULL",
                &[&error, &needs_reauth, &now_ms(), &environment_id, &account_id, &token],
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
                 WHERE environment_id = $1 AND id = $2 AND refresh_fence = $3 AND lease_owner IS NOT NULL",
                &[&environment_id, &account_id, &token],
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
            exchanges::insert(tx, &row, environment_id)
        })
    }

    fn append_exchanges(&self, environment_id: &str, exchanges: Vec<NewExchange>, secrets: &[&str]) -> Result<Vec<i64>> {
        let redactor = Redactor::new(secrets);
        let rows = exchanges.into_iter().map(|e| PreparedExchange::new(e, &redactor)).collect::<Result<Vec<_>>>()?;
        self.write(|tx| {
            ensure_env(tx, environment_id)?;
            rows.iter().map(|row| exchanges::insert(tx, row, environment_id)).collect()
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
        self.read(|db| exchanges::page(db, environment_id, account_id, before, limit, max_bytes))
    }

    fn prune_exchanges(&self, before: DateTime<Utc>) -> Result<usize> {
        self.delete_in_batches("SELECT id FROM exchanges WHERE at < $1 ORDER BY at", &[&to_ms(before)])
    }

    fn evict_exchanges(&self, max_per_environment: u64) -> Result<usize> {
        let environments: Vec<String> = self.read(|db| {
            let rows = db.query("SELECT id FROM environments ORDER BY id", &[])?;
            rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
        })?;
        let mut total = 0;
        for environment in environments {
            total += self.evict_environment(&environment, max_per_environment)?;
        }
        Ok(total)
    }
}
