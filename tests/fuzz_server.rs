//! Property tests over the HTTP API (issue 13): hostile requests against every route of the
//! router, sent as raw HTTP over TCP (a client library would normalize `..`, encodings and
//! headers away). One server is started for the whole test binary, on loopback, with a mock
//! provider, an environment, an install and accounts whose secrets are known. For every request:
//!
//! - the server answers (a handler that panics drops the connection) and still answers
//!   `/healthz` afterwards;
//! - every error answer (status ≥ 400) is `{"error": {"code", "message"}}` with a code
//!   docs/server.md documents, at its documented status (read from the doc at test time); the
//!   raw proxy passing the provider's own error is the one documented exception (the mock marks
//!   its answers);
//! - no 500: the request, however hostile, is never the server's failure;
//! - no known secret (client secret, tokens, API keys, both environments' keys), in any common
//!   encoding, appears in any answer, nor in `GET /v1/logs`.
//!
//! Requests that are not HTTP at all (bytes a request target or a header may not hold, framing
//! that lies) are refused by the HTTP parser before the router sees them:
//! `malformed_http_never_takes_the_server_down` checks the server survives them.
//!
//! Runs in CI with proptest's default case count (256 per test); for a longer run:
//! `PROPTEST_CASES=20000 cargo test --release --test fuzz_server` (`PROPTEST_RNG_SEED=N` repeats a
//! run; `FUZZ_STATS=1` with `--nocapture` prints each request's status and code, to see what a run
//! reached). What the fuzz found and is not fixed yet is at the end, as ignored tests.

mod support;

#[path = "support/fuzz.rs"]
mod fuzz;

use fuzz::{exchange, shown, Outcome, RawAnswer, Secrets};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use support::pages::{body_cursor_contact, body_cursor_provider};
use support::{registry, Mock, Recorded, Reply};

// --- the known secrets: each has the characters URL, JSON and form encodings treat specially ---

const CLIENT_ID: &str = "fuzz-client-id";
const CLIENT_SECRET: &str = "ocs_fuzz_client_8Jm4/Wn+Qr=St!Uv~Xy";
const OAUTH_ACCESS: &str = "oat_fuzz_access_7Gq2/Lm+Np=Rs!Tu~Vw";
const OAUTH_REFRESH: &str = "ort_fuzz_refresh_3Hk9/Pq+Xy=Zb!Cd~Ef";
const API_KEY: &str = "akh_fuzz_key_5Lp7/Ab+Cd=Ef!Gh~Ij";
const BEARER: &str = "pat-fuzz-bearer-2Mn6/Op+Qr=St!Uv~Wx";
const SCRATCH: &str = "pat-fuzz-scratch-9Yz1/Ab+Cd=Ef!Gh~Ij";
/// The mock's token endpoint hands out tokens from this many pairs, round robin.
const POOL: usize = 8;

fn pool_access(n: usize) -> String {
    format!("oat_fuzz_pool{:02}_Qw/Er+Ty=Ui!Op~", n % POOL)
}

fn pool_refresh(n: usize) -> String {
    format!("ort_fuzz_pool{:02}_As/Df+Gh=Jk!Lz~", n % POOL)
}

/// Where a browser may be sent back after connect (the install's `settings.return_urls`).
const RETURN_URL: &str = "https://app.example.com/connected";

// --- the mock provider: three test definitions, answering like the providers they imitate ---

/// Marks every answer of the mock, so an answer the raw proxy passed through is told apart.
const MOCK_MARK: &str = "x-fuzz-provider";

fn provider(issued: Arc<AtomicUsize>) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    move |request, _| {
        let bearer = request.header("authorization").and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default().to_string();
        let oauth_ok = bearer == OAUTH_ACCESS || (0..POOL).any(|n| bearer == pool_access(n));
        let path = request.path.as_str();
        let reply = if path == "/login/oauth/access_token" {
            token_endpoint(request, &issued)
        } else if path.starts_with("/orgs/") || path.starts_with("/user/") {
            if !oauth_ok {
                Reply::json(401, json!({ "message": "Bad credentials" }))
            } else if let Some(org_path) = path.strip_suffix("/members").filter(|_| request.method == "GET") {
                let page: usize = request.query("page").and_then(|p| p.parse().ok()).unwrap_or(1).clamp(1, 1000);
                let members = json!([{ "id": page * 10 + 1, "login": "ada", "type": "User" }, { "id": page * 10 + 2, "login": "grace", "type": "User" }]);
                let mut reply = Reply::json(200, members);
                if page < 3 {
                    reply = reply
                        .header("link", &format!("<{}{org_path}/members?page={}&per_page=2>; rel=\"next\"", request.origin(), page + 1));
                }
                reply.header("x-ratelimit-limit", "5000").header("x-ratelimit-remaining", "4999").header("x-ratelimit-reset", "1999999999")
            } else if let Some(id) = path.strip_prefix("/user/").filter(|_| request.method == "GET") {
                Reply::json(
                    200,
                    json!({ "id": id, "login": "ada", "name": "Ada Lovelace", "email": "ada@example.com", "created_at": "2024-01-14T04:33:35Z", "updated_at": "2024-01-14T04:33:35Z" }),
                )
            } else {
                Reply::json(404, json!({ "message": "Not Found" }))
            }
        } else if path.starts_with("/api/v2/") {
            if request.header("x-api-token") != Some(API_KEY) {
                Reply::json(401, json!({ "success": false, "error": "Unauthorized", "errorCode": 401 }))
            } else if path == "/api/v2/persons" && request.method == "GET" {
                Reply::json(200, json!({ "success": true, "data": [person(1), person(2)], "additional_data": { "next_cursor": null } }))
            } else if let Some(id) = path.strip_prefix("/api/v2/persons/").filter(|_| request.method == "GET") {
                Reply::json(200, json!({ "success": true, "data": person(id.parse().unwrap_or(3)) }))
            } else {
                Reply::json(404, json!({ "success": false, "error": "Not found", "errorCode": 404 }))
            }
        } else if bearer != BEARER && bearer != SCRATCH {
            Reply::json(
                401,
                json!({ "status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION" }),
            )
        } else if path == "/crm/v3/objects/contacts" && request.method == "GET" {
            body_cursor_provider(request)
        } else if path == "/crm/v3/objects/contacts" && request.method == "POST" {
            let sent = request.json();
            Reply::json(
                201,
                json!({ "id": "901", "properties": sent["properties"], "createdAt": "2024-06-01T09:00:00.000Z", "updatedAt": "2024-06-01T09:00:00.000Z", "archived": false }),
            )
        } else if let Some(id) = path.strip_prefix("/crm/v3/objects/contacts/").filter(|_| request.method == "GET") {
            Reply::json(200, body_cursor_contact(id.parse().unwrap_or(51)))
        } else {
            Reply::json(404, json!({ "status": "error", "message": "Unable to route the request", "category": "OBJECT_NOT_FOUND" }))
        };
        reply.header(MOCK_MARK, "1")
    }
}

