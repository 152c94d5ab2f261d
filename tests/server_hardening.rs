//! The server's answers to a hostile but ordinary client (issue 13): no open redirect through
//! `return_to`, the `Bearer` scheme in any case, `/metrics` only on its own listener, one bad
//! NDJSON line failing only its row, large bodies bounded by a server-wide budget, a dead
//! refresh lease answered fast with a retryable error, every error in the documented JSON shape
//! (raw requests: bad percent-encoding, 405, 413), a duplicate `external_id` naming the account
//! that has it, and `expires_in` with `expires_at` refused.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::server::TestServer;
use support::{registry, Mock, Reply};
use switchyard_server::database::off_async;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer read off a raw connection.
#[derive(Debug)]
struct RawAnswer {
    status: u16,
    head: String,
    text: String,
    body: Value,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }

    /// Asserts the documented error shape: `{"error": {"code", "message"}}` as JSON.
    fn assert_json_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}\n{}", self.head, self.text);
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "content-type `{content_type}`: {}", self.text);
        assert_eq!(self.body["error"]["code"], code, "{}", self.text);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.text);
    }
}

fn parse_answer(bytes: &[u8]) -> RawAnswer {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no complete head in {text:?}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line in {head}"));
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked { unchunk(body) } else { body.to_string() };
    RawAnswer { status, head: head.to_string(), body: serde_json::from_str(&body).unwrap_or(Value::Null), text: body }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

fn address(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// Reads one answer off `stream` (the server closes the connection: `Connection: close`).
async fn read_answer(stream: &mut TcpStream, within: Duration) -> RawAnswer {
    let mut bytes = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut bytes))
        .await
        .unwrap_or_else(|_| panic!("no answer within {within:?}; read so far: {:?}", String::from_utf8_lossy(&bytes)))
        .expect("the answer is read");
    parse_answer(&bytes)
}

/// Sends `head` (request line and headers, without the blank line) and `body` exactly as given.
async fn raw(server: &TestServer, head: &str, body: &[u8]) -> RawAnswer {
    let mut stream = TcpStream::connect(address(server)).await.unwrap();
    let request = format!("{head}\r\nHost: {}\r\nConnection: close\r\n\r\n", address(server));
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    read_answer(&mut stream, Duration::from_secs(10)).await
}

async fn quiet_mock() -> Mock {
    Mock::start(|_, _| Reply::json(200, json!({ "results": [] }))).await
}

fn cursor_account(external_id: &str, token: &str) -> Value {
    json!({ "integration": "cursor_body", "external_id": external_id, "credentials": { "token": token }, "verify": false })
}

// 1. Open redirect ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_to_must_match_an_allowed_url_by_origin_and_path() {
    let mock = quiet_mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let install = json!({
        "oauth_client": { "client_id": "client-123", "client_secret": "client-secret-456" },
        "settings": { "return_urls": ["https://app.example.com", "https://portal.example.com/connected"] }
    });
    server.call(&key, "PUT", "/v1/installs/proxy_subdomain", Some(&install)).await.expect(200);
    let authorize = |target: &str| {
        format!(
            "/v1/connect/proxy_subdomain/authorize?connection.subdomain=acme&return_to={}",
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        )
    };
    for refused in [
        // A host that starts with the allowed one.
        "https://app.example.com.evil.com/x",
        // Userinfo: the browser goes to evil.com.
        "https://app.example.com@evil.com/",
        "https://user:pw@app.example.com/x",
        // Another scheme or port.
        "http://app.example.com/x",
        "https://app.example.com:8443/x",
        // A path that only starts with the allowed path's text.
        "https://portal.example.com/connected-evil",
        "https://portal.example.com/connectedx/y",
        "https://portal.example.com/other",
        // Dot segments leaving the allowed path.
        "https://portal.example.com/connected/../admin",
        "https://portal.example.com/connected/%2e%2e/admin",
        "javascript:alert(1)",
        "//evil.com/x",
    ] {
        let answer = server.get(&key, &authorize(refused)).await;
        assert_eq!(answer.status, 400, "`{refused}` must be refused: {}", answer.text);
        assert_eq!(answer.body["error"]["code"], "invalid_request");
        assert!(answer.body["error"]["message"].as_str().unwrap().contains("return_urls"), "{}", answer.text);
    }
    for allowed in [
        "https://app.example.com",
        "https://app.example.com/",
        "https://app.example.com/anything/below?tab=crm",
        "https://APP.example.com:443/x",
        "https://portal.example.com/connected",
        "https://portal.example.com/connected/",
        "https://portal.example.com/connected/deeper?x=1",
        "https://portal.example.com/connected?tab=crm",
    ] {
        let answer = server.get(&key, &authorize(allowed)).await;
        assert_eq!(answer.status, 303, "`{allowed}` must be accepted: {}", answer.text);
    }
    server.stop().await;
}

