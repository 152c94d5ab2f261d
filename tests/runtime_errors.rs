//! Errors against loopback mock providers: bodies that are not JSON, cut off or too large,
//! each HTTP error class with the definition's error mapping applied, an unreachable or
//! silent provider, and a hostile id that must stay one path segment.

mod support;

use serde_json::{json, Map, Value};
use std::io::Write;
use std::time::Duration;
use support::{account, engine, engine_at, engine_configured, refused_origin, registry, Mock, RawServer, Reply};
use switchyard_runtime::account::Account;
use switchyard_runtime::engine::{ListRequest, UnifiedPage, UnifiedRecord, WriteRequest};
use switchyard_runtime::error::{ErrorKind, RuntimeError, BODY_EXCERPT};
use switchyard_runtime::http::TransportLimits;

fn contacts_account() -> Account {
    account("cursor_body", &[], &[("token", "pat-na1-11111111")])
}

fn page_err(result: Result<UnifiedPage, RuntimeError>) -> RuntimeError {
    match result {
        Ok(page) => panic!("expected an error, got a page of {} records", page.results.len()),
        Err(e) => e,
    }
}

fn record_err(result: Result<UnifiedRecord, RuntimeError>) -> RuntimeError {
    match result {
        Ok(record) => panic!("expected an error, got {}", record.result),
        Err(e) => e,
    }
}

async fn list_contacts(engine: &switchyard_runtime::engine::Engine) -> Result<UnifiedPage, RuntimeError> {
    engine.list(&contacts_account(), "crm", "contacts", &ListRequest { page_size: Some(2), ..ListRequest::default() }).await
}

// ---------------------------------------------------------------------------------------
// unreadable bodies

#[tokio::test]
async fn a_malformed_json_body_is_a_clean_upstream_error() {
    let body = r#"{"results":[{"id":"51","properties":{"firstname":"Ada",}}]}"#;
    let mock = Mock::start(move |_, _| Reply::raw(200, "application/json;charset=utf-8", body)).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.kind.code(), "upstream_error");
    assert_eq!(error.status(), 502);
    assert!(
        error.message.starts_with("the provider's response is not JSON (application/json;charset=utf-8, 59 bytes)"),
        "{}",
        error.message
    );
    assert_eq!(error.provider_status, Some(200));
    assert_eq!(error.body_excerpt.as_deref(), Some(body));
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_truncated_json_body_is_a_clean_upstream_error() {
    let body = r#"{"results":[{"id":"51","properties":{"firstname":"Ada","lastname":"Lov"#;
    let mock = Mock::start(move |_, _| Reply::raw(200, "application/json;charset=utf-8", body)).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(error.message.starts_with("the provider's response body is truncated JSON"), "{}", error.message);
    assert_eq!(error.provider_status, Some(200));
    assert_eq!(error.body_excerpt.as_deref(), Some(body));
}

/// The records themselves are whole: the page is read from its text up to the records, and the
/// rest of it decides.
#[tokio::test]
async fn a_page_cut_off_after_its_records_is_a_clean_upstream_error() {
    let body = r#"{"results":[{"id":"51","properties":{"firstname":"Ada"}}],"paging":{"next":{"after":"5"#;
    let mock = Mock::start(move |_, _| Reply::raw(200, "application/json", body)).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(error.message.starts_with("the provider's response body is truncated JSON"), "{}", error.message);
    assert_eq!(error.body_excerpt.as_deref(), Some(body));
}

#[tokio::test]
async fn a_body_cut_off_by_the_connection_is_a_clean_upstream_error() {
    // Content-Length promises 1000 bytes; the connection closes after 40.
    let server = RawServer::start(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"results\":[{\"id\":\"51\",\"properties\":{");
        let _ = stream.flush();
    });
    let engine = engine_at(registry(), &server.url);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(error.message.contains("cut off"), "{}", error.message);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn an_html_200_is_a_clean_upstream_error() {
    let page = "<!DOCTYPE html>\n<html><head><title>We'll be right back</title></head><body><h1>Scheduled maintenance</h1></body></html>\n";
    let mock = Mock::start(move |_, _| Reply::raw(200, "text/html; charset=utf-8", page)).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(
        error.message.starts_with(&format!("the provider's response is not JSON (text/html; charset=utf-8, {} bytes)", page.len())),
        "{}",
        error.message
    );
    assert_eq!(error.body_excerpt.as_deref(), Some(page));
}

