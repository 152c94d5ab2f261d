//! The storage interface the server programs against. [`crate::SqliteStore`] (one file, one node or
//! several processes on one machine) and [`crate::PostgresStore`] (several nodes sharing one
//! database) implement it with the same semantics; the store tests run against both.
//!
//! Rules every implementation keeps:
//! - every read and write of an environment's rows is scoped by `environment_id`: a row of another
//!   environment answers [`StoreError::NotFound`], exactly like a missing one;
//! - every write runs in one transaction: on error nothing is half-written;
//! - the store never sees plaintext secrets, only [`crate::SealedValue`]s and API key hashes.
//!
//! The methods are blocking; an async server calls them from `spawn_blocking`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::apikey::ApiKeyHash;
#[allow(unused_imports)]
use crate::error::{Result, StoreError};
use crate::model::{
    Account, AccountCursor, AccountPage, AccountPatch, ApiKeyGrant, ApiKeyInfo, Environment, ExchangeEntry, Install, InstallInput,
    LeaseOutcome, NewAccount, NewApiKey, NewExchange, SealedCredentials, UpsertOutcome,
};

pub trait Store: Send + Sync {
    /// A cheap query that says whether the database answers now (`/healthz` calls it): `Ok`, or
    /// the error a real call would get ([`StoreError::Unavailable`] when Postgres cannot be
    /// reached).
    fn health(&self) -> Result<()>;

    // --- environments and API keys ---
    /// Creates an environment; [`StoreError::Conflict`] if the name is taken.
    fn create_environment(&self, name: &str) -> Result<Environment>;
    fn get_environment(&self, id: &str) -> Result<Environment>;
    fn environment_by_name(&self, name: &str) -> Result<Environment>;
    fn list_environments(&self) -> Result<Vec<Environment>>;
    /// Stores the hash of a new API key of an environment (no name, no display prefix: prefer
    /// [`Store::create_api_key`]).
    fn add_api_key(&self, environment_id: &str, hash: &ApiKeyHash) -> Result<()>;
    /// The environment a presented key (hashed) belongs to; [`StoreError::NotFound`] for unknown
    /// and revoked keys.
    fn environment_by_api_key(&self, hash: &ApiKeyHash) -> Result<Environment>;
    /// Revokes the key with this hash now ([`StoreError::NotFound`] if it is unknown or already
    /// revoked). No last-key check: see [`Store::revoke_api_key_by_id`].
    fn revoke_api_key(&self, hash: &ApiKeyHash) -> Result<()>;

    // --- API key management ---
    /// Stores a new key of the environment (its hash, name and display prefix); returns it as
    /// listed.
    fn create_api_key(&self, environment_id: &str, key: NewApiKey) -> Result<ApiKeyInfo>;
    /// The environment's keys, revoked ones included, oldest first (in the order they were
    /// created).
    fn list_api_keys(&self, environment_id: &str) -> Result<Vec<ApiKeyInfo>>;
    fn get_api_key(&self, environment_id: &str, id: &str) -> Result<ApiKeyInfo>;
    /// Revokes a key now (a key rotated with an overlap stops at once too; an already revoked key
    /// is returned unchanged). Unless `force`, revoking the environment's last key that is
    /// neither revoked nor scheduled to be is refused with [`StoreError::Conflict`]: the
    /// environment would be left without a key.
    fn revoke_api_key_by_id(&self, environment_id: &str, id: &str, force: bool) -> Result<ApiKeyInfo>;
    /// Replaces a working key: stores `new` (named like the old key when `new.name` is `None`) and
    /// revokes the old key `overlap` from now (at once for zero), in one transaction. Returns
    /// (new, old). A revoked or already rotated key is [`StoreError::Conflict`].
    fn rotate_api_key(&self, environment_id: &str, id: &str, new: NewApiKey, overlap: Duration) -> Result<(ApiKeyInfo, ApiKeyInfo)>;
    /// What a presented key (hashed) grants, if it works now; [`StoreError::NotFound`] for unknown
    /// and revoked keys.
    fn api_key_grant(&self, hash: &ApiKeyHash) -> Result<ApiKeyGrant>;
    /// The revocation generation: a number that changes whenever any key of any environment is
    /// revoked, rotated, deleted or moved (by this store or by hand, through triggers). One
    /// primary-key read: a cache of verified keys polls it to learn of revocations made by other
    /// processes.
    fn api_key_generation(&self) -> Result<i64>;
    /// Records that a key was used at `at` (only moves `last_used_at` forward), and its display
    /// prefix when none is stored yet (a key made by [`Store::add_api_key`] or before prefixes were
    /// kept: the server learns it from the key presented). Does not change the generation.
    fn touch_api_key(&self, id: &str, at: DateTime<Utc>, prefix: Option<&str>) -> Result<()>;

    // --- installs ---
    /// Creates or replaces the install of `input.integration` in the environment.
    fn upsert_install(&self, environment_id: &str, input: InstallInput) -> Result<Install>;
    fn get_install(&self, environment_id: &str, integration: &str) -> Result<Install>;
    fn list_installs(&self, environment_id: &str) -> Result<Vec<Install>>;
    fn delete_install(&self, environment_id: &str, integration: &str) -> Result<()>;

