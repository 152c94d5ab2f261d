//! Row identifiers: a kind prefix and 128 random bits, so an id names its kind and is unguessable.

use rand::RngCore;

pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut s = String::with_capacity(prefix.len() + 1 + 32);
    s.push_str(prefix);
    s.push('_');
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

pub fn environment_id() -> String {
    new_id("env")
}

pub fn account_id() -> String {
    new_id("acc")
}

pub fn install_id() -> String {
    new_id("ins")
}

pub fn api_key_id() -> String {
    new_id("key")
}
