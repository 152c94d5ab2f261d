//! Pagination that goes wrong, against loopback mock providers: repeated cursors, tampered
//! cursors, cycles, page-size clamping, and the page bound.

mod support;

use serde_json::{json, Value};
use support::pages::{body_cursor_contact, body_cursor_provider, body_cursor_unified, email, expect_err, ids, name, q, walk};
use support::{account, engine, limit_headers, pairs, registry, Mock, Reply};
use switchyard_runtime::account::Account;
use switchyard_runtime::engine::ListRequest;
use switchyard_runtime::error::ErrorKind;

#[tokio::test]
async fn a_repeated_cursor_gives_the_loop_error_on_the_second_call() {
    // The provider hands back the same `after` forever (with new records each time).
    let mock = Mock::start(|_, index| {
        Reply::json(200, json!({ "results": [body_cursor_contact(60 + index)], "paging": { "next": { "after": "MTAw", "link": "…" } } }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-na1-x")]);
    let first = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(1), ..ListRequest::default() }).await.unwrap();
    assert_eq!(first.results, vec![body_cursor_unified(60)]);
    let error = expect_err(
        engine.list(&account, "crm", "contacts", &ListRequest { cursor: first.next_cursor.clone(), ..ListRequest::default() }).await,
    );
    assert_eq!(error.kind, ErrorKind::Pagination);
    assert_eq!(error.kind.code(), "pagination_failed");
    assert!(error.message.contains("cursor it had already returned"), "{}", error.message);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].query("after"), Some("MTAw"));
}

#[tokio::test]
async fn a_tampered_cursor_is_refused_before_any_request() {
    let mock = Mock::start(|request, _| body_cursor_provider(request)).await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-na1-x")]);
    let first = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(2), ..ListRequest::default() }).await.unwrap();
    let cursor = first.next_cursor.unwrap();

    // One character of the signed payload changed.
    let mut bytes = cursor.clone().into_bytes();
    bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let error =
        expect_err(engine.list(&account, "crm", "contacts", &ListRequest { cursor: Some(tampered), ..ListRequest::default() }).await);
    assert_eq!(error.kind, ErrorKind::Pagination);
    assert!(error.message.starts_with("invalid cursor:"), "{}", error.message);

    // Not a cursor at all, and a provider's own cursor passed through.
    for text in ["garbage", "NTI%3D", ""] {
        let error = expect_err(
            engine.list(&account, "crm", "contacts", &ListRequest { cursor: Some(text.to_string()), ..ListRequest::default() }).await,
        );
        assert_eq!(error.kind, ErrorKind::Pagination, "{text:?}");
        assert!(error.message.starts_with("invalid cursor:"), "{text:?}: {}", error.message);
    }

    // A genuine cursor of another list.
    let other = account_for_cursor_header();
    let header_mock = Mock::start(|_, _| Reply::json(200, json!([{ "id": 1 }])).header("X-Next-Cursor", "abc")).await;
    let other_engine = support::engine(registry(), &header_mock);
    let foreign = other_engine.list(&other, "crm", "contacts", &ListRequest::default()).await.unwrap().next_cursor.unwrap();
    let error =
        expect_err(engine.list(&account, "crm", "contacts", &ListRequest { cursor: Some(foreign), ..ListRequest::default() }).await);
    assert_eq!(error.kind, ErrorKind::Pagination);
    assert!(error.message.contains("another list"), "{}", error.message);

    assert_eq!(mock.requests().len(), 1, "no request is made with a refused cursor");
}

fn account_for_cursor_header() -> Account {
    account("cursor_header", &[], &[("api_key", "k")])
}

#[tokio::test]
async fn page_size_above_the_maximum_is_clamped() {
    let mock = Mock::start(|_, _| Reply::json(200, json!({ "results": [] }))).await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-na1-x")]);
    for (asked, sent) in [(Some(1000), "100"), (Some(100), "100"), (Some(0), "1"), (None, "10")] {
        let page = engine.list(&account, "crm", "contacts", &ListRequest { page_size: asked, ..ListRequest::default() }).await.unwrap();
        assert_eq!(page.results, Vec::<Value>::new());
        assert_eq!(page.next_cursor, None);
        assert_eq!(mock.requests().last().unwrap().query("limit"), Some(sent), "asked {asked:?}");
    }
    assert_eq!(mock.requests().len(), 4);
}

