//! Redaction of secrets: the one redaction applied to everything a provider says that is
//! stored, logged or returned (the exchange log, status reasons, refresh errors, API error
//! answers, tracing fields).
//!
//! The caller names the secret values in play (the account's credentials and secret connection
//! fields, the install's client secret, tokens a token response just returned); every occurrence
//! of each becomes `[REDACTED]`, in whatever common encoding it travels:
//!
//! - as is, and with spaces as `+` (form encoding);
//! - percent-encoded, whichever characters were escaped and in upper or lower hex
//!   (`%2F%2B%3D%21~`, `%2f%2b`, `%2D`…), JSON-escaped (`\/`, `\uXXXX`, `\"`…) and
//!   HTML-escaped (`&amp;`, `&#x2F;`…): the text is also searched decoded, twice (a JSON string
//!   holding a percent-encoded form, a form value holding JSON), and a match there redacts the
//!   encoded text it came from;
//! - base64, standard and url-safe, at any alignment (the secret inside a longer encoded text,
//!   such as `user:password` in a Basic credential): the characters that encode only the secret's
//!   bytes are searched for.
//!
//! A secret shorter than [`MIN_SECRET_LEN`] characters is not searched for: it would destroy
//! ordinary words and numbers, and says little on its own. Text cut from a longer one (a body
//! excerpt) also loses a trailing fragment of [`MIN_SECRET_LEN`] bytes or more that starts a
//! secret ([`Redactor::redact_cut`]).
//!
//! Headers that carry credentials by nature are redacted whole. Redaction runs before
//! truncation, so a cut never leaves part of a secret behind.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

pub const REDACTED: &str = "[REDACTED]";
/// Secrets shorter than this (in characters) are not redacted.
pub const MIN_SECRET_LEN: usize = 6;
/// Bodies longer than this (in bytes) are cut.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Header values longer than this are cut.
pub const MAX_HEADER_VALUE_BYTES: usize = 1024;
/// At most this many headers are kept per direction.
pub const MAX_HEADERS: usize = 64;

/// Text is decoded this many bytes at a time (see [`Redactor::covered`]).
const DECODE_WINDOW: usize = 256 * 1024;

/// Headers whose values are credentials whatever the caller says.
const SENSITIVE_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token", "x-access-token"];

/// Replaces a given set of secret values in text, in every common encoding.
#[derive(Clone)]
pub struct Redactor {
    /// What is searched for: each secret as is, with `+` for spaces, and its base64 cores.
    needles: Vec<Vec<u8>>,
    /// All the needles, found in one pass over the text (a logged page is tens of kilobytes,
    /// and there are a few forms of each of a few secrets).
    finder: Option<AhoCorasick>,
    /// The forms whose start may be left at the end of a cut text: as is, JSON-escaped,
    /// percent-encoded.
    prefixes: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} needles)", self.needles.len())
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[])
    }
}

impl Redactor {
    pub fn new(secrets: &[&str]) -> Self {
        Redactor::from_secrets(secrets)
    }

