//! Connecting an account with the OAuth2 authorization-code grant (RFC 6749 §4.1): the PKCE
//! pair (RFC 7636) the server keeps between the two steps, and the connection fields the
//! redirect fills in. The engine builds and sends the requests (`engine/connect.rs`).

use crate::error::{ErrorKind, RuntimeError};
use crate::registry::Integration;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A PKCE pair (RFC 7636): the verifier stays with the server until the code exchange; the
/// challenge goes in the authorization URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// 43 to 128 characters from `[A-Za-z0-9-._~]`.
    pub verifier: String,
    /// BASE64URL-NOPAD(SHA-256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// The only challenge method sent: `plain` protects nothing.
    pub const METHOD: &'static str = "S256";

    /// A new pair: the verifier is 32 random bytes in unpadded base64url (43 characters,
    /// 256 bits), as RFC 7636 §4.1 recommends.
    pub fn generate() -> Pkce {
        let bytes: [u8; 32] = rand::random();
        Pkce::from_verifier(&URL_SAFE_NO_PAD.encode(bytes)).expect("base64url of 32 bytes is a valid verifier")
    }

    /// The pair for a verifier kept from earlier; `invalid_request` unless it is 43 to 128
    /// unreserved characters.
    pub fn from_verifier(verifier: &str) -> Result<Pkce, RuntimeError> {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if !(43..=128).contains(&verifier.len()) || !verifier.chars().all(unreserved) {
            return Err(RuntimeError::new(
                ErrorKind::InvalidRequest,
                "a PKCE code verifier is 43 to 128 characters from A-Z, a-z, 0-9, `-`, `.`, `_` and `~`",
            ));
        }
        Ok(Pkce { verifier: verifier.to_string(), challenge: URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) })
    }
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce").field("verifier", &"[redacted]").field("challenge", &self.challenge).finish()
    }
}

/// The connection fields the OAuth redirect fills in: `(field, value)` for each field with a
/// `from_callback` whose parameter the callback's query carries with a value (the first
/// occurrence, as received). The caller merges them into the connection before
/// `Engine::exchange_code`, so the token request and every later one see them.
pub fn callback_connection(integration: &Integration, callback: &[(String, String)]) -> Vec<(String, String)> {
    integration
        .connection
        .fields
        .iter()
        .filter_map(|(field, spec)| {
            let param = spec.from_callback.as_deref()?;
            let value = callback.iter().find(|(name, _)| name == param).map(|(_, value)| value).filter(|v| !v.is_empty())?;
            Some((field.clone(), value.clone()))
        })
        .collect()
}
