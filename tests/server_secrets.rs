//! No secret leaks through a provider's words (issue 13, items 2 and 3).
//!
//! A hostile mock provider repeats the secrets it was sent: an API key in a 401 message (as
//! some payment APIs do: `Invalid API Key provided: sk_live_…`), a refresh token in an
//! `invalid_grant` description, a new refresh token in a token response that is otherwise
//! unusable, and a key JSON-escaped and percent-encoded inside a page over 64 KiB. Each secret is
//! then searched for, in every form it could travel in (as is, JSON-escaped, percent-encoded in
//! upper and lower hex, form-encoded, base64 standard and url-safe), in everything the server
//! answers, stores or logs: the API's error answers, the account (`status_reason`,
//! `refresh.last_error`), the exchange log, the SQLite files (main, `-wal`, `-shm`) and the
//! tracing output.
//!
//! The mocks imitate definitions of tests/runtime/definitions: `api_key_header` (an API token
//! in a header) and `epoch_reset_limits` (expiring OAuth tokens, rotated refresh tokens).

#[path = "support/fuzz.rs"]
#[allow(dead_code)]
mod fuzz;
mod support;

use base64::Engine as _;
use fuzz::{capture_tracing, forms, lower_hex, Captured, COMPONENT, URI_COMPONENT};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use support::server::{Answer, TestServer};
use support::{registry, Mock, Recorded, Reply};

// --- what the server writes to its tracing output, captured for the whole test binary ---

/// Every event of the server, at every level, as the binary's would print it.
fn tracing_output() -> &'static Captured {
    capture_tracing("info,switchyard=trace,switchyard_server=trace,switchyard_runtime=trace,switchyard_store=trace")
}

fn captured_text() -> String {
    String::from_utf8_lossy(&tracing_output().0.lock().unwrap()).into_owned()
}

// --- every form a secret travels in (`fuzz::forms`, shared with the fuzz targets) ---

/// Fails when any form of `secret` is in `text`.
fn assert_absent(secret: &str, place: &str, text: &str) {
    for form in forms(secret) {
        assert!(!text.contains(&form), "{place} holds the secret as `{form}`:\n{text}");
    }
}

/// Searches everything the database holds (SQLite: its files, WAL included, as bytes; Postgres:
/// every row) for every form of each secret.
fn assert_not_in_database(db: &support::database::TestDatabase, secrets: &[&str]) {
    let forms: Vec<String> = secrets.iter().flat_map(|secret| forms(secret)).collect();
    db.assert_holds_none(&forms);
}

/// Everything the server shows of an environment: its accounts and its whole exchange log.
async fn everything_shown(server: &TestServer, key: &str) -> (Answer, Answer) {
    let accounts = server.get(key, "/v1/accounts").await.expect(200);
    let logs = server.get(key, "/v1/logs?limit=500").await.expect(200);
    (accounts, logs)
}

// --- (a) an API key repeated in a 401 message ---

/// A live-looking key with every character URL and JSON encodings treat specially.
const API_KEY: &str = "sk_live_51HqLyjWDarjtT1zdp7dc/Ab+Cd=Ef!~Gh";

/// Answers every request 401, repeating the key it was sent: in the message as is, JSON-escaped,
/// percent-encoded in both cases, form-encoded, and inside a Basic credential.
fn key_repeating_provider(request: &Recorded, _: usize) -> Reply {
    let sent = request.header("x-api-token").unwrap_or_default().to_string();
    if request.path.ends_with("/forbidden") {
        // A refusal the raw proxy passes through: the key in the body and in a header.
        return Reply::json(403, json!({ "error": format!("key {sent} may not do this") })).header("x-echo", &sent);
    }
    let percent = utf8_percent_encode(&sent, NON_ALPHANUMERIC).to_string();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{sent}"));
    let body = format!(
        r#"{{"success":false,"error":"Invalid API Key provided: {sent}","errorCode":401,"sent_escaped":"{}","sent_encoded":"{percent} {}","sent_form":"{}","authorization":"Basic {basic}"}}"#,
        sent.replace('/', "\\/"),
        lower_hex(&percent),
        url::form_urlencoded::byte_serialize(sent.as_bytes()).collect::<String>(),
    );
    Reply::raw(401, "application/json", body)
}

