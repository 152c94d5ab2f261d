//! The unified API server under load, versus the mock provider it calls, on loopback.
//! Run: `cargo bench --bench server_load` (or `bench/load.sh`).
//!
//! - The mock (in this process, axum) answers the example integration's list endpoint
//!   (tests/examples.json `list_path`) with a 100-record contacts page (benches/support).
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

use axum::http::{header, HeaderValue};
use serde_json::{json, Value};
use std::io;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

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
    let direct =
        Load { addr: mock.addr, head: request_head("GET", &direct_target, mock.addr, None) }.run(concurrency, warmup, seconds).await;
    println!("\n                          requests   errors       req/s    p50 ms    p99 ms");
    direct.print("direct (mock)");
    if direct_only {
        return direct.exit_code();
    }

    let mut server = match Server::start(&mock, example).await {
        Ok(server) => server,
        Err(why) => {
            println!("  server (unified API)   not measured: {why}");
            return 1;
        }
    };
    let before = mock.requests.load(Ordering::Relaxed);
    let through = Load { addr: server.addr, head: request_head("GET", &server.target, server.addr, Some(&server.api_key)) }
        .run(concurrency, warmup, seconds)
        .await;
    let upstream_calls = mock.requests.load(Ordering::Relaxed) - before;
    through.print("server (unified API)");
    println!("  (upstream calls during the server run: {upstream_calls}, first one: {})", mock.first_seen().unwrap_or_default());
    if let Some(reason) = server.exited() {
        println!("  the server exited during the run: {reason}\n{}", server.log_tail());
    }
    // The exchange log is written off the request path; a writer that fell behind drops entries.
    let dropped = match server.metrics().await {
        Ok((200, text)) => text
            .lines()
            .find(|l| l.starts_with("switchyard_exchange_log_dropped_total ") || l.starts_with("exchange_log_dropped_total "))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_else(|| "not reported".into()),
        Ok((status, _)) => format!("not read (HTTP {status})"),
        Err(e) => format!("not read ({e})"),
    };
    println!("  (upstream exchanges the log dropped: {dropped})");

    let overhead_ms = (through.percentile(0.50) - direct.percentile(0.50)) * 1e3;
    let ratio = through.rate() / direct.rate();
    println!();
    println!("  overhead at p50:     {overhead_ms:+8.3} ms   (bar: under 1 ms)    {}", verdict(overhead_ms < 1.0));
    println!("  rate server/direct:  {ratio:8.3}      (bar: at least 0.5)  {}", verdict(ratio >= 0.5));
    drop(server);
    direct.exit_code().max(through.exit_code())
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

// ---------------------------------------------------------------------------------------
// The mock provider.

struct Mock {
    addr: SocketAddr,
    origin: String,
    requests: Arc<AtomicU64>,
    /// The first request line that reached the mock after it was reset (what the server sends).
    first: Arc<Mutex<Option<String>>>,
}