// 2. The Bearer scheme ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let mock = quiet_mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    for header in
        [format!("Bearer {key}"), format!("BEARER {key}"), format!("bEaReR {key}"), format!("Bearer    {key}"), format!("bearer\t{key}")]
    {
        let answer = server.raw(server.request(reqwest::Method::GET, "/v1/accounts").header("authorization", &header)).await;
        assert_eq!(answer.status, 200, "`{header}` is a valid credential: {}", answer.text);
    }
    for header in [format!("Basic {key}"), format!("Bearer{key}"), "Bearer ".to_string(), format!("Bearerx {key}"), key.clone()] {
        let answer = server.raw(server.request(reqwest::Method::GET, "/v1/accounts").header("authorization", &header)).await;
        assert_eq!(answer.status, 401, "`{header}` must be refused: {}", answer.text);
        assert_eq!(answer.body["error"]["code"], "unauthorized");
    }
    server.stop().await;
}

// 3. /metrics ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_only_on_the_metrics_listener() {
    let mock = quiet_mock().await;
    // By default there is no metrics listener, and the API listener does not serve them.
    let plain = TestServer::start_with(registry(), &[], |config| config.metrics_listen = None).await;
    assert!(plain.running.as_ref().unwrap().metrics_addr.is_none());
    let answer = plain.raw(plain.request(reqwest::Method::GET, "/metrics")).await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "not_found");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("--metrics-listen"), "{}", answer.text);
    plain.stop().await;

    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    server.get(&key, "/v1/accounts").await.expect(200);
    // The API listener answers 404 even with a key.
    let answer = server.get(&key, "/metrics").await;
    assert_eq!(answer.status, 404, "{}", answer.text);
    assert!(!answer.text.contains("switchyard_http_requests_total"));
    // The metrics listener serves them without a key, and nothing else.
    let metrics = server.metrics().await.expect(200);
    assert!(
        metrics.text.contains("switchyard_http_requests_total{method=\"GET\",route=\"/v1/accounts\",status=\"200\"}"),
        "{}",
        metrics.text
    );
    let metrics_addr = server.running.as_ref().unwrap().metrics_addr.unwrap();
    let other = support::server::answer(
        support::server::client().get(format!("http://{metrics_addr}/v1/accounts")).bearer_auth(&key).send().await.unwrap(),
    )
    .await;
    assert_eq!(other.status, 404, "{}", other.text);
    assert_eq!(other.body["error"]["code"], "not_found");
    server.stop().await;
}