#[tokio::test]
async fn an_error_excerpt_is_cut_at_the_limit() {
    let long = format!("<html><body>{}</body></html>", "x".repeat(2000));
    let mock = Mock::start(move |_, _| Reply::raw(502, "text/html", long.clone())).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.provider_status, Some(502));
    let excerpt = error.body_excerpt.unwrap();
    assert_eq!(excerpt.len(), BODY_EXCERPT);
    assert!(excerpt.starts_with("<html><body>xxx"));
    // The error mapping sees the text; it has no `message`, so the mapping's fallback applies.
    assert_eq!(error.provider_error, Some(json!({ "code": "HTTP_502", "message": "the provider answered HTTP 502" })));
}

/// Writes a chunked body of `chunks` × 1 MiB, stopping when the client hangs up.
fn huge_chunked(stream: &mut std::net::TcpStream, chunks: usize) {
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
    let mut chunk = Vec::with_capacity(1 << 20);
    chunk.extend_from_slice(b"{\"results\":[");
    while chunk.len() < (1 << 20) {
        chunk.extend_from_slice(br#"{"id":"51","properties":{"firstname":"Ada"}},"#);
    }
    chunk.truncate(1 << 20);
    for _ in 0..chunks {
        let head = format!("{:x}\r\n", chunk.len());
        if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&chunk)).and_then(|_| stream.write_all(b"\r\n")).is_err() {
            return;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
}

#[tokio::test]
async fn a_streamed_body_over_32_mib_is_refused() {
    let server = RawServer::start(|stream| huge_chunked(stream, 40));
    let engine = engine_at(registry(), &server.url);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.message, "the response body is larger than the limit of 33554432 bytes");
    assert_eq!(error.provider_status, Some(200));
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_reading() {
    let server = RawServer::start(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 41943040\r\n\r\n{\"results\":[");
    });
    let engine = engine_at(registry(), &server.url);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.message, "the response body is larger than the limit of 33554432 bytes");
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let server = RawServer::start(|stream| huge_chunked(stream, 2));
    let engine =
        engine_configured(registry(), &server.url, TransportLimits { max_body_bytes: 1 << 20, ..TransportLimits::default() }, |_| {});
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.message, "the response body is larger than the limit of 1048576 bytes");
}

#[tokio::test]
async fn records_that_are_not_a_list_are_a_clean_error() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "results": { "id": "51" } }))).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.message, "expected a list of records at `results`, found an object");
}

