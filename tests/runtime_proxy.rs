//! The raw proxy against loopback mock providers: requests passed through with the
//! account's credentials in place of the caller's, answers passed back whatever their status
//! or content type, credentials refreshed as for unified calls, and every path that could
//! leave the integration's base URL refused before anything is sent.

mod support;

use axum::body::Bytes;
use serde_json::json;
use std::time::Duration;
use support::{account, engine, engine_routed, now, pairs, registry, Mock, Recorded, Reply};
use switchyard_runtime::account::{Account, Install, Secret};
use switchyard_runtime::engine::{ProxyRequest, ProxyResponse};
use switchyard_runtime::error::{ErrorKind, RuntimeError};

/// An account of `proxy_subdomain` (OAuth2, per-account subdomain) whose token expires in
/// `expires_in` seconds (negative: expired that long ago).
fn subdomain_account(subdomain: &str, access: &str, expires_in: i64) -> Account {
    let mut account = account("proxy_subdomain", &[("subdomain", subdomain)], &[("access_token", access), ("refresh_token", "rt-1")]);
    account.credentials.expires_at = Some(if expires_in >= 0 {
        now() + Duration::from_secs(expires_in as u64)
    } else {
        now() - Duration::from_secs((-expires_in) as u64)
    });
    account.install = Install { client_id: Some("client-1".into()), client_secret: Some(Secret::new("secret-1")), webhook_secret: None };
    account
}

fn get(path: &str) -> ProxyRequest {
    ProxyRequest { method: "GET".into(), path: path.into(), ..ProxyRequest::default() }
}

fn err(result: Result<ProxyResponse, RuntimeError>) -> RuntimeError {
    match result {
        Ok(response) => panic!("expected an error, got HTTP {} {:?}", response.status, response.body),
        Err(e) => e,
    }
}

/// Answers the token endpoint with `at-2`, and API calls with 200 for `at-2` (and `at-1`
/// unless `only_new`), else 401.
fn provider(only_new: bool) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    move |request, _| {
        if request.path == "/oauth/token" {
            return Reply::json(200, json!({ "access_token": "at-2", "token_type": "Bearer", "expires_in": 3600 }));
        }
        match request.header("authorization") {
            Some("Bearer at-2") => Reply::json(200, json!({ "contacts": [{ "id": 1 }] })),
            Some("Bearer at-1") if !only_new => Reply::json(200, json!({ "contacts": [{ "id": 1 }] })),
            _ => Reply::json(401, json!({ "error": "invalid_token" })),
        }
    }
}

// ---------------------------------------------------------------------------------------
// passing through

