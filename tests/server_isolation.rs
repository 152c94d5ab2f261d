//! One tenant cannot stall another through the store (issue 13, item 1).
//!
//! Environment A has a large exchange log (written through the store directly, for speed, with
//! entries of a realistic ~2 KB); four tasks read A's log in a loop (`GET /v1/logs?limit=500` with
//! A's key) while environment B reads one of its accounts and `/healthz` is polled. B's read and
//! `/healthz` must stay fast: the log reads run on the store's read connections (WAL), never on the
//! writer's, and the log query walks an index in `id DESC` order instead of sorting the whole
//! environment's log. Before, one log read took the single connection for the whole sort and every
//! other request of every tenant queued behind it.
//!
//! The bounds are generous (p50 under 250 ms; the goal is under 50 ms, and a quiet 2-core machine
//! measures a few ms): CI machines vary. The numbers are printed (`--nocapture`). Loopback only.

#[path = "support/exchanges.rs"]
mod exchanges;
mod support;

use exchanges::{fill_store, realistic_exchange};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::registry;
use support::server::TestServer;

/// Entries in A's log: enough that the old query (a sort of the whole environment's log under the
/// one connection's lock) took far longer than the bound.
const ENTRIES: usize = 20_000;
const READERS: usize = 4;
/// How long B's reads are sampled while the readers run.
const SAMPLE_FOR: Duration = Duration::from_secs(3);
/// The test's bound at p50 (the goal is 50 ms; CI machines vary).
const P50_BOUND: Duration = Duration::from_millis(250);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn timed(request: reqwest::RequestBuilder) -> (Duration, u16) {
    let started = Instant::now();
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    (started.elapsed(), status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_log_reads_do_not_stall_another_tenant_or_healthz() {
    let server = TestServer::start_with(registry(), &[], |_| {}).await;
    let key_a = server.environment("tenant-a");
    let key_b = server.environment("tenant-b");
    let created = server
        .post(
            &key_b,
            "/v1/accounts",
            &json!({ "integration": "cursor_body", "external_id": "b-1", "credentials": { "token": "tok-b" }, "verify": false }),
        )
        .await
        .expect(201);
    let account_b = created.body["id"].as_str().unwrap().to_string();

    let filling = Instant::now();
    let store = server.db.open();
    tokio::task::spawn_blocking(move || fill_store(&*store, "tenant-a", ENTRIES)).await.unwrap();
    println!("wrote {ENTRIES} log entries in {:.1} s", filling.elapsed().as_secs_f64());

    // One log read alone.
    let (alone, status) = timed(server.request(reqwest::Method::GET, "/v1/logs?limit=500").bearer_auth(&key_a)).await;
    assert_eq!(status, 200);
    println!("one GET /v1/logs?limit=500 alone: {:.1} ms", ms(alone));

    // Four readers of A's log, in a loop, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..READERS {
        let (stop, reads) = (stop.clone(), reads.clone());
        let request = server.request(reqwest::Method::GET, "/v1/logs?limit=500").bearer_auth(&key_a);
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (took, status) = timed(request.try_clone().unwrap()).await;
                assert_eq!(status, 200, "a log read failed");
                latencies.push(took);
                reads.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    // Let every reader get going.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // B's account read and /healthz, one after the other, for SAMPLE_FOR.
    let mut account = Vec::new();
    let mut health = Vec::new();
    let sampling = Instant::now();
    while sampling.elapsed() < SAMPLE_FOR {
        let (took, status) = timed(server.request(reqwest::Method::GET, &format!("/v1/accounts/{account_b}")).bearer_auth(&key_b)).await;
        assert_eq!(status, 200);
        account.push(took);
        let (took, status) = timed(server.request(reqwest::Method::GET, "/healthz")).await;
        assert_eq!(status, 200);
        health.push(took);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut log_reads = Vec::new();
    for reader in readers {
        log_reads.extend(reader.await.unwrap());
    }
    for samples in [&mut account, &mut health, &mut log_reads] {
        samples.sort();
    }
    let report = |name: &str, s: &[Duration]| {
        println!("{name:<34} n={:<5} p50 {:>8.1} ms   p99 {:>8.1} ms", s.len(), ms(percentile(s, 50.0)), ms(percentile(s, 99.0)))
    };
    report("B: GET /v1/accounts/{id}", &account);
    report("GET /healthz", &health);
    report("A: GET /v1/logs?limit=500 (x4)", &log_reads);
    assert!(reads.load(Ordering::Relaxed) >= READERS, "the readers ran");
    assert!(
        percentile(&account, 50.0) < P50_BOUND,
        "another tenant's account read is stalled by A's log readers: p50 {:.1} ms",
        ms(percentile(&account, 50.0))
    );
    assert!(percentile(&health, 50.0) < P50_BOUND, "/healthz is stalled by A's log readers: p50 {:.1} ms", ms(percentile(&health, 50.0)));
    server.stop().await;
}

/// The cap through the server: the pruner (every 100 ms here) evicts A's oldest entries beyond
/// `log_max_entries`, B's log is untouched, and `before` pages back through what is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pruner_caps_each_environments_log_oldest_first() {
    const CAP: u64 = 300;
    let server = TestServer::start_with(registry(), &[], |config| {
        config.log_max_entries = CAP;
        config.log_prune_interval = Duration::from_millis(100);
    })
    .await;
    let key_a = server.environment("tenant-a");
    let key_b = server.environment("tenant-b");
    let store = server.db.open();
    tokio::task::spawn_blocking(move || {
        fill_store(&*store, "tenant-a", 1000);
        fill_store(&*store, "tenant-b", 200);
    })
    .await
    .unwrap();

    let started = Instant::now();
    let newest_a = loop {
        let page = server.get(&key_a, "/v1/logs?limit=500").await.expect(200);
        let results = page.body["results"].as_array().unwrap().clone();
        if results.len() as u64 == CAP && page.body["next_before"].is_null() {
            break results;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the cap was not enforced: {} entries", results.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The newest 300 of 1,000 are kept: the URLs carry each entry's number.
    let url = |entry: &Value| entry["url"].as_str().unwrap().to_string();
    assert_eq!(url(&newest_a[0]), realistic_exchange(999, None).url);
    assert_eq!(url(&newest_a[CAP as usize - 1]), realistic_exchange(700, None).url);

    // B (200 entries, under the cap) is untouched; paging with `before` walks all of it once.
    let mut seen = Vec::new();
    let mut path = "/v1/logs?limit=75".to_string();
    loop {
        let page = server.get(&key_b, &path).await.expect(200);
        seen.extend(page.body["results"].as_array().unwrap().iter().map(url));
        match page.body["next_before"].as_i64() {
            Some(before) => path = format!("/v1/logs?limit=75&before={before}"),
            None => break,
        }
    }
    let expected: Vec<String> = (0..200).rev().map(|i| realistic_exchange(i, None).url).collect();
    assert_eq!(seen, expected);
    let refused = server.get(&key_b, "/v1/logs?before=0").await.expect(400);
    assert_eq!(refused.body["error"]["code"], "invalid_request");
    server.stop().await;
}
