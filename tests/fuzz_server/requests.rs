//! What the HTTP API fuzz's requests are made of: routes and path edits, query strings,
//! authorization, content types and headers, JSON bodies and their edits, methods, NDJSON
//! import lines, and the malformed requests the HTTP parser refuses. `tests/fuzz_server.rs`
//! renders them against its server and checks the answers.

use super::fuzz::{shown, RawAnswer};
use super::{support, Fixture};
use proptest::prelude::*;
use serde_json::{json, Value};

// --- what requests are made of ---

/// The roles' ids and the keys, in a text with placeholders.
pub(crate) fn substitute(f: &Fixture, text: &str) -> String {
    let ids = f.ids.lock().unwrap();
    let mut out = text.to_string();
    for (role, id) in ids.iter() {
        out = out.replace(&format!("{{{role}}}"), id);
    }
    out
}

/// Every route of the router (server/src/routes/mod.rs), with ids of the kept accounts, missing
/// ones and names the server does not know, and the query a client would send there (the
/// account of a unified call); and paths that are no route.
pub(crate) fn route() -> impl Strategy<Value = (String, &'static str)> {
    let known = prop::sample::select(vec![
        ("/healthz", ""),
        ("/metrics", ""),
        ("/", ""),
        ("/v1", ""),
        ("/v1/openapi.json", ""),
        ("/v1/installs", ""),
        ("/v1/installs/epoch_reset_limits", ""),
        ("/v1/installs/cursor_body", ""),
        ("/v1/installs/no_such_integration", ""),
        ("/v1/accounts", ""),
        ("/v1/accounts", "integration=cursor_body"),
        ("/v1/accounts/import", "verify=false"),
        ("/v1/accounts/{oauth}", ""),
        ("/v1/accounts/{apikey}", ""),
        ("/v1/accounts/{scratch}", ""),
        ("/v1/accounts/acc_0000000000000000", ""),
        ("/v1/accounts/{oauth}/refresh", ""),
        ("/v1/accounts/{apikey}/refresh", ""),
        ("/v1/accounts/{scratch}/refresh", ""),
        ("/v1/connect/epoch_reset_limits/authorize", "external_id=con-a&connection.org=acme"),
        ("/v1/connect/cursor_body/authorize", ""),
        ("/v1/connect/no_such_integration/authorize", ""),
        ("/v1/connect/callback", "state=x&code=y"),
        ("/v1/unified/crm/contacts", "account_id={bearer}"),
        ("/v1/unified/crm/contacts", "account_id={oauth}"),
        ("/v1/unified/crm/contacts", "account_id={apikey}"),
        ("/v1/unified/crm/contacts", "account_id={bearer}&page_size=1"),
        ("/v1/unified/crm/contacts/51", "account_id={bearer}"),
        ("/v1/unified/crm/contacts/7", "account_id={oauth}"),
        ("/v1/unified/crm/contacts/3", "account_id={apikey}"),
        ("/v1/unified/crm/contacts/1/extra", "account_id={bearer}"),
        ("/v1/unified/merge_crm/contacts", "account_id={bearer}"),
        ("/v1/unified/no_model/contacts", "account_id={bearer}"),
        ("/v1/unified/crm/no_resource", "account_id={oauth}"),
        ("/v1/proxy/{oauth}/orgs/acme/members", "page=2"),
        ("/v1/proxy/{oauth}/user/1", ""),
        ("/v1/proxy/{apikey}/persons", ""),
        ("/v1/proxy/{bearer}/crm/v3/objects/contacts", "limit=1"),
        ("/v1/proxy/{bearer}/crm/v3/objects/contacts/51", ""),
        ("/v1/proxy/{bearer}/no/such/path", ""),
        ("/v1/proxy/{scratch}/", ""),
        ("/v1/proxy/{bearer}", ""),
        ("/v1/proxy/acc_0000000000000000/anything", ""),
        ("/v1/logs", ""),
        ("/v1/logs", "account_id={oauth}&limit=5"),
        ("/v1/api-keys", ""),
        ("/v1/api-keys/{victim}", ""),
        ("/v1/api-keys/{victim}", "force=true"),
        ("/v1/api-keys/{victim}/rotate", ""),
        ("/v1/api-keys/key_0000000000000000", ""),
        ("/v1/api-keys/key_0000000000000000/rotate", ""),
    ])
    .prop_map(|(path, query)| (path.to_string(), query));
    let segment = prop::sample::select(vec![
        "v1", "accounts", "proxy", "unified", "crm", "{oauth}", "{bearer}", "x", "", "import", "api-keys", "{victim}",
    ]);
    let random = prop::collection::vec(segment, 1..6).prop_map(|parts| (format!("/{}", parts.join("/")), ""));
    prop_oneof![8 => known, 1 => random]
}

