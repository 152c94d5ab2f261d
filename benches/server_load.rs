//! The unified API server under load, versus the mock provider it calls, on loopback.
//! Run: `cargo bench --bench server_load` (or `bench/load.sh`).
//!
//! - The mock (in this process, axum) answers the example integration's list endpoint
//!   (tests/examples.json `list_path`) with a 100-record contacts page (benches/support;
//!   the mock, the server and the load generator are benches/support/load.rs).
//! - The server is the built binary: `switchyard serve --listen 127.0.0.1:PORT --db DIR/x.db
//!   --upstream NAME=MOCK`, with a throwaway `SWITCHYARD_SECRET_KEY`, set up through its public
//!   interface: `switchyard env create` for an API key, `PUT /v1/installs/{integration}`,
//!   `POST /v1/accounts` (an imported token, not verified).
//! - The load generator (tokio, a minimal HTTP/1.1 client on keep-alive connections) runs
//!   LOAD_CONCURRENCY workers (default 16) for LOAD_SECONDS (default 10) after LOAD_WARMUP
//!   seconds (default 2): first against the mock directly (the path the server calls upstream),
//!   then through the server (`GET /v1/unified/{model}/{resource}?account_id=…&page_size=100`).
//!
//! Prints requests, errors (non-2xx or transport), req/s, p50 and p99 for each, then the
//! overhead at p50 (bar: under 1 ms) and the rate ratio server/direct (bar: at least 0.5), each
//! PASS or MISS. Not a test: nothing is asserted on timing; it exits 1 only if a request failed
//! (or the server could not be set up). `LOAD_ONLY=direct` measures the mock alone. The server
//! logs at `RUST_LOG=warn` unless RUST_LOG is set; its output is printed if it fails.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;
use support::load::{env_number, request_head, verdict, Load, Mock, Server, SqliteFile};

fn main() {
    let concurrency = env_number("LOAD_CONCURRENCY", 16.0).max(1.0) as usize;
    let seconds = Duration::from_secs_f64(env_number("LOAD_SECONDS", 10.0).max(0.1));
    let warmup = Duration::from_secs_f64(env_number("LOAD_WARMUP", 2.0).max(0.0));
    let direct_only = std::env::var("LOAD_ONLY").is_ok_and(|v| v == "direct");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let code = runtime.block_on(run(concurrency, seconds, warmup, direct_only));
    std::process::exit(code);
}

async fn run(concurrency: usize, seconds: Duration, warmup: Duration, direct_only: bool) -> i32 {
    let example = common::example();
    let page = serde_json::to_vec(&support::contacts_page()).expect("the page serializes");
    let mock = Mock::start(example.str("list_path"), page.clone()).await;
    println!(
        "load benchmark: {} {}/{} pages of {} records ({} bytes upstream), {concurrency} workers, keep-alive, {:.1} s after a {:.1} s warm-up",
        example.integration,
        example.model,
        example.resource,
        support::RECORDS,
        page.len(),
        seconds.as_secs_f64(),
        warmup.as_secs_f64()
    );
    println!("  (LOAD_CONCURRENCY, LOAD_SECONDS, LOAD_WARMUP change them; LOAD_ONLY=direct skips the server)");

    let direct_target = format!("{}?limit={}", example.str("list_path"), support::RECORDS);
    let direct = Load::new(mock.addr, request_head("GET", &direct_target, mock.addr, None)).run(concurrency, warmup, seconds).await;
    println!("\n                          requests   errors       req/s    p50 ms    p99 ms");
    direct.print("direct (mock)");
    if direct_only {
        return direct.exit_code();
    }

    // The SQLite file outlives the server (dropped after it, at the end).
    let started = match SqliteFile::new() {
        Ok(db) => Server::start(&mock, example, &db.path).await.map(|server| (server, db)),
        Err(why) => Err(why),
    };
    let (mut server, _db) = match started {
        Ok(started) => started,
        Err(why) => {
            println!("  server (unified API)   not measured: {why}");
            return 1;
        }
    };
    let before = mock.requests.load(Ordering::Relaxed);
    let through = Load { targets: vec![server.load_target()] }.run(concurrency, warmup, seconds).await;
    let upstream_calls = mock.requests.load(Ordering::Relaxed) - before;
    through.print("server (unified API)");
    println!("  (upstream calls during the server run: {upstream_calls}, first one: {})", mock.first_seen().unwrap_or_default());
    if let Some(reason) = server.exited() {
        println!("  the server exited during the run: {reason}\n{}", server.log_tail());
    }
    // The exchange log is written off the request path; a writer that fell behind drops entries.
    let dropped = server.exchange_log_dropped().await;
    println!("  (upstream exchanges the log dropped: {dropped})");

    let overhead_ms = (through.percentile(0.50) - direct.percentile(0.50)) * 1e3;
    let ratio = through.rate() / direct.rate();
    println!();
    println!("  overhead at p50:     {overhead_ms:+8.3} ms   (bar: under 1 ms)    {}", verdict(overhead_ms < 1.0));
    println!("  rate server/direct:  {ratio:8.3}      (bar: at least 0.5)  {}", verdict(ratio >= 0.5));
    drop(server);
    direct.exit_code().max(through.exit_code())
}