// 4. NDJSON with an invalid UTF-8 line --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_utf8_ndjson_line_fails_only_its_row() {
    let mock = quiet_mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let mut body = Vec::new();
    body.extend_from_slice(cursor_account("row-1", "pat-na1-row-one-00000000").to_string().as_bytes());
    body.push(b'\n');
    body.extend_from_slice(b"{\"integration\": \"cursor_body\", \"external_id\": \"row-2\xc0\xae\", \"verify\": false}\n");
    body.extend_from_slice(b"\n");
    body.extend_from_slice(cursor_account("row-3", "pat-na1-row-three-000000").to_string().as_bytes());
    body.push(b'\n');
    let answer = server
        .raw(
            server
                .request(reqwest::Method::POST, "/v1/accounts/import")
                .bearer_auth(&key)
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
        .await
        .expect(200);
    assert_eq!(answer.body["summary"], json!({ "created": 2, "already_exists": 0, "failed": 1 }), "{}", answer.text);
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "created");
    assert_eq!(results[1]["row"], 2);
    assert_eq!(results[1]["status"], "failed");
    assert_eq!(results[1]["error"]["code"], "invalid_request");
    assert!(results[1]["error"]["message"].as_str().unwrap().contains("UTF-8"), "{}", answer.text);
    assert_eq!(results[2]["row"], 3);
    assert_eq!(results[2]["external_id"], "row-3");
    assert_eq!(results[2]["status"], "created");

    // A JSON array is one document: invalid UTF-8 anywhere refuses it, in JSON.
    let answer = server
        .raw(
            server
                .request(reqwest::Method::POST, "/v1/accounts/import")
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(b"[{\"external_id\": \"\xff\"}]".to_vec()),
        )
        .await
        .expect(400);
    assert_eq!(answer.body["error"]["code"], "invalid_request");
    server.stop().await;
}

// 5. The body budget -------------------------------------------------------------------------------

const MIB: usize = 1024 * 1024;

/// Opens an import whose body is `length` bytes and sends only `sent` of them: the server holds
/// the rest of the request open.
async fn open_import(server: &TestServer, key: &str, length: usize, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address(server)).await.unwrap();
    let head = format!(
        "POST /v1/accounts/import HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n[",
        address(server)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b' '; sent - 1]).await.unwrap();
    stream
}

/// Sends the rest of an import opened by [`open_import`] (spaces, then `]`) and reads the answer.
async fn finish_import(mut stream: TcpStream, length: usize, sent: usize) -> RawAnswer {
    let mut rest = vec![b' '; length - sent];
    *rest.last_mut().unwrap() = b']';
    stream.write_all(&rest).await.unwrap();
    read_answer(&mut stream, Duration::from_secs(20)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_beyond_the_budget_are_refused_fast() {
    let server = TestServer::start_with(registry(), &[], |config| config.body_budget = 8 * MIB as u64).await;
    let key = server.environment("production");

    // Two 3 MiB bodies in flight hold 6 of the 8 MiB.
    let first = open_import(&server, &key, 3 * MIB, MIB).await;
    let second = open_import(&server, &key, 3 * MIB, MIB).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A third is refused as soon as its head is read, before its body is.
    let started = Instant::now();
    let mut third = open_import(&server, &key, 3 * MIB, 1).await;
    let busy = read_answer(&mut third, Duration::from_secs(5)).await;
    busy.assert_json_error(503, "server_busy");
    assert!(busy.header("retry-after").and_then(|v| v.parse::<u64>().ok()).is_some_and(|s| s >= 1), "{}", busy.head);
    assert!(started.elapsed() < Duration::from_secs(2), "refused in {:?}", started.elapsed());

    // A chunked body (no Content-Length) is counted as it arrives: past the 2 MiB left, refused.
    let mut chunked = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "POST /v1/accounts/import HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        address(&server)
    );
    chunked.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 256 * 1024];
    for _ in 0..9 {
        chunked.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.unwrap();
        chunked.write_all(&chunk).await.unwrap();
        chunked.write_all(b"\r\n").await.unwrap();
    }
    let busy = read_answer(&mut chunked, Duration::from_secs(5)).await;
    busy.assert_json_error(503, "server_busy");
    assert!(busy.header("retry-after").is_some(), "{}", busy.head);

    // Small requests pass meanwhile.
    server.raw(server.request(reqwest::Method::GET, "/healthz")).await.expect(200);
    let small = vec![cursor_account("small-1", "pat-na1-small-one-0000000")];
    let imported = server.post(&key, "/v1/accounts/import", &json!(small)).await.expect(200);
    assert_eq!(imported.body["summary"]["created"], 1, "{}", imported.text);
    server.post(&key, "/v1/accounts", &cursor_account("small-2", "pat-na1-small-two-0000000")).await.expect(201);

    // The bodies in flight finish normally (an empty import is a 400 of the handler, not of the
    // budget), and then the budget is free again.
    for stream in [first, second] {
        let answer = finish_import(stream, 3 * MIB, MIB).await;
        answer.assert_json_error(400, "invalid_request");
        assert!(answer.body["error"]["message"].as_str().unwrap().contains("no accounts"), "{}", answer.text);
    }
    let again = open_import(&server, &key, 3 * MIB, 1).await;
    finish_import(again, 3 * MIB, 1).await.assert_json_error(400, "invalid_request");

    // A body larger than the whole budget could never be taken: 413, not 503.
    let mut huge = open_import(&server, &key, 9 * MIB, 1).await;
    read_answer(&mut huge, Duration::from_secs(5)).await.assert_json_error(413, "payload_too_large");
    server.stop().await;
}