/// Pieces that may be put into a path as they are (the HTTP parser accepts them): traversal,
/// encoded and double-encoded dots and slashes, overlong UTF-8, NUL, bad escapes, UTF-8.
pub(crate) fn path_piece() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "..",
        "/..",
        "/../",
        "/../../",
        "%2e%2e",
        "%2E%2e/",
        ".%2e",
        "%252e%252e",
        "/.",
        "./",
        "//",
        "///",
        "%2f",
        "%2F",
        "%5c",
        "%5C",
        "\\",
        "%00",
        "%0a",
        "%0d%0a",
        "%c0%ae",
        "%c0%af",
        "%e0%80%ae",
        "%c1%9c",
        "%ff",
        "%fe%ff",
        "%80",
        "%",
        "%4",
        "%zz",
        "%u002e",
        ";",
        ";a=b",
        "@",
        "@evil.example",
        ":",
        ":443",
        "~",
        "%20",
        "+",
        "é",
        "%C3%A9",
        "%F0%9F%98%80",
        "😀",
        "*",
        "!$&'()*+,=",
        "|",
        "\"",
        "{",
        "}",
        "^",
        "[",
        "]",
        "%7B%7D",
        "http://evil.example/",
        "..;/",
        "%3F",
        "%23",
    ])
    .prop_map(str::to_string)
}

#[derive(Debug, Clone)]
pub(crate) enum PathEdit {
    Insert(String),
    /// Percent-encodes the character there (upper or lower hex).
    Encode(bool),
    Cut,
    /// A long segment of the piece repeated.
    Long(String, usize),
}

pub(crate) fn path_edit() -> impl Strategy<Value = (u16, PathEdit)> {
    let edit = prop_oneof![
        5 => path_piece().prop_map(PathEdit::Insert),
        2 => any::<bool>().prop_map(PathEdit::Encode),
        1 => Just(PathEdit::Cut),
        1 => (prop::sample::select(vec!["a", "%2e", "é", "%c0%ae", "/", ".", "%"]), prop::sample::select(vec![300usize, 4000, 16000]))
            .prop_map(|(piece, n)| PathEdit::Long(piece.to_string(), n)),
    ];
    (0..1000u16, edit)
}

pub(crate) fn apply_edits(path: &str, edits: &[(u16, PathEdit)]) -> String {
    let mut path = path.to_string();
    for (at, edit) in edits {
        let mut i = (path.len() * *at as usize / 1000).min(path.len());
        while !path.is_char_boundary(i) {
            i += 1;
        }
        match edit {
            PathEdit::Insert(piece) => path.insert_str(i, piece),
            PathEdit::Encode(upper) => {
                if let Some(c) = path[i..].chars().next() {
                    let mut buffer = [0u8; 4];
                    let encoded: String = c
                        .encode_utf8(&mut buffer)
                        .bytes()
                        .map(|b| if *upper { format!("%{b:02X}") } else { format!("%{b:02x}") })
                        .collect();
                    path.replace_range(i..i + c.len_utf8(), &encoded);
                }
            }
            PathEdit::Cut => path.truncate(i.max(1)),
            PathEdit::Long(piece, n) => path.insert_str(i, &format!("/{}", piece.repeat(n / piece.len().max(1)))),
        }
    }
    path
}

/// A query value: an id, a number (negative, huge, not one), or text with bad escapes.
pub(crate) fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["{oauth}", "{apikey}", "{bearer}", "{scratch}", "acc_0000000000000000"]).prop_map(str::to_string),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "500",
            "501",
            "10000",
            "10001",
            "99999999999999999999",
            "9223372036854775807",
            "-9223372036854775808",
            "1e3",
            "1.5",
            "NaN",
            "0x10",
            "true",
            "maybe",
            "",
        ])
        .prop_map(str::to_string),
        prop::sample::select(vec![
            "%",
            "%zz",
            "%c0%ae",
            "%00",
            "%ff",
            "%e2%82",
            "+",
            "++",
            "=",
            "==",
            ";",
            "é",
            "%C3%A9",
            "'",
            "(",
            "[]",
            "{}",
            "\\",
            "|",
            "^",
            "`",
            "~",
            "%26",
            "%3D",
            "javascript:alert(1)",
            "https://app.example.com.evil.com/x",
            "https://app.example.com@evil.com/",
            "https://app.example.com/connected/done",
            "https://app.example.com/connected-evil",
            "//evil.example",
            "https://APP.example.com:443/connected/%2e%2e/x",
            "eyJhbGciOiJub25lIn0.e30.",
            "?",
            "/",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9_.~-]{0,24}",
    ]
}

