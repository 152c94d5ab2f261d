//! Several `switchyard serve` processes ("nodes") on one Postgres database, as an operator runs them
//! behind a load balancer (issue 14):
//!
//! - 150 concurrent requests on an expired token, 50 on each of three nodes, make exactly one
//!   token request; with a provider that rotates single-use refresh tokens, no refresh token is
//!   ever sent twice;
//! - a node killed (kill -9) holding the refresh lease: right after the provider rotated the
//!   refresh token (the new tokens are stored before anything uses them, so another node carries
//!   on with them and the retired token is never sent); and before the provider answered (another
//!   node answers 503 `refresh_in_progress` while the lease lasts, then refreshes with the
//!   unretired token);
//! - Postgres stopped while a node serves: requests fail fast with 503 `storage_unavailable`,
//!   `/healthz` says so, and the node recovers by itself when Postgres is back;
//! - a cursor, an OAuth flow's state and the exchange log made on one node are good on another.
//!
//! Postgres is the throwaway one of `switchyard_testpg`; without it these tests say SKIPPED (and
//! fail under CI=true).

mod support;

use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::database::TestDatabase;
use support::nodes::{self, access, refresh, RotatingProvider};
use support::process::ServeProcess;
use switchyard_server::database::off_async;

fn list_path(id: &str) -> String {
    format!("/v1/unified/crm/contacts?account_id={id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_refresh_once_under_150_concurrent_requests() {
    let Some(db) = TestDatabase::postgres() else { return };
    let provider = RotatingProvider::start(Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = nodes::prepare(dir.path(), &db);
    let cluster: Vec<ServeProcess> = (0..3).map(|_| nodes::node(dir.path(), &db, &provider.mock)).collect();
    let id = nodes::expired_account(&cluster[0], &key).await;

    let nodes: Vec<&ServeProcess> = cluster.iter().collect();
    let answers = nodes::concurrent_lists(&nodes, &key, &id, 50).await;
    assert_eq!(answers.len(), 150);
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    assert_eq!(provider.sent(), vec![refresh(0)], "exactly one token request for 150 requests on three nodes");

    // Forced refreshes, five at once on each node: each is a rotation with the token the last
    // one stored; none sends a retired token.
    let refreshes = (0..15).map(|i| {
        let (node, key, id) = (nodes[i % 3], key.clone(), id.clone());
        async move { node.call(&key, Method::POST, &format!("/v1/accounts/{id}/refresh"), None).await }
    });
    for answer in futures_util::future::join_all(refreshes).await {
        assert!(matches!(answer.status, 200 | 409 | 503), "{}", answer.text);
    }
    for node in &nodes {
        node.call(&key, Method::GET, &list_path(&id), None).await.expect(200);
    }
    let sent = provider.sent();
    assert!(provider.refused().is_empty(), "a retired refresh token was sent: {sent:?}");
    let expected: Vec<String> = (0..sent.len()).map(refresh).collect();
    assert_eq!(sent, expected, "each refresh sent the token the one before stored, once");
    eprintln!("token requests: {} (1 for the 150 lists, the rest for 15 forced refreshes)", sent.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_right_after_the_provider_rotated_loses_nothing() {
    let Some(db) = TestDatabase::postgres() else { return };
    let provider = RotatingProvider::start(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = nodes::prepare(dir.path(), &db);
    let a = nodes::node(dir.path(), &db, &provider.mock);
    let b = nodes::node(dir.path(), &db, &provider.mock);
    let id = nodes::expired_account(&a, &key).await;

    // A refreshes (the provider rotates: refresh(0) is retired) and calls the API with the new
    // access token: it is killed in that call, the first moment anything uses the new tokens.
    provider.rotation.lock().unwrap().hold_api_with = Some(access(1));
    let pending = tokio::spawn({
        let (url, key, id) = (a.url.clone(), key.clone(), id.clone());
        async move { support::server::client().get(format!("{url}{}", list_path(&id))).bearer_auth(key).send().await }
    });
    provider.wait_for("A's call with the new access token", |r| r.api_request_held);
    a.kill();
    assert!(pending.await.unwrap().is_err(), "A was killed before it answered");

    // B carries on with the tokens A stored: no token request, no retired token.
    b.call(&key, Method::GET, &list_path(&id), None).await.expect(200);
    assert_eq!(provider.sent(), vec![refresh(0)], "B used the stored tokens");
    b.call(&key, Method::POST, &format!("/v1/accounts/{id}/refresh"), None).await.expect(200);
    assert_eq!(provider.sent(), vec![refresh(0), refresh(1)], "the next refresh sends the rotated token");
    assert!(provider.refused().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_before_the_provider_answered_leaves_the_refresh_to_another() {
    let Some(db) = TestDatabase::postgres() else { return };
    let provider = RotatingProvider::start(Duration::from_millis(50)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = nodes::prepare(dir.path(), &db);
    // A short lease, so the test does not wait the default 30 s for it to lapse.
    std::fs::write(dir.path().join("lease.toml"), "refresh_lease_seconds = 4\n").unwrap();
    let config = dir.path().join("lease.toml").display().to_string();
    let a = nodes::node_with(dir.path(), &db, &provider.mock, &["--config", &config]);
    let b = nodes::node_with(dir.path(), &db, &provider.mock, &["--config", &config]);
    let id = nodes::expired_account(&a, &key).await;

    // A takes the lease and sends refresh(0); it is killed before the provider answers (which
    // then never processes the request: the token is not retired).
    provider.rotation.lock().unwrap().hold_next_token_request = true;
    let pending = tokio::spawn({
        let (url, key, id) = (a.url.clone(), key.clone(), id.clone());
        async move { support::server::client().get(format!("{url}{}", list_path(&id))).bearer_auth(key).send().await }
    });
    provider.wait_for("A's token request", |r| r.token_request_held);
    let killed = Instant::now();
    a.kill();
    provider.rotation.lock().unwrap().released = true;
    assert!(pending.await.unwrap().is_err(), "A was killed before it answered");

    // While A's lease lasts, B answers at once that a refresh is in progress, and when to retry.
    let busy = b.call(&key, Method::GET, &list_path(&id), None).await;
    if busy.status == 503 {
        assert_eq!(busy.body["error"]["code"], "refresh_in_progress", "{}", busy.text);
        let retry: u64 = busy.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=4).contains(&retry), "Retry-After {retry}");
    }
    // Once it lapses, B refreshes with the token the provider never retired.
    let answered = loop {
        let answer = b.call(&key, Method::GET, &list_path(&id), None).await;
        if answer.status == 200 {
            break killed.elapsed();
        }
        assert_eq!(answer.body["error"]["code"], "refresh_in_progress", "{}", answer.text);
        assert!(killed.elapsed() < Duration::from_secs(15), "B never took over the lapsed lease");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(provider.sent(), vec![refresh(0), refresh(0)], "A's request (never processed), then B's");
    assert!(provider.refused().is_empty());
    eprintln!("B served the account {answered:?} after A was killed (lease 4 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_database_fails_fast_and_the_node_recovers_by_itself() {
    let Some(cluster) = off_async(switchyard_testpg::Cluster::dedicated) else { return };
    let db = TestDatabase::Postgres(off_async(|| cluster.create_database()).url);
    let provider = RotatingProvider::start(Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = nodes::prepare(dir.path(), &db);
    let node = nodes::node(dir.path(), &db, &provider.mock);
    let id = nodes::expired_account(&node, &key).await;
    node.call(&key, Method::GET, &list_path(&id), None).await.expect(200);
    let second_key = node.call(&key, Method::POST, "/v1/api-keys", Some(serde_json::json!({}))).await.expect(201);
    let second_key = second_key.body["key"].as_str().unwrap().to_string();

    off_async(|| cluster.stop());
    // Every kind of request fails fast with the documented error: a cached key, a key never seen
    // (it cannot be checked: 503, not 401), a write, and /healthz.
    let health = || support::server::client().get(format!("{}/healthz", node.url)).send();
    for (what, answer) in [
        ("a read", node.call(&key, Method::GET, &format!("/v1/accounts/{id}"), None).await),
        ("a key not yet verified", node.call(&second_key, Method::GET, "/v1/accounts", None).await),
        ("a write", node.call(&key, Method::POST, "/v1/api-keys", Some(serde_json::json!({}))).await),
    ] {
        assert_eq!(answer.status, 503, "{what}: {}", answer.text);
        assert_eq!(answer.body["error"]["code"], "storage_unavailable", "{what}: {}", answer.text);
        assert!(answer.header("retry-after").is_some(), "{what}: Retry-After");
    }
    let started = Instant::now();
    let down = support::server::answer(health().await.unwrap()).await;
    let took = started.elapsed();
    assert_eq!(down.status, 503, "{}", down.text);
    assert_eq!(down.body["storage"], "unavailable", "{}", down.text);
    assert_eq!(down.body["error"]["code"], "storage_unavailable", "{}", down.text);
    assert!(took < Duration::from_secs(3), "/healthz took {took:?} with the database down");

    off_async(|| cluster.start());
    let back = Instant::now();
    loop {
        let answer = support::server::answer(health().await.unwrap()).await;
        if answer.status == 200 {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(10), "the node did not recover: {}", answer.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.call(&key, Method::GET, &list_path(&id), None).await.expect(200);
    node.call(&second_key, Method::GET, "/v1/accounts", None).await.expect(200);
    eprintln!("/healthz answered in {took:?} with Postgres down; back {:?} after it restarted", back.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cursors_and_the_log_of_one_node_are_good_on_another() {
    let Some(db) = TestDatabase::postgres() else { return };
    let provider = RotatingProvider::start(Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = nodes::prepare(dir.path(), &db);
    let a = nodes::node(dir.path(), &db, &provider.mock);
    let b = nodes::node(dir.path(), &db, &provider.mock);
    let id = nodes::expired_account(&a, &key).await;

    let first = a.call(&key, Method::GET, &format!("{}&page_size=1", list_path(&id)), None).await.expect(200);
    let cursor = first.body["next_cursor"].as_str().expect("a next page").to_string();
    let cursor: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let second = b.call(&key, Method::GET, &format!("{}&cursor={cursor}", list_path(&id)), None).await.expect(200);
    let logins: Vec<&Value> = [&first, &second].iter().map(|page| &page.body["results"][0]["custom_fields"]["login"]).collect();
    assert_eq!(logins, ["octocat", "hubot"], "B continued A's list");

    // The exchanges A made (its refresh, its page) are in the log B reads, once A's log writer
    // has written them (off the request path, within moments).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = b.call(&key, Method::GET, &format!("/v1/logs?account_id={id}&limit=50"), None).await.expect(200);
        let urls: Vec<String> =
            log.body["results"].as_array().unwrap().iter().filter_map(|e| e["url"].as_str().map(str::to_string)).collect();
        let refreshed = urls.iter().any(|u| u.contains("/login/oauth/access_token"));
        if refreshed && urls.iter().filter(|u| u.contains("/members")).count() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "A's exchanges never reached B's log: {urls:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oauth_flow_started_on_one_node_finishes_on_another() {
    let Some(db) = TestDatabase::postgres() else { return };
    let provider = RotatingProvider::start(Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = nodes::prepare(dir.path(), &db);
    // Behind a load balancer every node has the same public URL (the OAuth redirect URI).
    let public = ["--public-url", "https://switchyard.example.com"];
    let a = nodes::node_with(dir.path(), &db, &provider.mock, &public);
    let b = nodes::node_with(dir.path(), &db, &provider.mock, &public);
    nodes::expired_account(&a, &key).await;

    let asked = support::server::client()
        .get(format!("{}/v1/connect/epoch_reset_limits/authorize?connection.org=acme&external_id=cust-77", a.url))
        .bearer_auth(&key)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let asked = support::server::answer(asked).await.expect(200);
    let authorize = url::Url::parse(asked.body["authorize_url"].as_str().unwrap()).unwrap();
    let state = authorize.query_pairs().find(|(k, _)| k == "state").expect("a state").1.into_owned();
    let state: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    // The provider sends the browser back to the load balancer, which picks B.
    let back =
        support::server::client().get(format!("{}/v1/connect/callback?code=consent-code&state={state}", b.url)).send().await.unwrap();
    let back = support::server::answer(back).await;
    assert!(back.status < 400, "B finished A's flow: {} {}", back.status, back.text);
    let listed = a.call(&key, Method::GET, "/v1/accounts?limit=10", None).await.expect(200);
    assert!(listed.text.contains("cust-77"), "the account B created is on A: {}", listed.text);
}