#[tokio::test]
async fn an_empty_204_is_an_empty_last_page() {
    // The page-number provider answers an empty result with 204 and no body.
    let mock = Mock::start(|_, _| Reply { status: 204, headers: vec![], body: vec![] }).await;
    let engine = engine(registry(), &mock);
    let mut account =
        account("page_number", &[("api_domain", "https://crm.example.com")], &[("access_token", "a"), ("refresh_token", "r")]);
    account.credentials.expires_at = Some(support::now() + Duration::from_secs(3600));
    let page = engine.list(&account, "crm", "contacts", &ListRequest::default()).await.unwrap();
    assert_eq!(page.results, Vec::<Value>::new());
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn a_provider_value_a_mapping_cannot_read_is_a_mapping_error_naming_the_file() {
    let mock = Mock::start(|_, _| {
        Reply::json(200, json!({ "has_more": false, "data": [{ "id": "cont_1", "lead_id": "lead_1", "name": "Gob Bluth", "emails": [], "phones": [], "date_created": "yesterday", "date_updated": "2024-06-01T09:00:00+00:00" }] }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&account("offset_query", &[], &[("api_key", "k")]), "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::Mapping);
    assert_eq!(error.kind.code(), "mapping_failed");
    assert!(error.message.contains("offset_query/unified/crm.yaml:"), "{}", error.message);
    assert!(error.message.contains("F0201"), "{}", error.message);
}

// ---------------------------------------------------------------------------------------
// HTTP error classes, with the definition's error mapping

#[tokio::test]
async fn a_404_is_not_found_with_the_provider_error() {
    let body = r#"{"status":"error","message":"Object not found.  objectId are usually numeric.","correlationId":"5e1c8e3b-64f1-4a3f-9a47-2d5ff0b0e8a1","context":{"id":["abc"]},"category":"OBJECT_NOT_FOUND"}"#;
    let mock = Mock::start(move |_, _| Reply::raw(404, "application/json;charset=utf-8", body)).await;
    let engine = engine(registry(), &mock);
    let error = record_err(engine.get(&contacts_account(), "crm", "contacts", "abc", &Map::new()).await);
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!(error.kind.code(), "not_found");
    assert_eq!(error.status(), 404);
    assert_eq!(error.provider_status, Some(404));
    assert_eq!(
        error.provider_error,
        Some(json!({ "code": "OBJECT_NOT_FOUND", "message": "Object not found.  objectId are usually numeric." }))
    );
    assert_eq!(error.message, "the provider answered HTTP 404: Object not found.  objectId are usually numeric.");
    assert_eq!(error.body_excerpt.as_deref(), Some(body));
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_404_whose_details_are_in_a_header_is_mapped_from_the_header() {
    let header = support::fact("unpaged", "error_header");
    let mock = Mock::start(move |_, _| Reply::raw(404, "text/html; charset=UTF-8", "").header(&header, "Employee not found")).await;
    let engine = engine(registry(), &mock);
    let error = record_err(
        engine.get(&account("unpaged", &[("company_domain", "acme")], &[("api_key", "k")]), "crm", "contacts", "999", &Map::new()).await,
    );
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!(error.provider_error, Some(json!({ "code": "HTTP_404", "message": "Employee not found" })));
    assert_eq!(error.body_excerpt, None);
}

#[tokio::test]
async fn a_400_is_validation_with_the_provider_error() {
    let body = r#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Email address ada@ is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}]","correlationId":"3d7ae6a2-7b5c-4a1d-9c0e-3f2b1a0e9d8c","category":"VALIDATION_ERROR"}"#;
    let mock = Mock::start(move |_, _| Reply::raw(400, "application/json;charset=utf-8", body)).await;
    let engine = engine(registry(), &mock);
    let request = WriteRequest {
        body: json!({ "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@", "type": "primary" }] }),
        query: Map::new(),
    };
    let error = record_err(engine.create(&contacts_account(), "crm", "contacts", &request).await);
    assert_eq!(error.kind, ErrorKind::Validation);
    assert_eq!(error.kind.code(), "validation_failed");
    assert_eq!(error.status(), 422);
    assert_eq!(error.provider_status, Some(400));
    assert_eq!(
        error.provider_error,
        Some(
            json!({ "code": "VALIDATION_ERROR", "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"Email address ada@ is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}]" })
        )
    );
    assert_eq!(error.body_excerpt.as_deref(), Some(body));
    assert_eq!(
        error.to_json()["error"],
        json!({ "kind": "validation", "code": "validation_failed", "message": error.message, "provider_status": 400, "provider_error": error.provider_error, "body_excerpt": body })
    );
    assert_eq!(mock.requests().len(), 1, "a validation error is not retried");
}

#[tokio::test]
async fn a_422_is_validation_with_field_errors_mapped() {
    let body = r#"{"errors":{"email":["has already been taken"],"phone":["is invalid","must be unique"]}}"#;
    let mock = Mock::start(move |_, _| Reply::raw(422, "application/json; charset=utf-8", body)).await;
    let engine = engine(registry(), &mock);
    let request = WriteRequest {
        body: json!({ "first_name": "Bob", "last_name": "Norman", "emails": [{ "email": "bob@x.com", "type": "primary" }] }),
        query: Map::new(),
    };
    let error = record_err(
        engine.create(&account("ratio_header_limits", &[("shop", "acme")], &[("api_key", "shpat_x")]), "crm", "contacts", &request).await,
    );
    assert_eq!(error.kind, ErrorKind::Validation);
    assert_eq!(error.provider_status, Some(422));
    assert_eq!(
        error.provider_error,
        Some(json!({ "code": "HTTP_422", "message": "email has already been taken; phone is invalid, must be unique" }))
    );
    assert_eq!(error.message, "the provider answered HTTP 422: email has already been taken; phone is invalid, must be unique");
    assert_eq!(error.body_excerpt.as_deref(), Some(body));
}

#[tokio::test]
async fn a_500_is_an_upstream_error() {
    let body = r#"{"status":"error","message":"internal error","correlationId":"a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"}"#;
    let mock = Mock::start(move |_, _| Reply::raw(500, "application/json;charset=utf-8", body)).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert_eq!(error.status(), 502);
    assert_eq!(error.provider_status, Some(500));
    assert_eq!(error.provider_error, Some(json!({ "code": "HTTP_500", "message": "internal error" })));
    assert_eq!(error.body_excerpt.as_deref(), Some(body));
    assert_eq!(mock.requests().len(), 1, "never retried silently");
}

#[tokio::test]
async fn a_504_from_a_gateway_is_a_timeout() {
    let mock = Mock::start(|_, _| Reply::raw(504, "text/html", "<html><body><h1>504 Gateway Time-out</h1></body></html>")).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert_eq!(error.kind.code(), "upstream_timeout");
    assert_eq!(error.provider_status, Some(504));
}

#[tokio::test]
async fn a_401_with_a_static_token_is_not_retried() {
    let body = r#"{"status":"error","message":"Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.example.com/docs/methods/auth/oauth-overview","correlationId":"1b5d8ad6-6f8a-4b0c-9a3a-6a0e6bbf5d5e","category":"INVALID_AUTHENTICATION"}"#;
    let mock = Mock::start(move |_, _| Reply::raw(401, "application/json;charset=utf-8", body)).await;
    let engine = engine(registry(), &mock);
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::NeedsReauth, "an API key the provider refuses needs new credentials: {}", error.message);
    assert_eq!(error.status(), 401);
    assert_eq!(error.provider_status, Some(401));
    assert_eq!(error.provider_error.as_ref().unwrap()["code"], "INVALID_AUTHENTICATION");
    assert_eq!(mock.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// the network

#[tokio::test]
async fn a_refused_connection_is_upstream_unreachable() {
    let engine = engine_at(registry(), &refused_origin());
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Connection);
    assert_eq!(error.kind.code(), "upstream_unreachable");
    assert_eq!(error.status(), 502);
    assert_eq!(error.provider_status, None);
    assert!(error.message.starts_with("cannot connect to http://127.0.0.1:"), "{}", error.message);
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out() {
    let server = RawServer::start(|_| std::thread::sleep(Duration::from_secs(3)));
    let engine = engine_configured(registry(), &server.url, TransportLimits::default(), |config| {
        config.request_timeout = Duration::from_millis(300)
    });
    let error = page_err(list_contacts(&engine).await);
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.ends_with("did not answer in time"), "{}", error.message);
    assert_eq!(server.hits(), 1);
}

// ---------------------------------------------------------------------------------------
// hostile ids

fn contact_reply() -> Reply {
    Reply::json(
        200,
        json!({ "id": "51", "properties": { "firstname": "Ada", "lastname": "Lovelace", "email": "ada@x.com", "phone": null }, "createdAt": "2024-05-02T14:11:07.517Z", "updatedAt": "2024-06-01T09:00:00.000Z", "archived": false }),
    )
}

#[tokio::test]
async fn a_hostile_id_stays_one_path_segment() {
    let mock = Mock::start(|_, _| contact_reply()).await;
    let engine = engine(registry(), &mock);
    for (id, path) in [
        ("../admin?x#", "/crm/v3/objects/contacts/..%2Fadmin%3Fx%23"),
        ("../../v1/oauth/tokens", "/crm/v3/objects/contacts/..%2F..%2Fv1%2Foauth%2Ftokens"),
        ("a b/c", "/crm/v3/objects/contacts/a%20b%2Fc"),
        ("%2e%2e", "/crm/v3/objects/contacts/%252e%252e"),
        ("José", "/crm/v3/objects/contacts/Jos%C3%A9"),
        ("51;x=1&y", "/crm/v3/objects/contacts/51%3Bx%3D1%26y"),
    ] {
        let before = mock.requests().len();
        let record = engine.get(&contacts_account(), "crm", "contacts", id, &Map::new()).await.unwrap();
        assert_eq!(record.result["id"], "51");
        let requests = mock.requests();
        assert_eq!(requests.len(), before + 1);
        let seen = requests.last().unwrap();
        assert_eq!(seen.path, path, "id {id:?}");
        assert_eq!(seen.query, support::pairs(&[("properties", "firstname,lastname,email,phone")]), "id {id:?}");
    }
}

#[tokio::test]
async fn a_dot_segment_id_is_refused_before_any_request() {
    let mock = Mock::start(|_, _| contact_reply()).await;
    let engine = engine(registry(), &mock);
    for id in ["..", ".", ""] {
        let error = record_err(engine.get(&contacts_account(), "crm", "contacts", id, &Map::new()).await);
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "id {id:?}");
    }
    assert_eq!(mock.requests().len(), 0);
}

#[tokio::test]
async fn a_hostile_connection_field_cannot_move_the_host() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "customer": { "id": 1 } }))).await;
    let engine = engine(registry(), &mock);
    for shop in ["evil.example.net/x?", "acme.example.net#", "a@b", ""] {
        let error = record_err(
            engine
                .get(&account("ratio_header_limits", &[("shop", shop)], &[("api_key", "shpat_x")]), "crm", "contacts", "1", &Map::new())
                .await,
        );
        assert_eq!(error.kind, ErrorKind::InvalidRequest, "shop {shop:?}");
    }
    assert_eq!(mock.requests().len(), 0);
}