// 6. A dead refresh lease ------------------------------------------------------------------------

const ACCESS: &str = "ghu_access0000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const REFRESH: &str = "ghr_refresh0000bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_refresh_lease_answers_fast_and_retryable() {
    let mock = Mock::start(|request, _| {
        if request.path == "/login/oauth/access_token" {
            return Reply::json(
                200,
                json!({ "access_token": "ghu_access0001aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "expires_in": 28800, "refresh_token": "ghr_refresh0001bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "token_type": "bearer" }),
            );
        }
        Reply::json(200, json!([{ "login": "octocat", "id": 1, "type": "User" }]))
    })
    .await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    server.install(&key, "epoch_reset_limits", "Iv1.8a61f9b3a7aba766", "app-secret-0123456789").await;
    let expired = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({
        "integration": "epoch_reset_limits",
        "external_id": "legacy-42",
        "connection": { "org": "acme" },
        "credentials": { "access_token": ACCESS, "refresh_token": REFRESH, "expires_at": expired },
        "verify": false
    });
    let id = server.post(&key, "/v1/accounts", &body).await.expect(201).body["id"].as_str().unwrap().to_string();

    // A process that took the lease and was killed (kill -9) before it released it.
    let (store, environment, lease) = off_async(|| {
        let store = server.db.open();
        let environment = store.list_environments().unwrap().into_iter().find(|e| e.name == "production").unwrap();
        let lease = match store.acquire_refresh_lease(&environment.id, &id, "4242-proc_killed", Duration::from_secs(60)).unwrap() {
            switchyard_store::LeaseOutcome::Acquired(lease) => lease,
            other => panic!("the lease was not taken: {other:?}"),
        };
        (store, environment, lease)
    });

    // Five requests at once all answer within a few seconds: 503 refresh_in_progress, retryable.
    let started = Instant::now();
    let path = format!("/v1/unified/crm/contacts?account_id={id}");
    let calls = (0..5).map(|_| server.get(&key, &path));
    let answers = tokio::time::timeout(Duration::from_secs(15), futures_util::future::join_all(calls))
        .await
        .expect("requests on a dead lease must not wait for it to lapse");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(6), "answered after {elapsed:?}");
    for answer in &answers {
        assert_eq!(answer.status, 503, "{}", answer.text);
        assert_eq!(answer.body["error"]["code"], "refresh_in_progress", "{}", answer.text);
        let retry: u64 = answer.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
    }
    assert!(mock.requests().iter().all(|r| r.path != "/login/oauth/access_token"), "nobody refreshed under another's lease");

    // Once the lease is gone (lapsed or released), the next request refreshes and succeeds.
    off_async(|| store.release_refresh_lease(&environment.id, &id, lease.token)).unwrap();
    let answer = server.get(&key, &path).await.expect(200);
    assert_eq!(answer.body["results"].as_array().map(Vec::len), Some(1), "{}", answer.text);
    assert_eq!(mock.requests().iter().filter(|r| r.path == "/login/oauth/access_token").count(), 1);
    server.stop().await;
}

