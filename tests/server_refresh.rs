//! Token refresh in the server: 50 concurrent requests on an expired account make exactly one
//! token request; a rotated refresh token is stored before use and the old one is never sent
//! again; `invalid_grant` and a 401 right after a refresh mark the account `needs_reauth`.
//!
//! The provider is a mock of the epoch-seconds definition (tests/runtime/definitions/
//! epoch_reset_limits: GitHub App user tokens, which expire after 8 hours and whose refresh token
//! is single-use and rotated; a used or unknown one is refused with HTTP 200 and
//! `bad_refresh_token`).

mod support;

use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::server::{Answer, TestServer};
use support::{registry, Mock, Recorded, Reply};

/// The provider's token state: the one refresh token it accepts and the access token it issued.
#[derive(Default)]
struct Tokens {
    generation: usize,
    /// Every refresh token sent to the token endpoint, in order.
    sent: Vec<String>,
    /// Answer the next refresh with `invalid_grant`.
    revoked: bool,
    /// Refuse even fresh access tokens (the app was uninstalled).
    refuse_all: bool,
}

fn access(generation: usize) -> String {
    format!("ghu_access{generation:04}aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
}

fn refresh(generation: usize) -> String {
    format!("ghr_refresh{generation:04}bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
}

fn provider(tokens: Arc<Mutex<Tokens>>, token_delay: Duration) -> impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static {
    move |request, _| {
        if request.path == "/login/oauth/access_token" {
            // Slow enough that every concurrent request is waiting while the refresh is in flight.
            std::thread::sleep(token_delay);
            let form = request.form();
            let sent = form.iter().find(|(k, _)| k == "refresh_token").map(|(_, v)| v.clone()).unwrap_or_default();
            let mut tokens = tokens.lock().unwrap();
            tokens.sent.push(sent.clone());
            if tokens.revoked {
                return Reply::json(400, json!({ "error": "invalid_grant", "error_description": "The refresh token was revoked." }));
            }
            if sent != refresh(tokens.generation) {
                return Reply::json(
                    200,
                    json!({ "error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired.", "error_uri": "https://docs.example.com/apps/troubleshooting" }),
                );
            }
            tokens.generation += 1;
            let g = tokens.generation;
            return Reply::json(
                200,
                json!({ "access_token": access(g), "expires_in": 28800, "refresh_token": refresh(g), "refresh_token_expires_in": 15897600, "scope": "", "token_type": "bearer" }),
            );
        }
        let tokens = tokens.lock().unwrap();
        let expected = format!("Bearer {}", access(tokens.generation));
        if tokens.refuse_all || request.header("authorization") != Some(expected.as_str()) {
            return Reply::json(
                401,
                json!({ "message": "Bad credentials", "documentation_url": "https://docs.example.com/rest", "status": "401" }),
            );
        }
        Reply::json(200, json!([{ "login": "octocat", "id": 1, "type": "User" }, { "login": "hubot", "id": 2, "type": "Bot" }]))
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "4990")
            .header("x-ratelimit-reset", &(chrono::Utc::now().timestamp() + 1800).to_string())
    }
}

async fn expired_account(server: &TestServer, key: &str) -> String {
    server.install(key, "epoch_reset_limits", "Iv1.8a61f9b3a7aba766", "app-secret-0123456789").await;
    let expired = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({
        "integration": "epoch_reset_limits",
        "external_id": "legacy-42",
        "connection": { "org": "acme" },
        "credentials": { "access_token": access(0), "refresh_token": refresh(0), "expires_at": expired },
        "verify": false
    });
    let created = server.post(key, "/v1/accounts", &body).await.expect(201);
    assert_eq!(created.body["expires_at"].as_str().unwrap(), expired, "the exact expiry is kept");
    created.body["id"].as_str().unwrap().to_string()
}

fn token_calls(mock: &Mock) -> Vec<Recorded> {
    mock.requests().into_iter().filter(|r| r.path == "/login/oauth/access_token").collect()
}

async fn concurrent_lists(servers: &[&TestServer], key: &str, id: &str, n: usize) -> Vec<Answer> {
    let calls = (0..n).map(|i| {
        let server = servers[i % servers.len()];
        async move { server.get(key, &format!("/v1/unified/crm/contacts?account_id={id}")).await }
    });
    futures_util::future::join_all(calls).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_on_an_expired_token_refresh_once() {
    let tokens = Arc::new(Mutex::new(Tokens::default()));
    let mock = Mock::start(provider(tokens.clone(), Duration::from_millis(300))).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let id = expired_account(&server, &key).await;

    let answers = concurrent_lists(&[&server], &key, &id, 50).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["results"].as_array().unwrap().len(), 2);
    }
    let calls = token_calls(&mock);
    assert_eq!(calls.len(), 1, "exactly one token request for 50 concurrent calls");
    let form = calls[0].form();
    assert!(form.contains(&("grant_type".into(), "refresh_token".into())));
    assert!(form.contains(&("refresh_token".into(), refresh(0))));
    let api_calls: Vec<Recorded> = mock.requests().into_iter().filter(|r| r.path == "/orgs/acme/members").collect();
    assert_eq!(api_calls.len(), 50);
    assert!(
        api_calls.iter().all(|r| r.header("authorization") == Some(format!("Bearer {}", access(1)).as_str())),
        "every call used the new token"
    );

    let account = server.get(&key, &format!("/v1/accounts/{id}")).await.expect(200);
    assert_eq!(account.body["refresh"]["refresh_count"], 1);
    let expires: chrono::DateTime<chrono::Utc> = account.body["expires_at"].as_str().unwrap().parse().unwrap();
    let in_eight_hours = chrono::Utc::now() + chrono::Duration::seconds(28800);
    assert!((expires - in_eight_hours).num_seconds().abs() < 60, "expiry from the token response: {expires}");

    // A forced refresh sends the rotated token, never the first one again.
    server.post(&key, &format!("/v1/accounts/{id}/refresh"), &json!({})).await.expect(200);
    let answers = concurrent_lists(&[&server], &key, &id, 10).await;
    assert!(answers.iter().all(|a| a.status == 200));
    let sent = tokens.lock().unwrap().sent.clone();
    assert_eq!(sent, vec![refresh(0), refresh(1)]);
    assert_eq!(sent.iter().collect::<HashSet<_>>().len(), sent.len(), "no refresh token was sent twice");

    // The token exchange is in the log, with every token redacted (the new ones included).
    let logs = server.get(&key, &format!("/v1/logs?account_id={id}&limit=500")).await.expect(200);
    assert!(logs.body["results"].as_array().unwrap().iter().any(|e| e["url"].as_str().unwrap().ends_with("/login/oauth/access_token")));
    for generation in 0..=2 {
        assert!(!logs.text.contains(&access(generation)), "access token {generation} in the logs");
        assert!(!logs.text.contains(&refresh(generation)), "refresh token {generation} in the logs");
    }
    assert!(!logs.text.contains("app-secret-0123456789"), "the client secret in the logs");
    let metrics = server.metrics().await.expect(200);
    assert!(
        metrics.text.contains("switchyard_token_refreshes_total{integration=\"epoch_reset_limits\",outcome=\"refreshed\"} 2"),
        "{}",
        metrics.text
    );

    let db = server.db.clone();
    let _dir = server.stop().await;
    let secrets: Vec<String> = (0..=2).flat_map(|g| [access(g), refresh(g)]).chain(["app-secret-0123456789".to_string()]).collect();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    db.assert_holds_none(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_refresh_once() {
    // Two servers in this process share nothing but the SQLite file (each its own connection,
    // single-flight gates and cache), as two processes would; tests/server_processes.rs runs the
    // real binary twice.
    let tokens = Arc::new(Mutex::new(Tokens::default()));
    let mock = Mock::start(provider(tokens.clone(), Duration::from_millis(300))).await;
    let first = TestServer::start(registry(), &mock).await;
    let key = first.environment("production");
    let id = expired_account(&first, &key).await;
    let origins: Vec<(String, String)> = registry().integrations.iter().map(|i| (i.name.clone(), mock.url.clone())).collect();
    let second = TestServer::start_on(first.db.clone(), tempfile::tempdir().unwrap(), registry(), &origins, |_| {}).await;

    let answers = concurrent_lists(&[&first, &second], &key, &id, 50).await;
    assert!(answers.iter().all(|a| a.status == 200), "{:?}", answers.iter().find(|a| a.status != 200));
    assert_eq!(token_calls(&mock).len(), 1, "one token request across both servers");
    // The second server refreshes next; the first then uses what the second stored.
    second.post(&key, &format!("/v1/accounts/{id}/refresh"), &json!({})).await.expect(200);
    first.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(200);
    assert_eq!(tokens.lock().unwrap().sent, vec![refresh(0), refresh(1)]);
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_marks_the_account_and_stops_refreshing() {
    let tokens = Arc::new(Mutex::new(Tokens { revoked: true, ..Tokens::default() }));
    let mock = Mock::start(provider(tokens.clone(), Duration::ZERO)).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let id = expired_account(&server, &key).await;
    let answer = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    assert_eq!(answer.body["error"]["code"], "needs_reauth");
    assert_eq!(answer.body["error"]["upstream"]["error"]["code"], "invalid_grant");
    let account = server.get(&key, &format!("/v1/accounts/{id}")).await.expect(200);
    assert_eq!(account.body["status"], "needs_reauth");
    assert_eq!(account.body["refresh"]["consecutive_failures"], 1);
    for _ in 0..3 {
        server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    }
    assert_eq!(token_calls(&mock).len(), 1, "no refresh loop on a dead refresh token");
    let metrics = server.metrics().await.expect(200);
    assert!(metrics.text.contains("outcome=\"needs_reauth\"} 1"), "{}", metrics.text);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_right_after_a_refresh_needs_reauth() {
    let tokens = Arc::new(Mutex::new(Tokens { refuse_all: true, ..Tokens::default() }));
    let mock = Mock::start(provider(tokens.clone(), Duration::ZERO)).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let id = expired_account(&server, &key).await;
    let answer = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(401);
    assert_eq!(answer.body["error"]["code"], "needs_reauth", "{}", answer.text);
    assert_eq!(server.get(&key, &format!("/v1/accounts/{id}")).await.expect(200).body["status"], "needs_reauth");
    assert_eq!(token_calls(&mock).len(), 1);
    let api_calls = mock.requests().into_iter().filter(|r| r.path == "/orgs/acme/members").count();
    assert_eq!(api_calls, 1, "refreshed once, refused once, then stopped");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_import_is_refreshed_during_verification_and_the_new_tokens_stored() {
    let tokens = Arc::new(Mutex::new(Tokens::default()));
    let mock = Mock::start(provider(tokens.clone(), Duration::ZERO)).await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    server.install(&key, "epoch_reset_limits", "Iv1.x", "s").await;
    let body = json!({
        "integration": "epoch_reset_limits",
        "connection": { "org": "acme" },
        "credentials": { "access_token": access(0), "refresh_token": refresh(0), "expires_in": 0 },
        "verify": true
    });
    let created = server.post(&key, "/v1/accounts", &body).await.expect(201);
    let id = created.body["id"].as_str().unwrap();
    // The submitted refresh token was used up by verification: the stored account must hold the
    // rotated one, or its next refresh would fail.
    server.post(&key, &format!("/v1/accounts/{id}/refresh"), &json!({})).await.expect(200);
    assert_eq!(tokens.lock().unwrap().sent, vec![refresh(0), refresh(1)]);
    let _: Value = server.get(&key, &format!("/v1/unified/crm/contacts?account_id={id}")).await.expect(200).body;
    server.stop().await;
}