// ---------------------------------------------------------------------------------------
// secrets stay out of error messages

#[tokio::test]
async fn an_unreachable_provider_error_does_not_reveal_a_query_api_key() {
    let engine = engine_at(registry(), &refused_origin());
    let account = account("cursor_header", &[], &[("api_key", "SECRET-KEY-1234")]);
    let error = page_err(engine.list(&account, "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::Connection);
    assert!(!error.message.contains("SECRET-KEY-1234"), "the key leaks into the message: {}", error.message);
    assert!(!error.to_json().to_string().contains("SECRET-KEY-1234"));
}

#[tokio::test]
async fn a_cut_off_body_error_does_not_reveal_a_query_api_key() {
    let server = RawServer::start(|stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[{\"id\":1,");
    });
    let engine = engine_at(registry(), &server.url);
    let account = account("cursor_header", &[], &[("api_key", "SECRET-KEY-1234")]);
    let error = page_err(engine.list(&account, "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(!error.message.contains("SECRET-KEY-1234"), "the key leaks into the message: {}", error.message);
}

#[tokio::test]
async fn a_timeout_error_does_not_reveal_a_query_api_key() {
    let server = RawServer::start(|_| std::thread::sleep(Duration::from_secs(2)));
    let engine = engine_configured(registry(), &server.url, TransportLimits::default(), |config| {
        config.request_timeout = Duration::from_millis(200)
    });
    let account = account("cursor_header", &[], &[("api_key", "SECRET-KEY-1234")]);
    let error = page_err(engine.list(&account, "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(!error.message.contains("SECRET-KEY-1234"), "{}", error.message);
}

// ---------------------------------------------------------------------------------------
// errors a status does not tell: `errors.when` rules (tests/runtime/definitions/error_rules)

fn rules_account() -> Account {
    account("error_rules", &[], &[("token", "tok-1")])
}

#[tokio::test]
async fn a_200_for_a_deleted_record_is_not_found_by_the_methods_rule() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "id": "c1", "deleted": true }))).await;
    let engine = engine(registry(), &mock);
    let error = record_err(engine.get(&rules_account(), "crm", "contacts", "c1", &Map::new()).await);
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!(error.status(), 404);
    assert_eq!(error.provider_status, Some(200));
    // Code and message from the definition's error mapping.
    assert_eq!(error.provider_error, Some(json!({ "code": "deleted", "message": "record c1 was deleted" })));
    assert_eq!(error.message, "the provider answered HTTP 200: record c1 was deleted");
    assert_eq!(error.body_excerpt.as_deref(), Some(r#"{"id":"c1","deleted":true}"#));
    assert_eq!(mock.requests()[0].path, "/v1/contacts/c1");
}

#[tokio::test]
async fn a_live_record_is_still_a_record() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "id": "c1", "name": "Ada", "deleted": false }))).await;
    let engine = engine(registry(), &mock);
    let record = engine.get(&rules_account(), "crm", "contacts", "c1", &Map::new()).await.unwrap();
    assert_eq!(record.result["first_name"], "Ada");
}

