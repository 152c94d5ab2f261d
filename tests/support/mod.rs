//! Support for runtime tests: compiling test definitions, and mock providers on loopback
//! that record every request and answer as the test says.
#![allow(dead_code)]

pub mod pages;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_compiler::project::{self, Options};
use switchyard_compiler::render;
use switchyard_registry::Registry;
use switchyard_runtime::engine::DirectRefresher;
use switchyard_runtime::engine::{Engine, EngineConfig};
use switchyard_runtime::error::RuntimeError;
use switchyard_runtime::http::{HttpTransport, Transport, TransportLimits, UpstreamRequest, UpstreamResponse};
use switchyard_runtime::pagination::CursorKey;

/// The fixed "now" of runtime tests: 2024-06-01T09:00:00Z.
pub const NOW: u64 = 1_717_232_400;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

/// Compiles `tests/runtime/definitions` (with the repository's unified models); panics
/// with the rendered diagnostics if they do not compile.
pub fn registry() -> Arc<Registry> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut options = Options::new(repo.join("tests/runtime/definitions"));
    options.models_dir = Some(repo.join("schemas/models"));
    let outcome = project::check(&options).expect("the definitions directory exists");
    if outcome.has_errors() {
        panic!("test definitions do not compile:\n{}", render::render_human(&outcome.diagnostics.items, &outcome.files, false));
    }
    Arc::new(outcome.registry.expect("no errors means a registry"))
}

/// An engine whose integrations all call the given mock, with a fixed clock and key.
pub fn engine(registry: Arc<Registry>, mock: &Mock) -> Engine {
    let mut config = EngineConfig { cursor_key: CursorKey::new([42; 32]), clock: Arc::new(now), ..EngineConfig::default() };
    for integration in &registry.integrations {
        config.origin_overrides.insert(integration.name.clone(), url::Url::parse(&mock.url).unwrap());
    }
    Engine::new(registry, config).expect("the engine starts")
}

/// A request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path exactly as sent (percent escapes kept).
    pub path: String,
    /// The query pairs, decoded.
    pub query: Vec<(String, String)>,
    /// The query string exactly as sent, if any.
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply { status, headers: vec![("content-type".into(), "application/json".into())], body: serde_json::to_vec(&body).unwrap() }
    }

    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, headers: vec![("content-type".into(), content_type.into())], body: body.into() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// A provider on 127.0.0.1: every request is recorded, then answered by the handler
