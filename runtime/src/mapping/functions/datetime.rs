//! Dates for `$parseDate` and `$formatDate`: an instant is epoch milliseconds (an `i64`); text
//! is read and written here by hand, with the same rules as the JavaScript twins in
//! `bench/twins.js` (no locale, no time-zone database: offsets only).

use super::args::{fail, trim_ascii};
use super::codes::{BAD_ARGUMENT, BAD_DATE, DATE_OUT_OF_RANGE};
use jsonata_core::evaluator::EvaluatorError;

const MS_PER_DAY: i64 = 86_400_000;
/// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
const MIN_MS: i64 = -62_167_219_200_000;
const MAX_MS: i64 = 253_402_300_799_999;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// The parts of a date read from text, before they are checked.
#[derive(Default)]
struct Parts {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    /// Minutes east of UTC; `None`: no offset written (UTC is assumed).
    offset: Option<i64>,
}

impl Parts {
    fn new() -> Self {
        Parts { month: 1, day: 1, ..Parts::default() }
    }

    fn to_millis(&self, text: &str) -> Result<i64, EvaluatorError> {
        let valid = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour <= 23
            && self.minute <= 59
            && self.second <= 59;
        if !valid {
            return Err(bad_date(text));
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let ms = days * MS_PER_DAY + ((self.hour * 60 + self.minute) * 60 + self.second) * 1000 + self.millis
            - self.offset.unwrap_or(0) * 60_000;
        in_range(ms)
    }
}

fn bad_date(text: &str) -> EvaluatorError {
    fail(BAD_DATE, format!("{text:?} is not a date in a known format"))
}

fn in_range(ms: i64) -> Result<i64, EvaluatorError> {
    if (MIN_MS..=MAX_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(fail(DATE_OUT_OF_RANGE, "the date is outside the years 0000 to 9999"))
    }
}

/// A cursor over ASCII text.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }
    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<i64> {
        let slice = self.bytes.get(self.at..self.at + n)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += n;
        Some(slice.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
    }
    /// One or more digits of a fraction, as milliseconds (truncated).
    fn fraction(&mut self) -> Option<i64> {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let digits = &self.bytes[start..self.at];
        if digits.is_empty() {
            return None;
        }
        Some((0..3).fold(0, |acc, i| acc * 10 + digits.get(i).map_or(0, |d| i64::from(d - b'0'))))
    }
    /// `Z`, `z`, `±HH`, `±HHMM` or `±HH:MM`, as minutes east of UTC.
    fn offset(&mut self) -> Option<i64> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = match self.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.at += 1;
        let hours = self.digits(2)?;
        let minutes = if self.eat(b':') { self.digits(2)? } else { self.digits(2).unwrap_or(0) };
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
    }
    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// ISO 8601 and its provider variants: `YYYY-MM-DD`, then optionally `T` or a space,
/// `HH:MM[:SS[.fraction]]`, then optionally `Z`, `±HH`, `±HHMM` or `±HH:MM`. No offset: UTC.
pub(crate) fn parse_auto(text: &str) -> Result<i64, EvaluatorError> {
    let trimmed = trim_ascii(text);
    let mut s = Scanner { bytes: trimmed.as_bytes(), at: 0 };
    let mut p = Parts::new();
    let read = (|| {
        p.year = s.digits(4)?;
        s.eat(b'-').then_some(())?;
        p.month = s.digits(2)?;
        s.eat(b'-').then_some(())?;
        p.day = s.digits(2)?;
        if s.done() {
            return Some(());
        }
        (s.eat(b'T') || s.eat(b't') || s.eat(b' ')).then_some(())?;
        p.hour = s.digits(2)?;
        s.eat(b':').then_some(())?;
        p.minute = s.digits(2)?;
        if s.eat(b':') {
            p.second = s.digits(2)?;
            if s.eat(b'.') || s.eat(b',') {
                p.millis = s.fraction()?;
            }
        }
        if !s.done() {
            p.offset = Some(s.offset()?);
        }
        s.done().then_some(())
    })();
    read.ok_or_else(|| bad_date(text))?;
    p.to_millis(text)
}

/// Text read with a pattern of `%Y %m %d %H %M %S %f %z %%` and literal characters.
pub(crate) fn parse_pattern(text: &str, pattern: &str) -> Result<i64, EvaluatorError> {
    let mut s = Scanner { bytes: text.as_bytes(), at: 0 };
    let mut p = Parts::new();
    let mut spec = pattern.chars();
    let read = (|| {
        while let Some(c) = spec.next() {
            if c != '%' {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    s.eat(b).then_some(())?;
                }
                continue;
            }
            match spec.next()? {
                'Y' => p.year = s.digits(4)?,
                'm' => p.month = s.digits(2)?,
                'd' => p.day = s.digits(2)?,
                'H' => p.hour = s.digits(2)?,
                'M' => p.minute = s.digits(2)?,
                'S' => p.second = s.digits(2)?,
                'f' => p.millis = s.fraction()?,
                'z' => p.offset = Some(s.offset()?),
                '%' => s.eat(b'%').then_some(())?,
                _ => return None,
            }
        }
        s.done().then_some(())
    })();
    if read.is_none() {
        check_pattern(pattern, "parse")?;
        return Err(fail(BAD_DATE, format!("{text:?} does not match the pattern {pattern:?}")));
    }
    p.to_millis(text)
}