#[tokio::test]
async fn the_same_body_from_delete_is_its_success() {
    // The deleted rule belongs to `get`; `delete` has none.
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "id": "c1", "deleted": true }))).await;
    let engine = engine(registry(), &mock);
    engine.delete(&rules_account(), "crm", "contacts", "c1", &Map::new()).await.unwrap();
    assert_eq!(mock.requests()[0].method, "DELETE");
}

#[tokio::test]
async fn an_envelope_error_on_a_list_page_is_an_error_by_the_integrations_rule() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "ok": false, "error": "invalid_cursor" }))).await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&rules_account(), "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::Validation);
    assert_eq!(error.status(), 422);
    assert_eq!(error.provider_status, Some(200));
    assert_eq!(error.provider_error, Some(json!({ "code": "invalid_cursor", "message": "the provider said invalid_cursor" })));
}

#[tokio::test]
async fn the_first_matching_rule_decides_and_a_rule_without_status_matches_any() {
    for status in [200, 500] {
        let mock = Mock::start(move |_, _| Reply::json(status, json!({ "ok": false, "error": "not_authed" }))).await;
        let engine = engine(registry(), &mock);
        let error = page_err(engine.list(&rules_account(), "crm", "contacts", &ListRequest::default()).await);
        assert_eq!(error.kind, ErrorKind::Auth, "HTTP {status}");
        assert_eq!(error.provider_status, Some(status));
    }
}

