//! Shared by the server's property tests (`tests/fuzz_server.rs`, `tests/fuzz_upstream.rs`):
//! raw HTTP over TCP (what a client library would normalize is sent as written), the documented
//! error codes read from the docs at test time, the error body's shape, and every form a secret
//! could travel in.
//!
//! Included with `#[path = "support/fuzz.rs"] mod fuzz;` (it is not part of `support`).
#![allow(dead_code)]

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

// --- raw HTTP ---

/// An answer as it came off the wire.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    /// Header names lower-cased; values as (lossy) text.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Everything the server wrote (interim answers included).
    pub raw: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    /// A whole answer.
    Answer(RawAnswer),
    /// The connection closed with nothing (or no whole answer) written: `raw` is what came.
    Closed { raw: Vec<u8>, write_error: Option<String> },
    /// Nothing within the timeout.
    TimedOut { raw: Vec<u8> },
}

/// Sends `request` as written to `addr` (`127.0.0.1:port`) and reads until the server closes
/// the connection (the request should say `Connection: close`). The request is written on
/// another thread while the answer is read, so an answer written before the body was read (a
/// refusal) is not lost. With `half_close`, the write side is shut after the request (for
/// requests whose framing promises more than they hold).
pub fn exchange(addr: &str, request: &[u8], half_close: bool, timeout: Duration) -> Outcome {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let bytes = request.to_vec();
    let written = std::thread::spawn(move || {
        let result = writer.write_all(&bytes).and_then(|_| writer.flush());
        if half_close {
            let _ = writer.shutdown(Shutdown::Write);
        }
        result.err().map(|e| e.to_string())
    });
    let mut raw = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let mut timed_out = false;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                timed_out = true;
                break;
            }
            // A reset after the answer: what was read is kept.
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let write_error = written.join().unwrap_or(Some("the writer panicked".into()));
    let head_request = request.starts_with(b"HEAD ");
    match parse_answer(&raw, head_request) {
        Some(answer) => Outcome::Answer(answer),
        None if timed_out => Outcome::TimedOut { raw },
        None => Outcome::Closed { raw, write_error },
    }
}

/// The final answer in `raw` (interim 1xx answers skipped), when it is whole.
pub fn parse_answer(raw: &[u8], head_request: bool) -> Option<RawAnswer> {
    let mut rest = raw;
    loop {
        let end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let after = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/") {
            return None;
        }
        let status: u16 = parts.next()?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        if (100..200).contains(&status) {
            rest = after;
            continue;
        }
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let body = if head_request || status == 204 || status == 304 {
            Vec::new()
        } else if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            dechunk(after)?
        } else if let Some(length) = get("content-length") {
            let length: usize = length.parse().ok()?;
            if after.len() < length {
                return None;
            }
            after[..length].to_vec()
        } else {
            after.to_vec()
        };
        return Some(RawAnswer { status, headers, body, raw: raw.to_vec() });
    }
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes for a failure message: printable ASCII as is, everything else escaped, cut to `max`.
pub fn shown(bytes: &[u8], max: usize) -> String {
    let mut out: String = bytes.iter().take(max).flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect();
    if bytes.len() > max {
        out.push_str(&format!("… ({} bytes)", bytes.len()));
    }
    out
}

/// Removes what earlier runs left in the target's temporary directory (a static fixture is
/// never dropped), when it is over a day old (a long run may still be using a younger one).
pub fn remove_stale(dir: &std::path::Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let old =
            entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age.as_secs() > 24 * 3600);
        if old && entry.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

// --- what the docs say ---

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_doc(name: &str) -> String {
    let path = repo().join("docs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn is_code(text: &str) -> bool {
    text.len() > 2 && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// The error codes docs/server.md documents, with their status: the list of its Errors section
/// (`` `code` (404) ``, `` `a` / `b` (422) ``), and every `` 400 `code` `` written elsewhere in it
/// (a section that documents an error where it happens, such as `pagination_failed`).
pub fn documented_codes() -> BTreeMap<String, u16> {
    let text = read_doc("server.md");
    let errors = &text[text.find("\n## Errors").expect("docs/server.md has an Errors section")..];
    let list = &errors[errors.find("Codes:").expect("the Errors section lists its codes after `Codes:`")..];
    let list = &list[..list.find("\n\n").unwrap_or(list.len())];
    let mut codes = BTreeMap::new();
    let mut pending: Vec<String> = Vec::new();
    for (i, piece) in list.split('`').enumerate() {
        if i % 2 == 1 {
            if is_code(piece) {
                pending.push(piece.to_string());
            }
        } else if let Some(at) = piece.find('(') {
            let digits: String = piece[at + 1..].chars().take_while(char::is_ascii_digit).collect();
            if let Ok(status) = digits.parse::<u16>() {
                for code in pending.drain(..) {
                    codes.insert(code, status);
                }
            }
        }
    }
    assert!(codes.len() >= 15, "docs/server.md's Errors section lists codes: read {codes:?}");
    let pieces: Vec<&str> = text.split('`').collect();
    for i in (1..pieces.len()).step_by(2) {
        let before = pieces[i - 1].trim_end();
        let digits: String = before.chars().rev().take_while(char::is_ascii_digit).collect::<Vec<_>>().into_iter().rev().collect();
        if digits.len() == 3 && before.len() > 3 && before[..before.len() - 3].ends_with([' ', '(', '\n']) && is_code(pieces[i]) {
            codes.entry(pieces[i].to_string()).or_insert(digits.parse().unwrap());
        }
    }
    codes
}

/// One row of docs/runtime.md's table of error kinds.
#[derive(Debug, Clone)]
pub struct Kind {
    pub kind: String,
    pub code: String,
    pub status: u16,
}

/// The error kinds docs/runtime.md documents (its Errors table: kind, code, status).
pub fn documented_kinds() -> Vec<Kind> {
    let text = read_doc("runtime.md");
    let kinds: Vec<Kind> = text
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 5 {
                return None;
            }
            let kind = cells[1].strip_prefix('`')?.strip_suffix('`')?;
            let code = cells[2].strip_prefix('`')?.strip_suffix('`')?;
            let status = cells[3].parse().ok()?;
            Some(Kind { kind: kind.to_string(), code: code.to_string(), status })
        })
        .collect();
    assert!(kinds.len() >= 10, "docs/runtime.md's Errors table lists the kinds: read {kinds:?}");
    kinds
}