#[tokio::test]
async fn other_kinds_walk_with_their_own_cursor_too() {
    // API key header + body cursor that is null on the last page.
    let mock = Mock::start(|request, _| {
        let person = |i: usize| {
            json!({ "id": 42 + i, "name": format!("{} {}", name(i).0, name(i).1), "first_name": name(i).0, "last_name": name(i).1, "owner_id": 7, "org_id": 3, "add_time": "2024-05-02T14:11:07Z", "update_time": "2024-06-01T09:00:00Z", "emails": [{ "value": email(i), "primary": true, "label": "work" }], "phones": [{ "value": "+15550100", "primary": true, "label": "mobile" }], "is_deleted": false, "visible_to": 3, "label_ids": [5], "picture_id": null })
        };
        let (records, next) = match request.query("cursor") {
            None => (vec![0, 1], json!("eyJmaWVsZCI6ImlkIiwiZmllbGRWYWx1ZSI6NDMsImlkIjo0M30")),
            Some("eyJmaWVsZCI6ImlkIiwiZmllbGRWYWx1ZSI6NDMsImlkIjo0M30") => (vec![2], Value::Null),
            Some(_) => return Reply::json(400, json!({ "success": false, "error": "Invalid cursor", "code": "ERR_INVALID_CURSOR" })),
        };
        Reply::json(200, json!({ "success": true, "data": records.into_iter().map(person).collect::<Vec<_>>(), "additional_data": { "next_cursor": next } }))
            .header("x-ratelimit-limit", "40")
            .header("x-ratelimit-remaining", "39")
            .header("x-ratelimit-reset", "2")
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("api_key_header", &[("company_domain", "acme")], &[("api_key", "9f2e7c1d0b3a4e5f6a7b8c9d0e1f2a3b4c5d6e7f")]);
    let pages = walk(&engine, &account, ListRequest { page_size: Some(2), ..ListRequest::default() }).await;
    assert_eq!(ids(&pages), vec![vec!["42", "43"], vec!["44"]]);
    assert_eq!(
        pages[0].results[0],
        json!({ "id": "42", "first_name": "Ada", "last_name": "Lovelace", "emails": [{ "email": "ada@x.com", "type": "work" }], "phone_numbers": [{ "number": "+15550100", "type": "mobile" }], "owner_id": "7", "company_id": "3", "created_at": "2024-05-02T14:11:07.000Z", "updated_at": "2024-06-01T09:00:00.000Z" })
    );
    assert_eq!(
        pages[1].rate_limit.headers(),
        limit_headers(&[
            ("ratelimit-limit", "40"),
            ("ratelimit-remaining", "39"),
            ("ratelimit-reset", "2"),
            ("RateLimit-Policy", "\"default\";q=40;w=2"),
            ("RateLimit", "\"default\";r=39;t=2")
        ])
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/api/v2/persons");
    assert_eq!(requests[0].query, q(&[("sort_by", "update_time"), ("limit", "2")]));
    assert_eq!(
        requests[1].query,
        q(&[("sort_by", "update_time"), ("limit", "2"), ("cursor", "eyJmaWVsZCI6ImlkIiwiZmllbGRWYWx1ZSI6NDMsImlkIjo0M30")])
    );
    for request in &requests {
        assert_eq!(
            request.app_headers(),
            pairs(&[("accept", "application/json"), ("x-api-token", "9f2e7c1d0b3a4e5f6a7b8c9d0e1f2a3b4c5d6e7f")])
        );
    }
}

#[tokio::test]
async fn a_long_cursor_cycle_is_stopped_by_the_max_pages_bound() {
    // The provider cycles through 40 cursors with 40 different pages: longer than the
    // window of recent positions a cursor remembers (32 pages), so only the page bound
    // stops it.
    let mock = Mock::start(|request, _| {
        let n: usize = request.query("after").map(|a| a.trim_start_matches('c').parse().unwrap()).unwrap_or(0);
        Reply::json(200, json!({ "results": [body_cursor_contact(100 + n)], "paging": { "next": { "after": format!("c{}", (n + 1) % 40), "link": "…" } } }))
    })
    .await;
    let engine = support::engine_configured(registry(), &mock.url, switchyard_runtime::http::TransportLimits::default(), |config| {
        config.max_pages = 25
    });
    let account = account("cursor_body", &[], &[("token", "pat-na1-x")]);
    let mut request = ListRequest { page_size: Some(1), ..ListRequest::default() };
    let mut pages = 0;
    let error = loop {
        match engine.list(&account, "crm", "contacts", &request).await {
            Ok(page) => {
                pages += 1;
                request = ListRequest { cursor: Some(page.next_cursor.expect("the cycle never ends by itself")), ..ListRequest::default() };
            }
            Err(error) => break error,
        }
        assert!(pages <= 25, "the bound did not hold");
    };
    assert_eq!(pages, 25);
    assert_eq!(error.kind, ErrorKind::Pagination);
    assert_eq!(error.message, "the list reached its bound of 25 pages");
    assert_eq!(mock.requests().len(), 25);
}

#[tokio::test]
async fn a_cursor_cycle_within_the_remembered_window_is_a_loop_error() {
    // 12 cursors, then the first again: the 13th page repeats the first one.
    let mock = Mock::start(|request, _| {
        let n: usize = request.query("after").map(|a| a.trim_start_matches('c').parse().unwrap()).unwrap_or(0);
        Reply::json(200, json!({ "results": [body_cursor_contact(100 + n)], "paging": { "next": { "after": format!("c{}", (n + 1) % 12), "link": "…" } } }))
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("cursor_body", &[], &[("token", "pat-na1-x")]);
    let mut request = ListRequest { page_size: Some(1), ..ListRequest::default() };
    let mut pages = 0;
    let error = loop {
        match engine.list(&account, "crm", "contacts", &request).await {
            Ok(page) => {
                pages += 1;
                request = ListRequest { cursor: Some(page.next_cursor.expect("the cycle never ends by itself")), ..ListRequest::default() };
            }
            Err(error) => break error,
        }
        assert!(pages <= 13, "the cycle was not detected");
    };
    assert_eq!(pages, 12);
    assert_eq!(error.kind, ErrorKind::Pagination);
    assert!(error.message.contains("again"), "{}", error.message);
    assert_eq!(mock.requests().len(), 13);
}
