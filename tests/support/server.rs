//! A Switchyard server in the test process, on loopback, with its own database (SQLite, or
//! Postgres with `SWITCHYARD_TEST_DB=postgres`: `super::database`), talking to mock providers;
//! and a small JSON client for its API.

use super::database::TestDatabase;
use super::Mock;
use serde_json::Value;
use std::sync::Arc;
use switchyard_registry::Registry;
use switchyard_server::{Running, ServerConfig};
use switchyard_store::Keyring;

pub struct TestServer {
    pub url: String,
    pub db: TestDatabase,
    pub running: Option<Running>,
    pub _dir: tempfile::TempDir,
    client: reqwest::Client,
}

/// An answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Panics with the body when the status is not `status`.
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

impl TestServer {
    /// Starts a server over `registry` whose integrations all call `mock`.
    pub async fn start(registry: Arc<Registry>, mock: &Mock) -> TestServer {
        let origins: Vec<(String, String)> = registry.integrations.iter().map(|i| (i.name.clone(), mock.url.clone())).collect();
        Self::start_with(registry, &origins, |_| {}).await
    }

    pub async fn start_with(registry: Arc<Registry>, origins: &[(String, String)], adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(dir.path());
        Self::start_on(db, dir, registry, origins, adjust).await
    }

    /// A server on `db` (e.g. a second server on another's database: `first.db.clone()`).
    pub async fn start_on(
        db: TestDatabase,
        dir: tempfile::TempDir,
        registry: Arc<Registry>,
        origins: &[(String, String)],
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestServer {
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), db.url());
        for (name, origin) in origins {
            config.upstreams.insert(name.clone(), url::Url::parse(origin).unwrap());
        }
        // `/metrics` is served on a listener of its own (tests read it with `metrics()`).
        config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        adjust(&mut config);
        let running = switchyard_server::start(config, registry, Some(test_keyring())).await.expect("the server starts");
        TestServer { url: format!("http://{}", running.addr), db, running: Some(running), _dir: dir, client: client() }
    }

    /// Creates an environment; returns its API key.
    pub fn environment(&self, name: &str) -> String {
        let created = switchyard_server::create_environment(&self.db.url(), name).unwrap();
        created["api_key"].as_str().unwrap().to_string()
    }

    pub async fn call(&self, key: &str, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        answer(request.send().await.expect("the server answers")).await
    }

    /// Installs `integration` in the key's environment with the team's OAuth client.
    pub async fn install(&self, key: &str, integration: &str, client_id: &str, client_secret: &str) {
        let body = serde_json::json!({ "oauth_client": { "client_id": client_id, "client_secret": client_secret } });
        self.call(key, "PUT", &format!("/v1/installs/{integration}"), Some(&body)).await.expect(200);
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Answer {
        answer(request.send().await.expect("the server answers")).await
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    pub async fn get(&self, key: &str, path: &str) -> Answer {
        self.call(key, "GET", path, None).await
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> Answer {
        self.call(key, "POST", path, Some(body)).await
    }

    /// `GET /metrics` from the server's metrics listener (no API key).
    pub async fn metrics(&self) -> Answer {
        let addr = self.running.as_ref().and_then(|r| r.metrics_addr).expect("the test server has a metrics listener");
        answer(self.client.get(format!("http://{addr}/metrics")).send().await.expect("the metrics listener answers")).await
    }

    /// Stops the server gracefully; the returned directory keeps its database until dropped.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
        self._dir
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, headers, body, text }
}

/// The secret key of test servers (fixed, so two servers in one test share it).
pub fn test_keyring() -> Keyring {
    Keyring::new(1, &TEST_KEY)
}

pub const TEST_KEY: [u8; 32] = [7; 32];

/// `TEST_KEY` base64-encoded, for `SWITCHYARD_SECRET_KEY` of server processes.
pub fn test_key_env() -> String {
    super::base64_encode(&TEST_KEY)
}
