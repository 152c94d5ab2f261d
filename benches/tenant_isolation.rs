//! Tenant isolation through the store (issue 13, item 1): how fast another tenant's account read
//! and `/healthz` answer while one tenant reads its large exchange log in a loop.
//! Run: `cargo bench --bench tenant_isolation` (or `bench/isolation.sh [ENTRIES] [SECONDS]`).
//!
//! - The server is the built binary (`switchyard serve`, bench profile) on loopback, with its own
//!   SQLite file and a throwaway `SWITCHYARD_SECRET_KEY`; `switchyard env create` makes
//!   environments A and B, B gets one account (`POST /v1/accounts`, not verified).
//! - A's log gets ISOLATION_ENTRIES entries (default 270,000, the report) of ~2 KB (a JSON
//!   page of six contacts and a dozen headers, tests/support/exchanges.rs), written through the
//!   store before the server starts. The server runs with `--log-max-entries` above that, so the
//!   cap does not shrink the log during the run. The database size per entry is printed.
//! - Then, for ISOLATION_SECONDS each (default 5): B's `GET /v1/accounts/{id}` and `GET /healthz`,
//!   one after the other, first on a quiet server, then while ISOLATION_READERS tasks (default 4)
//!   loop on `GET /v1/logs?limit=500` with A's key.
//!
//! Prints p50/p99 (ms) of each, of A's log read alone, and of the log reads under load. Not a test: nothing is asserted on timing;
//! it exits 1 only if a request failed or the server could not be set up.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/exchanges.rs"]
mod exchanges;

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

fn main() {
    let entries = env_number("ISOLATION_ENTRIES", 270_000.0).max(0.0) as usize;
    let seconds = Duration::from_secs_f64(env_number("ISOLATION_SECONDS", 5.0).max(0.5));
    let readers = env_number("ISOLATION_READERS", 4.0).max(1.0) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let code = match runtime.block_on(run(entries, seconds, readers)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    };
    std::process::exit(code);
}

