//! Telling a live secret from a fake one, for fixtures that get committed.
//!
//! Two rules:
//! - **Known token formats, anywhere**: HubSpot private-app tokens (`pat-na1-…`), Stripe
//!   live keys (`sk_live_…`, `rk_live_…`), GitHub tokens (`ghp_…`, `gho_…`, `ghs_…`,
//!   `ghu_…`, `github_pat_…`), Slack tokens (`xoxb-…`, `xoxp-…`, …), AWS access key ids
//!   (`AKIA…`), Google API keys (`AIza…`) and JWTs (`eyJ….eyJ….…`).
//! - **Credential positions**: a value where a secret goes (a credential, a client secret,
//!   an `Authorization` or `Cookie` header, a field named like `access_token` or
//!   `client_secret`) must be short or plainly fake: a long random-looking string there is
//!   taken for a live secret.
//!
//! A value that says it is fake (`fake`, `test`, `example`, `dummy`, `redacted`, `sample`,
//! `placeholder`, `xxxx`) is never a live secret.

use base64::Engine as _;

const FAKE_MARKERS: &[&str] = &["fake", "test", "example", "dummy", "redacted", "sample", "placeholder", "xxxx", "changeme"];

/// Whether a field or header name says its value is a secret. Names about pages and
/// cursors (`next_page_token`) are not: pagination tokens are opaque but not secret.
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    if ["page", "cursor", "next", "csrf_param"].iter().any(|p| lower.contains(p)) {
        return false;
    }
    const SECRET_PARTS: &[&str] = &[
        "token",
        "secret",
        "password",
        "passwd",
        "authorization",
        "cookie",
        "api_key",
        "apikey",
        "signature",
        "session",
        "private_key",
        "credential",
    ];
    SECRET_PARTS.iter().any(|p| lower.contains(p)) || lower == "code" || lower == "key"
}

/// Whether a value says it is fake.
pub fn is_marked_fake(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    FAKE_MARKERS.iter().any(|m| lower.contains(m))
}

/// Why `value` looks like a live secret, or `None`. `credential_position` says the value
/// sits where a secret goes, which also flags long random-looking strings.
pub fn live_secret_reason(value: &str, credential_position: bool) -> Option<String> {
    if is_marked_fake(value) {
        return None;
    }
    for word in value.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '&' | '=' | '(' | ')' | '<' | '>')) {
        if let Some(kind) = known_format(word) {
            return Some(format!("it looks like {kind}"));
        }
    }
    if !credential_position {
        return None;
    }
    let mut candidates: Vec<String> = vec![value.to_string()];
    // `Bearer xyz`, `Basic base64(user:password)`, `token=xyz`.
    if let Some((scheme, rest)) = value.split_once(' ') {
        if scheme.eq_ignore_ascii_case("basic") {
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) {
                let text = String::from_utf8_lossy(&decoded).into_owned();
                if is_marked_fake(&text) {
                    return None;
                }
                candidates = text.split(':').map(str::to_string).collect();
            }
        } else {
            candidates = vec![rest.trim().to_string()];
        }
    }
    for cookie in value.split(';') {
        if let Some((_, v)) = cookie.split_once('=') {
            candidates.push(v.trim().to_string());
        }
    }
    candidates.iter().find(|c| looks_random(c)).map(|_| "it is a long random-looking value in a credential position".to_string())
}

/// Vendor token formats, as data (`secret_formats.json`).
#[derive(serde::Deserialize)]
struct Format {
    prefix: String,
    /// What follows the prefix: `id` (default: letters, digits, `-`, `_`), `region_then_id`
    /// (`na1-<id>`), or `upper_alnum_16` (exactly 16 upper-case letters and digits).
    #[serde(default)]
    rest: Option<String>,
    min: usize,
    kind: String,
}

