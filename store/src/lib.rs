//! Switchyard's storage foundation: environments and their hashed API keys, installs of an integration
//! (bring-your-own OAuth app), accounts with sealed credentials, a refresh lease with fencing, and the
//! upstream exchange log.
//!
//! The [`Store`] trait is the interface the server programs against; [`SqliteStore`] is the embedded
//! implementation, [`PostgresStore`] the one several nodes share. The store never sees a plaintext
//! secret: callers seal values with a [`Keyring`] (AES-256-GCM, associated data = row id + field name)
//! and hand the store [`SealedValue`]s.

pub mod apikey;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod model;
pub mod postgres;
pub mod redact;
mod rows;
pub mod secret;
pub mod sqlite;
pub mod store;

pub use apikey::{ApiKey, ApiKeyHash};
pub use crypto::{KeySource, Keyring, LoadedKeyring, SealedValue};
pub use error::{CryptoError, StoreError};
pub use model::{
    Account, AccountCursor, AccountPage, AccountPatch, AccountStatus, ApiKeyGrant, ApiKeyInfo, Environment, ExchangeEntry, Install,
    InstallInput, LeaseOutcome, NewAccount, NewApiKey, NewExchange, RefreshLease, RefreshState, SealedCredentials, UpsertOutcome,
};
pub use postgres::{PostgresOptions, PostgresStore};
pub use rows::{MAX_KEY_NAME_LEN, PRUNE_BATCH};
pub use secret::SecretString;
pub use sqlite::SqliteStore;
pub use store::Store;
