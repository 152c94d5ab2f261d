//! Several `switchyard serve` processes ("nodes") on one database, against a provider that rotates
//! single-use refresh tokens (the test integration `epoch_reset_limits`, GitHub-like): what the
//! multi-process tests share.

use super::database::TestDatabase;
use super::process::{ServeProcess, BIN};
use super::{Mock, Reply};
use serde_json::json;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn access(generation: usize) -> String {
    format!("ghu_proc{generation:04}aaaaaaaaaaaaaaaaaaaaaaaaaaaa")
}

pub fn refresh(generation: usize) -> String {
    format!("ghr_proc{generation:04}bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
}

/// What the rotating provider has seen and issued, and the faults a test asks of it.
#[derive(Default)]
pub struct Rotation {
    /// Tokens issued so far: `access(generation)` and `refresh(generation)` are current.
    pub generation: usize,
    /// Every refresh token sent to the token endpoint, in order.
    pub sent: Vec<String>,
    /// Refresh tokens refused because they were not the current one (retired or unknown).
    pub refused: Vec<String>,
    /// Hold the next token request until `released`, then answer 503 without rotating: for the
    /// provider, a request that never arrived (its sender is killed meanwhile).
    pub hold_next_token_request: bool,
    pub token_request_held: bool,
    pub released: bool,
    /// Hold the first API request made with this access token for 3 s (its sender is killed
    /// meanwhile); `api_request_held` says it arrived.
    pub hold_api_with: Option<String>,
    pub api_request_held: bool,
}

/// A provider that answers a token request after `delay` with the next generation of tokens, if
/// the refresh token sent is the current one (each is single use), and otherwise with GitHub's
/// `bad_refresh_token`; its API answers only the current access token, with the organisation's
/// members in two pages (`Link` pagination, as GitHub).
pub struct RotatingProvider {
    pub mock: Mock,
    pub rotation: Arc<Mutex<Rotation>>,
}

impl RotatingProvider {
    pub async fn start(delay: Duration) -> RotatingProvider {
        let rotation = Arc::new(Mutex::new(Rotation::default()));
        let provider = rotation.clone();
        let mock = Mock::start(move |request, _| {
            if request.path == "/login/oauth/access_token" {
                std::thread::sleep(delay);
                let form = request.form();
                let mut rotation = provider.lock().unwrap();
                // A consent's code: a new grant (the tokens of the next generation).
                if form.iter().any(|(k, v)| k == "grant_type" && v == "authorization_code") {
                    rotation.generation += 1;
                    let generation = rotation.generation;
                    return Reply::json(
                        200,
                        json!({ "access_token": access(generation), "expires_in": 28800, "refresh_token": refresh(generation), "token_type": "bearer" }),
                    );
                }
                let sent = form.into_iter().find(|(k, _)| k == "refresh_token").map(|(_, v)| v).unwrap_or_default();
                rotation.sent.push(sent.clone());
                if std::mem::take(&mut rotation.hold_next_token_request) {
                    rotation.token_request_held = true;
                    while !rotation.released {
                        drop(rotation);
                        std::thread::sleep(Duration::from_millis(10));
                        rotation = provider.lock().unwrap();
                    }
                    return Reply::json(503, json!({ "message": "Service Unavailable" }));
                }
                if sent != refresh(rotation.generation) {
                    rotation.refused.push(sent);
                    return Reply::json(
                        200,
                        json!({ "error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired." }),
                    );
                }
                rotation.generation += 1;
                let generation = rotation.generation;
                return Reply::json(
                    200,
                    json!({ "access_token": access(generation), "expires_in": 28800, "refresh_token": refresh(generation), "token_type": "bearer" }),
                );
            }
            let presented = request.header("authorization").unwrap_or_default().trim_start_matches("Bearer ").to_string();
            let mut rotation = provider.lock().unwrap();
            if presented != access(rotation.generation) {
                return Reply::json(401, json!({ "message": "Bad credentials", "status": "401" }));
            }
            if rotation.hold_api_with.as_deref() == Some(presented.as_str()) {
                rotation.hold_api_with = None;
                rotation.api_request_held = true;
                drop(rotation);
                std::thread::sleep(Duration::from_secs(3));
            }
            if request.query("page") == Some("2") {
                return Reply::json(200, json!([{ "login": "hubot", "id": 2, "type": "Bot" }]));
            }
            let next = format!("<{}{}?role=all&per_page=1&page=2>; rel=\"next\"", request.origin(), request.path);
            Reply::json(200, json!([{ "login": "octocat", "id": 1, "type": "User" }])).header("link", &next)
        })
        .await;
        RotatingProvider { mock, rotation }
    }

    pub fn sent(&self) -> Vec<String> {
        self.rotation.lock().unwrap().sent.clone()
    }

    pub fn refused(&self) -> Vec<String> {
        self.rotation.lock().unwrap().refused.clone()
    }

    /// Waits (up to 30 s) until `seen` says so. It blocks the calling thread (the test's own, not a
    /// runtime worker's): while the provider holds a request it blocks a worker, and Tokio's
    /// timers may then not fire until it lets go.
    pub fn wait_for(&self, what: &str, seen: impl Fn(&Rotation) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !seen(&self.rotation.lock().unwrap()) {
            assert!(std::time::Instant::now() < deadline, "the provider never saw {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The test definitions compiled into `dir/registry.json`, an environment created on `db` with
/// `switchyard env create`: its API key.
pub fn prepare(dir: &std::path::Path, db: &TestDatabase) -> String {
    let compiled = Command::new(BIN)
        .args(["compile", "tests/runtime/definitions", "--models", "schemas/models", "--out"])
        .arg(dir.join("registry.json"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));
    let created = super::process::cli(db, &["env", "create", "production"]).expect("env create");
    assert!(created["environment"]["id"].as_str().unwrap().starts_with("env_"));
    created["api_key"].as_str().unwrap().to_string()
}

/// A node serving the compiled test definitions, calling `provider`.
pub fn node(dir: &std::path::Path, db: &TestDatabase, provider: &Mock) -> ServeProcess {
    node_with(dir, db, provider, &[])
}

/// [`node`] with more arguments for `switchyard serve`.
pub fn node_with(dir: &std::path::Path, db: &TestDatabase, provider: &Mock, more: &[&str]) -> ServeProcess {
    let mut args = vec![
        "--registry".to_string(),
        dir.join("registry.json").display().to_string(),
        "--upstream".to_string(),
        format!("epoch_reset_limits={}", provider.url),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    ServeProcess::start(db, &args)
}

/// The install and an account whose access token expired 30 s ago: its id.
pub async fn expired_account(node: &ServeProcess, key: &str) -> String {
    node.call(
        key,
        reqwest::Method::PUT,
        "/v1/installs/epoch_reset_limits",
        Some(json!({ "oauth_client": { "client_id": "Iv1.8a61f9b3a7aba766", "client_secret": "app-secret" } })),
    )
    .await
    .expect(200);
    let expired = (chrono::Utc::now() - chrono::Duration::seconds(30)).to_rfc3339();
    let account = node
        .call(
            key,
            reqwest::Method::POST,
            "/v1/accounts",
            Some(json!({ "integration": "epoch_reset_limits", "connection": { "org": "acme" }, "credentials": { "access_token": access(0), "refresh_token": refresh(0), "expires_at": expired }, "verify": false })),
        )
        .await
        .expect(201);
    account.body["id"].as_str().unwrap().to_string()
}

/// `per_node` concurrent unified list requests on each node at once: every answer.
pub async fn concurrent_lists(nodes: &[&ServeProcess], key: &str, id: &str, per_node: usize) -> Vec<super::server::Answer> {
    let calls = (0..per_node * nodes.len()).map(|i| {
        let node = nodes[i % nodes.len()];
        async move { node.call(key, reqwest::Method::GET, &format!("/v1/unified/crm/contacts?account_id={id}"), None).await }
    });
    futures_util::future::join_all(calls).await
}
