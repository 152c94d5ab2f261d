//! First end-to-end check of the engine against a loopback mock: a two-page list.

mod support;

use serde_json::json;
use support::{engine, fact, limit_headers, registry, Mock, Reply};
use switchyard_runtime::account::{Account, Credentials};
use switchyard_runtime::engine::ListRequest;

#[tokio::test]
async fn two_page_cursor_list() {
    let (max, remaining, interval) =
        (fact("cursor_body", "limit_header"), fact("cursor_body", "remaining_header"), fact("cursor_body", "interval_header"));
    let mock = Mock::start(move |request, _| {
        let page = |id: &str, next: Option<&str>| {
            let mut body = json!({ "results": [{ "id": id, "properties": { "firstname": "Ada", "email": "ada@x.com" } }] });
            if let Some(next) = next {
                body["paging"] = json!({ "next": { "after": next, "link": "…" } });
            }
            body
        };
        match request.query("after") {
            None => Reply::json(200, page("1", Some("c2"))).header(&remaining, "99").header(&max, "100").header(&interval, "10000"),
            Some("c2") => Reply::json(200, page("2", None)),
            Some(other) => Reply::json(400, json!({ "message": format!("bad cursor {other}") })),
        }
    })
    .await;
    let engine = engine(registry(), &mock);
    let account =
        Account { integration: "cursor_body".into(), credentials: Credentials::from_iter([("token", "tok-1")]), ..Account::default() };
    let first = engine.list(&account, "crm", "contacts", &ListRequest { page_size: Some(1), ..ListRequest::default() }).await.unwrap();
    assert_eq!(
        first.results,
        vec![
            json!({ "id": "1", "first_name": "Ada", "last_name": null, "emails": [{ "email": "ada@x.com", "type": "primary" }], "phone_numbers": [] })
        ]
    );
    let cursor = first.next_cursor.clone().expect("a second page");
    let second = engine.list(&account, "crm", "contacts", &ListRequest { cursor: Some(cursor), ..ListRequest::default() }).await.unwrap();
    assert_eq!(second.results[0]["id"], "2");
    assert_eq!(second.next_cursor, None);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/crm/v3/objects/contacts");
    assert_eq!(
        requests[0].query,
        vec![
            ("archived".into(), "false".into()),
            ("properties".into(), "firstname,lastname,email,phone".into()),
            ("limit".into(), "1".into())
        ]
    );
    assert_eq!(requests[0].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(requests[1].query("after"), Some("c2"));
    assert_eq!(requests[1].query("limit"), Some("1"));
    assert_eq!(
        first.rate_limit.headers(),
        limit_headers(&[
            ("ratelimit-limit", "100"),
            ("ratelimit-remaining", "99"),
            ("ratelimit-reset", "10"),
            ("RateLimit-Policy", "\"default\";q=100;w=10"),
            ("RateLimit", "\"default\";r=99;t=10")
        ])
    );
}