/// An `F0101` for a pattern with a directive we do not know.
fn check_pattern(pattern: &str, verb: &str) -> Result<(), EvaluatorError> {
    let known: &[char] =
        if verb == "parse" { &['Y', 'm', 'd', 'H', 'M', 'S', 'f', 'z', '%'] } else { &['Y', 'm', 'd', 'H', 'M', 'S', 'f', 'z', ':', '%'] };
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(d) if known.contains(&d) => {
                    if d == ':' && chars.next() != Some('z') {
                        return Err(fail(BAD_ARGUMENT, format!("the date pattern {pattern:?} has an unknown directive")));
                    }
                }
                _ => return Err(fail(BAD_ARGUMENT, format!("the date pattern {pattern:?} has an unknown directive"))),
            }
        }
    }
    Ok(())
}

/// Epoch seconds or milliseconds, given as a number or as decimal text; fractions round to
/// the nearest millisecond.
pub(crate) fn parse_epoch(value: EpochInput, unit_ms: f64) -> Result<i64, EvaluatorError> {
    let number = match value {
        EpochInput::Number(n) => n,
        EpochInput::Text(text) => {
            let t = trim_ascii(text);
            let body = t.strip_prefix('-').unwrap_or(t);
            let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
            let ok =
                !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(bad_date(text));
            }
            t.parse::<f64>().map_err(|_| bad_date(text))?
        }
    };
    let ms = (number * unit_ms + 0.5).floor();
    if !ms.is_finite() || ms.abs() > 1e15 {
        return Err(fail(DATE_OUT_OF_RANGE, "the date is outside the years 0000 to 9999"));
    }
    in_range(ms as i64)
}

pub(crate) enum EpochInput<'a> {
    Number(f64),
    Text(&'a str),
}

/// `+05:30`, `-0700`, `+05`, `Z` as minutes east of UTC.
pub(crate) fn parse_offset(text: &str) -> Result<i64, EvaluatorError> {
    let mut s = Scanner { bytes: text.as_bytes(), at: 0 };
    match s.offset() {
        Some(minutes) if s.done() => Ok(minutes),
        _ => Err(fail(BAD_ARGUMENT, format!("{text:?} is not a UTC offset such as \"+05:30\", \"-0700\" or \"Z\""))),
    }
}

/// The fields of an instant seen at `offset` minutes east of UTC.
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
}

