//! Errors of the store and of the sealing of secrets.

use thiserror::Error;

/// Sealing or opening a secret failed.
#[derive(Debug, Error)]
pub enum CryptoError {
    /// The ciphertext does not authenticate: wrong key, wrong row or field (associated data), or tampering.
    #[error("a sealed value failed to open: wrong key, wrong row or field, or tampered")]
    OpenFailed,
    /// The sealed value names a key version this keyring does not hold.
    #[error("sealed with key version {0}, which this keyring does not hold; add the old key to rotate")]
    UnknownKeyVersion(u32),
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    #[error("SWITCHYARD_SECRET_KEY is invalid: {0}; expected 32 bytes, base64 encoded (e.g. `openssl rand -base64 32`)")]
    BadKey(String),
    #[error("key file {path}: {message}")]
    KeyFile { path: String, message: String },
    #[error("sealing failed")]
    SealFailed,
}

/// A store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The row does not exist in the caller's environment (rows of other environments answer this too).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique constraint would be broken (an environment name, an external id).
    #[error("conflict: {0}")]
    Conflict(String),
    /// `complete_refresh` or `fail_refresh` with a fencing token that is no longer current:
    /// another refresher took the lease over; this one must discard its result.
    #[error("refresh lease lost: fencing token {token} is no longer current")]
    LeaseLost { token: i64 },
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A SQLite error.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A Postgres error that says nothing of the database's availability (a failed statement, a
    /// refused login): the server answers it as an internal error.
    #[error("database: {}", describe_postgres(.0))]
    Postgres(#[source] postgres::Error),
    /// The database cannot serve the call now, and may later without anyone doing anything: it
    /// cannot be reached, the connection broke, no pooled connection came free in time, a
    /// statement ran past its timeout, or the server is shutting down or out of connections. The
    /// server answers 503; the store recovers by itself (broken connections are discarded, new
    /// ones are opened on demand).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database's schema cannot be used by this binary (e.g. it was migrated by a newer
    /// Switchyard). The message says what to do.
    #[error("{0}")]
    Schema(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A Postgres error and its causes on one line: the client library's own message alone says
/// little ("db error", "error connecting to server"); the server's message is in the cause.
pub(crate) fn describe_postgres(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
