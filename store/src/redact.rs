//! Redaction and truncation of logged exchanges.
//!
//! The caller names the secret values in play (the account's tokens, the client secret); every
//! occurrence of each, raw or URL-encoded (as in a form-encoded token request), becomes `[REDACTED]`.
//! Headers that carry credentials by nature are redacted whole. Redaction runs before truncation, so a
//! cut never leaves part of a secret behind.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
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
    /// All the needles, found in one pass over the text (a logged page is tens of kilobytes,
    /// and there are a few forms of each of a few secrets).
    finder: Option<AhoCorasick>,
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
        // A finder that cannot be built (never, for a handful of needles) redacts with plain
        // searches instead.
        let finder = if needles.is_empty() {
            None
        } else {
            // An NFA: a DFA searches no faster here and takes five times as long to build, for
            // each log entry.
            AhoCorasick::builder().kind(Some(AhoCorasickKind::NoncontiguousNFA)).build(&needles).ok()
        };
        Redactor { needles, finder }
    }

    /// Every byte that any needle covers, wherever occurrences overlap (one secret inside or
    /// across another), is replaced: each run of covered text becomes one `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let mut covered: Vec<(usize, usize)> = match &self.finder {
            Some(finder) => finder.find_overlapping_iter(text).map(|m| (m.start(), m.end())).collect(),
            None => self.needles.iter().flat_map(|n| text.match_indices(n.as_str()).map(|(at, n)| (at, at + n.len()))).collect(),
        };
        if covered.is_empty() {
            return text.to_owned();
        }
        covered.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut written = 0;
        let mut run: Option<(usize, usize)> = None;
        for (start, end) in covered {
            match &mut run {
                Some((_, run_end)) if start <= *run_end => *run_end = (*run_end).max(end),
                _ => {
                    if let Some((run_start, run_end)) = run.replace((start, end)) {
                        out.push_str(&text[written..run_start]);
                        out.push_str(REDACTED);
                        written = run_end;
                    }
                }
            }
        }
        if let Some((run_start, run_end)) = run {
            out.push_str(&text[written..run_start]);
            out.push_str(REDACTED);
            written = run_end;
        }
        out.push_str(&text[written..]);
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
    fn overlapping_secrets_leave_nothing_behind() {
        let r = Redactor::new(&["abc", "bcdefgh", "xyz"]);
        assert_eq!(r.redact("1abcdefgh2"), "1[REDACTED]2", "one secret running into another");
        assert_eq!(r.redact("abc abc,xyzxyz"), "[REDACTED] [REDACTED],[REDACTED]");
        let r = Redactor::new(&["token-long-value", "long"]);
        assert_eq!(r.redact("a token-long-value b long c"), "a [REDACTED] b [REDACTED] c", "a secret inside another");
        assert_eq!(Redactor::new(&["é"]).redact("café é"), "caf[REDACTED] [REDACTED]");
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