#[tokio::test]
async fn a_rule_can_reclassify_an_error_status_by_header() {
    let mock = Mock::start(|request, _| {
        let reply = Reply::json(400, json!({ "ok": false, "error": "bad_id" }));
        if request.path.ends_with("/gone") {
            reply.header("X-Error-Kind", "missing")
        } else {
            reply.header("X-Error-Kind", "other")
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = record_err(engine.get(&rules_account(), "crm", "contacts", "gone", &Map::new()).await);
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!(error.provider_status, Some(400));
    let error = record_err(engine.get(&rules_account(), "crm", "contacts", "other", &Map::new()).await);
    assert_eq!(error.kind, ErrorKind::Validation, "no rule matches: the status decides");
}

#[tokio::test]
async fn a_body_rule_never_matches_a_body_that_is_not_json() {
    // `ok = false` cannot be read from text: the 200 is judged as usual (unreadable).
    let mock = Mock::start(|_, _| Reply::raw(200, "text/plain", "ok=false")).await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&rules_account(), "crm", "contacts", &ListRequest::default()).await);
    assert_eq!(error.kind, ErrorKind::Upstream);
    assert!(error.message.starts_with("the provider's response is not JSON"), "{}", error.message);
}

#[tokio::test]
async fn verify_applies_the_rules() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "ok": false, "error": "not_authed" }))).await;
    let engine = engine(registry(), &mock);
    let error = engine.verify(&rules_account()).await.expect_err("an envelope error is not a verified account");
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(error.provider_status, Some(200));
}

#[tokio::test]
async fn the_raw_proxy_passes_a_rule_matching_answer_through() {
    let body = json!({ "id": "c1", "deleted": true });
    let reply = body.clone();
    let mock = Mock::start(move |_, _| Reply::json(200, reply.clone())).await;
    let engine = engine(registry(), &mock);
    let request = switchyard_runtime::engine::ProxyRequest { method: "GET".into(), path: "/contacts/c1".into(), ..Default::default() };
    let response = engine.proxy(&rules_account(), request).await.expect("the proxy does not apply error rules");
    assert_eq!(response.status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&response.body).unwrap(), body);
}