// 7. Every error is JSON ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json() {
    let mock = quiet_mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let auth = format!("Authorization: Bearer {key}");

    // Overlong UTF-8 (`%c0%ae`, a dot) and invalid percent-decoding in path parameters.
    for (method, path) in [
        ("GET", "/v1/accounts/%c0%ae"),
        ("GET", "/v1/accounts/%ff"),
        ("DELETE", "/v1/accounts/%c0%ae"),
        ("POST", "/v1/accounts/%c0%ae/refresh"),
        ("GET", "/v1/proxy/acc_1/%c0%ae%c0%ae/etc/passwd"),
        ("GET", "/v1/proxy/%c0%ae/x"),
        ("GET", "/v1/unified/crm/%c0%ae?account_id=acc_1"),
        ("GET", "/v1/installs/%c0%ae"),
        ("GET", "/v1/connect/%c0%ae/authorize"),
    ] {
        let answer = raw(&server, &format!("{method} {path} HTTP/1.1\r\n{auth}"), b"").await;
        answer.assert_json_error(400, "invalid_request");
        assert!(answer.body["error"]["message"].as_str().unwrap().contains("UTF-8"), "{method} {path}: {}", answer.text);
    }
    // A method the route does not take.
    let answer = raw(&server, &format!("DELETE /v1/installs HTTP/1.1\r\n{auth}"), b"").await;
    answer.assert_json_error(405, "method_not_allowed");
    assert!(answer.header("allow").is_some_and(|a| a.contains("GET")), "{}", answer.head);
    raw(&server, "PUT /healthz HTTP/1.1", b"").await.assert_json_error(405, "method_not_allowed");
    // A body over the limit: refused from its Content-Length, before it is sent.
    let answer = raw(
        &server,
        &format!("POST /v1/accounts/import HTTP/1.1\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: 40000000"),
        b"",
    )
    .await;
    answer.assert_json_error(413, "payload_too_large");
    // A chunked body over the limit: refused when it passes it.
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "POST /v1/accounts HTTP/1.1\r\nHost: {}\r\n{auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        address(&server)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; MIB];
    for _ in 0..33 {
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || stream.write_all(&chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await;
    if !bytes.is_empty() {
        parse_answer(&bytes).assert_json_error(413, "payload_too_large");
    }
    // Bodies that are not what the route takes.
    let answer = raw(
        &server,
        &format!("POST /v1/accounts HTTP/1.1\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: 9"),
        b"{\"a\": tru",
    )
    .await;
    answer.assert_json_error(400, "invalid_request");
    let answer = raw(&server, &format!("GET /v1/logs?limit=abc HTTP/1.1\r\n{auth}"), b"").await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.body["error"]["code"].is_string(), "{}", answer.text);
    // No key, an unknown route.
    raw(&server, "GET /v1/accounts HTTP/1.1", b"").await.assert_json_error(401, "unauthorized");
    raw(&server, &format!("GET /v2/nothing HTTP/1.1\r\n{auth}"), b"").await.assert_json_error(404, "not_found");
    // The server still answers.
    server.get(&key, "/v1/accounts").await.expect(200);
    server.stop().await;
}

