//! Parsing of single header values: counts, `used/limit` ratios and times in every unit.
//!
//! Everything here is total: any input gives a value or a [`ParseError`], never a panic. Times are
//! computed in nanoseconds (`i128`, no overflow for any accepted input) and rounded up to whole
//! seconds only at the end, so `1.2` is 2 and an HTTP-date 2.5 s ahead is 3.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset};

use crate::registry::{NumberFormat, RetryAfterUnit, TimeUnit};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Plausible Unix times for an `epoch_*` unit: 2000-01-01 to 3000-01-01 (in seconds). A value
/// outside is almost surely a unit mix-up in the definition (a delta read as epoch, the Airbyte
/// CDK bug, or millis read as seconds); reading it would give a wrong number, so it is rejected.
const EPOCH_MIN_SECS: i128 = 946_684_800;
const EPOCH_MAX_SECS: i128 = 32_503_680_000;

/// Why a header value was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the value is not visible ASCII text")]
    NotText,
    #[error("the header is repeated with different values")]
    Conflicting,
    #[error("the value is empty")]
    Empty,
    #[error("no `,`/`;`-separated entry starts with the definition's prefix")]
    MissingPrefix,
    #[error("expected a whole non-negative number")]
    NotACount,
    #[error("expected `used/limit`, two whole non-negative numbers")]
    NotUsedOfLimit,
    #[error("expected a non-negative decimal number (like `2` or `2.0`)")]
    NotADecimal,
    #[error("the number is too large")]
    OutOfRange,
    #[error("expected a Unix time between the years 2000 and 3000; is the unit right?")]
    ImplausibleEpoch,
    #[error("expected an HTTP-date (like `Tue, 23 May 2023 14:42:01 GMT`)")]
    NotAnHttpDate,
    #[error("expected an ISO 8601 timestamp with an offset (like `2024-06-01T09:00Z`)")]
    NotIso8601,
    #[error("expected delay-seconds or an HTTP-date")]
    NotRetryAfter,
}

/// The time units a reset or retry header may use (`auto` only for retry headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    DeltaSeconds,
    DeltaMillis,
    EpochSeconds,
    EpochMillis,
    HttpDate,
    Iso8601,
    Auto,
}

impl From<TimeUnit> for Unit {
    fn from(unit: TimeUnit) -> Self {
        match unit {
            TimeUnit::DeltaSeconds => Unit::DeltaSeconds,
            TimeUnit::DeltaMillis => Unit::DeltaMillis,
            TimeUnit::EpochSeconds => Unit::EpochSeconds,
            TimeUnit::EpochMillis => Unit::EpochMillis,
            TimeUnit::HttpDate => Unit::HttpDate,
            TimeUnit::Iso8601 => Unit::Iso8601,
        }
    }
}

impl From<RetryAfterUnit> for Unit {
    fn from(unit: RetryAfterUnit) -> Self {
        match unit {
            RetryAfterUnit::Auto => Unit::Auto,
            RetryAfterUnit::DeltaSeconds => Unit::DeltaSeconds,
            RetryAfterUnit::DeltaMillis => Unit::DeltaMillis,
            RetryAfterUnit::EpochSeconds => Unit::EpochSeconds,
            RetryAfterUnit::EpochMillis => Unit::EpochMillis,
            RetryAfterUnit::HttpDate => Unit::HttpDate,
            RetryAfterUnit::Iso8601 => Unit::Iso8601,
        }
    }
}

/// What a `limit` or `remaining` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UsedOfLimit {
    pub used: u64,
    pub limit: u64,
}

/// Applies a HeaderValue's `prefix`: the value may hold several entries separated by `,` or `;`
/// (Salesforce appends `; per-app-api-usage=17/250(appName=…)`); the first entry that starts with
/// the prefix is used, without the prefix. Without a prefix the whole value is used.
pub(crate) fn strip_prefix<'a>(text: &'a str, prefix: Option<&str>) -> Result<&'a str, ParseError> {
    match prefix {
        None | Some("") => Ok(text),
        Some(prefix) => text
            .split([',', ';'])
            .map(str::trim)
            .find_map(|entry| entry.strip_prefix(prefix))
            .map(str::trim)
            .ok_or(ParseError::MissingPrefix),
    }
}

/// A whole non-negative number; `40.0` (zero fraction) is accepted, `39.5` is not.
pub(crate) fn parse_count(text: &str) -> Result<u64, ParseError> {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f) || f.bytes().any(|b| b != b'0')) {
        return Err(ParseError::NotACount);
    }
    int.parse::<u64>().map_err(|_| ParseError::OutOfRange)
}

/// `used/limit`, as Shopify's `32/40` or Salesforce's `10018/100000` (after the prefix).
pub(crate) fn parse_used_of_limit(text: &str) -> Result<UsedOfLimit, ParseError> {
    let (used, limit) = text.split_once('/').ok_or(ParseError::NotUsedOfLimit)?;
    let count = |part: &str| match parse_count(part.trim()) {
        Err(ParseError::OutOfRange) => Err(ParseError::OutOfRange),
        Err(_) => Err(ParseError::NotUsedOfLimit),
        ok => ok,
    };
    Ok(UsedOfLimit { used: count(used)?, limit: count(limit)? })
}

