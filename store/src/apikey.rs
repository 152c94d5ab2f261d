//! Environment API keys: 32 random bytes shown once; only their SHA-256 hash is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::secret::SecretString;

/// The prefix of every API key, so a leaked key is recognisable by secret scanners.
pub const PREFIX: &str = "sy_";

/// How many leading characters of a key are kept to recognise it in a listing: [`PREFIX`] and
/// 8 characters (48 bits) of the random part; the 208 bits after them stay secret.
pub const DISPLAY_PREFIX_LEN: usize = PREFIX.len() + 8;

/// A freshly generated API key. Show it once, store only [`ApiKey::hash`].
#[derive(Clone, Debug)]
pub struct ApiKey(SecretString);

impl ApiKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        ApiKey(SecretString::new(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash::of(self.expose())
    }

    /// The key's first [`DISPLAY_PREFIX_LEN`] characters: stored and listed so a key can be
    /// recognised, not enough to use it.
    pub fn display_prefix(&self) -> &str {
        &self.expose()[..DISPLAY_PREFIX_LEN]
    }
}

/// SHA-256 of an API key as presented in `Authorization: Bearer …`. The key has 256 bits of entropy,
/// so a plain (unsalted) hash is safe and allows lookup by hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(pub [u8; 32]);

impl ApiKeyHash {
    pub fn of(presented: &str) -> Self {
        ApiKeyHash(Sha256::digest(presented.as_bytes()).into())
    }
}

impl fmt::Debug for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_matches_presented_string() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(a.hash(), ApiKeyHash::of(a.expose()));
        assert!(!format!("{a:?}").contains(&a.expose()[3..]));
    }

    #[test]
    fn the_display_prefix_is_a_short_start_of_the_key() {
        let key = ApiKey::generate();
        assert_eq!(key.display_prefix().len(), DISPLAY_PREFIX_LEN);
        assert!(key.expose().starts_with(key.display_prefix()));
        assert!(key.expose().len() > 4 * DISPLAY_PREFIX_LEN);
    }
}
