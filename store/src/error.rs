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
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