fn fields(ms: i64, offset: i64) -> Fields {
    let local = ms + offset * 60_000;
    let days = local.div_euclid(MS_PER_DAY);
    let in_day = local.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Fields { year, month, day, hour: in_day / 3_600_000, minute: in_day / 60_000 % 60, second: in_day / 1000 % 60, millis: in_day % 1000 }
}

fn write_offset(out: &mut String, offset: i64, colon: bool) {
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.abs();
    out.push(sign);
    out.push_str(&format!("{:02}", abs / 60));
    if colon {
        out.push(':');
    }
    out.push_str(&format!("{:02}", abs % 60));
}

/// ISO 8601 with milliseconds: `Z` at offset 0, else `±HH:MM`.
pub(crate) fn format_iso(ms: i64, offset: i64) -> Result<String, EvaluatorError> {
    let ms = in_range(ms)?;
    in_range(ms + offset * 60_000)?;
    let f = fields(ms, offset);
    let mut out = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}", f.year, f.month, f.day, f.hour, f.minute, f.second, f.millis);
    if offset == 0 {
        out.push('Z');
    } else {
        write_offset(&mut out, offset, true);
    }
    Ok(out)
}

/// Writes with a pattern of `%Y %m %d %H %M %S %f %z %:z %%` and literal characters.
pub(crate) fn format_pattern(ms: i64, offset: i64, pattern: &str) -> Result<String, EvaluatorError> {
    check_pattern(pattern, "format")?;
    let ms = in_range(ms)?;
    in_range(ms + offset * 60_000)?;
    let f = fields(ms, offset);
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{:04}", f.year)),
            Some('m') => out.push_str(&format!("{:02}", f.month)),
            Some('d') => out.push_str(&format!("{:02}", f.day)),
            Some('H') => out.push_str(&format!("{:02}", f.hour)),
            Some('M') => out.push_str(&format!("{:02}", f.minute)),
            Some('S') => out.push_str(&format!("{:02}", f.second)),
            Some('f') => out.push_str(&format!("{:03}", f.millis)),
            Some('z') => write_offset(&mut out, offset, false),
            Some(':') => {
                chars.next();
                write_offset(&mut out, offset, true);
            }
            _ => out.push('%'),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for days in [-719_528, -1, 0, 1, 11_016, 19_845, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn provider_formats_parse() {
        let cases = [
            ("2013-02-20T05:30:24.844000+00:00", 1_361_338_224_844),
            ("2024-05-02T14:11:07.000+0000", 1_714_659_067_000),
            ("2024-05-02 14:11:07", 1_714_659_067_000),
            ("2024-05-02T14:11:07.517Z", 1_714_659_067_517),
            ("2024-05-02T19:41:07+05:30", 1_714_659_067_000),
            ("2024-05-02T07:11:07-07:00", 1_714_659_067_000),
            ("2024-05-02", 1_714_608_000_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_auto(text).unwrap(), ms, "{text}");
        }
        for bad in ["2024-02-30", "2024-05-02T25:00", "2024-5-2", "02/05/2024", "2024-05-02T14:11:07+5", ""] {
            assert!(parse_auto(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_write() {
        let ms = 1_714_659_067_517;
        assert_eq!(format_iso(ms, 0).unwrap(), "2024-05-02T14:11:07.517Z");
        assert_eq!(format_iso(ms, 330).unwrap(), "2024-05-02T19:41:07.517+05:30");
        assert_eq!(format_pattern(ms, -420, "%Y-%m-%dT%H:%M:%S.%f%z").unwrap(), "2024-05-02T07:11:07.517-0700");
        assert_eq!(format_iso(MIN_MS, 0).unwrap(), "0000-01-01T00:00:00.000Z");
        assert_eq!(format_iso(MAX_MS, 0).unwrap(), "9999-12-31T23:59:59.999Z");
        assert!(format_iso(MAX_MS + 1, 0).is_err());
    }
}