fn formats() -> &'static [Format] {
    #[derive(serde::Deserialize)]
    struct File {
        formats: Vec<Format>,
    }
    static FORMATS: std::sync::OnceLock<Vec<Format>> = std::sync::OnceLock::new();
    FORMATS.get_or_init(|| {
        let file: File = serde_json::from_str(include_str!("secret_formats.json")).expect("secret_formats.json is valid (tested)");
        file.formats
    })
}

/// A recognized token format.
fn known_format(word: &str) -> Option<&'static str> {
    let rest_ok = |rest: &str, min: usize| rest.len() >= min && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    for format in formats() {
        let Some(rest) = word.strip_prefix(format.prefix.as_str()) else { continue };
        let matches = match format.rest.as_deref() {
            Some("region_then_id") => rest.split_once('-').is_some_and(|(region, id)| region.len() <= 4 && rest_ok(id, format.min)),
            Some("upper_alnum_16") => rest.len() == 16 && rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            _ => rest_ok(rest, format.min),
        };
        if matches {
            return Some(format.kind.as_str());
        }
    }
    let parts: Vec<&str> = word.split('.').collect();
    if parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].starts_with("eyJ") && parts.iter().all(|p| rest_ok(p, 8)) {
        return Some("a JSON Web Token (`eyJ….eyJ….…`)");
    }
    None
}

/// Long, mixed and high-entropy: what a generated token looks like, and what a human
/// fake (`fake-access-token`, `abc123`) does not.
pub fn looks_random(value: &str) -> bool {
    let value = value.trim();
    if value.len() < 20 || value.contains(' ') || value.starts_with("http") {
        return false;
    }
    let classes = [
        value.chars().any(|c| c.is_ascii_lowercase()),
        value.chars().any(|c| c.is_ascii_uppercase()),
        value.chars().any(|c| c.is_ascii_digit()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let hex = value.len() >= 32 && value.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    (classes >= 2 || hex) && entropy(value) >= 3.5
}

/// Shannon entropy in bits per character.
fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in value.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_formats_anywhere() {
        assert!(live_secret_reason("pat-na1-3f1e2d3c-aaaa-bbbb-cccc-1234567890ab", false).is_some());
        assert!(live_secret_reason("Bearer sk_live_51HqLyjWDarjtT1zdp7dc", false).is_some());
        assert!(live_secret_reason("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", false).is_some());
        assert!(live_secret_reason("xoxb-123456789012-abcdefghijkl", false).is_some());
        assert!(live_secret_reason("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", false)
            .is_some());
        assert!(live_secret_reason("sk_test_fake", false).is_none());
        assert!(live_secret_reason("pat-na1-fake-token-for-fixtures", false).is_none());
    }

    #[test]
    fn credential_positions() {
        assert!(live_secret_reason("CJSP5qf1KhICAQEYs-gDIIGOBiiiqQMyGQAf3xBKmlwHjX7OIpuIFEavB2", true).is_some());
        assert!(live_secret_reason("Bearer CJSP5qf1KhICAQEYs-gDIIGOBiiiqQMyGQAf3xBKmlwHjX7OIpuIFEavB2", true).is_some());
        assert!(live_secret_reason("CJSP5qf1KhICAQEYs-gDIIGOBiiiqQMyGQAf3xBKmlwHjX7OIpuIFEavB2", false).is_none());
        assert!(live_secret_reason("Bearer fake-access-token", true).is_none());
        assert!(live_secret_reason("Basic ZmFrZS1jbGllbnQtaWQ6ZmFrZS1jbGllbnQtc2VjcmV0", true).is_none());
        let real_basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("app:Q7vR2xL9mN4pK8sT1wZ3yB6c"));
        assert!(live_secret_reason(&real_basic, true).is_some());
        assert!(live_secret_reason("abc123", true).is_none());
    }

    #[test]
    fn secret_names() {
        for name in ["access_token", "Authorization", "client_secret", "Set-Cookie", "X-API-Key", "refresh_token", "code"] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["after", "next_page_token", "nextPageToken", "limit", "email", "cursor"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }
}
