//! Rate limits against loopback mock providers, one per reset unit, each answering with the
//! status, headers and body the imitated provider sends. A limited response comes back at
//! once (exactly one upstream request, never retried) with the normalized headers asserted
//! exactly, on the error and on successful pages.

mod support;

use serde_json::{json, Map, Value};
use std::time::Duration;
use support::{account, engine, fact, facts, limit_headers, now, registry, Mock, Reply, NOW};
use switchyard_runtime::account::Account;
use switchyard_runtime::engine::{ListRequest, UnifiedPage};
use switchyard_runtime::error::{ErrorKind, RuntimeError};

fn page_err(result: Result<UnifiedPage, RuntimeError>) -> RuntimeError {
    match result {
        Ok(page) => panic!("expected an error, got a page of {} records", page.results.len()),
        Err(e) => e,
    }
}

fn first_page() -> ListRequest {
    ListRequest { page_size: Some(2), ..ListRequest::default() }
}

fn oauth(integration: &str, connection: &[(&str, &str)]) -> Account {
    let mut account = account(integration, connection, &[("access_token", "access-1"), ("refresh_token", "refresh-1")]);
    account.credentials.expires_at = Some(now() + Duration::from_secs(3600));
    account.install = switchyard_runtime::account::Install {
        client_id: Some("client-1".into()),
        client_secret: Some(switchyard_runtime::account::Secret::new("client-secret-1")),
        webhook_secret: None,
    };
    account
}

/// The normalized headers of a rate-limited error.
fn error_limit_headers(error: &RuntimeError) -> Vec<(&'static str, String)> {
    let status = error.rate_limit.as_ref().expect("a rate-limited error carries its rate-limit state");
    assert!(status.limited);
    status.headers()
}

// ---------------------------------------------------------------------------------------
// interval in milliseconds (cursor_body)