// 8. A duplicate external id -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_external_id_names_the_existing_account() {
    let mock = quiet_mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let first = server.post(&key, "/v1/accounts", &cursor_account("customer-7", "pat-na1-first-000000000")).await.expect(201);
    let existing = first.body["id"].as_str().unwrap().to_string();
    let again = server.post(&key, "/v1/accounts", &cursor_account("customer-7", "pat-na1-second-00000000")).await.expect(409);
    assert_eq!(again.body["error"]["code"], "conflict");
    assert_eq!(again.body["error"]["account_id"], existing.as_str(), "{}", again.text);
    let message = again.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&existing), "{message}");
    assert!(message.contains("customer-7"), "{message}");
    // Every account id the answer names exists.
    for word in message.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("acc_")) {
        server.get(&key, &format!("/v1/accounts/{word}")).await.expect(200);
    }
    let listed = server.get(&key, "/v1/accounts").await.expect(200);
    assert_eq!(listed.body["results"].as_array().unwrap().len(), 1);
    server.stop().await;
}

// 9. expires_in with expires_at -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expires_in_and_expires_at_together_are_refused() {
    let mock = quiet_mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    server.install(&key, "epoch_reset_limits", "Iv1.8a61f9b3a7aba766", "app-secret-0123456789").await;
    let body = |credentials: Value| json!({ "integration": "epoch_reset_limits", "connection": { "org": "acme" }, "credentials": credentials, "verify": false });
    let both = body(json!({ "access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3600, "expires_at": "2030-01-01T00:00:00Z" }));
    let refused = server.post(&key, "/v1/accounts", &both).await.expect(400);
    assert_eq!(refused.body["error"]["code"], "invalid_request");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("expires_in") && message.contains("expires_at"), "{message}");
    // Either alone is fine, and so is a null beside the other.
    server
        .post(&key, "/v1/accounts", &body(json!({ "access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3600 })))
        .await
        .expect(201);
    server
        .post(
            &key,
            "/v1/accounts",
            &body(json!({ "access_token": ACCESS, "refresh_token": REFRESH, "expires_at": "2030-01-01T00:00:00Z", "expires_in": null })),
        )
        .await
        .expect(201);
    // The same on PATCH.
    let id = server.get(&key, "/v1/accounts").await.body["results"][0]["id"].as_str().unwrap().to_string();
    let patch = json!({ "credentials": { "access_token": ACCESS, "expires_in": 60, "expires_at": "2030-01-01T00:00:00Z" } });
    server.call(&key, "PATCH", &format!("/v1/accounts/{id}"), Some(&patch)).await.expect(400);
    server.stop().await;
}

// 3 and 5 through the command line ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_and_the_body_budget_are_flags() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchyard.db");
    for (args, message) in [
        (&["--metrics-listen", "nine-four-six-four"][..], "--metrics-listen `nine-four-six-four` is not an address"),
        (&["--body-budget-mb", "0"][..], "--body-budget-mb must be at least 1"),
    ] {
        let output = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(&db)
            .args(args)
            .env("SWITCHYARD_SECRET_KEY", support::server::test_key_env())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(message), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--body-budget-mb", "1", "--db"])
        .arg(&db)
        .env("SWITCHYARD_SECRET_KEY", support::server::test_key_env())
        .env("SWITCHYARD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    stdout.read_line(&mut first).unwrap();
    stdout.read_line(&mut second).unwrap();
    let api = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line {first:?}")).to_string();
    let metrics = second.trim().strip_prefix("metrics on ").unwrap_or_else(|| panic!("second line {second:?}")).to_string();
    let client = support::server::client();
    let scraped = support::server::answer(client.get(&metrics).send().await.unwrap()).await.expect(200);
    assert!(scraped.text.contains("switchyard_token_refreshes"), "{}", scraped.text);
    let on_api = support::server::answer(client.get(format!("{api}/metrics")).send().await.unwrap()).await;
    assert_eq!(on_api.status, 404, "{}", on_api.text);
    // A 2 MiB body is larger than the whole 1 MiB budget: refused from its head.
    let host = api.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!("POST /v1/accounts/import HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", 2 * MIB);
    stream.write_all(head.as_bytes()).await.unwrap();
    read_answer(&mut stream, Duration::from_secs(5)).await.assert_json_error(413, "payload_too_large");
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
}
