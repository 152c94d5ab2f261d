//! The runtime's side of the hardening (issue 13), against loopback mock providers: an empty
//! answer where records were expected; a body that stalls; token lifetimes that are negative or
//! unreadable; a cursor used with another account; upstream targets that are not public (SSRF
//! through an origin-valued connection field, a token response, a name that resolves to
//! loopback, a redirect) and the operator's allow-list.

mod support;

use serde_json::{json, Map, Value};
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use support::pages::body_cursor_provider;
use support::server::TestServer;
use support::{account, engine, engine_configured, now, registry, Mock, RawServer, Reply};
use switchyard_runtime::account::{Account, Install, Secret};
use switchyard_runtime::engine::{DirectRefresher, Engine, EngineConfig, ListRequest, ProxyRequest};
use switchyard_runtime::error::{ErrorKind, RuntimeError};
use switchyard_runtime::http::{HttpTransport, PrivateUpstreams, Transport, TransportLimits, UpstreamRequest, UpstreamResponse};
use switchyard_runtime::pagination::CursorKey;

fn err<T: std::fmt::Debug>(result: Result<T, RuntimeError>) -> RuntimeError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => e,
    }
}

fn install() -> Install {
    Install { client_id: Some("client-1".into()), client_secret: Some(Secret::new("secret-1")), webhook_secret: None }
}

/// An OAuth2 account of `integration` whose token is good for an hour.
fn oauth_account(integration: &str, connection: &[(&str, &str)]) -> Account {
    let mut account = account(integration, connection, &[("access_token", "access-1"), ("refresh_token", "refresh-1")]);
    account.credentials.expires_at = Some(now() + Duration::from_secs(3600));
    account.install = install();
    account
}

/// An engine without origin overrides: every URL goes where the definition and the account
/// say, as in production.
fn engine_without_overrides(adjust: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig {
        cursor_key: CursorKey::new([42; 32]),
        clock: Arc::new(now),
        request_timeout: Duration::from_secs(2),
        ..EngineConfig::default()
    };
    adjust(&mut config);
    Engine::new(registry(), config).expect("the engine starts")
}

fn empty(status: u16) -> Reply {
    Reply { status, headers: vec![("content-type".into(), "application/json".into())], body: Vec::new() }
}