pub(crate) fn query_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "account_id", "page_size", "cursor", "limit", "before", "integration", "verify", "external_id", "return_to", "connection.org",
            "connection.company_domain", "connection.", "code", "state", "error", "error_description", "updated_since", "properties", "force",
        ])
        .prop_map(str::to_string),
        1 => prop::sample::select(vec!["", "a[b]", "%zz", "%c0%ae", "é", "account_id%00", "ACCOUNT_ID", "account_id[]"]).prop_map(str::to_string),
    ]
}

/// A query string: pairs (keys repeated at will), maybe one huge value, or raw junk.
pub(crate) fn query() -> impl Strategy<Value = Option<String>> {
    let pairs = prop::collection::vec((query_key(), query_value()), 0..5);
    let huge = prop::option::weighted(0.1, (query_key(), prop::sample::select(vec![1000usize, 16000])));
    let junk =
        prop::sample::select(vec!["", "&", "&&&", "=", "==&=", "a", "a=%", "a=1?b=2", "#frag", "a=1#b=2", "?", "%", ";;", "&account_id"]);
    prop_oneof![
        1 => Just(None),
        6 => (pairs, huge).prop_map(|(pairs, huge)| {
            let mut parts: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            if let Some((key, n)) = huge {
                parts.push(format!("{key}={}", "A".repeat(n)));
            }
            Some(parts.join("&"))
        }),
        1 => junk.prop_map(|j| Some(j.to_string())),
    ]
}

/// The `Authorization` header: the key in the ways RFC 7235 allows and in ways it does not,
/// the other environment's key, none, junk.
#[derive(Debug, Clone)]
pub(crate) enum Auth {
    Key {
        scheme: &'static str,
        separator: &'static str,
        trailing: &'static str,
    },
    OtherEnvironment,
    Missing,
    Value(Vec<u8>),
    /// The key cut to this many characters.
    Truncated(usize),
    Basic,
    /// The key, then a second `Authorization` header.
    Twice(Vec<u8>),
}

pub(crate) fn auth() -> impl Strategy<Value = Auth> {
    let scheme = prop::sample::select(vec!["Bearer", "bearer", "BEARER", "bEaReR"]);
    let separator = prop::sample::select(vec![" ", "\t", "   ", " \t "]);
    let trailing = prop::sample::select(vec!["", " ", "\t", " x", ","]);
    let junk = prop_oneof![
        prop::sample::select(vec![
            "",
            "Bearer",
            "Bearer ",
            "Bearer sy_",
            "Bearer sy_not-a-key",
            "Token sy_x",
            "Basic Og==",
            "Bearer\u{00e9} x",
            "Bé k1",
            "Digest username=\"x\"",
            "Bearer a b c",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        Just(b"Bearer \xff\xfe\x80".to_vec()),
        prop::sample::select(vec![100usize, 8000]).prop_map(|n| format!("Bearer {}", "A".repeat(n)).into_bytes()),
    ];
    prop_oneof![
        14 => (scheme, separator, trailing).prop_map(|(scheme, separator, trailing)| Auth::Key { scheme, separator, trailing }),
        1 => Just(Auth::OtherEnvironment),
        1 => Just(Auth::Missing),
        2 => junk.clone().prop_map(Auth::Value),
        1 => (0..40usize).prop_map(Auth::Truncated),
        1 => Just(Auth::Basic),
        1 => junk.prop_map(Auth::Twice),
    ]
}

pub(crate) fn auth_headers(f: &Fixture, auth: &Auth) -> Vec<Vec<u8>> {
    match auth {
        Auth::Key { scheme, separator, trailing } => vec![format!("{scheme}{separator}{}{trailing}", f.key).into_bytes()],
        Auth::OtherEnvironment => vec![format!("Bearer {}", f.other_key).into_bytes()],
        Auth::Missing => vec![],
        Auth::Value(value) => vec![value.clone()],
        Auth::Truncated(n) => vec![format!("Bearer {}", &f.key[..(*n).min(f.key.len())]).into_bytes()],
        Auth::Basic => vec![format!("Basic {}", support::base64_encode(format!("{}:", f.key).as_bytes())).into_bytes()],
        Auth::Twice(value) => vec![format!("Bearer {}", f.key).into_bytes(), value.clone()],
    }
}

pub(crate) fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.8,
        prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=utf-16",
            "application/x-ndjson",
            "application/jsonl",
            "text/plain",
            "text/html",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "application/json, text/html",
            ";;;;",
            "application/",
            "*/*",
            "APPLICATION/JSON",
        ])
        .prop_map(str::to_string),
    )
}

