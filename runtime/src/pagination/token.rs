//! The opaque cursor handed to callers: the upstream position plus loop-detection state,
//! signed so a caller cannot forge a position or replay one against another list.

use super::Position;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// How many recent positions a cursor remembers to detect a list that cycles.
pub const REMEMBERED: usize = 64;

#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub fn new(bytes: [u8; 32]) -> CursorKey {
        CursorKey(bytes)
    }

    /// A key for this process only: cursors do not survive a restart.
    pub fn random() -> CursorKey {
        CursorKey(rand::random())
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([redacted])")
    }
}

/// What a cursor carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CursorState {
    /// Which list the cursor belongs to: integration/model/resource/method.
    pub list: String,
    pub position: Position,
    pub page_size: Option<u64>,
    /// Pages fetched so far, for the max-pages bound.
    pub pages: u64,
    /// Digests of recent positions and page contents, newest last.
    pub seen: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaginationError {
    /// Not a cursor we issued, altered, or issued for another list.
    InvalidCursor(String),
}

type HmacSha256 = Hmac<Sha256>;

/// The longest cursor accepted (and so issued).
pub const MAX_CURSOR: usize = 16 * 1024;

/// The cursor's tag: HMAC-SHA256 over the payload and, for a cursor bound to an account, the
/// account's id after a NUL byte (which JSON text never holds, so the two parts cannot run
/// into each other). An unbound cursor's tag is over the payload alone.
fn tag(key: &CursorKey, payload: &[u8], account: Option<&str>) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(&key.0).expect("HMAC takes any key length");
    mac.update(payload);
    if let Some(account) = account {
        mac.update(b"\0account:");
        mac.update(account.as_bytes());
    }
    mac
}

impl CursorState {
    /// The cursor of an account without an id (fixture replay, the command line): bound to
    /// its list only.
    pub fn encode(&self, key: &CursorKey) -> String {
        self.encode_for(key, None)
    }

    /// The cursor, bound to the account whose id is `account`: its tag covers the id, so it
    /// is refused for any other account (ids are unique across environments). The payload is
    /// the same as an unbound cursor's; with `None` the whole text is [`Self::encode`]'s.
    pub fn encode_for(&self, key: &CursorKey, account: Option<&str>) -> String {
        let payload = serde_json::to_vec(self).expect("cursor state serializes");
        let tag = tag(key, &payload, account).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(&tag[..16]))
    }

    /// Reads an unbound cursor of `list` ([`Self::encode`]).
    pub fn decode(text: &str, key: &CursorKey, list: &str) -> Result<CursorState, PaginationError> {
        Self::decode_for(text, key, list, None)
    }

    /// Reads a cursor of `list` issued for the account whose id is `account` (`None`: an
    /// account without an id). A cursor altered, signed with another key, or issued for
    /// another account (or bound to one when `account` is `None`, and the reverse) is refused.
    pub fn decode_for(text: &str, key: &CursorKey, list: &str, account: Option<&str>) -> Result<CursorState, PaginationError> {
        let invalid = |why: &str| PaginationError::InvalidCursor(why.to_string());
        if text.len() > MAX_CURSOR {
            return Err(invalid("the cursor is too long"));
        }
        let (payload, signature) = text.split_once('.').ok_or_else(|| invalid("not a cursor issued by this server"))?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid("not a cursor issued by this server"))?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid("not a cursor issued by this server"))?;
        tag(key, &payload, account)
            .verify_truncated_left(&signature)
            .map_err(|_| invalid("the cursor was altered, was issued by another server, or belongs to another account"))?;
        let state: CursorState = serde_json::from_slice(&payload).map_err(|_| invalid("the cursor is malformed"))?;
        if state.list != list {
            return Err(invalid(&format!("the cursor belongs to another list ({})", state.list)));
        }
        Ok(state)
    }

    /// Records a digest; returns false if it was seen recently (the list is cycling).
    pub fn remember(&mut self, digest: String) -> bool {
        if self.seen.contains(&digest) {
            return false;
        }
        self.seen.push(digest);
        if self.seen.len() > REMEMBERED {
            self.seen.remove(0);
        }
        true
    }
}

/// A short digest of any serializable value (a position), for loop detection: not a secret
/// and not an authenticator (the cursor is signed), so a fast non-cryptographic hash (XXH3,
/// 128 bits, a stable algorithm) of its JSON text.
pub fn digest<T: Serialize + ?Sized>(value: &T) -> String {
    // Serialized straight into the hash: nothing is copied into a buffer first.
    struct Hashing(Xxh3);
    impl std::io::Write for Hashing {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Xxh3::new());
    let _ = serde_json::to_writer(&mut hashing, value);
    encode(hashing.0.digest128())
}