fn person(id: usize) -> Value {
    json!({ "id": id, "first_name": "Ada", "last_name": "Lovelace", "owner_id": 7, "org_id": 3, "add_time": "2024-05-02T14:11:07Z", "update_time": "2024-06-01T09:00:00Z", "emails": [{ "value": "ada@example.com", "primary": true, "label": "work" }], "phones": [] })
}

/// The OAuth token endpoint: the install's client, a known refresh token (the account's first
/// one or any the pool handed out) or a code starting with `ok`; new tokens from the pool.
fn token_endpoint(request: &Recorded, issued: &AtomicUsize) -> Reply {
    let form = request.form();
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return Reply::json(401, json!({ "error": "invalid_client", "error_description": "Client authentication failed." }));
    }
    let known = match get("grant_type") {
        "refresh_token" => get("refresh_token") == OAUTH_REFRESH || (0..POOL).any(|n| get("refresh_token") == pool_refresh(n)),
        "authorization_code" => get("code").starts_with("ok"),
        _ => false,
    };
    if !known {
        return Reply::json(400, json!({ "error": "invalid_grant", "error_description": "The grant is invalid or expired." }));
    }
    let n = issued.fetch_add(1, Ordering::SeqCst);
    Reply::json(
        200,
        json!({ "access_token": pool_access(n), "refresh_token": pool_refresh(n), "expires_in": 28800, "scope": "", "token_type": "bearer" }),
    )
}

// --- the server, started once for the test binary ---

/// The accounts the tests keep: `(role, integration, external id, connection, credentials)`.
fn account_specs() -> Vec<(&'static str, &'static str, Value, Value)> {
    vec![
        (
            "oauth",
            "epoch_reset_limits",
            json!({ "org": "acme" }),
            json!({ "access_token": OAUTH_ACCESS, "refresh_token": OAUTH_REFRESH, "expires_in": 28800 }),
        ),
        ("apikey", "api_key_header", json!({ "company_domain": "acme" }), json!({ "api_key": API_KEY })),
        ("bearer", "cursor_body", json!({}), json!({ "token": BEARER })),
        ("scratch", "cursor_body", json!({}), json!({ "token": SCRATCH })),
    ]
}

struct Fixture {
    _runtime: tokio::runtime::Runtime,
    addr: String,
    key: String,
    other_key: String,
    /// The kept accounts' ids by role (an account the fuzz deletes is created again, anew).
    ids: Mutex<BTreeMap<&'static str, String>>,
    codes: BTreeMap<String, u16>,
    secrets: Secrets,
    /// The newest exchange-log entry already searched, per environment key.
    log_seen: Mutex<BTreeMap<String, i64>>,
    cases: AtomicUsize,
    _server: switchyard_server::Running,
    _mock: Mock,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(start)
}

fn start() -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let issued = Arc::new(AtomicUsize::new(0));
    let registry = registry();
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    fuzz::remove_stale(tmp, "fuzz_server-");
    let dir = tempfile::Builder::new().prefix("fuzz_server-").tempdir_in(tmp).unwrap();
    let db = dir.path().join("switchyard.db");
    let (mock, running) = runtime.block_on(async {
        let mock = Mock::start(provider(issued.clone())).await;
        let mut config =
            switchyard_server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), switchyard_server::DatabaseUrl::Sqlite(db.clone()));
        for integration in &registry.integrations {
            config.upstreams.insert(integration.name.clone(), url::Url::parse(&mock.url).unwrap());
        }
        let running =
            switchyard_server::start(config, registry.clone(), Some(support::server::test_keyring())).await.expect("the server starts");
        (mock, running)
    });
    let database = switchyard_server::DatabaseUrl::Sqlite(db);
    let environment = |name| switchyard_server::create_environment(&database, name).unwrap()["api_key"].as_str().unwrap().to_string();
    let (key, other_key) = (environment("fuzz"), environment("other"));
    let mut secrets: Vec<String> = [CLIENT_SECRET, OAUTH_ACCESS, OAUTH_REFRESH, API_KEY, BEARER, SCRATCH].map(String::from).to_vec();
    secrets.extend((0..POOL).flat_map(|n| [pool_access(n), pool_refresh(n)]));
    secrets.extend([key.clone(), other_key.clone()]);
    let fixture = Fixture {
        _runtime: runtime,
        addr: running.addr.to_string(),
        key,
        other_key,
        ids: Mutex::default(),
        codes: codes(),
        secrets: Secrets::new(secrets.iter().map(String::as_str)),
        log_seen: Mutex::default(),
        cases: AtomicUsize::new(0),
        _server: running,
        _mock: mock,
        _dir: dir,
    };
    restore(&fixture, true);
    fixture
}

/// Codes whose `upstream` is not `{status, error, body_excerpt}`, as docs/server.md says:
/// `authorization_denied` holds what the provider's OAuth redirect said.
const UPSTREAM_EXEMPT: &[&str] = &["authorization_denied"];

fn exempt() -> Vec<&'static str> {
    UPSTREAM_EXEMPT.to_vec()
}

/// The documented codes.
fn codes() -> BTreeMap<String, u16> {
    fuzz::documented_codes()
}

