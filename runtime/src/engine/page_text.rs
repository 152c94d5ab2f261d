//! A list page read from its text, its records left unparsed.
//!
//! Parsing a 100-record page into `serde_json::Value` costs about as much as mapping it, and
//! the records are then read once, by the mapping. So the records array is found by a
//! structural scan of the text (strings skipped eight bytes at a time, nothing built), the rest
//! of the page is parsed with the array left empty (what pagination and classification read),
//! and each record's text goes straight to the mapping, which parses it into its own values.
//!
//! Anything this does not follow exactly is left to the whole-page parse, which gives the value
//! or the error: a key with escapes on the way to the records, a repeated key there (serde_json
//! keeps the last), an index in the path, nesting near serde_json's limit, or a rest that does
//! not parse. Whether the page may be read this way at all (nothing else reads the records) is
//! the caller's to decide.

use serde_json::Value;
use std::ops::Range;

/// serde_json refuses text nested deeper than 128 containers. Parsed apart, a record would get
/// its own 128; near the limit the whole page is parsed instead, so the outcome is the same.
const MAX_NESTING: usize = 120;

/// A page whose records are at `path` (object keys from the top; empty: the page is the array).
#[derive(Debug)]
pub struct PageText<'t> {
    pub text: &'t str,
    /// The page with its records array empty.
    pub rest: Value,
    pub(crate) parts: Parts,
}

impl<'t> PageText<'t> {
    /// `None` when the page is not as this module expects (the caller parses it whole).
    pub fn read(text: &'t str, path: &[String]) -> Option<PageText<'t>> {
        let parts = locate(text.as_bytes(), path)?;
        let mut rest = String::with_capacity(text.len() - parts.array.len() + 2);
        rest.push_str(&text[..parts.array.start]);
        rest.push_str("[]");
        rest.push_str(&text[parts.array.end..]);
        let rest = serde_json::from_str(&rest).ok()?;
        Some(PageText { text, rest, parts })
    }

    /// The text of the records array, from `[` to `]`.
    pub fn records_text(&self) -> &'t str {
        &self.text[self.parts.array.clone()]
    }

    /// Each record's place in [`Self::text`], what `mapping::evaluate_each_json_text` maps.
    pub fn record_spans(&self) -> &[Range<usize>] {
        &self.parts.elements
    }
}

/// The text of the records array at `path`, if the scan finds it.
pub(crate) fn records_text<'t>(text: &'t str, path: &[String]) -> Option<&'t str> {
    locate(text.as_bytes(), path).map(|parts| &text[parts.array])
}

/// Where the records are in the text.
#[derive(Debug, PartialEq)]
pub(crate) struct Parts {
    /// The records array, from `[` to `]` inclusive.
    pub array: Range<usize>,
    /// Each record's text, without the whitespace around it.
    pub elements: Vec<Range<usize>>,
}

/// Finds the array at `path` (object keys from the top) in JSON text. `None` when the text is
/// not as expected; the text is not validated here (the parts are, by being parsed).
fn locate(text: &[u8], path: &[String]) -> Option<Parts> {
    let start = skip_ws(text, 0);
    let (parts, end) = find(text, start, path, 0)?;
    (skip_ws(text, end) == text.len()).then_some(parts)
}

/// `find` from the value at `at`, `depth` containers in: the parts and where the value ends.
fn find(text: &[u8], at: usize, path: &[String], depth: usize) -> Option<(Parts, usize)> {
    let Some((key, rest)) = path.split_first() else { return elements(text, at, depth + 1) };
    if text.get(at) != Some(&b'{') {
        return None;
    }
    let mut found = None;
    let mut i = skip_ws(text, at + 1);
    if text.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        let name = string(text, i)?;
        let written = &text[name.start + 1..name.end - 1];
        if written.contains(&b'\\') {
            return None;
        }
        i = skip_ws(text, name.end);
        if text.get(i) != Some(&b':') {
            return None;
        }
        let value = skip_ws(text, i + 1);
        let end = if written == key.as_bytes() {
            if found.is_some() {
                return None;
            }
            let (parts, end) = find(text, value, rest, depth + 1)?;
            found = Some(parts);
            end
        } else {
            skip_value(text, value)?.0
        };
        i = skip_ws(text, end);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b'}') => return Some((found?, i + 1)),
            _ => return None,
        }
    }
}

/// The elements of the array at `at`, `depth` containers in counting the array itself.
fn elements(text: &[u8], at: usize, depth: usize) -> Option<(Parts, usize)> {
    if text.get(at) != Some(&b'[') {
        return None;
    }
    let mut elements = Vec::new();
    let mut i = skip_ws(text, at + 1);
    if text.get(i) == Some(&b']') {
        return Some((Parts { array: at..i + 1, elements }, i + 1));
    }
    loop {
        let (end, nesting) = skip_value(text, i)?;
        if depth + nesting > MAX_NESTING {
            return None;
        }
        elements.push(i..end);
        i = skip_ws(text, end);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b']') => return Some((Parts { array: at..i + 1, elements }, i + 1)),
            _ => return None,
        }
    }
}