/// A short digest of a page of records, for loop detection: the records walked into the hash
/// (types, lengths and contents), not written out as text first — a page is large, and this
/// runs for every page of a list.
pub fn digest_records(records: &[Value]) -> String {
    // Written to one buffer and hashed at once: many small updates of a streaming hash cost
    // more than the copy.
    let mut bytes = Vec::with_capacity(16 * 1024);
    bytes.extend_from_slice(b"records");
    for record in records {
        feed(&mut bytes, record);
    }
    encode(xxh3_128(&bytes))
}

/// A short digest of a page of records from the text of their array, as the provider sent it:
/// the same page sent again is the same text.
pub fn digest_records_text(text: &str) -> String {
    let mut hashing = Xxh3::new();
    hashing.update(b"records text");
    hashing.update(text.as_bytes());
    encode(hashing.digest128())
}

fn feed(out: &mut Vec<u8>, value: &Value) {
    let len = |out: &mut Vec<u8>, n: usize| out.extend_from_slice(&(n as u64).to_le_bytes());
    match value {
        Value::Null => out.push(b'n'),
        Value::Bool(true) => out.push(b't'),
        Value::Bool(false) => out.push(b'f'),
        Value::Number(n) => {
            let text = n.to_string();
            out.push(b'#');
            len(out, text.len());
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(s) => {
            out.push(b's');
            len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            out.push(b'[');
            len(out, items.len());
            for item in items {
                feed(out, item);
            }
        }
        Value::Object(map) => {
            out.push(b'{');
            len(out, map.len());
            for (key, item) in map {
                len(out, key.len());
                out.extend_from_slice(key.as_bytes());
                feed(out, item);
            }
        }
    }
}

fn encode(hash: u128) -> String {
    URL_SAFE_NO_PAD.encode(&hash.to_le_bytes()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_digests_tell_pages_apart() {
        use serde_json::json;
        let page = |v: Value| digest_records(v.as_array().unwrap());
        assert_eq!(page(json!([{"id": 1, "n": "a"}])), page(json!([{"id": 1, "n": "a"}])));
        for (a, b) in [
            (json!(["ab", "c"]), json!(["a", "bc"])),
            (json!([{"a": "b"}]), json!([{"ab": ""}])),
            (json!([[1], 2]), json!([[1, 2]])),
            (json!([1]), json!(["1"])),
            (json!([null]), json!(["n"])),
            (json!([{"id": 1}]), json!([{"id": 2}])),
        ] {
            assert_ne!(page(a.clone()), page(b.clone()), "{a} / {b}");
        }
        assert_eq!(page(json!([])).len(), 16, "12 bytes, base64url");
    }

    fn state() -> CursorState {
        CursorState {
            list: "acme/crm/contacts/list".into(),
            position: Position::Cursor("abc".into()),
            page_size: Some(100),
            pages: 1,
            seen: vec![],
        }
    }

    #[test]
    fn round_trip_and_tamper_evidence() {
        let key = CursorKey::new([7; 32]);
        let text = state().encode(&key);
        assert_eq!(CursorState::decode(&text, &key, "acme/crm/contacts/list").unwrap(), state());
        assert!(CursorState::decode(&text, &CursorKey::new([8; 32]), "acme/crm/contacts/list").is_err());
        assert!(CursorState::decode(&text, &key, "acme/crm/deals/list").is_err());
        let (payload, tag) = text.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap().replace("abc", "xyz"));
        assert!(CursorState::decode(&format!("{forged}.{tag}"), &key, "acme/crm/contacts/list").is_err());
        assert!(CursorState::decode("garbage", &key, "x").is_err());
    }

    #[test]
    fn a_bound_cursor_is_its_accounts_only() {
        let key = CursorKey::new([7; 32]);
        let list = "acme/crm/contacts/list";
        let bound = state().encode_for(&key, Some("acc_1"));
        assert_eq!(CursorState::decode_for(&bound, &key, list, Some("acc_1")).unwrap(), state());
        for other in [Some("acc_2"), Some("acc_1x"), Some(""), None] {
            let refused = CursorState::decode_for(&bound, &key, list, other).unwrap_err();
            assert!(matches!(&refused, PaginationError::InvalidCursor(why) if why.contains("another account")), "{other:?}");
        }
        // Unbound, the text is what it always was: fixture replay's cursors do not change.
        let unbound = state().encode(&key);
        assert_eq!(state().encode_for(&key, None), unbound);
        assert!(CursorState::decode_for(&unbound, &key, list, Some("acc_1")).is_err());
        // The payload is the same either way; only the tag differs.
        assert_eq!(bound.split_once('.').unwrap().0, unbound.split_once('.').unwrap().0);
        assert_ne!(bound, unbound);
    }
}