async fn run(entries: usize, seconds: Duration, readers: usize) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("x.db");
    let key = secret_key();
    let binary = env!("CARGO_BIN_EXE_switchyard");
    let key_a = create_environment(binary, &db, &key, "tenant-a")?;
    let key_b = create_environment(binary, &db, &key, "tenant-b")?;

    println!(
        "tenant isolation: {entries} log entries in A, {readers} readers of A's log, {:.1} s per phase, loopback",
        seconds.as_secs_f64()
    );
    println!("  (ISOLATION_ENTRIES, ISOLATION_SECONDS, ISOLATION_READERS change them)");
    let filling = Instant::now();
    let path = db.clone();
    tokio::task::spawn_blocking(move || exchanges::fill_log(&path, "tenant-a", entries)).await.map_err(|e| e.to_string())?;
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "  wrote {entries} entries in {:.1} s; database {:.1} MB, {:.0} bytes per entry",
        filling.elapsed().as_secs_f64(),
        bytes as f64 / 1e6,
        bytes as f64 / entries.max(1) as f64
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
    let child = Command::new(binary)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db"])
        .arg(&db)
        .args(["--log-max-entries", &(entries as u64 + 1_000_000).to_string()])
        .env("SWITCHYARD_SECRET_KEY", &key)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start `switchyard serve`: {e}"))?;
    let _server = Killed(child);
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().map_err(|e| e.to_string())?;
    wait_ready(&client, &base, dir.path()).await?;

    let integration = common::example().integration.clone();
    let account = json!({ "integration": integration, "external_id": "b-1", "connection": {},
                          "credentials": { "access_token": "bench-access-token" }, "verify": false });
    let created = client
        .post(format!("{base}/v1/accounts"))
        .bearer_auth(&key_b)
        .header("content-type", "application/json")
        .body(account.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = created.status();
    let body: Value = serde_json::from_slice(&created.bytes().await.map_err(|e| e.to_string())?).unwrap_or(Value::Null);
    let account_id = body["id"].as_str().ok_or_else(|| format!("POST /v1/accounts answered {status}: {body}"))?.to_string();
    let account_url = format!("{base}/v1/accounts/{account_id}");
    let health_url = format!("{base}/healthz");
    let logs_url = format!("{base}/v1/logs?limit=500");

    let (took, status, size) = timed(client.get(&logs_url).bearer_auth(&key_a)).await?;
    check(status, "GET /v1/logs?limit=500")?;
    println!("  first GET /v1/logs?limit=500: {:.1} ms, {:.2} MB of JSON", ms(took), size as f64 / 1e6);

    println!("\n                                        samples    p50 ms    p99 ms    max ms");
    // Warm the connections and the caches.
    sample(&client, &account_url, &key_b, &health_url, Duration::from_millis(300)).await?;
    let (account, health) = sample(&client, &account_url, &key_b, &health_url, seconds).await?;
    print("quiet: B GET /v1/accounts/{id}", account);
    print("quiet: GET /healthz", health);
    // A's log read alone, one after the other.
    let mut alone = Vec::new();
    let started = Instant::now();
    while started.elapsed() < seconds.min(Duration::from_secs(3)) {
        let (took, status, _) = timed(client.get(&logs_url).bearer_auth(&key_a)).await?;
        check(status, "GET /v1/logs?limit=500")?;
        alone.push(took);
    }
    print("quiet: A GET /v1/logs?limit=500", alone);

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..readers {
        let (client, url, key, stop) = (client.clone(), logs_url.clone(), key_a.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (took, status, _) = timed(client.get(&url).bearer_auth(&key)).await?;
                check(status, "GET /v1/logs?limit=500")?;
                latencies.push(took);
            }
            Ok::<_, String>(latencies)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sampled = sample(&client, &account_url, &key_b, &health_url, seconds).await;
    stop.store(true, Ordering::Relaxed);
    let mut log_reads = Vec::new();
    for task in tasks {
        log_reads.extend(task.await.map_err(|e| e.to_string())??);
    }
    let (account, health) = sampled?;
    print(&format!("{readers} log readers: B GET /v1/accounts/{{id}}"), account);
    print(&format!("{readers} log readers: GET /healthz"), health);
    print(&format!("{readers} log readers: A GET /v1/logs (each)"), log_reads);
    Ok(())
}

/// B's account read and `/healthz`, one after the other, for `period`.
async fn sample(
    client: &reqwest::Client,
    account_url: &str,
    key_b: &str,
    health_url: &str,
    period: Duration,
) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    let (mut account, mut health) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while started.elapsed() < period {
        let (took, status, _) = timed(client.get(account_url).bearer_auth(key_b)).await?;
        check(status, "GET /v1/accounts/{id}")?;
        account.push(took);
        let (took, status, _) = timed(client.get(health_url)).await?;
        check(status, "GET /healthz")?;
        health.push(took);
    }
    Ok((account, health))
}

async fn timed(request: reqwest::RequestBuilder) -> Result<(Duration, u16, usize), String> {
    let started = Instant::now();
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((started.elapsed(), status, body.len()))
}

fn check(status: u16, what: &str) -> Result<(), String> {
    if status == 200 {
        Ok(())
    } else {
        Err(format!("{what} answered {status}"))
    }
}

fn print(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| {
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1));
        samples.get(rank - 1).copied().map(ms).unwrap_or(0.0)
    };
    println!("{name:<40} {:>7} {:>9.2} {:>9.2} {:>9.2}", samples.len(), at(0.50), at(0.99), at(1.0));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn create_environment(binary: &str, db: &std::path::Path, key: &str, name: &str) -> Result<String, String> {
    let output = Command::new(binary)
        .args(["env", "create", name, "--db"])
        .arg(db)
        .env("SWITCHYARD_SECRET_KEY", key)
        .output()
        .map_err(|e| format!("cannot run {binary}: {e}"))?;
    if !output.status.success() {
        return Err(format!("`switchyard env create` failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let created: Value = serde_json::from_slice(&output.stdout).map_err(|e| format!("`switchyard env create` printed no JSON: {e}"))?;
    created["api_key"].as_str().map(str::to_string).ok_or_else(|| format!("no api_key in {created}"))
}

async fn wait_ready(client: &reqwest::Client, base: &str, dir: &std::path::Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status() == 200 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            return Err(format!("`switchyard serve` did not answer /healthz within 120 s:\n{log}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server subprocess, killed when the benchmark ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A base64 32-byte key for the server's sealed secrets (a throwaway database).
fn secret_key() -> String {
    use base64::Engine as _;
    let mut bytes = [7u8; 32];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut file, &mut bytes);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
