//! The unified API server end to end, on loopback: accounts imported (verification passing and
//! failing, one at a time and in bulk), a unified list across pages, get, create, the raw proxy
//! and its SSRF guard, the exchange log searched for the tokens, tenant isolation, dead
//! credentials, and the database file searched for plaintext tokens.
//!
//! The provider is a mock of the cursor-in-the-body definition (a CRM with bearer private-app
//! tokens and cursor pages, see tests/runtime/definitions/cursor_body), answering like the real
//! one, failures included.

mod support;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::pages::{body_cursor_contact, body_cursor_provider, body_cursor_unified};
use support::server::TestServer;
use support::{facts, registry, Mock, Recorded, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GOOD_TOKEN: &str = "pat-na1-0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a";
const BAD_TOKEN: &str = "pat-na1-ffffffff-0000-4000-8000-revokedtoken";
const SECOND_TOKEN: &str = "pat-na1-11112222-3333-4444-5555-666677778888";

/// The provider: contacts in cursor pages, get, create; 401 for any token it does not know, as the
/// real one answers an unknown private-app token; rate-limit headers on every answer.
fn provider(revoked: Arc<AtomicBool>) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    let facts = facts("cursor_body");
    let limit_header = facts["limit_header"].as_str().unwrap().to_string();
    let remaining_header = facts["remaining_header"].as_str().unwrap().to_string();
    let interval_header = facts["interval_header"].as_str().unwrap().to_string();
    move |request, index| {
        let token = request.header("authorization").unwrap_or_default().strip_prefix("Bearer ").unwrap_or_default().to_string();
        let known = (token == GOOD_TOKEN && !revoked.load(Ordering::SeqCst)) || token == SECOND_TOKEN;
        let reply = if !known {
            Reply::json(
                401,
                json!({ "status": "error", "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.example.com/docs/methods/auth/oauth-overview", "correlationId": "0c1d2e3f-0000-4000-8000-000000000401", "category": "INVALID_AUTHENTICATION" }),
            )
        } else if request.method == "GET" && request.path == "/crm/v3/objects/contacts" {
            body_cursor_provider(request)
        } else if request.method == "GET" && request.path == "/crm/v3/objects/contacts/404" {
            Reply::json(
                404,
                json!({ "status": "error", "message": "resource not found", "correlationId": "0c1d2e3f-0000-4000-8000-000000000404", "category": "OBJECT_NOT_FOUND" }),
            )
        } else if request.method == "GET" && request.path.starts_with("/crm/v3/objects/contacts/") {
            let id: usize = request.path.rsplit('/').next().unwrap().parse().unwrap_or(0);
            Reply::json(200, body_cursor_contact(id))
        } else if request.method == "POST" && request.path == "/crm/v3/objects/contacts" {
            let sent = request.json();
            Reply::json(
                201,
                json!({ "id": "901", "properties": sent["properties"], "createdAt": "2024-06-01T09:00:00.000Z", "updatedAt": "2024-06-01T09:00:00.000Z", "archived": false }),
            )
        } else {
            Reply::json(404, json!({ "status": "error", "message": "Unable to route the request", "category": "OBJECT_NOT_FOUND" }))
        };
        reply.header(&limit_header, "190").header(&remaining_header, &(189 - index.min(189)).to_string()).header(&interval_header, "10000")
    }
}

fn account_body(token: &str, external_id: Option<&str>, verify: bool) -> Value {
    let mut body = json!({ "integration": "cursor_body", "credentials": { "token": token }, "verify": verify });
    if let Some(id) = external_id {
        body["external_id"] = json!(id);
    }
    body
}

/// Sends a request line exactly as written (a client library would normalize `..` away).
async fn raw_get(server: &TestServer, path: &str, key: &str) -> u16 {
    let address = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line in {text}"))
}

