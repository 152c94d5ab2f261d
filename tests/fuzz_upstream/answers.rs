//! The hostile answers `tests/fuzz_upstream.rs` makes its providers give: statuses, rate-limit
//! and Link headers with junk, truncated, deep, huge or mistyped bodies, records that are not
//! objects, cursors that repeat or leave the origin, encodings that lie.

use super::*;

// --- hostile answers ---

#[derive(Debug, Clone)]
pub(crate) enum NextEdit {
    /// The same position as the page before (a loop).
    Repeat,
    OffOrigin,
    Empty,
    Value(Value),
    Huge(usize),
    JavaScript,
}

#[derive(Debug, Clone)]
pub(crate) enum Edit {
    /// The records (array, or a member of the page) replaced.
    Records(Value),
    /// A member of the first record set to a value.
    Field(&'static str, Value),
    /// A member of the first record set to a string this long.
    Huge(usize),
    /// A member of the first record nested this deep (as text).
    Deep(usize),
    /// A record's id written as this number text.
    Number(&'static str),
    /// A second records member before the real one (JSON keeps the last).
    Duplicate,
    Next(NextEdit),
    /// A top-level member removed.
    Drop(&'static str),
    /// A member of a token response set (`expires_in`, `access_token`, `error`…).
    Token(&'static str, Value),
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Natural,
    Edited(Vec<Edit>),
    /// The natural body cut at this permille.
    Cut(u16),
    /// One byte of the natural body replaced with an invalid UTF-8 byte, at this permille.
    NotUtf8(u16),
    /// The natural body with a byte-order mark.
    Bom,
    /// The natural body gzip-encoded (stored blocks), or said to be and not.
    Gzip {
        real: bool,
    },
    Raw(Vec<u8>),
    /// An object nested this deep.
    Nested(usize),
    /// A string this long.
    HugeString(usize),
    FormEncoded,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Framing {
    Exact,
    Chunked,
    /// No length: the body ends when the connection closes.
    UntilClose,
    /// `Content-Length` larger than the body (the connection then closes).
    LengthTooLong(usize),
    /// `Content-Length` smaller than the body.
    LengthTooShort(usize),
    /// Chunked, cut before the last chunk.
    ChunkedCut,
}

#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Body,
    pub(crate) framing: Framing,
    pub(crate) stall: bool,
    /// A secret the provider repeats (server tests): which one, its form, where.
    pub(crate) echo: Option<(usize, usize, Place)>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    Body,
    Header,
    Both,
}

impl Reply {
    /// Whole, and read at once.
    pub(crate) fn well_framed(&self) -> bool {
        matches!(self.framing, Framing::Exact | Framing::Chunked | Framing::UntilClose) && !self.stall
    }

    /// Well framed, a head an HTTP client reads (at most 100 headers), and what its headers say
    /// of the body is true (no compression it does not have).
    pub(crate) fn well_formed(&self) -> bool {
        let compressed = self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-encoding"));
        self.well_framed() && self.headers.len() < 90 && !compressed && !matches!(self.body, Body::Gzip { real: false })
    }
}

pub(crate) fn status(token: bool) -> impl Strategy<Value = u16> {
    let ok = if token { 10 } else { 20 };
    prop_oneof![
        ok => Just(200u16),
        3 => prop::sample::select(vec![201u16, 202, 203, 204, 206, 299]),
        2 => prop::sample::select(vec![301u16, 302, 303, 304, 307, 308]),
        5 => prop::sample::select(vec![400u16, 401, 403, 404, 405, 408, 409, 410, 413, 418, 422, 429, 451]),
        4 => prop::sample::select(vec![500u16, 501, 502, 503, 504, 520, 599]),
        1 => prop::sample::select(vec![100u16, 101, 102, 600, 999]),
    ]
}

/// Header names that carry rate limits: the generic ones and those the test definitions name
/// (from their facts, so no provider's name is written here).
pub(crate) fn limit_header_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "X-Next-Cursor",
    ]
    .map(String::from)
    .to_vec();
    for integration in INTEGRATIONS {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/runtime/definitions")
            .join(integration)
            .join("fixtures/facts.json");
        if let Ok(text) = std::fs::read_to_string(path) {
            let facts: Value = serde_json::from_str(&text).unwrap();
            for (key, value) in facts.as_object().into_iter().flatten() {
                if let (true, Some(name)) = (key.ends_with("_header"), value.as_str()) {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

pub(crate) fn junk_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "-1",
            "0",
            "abc",
            "1e400",
            "99999999999999999999999",
            "10, 20",
            "NaN",
            " 5 ",
            "\u{0663}",
            "0x10",
            "1.5",
            "-0",
            "+7",
            "api-usage=25/15000",
            "api-usage=x/y",
            "1/0",
            "40:40",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "18446744073709551616",
            "9223372036854775807",
            "-9223372036854775808",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        Just(b"\xff\xfe".to_vec()),
        (1usize..2000).prop_map(|n| "9".repeat(n).into_bytes()),
    ]
}

pub(crate) fn junk_link() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<https://evil.example/steal?page=2>; rel=\"next\"".to_string()),
        Just("<//evil.example/x>; rel=next".to_string()),
        Just("<javascript:alert(1)>; rel=\"next\"".to_string()),
        Just("<{origin}/next?page=2>; rel=\"next\", <{origin}/next?page=3>; rel=\"next\"".to_string()),
        Just("<{origin}/next?page=1>; rel=\"next\"".to_string()),
        Just("</relative?page=2>; rel=\"next\"".to_string()),
        Just("<{origin}/next; rel=\"next\"".to_string()),
        Just("{origin}/next?page=2; rel=next".to_string()),
        Just("<>; rel=\"next\"".to_string()),
        Just("<http://[::1]:1/x>; rel=\"next\"".to_string()),
        Just("<http://169.254.169.254/latest/meta-data>; rel=\"next\"".to_string()),
        (10usize..400).prop_map(|n| (0..n).map(|i| format!("<{{origin}}/p?page={i}>; rel=\"prev\"")).collect::<Vec<_>>().join(", ")),
    ]
}

pub(crate) fn junk_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let names = limit_header_names();
    let one = prop_oneof![
        6 => (prop::sample::select(names), junk_value()).prop_map(|(n, v)| vec![(n, v)]),
        2 => junk_link().prop_map(|l| vec![("Link".to_string(), l.into_bytes())]),
        1 => prop::sample::select(vec![("Content-Encoding", "gzip"), ("Content-Encoding", "br"), ("Content-Encoding", "deflate"), ("Content-Encoding", "x-unknown"), ("Content-Encoding", "gzip, gzip")])
            .prop_map(|(n, v)| vec![(n.to_string(), v.as_bytes().to_vec())]),
        1 => Just(vec![("Location".to_string(), b"https://evil.example/redirected".to_vec())]),
        1 => Just(vec![("Content-Type".to_string(), b"text/html".to_vec()), ("Content-Type".to_string(), b"application/json".to_vec())]),
        1 => Just(vec![("Set-Cookie".to_string(), b"session=\xff; Path=/; HttpOnly".to_vec())]),
        1 => prop::sample::select(vec![8000usize, 70000]).prop_map(|n| vec![("X-Large".to_string(), "v".repeat(n).into_bytes())]),
        1 => prop::sample::select(vec![50usize, 150]).prop_map(|n| (0..n).map(|i| (format!("X-Many-{i}"), b"v".to_vec())).collect()),
        1 => Just(vec![("WWW-Authenticate".to_string(), b"Bearer error=\"invalid_token\"".to_vec())]),
    ];
    prop::collection::vec(one, 0..4).prop_map(|lists| lists.concat())
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    let odd = prop_oneof![
        Just(Value::Null),
        Just(json!(5)),
        Just(json!("records")),
        Just(json!({})),
        Just(json!({ "id": 1 })),
        Just(json!([1, "x", null, [], true])),
        Just(json!([[{ "id": 1 }]])),
        Just(json!([{ "id": null }, { "id": { "nested": [1] } }, { "id": [1, 2] }])),
    ];
    let field_value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        Just(json!(1.5e300)),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({ "a": { "b": [1, { "c": null }] } })),
        "\\PC{0,20}".prop_map(Value::from),
        Just(json!("2024-13-45T99:99:99Z")),
        Just(json!("\u{0000}\u{ffff}")),
    ];
    let field = prop::sample::select(vec![
        "id",
        "Id",
        "first_name",
        "FirstName",
        "email",
        "Email",
        "emails",
        "properties",
        "login",
        "name",
        "created_at",
        "CreatedDate",
        "add_time",
        "email_addresses",
    ]);
    let next = prop_oneof![
        3 => Just(NextEdit::Repeat),
        2 => Just(NextEdit::OffOrigin),
        1 => Just(NextEdit::Empty),
        1 => prop_oneof![Just(Value::Null), Just(json!(7)), Just(json!({ "after": "x" })), Just(json!(["a"]))].prop_map(NextEdit::Value),
        1 => prop::sample::select(vec![1000usize, 100_000]).prop_map(NextEdit::Huge),
        1 => Just(NextEdit::JavaScript),
    ];
    let token_field =
        prop::sample::select(vec!["access_token", "refresh_token", "expires_in", "token_type", "error", "instance_url", "scope"]);
    let token_value = prop_oneof![
        Just(Value::Null),
        Just(json!(-5000)),
        Just(json!(0)),
        Just(json!("soon")),
        Just(json!("3600")),
        Just(json!(true)),
        Just(json!({})),
        Just(json!(9_999_999_999_999u64)),
        Just(json!(1.0e300)),
        Just(json!("")),
        Just(json!("invalid_grant")),
        Just(json!("invalid_client")),
        Just(json!("https://evil.example")),
        Just(json!("http://169.254.169.254")),
        Just(json!("not a url")),
        "\\PC{0,16}".prop_map(Value::from),
    ];
    prop_oneof![
        3 => odd.prop_map(Edit::Records),
        3 => (field, field_value).prop_map(|(f, v)| Edit::Field(f, v)),
        1 => prop::sample::select(vec![10_000usize, 300_000]).prop_map(Edit::Huge),
        1 => prop::sample::select(vec![100usize, 129, 1000, 20_000]).prop_map(Edit::Deep),
        1 => prop::sample::select(vec!["1e400", "-1e400", "18446744073709551616", "-0", "1E+2", "0.1e-400", "123456789012345678901234567890"]).prop_map(Edit::Number),
        1 => Just(Edit::Duplicate),
        3 => next.prop_map(Edit::Next),
        1 => prop::sample::select(vec!["results", "data", "records", "paging", "additional_data", "done", "nextRecordsUrl", "success", "access_token"]).prop_map(Edit::Drop),
        4 => (token_field, token_value).prop_map(|(f, v)| Edit::Token(f, v)),
    ]
}