fn api_key_account(external_id: &str, verify: bool) -> Value {
    json!({
        "integration": "api_key_header",
        "external_id": external_id,
        "connection": { "company_domain": "acme" },
        "credentials": { "api_key": API_KEY },
        "verify": verify
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_repeated_in_a_401_message_appears_nowhere() {
    tracing_output();
    let mock = Mock::start(key_repeating_provider).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");

    // Verification: the provider refuses the key and repeats it.
    let refused = server.post(&key, "/v1/accounts", &api_key_account("cust-0", true)).await.expect(422);
    assert_eq!(refused.body["error"]["code"], "verification_failed");
    assert!(refused.text.contains("Invalid API Key provided: [REDACTED]"), "the provider's words stay, the key goes: {}", refused.text);
    assert_absent(API_KEY, "the verification error", &refused.text);

    // A unified call: the 401 marks the account needs_reauth with the provider's message.
    let created = server.post(&key, "/v1/accounts", &api_key_account("cust-1", false)).await.expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    let answer = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    assert_eq!(answer.body["error"]["code"], "needs_reauth");
    assert_eq!(answer.body["error"]["upstream"]["status"], 401);
    assert!(answer.body["error"]["upstream"]["body_excerpt"].as_str().unwrap().contains("[REDACTED]"), "{}", answer.text);
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("Invalid API Key provided: [REDACTED]"), "{}", answer.text);
    assert_absent(API_KEY, "the unified error answer", &answer.text);
    let refused_again = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    assert!(refused_again.text.contains("Invalid API Key provided"), "the stored reason is shown: {}", refused_again.text);
    assert_absent(API_KEY, "the needs_reauth refusal", &refused_again.text);

    // The raw proxy: the same 401, through the same boundary.
    let proxied = server.post(&key, "/v1/accounts", &api_key_account("cust-2", false)).await.expect(201);
    let proxied_id = proxied.body["id"].as_str().unwrap().to_string();
    let answer = server.get(&key, &format!("/v1/proxy/{proxied_id}/forbidden")).await;
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert_eq!(answer.body["error"], "key [REDACTED] may not do this", "the provider's error answer, redacted");
    assert_eq!(answer.header("x-echo"), Some("[REDACTED]"));
    assert_absent(API_KEY, "the proxy's passthrough of an error", &format!("{:?} {}", answer.headers, answer.text));
    let answer = server.get(&key, &format!("/v1/proxy/{proxied_id}/persons")).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_absent(API_KEY, "the proxy's answer", &answer.text);

    let (accounts, logs) = everything_shown(&server, &key).await;
    let account = accounts.body["results"].as_array().unwrap().iter().find(|a| a["id"] == id.as_str()).unwrap().clone();
    assert_eq!(account["status"], "needs_reauth");
    assert!(account["status_reason"].as_str().unwrap().contains("Invalid API Key provided: [REDACTED]"), "{account}");
    assert_absent(API_KEY, "GET /v1/accounts", &accounts.text);
    assert!(logs.body["results"].as_array().unwrap().iter().any(|e| e["status"] == 401), "the 401s are logged");
    assert_absent(API_KEY, "GET /v1/logs", &logs.text);

    let db = server.db.clone();
    let _dir = server.stop().await;
    assert_not_in_database(&db, &[API_KEY]);
    assert_absent(API_KEY, "the tracing output", &captured_text());
}

// --- (b) and (c): a refresh that fails, repeating the tokens ---

const CLIENT_SECRET: &str = "app-secret-9f8e7d6c5b4a/+=";

fn access(n: usize) -> String {
    format!("ghu_access{n:02}_Xq7/Lp+Wz=Rt!Ks~Mv")
}

fn refresh(n: usize) -> String {
    format!("ghr_refresh{n:02}_B4a2/e7+78=3834!7a~7E420ce178F2E7c6912E169246c3")
}

/// A token response's new refresh token, in a response without an access token.
const ROTATED: &str = "ghr_rotated_5Yk2/Qm+Np=Ds!Fe~Hj0123456789abcdef";

/// How the token endpoint fails.
#[derive(Clone, Copy)]
enum TokenFailure {
    /// 400 `invalid_grant`, its description repeating the refresh token and the client secret.
    InvalidGrant,
    /// 200 with a new refresh token but no access token.
    NoAccessToken,
    /// The same, padded so the 512-byte body excerpt ends inside the new refresh token.
    NoAccessTokenCutInTheToken,
}

fn failing_token_endpoint(failure: TokenFailure) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    move |request, _| {
        if request.path != "/login/oauth/access_token" {
            return Reply::json(401, json!({ "message": "Bad credentials" }));
        }
        let form = request.form();
        let sent = form.iter().find(|(k, _)| k == "refresh_token").map(|(_, v)| v.clone()).unwrap_or_default();
        let secret = form.iter().find(|(k, _)| k == "client_secret").map(|(_, v)| v.clone()).unwrap_or_default();
        match failure {
            TokenFailure::InvalidGrant => {
                let percent = utf8_percent_encode(&sent, NON_ALPHANUMERIC).to_string();
                let body = format!(
                    r#"{{"error":"invalid_grant","error_description":"The refresh token {sent} (sent as {}, {percent}) is revoked for client secret {secret}"}}"#,
                    sent.replace('/', "\\/")
                );
                Reply::raw(400, "application/json", body)
            }
            TokenFailure::NoAccessToken => Reply::json(200, json!({ "refresh_token": ROTATED, "token_type": "bearer", "scope": "" })),
            TokenFailure::NoAccessTokenCutInTheToken => {
                let head = r#"{"token_type":"bearer","note":""#;
                let middle = r#"","refresh_token":""#;
                // The excerpt keeps 512 bytes: the first 12 of the token among them.
                let pad = "x".repeat(512 - 12 - head.len() - middle.len());
                Reply::raw(200, "application/json", format!(r#"{head}{pad}{middle}{ROTATED}","scope":""}}"#))
            }
        }
    }
}

async fn expired_account(server: &TestServer, key: &str, external_id: &str) -> String {
    server.install(key, "epoch_reset_limits", "Iv1.8a61f9b3a7aba766", CLIENT_SECRET).await;
    let expired = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({
        "integration": "epoch_reset_limits",
        "external_id": external_id,
        "connection": { "org": "acme" },
        "credentials": { "access_token": access(0), "refresh_token": refresh(0), "expires_at": expired },
        "verify": false
    });
    server.post(key, "/v1/accounts", &body).await.expect(201).body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_grant_repeating_the_refresh_token_leaks_it_nowhere() {
    tracing_output();
    let mock = Mock::start(failing_token_endpoint(TokenFailure::InvalidGrant)).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let id = expired_account(&server, &key, "legacy-1").await;

    let answer = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    assert_eq!(answer.body["error"]["code"], "needs_reauth");
    assert_eq!(answer.body["error"]["upstream"]["error"]["code"], "invalid_grant");
    assert!(answer.text.contains("The refresh token [REDACTED]"), "the provider's words stay: {}", answer.text);
    let secrets = [refresh(0), access(0), CLIENT_SECRET.to_string()];
    for secret in &secrets {
        assert_absent(secret, "the unified error answer", &answer.text);
    }

    let account = server.get(&key, &format!("/v1/accounts/{id}")).await.expect(200);
    assert_eq!(account.body["status"], "needs_reauth");
    assert!(account.body["status_reason"].as_str().unwrap().contains("invalid_grant"), "{}", account.text);
    assert!(account.body["refresh"]["last_error"].as_str().unwrap().contains("The refresh token [REDACTED]"), "{}", account.text);
    let (accounts, logs) = everything_shown(&server, &key).await;
    assert!(logs.text.contains("/login/oauth/access_token"), "the token request is logged");
    for secret in &secrets {
        assert_absent(secret, "GET /v1/accounts/{id}", &account.text);
        assert_absent(secret, "GET /v1/accounts", &accounts.text);
        assert_absent(secret, "GET /v1/logs", &logs.text);
    }

    let db = server.db.clone();
    let _dir = server.stop().await;
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_not_in_database(&db, &secrets);
    let traced = captured_text();
    assert!(traced.contains("token refresh failed"), "control: the refresher's warning is captured:\n{traced}");
    for secret in &secrets {
        assert_absent(secret, "the tracing output", &traced);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_response_without_an_access_token_keeps_its_new_refresh_token_secret() {
    tracing_output();
    for failure in [TokenFailure::NoAccessToken, TokenFailure::NoAccessTokenCutInTheToken] {
        let mock = Mock::start(failing_token_endpoint(failure)).await;
        let server = TestServer::start(registry(), &mock).await;
        let key = server.environment("production");
        let id = expired_account(&server, &key, "legacy-2").await;

        let answer = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await;
        assert_eq!(answer.status, 502, "{}", answer.text);
        assert!(answer.text.contains("has no `access_token`"), "{}", answer.text);
        let excerpt = answer.body["error"]["upstream"]["body_excerpt"].as_str().expect("the excerpt is shown").to_string();
        assert!(excerpt.contains("refresh_token") && excerpt.contains("[REDACTED]"), "{excerpt}");
        assert_absent(ROTATED, "the unified error answer", &answer.text);
        // Cut at 512 bytes, the excerpt would end in the token's first 12 characters.
        assert!(!answer.text.contains(&ROTATED[..8]), "the start of the cut token: {}", answer.text);

        let account = server.get(&key, &format!("/v1/accounts/{id}")).await.expect(200);
        assert!(account.body["refresh"]["last_error"].as_str().unwrap().contains("access_token"), "{}", account.text);
        let (accounts, logs) = everything_shown(&server, &key).await;
        for (place, text) in [("GET /v1/accounts/{id}", &account.text), ("GET /v1/accounts", &accounts.text), ("GET /v1/logs", &logs.text)]
        {
            assert_absent(ROTATED, place, text);
            assert_absent(&refresh(0), place, text);
        }
        let db = server.db.clone();
        let _dir = server.stop().await;
        assert_not_in_database(&db, &[ROTATED, &refresh(0), CLIENT_SECRET]);
    }
    let traced = captured_text();
    assert_absent(ROTATED, "the tracing output", &traced);
    assert!(!traced.contains(&ROTATED[..8]), "the start of the cut token in the tracing output");
}

// --- (d) the exchange log: a key JSON-escaped and percent-encoded in a page over 64 KiB ---

const SPECIAL_KEY: &str = "tok-Two.SPECIAL/x+y=z!~";

/// A list page whose first record repeats the key in several encodings, padded past `size`.
fn echoing_page(request: &Recorded, size: usize) -> String {
    let sent = request.header("x-api-token").unwrap_or_default().to_string();
    let escaped = sent.replace('/', "\\/");
    let unicode: String = sent.chars().map(|c| if c == '/' { "\\u002F".to_string() } else { c.to_string() }).collect();
    let percent = utf8_percent_encode(&sent, COMPONENT).to_string();
    let note = format!(
        "json {escaped} unicode {unicode} percent {percent} lower {} encodeURIComponent {} all {} form {} base64 {}",
        lower_hex(&percent),
        utf8_percent_encode(&sent, URI_COMPONENT),
        utf8_percent_encode(&sent, NON_ALPHANUMERIC),
        url::form_urlencoded::byte_serialize(sent.as_bytes()).collect::<String>(),
        base64::engine::general_purpose::STANDARD.encode(format!("user:{sent}")),
    );
    let mut records = vec![format!(
        r#"{{"id":1,"first_name":"Ada","last_name":"Echo","note":"{note}","add_time":"2024-01-02 03:04:05","update_time":"2024-01-02 03:04:05"}}"#
    )];
    let mut length = records[0].len();
    let mut n = 2;
    while length < size {
        let record = format!(
            r#"{{"id":{n},"first_name":"Pad","last_name":"{}","add_time":"2024-01-02 03:04:05","update_time":"2024-01-02 03:04:05"}}"#,
            "p".repeat(900)
        );
        length += record.len() + 1;
        records.push(record);
        n += 1;
    }
    format!(r#"{{"success":true,"data":[{}],"additional_data":{{"next_cursor":null}}}}"#, records.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_redacts_json_escaped_and_percent_encoded_keys_in_large_bodies() {
    let mock = Mock::start(|request, _| {
        let size = if request.query("updated_since") == Some("large") { 80 * 1024 } else { 4 * 1024 };
        Reply::raw(200, "application/json", echoing_page(request, size))
    })
    .await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let account = json!({
        "integration": "api_key_header",
        "external_id": "cust-special",
        "connection": { "company_domain": "acme" },
        "credentials": { "api_key": SPECIAL_KEY },
        "verify": false
    });
    let id = server.post(&key, "/v1/accounts", &account).await.expect(201).body["id"].as_str().unwrap().to_string();
    for size in ["large", "small"] {
        server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}&updated_since={size}")).await.expect(200);
    }
    let requests = mock.requests();
    let large = requests.iter().find(|r| r.query("updated_since") == Some("large")).unwrap();
    assert!(echoing_page(large, 80 * 1024).len() > 64 * 1024, "control: the page is over 64 KiB");

    let logs = server.get(&key, &format!("/v1/logs?account_id={id}&limit=10")).await.expect(200);
    let entries = logs.body["results"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for size in ["large", "small"] {
        let entry = entries.iter().find(|e| e["url"].as_str().unwrap().contains(size)).unwrap();
        let body = entry["response"]["body"].as_str().unwrap();
        assert!(body.contains("json [REDACTED] unicode [REDACTED] percent [REDACTED] lower [REDACTED]"), "the {size} page: {body:.600}");
    }
    assert_absent(SPECIAL_KEY, "GET /v1/logs", &logs.text);
    let db = server.db.clone();
    let _dir = server.stop().await;
    assert_not_in_database(&db, &[SPECIAL_KEY]);
}
