//! The runtime's side of the hardening (issue 13), against loopback mock providers: an empty
//! answer where records were expected; a body that stalls; token lifetimes that are negative or
//! unreadable; a cursor used with another account.

mod support;

use serde_json::{json, Map, Value};
use std::io::Write;
use std::time::Duration;
use support::pages::body_cursor_provider;
use support::{account, engine, engine_configured, now, registry, Mock, RawServer, Reply};
use switchyard_runtime::account::{Account, Install, Secret};
use switchyard_runtime::engine::ListRequest;
use switchyard_runtime::error::{ErrorKind, RuntimeError};
use switchyard_runtime::http::TransportLimits;

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

fn empty(status: u16) -> Reply {
    Reply { status, headers: vec![("content-type".into(), "application/json".into())], body: Vec::new() }
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