pub(crate) fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        12 => Just(Body::Natural),
        10 => prop::collection::vec(edit(), 1..4).prop_map(Body::Edited),
        2 => (0..1000u16).prop_map(Body::Cut),
        1 => (0..1000u16).prop_map(Body::NotUtf8),
        1 => Just(Body::Bom),
        1 => any::<bool>().prop_map(|real| Body::Gzip { real }),
        3 => prop::sample::select(vec![
            &b""[..], b" ", b"null", b"[]", b"{}", b"true", b"\"text\"", b"NaN", b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>", b"{\"error\": {\"message\": \"boom\"}}",
            b"error=invalid_grant&error_description=The+grant+is+invalid", b"access_token=abc&expires_in=soon", b"\xef\xbb\xbf",
            b"{\"a\":1}{\"b\":2}", b"[1,2,", b"\x00\x01\x02",
        ])
        .prop_map(|b| Body::Raw(b.to_vec())),
        1 => prop::sample::select(vec![64usize, 129, 5000, 100_000]).prop_map(Body::Nested),
        1 => prop::sample::select(vec![100_000usize, 600_000]).prop_map(Body::HugeString),
        1 => Just(Body::FormEncoded),
    ]
}

pub(crate) fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        14 => Just(Framing::Exact),
        2 => Just(Framing::Chunked),
        2 => Just(Framing::UntilClose),
        1 => (1usize..5000).prop_map(Framing::LengthTooLong),
        1 => (1usize..50).prop_map(Framing::LengthTooShort),
        1 => Just(Framing::ChunkedCut),
    ]
}