/// Other headers: lies about the body, forwarding and proxy headers, many headers, a large one.
pub(crate) fn extra_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let one = prop_oneof![
        prop::sample::select(vec![
            ("Accept", "application/json"),
            ("Accept", "text/html"),
            ("Accept", "*/*;q=0.1, application/json;q=abc"),
            ("Accept-Encoding", "gzip, br, deflate"),
            ("Content-Encoding", "gzip"),
            ("Content-Encoding", "br, identity"),
            ("Expect", "100-continue"),
            ("X-Forwarded-For", "169.254.169.254"),
            ("X-Forwarded-Host", "evil.example"),
            ("Forwarded", "for=127.0.0.1;host=evil.example"),
            ("Cookie", "session=abc; other=%zz"),
            ("X-Api-Token", "fuzz-header-token"),
            ("Proxy-Authorization", "Basic Og=="),
            ("Range", "bytes=0-10,5-1"),
            ("If-None-Match", "*"),
            ("Origin", "https://evil.example"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("Accept-Language", "é;q=0.9"),
            ("Upgrade", "websocket"),
            ("Host", "evil.example"),
            ("Te", "trailers"),
        ])
        .prop_map(|(n, v)| vec![(n.to_string(), v.as_bytes().to_vec())]),
        Just(vec![("X-Obs-Text".to_string(), b"caf\xe9 \xff\x80".to_vec())]),
        prop::sample::select(vec![1000usize, 8000]).prop_map(|n| vec![("X-Large".to_string(), "v".repeat(n).into_bytes())]),
        Just((0..60).map(|i| (format!("X-Many-{i}"), b"v".to_vec())).collect()),
    ];
    // The HTTP parser takes at most 100 headers (more is `malformed_http_…`'s).
    prop::collection::vec(one, 0..3).prop_map(|lists| lists.concat().into_iter().take(80).collect())
}

/// JSON values of every type, nested a little.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "{oauth}",
            "acc_0000000000000000",
            "2026-11-22T19:00:00Z",
            "not a date",
            "-5000",
            "soon",
            "\u{0000}"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{0,10}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid body of a writing route, to be mutated.
pub(crate) fn valid_body() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({ "integration": "cursor_body", "external_id": "fuzz-new", "credentials": { "token": "pat-fuzz-new-token-0001" }, "verify": false }),
        json!({ "integration": "epoch_reset_limits", "external_id": "fuzz-new-oauth", "connection": { "org": "acme" }, "credentials": { "access_token": "fuzz-access-new-0001", "refresh_token": "fuzz-refresh-new-0001", "expires_at": "2030-01-01T00:00:00Z" }, "verify": false }),
        json!({ "integration": "api_key_header", "external_id": "fuzz-new-key", "connection": { "company_domain": "acme" }, "credentials": { "api_key": "fuzz-api-key-new-0001" }, "verify": true }),
        json!({ "oauth_client": { "client_id": "other-client", "client_secret": "other-secret-0001" }, "settings": { "return_urls": ["https://app.example.com/"] } }),
        json!({ "status": "disabled" }),
        json!({ "connection": { "org": "acme" }, "credentials": { "token": "pat-fuzz-patched-0001" } }),
        json!({ "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@example.com", "type": "work" }] }),
        json!({ "name": "fuzz" }),
        json!({ "overlap_seconds": 60, "name": "rotated" }),
    ])
}