    /// A redactor of `secrets` (empty ones and ones shorter than [`MIN_SECRET_LEN`] are skipped).
    pub fn from_secrets<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        let mut prefixes: Vec<Vec<u8>> = Vec::new();
        let add = |list: &mut Vec<Vec<u8>>, needle: Vec<u8>| {
            if needle.len() >= MIN_SECRET_LEN && !list.contains(&needle) {
                list.push(needle);
            }
        };
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.chars().count() < MIN_SECRET_LEN {
                continue;
            }
            add(&mut needles, secret.as_bytes().to_vec());
            if secret.contains(' ') {
                add(&mut needles, secret.replace(' ', "+").into_bytes());
            }
            for core in base64_cores(secret.as_bytes()) {
                add(&mut needles, core);
            }
            add(&mut prefixes, secret.as_bytes().to_vec());
            add(&mut prefixes, secret.replace('/', "\\/").into_bytes());
            add(&mut prefixes, utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string().into_bytes());
        }
        // A finder that cannot be built (never, for a handful of needles) redacts with plain
        // searches instead.
        let finder = if needles.is_empty() {
            None
        } else {
            // A contiguous NFA: it searches a logged page faster than the default noncontiguous
            // one, and a DFA takes several times as long to build, for each log entry.
            AhoCorasick::builder().kind(Some(AhoCorasickKind::ContiguousNFA)).build(&needles).ok()
        };
        Redactor { needles, finder, prefixes }
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// Every byte that any form of any secret covers, wherever occurrences overlap (one secret
    /// inside or across another), is replaced: each run of covered text becomes one `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        self.redact_text(text, false)
    }

    /// [`Redactor::redact`] for text cut from a longer one: a trailing fragment that starts a
    /// secret (as is, JSON-escaped or percent-encoded), of [`MIN_SECRET_LEN`] bytes or more, goes
    /// too.
    pub fn redact_cut(&self, text: &str) -> String {
        self.redact_text(text, true)
    }

    /// [`Redactor::redact`] for bytes that may not be text (a proxied body).
    pub fn redact_bytes(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let covered = self.covered(bytes, false);
        (!covered.is_empty()).then(|| replace(bytes, covered))
    }

    fn redact_text(&self, text: &str, cut: bool) -> String {
        let mut covered = self.covered(text.as_bytes(), cut);
        if covered.is_empty() {
            return text.to_owned();
        }
        // Whole characters only (a match always starts and ends on one in valid text; this
        // keeps the output valid whatever happens).
        for (start, end) in covered.iter_mut() {
            while !text.is_char_boundary(*start) {
                *start -= 1;
            }
            while !text.is_char_boundary(*end) {
                *end += 1;
            }
        }
        let bytes = replace(text.as_bytes(), covered);
        String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// The byte ranges of `text` to redact: matches in the text, and in its decoded views mapped
    /// back to the encoded text they came from; with `cut`, a trailing fragment too.
    fn covered(&self, text: &[u8], cut: bool) -> Vec<(usize, usize)> {
        let mut covered = Vec::new();
        if self.needles.is_empty() {
            return covered;
        }
        covered.extend(self.find(text));
        if has_escapes(text) {
            // Decoded a window at a time, so a large body costs a bounded amount of memory: each
            // window overlaps the next by more than the longest encoded form of a needle (twice
            // encoded, one byte takes at most 18: `\u0025\u0032\u0046` is `/`), so a form that
            // starts in a window ends in it.
            let longest = self.needles.iter().map(Vec::len).max().unwrap_or(0);
            let overlap = 24 * longest + 24;
            let mut start = 0;
            loop {
                let end = text.len().min(start + DECODE_WINDOW + overlap);
                covered.extend(self.find_decoded(&text[start..end]).into_iter().map(|(from, to)| (start + from, start + to)));
                start += DECODE_WINDOW;
                if end == text.len() {
                    break;
                }
            }
        }
        if cut {
            covered.extend(self.trailing_fragment(text).map(|start| (start, text.len())));
        }
        covered
    }

    /// Matches in `text` decoded once and twice, as ranges of `text`.
    fn find_decoded(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut covered = Vec::new();
        if let Some(once) = decode(text, None) {
            covered.extend(self.find(&once.bytes).into_iter().map(|(start, end)| once.original(start, end)));
            if once.escapes_made {
                if let Some(twice) = decode(&once.bytes, Some(&once.spans)) {
                    covered.extend(self.find(&twice.bytes).into_iter().map(|(start, end)| twice.original(start, end)));
                }
            }
        }
        covered
    }

    fn find(&self, haystack: &[u8]) -> Vec<(usize, usize)> {
        match &self.finder {
            Some(finder) => finder.find_overlapping_iter(haystack).map(|m| (m.start(), m.end())).collect(),
            None => self
                .needles
                .iter()
                .flat_map(|n| haystack.windows(n.len()).enumerate().filter(|(_, w)| *w == n.as_slice()).map(|(at, _)| (at, at + n.len())))
                .collect(),
        }
    }

    /// Where the longest suffix of `text` that begins a secret (and is not all of it) starts,
    /// when it is at least [`MIN_SECRET_LEN`] bytes long.
    fn trailing_fragment(&self, text: &[u8]) -> Option<usize> {
        if text.len() < MIN_SECRET_LEN {
            return None;
        }
        self.prefixes
            .iter()
            .filter_map(|form| {
                let longest = (form.len() - 1).min(text.len());
                (text.len() - longest..=text.len().saturating_sub(MIN_SECRET_LEN)).find(|&start| form.starts_with(&text[start..]))
            })
            .min()
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

/// The ranges merged, each run replaced by one `[REDACTED]`.
fn replace(text: &[u8], mut covered: Vec<(usize, usize)>) -> Vec<u8> {
    covered.sort_unstable();
    let mut out = Vec::with_capacity(text.len());
    let mut written = 0;
    let mut run: Option<(usize, usize)> = None;
    for (start, end) in covered {
        match &mut run {
            Some((_, run_end)) if start <= *run_end => *run_end = (*run_end).max(end),
            _ => {
                if let Some((run_start, run_end)) = run.replace((start, end)) {
                    out.extend_from_slice(&text[written..run_start]);
                    out.extend_from_slice(REDACTED.as_bytes());
                    written = run_end;
                }
            }
        }
    }
    if let Some((run_start, run_end)) = run {
        out.extend_from_slice(&text[written..run_start]);
        out.extend_from_slice(REDACTED.as_bytes());
        written = run_end;
    }
    out.extend_from_slice(&text[written..]);
    out
}

/// The base64 characters that encode nothing but `secret`'s bytes, whatever precedes it in the
/// encoded text (0, 1 or 2 bytes modulo 3), in the standard and the url-safe alphabet.
fn base64_cores(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for lead in 0..3usize {
        let mut bytes = vec![0u8; lead];
        bytes.extend_from_slice(secret);
        // Character i carries bits 6i..6i+6: the first wholly inside the secret starts at or
        // after bit 8·lead, the last ends at or before bit 8·(lead + len).
        let first = (8 * lead).div_ceil(6);
        let end = 8 * (lead + secret.len()) / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&bytes).into_bytes();
            if first < end && end <= encoded.len() {
                let core = encoded[first..end].to_vec();
                if !out.contains(&core) {
                    out.push(core);
                }
            }
        }
    }
    out
}

