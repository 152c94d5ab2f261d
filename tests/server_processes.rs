//! `switchyard serve` processes on one database (SQLite, or Postgres with
//! `SWITCHYARD_TEST_DB=postgres`): 50 concurrent requests on an expired account, split between two
//! of them, make exactly one token request; a rotated refresh token stored by one process is the
//! one the other sends next. Also covers `switchyard env create`, `--registry`, `--upstream` and a
//! graceful stop on SIGTERM. The multi-node tests that need Postgres are in `server_nodes.rs`.

mod support;

use std::time::Duration;
use support::database::TestDatabase;
use support::nodes::{self, refresh, RotatingProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_one_database_and_refresh_once() {
    let provider = RotatingProvider::start(Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let key = nodes::prepare(dir.path(), &db);
    let a = nodes::node(dir.path(), &db, &provider.mock);
    let b = nodes::node(dir.path(), &db, &provider.mock);
    let id = nodes::expired_account(&a, &key).await;

    let answers = nodes::concurrent_lists(&[&a, &b], &key, &id, 25).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    assert_eq!(provider.sent(), vec![refresh(0)], "exactly one token request across two processes");

    // B rotates the token; A then sends the rotated one, never the first.
    b.call(&key, reqwest::Method::POST, &format!("/v1/accounts/{id}/refresh"), None).await.expect(200);
    a.call(&key, reqwest::Method::POST, &format!("/v1/accounts/{id}/refresh"), None).await.expect(200);
    a.call(&key, reqwest::Method::GET, &format!("/v1/unified/crm/contacts?account_id={id}"), None).await.expect(200);
    assert_eq!(provider.sent(), vec![refresh(0), refresh(1), refresh(2)]);

    assert!(a.stop().success(), "a graceful stop exits 0");
    assert!(b.stop().success());
}
