//! Redaction and truncation of logged exchanges.
//!
//! The caller names the secret values in play (the account's tokens, the client secret); every
//! occurrence of each, raw or URL-encoded (as in a form-encoded token request), becomes `[REDACTED]`.
//! Headers that carry credentials by nature are redacted whole. Redaction runs before truncation, so a
//! cut never leaves part of a secret behind.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

pub const REDACTED: &str = "[REDACTED]";
/// Bodies longer than this (in bytes) are cut.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Header values longer than this are cut.
pub const MAX_HEADER_VALUE_BYTES: usize = 1024;
/// At most this many headers are kept per direction.
pub const MAX_HEADERS: usize = 64;

/// Headers whose values are credentials whatever the caller says.
const SENSITIVE_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token", "x-access-token"];

/// Replaces a given set of secret values in text.
#[derive(Clone)]
pub struct Redactor {
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} needles)", self.needles.len())
    }
}

impl Redactor {
    pub fn new(secrets: &[&str]) -> Self {
        let mut needles: Vec<String> = Vec::new();
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            let encoded = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
            let form = encoded.replace("%20", "+");
            for n in [secret.to_string(), encoded, form] {
                if !needles.contains(&n) {
                    needles.push(n);
                }
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Redactor { needles }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts a header list: sensitive headers whole, others by value; then truncates.
    pub fn headers(&self, headers: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = headers
            .iter()
            .take(MAX_HEADERS)
            .map(|(name, value)| {
                let value = if SENSITIVE_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                    REDACTED.to_owned()
                } else {
                    truncate(&self.redact(value), MAX_HEADER_VALUE_BYTES)
                };
                (truncate(&self.redact(name), MAX_HEADER_VALUE_BYTES), value)
            })
            .collect();
        if headers.len() > MAX_HEADERS {
            out.push(("x-switchyard-truncated".into(), format!("{} more headers", headers.len() - MAX_HEADERS)));
        }
        out
    }

    pub fn body(&self, body: &str) -> String {
        truncate(&self.redact(body), MAX_BODY_BYTES)
    }
}

/// Cuts `text` to at most `max` bytes (on a character boundary) and says how much was cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated {} bytes]", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_raw_and_url_encoded_secrets() {
        let r = Redactor::new(&["rt/abc+def=", "tok123", ""]);
        assert_eq!(r.redact("a tok123 b"), "a [REDACTED] b");
        assert_eq!(
            r.redact("grant_type=refresh_token&refresh_token=rt%2Fabc%2Bdef%3D"),
            "grant_type=refresh_token&refresh_token=[REDACTED]"
        );
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn sensitive_headers_redacted_whole() {
        let r = Redactor::new(&[]);
        let h = r.headers(&[("Authorization".into(), "Basic dXNlcjpwYXNz".into()), ("Accept".into(), "json".into())]);
        assert_eq!(h[0].1, REDACTED);
        assert_eq!(h[1].1, "json");
    }

    #[test]
    fn truncates_on_char_boundary_after_redacting() {
        let secret = "s".repeat(10);
        // The secret straddles the cut: truncating first would leave its first half behind.
        let body = format!("{}{}", "a".repeat(MAX_BODY_BYTES - 5), secret);
        let out = Redactor::new(&[&secret]).body(&body);
        assert!(out.contains("truncated"));
        assert!(!out.contains("sssss"));
        assert_eq!(truncate("héllo", 2), "h…[truncated 5 bytes]");
    }
}
