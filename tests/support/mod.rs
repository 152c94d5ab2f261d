//! Support for runtime tests: compiling test definitions, and mock providers on loopback
//! that record every request and answer as the test says.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchyard_compiler::project::{self, Options};
use switchyard_compiler::render;
use switchyard_runtime::engine::{Engine, EngineConfig};
use switchyard_runtime::pagination::CursorKey;
use switchyard_runtime::registry::Registry;

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
    pub path: String,
    pub query: Vec<(String, String)>,
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
                let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
                let request = Recorded { method: method.to_string(), path: uri.path().to_string(), query, headers, body };
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
