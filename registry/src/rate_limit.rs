//! When a response counts as rate limited, and where its limit, remaining and reset are.

use super::{ResponseRule, RuleKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub limited_when: Vec<LimitedWhen>,
    #[serde(default)]
    pub limit: Option<HeaderValue>,
    #[serde(default)]
    pub remaining: Option<HeaderValue>,
    #[serde(default)]
    pub reset: Option<ResetHeader>,
    #[serde(default)]
    pub retry_after: RetryAfter,
    #[serde(default)]
    pub window_seconds: Option<u64>,
}

/// A response is limited when its status is listed and, if given, the header and body
/// conditions hold too (GitHub: 403 with remaining 0; Salesforce: 403 with a body code).
/// A definition always lists the statuses (its schema requires them).
pub type LimitedWhen = ResponseRule<RateLimited>;

/// What a `limited_when` rule's match means, the only thing it can mean: the response is
/// rate limited. Implied, so never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimited;

impl RuleKind for RateLimited {
    fn implied() -> Option<Self> {
        Some(RateLimited)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderValue {
    pub header: String,
    #[serde(default)]
    pub format: NumberFormat,
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberFormat {
    #[default]
    Number,
    /// `used/limit`, as Shopify's `32/40` or Salesforce's `api-usage=10018/100000`.
    UsedOfLimit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetHeader {
    pub header: String,
    pub unit: TimeUnit,
    /// Selects one `,`/`;`-separated entry of a list header (`reset=` in Close's
    /// `ratelimit: limit=240, remaining=0, reset=4`), as for limit and remaining.
    #[serde(default)]
    pub prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryAfter {
    #[serde(default = "retry_after_header")]
    pub header: String,
    #[serde(default)]
    pub unit: RetryAfterUnit,
    #[serde(default)]
    pub prefix: Option<String>,
}

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter { header: retry_after_header(), unit: RetryAfterUnit::Auto, prefix: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterUnit {
    /// Delay-seconds (integer or float) or an HTTP-date, as RFC 9110 allows.
    #[default]
    Auto,
    DeltaSeconds,
    DeltaMillis,
    EpochSeconds,
    EpochMillis,
    HttpDate,
    Iso8601,
}

/// The unit of a reset or retry header: always an explicit choice in a definition, since
/// providers disagree and a wrong guess sleeps for an hour or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    DeltaSeconds,
    DeltaMillis,
    EpochSeconds,
    EpochMillis,
    HttpDate,
    Iso8601,
}

fn retry_after_header() -> String {
    "Retry-After".to_string()
}