/// Skips the value at `at`: where it ends, and how many containers deep it nests.
fn skip_value(text: &[u8], at: usize) -> Option<(usize, usize)> {
    match text.get(at)? {
        b'"' => Some((string(text, at)?.end, 0)),
        b'{' | b'[' => {
            let (mut depth, mut deepest) = (0usize, 0usize);
            let mut i = at;
            while i < text.len() {
                match text[i] {
                    b'"' => {
                        i = string(text, i)?.end;
                        continue;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((i + 1, deepest));
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let length = text[at..].iter().position(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'));
            let end = at + length.unwrap_or(text.len() - at);
            (end > at).then_some((end, 0))
        }
    }
}

/// The string starting at `at` (its quotes included).
fn string(text: &[u8], at: usize) -> Option<Range<usize>> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        // Eight bytes at a time: most strings of a page are short and have no escapes, and a
        // search call per string would cost more than the string.
        while let Some(chunk) = text.get(i..i + 8) {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
            let found = has_byte(word, b'"') | has_byte(word, b'\\');
            if found != 0 {
                // The lowest flag is exact (a borrow only reaches the bytes above it).
                i += (found.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match text.get(i)? {
            b'"' => return Some(at..i + 1),
            // An escape: the next byte is part of it, whatever it is.
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// The high bit of each byte of `word` that may equal `byte`; the lowest one set is exact.
fn has_byte(word: u64, byte: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split('.').filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    fn records<'a>(text: &'a str, at: &str) -> Option<Vec<&'a str>> {
        let text_bytes = text.as_bytes();
        let parts = locate(text_bytes, &path(at))?;
        assert_eq!(text_bytes[parts.array.start], b'[');
        assert_eq!(text_bytes[parts.array.end - 1], b']');
        Some(parts.elements.iter().map(|r| &text[r.clone()]).collect())
    }

    #[test]
    fn finds_the_records_and_each_record() {
        let page = r#" {"paging":{"next":{"after":"x]}"}},"results": [ {"id":"1","a":[1,{"b":"}\"]"}]} ,2, "s\\" ,null,[]] , "z":true} "#;
        assert_eq!(records(page, "results").unwrap(), [r#"{"id":"1","a":[1,{"b":"}\"]"}]}"#, "2", r#""s\\""#, "null", "[]"]);
        assert_eq!(records(r#"{"data":{"items":[]}}"#, "data.items").unwrap(), Vec::<&str>::new());
        assert_eq!(records(r#"[{"id":1},{"id":2}]"#, "").unwrap(), [r#"{"id":1}"#, r#"{"id":2}"#]);
    }

    #[test]
    fn strings_end_at_their_closing_quote_wherever_it_falls() {
        for length in 0..40 {
            for escaped in [None, Some(0), Some(length / 2)] {
                let mut body: Vec<u8> = (0..length).map(|i| b'a' + (i % 26) as u8).collect();
                if let (Some(at), true) = (escaped, length > 0) {
                    body.splice(at..at, *br#"\""#);
                }
                let text = [b"\"".as_slice(), &body, b"\" tail \"x\""].concat();
                assert_eq!(string(&text, 0), Some(0..body.len() + 2), "{}", String::from_utf8_lossy(&text));
            }
        }
        assert_eq!(string(br#""unterminated"#, 0), None);
        assert_eq!(string(br#""ends in an escape\"#, 0), None);
    }

    #[test]
    fn leaves_to_the_whole_parse_what_it_does_not_follow() {
        assert!(records(r#"{"results":[1],"results":[2]}"#, "results").is_none(), "a repeated key: serde_json keeps the last");
        assert!(records(r#"{"res\u0075lts":[1]}"#, "results").is_none(), "an escaped key");
        assert!(records(r#"{"results":{"0":[1]}}"#, "results").is_none(), "not an array");
        assert!(records(r#"{"other":[1]}"#, "results").is_none(), "absent");
        assert!(records(r#"{"results":[1,2"#, "results").is_none(), "truncated");
        assert!(records(r#"{"results":[1] "#, "results").is_none(), "unclosed object");
        assert!(records(r#"{"results":[1]} x"#, "results").is_none(), "trailing text");
        assert!(records(r#"{"results":["unterminated]}"#, "results").is_none(), "unterminated string");
        let deep = format!(r#"{{"results":[{}{}]}}"#, "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(records(&deep, "results").is_none(), "near the nesting limit");
    }

    #[test]
    fn the_rest_is_the_page_without_its_records() {
        let record = r#"{"id":"12","properties":{"email":"a@b.test","note":"x,]}\"y"},"n":1.50,"big":18446744073709551615}"#;
        let text = format!(r#"{{"results":[{}],"paging":{{"next":{{"after":"2"}}}}}}"#, vec![record; 30].join(",\n "));
        let page = PageText::read(&text, &path("results")).expect("the page reads");
        let mut whole: Value = serde_json::from_str(&text).unwrap();
        let records = std::mem::replace(whole.get_mut("results").unwrap(), Value::Array(Vec::new()));
        assert_eq!(page.rest, whole);
        let texts: Vec<Value> = page.parts.elements.iter().map(|r| serde_json::from_str(&text[r.clone()]).unwrap()).collect();
        assert_eq!(Value::Array(texts), records);
        assert_eq!(serde_json::from_str::<Value>(page.records_text()).unwrap(), records);
        let broken = text.replacen("],\"paging\"", "],,\"paging\"", 1);
        assert!(PageText::read(&broken, &path("results")).is_none(), "the rest does not parse");
        let top = format!("[{}]", vec![record; 4].join(","));
        assert_eq!(PageText::read(&top, &[]).unwrap().rest, serde_json::json!([]), "a page that is the array");
    }
}