/// (which gets the request and its 0-based index).
pub struct Mock {
    pub url: String,
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Mock {
    pub async fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Mock {
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = requests.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            let handler = handler.clone();
            async move {
                let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let request = Recorded {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    query,
                    raw_query: uri.query().map(str::to_string),
                    headers,
                    body,
                };
                let index = {
                    let mut all = recorded.lock().unwrap();
                    all.push(request.clone());
                    all.len() - 1
                };
                let reply = handler(&request, index);
                let mut response = axum::response::Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
                for (name, value) in &reply.headers {
                    response = response.header(name.as_str(), value.as_str());
                }
                response.body(axum::body::Body::from(reply.body)).unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Mock { url: format!("http://{addr}"), addr, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Recorded {
    /// The request's own origin as the client addressed it (`http://127.0.0.1:port`), for
    /// mocks that answer with absolute URLs (Link headers, next URLs).
    pub fn origin(&self) -> String {
        format!("http://{}", self.header("host").expect("HTTP/1.1 requests carry Host"))
    }
}

/// Provider-specific facts a test needs (header names, scheme names, documented bodies),
/// from `tests/runtime/definitions/<definition>/fixtures/facts.json`: they stay in data next
/// to the definition that imitates the provider, not in Rust sources.
pub fn facts(definition: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/runtime/definitions").join(definition).join("fixtures/facts.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A string fact (panics when absent).
pub fn fact(definition: &str, key: &str) -> String {
    facts(definition)[key].as_str().unwrap_or_else(|| panic!("no string fact `{key}` for {definition}")).to_string()
}

/// An engine whose integrations all call `origin` (which may have nothing listening).
pub fn engine_at(registry: Arc<Registry>, origin: &str) -> Engine {
    let mut config = EngineConfig { cursor_key: CursorKey::new([42; 32]), clock: Arc::new(now), ..EngineConfig::default() };
    for integration in &registry.integrations {
        config.origin_overrides.insert(integration.name.clone(), url::Url::parse(origin).unwrap());
    }
    Engine::new(registry, config).expect("the engine starts")
}

/// An engine without origin overrides whose transport sends each request to the mock
/// routed for its host (`routes`), or else to `default`: for tests where the host a request
/// was addressed to matters (a base URL taken from a token response).
pub fn engine_routed(registry: Arc<Registry>, default: &Mock, routes: &[(&str, &Mock)]) -> Engine {
    let config = EngineConfig { cursor_key: CursorKey::new([42; 32]), clock: Arc::new(now), ..EngineConfig::default() };
    let transport = Routed {
        inner: HttpTransport::new(TransportLimits::default()).unwrap(),
        default: url::Url::parse(&default.url).unwrap(),
        routes: routes.iter().map(|(host, mock)| (host.to_string(), url::Url::parse(&mock.url).unwrap())).collect(),
    };
    Engine::with_parts(registry, config, Arc::new(transport), Arc::new(DirectRefresher)).expect("the engine starts")
}

struct Routed {
    inner: HttpTransport,
    default: url::Url,
    routes: Vec<(String, url::Url)>,
}

impl Transport for Routed {
    fn send(
        &self,
        mut request: UpstreamRequest,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<UpstreamResponse, RuntimeError>> + Send + '_>> {
        let host = request.url.host_str().unwrap_or_default().to_string();
        let target = self.routes.iter().find(|(h, _)| *h == host).map(|(_, url)| url).unwrap_or(&self.default);
        let _ = request.url.set_scheme(target.scheme());
        let _ = request.url.set_host(target.host_str());
        let _ = request.url.set_port(target.port());
        self.inner.send(request, timeout)
    }
}

/// A bare HTTP/1.1 server on 127.0.0.1 (a std thread) for answers the mock cannot give:
/// bodies cut off mid-way, bodies larger than any limit. Each connection's request head is
/// read, then `respond` writes whatever bytes it likes and the connection is closed.
pub struct RawServer {
    pub url: String,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl RawServer {
    pub fn start(respond: impl Fn(&mut std::net::TcpStream) + Send + 'static) -> RawServer {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                respond(&mut stream);
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        RawServer { url, hits }
    }

    /// How many requests reached the server.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An address on 127.0.0.1 where nothing listens (bound, then released).
pub fn refused_origin() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Basic credentials as sent: `Basic base64(user:password)`.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64_encode(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (no dependency for one helper).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Recorded {
    /// The headers the engine chose, lowercased and sorted by name: everything but what
    /// the HTTP client adds by itself (host, user-agent, accept-encoding, content-length).
    pub fn app_headers(&self) -> Vec<(String, String)> {
        const TRANSPORT: [&str; 6] = ["host", "user-agent", "accept-encoding", "content-length", "transfer-encoding", "connection"];
        let mut out: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| !TRANSPORT.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str().to_string(), value.to_str().unwrap_or("<binary>").to_string()))
            .collect();
        out.sort();
        out
    }
}

/// `[(name, value)]` pairs as owned strings, for comparing with [`Recorded::app_headers`]
/// (give the names lowercased and sorted).
pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// An account of `integration` with connection fields and credentials.
pub fn account(integration: &str, connection: &[(&str, &str)], credentials: &[(&str, &str)]) -> switchyard_runtime::account::Account {
    switchyard_runtime::account::Account {
        integration: integration.to_string(),
        connection: connection.iter().copied().collect(),
        credentials: credentials.iter().copied().collect(),
        install: Default::default(),
        ..Default::default()
    }
}

/// The normalized rate-limit headers as owned pairs, for `assert_eq!`.
pub fn limit_headers(items: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    items.iter().map(|(n, v)| (*n, v.to_string())).collect()
}

/// An engine whose integrations all call `origin`, with the config adjusted by `adjust`
/// (timeouts, bounds) and transport limits of its own.
pub fn engine_configured(registry: Arc<Registry>, origin: &str, limits: TransportLimits, adjust: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig { cursor_key: CursorKey::new([42; 32]), clock: Arc::new(now), ..EngineConfig::default() };
    for integration in &registry.integrations {
        config.origin_overrides.insert(integration.name.clone(), url::Url::parse(origin).unwrap());
    }
    adjust(&mut config);
    let transport = HttpTransport::new(limits).unwrap();
    Engine::with_parts(registry, config, Arc::new(transport), Arc::new(DirectRefresher)).expect("the engine starts")
}

pub mod database;
pub mod nodes;
pub mod process;
pub mod server;