    // --- accounts ---
    /// Creates an account; [`StoreError::Conflict`] if its external id is taken in the environment.
    fn create_account(&self, environment_id: &str, account: NewAccount) -> Result<Account>;
    /// Idempotent import: creates the account, or returns the existing one with the same external id
    /// unchanged. `account.external_id` is required.
    fn import_account(&self, environment_id: &str, account: NewAccount) -> Result<(Account, UpsertOutcome)>;
    fn get_account(&self, environment_id: &str, account_id: &str) -> Result<Account>;
    fn account_by_external_id(&self, environment_id: &str, external_id: &str) -> Result<Account>;
    fn list_accounts(&self, environment_id: &str, integration: Option<&str>) -> Result<Vec<Account>>;
    /// A page of the environment's accounts (optionally of one integration) in creation order: at
    /// most `limit` accounts after `after` (from the first when `None`). Served by an index in that
    /// order: the cost grows with the page, not with the number of accounts.
    fn list_accounts_page(
        &self,
        environment_id: &str,
        integration: Option<&str>,
        after: Option<&AccountCursor>,
        limit: usize,
    ) -> Result<AccountPage>;
    fn update_account(&self, environment_id: &str, account_id: &str, patch: AccountPatch) -> Result<Account>;
    fn delete_account(&self, environment_id: &str, account_id: &str) -> Result<()>;
    /// Replaces the credentials outside a refresh (a reconnect, a manual PATCH): a `needs_reauth` account
    /// becomes `active` again (a `disabled` one stays disabled), the refresh failures are reset, and any
    /// refresh lease in flight is invalidated (its `complete_refresh` will be rejected).
    fn replace_credentials(
        &self,
        environment_id: &str,
        account_id: &str,
        credentials: SealedCredentials,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account>;

    // --- refresh lease with fencing ---
    /// Takes the refresh lease of an account for `ttl` if nobody holds an unexpired one. On success the
    /// fencing token is incremented and returned with the account re-read in the same transaction.
    /// The lease is granted whatever the account's status: check `lease.account` (status, `expires_at`) and
    /// release it if there is nothing to do. Lease expiry is judged by each process's wall clock.
    fn acquire_refresh_lease(&self, environment_id: &str, account_id: &str, owner: &str, ttl: Duration) -> Result<LeaseOutcome>;
    /// Stores refreshed credentials and releases the lease, only if `token` is still the account's current
    /// fencing token (nobody took the lease over, no credentials were replaced since). Otherwise
    /// [`StoreError::LeaseLost`] and nothing is written. A holder whose lease expired but was not taken
    /// over may still complete: nobody else can have refreshed in between.
    fn complete_refresh(
        &self,
        environment_id: &str,
        account_id: &str,
        token: i64,
        credentials: SealedCredentials,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Account>;
    /// Records a failed refresh and releases the lease (fenced like `complete_refresh`). With
    /// `needs_reauth` an active account becomes `needs_reauth` (e.g. on `invalid_grant`) and is not retried
    /// (a `disabled` one stays disabled). The credentials are left as they are.
    fn fail_refresh(&self, environment_id: &str, account_id: &str, token: i64, error: &str, needs_reauth: bool) -> Result<Account>;

    /// Releases a lease without writing credentials (the re-read showed another refresher already did
    /// the work). Fenced like `complete_refresh`.
    fn release_refresh_lease(&self, environment_id: &str, account_id: &str, token: i64) -> Result<()>;

    // --- exchange log ---
    /// Appends an upstream exchange, replacing every occurrence of each of `secrets` (and their
    /// URL-encoded forms) and sensitive headers by `[REDACTED]`, then truncating bodies and headers.
    fn append_exchange(&self, environment_id: &str, exchange: NewExchange, secrets: &[&str]) -> Result<i64>;
    /// Appends several exchanges of one environment in one transaction (redacted as by
    /// [`Store::append_exchange`]); all or none are written. Returns their ids in order.
    fn append_exchanges(&self, environment_id: &str, exchanges: Vec<NewExchange>, secrets: &[&str]) -> Result<Vec<i64>> {
        exchanges.into_iter().map(|e| self.append_exchange(environment_id, e, secrets)).collect()
    }
    /// Recent exchanges of the environment, newest first, optionally of one account.
    fn list_exchanges(&self, environment_id: &str, account_id: Option<&str>, limit: usize) -> Result<Vec<ExchangeEntry>> {
        Ok(self.list_exchange_page(environment_id, account_id, None, limit, usize::MAX)?.entries)
    }
    /// A page of the environment's log, newest first, optionally of one account: at most `limit`
    /// entries with an id below `before` (from the newest when `None`). The page stops after the
    /// entry that brings its stored text to `max_bytes` (it always holds one entry if any is left);
    /// [`ExchangePage::next_before`] says where the next page starts, if there is one. Served by an
    /// index in `id DESC` order: the cost grows with the page, not with the size of the log.
    fn list_exchange_page(
        &self,
        environment_id: &str,
        account_id: Option<&str>,
        before: Option<i64>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<ExchangePage>;
    /// Deletes exchanges logged before `before`, in batches (the write lock is released between
    /// them); returns how many.
    fn prune_exchanges(&self, before: DateTime<Utc>) -> Result<usize>;
    /// Keeps at most `max_per_environment` entries in each environment's log: the oldest beyond it
    /// (by id, the order they were written in) are deleted, in batches. Returns how many.
    fn evict_exchanges(&self, max_per_environment: u64) -> Result<usize>;
}

/// A page of the exchange log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExchangePage {
    /// Newest first.
    pub entries: Vec<ExchangeEntry>,
    /// The `before` of the next page (the last entry's id) when older entries are left.
    pub next_before: Option<i64>,
}