fn has_escapes(text: &[u8]) -> bool {
    text.iter().any(|b| matches!(b, b'%' | b'\\' | b'&'))
}

/// Text with one level of escapes decoded; each byte remembers the range of the original text
/// it came from.
struct Decoded {
    bytes: Vec<u8>,
    /// Start and end in the original text (a window of at most a few hundred KiB).
    spans: Vec<(u32, u32)>,
    /// Whether decoding made a `%`, `\` or `&` (`%25`, `\\`, `&amp;`): only then can a second
    /// decoding find more.
    escapes_made: bool,
}

impl Decoded {
    /// The original range a match `start..end` in the decoded bytes came from.
    fn original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.spans[start].0 as usize, self.spans[end - 1].1 as usize)
    }
}

/// Decodes percent escapes (`%2F`, `%2f`), JSON escapes (`\/`, `\"`, `\n`, `\u00e9`, surrogate
/// pairs) and HTML character references (`&amp;`, `&#47;`, `&#x2F;`) in `input`; `None` when
/// there were none. `spans` maps `input` to the original text (when `input` is itself decoded).
fn decode(input: &[u8], spans: Option<&[(u32, u32)]>) -> Option<Decoded> {
    let mut out = Decoded { bytes: Vec::with_capacity(input.len()), spans: Vec::with_capacity(input.len()), escapes_made: false };
    let mut changed = false;
    let mut at = 0;
    while at < input.len() {
        // A run without escapes is copied as it is.
        let run = input[at..].iter().position(|b| matches!(b, b'%' | b'\\' | b'&')).unwrap_or(input.len() - at);
        if run > 0 {
            out.bytes.extend_from_slice(&input[at..at + run]);
            match spans {
                Some(spans) => out.spans.extend_from_slice(&spans[at..at + run]),
                None => out.spans.extend((at as u32..(at + run) as u32).map(|i| (i, i + 1))),
            }
            at += run;
            continue;
        }
        let (decoded, used) = match input[at] {
            b'%' => percent_escape(&input[at..]),
            b'\\' => json_escape(&input[at..]),
            _ => html_reference(&input[at..]),
        };
        let span = match spans {
            Some(spans) => (spans[at].0, spans[at + used - 1].1),
            None => (at as u32, (at + used) as u32),
        };
        match decoded {
            Some(Unit::Byte(byte)) => {
                out.escapes_made |= matches!(byte, b'%' | b'\\' | b'&');
                out.bytes.push(byte);
                out.spans.push(span);
                changed = true;
            }
            Some(Unit::Char(c)) => {
                out.escapes_made |= matches!(c, '%' | '\\' | '&');
                let mut buffer = [0u8; 4];
                for byte in c.encode_utf8(&mut buffer).bytes() {
                    out.bytes.push(byte);
                    out.spans.push(span);
                }
                changed = true;
            }
            None => {
                out.bytes.push(input[at]);
                out.spans.push(match spans {
                    Some(spans) => spans[at],
                    None => (at as u32, at as u32 + 1),
                });
            }
        }
        at += if decoded.is_some() { used } else { 1 };
    }
    changed.then_some(out)
}