#[tokio::test]
async fn interval_millis_429() {
    let (max, remaining, interval) =
        (fact("cursor_body", "limit_header"), fact("cursor_body", "remaining_header"), fact("cursor_body", "interval_header"));
    let mock = Mock::start(move |_, _| {
        Reply::json(429, json!({ "status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24", "policyName": "TEN_SECONDLY_ROLLING" }))
            .header(&max, "100")
            .header(&remaining, "0")
            .header(&interval, "10000")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&account("cursor_body", &[], &[("token", "pat-na1-x")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.kind.code(), "rate_limited");
    assert_eq!(error.status(), 429);
    assert_eq!(error.provider_status, Some(429));
    assert_eq!(error.provider_error, Some(json!({ "code": "RATE_LIMIT", "message": "You have reached your ten_secondly_rolling limit." })));
    assert!(error.message.contains("retry in 10 s"), "{}", error.message);
    assert_eq!(
        error_limit_headers(&error),
        limit_headers(&[
            ("ratelimit-limit", "100"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "10"),
            ("RateLimit-Policy", "\"default\";q=100;w=10"),
            ("RateLimit", "\"default\";r=0;t=10"),
            // No Retry-After from the provider: the seconds until the reset.
            ("Retry-After", "10")
        ])
    );
    assert_eq!(mock.requests().len(), 1, "a limit is never retried");
}

// ---------------------------------------------------------------------------------------
// epoch seconds (epoch_reset_limits)

fn epoch_headers(reply: Reply, remaining: &str) -> Reply {
    reply
        .header("x-ratelimit-limit", "5000")
        .header("x-ratelimit-remaining", remaining)
        .header("x-ratelimit-used", &(5000 - remaining.parse::<u64>().unwrap()).to_string())
        .header("x-ratelimit-reset", &(NOW + 1800).to_string())
        .header("x-ratelimit-resource", "core")
}

#[tokio::test]
async fn epoch_seconds_403_with_remaining_0_is_a_rate_limit() {
    let body = facts("epoch_reset_limits")["rate_limited_403"].clone();
    let mock = Mock::start(move |_, _| epoch_headers(Reply::json(403, body.clone()), "0")).await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&oauth("epoch_reset_limits", &[("org", "acme")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_status, Some(403));
    assert_eq!(error.provider_error, Some(json!({ "code": "HTTP_403", "message": "API rate limit exceeded for user ID 1." })));
    assert_eq!(
        error_limit_headers(&error),
        limit_headers(&[
            ("ratelimit-limit", "5000"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1800"),
            ("RateLimit-Policy", "\"default\";q=5000;w=3600"),
            ("RateLimit", "\"default\";r=0;t=1800"),
            // No Retry-After from the provider: the seconds until the reset.
            ("Retry-After", "1800")
        ])
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn epoch_seconds_429_with_remaining_0_is_a_rate_limit() {
    let body = facts("epoch_reset_limits")["rate_limited_403"].clone();
    let mock = Mock::start(move |_, _| epoch_headers(Reply::json(429, body.clone()), "0")).await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&oauth("epoch_reset_limits", &[("org", "acme")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_status, Some(429));
    assert_eq!(error_limit_headers(&error)[2], ("ratelimit-reset", "1800".to_string()));
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_403_with_remaining_above_0_is_not_a_rate_limit() {
    let body = facts("epoch_reset_limits")["forbidden_403"].clone();
    let mock = Mock::start(move |_, _| epoch_headers(Reply::json(403, body.clone()), "4999")).await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&oauth("epoch_reset_limits", &[("org", "acme")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::Validation);
    assert_eq!(error.provider_status, Some(403));
    assert_eq!(error.provider_error, Some(json!({ "code": "HTTP_403", "message": "Resource not accessible by integration" })));
    let status = error.rate_limit.clone().expect("the numbers are reported on every error");
    assert!(!status.limited);
    assert_eq!(
        status.headers(),
        limit_headers(&[
            ("ratelimit-limit", "5000"),
            ("ratelimit-remaining", "4999"),
            ("ratelimit-reset", "1800"),
            ("RateLimit-Policy", "\"default\";q=5000;w=3600"),
            ("RateLimit", "\"default\";r=4999;t=1800")
        ])
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_secondary_limit_403_with_retry_after_is_a_rate_limit() {
    let body = facts("epoch_reset_limits")["secondary_limit_403"].clone();
    let mock = Mock::start(move |_, _| epoch_headers(Reply::json(403, body.clone()), "4990").header("retry-after", "60")).await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&oauth("epoch_reset_limits", &[("org", "acme")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert!(error.message.contains("retry in 60 s"), "{}", error.message);
    assert_eq!(
        error_limit_headers(&error),
        limit_headers(&[
            ("ratelimit-limit", "5000"),
            ("ratelimit-remaining", "4990"),
            ("ratelimit-reset", "1800"),
            ("RateLimit-Policy", "\"default\";q=5000;w=3600"),
            ("RateLimit", "\"default\";r=4990;t=1800"),
            ("Retry-After", "60")
        ])
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn epoch_seconds_on_a_successful_page() {
    let mock = Mock::start(|request, _| epoch_headers(Reply::json(200, json!([{ "login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false }])), "4321").header("Link", &format!("<{}/organizations/9919/members?per_page=2&page=2>; rel=\"next\", <{}/organizations/9919/members?per_page=2&page=5>; rel=\"last\"", request.origin(), request.origin()))).await;
    let engine = engine(registry(), &mock);
    let page = engine.list(&oauth("epoch_reset_limits", &[("org", "acme")]), "crm", "contacts", &first_page()).await.unwrap();
    assert_eq!(page.results, vec![json!({ "id": "1", "custom_fields": { "login": "octocat", "type": "User" } })]);
    assert!(page.next_cursor.is_some());
    assert!(!page.rate_limit.limited);
    assert_eq!(
        page.rate_limit.headers(),
        limit_headers(&[
            ("ratelimit-limit", "5000"),
            ("ratelimit-remaining", "4321"),
            ("ratelimit-reset", "1800"),
            ("RateLimit-Policy", "\"default\";q=5000;w=3600"),
            ("RateLimit", "\"default\";r=4321;t=1800")
        ])
    );
    let request = &mock.requests()[0];
    assert_eq!(request.path, "/orgs/acme/members");
    assert_eq!(request.query, support::pairs(&[("role", "all"), ("per_page", "2")]));
}

// ---------------------------------------------------------------------------------------
// float Retry-After and a used/limit bucket (ratio_header_limits)

#[tokio::test]
async fn float_retry_after_and_a_full_bucket() {
    let bucket = fact("ratio_header_limits", "call_limit_header");
    let mock = Mock::start(move |_, _| {
        Reply::json(
            429,
            json!({ "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." }),
        )
        .header(&bucket, "40/40")
        .header("Retry-After", "2.0")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(
        engine
            .list(
                &account("ratio_header_limits", &[("shop", "acme")], &[("api_key", "shpat_0123456789abcdef")]),
                "crm",
                "contacts",
                &first_page(),
            )
            .await,
    );
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(
        error.provider_error,
        Some(
            json!({ "code": "HTTP_429", "message": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service." })
        )
    );
    assert!(error.message.contains("retry in 2 s"), "{}", error.message);
    assert_eq!(
        error_limit_headers(&error),
        limit_headers(&[
            ("ratelimit-limit", "40"),
            ("ratelimit-remaining", "0"),
            ("RateLimit-Policy", "\"default\";q=40"),
            ("RateLimit", "\"default\";r=0"),
            ("Retry-After", "2")
        ])
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_used_of_limit_bucket_on_a_successful_page() {
    let bucket = fact("ratio_header_limits", "call_limit_header");
    let mock = Mock::start(move |_, _| {
        Reply::json(
            200,
            json!({ "customers": [{ "id": 207119551, "email": "bob@x.com", "first_name": "Bob", "last_name": "Norman", "created_at": "2024-05-02T10:11:07-04:00", "updated_at": "2024-06-01T09:00:00-04:00", "phone": "+16136120707" }] }),
        )
        .header(&bucket, "32/40")
    })
    .await;
    let engine = engine(registry(), &mock);
    let page = engine
        .list(
            &account("ratio_header_limits", &[("shop", "acme")], &[("api_key", "shpat_0123456789abcdef")]),
            "crm",
            "contacts",
            &first_page(),
        )
        .await
        .unwrap();
    assert_eq!(
        page.results,
        vec![
            json!({ "id": "207119551", "first_name": "Bob", "last_name": "Norman", "emails": [{ "email": "bob@x.com", "type": "primary" }], "phone_numbers": [{ "number": "+16136120707", "type": "primary" }], "created_at": "2024-05-02T14:11:07.000Z", "updated_at": "2024-06-01T13:00:00.000Z" })
        ]
    );
    assert_eq!(page.next_cursor, None, "a single page has no Link header");
    assert_eq!(
        page.rate_limit.headers(),
        limit_headers(&[
            ("ratelimit-limit", "40"),
            ("ratelimit-remaining", "8"),
            ("RateLimit-Policy", "\"default\";q=40"),
            ("RateLimit", "\"default\";r=8")
        ])
    );
    let request = &mock.requests()[0];
    assert_eq!(request.path, "/admin/api/2025-01/customers.json");
    assert_eq!(request.query, support::pairs(&[("fields", "id,first_name,last_name,email,phone,created_at,updated_at"), ("limit", "2")]));
    assert_eq!(request.header(&fact("ratio_header_limits", "token_header").to_lowercase()), Some("shpat_0123456789abcdef"));
    assert_eq!(request.header("authorization"), None);
}

// ---------------------------------------------------------------------------------------
// HTTP-date Retry-After (offset_body)

#[tokio::test]
async fn http_date_retry_after() {
    let mock = Mock::start(|_, _| {
        Reply::json(429, json!({ "status_code": 429, "type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "Rate limit exceeded, please try again later" }))
            .header("Retry-After", "Sat, 01 Jun 2024 09:00:30 GMT")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&account("offset_body", &[], &[("token", "3f6b2a9c")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(
        error.provider_error,
        Some(json!({ "code": "rate_limit_exceeded", "message": "Rate limit exceeded, please try again later" }))
    );
    assert!(error.message.contains("retry in 30 s"), "{}", error.message);
    assert_eq!(error_limit_headers(&error), limit_headers(&[("Retry-After", "30")]));
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(mock.requests()[0].method, "POST");
}

#[tokio::test]
async fn an_http_date_in_the_past_means_retry_now() {
    let mock = Mock::start(|_, _| {
        Reply::json(429, json!({ "status_code": 429, "type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "Rate limit exceeded, please try again later" }))
            .header("Retry-After", "Tue, 23 May 2023 14:42:01 GMT")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&account("offset_body", &[], &[("token", "3f6b2a9c")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error_limit_headers(&error), limit_headers(&[("Retry-After", "0")]));
    assert_eq!(mock.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// ISO 8601 reset (iso_reset_limits)

#[tokio::test]
async fn iso_reset_without_seconds() {
    let reason = fact("iso_reset_limits", "rate_limit_reason");
    let mock = Mock::start(move |_, _| {
        Reply::json(429, json!({ "errorMessages": ["Rate limit exceeded."], "errors": {} }))
            .header("Retry-After", "5")
            .header("X-RateLimit-Reset", "2024-06-01T09:01Z")
            .header("X-RateLimit-Limit", "100")
            .header("X-RateLimit-Remaining", "0")
            .header("X-RateLimit-NearLimit", "true")
            .header("RateLimit-Reason", &reason)
    })
    .await;
    let engine = engine(registry(), &mock);
    let account = account("iso_reset_limits", &[("site", "acme")], &[("email", "ada@x.com"), ("api_token", "ATATT3xFfGF0")]);
    let error = page_err(engine.list(&account, "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_error, Some(json!({ "code": "HTTP_429", "message": "Rate limit exceeded." })));
    assert!(error.message.contains("retry in 5 s"), "{}", error.message);
    assert_eq!(
        error_limit_headers(&error),
        limit_headers(&[
            ("ratelimit-limit", "100"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "60"),
            ("RateLimit-Policy", "\"default\";q=100"),
            ("RateLimit", "\"default\";r=0;t=60"),
            ("Retry-After", "5")
        ])
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/rest/api/3/users/search");
    assert_eq!(requests[0].query, support::pairs(&[("maxResults", "2"), ("startAt", "0")]));
}

// ---------------------------------------------------------------------------------------
// 403 REQUEST_LIMIT_EXCEEDED with a used/limit usage header (next_url_relative)

#[tokio::test]
async fn a_403_request_limit_exceeded_with_an_array_body() {
    let mock = Mock::start(|_, _| {
        Reply::json(403, json!([{ "message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED" }]))
            .header(&fact("next_url_relative", "usage_header"), "api-usage=100018/100000")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(
        engine
            .list(&oauth("next_url_relative", &[("instance_url", "https://acme.my.example.com")]), "crm", "contacts", &first_page())
            .await,
    );
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_status, Some(403));
    assert_eq!(error.provider_error, Some(json!({ "code": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded." })));
    assert_eq!(
        error.body_excerpt.as_deref(),
        Some(r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#)
    );
    assert_eq!(
        error_limit_headers(&error),
        limit_headers(&[
            ("ratelimit-limit", "100000"),
            ("ratelimit-remaining", "0"),
            ("RateLimit-Policy", "\"default\";q=100000;w=86400"),
            ("RateLimit", "\"default\";r=0")
        ])
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn another_403_with_an_array_body_is_not_a_rate_limit() {
    let mock = Mock::start(|_, _| {
        Reply::json(403, json!([{ "message": "The REST API is not enabled for this Organization.", "errorCode": "API_DISABLED_FOR_ORG" }]))
            .header(&fact("next_url_relative", "usage_header"), "api-usage=18/15000")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(
        engine
            .list(&oauth("next_url_relative", &[("instance_url", "https://acme.my.example.com")]), "crm", "contacts", &first_page())
            .await,
    );
    assert_eq!(error.kind, ErrorKind::Validation);
    assert_eq!(
        error.provider_error,
        Some(json!({ "code": "API_DISABLED_FOR_ORG", "message": "The REST API is not enabled for this Organization." }))
    );
    let status = error.rate_limit.clone().unwrap();
    assert!(!status.limited);
    assert_eq!(
        status.headers(),
        limit_headers(&[
            ("ratelimit-limit", "15000"),
            ("ratelimit-remaining", "14982"),
            ("RateLimit-Policy", "\"default\";q=15000;w=86400"),
            ("RateLimit", "\"default\";r=14982")
        ])
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_usage_header_with_a_per_app_entry_reads_the_api_usage() {
    let mock = Mock::start(|_, _| {
        Reply::json(200, json!({ "totalSize": 0, "done": true, "records": [] }))
            .header(&fact("next_url_relative", "usage_header"), "api-usage=10018/100000; per-app-api-usage=17/250(appName=switchyard)")
    })
    .await;
    let engine = engine(registry(), &mock);
    let page = engine
        .list(&oauth("next_url_relative", &[("instance_url", "https://acme.my.example.com")]), "crm", "contacts", &first_page())
        .await
        .unwrap();
    assert_eq!(page.results, Vec::<Value>::new());
    assert_eq!(page.next_cursor, None);
    assert_eq!(
        page.rate_limit.headers(),
        limit_headers(&[
            ("ratelimit-limit", "100000"),
            ("ratelimit-remaining", "89982"),
            ("RateLimit-Policy", "\"default\";q=100000;w=86400"),
            ("RateLimit", "\"default\";r=89982")
        ])
    );
}

// ---------------------------------------------------------------------------------------
// reset in seconds, and a 429 without a rate_limit block

#[tokio::test]
async fn delta_seconds_reset_429() {
    let mock = Mock::start(|_, _| {
        Reply::json(429, json!({ "success": false, "error": "Request over limit", "errorCode": 429, "error_info": "Please check the developer documentation on rate limiting." }))
            .header("x-ratelimit-limit", "40")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "2")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(
        engine
            .list(&account("api_key_header", &[("company_domain", "acme")], &[("api_key", "9f2e")]), "crm", "contacts", &first_page())
            .await,
    );
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_error, Some(json!({ "code": "429", "message": "Request over limit" })));
    assert_eq!(
        error_limit_headers(&error),
        limit_headers(&[
            ("ratelimit-limit", "40"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "2"),
            ("RateLimit-Policy", "\"default\";q=40;w=2"),
            ("RateLimit", "\"default\";r=0;t=2"),
            // No Retry-After from the provider: the seconds until the reset.
            ("Retry-After", "2")
        ])
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_429_is_a_rate_limit_even_without_a_rate_limit_block() {
    let mock = Mock::start(|_, _| {
        Reply::json(429, json!({ "message": "Too Many Requests" }))
            .header("Retry-After", "10")
            .header("X-RateLimit-Limit", "50")
            .header("X-RateLimit-Remaining", "0")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error = page_err(engine.list(&account("link_paged", &[], &[("api_key", "k")]), "crm", "contacts", &first_page()).await);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_error, Some(json!({ "code": "HTTP_429", "message": "Too Many Requests" })));
    // The definition declares no headers to read, so none are reported.
    assert_eq!(error_limit_headers(&error), Vec::<(&str, String)>::new());
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn a_rate_limited_get_is_not_retried_either() {
    let (max, remaining, interval) =
        (fact("cursor_body", "limit_header"), fact("cursor_body", "remaining_header"), fact("cursor_body", "interval_header"));
    let mock = Mock::start(move |_, _| {
        Reply::json(429, json!({ "status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT", "correlationId": "0b6c5c9e-5f4f-4b8e-9a43-0f7f8d3c2a11", "policyName": "DAILY" }))
            .header(&max, "100")
            .header(&remaining, "0")
            .header(&interval, "10000")
    })
    .await;
    let engine = engine(registry(), &mock);
    let error =
        engine.get(&account("cursor_body", &[], &[("token", "pat-na1-x")]), "crm", "contacts", "51", &Map::new()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.provider_error, Some(json!({ "code": "RATE_LIMIT", "message": "You have reached your daily limit." })));
    assert_eq!(mock.requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// a rate-limited token endpoint

#[tokio::test]
async fn a_rate_limited_token_endpoint_is_a_rate_limit_not_a_reauth() {
    // Any OAuth server may throttle its token endpoint (RFC 6585 429 with Retry-After).
    let mock = Mock::start(|request, _| {
        if request.path == "/oauth2/v1/tokens/bearer" {
            return Reply::json(429, json!({ "error": "rate_limit_exceeded", "error_description": "Too many token requests" }))
                .header("Retry-After", "30");
        }
        Reply::json(500, json!({}))
    })
    .await;
    let engine = engine(registry(), &mock);
    let mut account = oauth("dynamic_query", &[("realm_id", "9130357766900456")]);
    account.credentials.expires_at = Some(now() - Duration::from_secs(5));
    let error = engine.get(&account, "crm", "contacts", "58", &Map::new()).await.unwrap_err();
    assert_ne!(error.kind, ErrorKind::NeedsReauth, "a busy token endpoint must not make the customer reconnect");
    assert_eq!(mock.requests().len(), 1, "no retry, no API call without a token");
    assert_eq!(error.kind, ErrorKind::RateLimited, "{error}");
}
