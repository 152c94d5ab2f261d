//! The `state` of an OAuth connect: everything the callback needs (environment, integration, PKCE
//! verifier, the account's connection fields), sealed with the server's key. Nothing is kept in
//! memory between the redirect and the callback, so the callback may land on any server process,
//! and a forged or replayed-late state fails to open or has expired.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_store::{Keyring, SealedValue};

/// How long a customer has to finish the provider's consent screen.
pub const LIFETIME_SECONDS: i64 = 15 * 60;
const ROW: &str = "oauth-connect";
const FIELD: &str = "state";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectState {
    pub environment_id: String,
    pub integration: String,
    pub code_verifier: Option<String>,
    pub external_id: Option<String>,
    /// Connection fields given to `authorize` (a subdomain the authorize URL needs).
    pub connection: Map<String, Value>,
    /// Where to send the browser after the account is created.
    pub return_to: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// Makes two states of the same request differ.
    pub nonce: String,
}

impl ConnectState {
    pub fn seal(&self, keyring: &Keyring) -> Result<String, String> {
        let plaintext = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        let sealed = keyring.seal(ROW, FIELD, &plaintext).map_err(|e| e.to_string())?;
        Ok(URL_SAFE_NO_PAD.encode(sealed.as_bytes()))
    }

    /// Opens a state from a callback; an error says why it is refused.
    pub fn open(keyring: &Keyring, text: &str, now: DateTime<Utc>) -> Result<ConnectState, &'static str> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| "the state is not one this server issued")?;
        let sealed = SealedValue::from_bytes(bytes).map_err(|_| "the state is not one this server issued")?;
        let plaintext = keyring.open(ROW, FIELD, &sealed).map_err(|_| "the state is not one this server issued (or the key changed)")?;
        let state: ConnectState = serde_json::from_slice(&plaintext).map_err(|_| "the state is malformed")?;
        if state.expires_at < now.timestamp() {
            return Err("the connect flow took too long and its state expired; start again from /v1/connect/{integration}/authorize");
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(expires_at: DateTime<Utc>) -> ConnectState {
        let expires_at = expires_at.timestamp();
        ConnectState {
            environment_id: "env_1".into(),
            integration: "crm".into(),
            code_verifier: Some("v".repeat(50)),
            external_id: None,
            connection: Map::new(),
            return_to: None,
            expires_at,
            nonce: "n".into(),
        }
    }

    #[test]
    fn round_trips_and_refuses_tampering_and_expiry() {
        let keyring = Keyring::generate(1);
        let now = Utc::now();
        let sealed = state(now + chrono::Duration::minutes(5)).seal(&keyring).unwrap();
        assert_eq!(ConnectState::open(&keyring, &sealed, now).unwrap(), state(now + chrono::Duration::minutes(5)));
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(ConnectState::open(&keyring, &URL_SAFE_NO_PAD.encode(bytes), now).is_err());
        assert!(ConnectState::open(&Keyring::generate(1), &sealed, now).is_err());
        let old = state(now - chrono::Duration::seconds(1)).seal(&keyring).unwrap();
        assert!(ConnectState::open(&keyring, &old, now).unwrap_err().contains("expired"));
    }
}