/// A contact as the test definition whose base URL is an instance URL answers one.
fn instance_contact() -> Reply {
    Reply::json(200, json!({ "Id": "003D000000QV9n2IAD", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@x.com" }))
}

// ---------------------------------------------------------------------------------------
// 1. an empty answer where records were expected

#[tokio::test]
async fn an_empty_200_list_page_is_an_upstream_error_not_an_empty_list() {
    for body in ["", "  \r\n", "null"] {
        let mock = Mock::start(move |_, _| Reply::raw(200, "application/json", body)).await;
        let engine = engine(registry(), &mock);
        let account = account("cursor_body", &[], &[("token", "pat-1")]);
        let error = err(engine.list(&account, "crm", "contacts", &ListRequest::default()).await);
        assert_eq!(error.kind, ErrorKind::Upstream, "{body:?}: {error:?}");
        assert_eq!(error.status(), 502);
        assert_eq!(error.provider_status, Some(200));
        assert!(error.message.contains("where a page of records was expected"), "{}", error.message);
    }
}

#[tokio::test]
async fn an_empty_200_record_is_an_upstream_error() {
    let mock = Mock::start(|_, _| empty(200)).await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-1")]);
    let error = err(engine.get(&account, "crm", "contacts", "51", &Map::new()).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.provider_status, Some(200));
    assert!(error.message.contains("where a record was expected"), "{}", error.message);
}

#[tokio::test]
async fn empty_answers_stay_successes_where_no_record_is_expected() {
    // A list answered 204 No Content is an empty, finished list (Zoho's empty module).
    let mock = Mock::start(|_, _| empty(204)).await;
    let page = engine(registry(), &mock)
        .list(&oauth_account("page_number", &[("api_domain", "https://crm.example.com")]), "crm", "contacts", &ListRequest::default())
        .await
        .unwrap();
    assert_eq!(page.results, Vec::<Value>::new());
    assert_eq!(page.next_cursor, None);
    // A delete answered 204 or an empty 200, and a create answered 201 without a body.
    for status in [204, 200] {
        let mock = Mock::start(move |_, _| empty(status)).await;
        let deleted = engine(registry(), &mock)
            .delete(&account("error_rules", &[], &[("token", "t")]), "crm", "contacts", "c1", &Map::new())
            .await
            .unwrap();
        assert_eq!(deleted.result, Value::Null);
    }
    let mock = Mock::start(|_, _| empty(201)).await;
    let request = switchyard_runtime::engine::WriteRequest { body: json!({ "first_name": "Ada" }), query: Map::new() };
    let created =
        engine(registry(), &mock).create(&account("cursor_body", &[], &[("token", "pat-1")]), "crm", "contacts", &request).await.unwrap();
    assert_eq!(created.result, Value::Null);
}

// ---------------------------------------------------------------------------------------
// 2. upstream targets that are not public

#[tokio::test]
async fn an_origin_valued_connection_field_cannot_point_at_a_private_address() {
    let mock = Mock::start(|_, _| instance_contact()).await;
    let port = mock.addr.port();
    let engine = engine_without_overrides(|_| {});
    let targets = [
        (mock.url.clone(), "loopback"),
        (format!("http://[::ffff:127.0.0.1]:{port}"), "loopback"),
        (format!("http://2130706433:{port}"), "loopback"),
        (format!("http://0.0.0.0:{port}"), "unspecified"),
        (format!("http://[::1]:{port}"), "loopback"),
        ("https://169.254.169.254".to_string(), "cloud metadata"),
        ("http://[fd00:ec2::254]".to_string(), "cloud metadata"),
        ("http://100.100.100.200".to_string(), "cloud metadata"),
        ("https://10.1.2.3".to_string(), "private"),
        ("https://172.16.5.4".to_string(), "private"),
        ("https://192.168.0.1".to_string(), "private"),
        ("https://[fc00::1]".to_string(), "private"),
        ("https://169.254.10.1".to_string(), "link-local"),
        ("https://[fe80::1]".to_string(), "link-local"),
        ("http://metadata.google.internal".to_string(), "cloud metadata"),
    ];
    for (instance_url, class) in targets {
        let account = oauth_account("next_url_relative", &[("instance_url", &instance_url)]);
        let error = err(engine.get(&account, "crm", "contacts", "003D000000QV9n2IAD", &Map::new()).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{instance_url}: {error:?}");
        assert_eq!(error.status(), 400);
        assert!(error.message.contains(&format!("{class} address")) || error.message.contains(class), "{instance_url}: {}", error.message);
        assert!(error.message.contains("--allow-private-upstreams"), "{}", error.message);
    }
    assert_eq!(mock.requests().len(), 0, "nothing reached the loopback provider");
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_when_connecting() {
    let mock = Mock::start(|_, _| instance_contact()).await;
    let engine = engine_without_overrides(|_| {});
    let account = oauth_account("next_url_relative", &[("instance_url", &format!("http://localhost:{}", mock.addr.port()))]);
    let error = err(engine.get(&account, "crm", "contacts", "003D000000QV9n2IAD", &Map::new()).await);
    assert_eq!(error.kind, ErrorKind::InvalidRequest, "{error:?}");
    assert!(error.message.contains("`localhost` resolves only to addresses that are not public"), "{}", error.message);
    assert!(error.message.contains("loopback"), "{}", error.message);
    assert_eq!(mock.requests().len(), 0);
}

/// Sends every request to `to`, whatever its host (a provider's login server that names the
/// instance to call next): the engine's own checks see the URL it built.
struct Everything {
    inner: HttpTransport,
    to: url::Url,
}

impl Transport for Everything {
    fn send(
        &self,
        mut request: UpstreamRequest,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<UpstreamResponse, RuntimeError>> + Send + '_>> {
        let _ = request.url.set_scheme(self.to.scheme());
        let _ = request.url.set_host(self.to.host_str());
        let _ = request.url.set_port(self.to.port());
        self.inner.send(request, timeout)
    }
}

fn engine_sending_everything_to(mock: &Mock) -> Engine {
    let config = EngineConfig { cursor_key: CursorKey::new([42; 32]), clock: Arc::new(now), ..EngineConfig::default() };
    let transport = Everything { inner: HttpTransport::new(TransportLimits::default()).unwrap(), to: url::Url::parse(&mock.url).unwrap() };
    Engine::with_parts(registry(), config, Arc::new(transport), Arc::new(DirectRefresher)).unwrap()
}

#[tokio::test]
async fn a_token_response_cannot_point_the_base_url_at_a_private_address() {
    for instance_url in ["https://169.254.169.254", "https://127.0.0.1", "http://[fd00:ec2::254]"] {
        let login = Mock::start(move |request, _| {
            if request.path == "/services/oauth2/token" {
                Reply::json(200, json!({ "access_token": "access-2", "instance_url": instance_url, "token_type": "Bearer" }))
            } else {
                instance_contact()
            }
        })
        .await;
        let engine = engine_sending_everything_to(&login);
        let mut account = oauth_account("next_url_relative", &[("instance_url", "https://na1.example.com")]);
        account.credentials.remove("access_token");
        let error = err(engine.get(&account, "crm", "contacts", "003D000000QV9n2IAD", &Map::new()).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "{instance_url}: {error:?}");
        let requests = login.requests();
        assert_eq!(requests.len(), 1, "{instance_url}: only the token request was sent");
        assert_eq!(requests[0].path, "/services/oauth2/token");
    }
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    // The provider (on its override origin) redirects to another loopback service; the
    // engine does not follow: a unified call fails, the proxy hands the 302 back as it came.
    let inner = Mock::start(|_, _| Reply::json(200, json!({ "id": "51", "properties": {} }))).await;
    let target = format!("{}/latest/meta-data/", inner.url);
    let mock = Mock::start(move |_, _| Reply::raw(302, "text/plain", "").header("location", &target)).await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-1")]);
    let error = err(engine.get(&account, "crm", "contacts", "51", &Map::new()).await);
    assert_eq!(error.provider_status, Some(302));
    let request =
        ProxyRequest { method: "GET".into(), path: "crm/v3/objects/contacts/51".into(), query: None, headers: Vec::new(), body: None };
    let answer = engine.proxy(&account, request).await.unwrap();
    assert_eq!(answer.status, 302);
    assert_eq!(inner.requests().len(), 0);
}

// ---------------------------------------------------------------------------------------
// 3. token lifetimes that are negative, zero, unreadable or absurd

async fn expiry_for(expires_in: Option<Value>) -> Option<std::time::SystemTime> {
    let mut body = json!({ "access_token": "access-2", "token_type": "Bearer" });
    if let Some(value) = expires_in {
        body["expires_in"] = value;
    }
    let mock = Mock::start(move |_, _| Reply::json(200, body.clone())).await;
    let engine = engine(registry(), &mock);
    let account = oauth_account("page_number", &[("api_domain", "https://crm.example.com")]);
    engine.fetch_token(&account).await.unwrap().expires_at
}

#[tokio::test]
async fn token_lifetimes_are_read_deliberately() {
    let at = |seconds: f64| Some(now() + Duration::from_secs_f64(seconds));
    const TEN_YEARS: f64 = 10.0 * 365.0 * 86_400.0;
    let cases = [
        (Some(json!(3600)), at(3600.0), "a number"),
        (Some(json!("3600")), at(3600.0), "a number in a string"),
        (Some(json!(" 90.5 ")), at(90.5), "a fraction in a string"),
        (Some(json!(-5000)), Some(now()), "negative: already expired"),
        (Some(json!("-5000")), Some(now()), "negative in a string: already expired"),
        (Some(json!(0)), Some(now()), "zero: already expired"),
        (Some(json!("soon")), Some(now()), "not a number: treated as already expired"),
        (Some(json!(true)), Some(now()), "a boolean: treated as already expired"),
        (Some(json!({ "seconds": 60 })), Some(now()), "an object: treated as already expired"),
        (Some(json!(1e12)), at(TEN_YEARS), "absurd: capped at ten years"),
        (Some(Value::Null), None, "null: no expiry given"),
        (None, None, "absent: no expiry given"),
    ];
    for (expires_in, expected, what) in cases {
        assert_eq!(expiry_for(expires_in.clone()).await, expected, "{what}: {expires_in:?}");
    }
}

#[tokio::test]
async fn a_token_that_arrives_expired_is_used_once_then_refreshed_before_the_next_call() {
    let mock = Mock::start(|request, index| {
        if request.path == "/oauth/v2/token" {
            Reply::json(200, json!({ "access_token": format!("access-{index}"), "expires_in": -5000 }))
        } else {
            Reply::json(200, json!({ "data": [], "info": { "more_records": false } }))
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = oauth_account("page_number", &[("api_domain", "https://crm.example.com")]);
    account.credentials.expires_at = Some(now() - Duration::from_secs(60));
    let first = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    let refreshed = first.refreshed.expect("the expired token was refreshed");
    assert_eq!(refreshed.credentials.expires_at, Some(now()));
    account.credentials = refreshed.credentials;
    engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/oauth/v2/token", "/crm/v8/Contacts", "/oauth/v2/token", "/crm/v8/Contacts"]);
}

// ---------------------------------------------------------------------------------------
// 4. a body that stalls

#[tokio::test]
async fn a_body_that_stalls_past_the_timeout_is_a_timeout() {
    // The head and the start of the body come at once; the rest never does.
    let server = RawServer::start(|stream| {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"results\":[{\"id\":\"51\",");
        let _ = stream.flush();
        std::thread::sleep(Duration::from_secs(2));
    });
    let engine = engine_configured(registry(), &server.url, TransportLimits::default(), |config| {
        config.request_timeout = Duration::from_millis(400)
    });
    let account = account("cursor_body", &[], &[("token", "pat-1")]);
    let error = err(engine.list(&account, "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::Timeout, "{error:?}");
    assert_eq!(error.kind.code(), "upstream_timeout");
    assert_eq!(error.status(), 504);
    assert!(error.message.contains("stopped sending its response body"), "{}", error.message);
    assert_eq!(server.hits(), 1);
}

// ---------------------------------------------------------------------------------------
// 5. a cursor belongs to its account

fn stored(id: &str) -> Account {
    let mut account = account("cursor_body", &[], &[("token", "pat-1")]);
    account.id = Some(id.to_string());
    account.environment = Some("env_1".to_string());
    account
}

#[tokio::test]
async fn a_cursor_is_refused_for_another_account() {
    let mock = Mock::start(|request, _| body_cursor_provider(request)).await;
    let engine = engine(registry(), &mock);
    let first = ListRequest { page_size: Some(2), ..ListRequest::default() };
    let page = engine.list(&stored("acc_a"), "crm", "contacts", &first).await.unwrap();
    let next = ListRequest { page_size: Some(2), cursor: page.next_cursor.clone(), ..ListRequest::default() };

    for other in [stored("acc_b"), account("cursor_body", &[], &[("token", "pat-1")])] {
        let error = err(engine.list(&other, "crm", "contacts", &next).await);
        assert_eq!(error.kind, ErrorKind::Pagination, "{:?}: {error:?}", other.id);
        assert!(error.message.starts_with("invalid cursor: "), "{}", error.message);
        assert!(error.message.contains("another account"), "{}", error.message);
    }
    assert_eq!(mock.requests().len(), 1, "a refused cursor sends nothing");
    // The account it was issued for goes on.
    engine.list(&stored("acc_a"), "crm", "contacts", &next).await.unwrap();
    // An account without an id (a fixture's, the CLI's) has no binding, and another account's
    // cursor is refused for it as well (above); its own cursors work.
    let bare = account("cursor_body", &[], &[("token", "pat-1")]);
    let page = engine.list(&bare, "crm", "contacts", &first).await.unwrap();
    let next = ListRequest { page_size: Some(2), cursor: page.next_cursor, ..ListRequest::default() };
    engine.list(&bare, "crm", "contacts", &next).await.unwrap();
    assert!(err(engine.list(&stored("acc_a"), "crm", "contacts", &next).await).message.contains("another account"));
}

// ---------------------------------------------------------------------------------------
// the operator's allow-list

#[test]
fn the_allow_list_parses_hosts_addresses_networks_origins_and_all() {
    let list = PrivateUpstreams::parse("crm.internal, 10.0.0.0/8,192.168.1.7,[fd00::1],http://127.0.0.1:9100,all").unwrap();
    assert_eq!(list.to_string(), "all, crm.internal, 10.0.0.0/8, 192.168.1.7/32, fd00::1/128, http://127.0.0.1:9100");
    for bad in ["10.0.0.0/33", "ftp://x", "http://h/path", "a b", "", "1.2.3.4/x"] {
        assert!(PrivateUpstreams::parse(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn the_operator_can_allow_private_upstreams() {
    let mock = Mock::start(|_, _| instance_contact()).await;
    let port = mock.addr.port();
    for (allowed, instance_url) in [
        ("127.0.0.0/8", mock.url.clone()),
        ("all", mock.url.clone()),
        (mock.url.as_str(), mock.url.clone()),
        ("localhost", format!("http://localhost:{port}")),
        ("127.0.0.1", format!("http://localhost:{port}")),
    ] {
        let engine = engine_without_overrides(|config| config.allow_private_upstreams = PrivateUpstreams::parse(allowed).unwrap());
        let account = oauth_account("next_url_relative", &[("instance_url", &instance_url)]);
        let record = engine.get(&account, "crm", "contacts", "003D000000QV9n2IAD", &Map::new()).await;
        assert_eq!(record.map(|r| r.result["id"].clone()).ok(), Some(json!("003D000000QV9n2IAD")), "{allowed} / {instance_url}");
    }
    // An allowed origin is that origin only; `all` does not open cloud metadata endpoints.
    let engine = engine_without_overrides(|config| {
        config.allow_private_upstreams = PrivateUpstreams::parse(&format!("http://127.0.0.1:{}", port + 1)).unwrap()
    });
    let account = oauth_account("next_url_relative", &[("instance_url", &mock.url)]);
    assert_eq!(err(engine.get(&account, "crm", "contacts", "1", &Map::new()).await).kind, ErrorKind::InvalidRequest);
    let engine = engine_without_overrides(|config| config.allow_private_upstreams = PrivateUpstreams::parse("all").unwrap());
    let account = oauth_account("next_url_relative", &[("instance_url", "http://169.254.169.254")]);
    let error = err(engine.get(&account, "crm", "contacts", "1", &Map::new()).await);
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert!(error.message.contains("cloud metadata"), "{}", error.message);
}

#[tokio::test]
async fn the_server_refuses_private_upstreams_unless_its_operator_allows_them() {
    let mock = Mock::start(|_, _| instance_contact()).await;
    let instance_url = format!("http://localhost:{}", mock.addr.port());
    for (allowed, status) in [(None, 400), (Some("localhost"), 200)] {
        let server = TestServer::start_with(registry(), &[], |config| {
            if let Some(allowed) = allowed {
                config.allow_private_upstreams = PrivateUpstreams::parse(allowed).unwrap();
            }
        })
        .await;
        let key = server.environment("production");
        let body = json!({
            "integration": "next_url_relative", "external_id": "sf-1", "verify": false,
            "connection": { "instance_url": instance_url },
            "credentials": { "access_token": "access-1", "refresh_token": "refresh-1", "expires_at": "2099-01-01T00:00:00Z" },
        });
        let created = server.post(&key, "/v1/accounts", &body).await.expect(201);
        let id = created.body["id"].as_str().unwrap().to_string();
        let answer = server.get(&key, &format!("/v1/unified/crm/contacts/003D000000QV9n2IAD?account_id={id}")).await.expect(status);
        if status == 400 {
            assert_eq!(answer.body["error"]["code"], "invalid_request", "{}", answer.text);
            assert!(answer.text.contains("resolves only to addresses that are not public"), "{}", answer.text);
        }
        server.stop().await;
    }
    assert_eq!(mock.requests().len(), 1, "only the allowed server called the provider");
}

#[test]
fn serve_refuses_a_bad_allow_list_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("allow.toml"), "listen = \"127.0.0.1:0\"\nallow_private_upstreams = [\"10.0.0.0/40\"]\n").unwrap();
    for args in [
        &["serve", "--listen", "127.0.0.1:0", "--allow-private-upstreams", "10.0.0.0/33"][..],
        &["serve", "--listen", "127.0.0.1:0", "--allow-private-upstreams", "all,http://h/path"][..],
        &["serve", "--config", "allow.toml"][..],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("SWITCHYARD_DB")
            .env_remove("SWITCHYARD_LISTEN")
            .env_remove("SWITCHYARD_ALLOW_PRIVATE_UPSTREAMS")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--allow-private-upstreams: `"), "{args:?}: {stderr}");
    }
}
