//! A response's rate-limit state, and the headers it becomes: a leaf (it uses nothing else of
//! the crate), so an error can carry one without depending on how a response is read.

use reqwest::header::{HeaderMap, HeaderName};
use sfv::{Integer, KeyRef, ListSerializer, StringRef};

/// A response's rate-limit state, normalized from the provider's headers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateLimitStatus {
    pub limited: bool,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Seconds until the window resets (rounded up), from `reset` per its unit.
    pub reset_seconds: Option<u64>,
    /// Seconds to wait (rounded up), from `retry_after` per its unit; only meaningful when limited.
    pub retry_after_seconds: Option<u64>,
    pub window_seconds: Option<u64>,
}

impl RateLimitStatus {
    /// The normalized headers returned to callers, in this order: `ratelimit-limit`,
    /// `ratelimit-remaining`, `ratelimit-reset` (the early IETF draft, seconds until reset — the
    /// form Truto documents), `RateLimit-Policy` and `RateLimit` (the latest draft's structured
    /// fields: `RateLimit-Policy: "default";q=<limit>;w=<window>`,
    /// `RateLimit: "default";r=<remaining>;t=<reset seconds>`), and `Retry-After` (delay-seconds)
    /// when limited: the provider's retry delay, or else the seconds until the reset. Each only
    /// when its inputs are known.
    ///
    /// The names are not all lowercase: build `HeaderName`s with `HeaderName::try_from` (which
    /// lowercases), not `from_static` (which panics on uppercase), or use [`Self::header_map`].
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        if let Some(limit) = self.limit {
            out.push(("ratelimit-limit", limit.to_string()));
        }
        if let Some(remaining) = self.remaining {
            out.push(("ratelimit-remaining", remaining.to_string()));
        }
        if let Some(reset) = self.reset_seconds {
            out.push(("ratelimit-reset", reset.to_string()));
        }
        if let Some(policy) = structured((Q, self.limit), (W, self.window_seconds)) {
            out.push(("RateLimit-Policy", policy));
        }
        if let Some(state) = structured((R, self.remaining), (T, self.reset_seconds)) {
            out.push(("RateLimit", state));
        }
        // A limited answer without the provider's own Retry-After still says when to come
        // back: when the window resets (GitHub's 403 gives only `x-ratelimit-reset`).
        if let (true, Some(retry)) = (self.limited, self.retry_after_seconds.or(self.reset_seconds)) {
            out.push(("Retry-After", retry.to_string()));
        }
        out
    }

    /// [`Self::headers`] as a `HeaderMap` (names lowercased, as HTTP/2 sends them).
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in self.headers() {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), reqwest::header::HeaderValue::try_from(value)) {
                map.append(name, value);
            }
        }
        map
    }
}

const DEFAULT_POLICY: &StringRef = StringRef::constant("default");
const Q: &KeyRef = KeyRef::constant("q");
const W: &KeyRef = KeyRef::constant("w");
const R: &KeyRef = KeyRef::constant("r");
const T: &KeyRef = KeyRef::constant("t");

/// `"default";<required>=<value>[;<optional>=<value>]` as a one-member Structured Field list, or
/// `None` when the required value is unknown or beyond what a Structured Field integer can hold
/// (an optional value out of range is left out).
fn structured(required: (&KeyRef, Option<u64>), optional: (&KeyRef, Option<u64>)) -> Option<String> {
    let value = Integer::try_from(required.1?).ok()?;
    let extra = optional.1.and_then(|v| Integer::try_from(v).ok());
    let mut list = ListSerializer::new();
    let item = list.bare_item(DEFAULT_POLICY).parameter(required.0, value);
    _ = match extra {
        Some(extra) => item.parameter(optional.0, extra),
        None => item,
    };
    list.finish()
}
