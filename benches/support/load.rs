//! The server under load, shared by the load benches (`server_load`, `storage_backends`): the
//! mock provider, the server as a subprocess of the built binary set up through its public
//! interface, and the load generator (a minimal HTTP/1.1 client on keep-alive connections).
//!
//! - [`Mock`] (in the bench's process, axum) answers the example integration's list endpoint
//!   (tests/examples.json `list_path`) with one fixed page, and counts its requests.
//! - [`Server::start`] runs `switchyard serve --listen 127.0.0.1:PORT --metrics-listen
//!   127.0.0.1:PORT --db DB --upstream NAME=MOCK` with a throwaway `SWITCHYARD_SECRET_KEY`, where
//!   DB is what `--db` takes (an SQLite path or a `postgres://` URL), after `switchyard env create`
//!   on that database for an API key; then `PUT /v1/installs/{integration}` and `POST
//!   /v1/accounts` (an imported token, not verified), and one list call to check the shape.
//!   [`Server::join`] starts another node on the same database with the same secret key, API key
//!   and account (no `env create`, no setup), and checks the shape through it too.
//! - [`Load::run`] runs workers for a time after a warm-up, spread evenly over its targets (one
//!   address each), and returns the measured latencies and the failures ([`Outcome`]).

use crate::common;
use crate::support;
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

/// A number from the environment, or `default`; panics on one that is not a number.
pub fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("{name}={text} is not a number")),
        Err(_) => default,
    }
}

pub fn verdict(pass: bool) -> &'static str {
    if pass {
        "PASS"
    } else {
        "MISS"
    }
}

// ---------------------------------------------------------------------------------------
// The mock provider.

pub struct Mock {
    pub addr: SocketAddr,
    pub origin: String,
    pub requests: Arc<AtomicU64>,
    /// The first request line that reached the mock after it was reset (what the server sends).
    first: Arc<Mutex<Option<String>>>,
}