pub(crate) fn reply(token: bool) -> impl Strategy<Value = Reply> {
    (
        status(token),
        prop::sample::select(vec!["OK", "", "Weird \u{00e9}", "Error"]),
        prop::option::weighted(
            0.85,
            prop::sample::select(vec![
                "application/json",
                "application/json; charset=utf-8",
                "application/json; charset=utf-16",
                "text/html",
                "text/plain",
                "application/x-www-form-urlencoded",
                "application/problem+json",
                "application/vnd.api+json",
            ]),
        ),
        junk_headers(),
        body(),
        framing(),
        prop::bool::weighted(0.01),
        (0usize..100, 0usize..100, prop::sample::select(vec![Place::Body, Place::Header, Place::Both])),
    )
        .prop_map(|(status, reason, content_type, headers, body, framing, stall, echo)| Reply {
            status,
            reason,
            content_type,
            headers,
            body,
            framing,
            stall,
            echo: Some(echo),
        })
}

/// Deflate "stored" blocks in a gzip member: valid gzip without a compressor.
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(65535).collect() };
    for (i, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc: u32 = !0;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    out.extend_from_slice(&(!crc).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Where a page says what comes next: a member path of its body, or a header.
pub(crate) fn next_member(integration: &str) -> Option<&'static [&'static str]> {
    match integration {
        "cursor_body" => Some(&["paging", "next", "after"]),
        "api_key_header" => Some(&["additional_data", "next_cursor"]),
        "next_url_relative" => Some(&["nextRecordsUrl"]),
        _ => None,
    }
}

pub(crate) fn set_path(value: &mut Value, path: &[&str], new: Value) {
    let mut at = value;
    for (i, key) in path.iter().enumerate() {
        let Value::Object(map) = at else { return };
        if i + 1 == path.len() {
            map.insert(key.to_string(), new);
            return;
        }
        at = map.entry(key.to_string()).or_insert_with(|| json!({}));
    }
}

/// The first record of a page (or the record) as an object, to edit.
pub(crate) fn first_record<'v>(value: &'v mut Value, integration: &str, kind: Kind) -> Option<&'v mut Map<String, Value>> {
    let record = match (kind, records_key(integration)) {
        (Kind::Page, Some(key)) => value.get_mut(key).and_then(|r| r.get_mut(0)),
        (Kind::Page, None) => value.get_mut(0),
        (Kind::Record, _) if integration == "api_key_header" => value.get_mut("data"),
        (Kind::Record, _) => Some(value),
        (Kind::Token, _) => None,
    };
    record.and_then(Value::as_object_mut)
}