fn mock_calls(mock: &Mock) -> usize {
    mock.requests().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_unified_calls_proxy_logs_and_isolation() {
    let revoked = Arc::new(AtomicBool::new(false));
    let mock = Mock::start(provider(revoked.clone())).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let other = server.environment("staging");

    // --- import with verification failing: 422 with the provider's error, nothing stored ---
    let refused = server.post(&key, "/v1/accounts", &account_body(BAD_TOKEN, Some("legacy-0"), true)).await.expect(422);
    assert_eq!(refused.body["error"]["code"], "verification_failed");
    assert_eq!(refused.body["error"]["upstream"]["status"], 401);
    assert_eq!(refused.body["error"]["upstream"]["error"]["code"], "INVALID_AUTHENTICATION");
    assert_eq!(server.get(&key, "/v1/accounts").await.expect(200).body["results"], json!([]));

    // --- import with verification passing ---
    let calls_before = mock_calls(&mock);
    let created = server.post(&key, "/v1/accounts", &account_body(GOOD_TOKEN, Some("legacy-1"), true)).await.expect(201);
    assert_eq!(mock_calls(&mock), calls_before + 1, "one verify call");
    let verify_call = mock.requests().last().unwrap().clone();
    assert_eq!(verify_call.path, "/crm/v3/objects/contacts");
    assert_eq!(verify_call.query("limit"), Some("1"));
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["integration"], "cursor_body");
    assert_eq!(created.body["external_id"], "legacy-1");
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["credential_fields"], json!(["token"]));
    assert!(!created.text.contains(GOOD_TOKEN), "the account view shows no secret: {}", created.text);
    let again = server.post(&key, "/v1/accounts", &account_body(GOOD_TOKEN, Some("legacy-1"), false)).await.expect(409);
    assert_eq!(again.body["error"]["code"], "conflict");

    // --- a unified list across pages ---
    let mut pages = Vec::new();
    let mut path = format!("/v1/unified/crm/contacts?account_id={id}&page_size=2");
    loop {
        let page = server.get(&key, &path).await.expect(200);
        assert_eq!(page.header("ratelimit-limit"), Some("190"), "normalized rate-limit headers on every page");
        assert!(page.header("ratelimit-remaining").is_some());
        assert_eq!(page.header("ratelimit-reset"), Some("10"));
        let ids: Vec<String> = page.body["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
        pages.push(ids);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/unified/crm/contacts?account_id={id}&cursor={}", url_encode(cursor)),
            None => {
                assert_eq!(page.body["next_cursor"], Value::Null);
                break;
            }
        }
        assert!(pages.len() < 10);
    }
    assert_eq!(pages, vec![vec!["51", "52"], vec!["53", "54"], vec!["55"]]);
    let first = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}&page_size=2")).await.expect(200);
    assert_eq!(first.body["results"][0], body_cursor_unified(51));
    let sent = mock.requests().last().unwrap().clone();
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {GOOD_TOKEN}").as_str()), "the account's token goes upstream");
    assert_eq!(sent.query("limit"), Some("2"));
    // A tampered cursor is refused before anything goes upstream.
    let calls = mock_calls(&mock);
    let tampered = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}&cursor=AAAA")).await.expect(400);
    assert_eq!(tampered.body["error"]["code"], "pagination_failed");
    assert_eq!(mock_calls(&mock), calls);

    // --- get, not found, create ---
    let record = server.get(&key, &format!("/v1/unified/crm/contacts/53?account_id={id}")).await.expect(200);
    assert_eq!(record.body["id"], "53");
    assert_eq!(record.body["first_name"], body_cursor_unified(53)["first_name"]);
    assert!(record.header("ratelimit-limit").is_some());
    let missing = server.get(&key, &format!("/v1/unified/crm/contacts/404?account_id={id}")).await.expect(404);
    assert_eq!(missing.body["error"]["code"], "not_found");
    assert_eq!(missing.body["error"]["upstream"]["status"], 404);
    let new_contact = json!({ "first_name": "Katherine", "last_name": "Johnson", "emails": [{ "email": "kj@x.com", "type": "primary" }] });
    let made = server.post(&key, &format!("/v1/unified/crm/contacts?account_id={id}"), &new_contact).await.expect(201);
    assert_eq!(made.body["id"], "901");
    assert_eq!(made.body["first_name"], "Katherine");
    let create_call = mock.requests().last().unwrap().clone();
    assert_eq!(create_call.method, "POST");
    assert_eq!(create_call.json()["properties"], json!({ "firstname": "Katherine", "lastname": "Johnson", "email": "kj@x.com" }));
    let unmapped = server.call(&key, "DELETE", &format!("/v1/unified/crm/contacts/53?account_id={id}"), None).await.expect(400);
    assert_eq!(unmapped.body["error"]["code"], "invalid_request");

    // --- the raw proxy ---
    let proxied = server
        .raw(
            server
                .request(reqwest::Method::GET, &format!("/v1/proxy/{id}/crm/v3/objects/contacts/52?archived=false"))
                .bearer_auth(&key)
                .header("x-caller-header", "kept"),
        )
        .await
        .expect(200);
    assert_eq!(proxied.body, body_cursor_contact(52), "the provider's body, unmapped");
    assert_eq!(proxied.header("ratelimit-limit"), Some("190"));
    let upstream = mock.requests().last().unwrap().clone();
    assert_eq!(upstream.path, "/crm/v3/objects/contacts/52");
    assert_eq!(upstream.query("archived"), Some("false"));
    assert_eq!(upstream.header("authorization"), Some(format!("Bearer {GOOD_TOKEN}").as_str()), "auth injected, the API key replaced");
    assert_eq!(upstream.header("x-caller-header"), Some("kept"));
    let passthrough = server.get(&key, &format!("/v1/proxy/{id}/crm/v3/objects/contacts/404")).await.expect(404);
    assert_eq!(passthrough.body["category"], "OBJECT_NOT_FOUND", "an upstream error is passed through as it is");

    // --- SSRF attempts: refused, nothing goes upstream ---
    let calls = mock_calls(&mock);
    for attempt in [
        "..%2f..%2fadmin",
        "%2e%2e/%2e%2e/admin",
        "crm/%2E%2e/%2e%2E/x",
        "crm/.%2e/x",
        "crm/%252e%252e/%252e%252e/x",
        "crm%2f..%2f..%2fx",
        "crm%5c..%5c..%5cx",
        "%2f%2fevil.example/x",
        "http:%2f%2fevil.example/x",
        "http://evil.example/x",
        "https:evil.example",
        "@evil.example/x",
        "crm/%00/x",
        "crm/%0d%0aHost:%20evil.example",
    ] {
        let status = raw_get(&server, &format!("/v1/proxy/{id}/{attempt}"), &key).await;
        assert!(status == 400 || status == 404, "{attempt}: answered {status}");
    }
    assert_eq!(mock_calls(&mock), calls, "no SSRF attempt reached the network");

    // --- tenant isolation: another environment's key sees nothing ---
    for (method, path) in [
        ("GET", format!("/v1/accounts/{id}")),
        ("PATCH", format!("/v1/accounts/{id}")),
        ("POST", format!("/v1/accounts/{id}/refresh")),
        ("GET", format!("/v1/unified/crm/contacts?account_id={id}")),
        ("GET", format!("/v1/unified/crm/contacts/51?account_id={id}")),
        ("GET", format!("/v1/proxy/{id}/crm/v3/objects/contacts")),
        ("GET", format!("/v1/logs?account_id={id}")),
        ("DELETE", format!("/v1/accounts/{id}")),
    ] {
        let body = (method == "PATCH").then(|| json!({ "status": "disabled" }));
        let answer = server.call(&other, method, &path, body.as_ref()).await;
        assert_eq!(answer.status, 404, "{method} {path} with another environment's key: {}", answer.text);
    }
    assert_eq!(server.get(&other, "/v1/accounts").await.expect(200).body["results"], json!([]));
    assert_eq!(server.get(&other, "/v1/logs").await.expect(200).body["results"], json!([]));
    assert_eq!(mock_calls(&mock), calls, "nothing went upstream for the other environment");
    assert_eq!(server.get("sy_not-a-key", "/v1/accounts").await.status, 401);
    assert_eq!(server.raw(server.request(reqwest::Method::GET, "/v1/accounts")).await.status, 401);

    // --- the exchange log: every exchange, no token anywhere ---
    let logs = server.get(&key, &format!("/v1/logs?account_id={id}&limit=100")).await.expect(200);
    let entries = logs.body["results"].as_array().unwrap();
    assert!(entries.len() >= 8, "the calls above are logged: {}", entries.len());
    assert!(entries.iter().all(|e| e["account_id"] == id.as_str()));
    let proxied_entry =
        entries.iter().find(|e| e["url"].as_str().unwrap().contains("/crm/v3/objects/contacts/52")).expect("the proxy call is logged");
    assert_eq!(proxied_entry["method"], "GET");
    assert_eq!(proxied_entry["status"], 200);
    assert!(proxied_entry["response"]["body"].as_str().unwrap().contains("\"hs_object_id\""), "bodies are kept (truncated)");
    let everything = server.get(&key, "/v1/logs?limit=500").await.expect(200);
    assert!(everything.body["results"].as_array().unwrap().iter().any(|e| e["status"] == 401), "the failed verification is logged too");
    for token in [GOOD_TOKEN, BAD_TOKEN] {
        assert!(!everything.text.contains(token), "a token is in the logs");
    }
    assert!(everything.text.contains("[REDACTED]"));

    // --- dead credentials: needs_reauth, then refused without calling the provider ---
    revoked.store(true, Ordering::SeqCst);
    let dead = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    assert_eq!(dead.body["error"]["code"], "needs_reauth");
    let account = server.get(&key, &format!("/v1/accounts/{id}")).await.expect(200);
    assert_eq!(account.body["status"], "needs_reauth");
    let calls = mock_calls(&mock);
    let refused = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    assert_eq!(refused.body["error"]["code"], "needs_reauth");
    assert_eq!(mock_calls(&mock), calls, "a needs_reauth account is not sent upstream");
    let patched = server
        .call(&key, "PATCH", &format!("/v1/accounts/{id}"), Some(&json!({ "credentials": { "token": SECOND_TOKEN } })))
        .await
        .expect(200);
    assert_eq!(patched.body["status"], "active", "new credentials make the account active again");
    server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(200);

    // --- disabled, deleted ---
    server.call(&key, "PATCH", &format!("/v1/accounts/{id}"), Some(&json!({ "status": "disabled" }))).await.expect(200);
    assert_eq!(
        server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(403).body["error"]["code"],
        "account_disabled"
    );
    server.call(&key, "DELETE", &format!("/v1/accounts/{id}"), None).await.expect(200);
    server.get(&key, &format!("/v1/accounts/{id}")).await.expect(404);

    // --- no plaintext token in the database files ---
    let db = server.db.clone();
    assert_no_plaintext(&db, &[GOOD_TOKEN, BAD_TOKEN, SECOND_TOKEN]);
    let _dir = server.stop().await;
    assert_no_plaintext(&db, &[GOOD_TOKEN, BAD_TOKEN, SECOND_TOKEN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_import_reports_each_row_and_is_idempotent() {
    let mock = Mock::start(provider(Arc::new(AtomicBool::new(false)))).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let ndjson = [
        json!({ "integration": "cursor_body", "external_id": "legacy-1", "credentials": { "token": GOOD_TOKEN } }).to_string(),
        json!({ "integration": "cursor_body", "external_id": "legacy-2", "credentials": { "token": BAD_TOKEN } }).to_string(),
        "{ not json".to_string(),
        json!({ "integration": "no_such_integration", "external_id": "legacy-4", "credentials": {} }).to_string(),
        json!({ "integration": "cursor_body", "credentials": { "token": GOOD_TOKEN } }).to_string(),
        json!({ "integration": "cursor_body", "external_id": "legacy-6", "credentials": { "token": SECOND_TOKEN, "api_key": "x" } })
            .to_string(),
    ]
    .join("\n");
    let import = |body: String| {
        server.raw(
            server
                .request(reqwest::Method::POST, "/v1/accounts/import")
                .bearer_auth(&key)
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
    };
    let report = import(ndjson.clone()).await.expect(200);
    assert_eq!(report.body["summary"], json!({ "created": 1, "already_exists": 0, "failed": 5 }), "{}", report.text);
    let rows = report.body["results"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "created");
    assert_eq!(rows[1]["error"]["code"], "verification_failed");
    assert_eq!(rows[1]["error"]["upstream"]["status"], 401);
    assert!(rows[2]["error"]["message"].as_str().unwrap().contains("line 3"));
    assert!(rows[3]["error"]["message"].as_str().unwrap().contains("unknown integration"));
    assert!(rows[4]["error"]["message"].as_str().unwrap().contains("external_id"));
    assert!(rows[5]["error"]["message"].as_str().unwrap().contains("unknown credential field `api_key`"));
    let first_id = rows[0]["account_id"].as_str().unwrap().to_string();

    // The re-run after fixing row 2: row 1 is left alone (no upstream call), row 2 is created.
    let calls = mock.requests().len();
    let fixed = json!([
        { "integration": "cursor_body", "external_id": "legacy-1", "credentials": { "token": "a-different-token" } },
        { "integration": "cursor_body", "external_id": "legacy-2", "credentials": { "token": SECOND_TOKEN } }
    ]);
    let rerun = server.post(&key, "/v1/accounts/import", &fixed).await.expect(200);
    assert_eq!(rerun.body["summary"], json!({ "created": 1, "already_exists": 1, "failed": 0 }), "{}", rerun.text);
    assert_eq!(rerun.body["results"][0]["account_id"], first_id.as_str());
    assert_eq!(mock.requests().len(), calls + 1, "only the new row is verified");
    assert_eq!(server.get(&key, "/v1/accounts").await.expect(200).body["results"].as_array().unwrap().len(), 2);
    // The existing account kept its own token.
    server.get(&key, &format!("/v1/unified/crm/contacts?account_id={first_id}")).await.expect(200);
    assert_eq!(mock.requests().last().unwrap().header("authorization"), Some(format!("Bearer {GOOD_TOKEN}").as_str()));

    let empty = server.post(&key, "/v1/accounts/import", &json!([])).await.expect(400);
    assert_eq!(empty.body["error"]["code"], "invalid_request");
    let db = server.db.clone();
    let _dir = server.stop().await;
    assert_no_plaintext(&db, &[GOOD_TOKEN, SECOND_TOKEN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors() {
    let mock = Mock::start(provider(Arc::new(AtomicBool::new(false)))).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let cases = [
        (json!({ "integration": "cursor_body", "credentials": { "token": GOOD_TOKEN }, "verfy": true }), "unknown field `verfy`"),
        (json!({ "credentials": { "token": GOOD_TOKEN } }), "`integration` is required"),
        (json!({ "integration": "cursor_body", "credentials": { "token": 5 } }), "`credentials.token` must be a string"),
        (json!({ "integration": "cursor_body", "credentials": {} }), "needs credentials `token`"),
        (json!({ "integration": "page_number", "credentials": { "access_token": "a" } }), "needs connection field `api_domain`"),
        (
            json!({ "integration": "page_number", "connection": { "api_domian": "x" }, "credentials": { "access_token": "a" } }),
            "unknown connection field `api_domian`",
        ),
        (
            json!({ "integration": "page_number", "connection": { "api_domain": "https://www.example.com" }, "credentials": { "access_token": "a", "expires_at": "tomorrow" }, "verify": false }),
            "not an RFC 3339 time",
        ),
    ];
    for (body, message) in cases {
        let answer = server.post(&key, "/v1/accounts", &body).await.expect(400);
        assert!(answer.body["error"]["message"].as_str().unwrap().contains(message), "{body}: {}", answer.text);
    }
    let broken = server
        .raw(
            server
                .request(reqwest::Method::POST, "/v1/accounts")
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body("{\"integration\": "),
        )
        .await
        .expect(400);
    assert!(broken.body["error"]["message"].as_str().unwrap().contains("line 1"), "{}", broken.text);
    let no_account = server.get(&key, "/v1/unified/crm/contacts").await.expect(400);
    assert!(no_account.body["error"]["message"].as_str().unwrap().contains("account_id"));
    server.get(&key, "/v1/unified/crm/contacts?account_id=acc_missing").await.expect(404);
    server.get(&key, "/v1/nowhere").await.expect(404);
    let bad_limit = server.get(&key, "/v1/logs?limit=many").await.expect(400);
    assert_eq!(bad_limit.body["error"]["code"], "invalid_request", "query errors are JSON too: {}", bad_limit.text);
    let bad_verify = server.post(&key, "/v1/accounts/import?verify=perhaps", &json!([])).await.expect(400);
    assert!(bad_verify.body["error"]["message"].as_str().unwrap().contains("verify"), "{}", bad_verify.text);
    assert_eq!(server.raw(server.request(reqwest::Method::GET, "/healthz")).await.expect(200).body["status"], "ok");
    let metrics = server.metrics().await.expect(200);
    assert!(
        metrics.text.contains("switchyard_http_requests_total{method=\"POST\",route=\"/v1/accounts\",status=\"400\"}"),
        "{}",
        metrics.text
    );
    let openapi = server.raw(server.request(reqwest::Method::GET, "/v1/openapi.json")).await.expect(200);
    assert!(openapi.body["openapi"].as_str().unwrap().starts_with("3."));
    server.stop().await;
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Searches everything the database holds for each secret, raw and base64-encoded.
pub fn assert_no_plaintext(db: &support::database::TestDatabase, secrets: &[&str]) {
    let needles: Vec<String> = secrets.iter().flat_map(|secret| [secret.to_string(), support::base64_encode(secret.as_bytes())]).collect();
    db.assert_holds_none(&needles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_429_comes_back_at_once_with_normalized_headers() {
    let facts = facts("cursor_body");
    let (limit, remaining, interval) = (
        facts["limit_header"].as_str().unwrap().to_string(),
        facts["remaining_header"].as_str().unwrap().to_string(),
        facts["interval_header"].as_str().unwrap().to_string(),
    );
    let mock = Mock::start(move |_, _| {
        Reply::json(429, json!({ "status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "correlationId": "0c1d2e3f-0000-4000-8000-000000000429", "policyName": "TEN_SECONDLY_ROLLING" }))
            .header(&limit, "190")
            .header(&remaining, "0")
            .header(&interval, "10000")
    })
    .await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let created = server.post(&key, "/v1/accounts", &account_body(GOOD_TOKEN, None, false)).await.expect(201);
    let id = created.body["id"].as_str().unwrap();
    let started = std::time::Instant::now();
    let limited = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(429);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "no waiting on a limit");
    assert_eq!(mock.requests().len(), 1, "never retried");
    assert_eq!(limited.body["error"]["code"], "rate_limited");
    assert_eq!(limited.body["error"]["upstream"]["error"]["code"], "RATE_LIMIT");
    assert_eq!(limited.header("ratelimit-limit"), Some("190"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert_eq!(limited.header("ratelimit-reset"), Some("10"));
    assert_eq!(limited.header("ratelimit"), Some("\"default\";r=0;t=10"));
    let metrics = server.metrics().await.expect(200);
    assert!(metrics.text.contains("switchyard_rate_limited_responses_total{integration=\"cursor_body\"} 1"), "{}", metrics.text);
    assert!(
        metrics.text.contains("switchyard_upstream_request_duration_seconds_count{integration=\"cursor_body\",status=\"429\"} 1"),
        "{}",
        metrics.text
    );
    server.stop().await;
}