#[derive(Debug, Clone)]
pub(crate) enum JsonEdit {
    /// Sets a member (at the top or one level down) to a value.
    Set(String, Value),
    Remove(String),
    /// Replaces a number's text with one no machine number holds.
    HugeNumber(&'static str),
}

pub(crate) fn json_edit() -> impl Strategy<Value = JsonEdit> {
    let field = prop::sample::select(vec![
        "integration",
        "external_id",
        "connection",
        "credentials",
        "verify",
        "status",
        "oauth_client",
        "settings",
        "credentials.expires_in",
        "credentials.expires_at",
        "credentials.token",
        "credentials.access_token",
        "connection.org",
        "oauth_client.client_secret",
        "settings.return_urls",
        "emails",
        "first_name",
        "unknown",
    ])
    .prop_map(str::to_string);
    prop_oneof![
        4 => (field.clone(), json_value()).prop_map(|(f, v)| JsonEdit::Set(f, v)),
        1 => field.prop_map(JsonEdit::Remove),
        1 => prop::sample::select(vec!["1e400", "-1e400", "18446744073709551616", "-0", "1E+2", "0.0000000000000000000000000001", "123456789012345678901234567890"])
            .prop_map(JsonEdit::HugeNumber),
    ]
}

pub(crate) fn edit_json(mut value: Value, edits: &[JsonEdit]) -> String {
    let mut huge = None;
    for edit in edits {
        match edit {
            JsonEdit::Set(field, _) | JsonEdit::Remove(field) => {
                let (parent, name) = match field.split_once('.') {
                    Some((parent, name)) => (Some(parent), name),
                    None => (None, field.as_str()),
                };
                let target = match parent {
                    Some(parent) => value.get_mut(parent),
                    None => Some(&mut value),
                };
                if let Some(Value::Object(map)) = target {
                    match edit {
                        JsonEdit::Set(_, v) => {
                            map.insert(name.to_string(), v.clone());
                        }
                        _ => {
                            map.remove(name);
                        }
                    }
                }
            }
            JsonEdit::HugeNumber(text) => huge = Some(*text),
        }
    }
    let mut text = value.to_string();
    if let Some(number) = huge {
        // Into the credentials when there are some, else at the top.
        let at = match text.find("\"credentials\":{") {
            Some(at) => at + "\"credentials\":{".len(),
            None if text.starts_with('{') => 1,
            None => return text,
        };
        let comma = if text[at..].starts_with('}') { "" } else { "," };
        text.insert_str(at, &format!("\"expires_in\":{number}{comma}"));
    }
    text
}

/// A request body: none, mutated valid bodies, any JSON, JSON no parser should take whole
/// (truncated, nested thousands deep, with a BOM, duplicated keys, comments), not UTF-8, large.
pub(crate) fn body() -> impl Strategy<Value = Vec<u8>> {
    let edited = (valid_body(), prop::collection::vec(json_edit(), 0..4)).prop_map(|(v, e)| edit_json(v, &e).into_bytes());
    let truncated = (valid_body(), 0..1000usize).prop_map(|(v, at)| {
        let text = v.to_string();
        text.as_bytes()[..(at * text.len() / 1000)].to_vec()
    });
    let nested = (prop::sample::select(vec!["[", "{\"a\":", "[{\"b\":"]), prop::sample::select(vec![64usize, 200, 5000, 100000]))
        .prop_map(|(open, depth)| open.repeat(depth).into_bytes());
    let odd = prop::sample::select(vec![
        "\u{feff}{\"integration\": \"cursor_body\"}",
        "{\"integration\": \"cursor_body\", \"integration\": \"epoch_reset_limits\"}",
        "{\"a\": 1,}",
        "// comment\n{}",
        "{\"credentials\": {\"token\": \"\\ud800\"}}",
        "{\"external_id\": \"\\u0000\"}",
        "NaN",
        "[]",
        "null",
        "\"string\"",
        "{} {}",
        "{\"verify\": \"true\"}",
        "{\"integration\": [\"cursor_body\"]}",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    let not_utf8 = prop::sample::select(vec![
        b"{\"integration\": \"\xff\xfe\"}".to_vec(),
        b"\xff\xfe{\x00\"\x00}\x00".to_vec(),
        b"\xc0\xae\xc0\xae".to_vec(),
        b"{\"external_id\": \"\xed\xa0\x80\"}".to_vec(),
    ]);
    let large =
        prop::sample::select(vec![70_000usize, 300_000]).prop_map(|n| format!("{{\"external_id\": \"{}\"}}", "x".repeat(n)).into_bytes());
    prop_oneof![
        3 => Just(Vec::new()),
        5 => edited,
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => truncated,
        1 => nested,
        2 => odd,
        1 => not_utf8,
        1 => large,
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

pub(crate) fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => prop::sample::select(vec!["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "PATCH", "DELETE"]).prop_map(str::to_string),
        2 => prop::sample::select(vec!["HEAD", "OPTIONS", "TRACE", "PROPFIND", "get", "Post", "X-FUZZ", "M-SEARCH"]).prop_map(str::to_string),
        1 => Just("A".repeat(100)),
    ]
}

/// A request the HTTP parser takes (so the router sees it), but anything else the API may
/// be sent.
#[derive(Clone)]
pub(crate) struct Case {
    pub(crate) method: String,
    pub(crate) path: String,
    /// What a client would send there (`query` adds to it, or replaces it).
    pub(crate) usual_query: &'static str,
    pub(crate) edits: Vec<(u16, PathEdit)>,
    pub(crate) query: Option<String>,
    pub(crate) auth: Auth,
    pub(crate) content_type: Option<String>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    /// Sent chunked, in pieces of this size.
    pub(crate) chunked: Option<usize>,
    pub(crate) http10: bool,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("usual_query", &self.usual_query)
            .field("edits", &self.edits)
            .field("query", &self.query.as_ref().map(|q| shown(q.as_bytes(), 300)))
            .field("auth", &self.auth)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers.iter().map(|(n, v)| format!("{n}: {}", shown(v, 100))).collect::<Vec<_>>())
            .field("body", &shown(&self.body, 600))
            .field("chunked", &self.chunked)
            .field("http10", &self.http10)
            .finish()
    }
}

pub(crate) fn case() -> impl Strategy<Value = Case> {
    (
        method(),
        route(),
        prop_oneof![2 => Just(vec![]), 1 => prop::collection::vec(path_edit(), 1..3)],
        (query(), prop::bool::weighted(0.8)),
        auth(),
        content_type(),
        extra_headers(),
        body(),
        prop::option::weighted(0.2, prop::sample::select(vec![1usize, 7, 1000, 100_000])),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(method, (path, usual_query), edits, (query, usual), auth, content_type, headers, body, chunked, http10)| Case {
            method,
            path,
            usual_query: if usual { usual_query } else { "" },
            edits,
            query,
            auth,
            content_type,
            headers,
            body,
            chunked: chunked.filter(|_| !http10),
            http10,
        })
}

/// The request target: the path edited, then the query. Kept under the HTTP parser's limit.
pub(crate) fn target(f: &Fixture, case: &Case) -> String {
    let mut target = apply_edits(&substitute(f, &case.path), &case.edits);
    let query: Vec<&str> = [Some(case.usual_query), case.query.as_deref()].into_iter().flatten().filter(|q| !q.is_empty()).collect();
    if !query.is_empty() || case.query.is_some() {
        target.push('?');
        target.push_str(&substitute(f, &query.join("&")));
    }
    if !target.starts_with('/') {
        target.insert(0, '/');
    }
    target
}

pub(crate) fn render(f: &Fixture, case: &Case) -> Vec<u8> {
    let version = if case.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut out = format!("{} {} {version}\r\nHost: {}\r\n", case.method, target(f, case), f.addr).into_bytes();
    let mut header = |name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for value in auth_headers(f, &case.auth) {
        header("Authorization", &value);
    }
    if let Some(content_type) = &case.content_type {
        header("Content-Type", content_type.as_bytes());
    }
    for (name, value) in &case.headers {
        header(name, value);
    }
    match case.chunked {
        Some(_) => header("Transfer-Encoding", b"chunked"),
        None if !case.body.is_empty() || matches!(case.method.as_str(), "POST" | "PUT" | "PATCH") => {
            header("Content-Length", case.body.len().to_string().as_bytes())
        }
        None => {}
    }
    header("Connection", b"close");
    out.extend_from_slice(b"\r\n");
    match case.chunked {
        Some(size) => {
            for chunk in case.body.chunks(size) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        None => out.extend_from_slice(&case.body),
    }
    out
}

// --- NDJSON imports ---

#[derive(Debug, Clone)]
pub(crate) enum Line {
    Row { integration: &'static str, external_id: String, verify: Option<bool>, edits: Vec<JsonEdit> },
    NotJson(String),
    NotUtf8(Vec<u8>),
    Blank(&'static str),
    NotObject(Value),
    Long(usize),
}

pub(crate) fn line() -> impl Strategy<Value = Line> {
    let row = (
        prop::sample::select(vec!["cursor_body", "api_key_header", "epoch_reset_limits", "no_such_integration"]),
        prop_oneof![Just("fuzz-bearer".to_string()), "imp-[a-c]{1,2}", Just(String::new())],
        prop::option::of(any::<bool>()),
        prop::collection::vec(json_edit(), 0..2),
    )
        .prop_map(|(integration, external_id, verify, edits)| Line::Row { integration, external_id, verify, edits });
    prop_oneof![
        6 => row,
        1 => prop::sample::select(vec!["{", "{\"a\":", "not json", "[1,2", "{\"external_id\": \"x\"} trailing", "\u{feff}{}"]).prop_map(|s| Line::NotJson(s.to_string())),
        1 => prop::sample::select(vec![b"{\"external_id\": \"\xff\"}".to_vec(), b"\xc0\xae".to_vec(), b"\x80\x80\x80".to_vec(), b"{\"a\": \"\xed\xa0\x80\"}".to_vec()]).prop_map(Line::NotUtf8),
        1 => prop::sample::select(vec!["", " ", "\t", "\r"]).prop_map(Line::Blank),
        1 => json_value().prop_map(Line::NotObject),
        1 => prop::sample::select(vec![10_000usize, 100_000]).prop_map(Line::Long),
    ]
}

pub(crate) fn row_json(line: &Line) -> Vec<u8> {
    match line {
        Line::Row { integration, external_id, verify, edits } => {
            let mut row = match *integration {
                "epoch_reset_limits" => {
                    json!({ "integration": integration, "connection": { "org": "acme" }, "credentials": { "access_token": "imp-access-000001", "refresh_token": "imp-refresh-000001", "expires_in": 3600 } })
                }
                "api_key_header" => {
                    json!({ "integration": integration, "connection": { "company_domain": "acme" }, "credentials": { "api_key": "imp-api-key-000001" } })
                }
                _ => json!({ "integration": integration, "credentials": { "token": "imp-token-0000001" } }),
            };
            if !external_id.is_empty() {
                row["external_id"] = json!(external_id);
            }
            if let Some(verify) = verify {
                row["verify"] = json!(verify);
            }
            edit_json(row, edits).into_bytes()
        }
        Line::NotJson(text) => text.as_bytes().to_vec(),
        Line::NotUtf8(bytes) => bytes.clone(),
        Line::Blank(text) => text.as_bytes().to_vec(),
        Line::NotObject(value) => value.to_string().into_bytes(),
        Line::Long(n) => format!("{{\"integration\": \"cursor_body\", \"external_id\": \"{}\"}}", "l".repeat(*n)).into_bytes(),
    }
}

/// Checks an import's answer: every non-blank line has its row, rows count into the summary,
/// every failed row has a documented code.
pub(crate) fn check_import(f: &Fixture, body: &[u8], ndjson: bool, answer: &RawAnswer) -> Result<(), TestCaseError> {
    if answer.status != 200 {
        return Ok(());
    }
    let sent = body;
    let body: Value =
        serde_json::from_slice(&answer.body).map_err(|e| TestCaseError::fail(format!("the import's answer is not JSON: {e}")))?;
    let results = body["results"].as_array().cloned().unwrap_or_default();
    let summary = &body["summary"];
    let count = |s: &str| summary[s].as_u64().unwrap_or(u64::MAX);
    prop_assert_eq!(count("created") + count("already_exists") + count("failed"), results.len() as u64, "{}", body);
    if ndjson {
        let rows = sent.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count();
        prop_assert_eq!(results.len(), rows, "one result per non-blank line: {}", body);
    }
    for (i, result) in results.iter().enumerate() {
        prop_assert_eq!(result["row"].as_u64(), Some(i as u64 + 1), "{}", result);
        let status = result["status"].as_str().unwrap_or_default();
        prop_assert!(matches!(status, "created" | "already_exists" | "failed"), "{}", result);
        if status == "failed" {
            let code = result["error"]["code"].as_str().unwrap_or_default();
            prop_assert!(f.codes.contains_key(code), "row {}: `{}` is not a documented code: {}", i + 1, code, result);
            prop_assert!(result["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", result);
        }
    }
    Ok(())
}