/// One call of the API, as a well-behaved client makes it.
fn call(f: &Fixture, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        f.addr,
        body.len()
    );
    match exchange(&f.addr, request.as_bytes(), false, Duration::from_secs(60)) {
        Outcome::Answer(answer) => (answer.status, serde_json::from_slice(&answer.body).unwrap_or(Value::Null)),
        other => panic!("{method} {path}: no answer: {other:?}"),
    }
}

/// A GET of the API with the fuzz environment's key.
fn call_api(f: &Fixture, method: &str, path: &str) -> (u16, Value) {
    call(f, method, path, &f.key, None)
}

/// Puts back what a case may have changed: the install (client and return URLs) and the kept
/// accounts (created again when deleted; active, with their own credentials). With `all`, every
/// account is given its credentials again even when it looks untouched.
fn restore(f: &Fixture, all: bool) {
    // One restore at a time: two would both create a missing account.
    let mut ids = f.ids.lock().unwrap();
    let install =
        json!({ "oauth_client": { "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET }, "settings": { "return_urls": [RETURN_URL] } });
    let (status, current) = call(f, "GET", "/v1/installs/epoch_reset_limits", &f.key, None);
    if all || status != 200 || current["oauth_client"]["client_id"] != CLIENT_ID || current["settings"] != install["settings"] {
        let (status, body) = call(f, "PUT", "/v1/installs/epoch_reset_limits", &f.key, Some(&install));
        assert_eq!(status, 200, "the install is put back: {body}");
    }
    for (role, integration, connection, credentials) in account_specs() {
        let external_id = format!("fuzz-{role}");
        let current = ids.get(role).map(|id| call(f, "GET", &format!("/v1/accounts/{id}"), &f.key, None));
        let id = match current {
            Some((200, account)) => {
                let id = account["id"].as_str().unwrap().to_string();
                if all || account["status"] != "active" || account["connection"] != connection {
                    let patch = json!({ "status": "active", "connection": connection, "credentials": credentials });
                    let (status, body) = call(f, "PATCH", &format!("/v1/accounts/{id}"), &f.key, Some(&patch));
                    assert_eq!(status, 200, "{role} is put back: {body}");
                }
                id
            }
            // Deleted (or never made): made again, with a new id.
            _ => {
                let body = json!({ "integration": integration, "external_id": external_id, "connection": connection, "credentials": credentials, "verify": false });
                let (status, created) = call(f, "POST", "/v1/accounts", &f.key, Some(&body));
                match status {
                    201 => created["id"].as_str().unwrap().to_string(),
                    // The fuzz took the external id: that account goes.
                    409 => {
                        let taken = created["error"]["account_id"].as_str().unwrap().to_string();
                        call(f, "DELETE", &format!("/v1/accounts/{taken}"), &f.key, None);
                        let (status, created) = call(f, "POST", "/v1/accounts", &f.key, Some(&body));
                        assert_eq!(status, 201, "{role} is created again: {created}");
                        created["id"].as_str().unwrap().to_string()
                    }
                    _ => panic!("{role} cannot be created again: {status} {created}"),
                }
            }
        };
        ids.insert(role, id);
    }
    // A second API key of the environment, for the fuzz to revoke and rotate (never its own).
    let victim = ids.get("victim").map(|id| call(f, "GET", &format!("/v1/api-keys/{id}"), &f.key, None));
    if !matches!(&victim, Some((200, key)) if key["active"] == true) {
        let (status, created) = call(f, "POST", "/v1/api-keys", &f.key, Some(&json!({ "name": "victim" })));
        assert_eq!(status, 201, "a second key: {created}");
        ids.insert("victim", created["id"].as_str().unwrap().to_string());
    }
}

// --- checks ---

/// What every answer of the API must be; `request` is shown when it is not.
fn check_answer(f: &Fixture, request: &[u8], outcome: Outcome) -> Result<RawAnswer, TestCaseError> {
    let answer = match outcome {
        Outcome::Answer(answer) => answer,
        // Reported as a bug (`an_unread_request_body_does_not_cut_the_answer`, ignored): an
        // answer to a request with a large body the route does not read may be cut by a reset.
        Outcome::Closed { raw, .. } if raw.starts_with(b"HTTP/1.") && large_body(request) => {
            if let Some((secret, form)) = f.secrets.find(&raw) {
                return Err(TestCaseError::fail(format!("the answer holds secret `{secret}` as `{form}`: {}", shown(&raw, 3000))));
            }
            return Ok(RawAnswer { status: 0, headers: vec![], body: vec![], raw });
        }
        other => return Err(TestCaseError::fail(format!("no answer to {}:\n{other:?}", shown(request, 2000)))),
    };
    let context = || format!("request: {}\nanswer: {}", shown(request, 2000), shown(&answer.raw, 3000));
    if let Some((secret, form)) = f.secrets.find(&answer.raw) {
        return Err(TestCaseError::fail(format!("the answer holds secret `{secret}` as `{form}`\n{}", context())));
    }
    if answer.status >= 400 {
        let passthrough = answer.header(MOCK_MARK).is_some();
        if !passthrough {
            let json = answer.header("content-type").is_some_and(|t| t.starts_with("application/json"));
            if !json {
                return Err(TestCaseError::fail(format!("an error answer that is not JSON\n{}", context())));
            }
            if !request.starts_with(b"HEAD ") {
                let code = fuzz::check_error_body(answer.status, &answer.body, &f.codes, &exempt())
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{}", context())))?;
                if answer.status == 500 {
                    return Err(TestCaseError::fail(format!("500 `{code}` for a request\n{}", context())));
                }
            }
        }
    }
    Ok(answer)
}

/// Whether a request carries a body over 64 KiB (past the head).
fn large_body(request: &[u8]) -> bool {
    fuzz::find(request, b"\r\n\r\n").is_some_and(|head| request.len() - head - 4 > 64 * 1024)
}

/// The server still answers `/healthz` after a case.
fn check_health(f: &Fixture) -> Result<(), TestCaseError> {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", f.addr);
    match exchange(&f.addr, request.as_bytes(), false, Duration::from_secs(30)) {
        Outcome::Answer(answer) if answer.status == 200 => Ok(()),
        other => Err(TestCaseError::fail(format!("/healthz after the case: {other:?}"))),
    }
}

/// Searches the exchange-log entries written since the last search (both environments) for
/// the secrets; every `every`th case of the binary (the search waits for the log writer). A
/// failure names the entry, which says what went upstream.
fn check_logs(f: &Fixture, every: usize) -> Result<(), TestCaseError> {
    if f.cases.fetch_add(1, Ordering::SeqCst) % every != 0 {
        return Ok(());
    }
    let mut seen = f.log_seen.lock().unwrap();
    for key in [&f.key, &f.other_key] {
        let last = seen.get(key.as_str()).copied().unwrap_or(0);
        let mut newest = last;
        let mut before: Option<i64> = None;
        'pages: loop {
            let path = match before {
                Some(before) => format!("/v1/logs?limit=100&before={before}"),
                None => "/v1/logs?limit=100".to_string(),
            };
            let (status, page) = call(f, "GET", &path, key, None);
            prop_assert_eq!(status, 200, "GET /v1/logs: {}", page);
            for entry in page["results"].as_array().cloned().unwrap_or_default() {
                let id = entry["id"].as_i64().unwrap_or(0);
                if id <= last {
                    break 'pages;
                }
                newest = newest.max(id);
                let text = entry.to_string();
                if let Some((secret, form)) = f.secrets.find(text.as_bytes()) {
                    // Searched once: the cases after this one are not blamed for it.
                    seen.insert(key.clone(), newest);
                    return Err(TestCaseError::fail(format!("GET /v1/logs holds secret `{secret}` as `{form}` in entry {entry}")));
                }
            }
            match page["next_before"].as_i64() {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        seen.insert(key.clone(), newest);
    }
    Ok(())
}

/// Sends one request, checks the answer, the server's health and (now and then) the log; puts
/// the kept state back when the request could have changed it.
fn run(f: &Fixture, request: &[u8]) -> Result<RawAnswer, TestCaseError> {
    let outcome = exchange(&f.addr, request, false, Duration::from_secs(60));
    let answer = check_answer(f, request, outcome)?;
    if std::env::var("FUZZ_STATS").is_ok() {
        let text = String::from_utf8_lossy(request);
        let mut parts = text.split(' ');
        let method: String = parts.next().unwrap_or_default().chars().take(10).collect();
        let target = parts.next().unwrap_or_default().split('?').next().unwrap_or_default();
        let target: String = target.chars().take(90).collect();
        let code = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            .unwrap_or("-".into());
        eprintln!("STAT\t{}\t{code}\t{method}\t{target}", answer.status);
    }
    check_health(f)?;
    // A GET changes nothing the cases rely on (a connect callback's reconnect gives working tokens).
    let reading = [&b"GET "[..], b"HEAD ", b"OPTIONS "].iter().any(|m| request.starts_with(m));
    if !reading {
        restore(f, request.starts_with(b"PATCH ") || request.starts_with(b"PUT "));
    }
    check_logs(f, 8)?;
    Ok(answer)
}

// --- what requests are made of ---

/// The roles' ids and the keys, in a text with placeholders.
fn substitute(f: &Fixture, text: &str) -> String {
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
fn route() -> impl Strategy<Value = (String, &'static str)> {
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
fn path_piece() -> impl Strategy<Value = String> {
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
enum PathEdit {
    Insert(String),
    /// Percent-encodes the character there (upper or lower hex).
    Encode(bool),
    Cut,
    /// A long segment of the piece repeated.
    Long(String, usize),
}

fn path_edit() -> impl Strategy<Value = (u16, PathEdit)> {
    let edit = prop_oneof![
        5 => path_piece().prop_map(PathEdit::Insert),
        2 => any::<bool>().prop_map(PathEdit::Encode),
        1 => Just(PathEdit::Cut),
        1 => (prop::sample::select(vec!["a", "%2e", "é", "%c0%ae", "/", ".", "%"]), prop::sample::select(vec![300usize, 4000, 16000]))
            .prop_map(|(piece, n)| PathEdit::Long(piece.to_string(), n)),
    ];
    (0..1000u16, edit)
}

fn apply_edits(path: &str, edits: &[(u16, PathEdit)]) -> String {
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
fn query_value() -> impl Strategy<Value = String> {
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

fn query_key() -> impl Strategy<Value = String> {
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
fn query() -> impl Strategy<Value = Option<String>> {
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
enum Auth {
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

fn auth() -> impl Strategy<Value = Auth> {
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

fn auth_headers(f: &Fixture, auth: &Auth) -> Vec<Vec<u8>> {
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

fn content_type() -> impl Strategy<Value = Option<String>> {
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
fn extra_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
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
fn json_value() -> impl Strategy<Value = Value> {
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
fn valid_body() -> impl Strategy<Value = Value> {
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
enum JsonEdit {
    /// Sets a member (at the top or one level down) to a value.
    Set(String, Value),
    Remove(String),
    /// Replaces a number's text with one no machine number holds.
    HugeNumber(&'static str),
}

fn json_edit() -> impl Strategy<Value = JsonEdit> {
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

fn edit_json(mut value: Value, edits: &[JsonEdit]) -> String {
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
fn body() -> impl Strategy<Value = Vec<u8>> {
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

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => prop::sample::select(vec!["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "PATCH", "DELETE"]).prop_map(str::to_string),
        2 => prop::sample::select(vec!["HEAD", "OPTIONS", "TRACE", "PROPFIND", "get", "Post", "X-FUZZ", "M-SEARCH"]).prop_map(str::to_string),
        1 => Just("A".repeat(100)),
    ]
}

/// A request the HTTP parser takes (so the router sees it), but anything else the API may
/// be sent.
#[derive(Clone)]
struct Case {
    method: String,
    path: String,
    /// What a client would send there (`query` adds to it, or replaces it).
    usual_query: &'static str,
    edits: Vec<(u16, PathEdit)>,
    query: Option<String>,
    auth: Auth,
    content_type: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Sent chunked, in pieces of this size.
    chunked: Option<usize>,
    http10: bool,
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

fn case() -> impl Strategy<Value = Case> {
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
fn target(f: &Fixture, case: &Case) -> String {
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

fn render(f: &Fixture, case: &Case) -> Vec<u8> {
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
enum Line {
    Row { integration: &'static str, external_id: String, verify: Option<bool>, edits: Vec<JsonEdit> },
    NotJson(String),
    NotUtf8(Vec<u8>),
    Blank(&'static str),
    NotObject(Value),
    Long(usize),
}

fn line() -> impl Strategy<Value = Line> {
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

fn row_json(line: &Line) -> Vec<u8> {
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
fn check_import(f: &Fixture, body: &[u8], ndjson: bool, answer: &RawAnswer) -> Result<(), TestCaseError> {
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

// --- requests the HTTP parser refuses ---

#[derive(Debug, Clone)]
enum Malformed {
    /// A byte no request target may hold, put into a valid one.
    TargetByte(u8, u16),
    /// A request target longer than the parser takes.
    LongTarget(usize),
    HeaderName(Vec<u8>),
    HeaderValue(Vec<u8>),
    ObsFold,
    ManyHeaders(usize),
    HugeHead(usize),
    LengthAndChunked,
    BadLength(&'static str),
    /// `Content-Length` says more than is sent, then the client stops writing.
    ShortBody(usize),
    BadChunk(&'static [u8]),
    BareLf,
    Version(&'static str),
    Bytes(Vec<u8>),
}

fn malformed() -> impl Strategy<Value = Malformed> {
    prop_oneof![
        (prop::sample::select(vec![0u8, 1, 8, 9, 10, 13, 27, 32, 34, 60, 62, 96, 127, 0x80, 0xc0, 0xff]), 0..1000u16)
            .prop_map(|(b, at)| Malformed::TargetByte(b, at)),
        prop::sample::select(vec![65_535usize, 70_000, 200_000]).prop_map(Malformed::LongTarget),
        prop::sample::select(vec![
            b"Bad Header".to_vec(),
            b"X:Y".to_vec(),
            b"\x00".to_vec(),
            b"".to_vec(),
            b"X\xffY".to_vec(),
            b"(x)".to_vec()
        ])
        .prop_map(Malformed::HeaderName),
        prop::sample::select(vec![b"a\x00b".to_vec(), b"a\rb".to_vec(), b"\x7f".to_vec(), b"a\x0bb".to_vec()])
            .prop_map(Malformed::HeaderValue),
        Just(Malformed::ObsFold),
        prop::sample::select(vec![101usize, 500]).prop_map(Malformed::ManyHeaders),
        prop::sample::select(vec![500_000usize, 2_000_000]).prop_map(Malformed::HugeHead),
        Just(Malformed::LengthAndChunked),
        prop::sample::select(vec!["-1", "abc", "1, 2", "99999999999999999999", "0x10", " 12", "+5", "40000000"])
            .prop_map(Malformed::BadLength),
        prop::sample::select(vec![1usize, 100, 1_000_000]).prop_map(Malformed::ShortBody),
        prop::sample::select(vec![
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"5\r\nab\r\n",
            b"3\r\nabcdef\r\n0\r\n\r\n",
            b"ffffffffffffffffff\r\n",
            b"3\r\nabc"
        ])
        .prop_map(Malformed::BadChunk),
        Just(Malformed::BareLf),
        prop::sample::select(vec!["HTTP/9.9", "HTTP/1", "", "HTTP/1.1 extra", "http/1.1", "HTTP/2.0"]).prop_map(Malformed::Version),
        prop_oneof![
            Just(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec()),
            Just(b"GET\r\n\r\n".to_vec()),
            prop::collection::vec(any::<u8>(), 1..300),
        ]
        .prop_map(Malformed::Bytes),
    ]
}

fn render_malformed(f: &Fixture, m: &Malformed, base_path: &str) -> (Vec<u8>, bool) {
    let host = &f.addr;
    let key = &f.key;
    let plain = |target: &[u8], headers: &[u8], body: &[u8]| {
        let mut out = b"POST ".to_vec();
        out.extend_from_slice(target);
        out.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n").as_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    };
    let length = |n: usize| format!("Content-Length: {n}\r\n").into_bytes();
    match m {
        Malformed::TargetByte(b, at) => {
            let mut target = base_path.as_bytes().to_vec();
            let i = (target.len() * *at as usize / 1000).clamp(1, target.len());
            target.insert(i, *b);
            (plain(&target, &length(2), b"{}"), false)
        }
        Malformed::LongTarget(n) => (plain(format!("/v1/accounts/{}", "a".repeat(*n)).as_bytes(), &length(0), b""), false),
        Malformed::HeaderName(name) => {
            let mut headers = name.clone();
            headers.extend_from_slice(b": v\r\n");
            headers.extend(length(2));
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::HeaderValue(value) => {
            let mut headers = b"X-Bad: ".to_vec();
            headers.extend_from_slice(value);
            headers.extend_from_slice(b"\r\n");
            headers.extend(length(2));
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::ObsFold => (plain(base_path.as_bytes(), b"X-Folded: a\r\n  b\r\nContent-Length: 2\r\n", b"{}"), false),
        Malformed::ManyHeaders(n) => {
            let headers: Vec<u8> = (0..*n).flat_map(|i| format!("X-H{i}: v\r\n").into_bytes()).chain(length(2)).collect();
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::HugeHead(n) => {
            let headers = format!("X-Huge: {}\r\nContent-Length: 2\r\n", "h".repeat(*n)).into_bytes();
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::LengthAndChunked => {
            (plain(base_path.as_bytes(), b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), false)
        }
        Malformed::BadLength(value) => (plain(base_path.as_bytes(), format!("Content-Length: {value}\r\n").as_bytes(), b"{}"), true),
        Malformed::ShortBody(n) => (plain(base_path.as_bytes(), &length(n + 2), b"{}"), true),
        Malformed::BadChunk(body) => (plain(base_path.as_bytes(), b"Transfer-Encoding: chunked\r\n", body), true),
        Malformed::BareLf => (
            format!("POST {base_path} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {key}\nContent-Length: 2\nConnection: close\n\n{{}}")
                .into_bytes(),
            true,
        ),
        Malformed::Version(version) => (
            format!("GET {base_path} {version}\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").into_bytes(),
            true,
        ),
        Malformed::Bytes(bytes) => (bytes.clone(), true),
    }
}

// --- the properties ---

fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Any route, any method, any path, query, headers and body the HTTP parser takes.
    #[test]
    fn every_route_answers_hostile_requests_with_documented_json(case in case()) {
        let f = fixture();
        let request = render(f, &case);
        run(f, &request)?;
    }

    /// Writing routes with bodies a client could send: valid ones mutated (wrong types, missing
    /// and unknown fields, numbers no machine number holds, bad dates), truncated, nested
    /// thousands deep, not UTF-8, large; with the key and a JSON content type.
    #[test]
    fn writing_routes_answer_hostile_json_with_documented_json(
        route in prop::sample::select(vec![
            ("POST", "/v1/accounts"),
            ("PATCH", "/v1/accounts/{scratch}"),
            ("PATCH", "/v1/accounts/{oauth}"),
            ("PUT", "/v1/installs/epoch_reset_limits"),
            ("PUT", "/v1/installs/cursor_body"),
            ("POST", "/v1/unified/crm/contacts?account_id={bearer}"),
            ("POST", "/v1/unified/crm/contacts?account_id={oauth}"),
            ("PATCH", "/v1/unified/crm/contacts/51?account_id={bearer}"),
            ("POST", "/v1/accounts/import"),
            ("POST", "/v1/proxy/{bearer}/crm/v3/objects/contacts"),
            ("POST", "/v1/api-keys"),
            ("POST", "/v1/api-keys/{victim}/rotate"),
        ]),
        body in body(),
        content_type in content_type(),
        chunked in prop::option::weighted(0.2, prop::sample::select(vec![1usize, 100, 65536])),
    ) {
        let f = fixture();
        let (method, path) = route;
        let case = Case {
            method: method.to_string(),
            path: path.split('?').next().unwrap().to_string(),
            usual_query: "",
            edits: vec![],
            query: path.split_once('?').map(|(_, q)| q.to_string()),
            auth: Auth::Key { scheme: "Bearer", separator: " ", trailing: "" },
            content_type: content_type.or(Some("application/json".into())),
            headers: vec![],
            body,
            chunked,
            http10: false,
        };
        run(f, &render(f, &case))?;
    }

    /// The calls that go upstream (unified list, get, create, update, delete; the raw proxy; a
    /// refresh; the log of an account), for the kept accounts, with hostile query parameters
    /// (repeated, bad escapes, huge), cursors (real ones altered, or another account's), headers
    /// and bodies.
    #[test]
    fn upstream_calls_answer_hostile_parameters_with_documented_json(
        call in prop::sample::select(vec![
            ("GET", "/v1/unified/crm/contacts", "account_id={bearer}"),
            ("GET", "/v1/unified/crm/contacts", "account_id={oauth}"),
            ("GET", "/v1/unified/crm/contacts", "account_id={apikey}"),
            ("GET", "/v1/unified/merge_crm/contacts", "account_id={bearer}"),
            ("GET", "/v1/unified/crm/contacts/51", "account_id={bearer}"),
            ("GET", "/v1/unified/crm/contacts/7", "account_id={oauth}"),
            ("GET", "/v1/unified/crm/contacts/3", "account_id={apikey}"),
            ("POST", "/v1/unified/crm/contacts", "account_id={bearer}"),
            ("PATCH", "/v1/unified/crm/contacts/51", "account_id={bearer}"),
            ("DELETE", "/v1/unified/crm/contacts/51", "account_id={bearer}"),
            ("GET", "/v1/proxy/{oauth}/orgs/acme/members", ""),
            ("GET", "/v1/proxy/{apikey}/persons/3", ""),
            ("POST", "/v1/proxy/{bearer}/crm/v3/objects/contacts", ""),
            ("GET", "/v1/proxy/{bearer}/crm/v3/objects/contacts", ""),
            ("POST", "/v1/accounts/{oauth}/refresh", ""),
            ("GET", "/v1/logs", "account_id={oauth}"),
        ]),
        tail in prop::option::weighted(0.2, path_piece()),
        query in query(),
        cursor in prop::option::weighted(0.3, prop::sample::select(vec!["as_is", "flip", "cut", "append", "other_account", "encoded", "twice"])),
        headers in extra_headers(),
        content_type in content_type(),
        body in body(),
    ) {
        let f = fixture();
        let (method, path, usual) = call;
        let mut usual = substitute(f, usual);
        if let Some(edit) = cursor {
            let (status, page) = call_api(f, "GET", &substitute(f, "/v1/unified/crm/contacts?account_id={bearer}&page_size=2"));
            prop_assert_eq!(status, 200, "{}", page);
            let real = page["next_cursor"].as_str().unwrap_or_default().to_string();
            let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let altered = match edit {
                "flip" => {
                    let mut chars: Vec<char> = real.chars().collect();
                    let i = chars.len() / 3;
                    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
                    encode(&chars.into_iter().collect::<String>())
                }
                "cut" => encode(&real[..real.len() / 2]),
                "append" => format!("{}%00", encode(&real)),
                "encoded" => encode(&encode(&real)),
                "twice" => format!("{}&cursor=junk", encode(&real)),
                _ => encode(&real),
            };
            if edit == "other_account" {
                usual = usual.replace(&substitute(f, "{bearer}"), &substitute(f, "{scratch}"));
            }
            usual = format!("{usual}&cursor={altered}");
        }
        let mut path = path.to_string();
        if let Some(tail) = tail {
            path.push_str(&tail);
        }
        let case = Case {
            method: method.to_string(),
            path,
            usual_query: "",
            edits: vec![],
            query: Some([usual, query.unwrap_or_default()].join("&")),
            auth: Auth::Key { scheme: "Bearer", separator: " ", trailing: "" },
            content_type,
            headers,
            body,
            chunked: None,
            http10: false,
        };
        run(f, &render(f, &case))?;
    }

    /// NDJSON (and JSON array) imports mixing valid rows, bad JSON, lines that are not UTF-8,
    /// blank lines, rows that are not objects and long lines: a bad line fails only its row.
    #[test]
    fn imports_report_every_row_with_documented_codes(
        lines in prop::collection::vec(line(), 1..12),
        crlf in any::<bool>(),
        shape in prop::sample::select(vec!["ndjson", "ndjson-untyped", "array", "array-as-ndjson"]),
        verify in prop::sample::select(vec!["", "?verify=false", "?verify=true", "?verify=maybe"]),
    ) {
        let f = fixture();
        let separator: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let (body, content_type, ndjson) = match shape {
            "array" | "array-as-ndjson" => {
                let mut body = b"[".to_vec();
                for (i, line) in lines.iter().enumerate() {
                    if i > 0 {
                        body.push(b',');
                    }
                    body.extend(row_json(line));
                }
                body.push(b']');
                (body, if shape == "array" { Some("application/json") } else { Some("application/x-ndjson") }, shape == "array-as-ndjson")
            }
            _ => (lines.iter().map(row_json).collect::<Vec<_>>().join(separator), (shape == "ndjson").then_some("application/x-ndjson"), shape == "ndjson"),
        };
        let case = Case {
            method: "POST".into(),
            path: "/v1/accounts/import".into(),
            usual_query: "",
            edits: vec![],
            query: verify.strip_prefix('?').map(str::to_string),
            auth: Auth::Key { scheme: "Bearer", separator: " ", trailing: "" },
            content_type: content_type.map(str::to_string),
            headers: vec![],
            body,
            chunked: None,
            http10: false,
        };
        // NDJSON when the content type says so, or when the body does not start as an array.
        let ndjson = ndjson || case.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[');
        let answer = run(f, &render(f, &case))?;
        check_import(f, &case.body, ndjson, &answer)?;
    }

    /// The connect flow: authorize with hostile parameters, then the callback with the state it
    /// issued (as is, altered, cut, or another), codes that work and codes that do not, and the
    /// provider's errors.
    #[test]
    fn connect_flow_answers_hostile_parameters_with_documented_json(
        external_id in prop_oneof![Just("fuzz-oauth".to_string()), "con-[a-c]{1,2}", Just(String::new())],
        return_to in prop::option::of(query_value()),
        org in prop::option::of(query_value()),
        accept_json in any::<bool>(),
        state_edit in prop::sample::select(vec!["as_is", "flip", "cut", "append", "junk", "missing", "twice"]),
        code in prop::sample::select(vec!["ok-code-0001", "bad-code", "", "%zz", "ok%00"]),
        error in prop::option::weighted(0.2, prop::sample::select(vec!["access_denied", "server_error", "%c0%ae"])),
    ) {
        let f = fixture();
        let mut query = vec![];
        if !external_id.is_empty() {
            query.push(format!("external_id={external_id}"));
        }
        if let Some(return_to) = &return_to {
            query.push(format!("return_to={return_to}"));
        }
        if let Some(org) = &org {
            query.push(format!("connection.org={org}"));
        } else {
            query.push("connection.org=acme".to_string());
        }
        let accept = if accept_json { "Accept: application/json\r\n" } else { "" };
        let request = format!(
            "GET /v1/connect/epoch_reset_limits/authorize?{} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n{accept}Connection: close\r\n\r\n",
            substitute(f, &query.join("&")), f.addr, f.key
        );
        let answer = run(f, request.as_bytes())?;
        let location = if accept_json {
            serde_json::from_slice::<Value>(&answer.body).ok().and_then(|b| b["authorize_url"].as_str().map(str::to_string))
        } else {
            answer.header("location").map(str::to_string)
        };
        let state = location
            .and_then(|l| url::Url::parse(&l).ok())
            .and_then(|u| u.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()));
        let Some(state) = state else { return Ok(()) };
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let state_param = match state_edit {
            "as_is" => format!("state={}", encode(&state)),
            "flip" => {
                let mut chars: Vec<char> = state.chars().collect();
                let i = chars.len() / 2;
                chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
                format!("state={}", encode(&chars.into_iter().collect::<String>()))
            }
            "cut" => format!("state={}", encode(&state[..state.len() / 2])),
            "append" => format!("state={}x", encode(&state)),
            "junk" => "state=%c0%ae".to_string(),
            "twice" => format!("state=junk&state={}", encode(&state)),
            _ => String::new(),
        };
        let mut query = vec![state_param, format!("code={code}")];
        if let Some(error) = error {
            query.push(format!("error={error}&error_description=denied"));
        }
        let request = format!("GET /v1/connect/callback?{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", query.join("&"), f.addr);
        run(f, request.as_bytes())?;
    }
}

/// What the HTTP parser refuses (bytes a target or header may not hold, lying framing, heads
/// too large, not HTTP at all): the server survives it, and an answer, if any, is a refusal (a
/// JSON one is the documented JSON). Prints how each kind was answered (`--nocapture`).
#[test]
fn malformed_http_never_takes_the_server_down() {
    let f = fixture();
    let refusals: Mutex<BTreeMap<String, usize>> = Mutex::default();
    let strategy = (
        malformed(),
        prop::sample::select(vec!["/v1/accounts", "/v1/accounts/import", "/v1/proxy/{bearer}/crm/v3/objects/contacts", "/healthz"]),
    );
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(&strategy, |(m, base)| {
        let (request, half_close) = render_malformed(f, &m, &substitute(f, base));
        let outcome = exchange(&f.addr, &request, half_close, Duration::from_secs(20));
        let kind = format!("{m:?}").split(['(', ' ']).next().unwrap_or_default().to_string();
        let seen = match &outcome {
            Outcome::Answer(answer) => {
                if let Some((secret, form)) = f.secrets.find(&answer.raw) {
                    return Err(TestCaseError::fail(format!("the answer holds secret `{secret}` as `{form}`")));
                }
                let json = answer.header("content-type").is_some_and(|t| t.starts_with("application/json"));
                if answer.status >= 400 && json {
                    fuzz::check_error_body(answer.status, &answer.body, &f.codes, &exempt()).map_err(|e| {
                        TestCaseError::fail(format!("{e}\nrequest: {}\nanswer: {}", shown(&request, 500), shown(&answer.raw, 2000)))
                    })?;
                }
                format!(
                    "{} {}",
                    answer.status,
                    if json {
                        "json"
                    } else if answer.body.is_empty() {
                        "empty"
                    } else {
                        "text"
                    }
                )
            }
            Outcome::Closed { .. } => "closed".to_string(),
            Outcome::TimedOut { .. } => {
                return Err(TestCaseError::fail(format!("no answer and no close within 20 s: {}", shown(&request, 500))));
            }
        };
        *refusals.lock().unwrap().entry(format!("{kind}: {seen}")).or_default() += 1;
        check_health(f)
    });
    eprintln!("malformed requests, by kind and answer:");
    for (seen, n) in refusals.lock().unwrap().iter() {
        eprintln!("  {seen}: {n}");
    }
    if let Err(error) = result {
        panic!("{error}");
    }
}

#[test]
fn documented_codes_are_read_from_the_docs() {
    let codes = fuzz::documented_codes();
    eprintln!("documented codes: {codes:?}");
    for (code, status) in [
        ("invalid_request", 400),
        ("unauthorized", 401),
        ("not_found", 404),
        ("payload_too_large", 413),
        ("upstream_timeout", 504),
        // Documented where it happens (the unified API's cursors), not in the Errors list.
        ("pagination_failed", 400),
    ] {
        assert_eq!(codes.get(code), Some(&status), "{code}: {codes:?}");
    }
}

// --- bugs the fuzz found, minimised (ignored until fixed; `cargo test --test fuzz_server -- --ignored`) ---

/// The OAuth callback with a valid state and the provider's `error=access_denied` answers 400
/// `authorization_denied`, a documented code, with the `upstream` docs/server.md documents for it
/// (`{error, error_description}`). Found by the fuzz when the code was not documented.
#[test]
fn the_callback_answers_a_denial_with_a_documented_code() {
    let f = fixture();
    let request = format!(
        "GET /v1/connect/epoch_reset_limits/authorize?external_id=fuzz-denied&connection.org=acme HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        f.addr, f.key
    );
    let Outcome::Answer(answer) = exchange(&f.addr, request.as_bytes(), false, Duration::from_secs(30)) else { panic!("no answer") };
    let url: Value = serde_json::from_slice(&answer.body).unwrap();
    let url = url::Url::parse(url["authorize_url"].as_str().unwrap()).unwrap();
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    let request = format!(
        "GET /v1/connect/callback?state={state}&error=access_denied&error_description=denied HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        f.addr
    );
    let Outcome::Answer(answer) = exchange(&f.addr, request.as_bytes(), false, Duration::from_secs(30)) else { panic!("no answer") };
    let code = fuzz::check_error_body(answer.status, &answer.body, &fuzz::documented_codes(), UPSTREAM_EXEMPT)
        .unwrap_or_else(|e| panic!("{e}: {}", answer.text()));
    assert_eq!(code, "authorization_denied");
}

/// Requests the HTTP parser refuses before the router sees them are answered by it with an empty
/// body, not the documented JSON: a request target over 64 KiB (414), more than 100 headers
/// (431), a NUL byte in the target or in a header value (400). A client with a long query string
/// or many proxy headers meets the first two.
#[test]
#[ignore = "bug: the HTTP parser's own refusals (414, 431, 400) have an empty body, not the documented JSON"]
fn the_http_parsers_refusals_are_documented_json() {
    let f = fixture();
    let head = |target: &[u8], headers: &str| {
        let mut out = b"GET ".to_vec();
        out.extend_from_slice(target);
        out.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n{headers}Connection: close\r\n\r\n", f.addr, f.key).as_bytes(),
        );
        out
    };
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases = [
        head(format!("/v1/accounts?external_id={}", "a".repeat(70_000)).as_bytes(), ""),
        head(b"/v1/accounts", &many),
        head(b"/v1/acc\x00ounts", ""),
        head(b"/v1/accounts", "X-Bad: a\x00b\r\n"),
    ];
    let mut wrong = vec![];
    for request in &cases {
        match exchange(&f.addr, request, false, Duration::from_secs(30)) {
            Outcome::Answer(answer) => {
                if let Err(e) = fuzz::check_error_body(answer.status, &answer.body, &f.codes, &[]) {
                    wrong.push(format!("{} -> {e}: {}", shown(request, 120), shown(&answer.raw, 300)));
                }
            }
            other => wrong.push(format!("{} -> {other:?}", shown(request, 120))),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A request whose body the route never reads (a GET with a body, a request refused before its
/// body is read) is answered, then the connection is closed with the body unread: the kernel
/// resets it, and the client loses the end of the answer (here a page of the log). RFC 9112 §9.6:
/// a server closing a connection should first stop writing and read on a while ("lingering
/// close"), so the reset cannot destroy the answer.
#[test]
#[ignore = "bug: an answer is cut by a TCP reset when the server closes a connection with an unread request body"]
fn an_unread_request_body_does_not_cut_the_answer() {
    let f = fixture();
    // Enough entries for a page of a few hundred KB.
    let id = f.ids.lock().unwrap()["bearer"].clone();
    for _ in 0..300 {
        call(f, "GET", &format!("/v1/unified/crm/contacts?account_id={id}"), &f.key, None);
    }
    let body = "x".repeat(2_000_000);
    let request = format!(
        "GET /v1/logs?limit=500 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        f.addr,
        f.key,
        body.len()
    );
    let mut cut = 0;
    for _ in 0..20 {
        match exchange(&f.addr, request.as_bytes(), false, Duration::from_secs(30)) {
            Outcome::Answer(answer) => assert_eq!(answer.status, 200, "{}", shown(&answer.raw, 300)),
            Outcome::Closed { raw, write_error } => {
                eprintln!("cut after {} bytes: {}… (writing: {write_error:?})", raw.len(), shown(&raw, 200));
                cut += 1;
            }
            Outcome::TimedOut { raw } => panic!("no answer: {}", shown(&raw, 300)),
        }
    }
    assert_eq!(cut, 0, "{cut} of 20 answers were cut");
}