#[tokio::test]
async fn a_get_with_its_query_is_sent_under_the_base_path_with_the_accounts_credentials() {
    let mock = Mock::start(|_, _| {
        Reply::json(200, json!({ "notes": [] }))
            .header("x-ratelimit-limit", "100")
            .header("x-ratelimit-remaining", "97")
            .header("x-ratelimit-reset", "30")
            .header("keep-alive", "timeout=5")
            .header("x-provider-request-id", "req-7")
    })
    .await;
    let engine = engine(registry(), &mock);
    let request = ProxyRequest {
        query: Some("page%5Bsize%5D=2&q=a%20b&flag".into()),
        headers: pairs(&[
            ("Authorization", "Bearer the-callers-own"),
            ("Cookie", "session=1"),
            ("Host", "evil.example"),
            ("Proxy-Authorization", "Basic eDp5"),
            ("Connection", "X-Hop-Secret"),
            ("X-Hop-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Accept", "application/json"),
            ("X-Api-Version", "1999-01-01"),
            ("X-Request-Id", "abc"),
        ]),
        ..get("/contacts/42/notes")
    };
    let response = engine.proxy(&subdomain_account("acme", "at-1", 3600), request).await.unwrap();

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/v2/contacts/42/notes");
    assert_eq!(requests[0].raw_query.as_deref(), Some("page%5Bsize%5D=2&q=a%20b&flag"));
    // The caller's credentials and hop-by-hop headers are gone; the definition's version
    // header replaced the caller's.
    assert_eq!(
        requests[0].app_headers(),
        pairs(&[
            ("accept", "application/json"),
            ("authorization", "Bearer at-1"),
            ("x-api-version", "2024-06-01"),
            ("x-request-id", "abc")
        ])
    );

    assert_eq!(response.status, 200);
    assert_eq!(response.body, Bytes::from_static(br#"{"notes":[]}"#));
    assert_eq!(response.headers.get("content-type").unwrap(), "application/json");
    assert_eq!(response.headers.get("x-provider-request-id").unwrap(), "req-7");
    assert!(response.headers.get("keep-alive").is_none(), "hop-by-hop headers are not returned");
    assert_eq!(
        (response.rate_limit.limit, response.rate_limit.remaining, response.rate_limit.reset_seconds),
        (Some(100), Some(97), Some(30))
    );
    assert!(!response.rate_limit.limited);
    assert!(response.refreshed.is_none());
}

#[tokio::test]
async fn a_post_sends_the_callers_body_and_content_type_once() {
    let mock = Mock::start(|_, _| Reply::json(201, json!({ "id": 43 }))).await;
    let engine = engine(registry(), &mock);
    let body = Bytes::from_static(br#"{"name":"Ada","tags":["a","b"]}"#);
    let request = ProxyRequest {
        method: "POST".into(),
        path: "contacts".into(),
        headers: pairs(&[("Content-Type", "application/json; charset=utf-8"), ("Content-Length", "999")]),
        body: Some(body.clone()),
        ..ProxyRequest::default()
    };
    let response = engine.proxy(&subdomain_account("acme", "at-1", 3600), request).await.unwrap();
    assert_eq!((response.status, response.body.as_ref()), (201, br#"{"id":43}"#.as_ref()));

    let requests = mock.requests();
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("POST", "/api/v2/contacts"));
    assert_eq!(requests[0].body, body);
    assert_eq!(requests[0].headers.get_all("content-type").iter().collect::<Vec<_>>(), vec!["application/json; charset=utf-8"]);
    assert_eq!(requests[0].header("content-length"), Some(body.len().to_string().as_str()));
    assert_eq!(requests[0].header("authorization"), Some("Bearer at-1"));
}

#[tokio::test]
async fn put_patch_delete_head_and_options_are_sent_as_asked() {
    let mock = Mock::start(|request, _| {
        if request.method == "HEAD" {
            Reply::raw(200, "application/json", "").header("x-total-count", "12")
        } else {
            Reply::raw(200, "text/plain", request.method.clone())
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = subdomain_account("acme", "at-1", 3600);
    for method in ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "delete"] {
        let response = engine.proxy(&account, ProxyRequest { method: method.into(), ..get("/contacts/42") }).await.unwrap();
        let expected = if method == "HEAD" { String::new() } else { method.to_ascii_uppercase() };
        assert_eq!(String::from_utf8_lossy(&response.body), expected);
        if method == "HEAD" {
            assert_eq!(response.headers.get("x-total-count").unwrap(), "12");
        }
    }
    let methods: Vec<String> = mock.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "DELETE"]);
}

#[tokio::test]
async fn upstream_errors_are_answers_not_errors() {
    let mock = Mock::start(|request, _| match request.path.as_str() {
        "/api/v2/contacts/404" => Reply::json(404, json!({ "error": "RecordNotFound", "description": "Not found" })),
        "/api/v2/contacts/500" => Reply::raw(500, "text/html", "<h1>Internal Server Error</h1>"),
        _ => Reply::json(429, json!({ "error": "slow down" })).header("x-ratelimit-remaining", "0").header("x-ratelimit-reset", "12"),
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = subdomain_account("acme", "at-1", 3600);

    let not_found = engine.proxy(&account, get("/contacts/404")).await.unwrap();
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.body, Bytes::from_static(br#"{"error":"RecordNotFound","description":"Not found"}"#));

    let failed = engine.proxy(&account, get("/contacts/500")).await.unwrap();
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body, Bytes::from_static(b"<h1>Internal Server Error</h1>"));
    assert_eq!(failed.headers.get("content-type").unwrap(), "text/html");

    // A limited answer comes back too, with the normalized state.
    let limited = engine.proxy(&account, get("/contacts")).await.unwrap();
    assert_eq!(limited.status, 429);
    assert!(limited.rate_limit.limited);
    assert_eq!((limited.rate_limit.remaining, limited.rate_limit.reset_seconds), (Some(0), Some(12)));
    assert_eq!(mock.requests().len(), 3, "nothing is retried");
}

#[tokio::test]
async fn bodies_that_are_not_json_pass_through_byte_for_byte() {
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let served = binary.clone();
    let mock = Mock::start(move |request, _| match request.path.as_str() {
        "/api/v2/exports/contacts.csv" => Reply::raw(200, "text/csv", "id,name\n1,Ada\n2,\"Grace, H\"\n"),
        "/api/v2/files/1" => Reply::raw(200, "application/octet-stream", served.clone()),
        _ => Reply::raw(200, "application/json", "{\"truncated\": "),
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = subdomain_account("acme", "at-1", 3600);
    let csv = engine.proxy(&account, get("/exports/contacts.csv")).await.unwrap();
    assert_eq!(csv.body, Bytes::from_static(b"id,name\n1,Ada\n2,\"Grace, H\"\n"));
    let file = engine.proxy(&account, get("/files/1")).await.unwrap();
    assert_eq!(file.body.as_ref(), binary.as_slice());
    let broken = engine.proxy(&account, get("/broken")).await.unwrap();
    assert_eq!(broken.body, Bytes::from_static(b"{\"truncated\": "), "a body that claims JSON is not parsed either");
}

#[tokio::test]
async fn an_api_key_in_the_query_replaces_the_callers_and_a_definitions_query_is_added() {
    let mock = Mock::start(|_, _| Reply::json(200, json!([]))).await;
    let engine = engine(registry(), &mock);
    let keyed = account("cursor_header", &[], &[("api_key", "k-account")]);
    engine.proxy(&keyed, ProxyRequest { query: Some("api_key=k-stolen&limit=5".into()), ..get("/contacts") }).await.unwrap();

    let mut oauth = account("connect_basic", &[], &[("access_token", "at-basic")]);
    oauth.credentials.expires_at = Some(now() + Duration::from_secs(3600));
    engine.proxy(&oauth, ProxyRequest { query: Some("api-version=1&x=2".into()), ..get("/users") }).await.unwrap();

    let requests = mock.requests();
    assert_eq!(requests[0].path, "/v1/contacts");
    assert_eq!(requests[0].query, pairs(&[("limit", "5"), ("api_key", "k-account")]));
    assert_eq!(requests[1].path, "/users");
    assert_eq!(requests[1].query, pairs(&[("x", "2"), ("api-version", "7")]));
    assert_eq!(requests[1].header("authorization"), Some("Bearer at-basic"));
}

// ---------------------------------------------------------------------------------------
// credentials

#[tokio::test]
async fn an_expired_token_is_refreshed_before_the_request() {
    let mock = Mock::start(provider(true)).await;
    let engine = engine(registry(), &mock);
    let response = engine.proxy(&subdomain_account("acme", "at-1", -60), get("/contacts")).await.unwrap();
    assert_eq!(response.status, 200);
    let requests = mock.requests();
    assert_eq!(requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/oauth/token", "/api/v2/contacts"]);
    assert_eq!(
        requests[0].form(),
        pairs(&[("grant_type", "refresh_token"), ("refresh_token", "rt-1"), ("client_id", "client-1"), ("client_secret", "secret-1")])
    );
    assert_eq!(requests[1].header("authorization"), Some("Bearer at-2"));
    let refreshed = response.refreshed.expect("the proxy refreshed the token");
    assert_eq!(refreshed.credentials.get("access_token"), Some("at-2"));
    assert_eq!(refreshed.credentials.get("refresh_token"), Some("rt-1"));
    assert_eq!(refreshed.credentials.expires_at, Some(now() + Duration::from_secs(3600)));
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_with_the_body_again() {
    let mock = Mock::start(provider(true)).await;
    let engine = engine(registry(), &mock);
    let request = ProxyRequest {
        method: "POST".into(),
        headers: pairs(&[("Content-Type", "text/plain")]),
        body: Some(Bytes::from_static(b"hello")),
        ..get("/contacts")
    };
    let response = engine.proxy(&subdomain_account("acme", "at-1", 3600), request).await.unwrap();
    assert_eq!(response.status, 200);
    assert!(response.refreshed.is_some());
    let requests = mock.requests();
    assert_eq!(requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/api/v2/contacts", "/oauth/token", "/api/v2/contacts"]);
    assert_eq!((requests[0].header("authorization"), requests[2].header("authorization")), (Some("Bearer at-1"), Some("Bearer at-2")));
    assert_eq!((requests[2].body.as_ref(), requests[2].header("content-type")), (b"hello".as_ref(), Some("text/plain")));
}

#[tokio::test]
async fn a_401_that_survives_the_refresh_needs_reauth() {
    let mock = Mock::start(|request, _| {
        if request.path == "/oauth/token" {
            return Reply::json(200, json!({ "access_token": "at-2", "expires_in": 3600 }));
        }
        Reply::json(401, json!({ "error": "invalid_token" }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = err(engine.proxy(&subdomain_account("acme", "at-1", 3600), get("/contacts")).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(error.provider_status, Some(401));
    assert_eq!(error.body_excerpt.as_deref(), Some(r#"{"error":"invalid_token"}"#));
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/v2/contacts", "/oauth/token", "/api/v2/contacts"], "one refresh, one retry");

    // Refreshed before the call (expired) and still refused: no second refresh.
    let mock = Mock::start(|request, _| {
        if request.path == "/oauth/token" {
            return Reply::json(200, json!({ "access_token": "at-2", "expires_in": 3600 }));
        }
        Reply::json(401, json!({ "error": "invalid_token" }))
    })
    .await;
    let engine = support::engine(registry(), &mock);
    let error = err(engine.proxy(&subdomain_account("acme", "at-1", -1), get("/contacts")).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert!(error.message.contains("freshly refreshed"), "{}", error.message);
    assert_eq!(mock.requests().iter().map(|r| r.path.clone()).collect::<Vec<_>>(), ["/oauth/token", "/api/v2/contacts"]);
}

#[tokio::test]
async fn a_401_to_an_api_key_needs_reauth_without_a_refresh() {
    let mock = Mock::start(|_, _| Reply::json(401, json!({ "message": "bad key" }))).await;
    let engine = engine(registry(), &mock);
    let error = err(engine.proxy(&account("cursor_header", &[], &[("api_key", "k-dead")]), get("/contacts")).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth);
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_provider_is_an_error() {
    let engine = support::engine_at(registry(), &support::refused_origin());
    let error = err(engine.proxy(&subdomain_account("acme", "at-1", 3600), get("/contacts")).await);
    assert_eq!(error.kind, ErrorKind::Connection);
}

// ---------------------------------------------------------------------------------------
// staying on the base URL

/// Paths that could leave the base URL, in every spelling: none may be sent.
const HOSTILE_PATHS: &[&str] = &[
    // absolute and scheme-relative URLs
    "http://evil.example/x",
    "https://evil.example",
    "https:/x",
    "https:evil.example",
    "HTTP://evil.example",
    "javascript:alert(1)",
    "//evil.example/x",
    "//evil.example",
    "///evil.example",
    // authority tricks
    "@evil.example/x",
    "user:pass@evil.example/x",
    "acme.crm.example.com@evil.example",
    ":443@evil.example/x",
    // dot segments, plain and encoded
    "..",
    ".",
    "/..",
    "/.",
    "/../x",
    "/./x",
    "../x",
    "/a/../../x",
    "/contacts/..",
    "/a/..;/x",
    "/a/.. /x",
    "/%2e%2e/x",
    "/%2E%2E/x",
    "/%2E%2e/x",
    "/.%2e/x",
    "/%2e./x",
    "/%2e/x",
    "/a/%2e%2e",
    "/%2e%2e;x/y",
    // double and triple encoding
    "/%252e%252e/x",
    "/a/%252E%252e",
    "/%25252e%25252e/x",
    "/a%252fb",
    // encoded slashes and backslashes
    "/a%2fb",
    "/a%2Fb",
    "/%2f%2fevil.example/x",
    "/a%5cb",
    "/a%5Cb",
    "/a\\b",
    "\\\\evil.example\\x",
    "/\\evil.example",
    // control characters and NUL
    "/x%00",
    "/x%00.json",
    "/x%0d%0aHost:%20evil.example",
    "/x%0aX-Injected:%201",
    "/x%7f",
    "/x\r\nHost: evil.example",
    "/x\0",
    "/x\t",
    // other things a path cannot hold
    "/a//b",
    "/x?api_key=stolen",
    "/x#frag",
    "/x y",
    "/caf\u{e9}",
    "/a%zz",
    "/a%2",
    "/a%",
];

#[tokio::test]
async fn hostile_paths_are_refused_before_anything_is_sent() {
    let mock = Mock::start(provider(false)).await;
    let engine = engine(registry(), &mock);
    // Expired, so even a token refresh would show up at the mock.
    let account = subdomain_account("acme", "at-1", -60);
    for path in HOSTILE_PATHS {
        for method in ["GET", "POST"] {
            let error = err(engine.proxy(&account, ProxyRequest { method: method.into(), ..get(path) }).await);
            assert_eq!(error.kind, ErrorKind::InvalidRequest, "{path:?}: {}", error.message);
            assert!(error.message.contains("is refused"), "{path:?}: {}", error.message);
        }
    }
    assert_eq!(mock.requests().len(), 0, "a refused request reaches nothing, not even the token endpoint");
}

#[tokio::test]
async fn refusals_say_why() {
    let mock = Mock::start(provider(false)).await;
    let engine = engine(registry(), &mock);
    let account = subdomain_account("acme", "at-1", 3600);
    for (path, why) in [
        ("http://evil.example/x", "an absolute URL is not allowed"),
        ("//evil.example/x", "scheme-relative"),
        ("/%2e%2e/x", "`.` or `..` segment"),
        ("/%252e%252e/x", "`.` or `..` segment"),
        ("/a%2fb", "encoded slash"),
        ("/a%5cb", "encoded backslash"),
        ("/a\\b", "a backslash"),
        ("@evil.example/x", "`@`"),
        ("/x%00", "control character"),
        ("/x?y=1", "give the query string apart"),
    ] {
        let error = err(engine.proxy(&account, get(path)).await);
        assert!(error.message.contains(why), "{path:?}: {}", error.message);
    }
    assert_eq!(mock.requests().len(), 0);
}

#[tokio::test]
async fn hostile_queries_methods_and_headers_are_refused() {
    let mock = Mock::start(provider(false)).await;
    let engine = engine(registry(), &mock);
    let account = subdomain_account("acme", "at-1", 3600);
    for query in ["a=1#frag", "a=%zz", "a=%", "a=1\r\nHost: x", "a=\0", "a b", "q=caf\u{e9}"] {
        let error = err(engine.proxy(&account, ProxyRequest { query: Some(query.into()), ..get("/contacts") }).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{query:?}");
    }
    for method in ["CONNECT", "TRACE", "PROPFIND", "GET /x HTTP/1.1\r\n", ""] {
        let error = err(engine.proxy(&account, ProxyRequest { method: method.into(), ..get("/contacts") }).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{method:?}");
    }
    for (name, value) in [("X-Injected", "a\r\nHost: evil.example"), ("Bad Name", "1"), ("X-Nul", "a\0b")] {
        let request = ProxyRequest { headers: pairs(&[(name, value)]), ..get("/contacts") };
        let error = err(engine.proxy(&account, request).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{name:?}");
    }
    assert_eq!(mock.requests().len(), 0);
}

#[tokio::test]
async fn ordinary_paths_are_sent_as_given() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({}))).await;
    let engine = engine(registry(), &mock);
    let account = subdomain_account("acme", "at-1", 3600);
    let cases = [
        ("", "/api/v2"),
        ("/", "/api/v2/"),
        ("contacts", "/api/v2/contacts"),
        ("/contacts/", "/api/v2/contacts/"),
        ("/contacts/a%20b", "/api/v2/contacts/a%20b"),
        ("/contacts/100%25", "/api/v2/contacts/100%25"),
        ("/contacts/file.json", "/api/v2/contacts/file.json"),
        ("/contacts/...json", "/api/v2/contacts/...json"),
        ("/contacts:batchGet", "/api/v2/contacts:batchGet"),
        ("/users/@me", "/api/v2/users/@me"),
        ("/search/name=ada;sort=asc", "/api/v2/search/name=ada;sort=asc"),
        ("/caf%C3%A9", "/api/v2/caf%C3%A9"),
    ];
    for (path, _) in cases {
        let response = engine.proxy(&account, get(path)).await.unwrap();
        assert_eq!(response.status, 200, "{path:?}");
    }
    let sent: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(sent, cases.iter().map(|(_, expected)| expected.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_per_account_subdomain_cannot_be_escaped() {
    // No origin override: the request goes to the host the base URL names, routed to a
    // mock by that host.
    let own = Mock::start(|_, _| Reply::json(200, json!({ "ok": true }))).await;
    let elsewhere = Mock::start(|_, _| Reply::json(200, json!({ "stolen": true }))).await;
    let engine = engine_routed(registry(), &elsewhere, &[("acme.crm.example.com", &own)]);
    let account = subdomain_account("acme", "at-1", 3600);

    let response = engine.proxy(&account, get("/contacts")).await.unwrap();
    assert_eq!(response.body, Bytes::from_static(br#"{"ok":true}"#));
    assert_eq!(own.requests()[0].path, "/api/v2/contacts");
    assert_eq!(own.requests()[0].header("authorization"), Some("Bearer at-1"));

    for path in [
        "//other.crm.example.com/api/v2/contacts",
        "@other.crm.example.com/x",
        "/../../x",
        "/%2e%2e/%2e%2e/x",
        "https://other.crm.example.com/api/v2",
    ] {
        let error = err(engine.proxy(&account, get(path)).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{path:?}");
    }
    // Nor can the connection field that names the subdomain carry a host or a path.
    for subdomain in ["evil.example/x?", "evil.example#", "a@evil.example", "evil.example:8080", "evil.example/", ""] {
        let error = err(engine.proxy(&subdomain_account(subdomain, "at-1", 3600), get("/contacts")).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{subdomain:?}");
    }
    assert_eq!(own.requests().len(), 1);
    assert_eq!(elsewhere.requests().len(), 0);
}

/// The server awaits these inside request handlers on a multi-threaded runtime.
#[allow(dead_code)]
fn the_futures_are_send(engine: &switchyard_runtime::engine::Engine, account: &Account) {
    fn send<T: Send>(_: T) {}
    send(engine.proxy(account, get("/x")));
    send(engine.exchange_code(account, "code", "https://app.example.com/cb", None));
}