/// The bytes of a hostile answer to a request of `kind` for `integration`, page `page` (the
/// first is 0), with the secret `echoes[i]` repeated when the reply says so.
pub(crate) fn render(reply: &Reply, integration: &str, kind: Kind, origin: &str, page: usize, echoes: &[String]) -> Written {
    let (mut value, natural_headers) = natural(integration, kind, origin, page);
    let echo = reply.echo.filter(|_| !echoes.is_empty()).map(|(secret, form, place)| {
        let forms = fuzz::forms(&echoes[secret % echoes.len()]);
        (forms[form % forms.len()].clone(), place)
    });
    let mut headers: Vec<(String, Vec<u8>)> = natural_headers.into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
    let mut deep: Option<usize> = None;
    let mut number: Option<&str> = None;
    let mut duplicate = false;
    if let Body::Edited(edits) = &reply.body {
        for edit in edits {
            match edit {
                Edit::Records(new) if kind == Kind::Page => match records_key(integration) {
                    Some(key) => value[key] = new.clone(),
                    None => value = new.clone(),
                },
                Edit::Records(new) if kind == Kind::Record => value = new.clone(),
                Edit::Field(field, new) => {
                    if let Some(map) = first_record(&mut value, integration, kind) {
                        map.insert(field.to_string(), new.clone());
                    }
                }
                Edit::Huge(n) => {
                    if let Some(map) = first_record(&mut value, integration, kind) {
                        map.insert("first_name".into(), Value::from("x".repeat(*n)));
                    }
                }
                Edit::Deep(n) => {
                    if let Some(map) = first_record(&mut value, integration, kind) {
                        map.insert("first_name".into(), Value::from("__DEEP__"));
                        deep = Some(*n);
                    }
                }
                Edit::Number(text) => {
                    if let Some(map) = first_record(&mut value, integration, kind) {
                        map.insert("id".into(), Value::from("__NUMBER__"));
                        number = Some(text);
                    }
                }
                Edit::Duplicate => duplicate = true,
                Edit::Next(next) if kind == Kind::Page => {
                    let previous = if page == 0 { "c0".to_string() } else { format!("c{page}") };
                    let text = match next {
                        NextEdit::Repeat => Value::from(match integration {
                            "next_url_relative" => format!("/services/data/v62.0/query/01g-{page}"),
                            _ => previous,
                        }),
                        NextEdit::OffOrigin => Value::from("https://evil.example/services/data/v62.0/query/01g-2"),
                        NextEdit::Empty => Value::from(""),
                        NextEdit::Value(v) => v.clone(),
                        NextEdit::Huge(n) => Value::from("n".repeat(*n)),
                        NextEdit::JavaScript => Value::from("javascript:alert(1)"),
                    };
                    match next_member(integration) {
                        Some(path) => set_path(&mut value, path, text),
                        None => {
                            let name = if integration == "cursor_header" { "X-Next-Cursor" } else { "Link" };
                            headers.retain(|(n, _)| n != name);
                            let text = match &text {
                                Value::String(_) if name == "Link" && matches!(next, NextEdit::Repeat) => {
                                    format!("<{origin}/next?page={}>; rel=\"next\"", page + 1)
                                }
                                Value::String(s) if name == "Link" => format!("<{s}>; rel=\"next\""),
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            headers.push((name.to_string(), text.into_bytes()));
                        }
                    }
                }
                Edit::Drop(key) => {
                    if let Value::Object(map) = &mut value {
                        map.remove(*key);
                    }
                }
                Edit::Token(field, new) if kind == Kind::Token => {
                    if let Value::Object(map) = &mut value {
                        map.insert(field.to_string(), new.clone());
                    }
                }
                _ => {}
            }
        }
    }
    if let (Some((form, Place::Body | Place::Both)), Value::Object(map)) = (&echo, &mut value) {
        map.insert("message".into(), Value::from(format!("Invalid credentials provided: {form}")));
    }
    let mut text = value.to_string();
    if let Some(n) = deep {
        text = text.replacen("\"__DEEP__\"", &format!("{}{}", "[".repeat(n), "]".repeat(n)), 1);
    }
    if let Some(number) = number {
        text = text.replacen("\"__NUMBER__\"", number, 1);
    }
    if duplicate {
        if let (Some(key), true) = (records_key(integration), text.starts_with('{')) {
            text.insert_str(1, &format!("\"{key}\":[{{\"id\":\"dup\"}}],"));
        }
    }
    let natural_bytes = text.into_bytes();
    let mut body = match &reply.body {
        Body::Natural | Body::Edited(_) => natural_bytes,
        Body::Cut(at) => natural_bytes[..natural_bytes.len() * *at as usize / 1000].to_vec(),
        Body::NotUtf8(at) => {
            let mut bytes = natural_bytes;
            let i = (bytes.len() * *at as usize / 1000).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) {
                *b = 0xff;
            }
            bytes
        }
        Body::Bom => [b"\xef\xbb\xbf".to_vec(), natural_bytes].concat(),
        Body::Gzip { real: true } => {
            headers.push(("Content-Encoding".into(), b"gzip".to_vec()));
            gzip(&natural_bytes)
        }
        Body::Gzip { real: false } => {
            headers.push(("Content-Encoding".into(), b"gzip".to_vec()));
            natural_bytes
        }
        Body::Raw(bytes) => bytes.clone(),
        Body::Nested(n) => format!("{}{}", "{\"a\":".repeat(*n), "}".repeat(*n)).into_bytes(),
        Body::HugeString(n) => format!("{{\"message\": \"{}\"}}", "s".repeat(*n)).into_bytes(),
        Body::FormEncoded => {
            let pairs: Vec<(String, String)> = match &value {
                Value::Object(map) => {
                    map.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect()
                }
                _ => vec![],
            };
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
        }
    };
    if let (Some((form, Place::Body | Place::Both)), false) = (&echo, matches!(reply.body, Body::Natural | Body::Edited(_))) {
        body.extend_from_slice(format!(" token={form}").as_bytes());
    }
    if let Some((form, Place::Header | Place::Both)) = &echo {
        headers.push(("X-Echo".into(), form.clone().into_bytes()));
    }
    for (name, value) in &reply.headers {
        let value = match std::str::from_utf8(value) {
            Ok(text) => text.replace("{origin}", origin).into_bytes(),
            Err(_) => value.clone(),
        };
        headers.push((name.clone(), value));
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reply.reason).into_bytes();
    let mut header = |name: &str, value: &[u8]| {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    };
    if let Some(content_type) = reply.content_type {
        header("Content-Type", content_type.as_bytes());
    }
    for (name, value) in &headers {
        header(name, value);
    }
    header("X-Fuzz-Provider", b"1");
    header("Connection", b"close");
    let body = match reply.framing {
        Framing::Exact => {
            header("Content-Length", body.len().to_string().as_bytes());
            body
        }
        Framing::UntilClose => body,
        Framing::LengthTooLong(n) => {
            header("Content-Length", (body.len() + n).to_string().as_bytes());
            body
        }
        Framing::LengthTooShort(n) => {
            header("Content-Length", body.len().saturating_sub(n).to_string().as_bytes());
            body
        }
        Framing::Chunked | Framing::ChunkedCut => {
            header("Transfer-Encoding", b"chunked");
            let mut chunked = Vec::new();
            for chunk in body.chunks(1000) {
                chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                chunked.extend_from_slice(chunk);
                chunked.extend_from_slice(b"\r\n");
            }
            if matches!(reply.framing, Framing::Chunked) {
                chunked.extend_from_slice(b"0\r\n\r\n");
            } else {
                chunked.truncate(chunked.len() * 2 / 3);
            }
            chunked
        }
    };
    head.extend_from_slice(b"\r\n");
    Written { head, body, stall: reply.stall.then_some(STALL) }
}

/// How long a stalling provider waits mid-body: longer than the calls' timeout.
pub(crate) const STALL: Duration = Duration::from_millis(1300);
pub(crate) const TIMEOUT: Duration = Duration::from_millis(1000);
/// The engine's largest response body here (the server keeps its default).
pub(crate) const LIMIT: usize = 512 * 1024;