enum Unit {
    Byte(u8),
    Char(char),
}

fn hex(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

fn percent_escape(text: &[u8]) -> (Option<Unit>, usize) {
    match text.get(1..3).and_then(hex) {
        Some(byte) => (Some(Unit::Byte(byte as u8)), 3),
        None => (None, 1),
    }
}

fn json_escape(text: &[u8]) -> (Option<Unit>, usize) {
    let simple = match text.get(1) {
        Some(b'"') => Some(b'"'),
        Some(b'\\') => Some(b'\\'),
        Some(b'/') => Some(b'/'),
        Some(b'b') => Some(8),
        Some(b'f') => Some(12),
        Some(b'n') => Some(b'\n'),
        Some(b'r') => Some(b'\r'),
        Some(b't') => Some(b'\t'),
        _ => None,
    };
    if let Some(byte) = simple {
        return (Some(Unit::Byte(byte)), 2);
    }
    let unit = |at: usize| if text.get(at..at + 2) == Some(b"\\u") { text.get(at + 2..at + 6).and_then(hex) } else { None };
    match unit(0) {
        Some(high @ 0xD800..=0xDBFF) => match unit(6) {
            Some(low @ 0xDC00..=0xDFFF) => {
                let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00));
                (c.map(Unit::Char), 12)
            }
            _ => (None, 1),
        },
        Some(code) => (char::from_u32(code).map(Unit::Char), 6),
        None => (None, 1),
    }
}

