//! Two `switchyard serve` processes on one SQLite file: 50 concurrent requests on an expired
//! account, split between them, make exactly one token request; a rotated refresh token stored
//! by one process is the one the other sends next. Also covers `switchyard env create`,
//! `--registry`, `--upstream` and a graceful stop on SIGTERM.

mod support;

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use support::server::{answer, client, test_key_env, Answer};
use support::{Mock, Reply};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

struct Process {
    child: Child,
    url: String,
}

impl Process {
    fn start(dir: &Path, mock: &Mock) -> Process {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(dir.join("switchyard.db"))
            .arg("--registry")
            .arg(dir.join("registry.json"))
            .args(["--upstream", &format!("epoch_reset_limits={}", mock.url)])
            .env("SWITCHYARD_SECRET_KEY", test_key_env())
            .env("SWITCHYARD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line: {line:?}")).to_string();
        Process { child, url }
    }

    async fn call(&self, key: &str, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> Answer {
        let mut request = client().request(method, format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        answer(request.send().await.unwrap()).await
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    /// A failing test must not leave servers behind (they hold the test's stderr open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn access(generation: usize) -> String {
    format!("ghu_proc{generation:04}aaaaaaaaaaaaaaaaaaaaaaaaaaaa")
}

fn refresh(generation: usize) -> String {
    format!("ghr_proc{generation:04}bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_one_database_and_refresh_once() {
    // The imitated provider rotates single-use refresh tokens (tests/runtime/definitions/epoch_reset_limits).
    let state = Arc::new(Mutex::new((0usize, Vec::<String>::new())));
    let provider = state.clone();
    let mock = Mock::start(move |request, _| {
        if request.path == "/login/oauth/access_token" {
            std::thread::sleep(std::time::Duration::from_millis(400));
            let sent = request.form().into_iter().find(|(k, _)| k == "refresh_token").map(|(_, v)| v).unwrap_or_default();
            let mut state = provider.lock().unwrap();
            state.1.push(sent.clone());
            if sent != refresh(state.0) {
                return Reply::json(
                    200,
                    json!({ "error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired." }),
                );
            }
            state.0 += 1;
            return Reply::json(
                200,
                json!({ "access_token": access(state.0), "expires_in": 28800, "refresh_token": refresh(state.0), "token_type": "bearer" }),
            );
        }
        let generation = provider.lock().unwrap().0;
        if request.header("authorization") != Some(format!("Bearer {}", access(generation)).as_str()) {
            return Reply::json(401, json!({ "message": "Bad credentials", "status": "401" }));
        }
        Reply::json(200, json!([{ "login": "octocat", "id": 1, "type": "User" }]))
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let compiled = Command::new(BIN)
        .args(["compile", "tests/runtime/definitions", "--models", "schemas/models", "--out"])
        .arg(dir.path().join("registry.json"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{}", String::from_utf8_lossy(&compiled.stderr));
    let created = Command::new(BIN).args(["env", "create", "production", "--db"]).arg(dir.path().join("switchyard.db")).output().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).expect("env create prints JSON");
    let key = created["api_key"].as_str().unwrap().to_string();
    assert!(created["environment"]["id"].as_str().unwrap().starts_with("env_"));

    let a = Process::start(dir.path(), &mock);
    let b = Process::start(dir.path(), &mock);
    a.call(
        &key,
        reqwest::Method::PUT,
        "/v1/installs/epoch_reset_limits",
        Some(json!({ "oauth_client": { "client_id": "Iv1.8a61f9b3a7aba766", "client_secret": "app-secret" } })),
    )
    .await
    .expect(200);
    let expired = (chrono::Utc::now() - chrono::Duration::seconds(30)).to_rfc3339();
    let account = a
        .call(
            &key,
            reqwest::Method::POST,
            "/v1/accounts",
            Some(json!({ "integration": "epoch_reset_limits", "connection": { "org": "acme" }, "credentials": { "access_token": access(0), "refresh_token": refresh(0), "expires_at": expired }, "verify": false })),
        )
        .await
        .expect(201);
    let id = account.body["id"].as_str().unwrap().to_string();

    let calls = (0..50).map(|i| {
        let (server, key, id) = (if i % 2 == 0 { &a } else { &b }, key.clone(), id.clone());
        async move { server.call(&key, reqwest::Method::GET, &format!("/v1/unified/crm/contacts?account_id={id}"), None).await }
    });
    let answers = futures_util::future::join_all(calls).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    assert_eq!(state.lock().unwrap().1, vec![refresh(0)], "exactly one token request across two processes");

    // B rotates the token; A then sends the rotated one, never the first.
    b.call(&key, reqwest::Method::POST, &format!("/v1/accounts/{id}/refresh"), None).await.expect(200);
    a.call(&key, reqwest::Method::POST, &format!("/v1/accounts/{id}/refresh"), None).await.expect(200);
    a.call(&key, reqwest::Method::GET, &format!("/v1/unified/crm/contacts?account_id={id}"), None).await.expect(200);
    assert_eq!(state.lock().unwrap().1, vec![refresh(0), refresh(1), refresh(2)]);

    assert!(a.stop().success(), "a graceful stop exits 0");
    assert!(b.stop().success());
}
