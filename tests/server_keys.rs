//! API key management end to end (issue 13): a second key created, listed (prefix only, never the
//! key or its hash), revoked (refused at once by this server, within a second by a second server
//! process sharing the database), rotated (the new key works, the old one is refused; with an
//! overlap, the old one works until it ends), the last key kept unless forced; the operator CLI
//! (`switchyard keys …`); and `GET /v1/accounts` a page at a time.

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::database::TestDatabase;
use support::process::ServeProcess;
use support::server::{answer, client, test_keyring, Answer, TestServer};
use support::{registry, Mock, Reply};
use switchyard_server::ServerConfig;

/// How long another process may keep serving a revoked key: the contract is 1 s (the key
/// cache's check interval); the margin is for a loaded test machine.
const ELSEWHERE_BOUND: Duration = Duration::from_millis(1500);

async fn mock() -> Mock {
    Mock::start(|_, _| Reply::json(200, json!({}))).await
}

/// `GET /v1/accounts` with `key` on the server at `url`: the status.
async fn status_with(url: &str, key: &str) -> u16 {
    client().get(format!("{url}/v1/accounts?limit=1")).bearer_auth(key).send().await.expect("the server answers").status().as_u16()
}

/// Polls until `key` is refused (401) at `url`: the time from `since` (the revocation) to the
/// refusal's answer. Also checks the contract itself: no request sent a second or more after
/// `since` was accepted.
async fn refused_within(url: &str, key: &str, since: Instant) -> Duration {
    loop {
        let sent = since.elapsed();
        let status = status_with(url, key).await;
        if status == 401 {
            return since.elapsed();
        }
        assert_eq!(status, 200);
        assert!(sent < Duration::from_secs(1), "{url} accepted a request sent {sent:?} after the revocation");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `switchyard keys ARGS --db DB`: the JSON it printed, or its stderr.
fn cli(db: &TestDatabase, args: &[&str]) -> Result<Value, String> {
    let args: Vec<&str> = std::iter::once("keys").chain(args.iter().copied()).collect();
    support::process::cli(db, &args)
}

fn key_of(answer: &Value) -> String {
    answer["key"].as_str().expect("a new key is shown").to_string()
}

/// Neither the key nor its SHA-256 (hex, base64) appears in `text`.
fn assert_hides(text: &str, key: &str) {
    use base64::Engine;
    use sha2::Digest;
    let hash = sha2::Sha256::digest(key.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!text.contains(key), "the key is shown: {text}");
    assert!(!text.contains(&key[3..]), "the key's random part is shown: {text}");
    assert!(!text.to_lowercase().contains(&hex), "the key's hash is shown: {text}");
    for engine in [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE_NO_PAD] {
        assert!(!text.contains(engine.encode(hash).trim_end_matches('=')), "the key's hash is shown: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_key_is_created_listed_revoked_and_rotated() {
    let mock = mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let first = server.environment("production");
    let other = server.environment("staging");

    // --- a second key, shown once ---
    let created = server.post(&first, "/v1/api-keys", &json!({ "name": "billing-service" })).await.expect(201);
    let second = key_of(&created.body);
    assert!(second.starts_with("sy_"));
    assert_eq!(created.body["name"], "billing-service");
    assert_eq!(created.body["prefix"], json!(&second[..11]));
    assert!(created.body["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(created.body["revoked_at"], Value::Null);
    let second_id = created.body["id"].as_str().unwrap().to_string();
    server.get(&second, "/v1/accounts").await.expect(200);
    // A key without a name, from an empty body.
    let unnamed = server.raw(server.request(reqwest::Method::POST, "/v1/api-keys").bearer_auth(&first)).await.expect(201);
    assert_eq!(unnamed.body["name"], Value::Null);
    let unnamed_id = unnamed.body["id"].as_str().unwrap().to_string();

    // --- the list: ids, names, prefixes; never a key or a hash ---
    let listed = server.get(&second, "/v1/api-keys").await.expect(200);
    let results = listed.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{}", listed.text);
    for key in results {
        let fields: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields, ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "active"]);
    }
    assert_eq!(results[1]["id"], json!(second_id));
    assert_eq!(results[1]["prefix"], json!(&second[..11]));
    for key in [&first, &second, &key_of(&unnamed.body)] {
        assert_hides(&listed.text, key);
    }
    // The other environment sees only its own key, and none of these.
    let theirs = server.get(&other, "/v1/api-keys").await.expect(200);
    assert_eq!(theirs.body["results"].as_array().unwrap().len(), 1);
    server.get(&other, &format!("/v1/api-keys/{second_id}")).await.expect(404);
    server.call(&other, "DELETE", &format!("/v1/api-keys/{second_id}"), None).await.expect(404);
    // A key used is seen as used; the key `env create` made learns its prefix from its first use.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let one = server.get(&first, &format!("/v1/api-keys/{second_id}")).await.expect(200);
    assert!(one.body["last_used_at"].is_string(), "{}", one.text);
    let listed = server.get(&first, "/v1/api-keys").await.expect(200);
    assert_eq!(listed.body["results"][0]["prefix"], json!(&first[..11]));
    assert_hides(&listed.text, &first);

    // --- revoke: refused at once (the key was cached by the requests above) ---
    server.get(&second, "/v1/accounts").await.expect(200);
    let revoked = server.call(&first, "DELETE", &format!("/v1/api-keys/{second_id}"), None).await.expect(200);
    assert!(revoked.body["revoked_at"].is_string());
    assert_eq!(revoked.body["active"], false);
    let refused = server.get(&second, "/v1/accounts").await.expect(401);
    assert_eq!(refused.body["error"]["code"], "unauthorized");
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    // Still listed, as revoked.
    let listed = server.get(&first, "/v1/api-keys").await.expect(200);
    assert_eq!(listed.body["results"][1]["active"], false);

    // --- rotate: the new key works, the old one is refused at once ---
    let first_id = listed.body["results"][0]["id"].as_str().unwrap().to_string();
    server.call(&first, "DELETE", &format!("/v1/api-keys/{unnamed_id}"), None).await.expect(200);
    let rotated = server.post(&first, &format!("/v1/api-keys/{first_id}/rotate"), &json!({})).await.expect(201);
    let third = key_of(&rotated.body);
    assert_eq!(rotated.body["replaced"]["id"], json!(first_id));
    assert!(rotated.body["replaced"]["revoked_at"].is_string());
    assert_hides(&rotated.body["replaced"].to_string(), &first);
    server.get(&third, "/v1/accounts").await.expect(200);
    server.get(&first, "/v1/accounts").await.expect(401);
    // A revoked key cannot be rotated.
    server.post(&third, &format!("/v1/api-keys/{first_id}/rotate"), &json!({})).await.expect(409);

    // --- rotate with an overlap: the old key works until it ends ---
    let third_id = rotated.body["id"].as_str().unwrap().to_string();
    let overlapped = server.post(&third, &format!("/v1/api-keys/{third_id}/rotate"), &json!({ "overlap_seconds": 1 })).await.expect(201);
    let fourth = key_of(&overlapped.body);
    assert_eq!(overlapped.body["replaced"]["active"], true);
    server.get(&third, "/v1/accounts").await.expect(200);
    server.get(&fourth, "/v1/accounts").await.expect(200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.get(&third, "/v1/accounts").await.expect(401);
    server.get(&fourth, "/v1/accounts").await.expect(200);

    // --- the last working key is kept unless forced ---
    let fourth_id = overlapped.body["id"].as_str().unwrap().to_string();
    let kept = server.call(&fourth, "DELETE", &format!("/v1/api-keys/{fourth_id}"), None).await.expect(409);
    assert_eq!(kept.body["error"]["code"], "last_api_key");
    server.get(&fourth, "/v1/accounts").await.expect(200);

    // --- bad requests ---
    let bad = server.post(&fourth, &format!("/v1/api-keys/{fourth_id}/rotate"), &json!({ "overlap_seconds": -1 })).await.expect(400);
    assert_eq!(bad.body["error"]["field"], "overlap_seconds");
    server.post(&fourth, &format!("/v1/api-keys/{fourth_id}/rotate"), &json!({ "overlap_seconds": 604801 })).await.expect(400);
    server.post(&fourth, "/v1/api-keys", &json!({ "label": "x" })).await.expect(400);
    server.post(&fourth, "/v1/api-keys", &json!({ "name": 7 })).await.expect(400);
    server.post(&fourth, "/v1/api-keys", &json!({ "name": "" })).await.expect(400);
    server.post(&fourth, "/v1/api-keys", &json!([])).await.expect(400);
    server.post(&fourth, "/v1/api-keys/key_missing/rotate", &json!({})).await.expect(404);
    server.get(&fourth, "/v1/api-keys/key_missing").await.expect(404);

    // Forced, the last key goes, and the environment is locked out.
    server.call(&fourth, "DELETE", &format!("/v1/api-keys/{fourth_id}?force=true"), None).await.expect(200);
    server.get(&fourth, "/v1/api-keys").await.expect(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_by_every_server_sharing_the_database() {
    let mock = mock().await;
    let a = TestServer::start(registry(), &mock).await;
    let admin = a.environment("production");
    // B: a second `switchyard serve` process on the same file, with its own key cache.
    let b = ServeProcess::start(&a.db, &[]);
    // C: a second server in this process on the same file, with its own key cache too.
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), a.db.url());
    config.metrics_listen = None;
    let c = switchyard_server::start(config, registry(), Some(test_keyring())).await.expect("the second server starts");
    let c_url = format!("http://{}", c.addr);
    let servers = [a.url.clone(), b.url.clone(), c_url.clone()];

    let mut measured = Vec::new();
    // 1. Revoked through A's API: A refuses it at once, B and C within a second.
    let created = a.post(&admin, "/v1/api-keys", &json!({ "name": "worker" })).await.expect(201);
    let key = key_of(&created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    for url in &servers {
        assert_eq!(status_with(url, &key).await, 200, "{url} accepts the new key");
    }
    a.call(&admin, "DELETE", &format!("/v1/api-keys/{id}"), None).await.expect(200);
    // Timed from the revocation's answer (it is committed then).
    let revoked_at = Instant::now();
    assert_eq!(status_with(&a.url, &key).await, 401, "the revoking server refuses it at once");
    for url in [&b.url, &c_url] {
        let took = refused_within(url, &key, revoked_at).await;
        assert!(took < ELSEWHERE_BOUND, "{url} served a revoked key for {took:?}");
        measured.push(took);
    }

    // 2. Revoked by the operator CLI (a third process, on the database directly): every server
    //    refuses it within a second.
    let created = cli(&a.db, &["create", "--env", "production"]).unwrap();
    let key = key_of(&created);
    let id = created["id"].as_str().unwrap().to_string();
    for url in &servers {
        assert_eq!(status_with(url, &key).await, 200);
    }
    cli(&a.db, &["revoke", &id, "--env", "production"]).unwrap();
    let revoked_at = Instant::now();
    for url in &servers {
        let took = refused_within(url, &key, revoked_at).await;
        assert!(took < ELSEWHERE_BOUND, "{url} served a key revoked by the CLI for {took:?}");
        measured.push(took);
    }

    // 3. Rotated through B's API: B refuses the old key at once, A and C within a second; the new
    //    key works everywhere.
    let created = a.post(&admin, "/v1/api-keys", &json!({})).await.expect(201);
    let old = key_of(&created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    for url in &servers {
        assert_eq!(status_with(url, &old).await, 200);
    }
    let rotated = answer(client().post(format!("{}/v1/api-keys/{id}/rotate", b.url)).bearer_auth(&admin).send().await.unwrap()).await;
    let rotated_at = Instant::now();
    let new = key_of(&rotated.expect(201).body);
    assert_eq!(status_with(&b.url, &old).await, 401, "the rotating server refuses the old key at once");
    for url in [&a.url, &c_url] {
        let took = refused_within(url, &old, rotated_at).await;
        assert!(took < ELSEWHERE_BOUND, "{url} served a rotated key for {took:?}");
        measured.push(took);
    }
    for url in &servers {
        assert_eq!(status_with(url, &new).await, 200);
    }
    eprintln!("revoked keys refused by the other servers after (from the revocation's answer): {measured:?}");
    c.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_creates_rotates_and_revokes_keys() {
    let mock = mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let first = server.environment("production");
    server.environment("staging");
    let db = server.db.clone();

    let listed = cli(&db, &["list", "--env", "production"]).unwrap();
    assert_eq!(listed["results"].as_array().unwrap().len(), 1);
    let first_id = listed["results"][0]["id"].as_str().unwrap().to_string();
    assert_hides(&listed.to_string(), &first);

    let created = cli(&db, &["create", "--env", "production", "--name", "ops"]).unwrap();
    let second = key_of(&created);
    assert_eq!(created["name"], "ops");
    assert_eq!(created["prefix"], json!(&second[..11]));
    server.get(&second, "/v1/accounts").await.expect(200);
    let listed = cli(&db, &["list", "--env", "production"]).unwrap();
    assert_eq!(listed["results"][1]["prefix"], json!(&second[..11]));
    assert_hides(&listed.to_string(), &second);
    // The API lists what the CLI created.
    assert_eq!(server.get(&first, "/v1/api-keys").await.expect(200).body["results"].as_array().unwrap().len(), 2);

    // Rotate with an overlap: both work until the old one ends.
    let second_id = created["id"].as_str().unwrap().to_string();
    let rotated = cli(&db, &["rotate", &second_id, "--env", "production", "--overlap-seconds", "3600"]).unwrap();
    let third = key_of(&rotated);
    assert_eq!(rotated["name"], "ops", "a rotated key keeps its name");
    assert_eq!(rotated["replaced"]["active"], true);
    server.get(&second, "/v1/accounts").await.expect(200);
    server.get(&third, "/v1/accounts").await.expect(200);
    // Revoking the old one now ends the overlap.
    let revoked = cli(&db, &["revoke", &second_id, "--env", "production"]).unwrap();
    assert_eq!(revoked["active"], false);
    let took = refused_within(&server.url, &second, Instant::now()).await;
    assert!(took < ELSEWHERE_BOUND);
    server.get(&third, "/v1/accounts").await.expect(200);

    // Rotate at once.
    let rotated = cli(&db, &["rotate", &first_id, "--env", "production"]).unwrap();
    let fourth = key_of(&rotated);
    refused_within(&server.url, &first, Instant::now()).await;
    server.get(&fourth, "/v1/accounts").await.expect(200);

    // The last working key needs --force.
    let fourth_id = rotated["id"].as_str().unwrap().to_string();
    cli(&db, &["revoke", &fourth_id, "--env", "production"]).unwrap();
    let third_id =
        cli(&db, &["list", "--env", "production"]).unwrap()["results"].as_array().unwrap().iter().find(|k| k["active"] == true).unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_string();
    let refused = cli(&db, &["revoke", &third_id, "--env", "production"]).unwrap_err();
    assert!(refused.contains("last working key"), "{refused}");
    server.get(&third, "/v1/accounts").await.expect(200);
    cli(&db, &["revoke", &third_id, "--env", "production", "--force"]).unwrap();
    refused_within(&server.url, &third, Instant::now()).await;

    // Mistakes are named.
    let missing = cli(&db, &["list", "--env", "nope"]).unwrap_err();
    assert!(missing.contains("production") && missing.contains("staging"), "{missing}");
    assert!(cli(&db, &["revoke", "key_missing", "--env", "production"]).unwrap_err().contains("not found"));
    assert!(cli(&db, &["rotate", &third_id, "--env", "staging"]).unwrap_err().contains("not found"), "another environment's key");
    assert!(cli(&db, &["rotate", &third_id, "--env", "production", "--overlap-seconds", "999999"]).unwrap_err().contains("7 days"));
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("none.db");
    assert!(cli(&TestDatabase::Sqlite(nowhere.clone()), &["list", "--env", "production"]).unwrap_err().contains("no database"));
    assert!(!nowhere.exists(), "a missing database is not created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_listed_a_page_at_a_time() {
    let mock = mock().await;
    let server = TestServer::start(registry(), &mock).await;
    let key = server.environment("production");
    let other = server.environment("staging");
    let rows: Vec<Value> = (0..250)
        .map(|i| {
            let integration = if i % 10 == 0 { "epoch_reset_limits" } else { "cursor_body" };
            let mut row = json!({ "integration": integration, "external_id": format!("customer-{i:03}"), "credentials": { "token": format!("pat-{i:03}") } });
            if integration == "epoch_reset_limits" {
                row["connection"] = json!({ "org": "acme" });
                row["credentials"] = json!({ "access_token": format!("at-{i}"), "refresh_token": format!("rt-{i}"), "expires_in": 3600 });
            }
            row
        })
        .collect();
    let imported = server.post(&key, "/v1/accounts/import?verify=false", &Value::from(rows)).await.expect(200);
    assert_eq!(imported.body["summary"]["created"], 250, "{}", imported.text);
    server
        .post(
            &other,
            "/v1/accounts/import?verify=false",
            &json!([{ "integration": "cursor_body", "external_id": "theirs", "credentials": { "token": "pat-x" } }]),
        )
        .await
        .expect(200);

    // limit 100: three pages, none repeated, none lost, in creation order.
    let mut seen: Vec<String> = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/accounts?limit=100&cursor={c}"),
            None => "/v1/accounts?limit=100".to_string(),
        };
        let page = server.get(&key, &path).await.expect(200);
        let results = page.body["results"].as_array().unwrap();
        pages.push(results.len());
        seen.extend(results.iter().map(|a| a["external_id"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, vec![100, 100, 50]);
    let expected: Vec<String> = (0..250).map(|i| format!("customer-{i:03}")).collect();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "every account once");

    // The default page is 100; the filter pages too.
    let default = server.get(&key, "/v1/accounts").await.expect(200);
    assert_eq!(default.body["results"].as_array().unwrap().len(), 100);
    assert!(default.body["next_cursor"].is_string());
    let first = server.get(&key, "/v1/accounts?integration=epoch_reset_limits&limit=20").await.expect(200);
    assert_eq!(first.body["results"].as_array().unwrap().len(), 20);
    let next = first.body["next_cursor"].as_str().unwrap();
    let rest = server.get(&key, &format!("/v1/accounts?integration=epoch_reset_limits&limit=20&cursor={next}")).await.expect(200);
    assert_eq!(rest.body["results"].as_array().unwrap().len(), 5);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    // The largest page is 500.
    let all = server.get(&key, "/v1/accounts?limit=500").await.expect(200);
    assert_eq!(all.body["results"].as_array().unwrap().len(), 250);
    assert_eq!(all.body["next_cursor"], Value::Null);

    // Bad parameters are JSON 400s naming the field.
    for (query, field) in [("limit=0", "limit"), ("limit=501", "limit"), ("cursor=%21%21", "cursor"), ("cursor=bm9wZQ", "cursor")] {
        let bad: Answer = server.get(&key, &format!("/v1/accounts?{query}")).await.expect(400);
        assert_eq!(bad.body["error"]["code"], "invalid_request", "{query}");
        assert_eq!(bad.body["error"]["field"], field, "{query}: {}", bad.text);
    }
    let bad = server.get(&key, "/v1/accounts?limit=ten").await.expect(400);
    assert_eq!(bad.body["error"]["code"], "invalid_request");
    // The other environment's page holds only its own account.
    assert_eq!(server.get(&other, "/v1/accounts").await.expect(200).body["results"].as_array().unwrap().len(), 1);
}