impl Mock {
    pub async fn start(list_path: &str, page: Vec<u8>) -> Mock {
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

    pub fn reset_first(&self) {
        *self.first.lock().unwrap() = None;
    }

    pub fn first_seen(&self) -> Option<String> {
        self.first.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------
// The server, as a subprocess of the built binary.

/// An SQLite database file in a temporary directory of its own (removed when dropped).
pub struct SqliteFile {
    _dir: tempfile::TempDir,
    /// What `--db` takes: the file's path.
    pub path: String,
}

impl SqliteFile {
    pub fn new() -> Result<SqliteFile, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("x.db").display().to_string();
        Ok(SqliteFile { _dir: dir, path })
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The metrics listener (`--metrics-listen`): the API listener does not serve `/metrics`.
    pub metrics_addr: SocketAddr,
    pub api_key: String,
    /// `/v1/unified/{model}/{resource}?account_id=…&page_size=100`
    pub target: String,
    /// What `--db` was given (an SQLite path or a Postgres URL).
    db: String,
    /// The base64 `SWITCHYARD_SECRET_KEY` (every node on one database shares it).
    secret_key: String,
    /// The server's log (its stdout and stderr).
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The first node on `db` (what `--db` takes): an environment and its API key through
    /// `switchyard env create`, the server, the install and an account, and one list call.
    pub async fn start(mock: &Mock, example: &common::Example, db: &str) -> Result<Server, String> {
        let key = secret_key();
        let binary = env!("CARGO_BIN_EXE_switchyard");

        // An environment and its API key.
        let output = Command::new(binary)
            .args(["env", "create", "bench", "--db", db])
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

        let mut server = Server::spawn(mock, example, db, key, api_key).await?;

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

        server.check_shape(mock).await?;
        Ok(server)
    }

    /// Another node on this node's database: the same secret key, API key and account (nothing
    /// is created), and one list call through it.
    pub async fn join(&self, mock: &Mock, example: &common::Example) -> Result<Server, String> {
        let mut server = Server::spawn(mock, example, &self.db, self.secret_key.clone(), self.api_key.clone()).await?;
        server.target = self.target.clone();
        server.check_shape(mock).await?;
        Ok(server)
    }

    /// `switchyard serve` on free ports, once it answers `/healthz`.
    async fn spawn(mock: &Mock, example: &common::Example, db: &str, key: String, api_key: String) -> Result<Server, String> {
        let binary = env!("CARGO_BIN_EXE_switchyard");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args(["serve", "--listen", &addr.to_string(), "--metrics-listen", &metrics_addr.to_string(), "--db", db, "--upstream"])
            .arg(format!("{}={}", example.integration, mock.origin))
            .env("SWITCHYARD_SECRET_KEY", &key)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start `switchyard serve`: {e}"))?;
        let mut server = Server { child, addr, metrics_addr, api_key, target: String::new(), db: db.to_string(), secret_key: key, dir };
        server.wait_ready().await?;
        Ok(server)
    }

    /// One call to check the shape before the load.
    async fn check_shape(&self, mock: &Mock) -> Result<(), String> {
        mock.reset_first();
        let (status, body) = self.call("GET", &self.target, None).await?;
        let results = serde_json::from_str::<Value>(&body).ok().and_then(|b| b["results"].as_array().map(Vec::len));
        if status != 200 || results != Some(support::RECORDS) {
            return Err(format!("GET {} answered {status} with {results:?} results: {}", self.target, truncate(&body)));
        }
        Ok(())
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
    pub async fn call(&self, method: &str, target: &str, body: Option<&Value>) -> Result<(u16, String), String> {
        let body = body.map(|b| b.to_string());
        let head = request_head(method, target, self.addr, Some(&self.api_key));
        let mut connection = Connection::open(self.addr).await.map_err(|e| format!("connect to the server: {e}"))?;
        let mut out = Vec::new();
        let status = connection.exchange(&head, body.as_deref().unwrap_or("").as_bytes(), &mut out).await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }

    /// `GET /metrics` from the metrics listener.
    pub async fn metrics(&self) -> Result<(u16, String), String> {
        let head = request_head("GET", "/metrics", self.metrics_addr, None);
        let mut connection = Connection::open(self.metrics_addr).await.map_err(|e| format!("connect to the metrics listener: {e}"))?;
        let mut out = Vec::new();
        let status = connection.exchange(&head, b"", &mut out).await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }

    /// The exchange log's dropped counter from `/metrics` (the log is written off the request
    /// path; a writer that fell behind drops entries), as text: the number, or why there is none.
    pub async fn exchange_log_dropped(&self) -> String {
        match self.metrics().await {
            Ok((200, text)) => text
                .lines()
                .find(|l| l.starts_with("switchyard_exchange_log_dropped_total ") || l.starts_with("exchange_log_dropped_total "))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
                .unwrap_or_else(|| "not reported".into()),
            Ok((status, _)) => format!("not read (HTTP {status})"),
            Err(e) => format!("not read ({e})"),
        }
    }

    /// The load generator's target: this node's list call with its API key.
    pub fn load_target(&self) -> Target {
        Target { addr: self.addr, head: request_head("GET", &self.target, self.addr, Some(&self.api_key)) }
    }

    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].iter().map(|l| format!("    | {l}\n")).collect()
    }
}

/// A base64 32-byte key for the server's sealed secrets (a throwaway database).
pub fn secret_key() -> String {
    use base64::Engine as _;
    let mut bytes = [7u8; 32];
    if let Ok(mut file) = std::fs::File::open("/dev/urandom") {
        let _ = io::Read::read_exact(&mut file, &mut bytes);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub fn truncate(text: &str) -> String {
    text.chars().take(400).collect()
}

// ---------------------------------------------------------------------------------------
// The load generator: a minimal HTTP/1.1 client, one keep-alive connection per worker.

pub fn request_head(method: &str, target: &str, addr: SocketAddr, bearer: Option<&str>) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n");
    if let Some(key) = bearer {
        head.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    head
}

pub struct Connection {
    stream: BufReader<TcpStream>,
    open: bool,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream: BufReader::with_capacity(64 * 1024, stream), open: true })
    }

    /// Sends `head` (without its final blank line) and `body`, reads the whole response into
    /// `out`; returns the status. The connection stays usable unless the server closes it.
    pub async fn exchange(&mut self, head: &str, body: &[u8], out: &mut Vec<u8>) -> io::Result<u16> {
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

/// One address and the request head sent to it.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub head: String,
}

/// One load run: its workers spread evenly over the targets (worker `i` sends to target
/// `i % targets`).
pub struct Load {
    pub targets: Vec<Target>,
}

#[derive(Default)]
pub struct Outcome {
    /// Latencies of the measured requests, in seconds, sorted.
    pub latencies: Vec<f64>,
    /// Failed requests (non-2xx or transport) in the measured window, and during the warm-up.
    pub errors: u64,
    pub warmup_errors: u64,
    pub first_error: Option<String>,
    pub seconds: f64,
    /// Measured requests sent to each target.
    pub by_target: Vec<usize>,
}

impl Load {
    /// A run against one address.
    pub fn new(addr: SocketAddr, head: String) -> Load {
        Load { targets: vec![Target { addr, head }] }
    }

    pub async fn run(&self, concurrency: usize, warmup: Duration, seconds: Duration) -> Outcome {
        let start = Instant::now() + Duration::from_millis(50);
        let measure_from = start + warmup;
        let until = measure_from + seconds;
        let mut workers = Vec::with_capacity(concurrency);
        for i in 0..concurrency {
            let target = &self.targets[i % self.targets.len()];
            let (addr, head) = (target.addr, target.head.clone());
            workers.push((i % self.targets.len(), tokio::spawn(async move { worker(addr, head, start, measure_from, until).await })));
        }
        let mut outcome = Outcome { seconds: seconds.as_secs_f64(), by_target: vec![0; self.targets.len()], ..Outcome::default() };
        for (target, worker) in workers {
            let part = worker.await.expect("a worker panicked");
            outcome.by_target[target] += part.latencies.len();
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
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    /// The `q` quantile (nearest rank), in seconds.
    pub fn percentile(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }

    pub fn print(&self, name: &str) {
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

    pub fn exit_code(&self) -> i32 {
        i32::from(self.errors + self.warmup_errors > 0)
    }
}