fn html_reference(text: &[u8]) -> (Option<Unit>, usize) {
    let Some(end) = text.iter().take(12).position(|&b| b == b';') else { return (None, 1) };
    let name = &text[1..end];
    let c = match name {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        _ => match name {
            [b'#', b'x' | b'X', digits @ ..] => hex(digits).and_then(char::from_u32),
            [b'#', digits @ ..] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
                std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).and_then(char::from_u32)
            }
            _ => None,
        },
    };
    match c {
        Some(c) => (Some(Unit::Char(c)), end + 1),
        None => (None, 1),
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

    const SPECIAL: &str = "tok-Two.SPECIAL/x+y=z!~";

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
    fn every_common_encoding_is_redacted() {
        let r = Redactor::new(&[SPECIAL]);
        for (text, expected) in [
            ("k=tok-Two.SPECIAL/x+y=z!~;", "k=[REDACTED];"),
            (r#""k":"tok-Two.SPECIAL\/x+y=z!~""#, r#""k":"[REDACTED]""#),
            (r#""k":"tok-Two.SPECIAL\u002Fx\u002by=z!~""#, r#""k":"[REDACTED]""#),
            ("k=tok-Two.SPECIAL%2Fx%2By%3Dz%21~&n=1", "k=[REDACTED]&n=1"),
            ("k=tok-Two.SPECIAL%2fx%2by%3dz%21%7e&n=1", "k=[REDACTED]&n=1"),
            ("k=tok%2DTwo%2ESPECIAL%2Fx%2By%3Dz%21%7E", "k=[REDACTED]"),
            ("k=tok-Two.SPECIAL%2Fx%2By%3Dz!~", "k=[REDACTED]"),
            ("<p>tok-Two.SPECIAL&#x2F;x+y=z!~</p>", "<p>[REDACTED]</p>"),
            // A JSON string holding a percent-encoded form, and a form value holding JSON.
            (r#""next":"https:\/\/h\/?k=tok-Two.SPECIAL%2Fx%2By%3Dz%21~""#, r#""next":"https:\/\/h\/?k=[REDACTED]""#),
            ("q=%7B%22k%22%3A%22tok-Two.SPECIAL%5C%2Fx%2By%3Dz!~%22%7D", "q=%7B%22k%22%3A%22[REDACTED]%22%7D"),
        ] {
            assert_eq!(r.redact(text), expected, "{text}");
        }
        let spaced = Redactor::new(&["correct horse battery"]);
        assert_eq!(spaced.redact("p=correct+horse+battery&x=1"), "p=[REDACTED]&x=1");
        assert_eq!(spaced.redact("p=correct%20horse%20battery"), "p=[REDACTED]");
    }

    #[test]
    fn base64_is_redacted_at_any_alignment() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let r = Redactor::new(&[SPECIAL]);
        for prefix in ["", "u:", "us:", "user:"] {
            for engine in [&STANDARD, &URL_SAFE] {
                let encoded = engine.encode(format!("{prefix}{SPECIAL}"));
                let out = r.redact(&format!("Basic {encoded} end"));
                assert!(out.contains(REDACTED) && out.ends_with(" end"), "{prefix}: {encoded} → {out}");
                // What is left of the encoding carries at most the prefix and a few bits.
                let left = out.trim_start_matches("Basic ").trim_end_matches(" end").replace(REDACTED, "");
                assert!(left.len() <= prefix.len() * 4 / 3 + 4, "{prefix}: {out}");
            }
        }
    }

    #[test]
    fn short_secrets_are_not_searched_for() {
        let r = Redactor::new(&["12345", "abcdef"]);
        assert_eq!(r.redact("page 12345 of abcdef"), "page 12345 of [REDACTED]");
        assert!(Redactor::new(&["short"]).is_empty());
    }

    #[test]
    fn a_cut_text_loses_the_start_of_a_secret() {
        let r = Redactor::new(&[SPECIAL]);
        assert_eq!(r.redact_cut("token: tok-Two.SP"), "token: [REDACTED]");
        assert_eq!(r.redact_cut(r#"{"t":"tok-Two.SPECIAL\/x+"#), r#"{"t":"[REDACTED]"#);
        assert_eq!(r.redact_cut("token: tok-T"), "token: tok-T", "a fragment shorter than the minimum stays");
        assert_eq!(r.redact_cut("tok-T"), "tok-T", "even when it is the whole text");
        assert_eq!(r.redact("token: tok-Two.SP"), "token: tok-Two.SP", "an uncut text keeps it");
    }

    #[test]
    fn overlapping_secrets_leave_nothing_behind() {
        let r = Redactor::new(&["abcdef", "cdefghij", "xyzxyz"]);
        assert_eq!(r.redact("1abcdefghij2"), "1[REDACTED]2", "one secret running into another");
        assert_eq!(r.redact("abcdef abcdef,xyzxyzxyzxyz"), "[REDACTED] [REDACTED],[REDACTED]");
        let r = Redactor::new(&["token-long-value", "long-v"]);
        assert_eq!(r.redact("a token-long-value b long-v c"), "a [REDACTED] b [REDACTED] c", "a secret inside another");
        assert_eq!(Redactor::new(&["éééééé"]).redact("café éééééé"), "café [REDACTED]");
        assert_eq!(Redactor::new(&["éééééé"]).redact("x=%C3%A9%C3%A9%C3%A9%c3%a9%c3%a9%c3%a9"), "x=[REDACTED]");
    }

    #[test]
    fn large_texts_are_decoded_window_by_window() {
        let r = Redactor::new(&[SPECIAL]);
        let encoded = "tok-Two.SPECIAL%2Fx%2By%3Dz%21~";
        // One form straddling each window boundary, and one well inside a window.
        let mut text = String::new();
        for boundary in [DECODE_WINDOW, 2 * DECODE_WINDOW] {
            text.push_str(&"a".repeat(boundary - 10 - text.len()));
            text.push_str(encoded);
        }
        text.push_str(&"b".repeat(1000));
        text.push_str(r#"tok-Two.SPECIAL\/x+y=z!~"#);
        text.push_str(&"c".repeat(1000));
        let out = r.redact(&text);
        assert_eq!(out.matches(REDACTED).count(), 3);
        assert_eq!(out.len(), text.len() - 2 * encoded.len() - 24 + 3 * REDACTED.len());
    }

    #[test]
    fn bytes_that_are_not_text() {
        let r = Redactor::new(&[SPECIAL]);
        let mut body = vec![0xff, 0xfe];
        body.extend_from_slice(SPECIAL.as_bytes());
        assert_eq!(r.redact_bytes(&body).unwrap(), [&[0xff, 0xfe][..], REDACTED.as_bytes()].concat());
        assert_eq!(r.redact_bytes(b"nothing"), None);
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