/// Checks an error answer's body: `{"error": {"code": <documented>, "message": <string>, …}}`,
/// where `upstream`, when present, is `{status, error, body_excerpt}` (not checked for the codes
/// in `upstream_exempt`). Returns the code.
pub fn check_error_body(status: u16, body: &[u8], codes: &BTreeMap<String, u16>, upstream_exempt: &[&str]) -> Result<String, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the error body is not JSON ({e})"))?;
    let error = value.get("error").and_then(Value::as_object).ok_or("the body has no `error` object")?;
    let code = error.get("code").and_then(Value::as_str).ok_or("`error.code` is not a string")?;
    let message = error.get("message").and_then(Value::as_str).ok_or("`error.message` is not a string")?;
    if message.is_empty() {
        return Err("`error.message` is empty".into());
    }
    let documented = codes.get(code).ok_or_else(|| format!("`{code}` is not a documented code (docs/server.md, Errors)"))?;
    if *documented != status {
        // The router's own refusals keep their status (docs/server.md, Errors): a 4xx the API
        // has no code of its own for is `invalid_request`.
        let router_refusal = code == "invalid_request" && (400..500).contains(&status) && !codes.values().any(|s| *s == status);
        if !router_refusal {
            return Err(format!("`{code}` is documented as {documented}, answered with {status}"));
        }
    }
    if let Some(upstream) = error.get("upstream").filter(|_| !upstream_exempt.contains(&code)) {
        let upstream = upstream.as_object().ok_or("`error.upstream` is not an object")?;
        if !upstream.get("status").is_some_and(|s| s.is_null() || s.is_u64()) {
            return Err("`error.upstream.status` is not a status".into());
        }
        if !upstream.get("body_excerpt").is_none_or(|b| b.is_null() || b.is_string()) {
            return Err("`error.upstream.body_excerpt` is not text".into());
        }
    }
    Ok(code.to_string())
}

// --- secrets, in every form they could travel in ---

/// RFC 3986 unreserved characters kept (`-._~`): what most URL libraries write for a component.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// What JavaScript's `encodeURIComponent` keeps (`-_.!~*'()`).
pub const URI_COMPONENT: &AsciiSet = &COMPONENT.remove(b'!').remove(b'*').remove(b'\'').remove(b'(').remove(b')');

/// `secret` as it could appear in text: as is, JSON-escaped (`\/`, `\uXXXX`), percent-encoded
/// (every character or the common sets; upper and lower hex), form-encoded, HTML-escaped, and
/// base64 (standard and url-safe, padded or not).
pub fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string(), secret.replace('/', "\\/")];
    out.push(secret.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_string() } else { format!("\\u{:04x}", c as u32) }).collect());
    out.push(secret.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_string() } else { format!("&#x{:X};", c as u32) }).collect());
    for set in [NON_ALPHANUMERIC, COMPONENT, URI_COMPONENT] {
        let upper = utf8_percent_encode(secret, set).to_string();
        out.push(lower_hex(&upper));
        out.push(upper);
    }
    out.push(url::form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        out.push(engine.encode(secret));
    }
    out.sort();
    out.dedup();
    out
}

/// `%2F` → `%2f`.
pub fn lower_hex(encoded: &str) -> String {
    let mut out = String::new();
    let mut rest = encoded;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

/// The forms of many secrets, searched together.
pub struct Secrets {
    forms: Vec<(String, String)>,
}

impl Secrets {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Secrets {
        let mut all = Vec::new();
        for secret in secrets {
            for form in forms(secret) {
                all.push((secret.to_string(), form));
            }
        }
        Secrets { forms: all }
    }

    /// The first secret found in `bytes`, and the form it was in. (Every form is ASCII, so
    /// searching the text with invalid bytes replaced finds the same.)
    pub fn find(&self, bytes: &[u8]) -> Option<(&str, &str)> {
        let text = String::from_utf8_lossy(bytes);
        self.forms.iter().find(|(_, form)| text.contains(form.as_str())).map(|(s, f)| (s.as_str(), f.as_str()))
    }
}

/// What the server writes to its tracing output, captured for the whole test binary.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test binary) a global subscriber that records every event `filter` lets
/// through (an `EnvFilter` directive), as the binary would print it; the first call's filter wins.
pub fn capture_tracing(filter: &str) -> &'static Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this test binary");
        captured
    })
}
