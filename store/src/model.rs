//! The rows the store keeps. Secrets appear only as [`SealedValue`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::crypto::{Keyring, SealedValue};
use crate::error::CryptoError;
use crate::secret::SecretString;

/// An isolated tenant of the server (e.g. `production`, `staging`). API keys belong to one environment
/// and see only its rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// An integration installed in an environment: the team's own OAuth app (bring your own app) and
/// per-environment settings (overrides).
#[derive(Clone, Debug, PartialEq)]
pub struct Install {
    pub environment_id: String,
    pub integration: String,
    pub oauth_client_id: Option<String>,
    /// Sealed for row [`Install::seal_row`] and field [`Install::CLIENT_SECRET_FIELD`].
    pub oauth_client_secret: Option<SealedValue>,
    /// Free-form JSON object of per-environment overrides.
    pub settings: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Install {
    pub const CLIENT_SECRET_FIELD: &'static str = "oauth_client_secret";

    /// The row id an install's secrets are sealed for: `{environment_id}/{integration}`.
    pub fn seal_row(environment_id: &str, integration: &str) -> String {
        format!("{environment_id}/{integration}")
    }
}

/// What `upsert_install` writes.
#[derive(Clone, Debug, PartialEq)]
pub struct InstallInput {
    pub integration: String,
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret: Option<SealedValue>,
    pub settings: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    Active,
    /// The credentials were rejected (`invalid_grant`, a 401 right after a refresh): the customer must
    /// reconnect. Never refreshed again automatically.
    NeedsReauth,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::NeedsReauth => "needs_reauth",
            AccountStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(AccountStatus::Active),
            "needs_reauth" => Some(AccountStatus::NeedsReauth),
            "disabled" => Some(AccountStatus::Disabled),
            _ => None,
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An account's credential fields (`access_token`, `refresh_token`, `api_key`…), each sealed for
/// (account id, field name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedCredentials(pub BTreeMap<String, SealedValue>);

impl SealedCredentials {
    /// Seals every field for `account_id`.
    pub fn seal(keyring: &Keyring, account_id: &str, fields: &BTreeMap<String, SecretString>) -> Result<Self, CryptoError> {
        let mut out = BTreeMap::new();
        for (field, value) in fields {
            out.insert(field.clone(), keyring.seal_str(account_id, field, value)?);
        }
        Ok(SealedCredentials(out))
    }

    /// Opens every field; fails if any was sealed for another account or field.
    pub fn open(&self, keyring: &Keyring, account_id: &str) -> Result<BTreeMap<String, SecretString>, CryptoError> {
        self.0.iter().map(|(field, sealed)| Ok((field.clone(), keyring.open_str(account_id, field, sealed)?))).collect()
    }

    pub fn get(&self, field: &str) -> Option<&SealedValue> {
        self.0.get(field)
    }
}

/// Bookkeeping of an account's token refreshes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshState {
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    pub refresh_count: u64,
    /// The last fencing token handed out (see [`crate::Store::acquire_refresh_lease`]).
    pub fence: i64,
    /// The current lease holder, if a lease was taken and not completed (it may have expired).
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
}

/// A connected account of a customer at one integration.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    pub id: String,
    pub environment_id: String,
    pub integration: String,
    /// The legacy vendor's id (or any caller key); unique per environment, makes imports idempotent.
    pub external_id: Option<String>,
    /// The connection fields (subdomain, region…): non-secret JSON object.
    pub connection: Value,
    pub credentials: SealedCredentials,
    /// When the access token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    pub status: AccountStatus,
    pub status_reason: Option<String>,
    pub refresh: RefreshState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `create_account` / `import_account` write. The id is chosen by the caller (see
/// [`crate::ids::account_id`]) because the credentials are sealed for it before they reach the store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAccount {
    pub id: String,
    pub integration: String,
    pub external_id: Option<String>,
    pub connection: Value,
    pub credentials: SealedCredentials,
    pub expires_at: Option<DateTime<Utc>>,
    pub status: AccountStatus,
}

/// What `update_account` changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountPatch {
    pub connection: Option<Value>,
    pub status: Option<AccountStatus>,
    /// Replaces the reason when `status` is set (`None` clears it then).
    pub status_reason: Option<String>,
}

/// The result of an idempotent import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    /// An account with this external id already exists: it is returned unchanged (its credentials may be
    /// newer than the import's, e.g. a rotated refresh token, so they are never overwritten by a re-run).
    AlreadyExists,
}

/// A refresh lease that was granted.
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshLease {
    /// The fencing token: pass it to `complete_refresh` / `fail_refresh`.
    pub token: i64,
    pub owner: String,
    pub expires_at: DateTime<Utc>,
    /// The account re-read inside the transaction that granted the lease: refresh with these credentials,
    /// never with a copy read before (another process may have refreshed in between).
    pub account: Account,
}

/// The answer of `acquire_refresh_lease`.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaseOutcome {
    Acquired(RefreshLease),
    /// Another refresher holds an unexpired lease: wait for it and re-read the account.
    HeldByAnother {
        owner: String,
        expires_at: DateTime<Utc>,
    },
}

/// One upstream HTTP exchange to log. Bodies and headers are redacted and truncated by the store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewExchange {
    pub account_id: Option<String>,
    pub integration: String,
    pub method: String,
    pub url: String,
    /// `None` when no response came (connection error, timeout).
    pub status: Option<u16>,
    pub latency: Duration,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// A logged exchange, as stored (already redacted and truncated).
#[derive(Clone, Debug, PartialEq)]
pub struct ExchangeEntry {
    pub id: i64,
    pub environment_id: String,
    pub account_id: Option<String>,
    pub integration: String,
    pub at: DateTime<Utc>,
    pub method: String,
    pub url: String,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Option<String>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// An API key of an environment as listed: never the key, never its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: String,
    pub environment_id: String,
    pub name: Option<String>,
    /// The key's first characters ([`crate::apikey::DISPLAY_PREFIX_LEN`]), to recognise it; `None`
    /// for keys created before prefixes were kept.
    pub prefix: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the key was last used, to within about a minute (`None`: not since it was created or
    /// since this was recorded).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key stopped working, or will stop (a key rotated with an overlap keeps working
    /// until then). `None`: the key works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyInfo {
    /// Whether the key is accepted at `now`.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none_or(|at| now < at)
    }
}

/// What `create_api_key` stores: the hash of a freshly generated key, a name and the key's
/// display prefix (see [`NewApiKey::of`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewApiKey {
    pub hash: crate::apikey::ApiKeyHash,
    pub name: Option<String>,
    pub prefix: Option<String>,
}

impl NewApiKey {
    /// The record of `key`: its hash and display prefix, never the key.
    pub fn of(key: &crate::apikey::ApiKey, name: Option<String>) -> NewApiKey {
        NewApiKey { hash: key.hash(), name, prefix: Some(key.display_prefix().to_owned()) }
    }
}

/// What a presented key (hashed) grants: its environment, the key's id, and when it stops working
/// (after a rotation with an overlap), so a cache can stop accepting it on time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyGrant {
    pub environment: Environment,
    pub key_id: String,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A page of an environment's accounts, in creation order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountPage {
    pub accounts: Vec<Account>,
    /// Where the next page starts (pass it as `after`) when more accounts are left.
    pub next_after: Option<AccountCursor>,
}

/// A position in the creation order of accounts: the last account of a page. Accounts created
/// at the same millisecond are ordered by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}