/// Reads a count in the given format: for `limit` the count itself or the ratio's limit.
pub(crate) fn parse_limit(text: &str, format: NumberFormat) -> Result<u64, ParseError> {
    match format {
        NumberFormat::Number => parse_count(text),
        NumberFormat::UsedOfLimit => parse_used_of_limit(text).map(|r| r.limit),
    }
}

/// Reads a count in the given format: for `remaining` the count itself or limit − used
/// (0 when a bucket reports more used than its limit, as a leaky bucket briefly can).
pub(crate) fn parse_remaining(text: &str, format: NumberFormat) -> Result<u64, ParseError> {
    match format {
        NumberFormat::Number => parse_count(text),
        NumberFormat::UsedOfLimit => parse_used_of_limit(text).map(|r| r.limit.saturating_sub(r.used)),
    }
}

/// Seconds from `now` until the time a header names, rounded up; 0 when it is in the past.
pub(crate) fn parse_seconds_until(text: &str, unit: Unit, now: SystemTime) -> Result<u64, ParseError> {
    let now = system_time_nanos(now);
    let delta = match unit {
        Unit::DeltaSeconds => decimal_nanos(text, 9)?,
        Unit::DeltaMillis => decimal_nanos(text, 6)?,
        Unit::EpochSeconds => epoch_nanos(text, 9)? - now,
        Unit::EpochMillis => epoch_nanos(text, 6)? - now,
        Unit::HttpDate => http_date_nanos(text).ok_or(ParseError::NotAnHttpDate)? - now,
        Unit::Iso8601 => iso8601_nanos(text).ok_or(ParseError::NotIso8601)? - now,
        Unit::Auto => {
            // RFC 9110 §10.2.3: delay-seconds or an HTTP-date; a float (Shopify's `2.0`) is
            // accepted as seconds too.
            if text.starts_with(|c: char| c.is_ascii_digit()) {
                match decimal_nanos(text, 9) {
                    Err(ParseError::OutOfRange) => return Err(ParseError::OutOfRange),
                    Err(_) => return Err(ParseError::NotRetryAfter),
                    Ok(nanos) => nanos,
                }
            } else {
                http_date_nanos(text).ok_or(ParseError::NotRetryAfter)? - now
            }
        }
    };
    ceil_seconds(delta)
}

fn ceil_seconds(nanos: i128) -> Result<u64, ParseError> {
    if nanos <= 0 {
        return Ok(0);
    }
    // `nanos` is below 10^30 for every accepted input, so this cannot overflow.
    u64::try_from((nanos + NANOS_PER_SEC - 1) / NANOS_PER_SEC).map_err(|_| ParseError::OutOfRange)
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A non-negative decimal `digits[.digits]` times 10^`scale`, rounded up. `scale` 9 reads seconds
/// as nanoseconds, 6 reads milliseconds as nanoseconds. No sign, exponent, `inf` or `NaN`: those
/// are what `f64::from_str` would let through.
fn decimal_nanos(text: &str, scale: u32) -> Result<i128, ParseError> {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (text, ""),
    };
    if !all_digits(int) || (text.contains('.') && !all_digits(frac)) {
        return Err(ParseError::NotADecimal);
    }
    let int: u64 = int.parse().map_err(|_| ParseError::OutOfRange)?;
    let mut value = i128::from(int) * 10i128.pow(scale);
    let mut digits = frac.bytes();
    for place in (0..scale).rev() {
        if let Some(d) = digits.next() {
            value += i128::from(d - b'0') * 10i128.pow(place);
        }
    }
    if digits.any(|d| d != b'0') {
        value += 1; // round up what is below a nanosecond
    }
    Ok(value)
}

fn epoch_nanos(text: &str, scale: u32) -> Result<i128, ParseError> {
    let nanos = match decimal_nanos(text, scale) {
        Ok(nanos) => nanos,
        Err(ParseError::OutOfRange) => return Err(ParseError::ImplausibleEpoch),
        Err(e) => return Err(e),
    };
    if !(EPOCH_MIN_SECS * NANOS_PER_SEC..=EPOCH_MAX_SECS * NANOS_PER_SEC).contains(&nanos) {
        return Err(ParseError::ImplausibleEpoch);
    }
    Ok(nanos)
}

/// Nanoseconds since the Unix epoch (negative before it).
pub(crate) fn system_time_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// IMF-fixdate, RFC 850 or asctime, as RFC 9110 §5.6.7 requires recipients to accept.
fn http_date_nanos(text: &str) -> Option<i128> {
    httpdate::parse_http_date(text).ok().map(system_time_nanos)
}

/// RFC 3339, or ISO 8601 without seconds (Jira's `yyyy-MM-ddTHH:mmZ`), always with an offset:
/// a timestamp without one is ambiguous, so it is rejected rather than guessed as UTC.
fn iso8601_nanos(text: &str) -> Option<i128> {
    let parsed = DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        // `Z` is not accepted by chrono's `%z`; spell it as an offset.
        let normalized = match text.strip_suffix(['Z', 'z']) {
            Some(rest) => format!("{rest}+00:00"),
            None => text.to_owned(),
        };
        const FORMATS: [&str; 4] = ["%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%:z"];
        FORMATS.iter().find_map(|f| DateTime::<FixedOffset>::parse_from_str(&normalized, f).ok())
    })?;
    Some(i128::from(parsed.timestamp()) * NANOS_PER_SEC + i128::from(parsed.timestamp_subsec_nanos()))
}