impl Mock {
    async fn start(list_path: &str, page: Vec<u8>) -> Mock {
        let requests = Arc::new(AtomicU64::new(0));
        let first: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let page = axum::body::Bytes::from(page);
        let (counter, seen) = (Arc::clone(&requests), Arc::clone(&first));
        let app = axum::Router::new().route(
            list_path,
            axum::routing::get(move |uri: axum::http::Uri| {
                let page = page.clone();
                counter.fetch_add(1, Ordering::Relaxed);
                let mut seen = seen.lock().unwrap();
                if seen.is_none() {
                    *seen = Some(format!("GET {uri}"));
                }
                async move { ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json;charset=utf-8"))], page) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the mock");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Mock { addr, origin: format!("http://{addr}"), requests, first }
    }

    fn reset_first(&self) {
        *self.first.lock().unwrap() = None;
    }

    fn first_seen(&self) -> Option<String> {
        self.first.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------
// The server, as a subprocess of the built binary.

struct Server {
    child: Child,
    addr: SocketAddr,
    /// The metrics listener (`--metrics-listen`): the API listener does not serve `/metrics`.
    metrics_addr: SocketAddr,
    api_key: String,
    /// `/v1/unified/{model}/{resource}?account_id=…&page_size=100`
    target: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(mock: &Mock, example: &common::Example) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let db = dir.path().join("x.db").display().to_string();
        let key = secret_key();
        let binary = env!("CARGO_BIN_EXE_switchyard");

        // An environment and its API key.
        let output = Command::new(binary)
            .args(["env", "create", "bench", "--db", &db])
            .env("SWITCHYARD_SECRET_KEY", &key)
            .output()
            .map_err(|e| format!("cannot run {binary}: {e}"))?;
        if !output.status.success() {
            return Err(format!("`switchyard env create` failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
        }
        let created: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("`switchyard env create` printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))?;
        let api_key =
            created["api_key"].as_str().ok_or_else(|| format!("`switchyard env create` printed no api_key: {created}"))?.to_string();

        // The server, on a free port.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args(["serve", "--listen", &addr.to_string(), "--metrics-listen", &metrics_addr.to_string(), "--db", &db, "--upstream"])
            .arg(format!("{}={}", example.integration, mock.origin))
            .env("SWITCHYARD_SECRET_KEY", &key)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start `switchyard serve`: {e}"))?;
        let mut server = Server { child, addr, metrics_addr, api_key, target: String::new(), dir };
        server.wait_ready().await?;

        // The install (the team's OAuth client) and an imported account.
        let install = json!({"oauth_client": {"client_id": "bench-client-id", "client_secret": "bench-client-secret"}});
        let (status, body) = server.call("PUT", &format!("/v1/installs/{}", example.integration), Some(&install)).await?;
        if !(200..300).contains(&status) {
            return Err(format!("PUT /v1/installs/{} answered {status}: {body}", example.integration));
        }
        let account = json!({
            "integration": example.integration,
            "connection": {},
            "credentials": {"access_token": "bench-access-token", "refresh_token": "bench-refresh-token", "expires_in": 3600},
            "verify": false
        });
        let (status, body) = server.call("POST", "/v1/accounts", Some(&account)).await?;
        if status != 201 {
            return Err(format!("POST /v1/accounts answered {status}: {body}"));
        }
        let id = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|b| b["id"].as_str().map(str::to_string))
            .ok_or_else(|| format!("POST /v1/accounts returned no id: {body}"))?;
        server.target =
            format!("/v1/unified/{}/{}?account_id={}&page_size={}", example.model, example.resource, encode(&id), support::RECORDS);

        // One call to check the shape before the load.
        mock.reset_first();
        let (status, body) = server.call("GET", &server.target.clone(), None).await?;
        let results = serde_json::from_str::<Value>(&body).ok().and_then(|b| b["results"].as_array().map(Vec::len));
        if status != 200 || results != Some(support::RECORDS) {
            return Err(format!("GET {} answered {status} with {results:?} results: {}", server.target, truncate(&body)));
        }
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(reason) = self.exited() {
                return Err(format!("`switchyard serve` exited ({reason}):\n{}", self.log_tail()));
            }
            if let Ok((200, _)) = self.call("GET", "/healthz", None).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("`switchyard serve` did not answer /healthz within 60 s:\n{}", self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One request on its own connection: status and body.
    async fn call(&self, method: &str, target: &str, body: Option<&Value>) -> Result<(u16, String), String> {
        let body = body.map(|b| b.to_string());
        let head = request_head(method, target, self.addr, Some(&self.api_key));
        let mut connection = Connection::open(self.addr).await.map_err(|e| format!("connect to the server: {e}"))?;
        let mut out = Vec::new();
        let status = connection.exchange(&head, body.as_deref().unwrap_or("").as_bytes(), &mut out).await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }

    /// `GET /metrics` from the metrics listener.
    async fn metrics(&self) -> Result<(u16, String), String> {
        let head = request_head("GET", "/metrics", self.metrics_addr, None);
        let mut connection = Connection::open(self.metrics_addr).await.map_err(|e| format!("connect to the metrics listener: {e}"))?;
        let mut out = Vec::new();
        let status = connection.exchange(&head, b"", &mut out).await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }

    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].iter().map(|l| format!("    | {l}\n")).collect()
    }
}

/// A base64 32-byte key for the server's sealed secrets (a throwaway database).
fn secret_key() -> String {
    use base64::Engine as _;
    let mut bytes = [7u8; 32];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut file, &mut bytes);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn truncate(text: &str) -> String {
    text.chars().take(400).collect()
}

// ---------------------------------------------------------------------------------------
// The load generator: a minimal HTTP/1.1 client, one keep-alive connection per worker.

fn request_head(method: &str, target: &str, addr: SocketAddr, bearer: Option<&str>) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n");
    if let Some(key) = bearer {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    head
}

struct Connection {
    stream: BufReader<TcpStream>,
    open: bool,
}

impl Connection {
    async fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream: BufReader::with_capacity(64 * 1024, stream), open: true })
    }

    /// Sends `head` (without its final blank line) and `body`, reads the whole response into
    /// `out`; returns the status. The connection stays usable unless the server closes it.
    async fn exchange(&mut self, head: &str, body: &[u8], out: &mut Vec<u8>) -> io::Result<u16> {
        let mut request = Vec::with_capacity(head.len() + body.len() + 64);
        request.extend_from_slice(head.as_bytes());
        if !body.is_empty() {
            request.extend_from_slice(format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()).as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await?;

        let mut line = Vec::with_capacity(256);
        self.read_line(&mut line).await?;
        let status = std::str::from_utf8(&line)
            .ok()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| invalid(format!("not an HTTP status line: {:?}", String::from_utf8_lossy(&line))))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            self.read_line(&mut line).await?;
            if line == b"\r\n" || line == b"\n" {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let Some((name, value)) = text.split_once(':') else { continue };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().map_err(|_| invalid(format!("bad content-length {value}")))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                self.open = false;
            }
        }
        out.clear();
        if chunked {
            loop {
                self.read_line(&mut line).await?;
                let size =
                    std::str::from_utf8(&line).ok().map(|l| l.trim().split(';').next().unwrap_or("").to_string()).unwrap_or_default();
                let size = usize::from_str_radix(&size, 16).map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
                if size == 0 {
                    // Trailers, up to the blank line.
                    loop {
                        self.read_line(&mut line).await?;
                        if line == b"\r\n" || line == b"\n" {
                            break;
                        }
                    }
                    break;
                }
                let start = out.len();
                out.resize(start + size, 0);
                self.stream.read_exact(&mut out[start..]).await?;
                self.read_line(&mut line).await?;
            }
        } else if let Some(length) = length {
            out.resize(length, 0);
            self.stream.read_exact(out).await?;
        } else if (100..200).contains(&status) || status == 204 || status == 304 {
        } else {
            self.stream.read_to_end(out).await?;
            self.open = false;
        }
        Ok(status)
    }

    async fn read_line(&mut self, line: &mut Vec<u8>) -> io::Result<()> {
        line.clear();
        if self.stream.read_until(b'\n', line).await? == 0 {
            self.open = false;
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection closed"));
        }
        Ok(())
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// One load run against one address.
struct Load {
    addr: SocketAddr,
    head: String,
}

#[derive(Default)]
struct Outcome {
    /// Latencies of the measured requests, in seconds, sorted.
    latencies: Vec<f64>,
    /// Failed requests (non-2xx or transport) in the measured window, and during the warm-up.
    errors: u64,
    warmup_errors: u64,
    first_error: Option<String>,
    seconds: f64,
}

impl Load {
    async fn run(&self, concurrency: usize, warmup: Duration, seconds: Duration) -> Outcome {
        let start = Instant::now() + Duration::from_millis(50);
        let measure_from = start + warmup;
        let until = measure_from + seconds;
        let mut workers = Vec::with_capacity(concurrency);
        for _ in 0..concurrency {
            let (addr, head) = (self.addr, self.head.clone());
            workers.push(tokio::spawn(async move { worker(addr, head, start, measure_from, until).await }));
        }
        let mut outcome = Outcome { seconds: seconds.as_secs_f64(), ..Outcome::default() };
        for worker in workers {
            let part = worker.await.expect("a worker panicked");
            outcome.latencies.extend(part.latencies);
            outcome.errors += part.errors;
            outcome.warmup_errors += part.warmup_errors;
            if outcome.first_error.is_none() {
                outcome.first_error = part.first_error;
            }
        }
        outcome.latencies.sort_by(f64::total_cmp);
        outcome
    }
}

async fn worker(addr: SocketAddr, head: String, start: Instant, measure_from: Instant, until: Instant) -> Outcome {
    tokio::time::sleep_until(start.into()).await;
    let mut outcome = Outcome::default();
    let mut connection: Option<Connection> = None;
    let mut body = Vec::with_capacity(128 * 1024);
    loop {
        let began = Instant::now();
        if began >= until {
            break;
        }
        let measured = began >= measure_from;
        let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
            if connection.as_ref().is_none_or(|c| !c.open) {
                connection = Some(Connection::open(addr).await?);
            }
            connection.as_mut().unwrap().exchange(&head, b"", &mut body).await
        })
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no response within 10 s")));
        let elapsed = began.elapsed().as_secs_f64();
        let failure = match result {
            Ok(status) if (200..300).contains(&status) => None,
            Ok(status) => Some(format!("HTTP {status}: {}", truncate(&String::from_utf8_lossy(&body)))),
            Err(e) => {
                connection = None;
                Some(format!("transport: {e}"))
            }
        };
        if measured {
            outcome.latencies.push(elapsed);
        }
        if let Some(failure) = failure {
            if measured {
                outcome.errors += 1;
            } else {
                outcome.warmup_errors += 1;
            }
            outcome.first_error.get_or_insert(failure);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    outcome
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    /// The `q` quantile (nearest rank), in seconds.
    fn percentile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }

    fn print(&self, name: &str) {
        println!(
            "  {name:<22} {:>9} {:>8} {:>11.1} {:>9.3} {:>9.3}",
            self.latencies.len(),
            self.errors,
            self.rate(),
            self.percentile(0.50) * 1e3,
            self.percentile(0.99) * 1e3
        );
        if self.warmup_errors > 0 {
            println!("    and {} failed during the warm-up", self.warmup_errors);
        }
        if let Some(error) = &self.first_error {
            println!("    first error: {error}");
        }
    }

    fn exit_code(&self) -> i32 {
        i32::from(self.errors + self.warmup_errors > 0)
    }
}
