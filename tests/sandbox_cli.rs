//! `switchyard sandbox`: the built binary serves the example integration's fixtures on a free
//! loopback port. Recorded requests get their recorded bodies (a token exchange too, whatever
//! the client and tokens), an unknown path gets the JSON 404 listing what is recorded, and the
//! runtime itself, pointed at the sandbox as `switchyard serve --upstream` points it, verifies
//! the fixtures' account and walks a unified list to its second page. Then the README's
//! quickstart, as printed by the sandbox: `switchyard serve --upstream`, `env create`, the
//! install and the verified account from the banner, and a unified list across two pages.

mod common;

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use switchyard_compiler::fixture::load_fixture;
use switchyard_compiler::fixture::suite::Project;
use switchyard_compiler::project::Options;
use switchyard_runtime::engine::{Engine, EngineConfig, ListRequest};
use switchyard_runtime::registry::HttpMethod;
use switchyard_runtime::replay::{Exchange, Fixture};

/// The sandbox process, killed when dropped (also when an assertion fails).
struct Sandbox {
    child: Child,
    origin: String,
    banner: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(integration: &str) -> Sandbox {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["sandbox", integration, "--listen", "127.0.0.1:0", "--dir"])
        .arg(common::repo().join("integrations"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchyard sandbox");
    let stdout = child.stdout.take().unwrap();
    let mut sandbox = Sandbox { child, origin: String::new(), banner: String::new() };
    let mut lines = BufReader::new(stdout).lines();
    // The banner ends with the line about Ctrl-C; its first line names the origin.
    for line in lines.by_ref() {
        let line = line.expect("read the sandbox's output");
        sandbox.banner.push_str(&line);
        sandbox.banner.push('\n');
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let first = sandbox.banner.lines().next().unwrap_or_default().to_string();
    let start = first.find("http://").unwrap_or_else(|| panic!("the sandbox printed no origin:\n{}", sandbox.banner));
    sandbox.origin = first[start..].split_whitespace().next().unwrap().to_string();
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    sandbox
}

/// A plain HTTP/1.1 exchange (one request per connection): status, headers, body.
fn http(origin: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> (u16, HashMap<String, String>, String) {
    let address = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect to the sandbox");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read the response");
    let text = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: HashMap<String, String> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let body = if headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) { dechunk(body) } else { body.to_string() };
    (status, headers, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}

fn fixtures(integration: &str) -> Vec<(String, Fixture)> {
    let dir = common::repo().join("integrations").join(integration).join("fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    let mut files = Vec::new();
    paths
        .iter()
        .map(|path| {
            let (loaded, diagnostics) = load_fixture(path, &path.display().to_string(), &[], &mut files);
            let loaded = loaded.unwrap_or_else(|| panic!("{}: {diagnostics:?}", path.display()));
            (path.file_stem().unwrap().to_string_lossy().into_owned(), loaded.fixture)
        })
        .collect()
}

/// `path?query` of a recorded request, the query encoded.
fn target(exchange: &Exchange) -> String {
    let mut url = url::Url::parse("http://x.invalid").unwrap();
    url.set_path(&exchange.request.path);
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in &exchange.request.query {
            for v in value.values() {
                query.append_pair(name, v);
            }
        }
    }
    let text = url.to_string();
    text.trim_start_matches("http://x.invalid").trim_end_matches('?').to_string()
}

fn recorded_body(exchange: &Exchange) -> Value {
    exchange.response.body.clone().expect("a JSON body")
}

#[test]
fn serves_recorded_exchanges_and_lists_them_on_a_miss() {
    let example = common::example();
    let sandbox = start(&example.integration);
    assert!(
        sandbox.banner.contains(&format!("switchyard serve --upstream {}={}", example.integration, sandbox.origin)),
        "{}",
        sandbox.banner
    );
    assert!(sandbox.banner.contains("\"verify\": true"), "the banner shows an example account:\n{}", sandbox.banner);

    // Both pages of the two-page list case, with a credential the fixture never saw.
    let cases = fixtures(&example.integration);
    let (_, list) = cases.iter().find(|(name, _)| *name == example.list_case).expect("the example list case");
    for exchange in &list.exchanges {
        let (status, headers, body) = http(
            &sandbox.origin,
            "GET",
            &target(exchange),
            &[("Authorization", "Bearer some-other-token"), ("Accept", "application/json")],
            "",
        );
        assert_eq!(status, exchange.response.status);
        assert!(headers.get("content-type").is_some_and(|t| t.contains("json")), "{headers:?}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), recorded_body(exchange), "GET {}", target(exchange));
    }

    // The token endpoint: a refresh with another client and refresh token still gets the
    // recorded token response.
    let token = cases
        .iter()
        .flat_map(|(_, f)| &f.exchanges)
        .find(|e| {
            e.request.method == HttpMethod::Post
                && e.request.form.as_ref().is_some_and(|f| f.get("grant_type").map(String::as_str) == Some("refresh_token"))
        })
        .expect("a recorded refresh");
    let form = "grant_type=refresh_token&refresh_token=another-refresh&client_id=my-own-client&client_secret=my-own-secret";
    let (status, _, body) =
        http(&sandbox.origin, "POST", &token.request.path, &[("Content-Type", "application/x-www-form-urlencoded")], form);
    assert_eq!(status, token.response.status);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), recorded_body(token));

    // Anything else: a JSON 404 that lists what the sandbox answers.
    let (status, headers, body) = http(&sandbox.origin, "GET", "/no/such/path?x=1", &[], "");
    assert_eq!(status, 404);
    assert_eq!(headers.get("content-type").map(String::as_str), Some("application/json"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["kind"], "not_found");
    assert_eq!(body["error"]["request"], "GET /no/such/path?x=1");
    let recorded = body["recorded"].as_array().unwrap();
    let list_path = example.str("list_path");
    assert!(recorded.iter().any(|e| e["method"] == "GET" && e["path"] == list_path), "{body:#}");
    assert!(recorded.iter().any(|e| e["method"] == "POST" && e["path"] == token.request.path.as_str()), "{body:#}");
    // A recorded path with another method is not an answer either.
    assert_eq!(http(&sandbox.origin, "DELETE", list_path, &[], "").0, 404);
}

#[test]
fn the_runtime_pointed_at_it_verifies_an_account_and_lists_two_pages() {
    let example = common::example();
    let sandbox = start(&example.integration);
    let project = Project::load(&Options::new(common::repo().join("integrations")), false).expect("the bundled project compiles");
    let mut config = EngineConfig::default();
    config.origin_overrides.insert(example.integration.clone(), url::Url::parse(&sandbox.origin).unwrap());
    let engine = Engine::new(Arc::clone(&project.registry), config).unwrap();
    let cases = fixtures(&example.integration);
    let (_, list) = cases.iter().find(|(name, _)| *name == example.list_case).unwrap();
    // The fixture's account expired long ago: the engine refreshes it through the sandbox first.
    let account = list.account.to_account(&example.integration).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let verified = engine.verify(&account).await.unwrap_or_else(|e| panic!("verify against the sandbox: {e:?}"));
        assert_eq!(verified.status, 200);
        let first = engine
            .list(&account, &example.model, &example.resource, &ListRequest { page_size: None, cursor: None, query: Map::new() })
            .await
            .unwrap_or_else(|e| panic!("page 1: {e:?}"));
        assert!(!first.results.is_empty());
        let cursor = first.next_cursor.clone().expect("page 1 has a next cursor");
        let second = engine
            .list(&account, &example.model, &example.resource, &ListRequest { page_size: None, cursor: Some(cursor), query: Map::new() })
            .await
            .unwrap_or_else(|e| panic!("page 2: {e:?}"));
        assert!(!second.results.is_empty());
        let ids = |page: &[Value]| page.iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
        assert_ne!(ids(&first.results), ids(&second.results), "page 2 is another page");
    });
}

/// The `-d '…'` bodies of the banner's curl commands, in order (install, then account).
fn banner_bodies(banner: &str) -> Vec<Value> {
    banner
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-d '").and_then(|rest| rest.strip_suffix('\'')))
        .map(|json| serde_json::from_str(&json.replace("'\\''", "'")).expect("the banner's bodies are JSON"))
        .collect()
}

/// `switchyard serve`, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_quickstart_runs_against_the_sandbox() {
    let example = common::example();
    let sandbox = start(&example.integration);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("quickstart.db").display().to_string();
    let secret_key = "c3dpdGNoeWFyZC1xdWlja3N0YXJ0LXRlc3Qta2V5ISE="; // 32 bytes, base64
    let binary = env!("CARGO_BIN_EXE_switchyard");

    let created =
        Command::new(binary).args(["env", "create", "demo", "--db", &db]).env("SWITCHYARD_SECRET_KEY", secret_key).output().unwrap();
    assert!(created.status.success(), "env create: {}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).expect("env create prints JSON");
    let key = created["api_key"].as_str().expect("an api_key").to_string();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server_origin = format!("http://127.0.0.1:{port}");
    let _server = Server(
        Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db", &db, "--upstream"])
            .arg(format!("{}={}", example.integration, sandbox.origin))
            .env("SWITCHYARD_SECRET_KEY", secret_key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || http(&server_origin, "GET", "/healthz", &[], "").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    let auth = format!("Bearer {key}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    let bodies = banner_bodies(&sandbox.banner);
    let (install, account) = match bodies.as_slice() {
        [install, account] => (install, account),
        other => panic!("expected an install and an account body in the banner, got {other:?}:\n{}", sandbox.banner),
    };
    assert_eq!(account["verify"], true);
    let (status, _, body) = http(&server_origin, "PUT", &format!("/v1/installs/{}", example.integration), &headers, &install.to_string());
    assert!((200..300).contains(&status), "PUT install: {status} {body}");
    let (status, _, body) = http(&server_origin, "POST", "/v1/accounts", &headers, &account.to_string());
    assert_eq!(status, 201, "POST /v1/accounts with verify: {body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().expect("the account's id").to_string();

    let list = format!("/v1/unified/{}/{}?account_id={id}", example.model, example.resource);
    let (status, _, body) = http(&server_origin, "GET", &list, &headers, "");
    assert_eq!(status, 200, "page 1: {body}");
    let first: Value = serde_json::from_str(&body).unwrap();
    assert!(!first["results"].as_array().unwrap().is_empty(), "{first:#}");
    let cursor = first["next_cursor"].as_str().expect("page 1 has a next_cursor");
    let cursor: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let (status, _, body) = http(&server_origin, "GET", &format!("{list}&cursor={cursor}"), &headers, "");
    assert_eq!(status, 200, "page 2: {body}");
    let second: Value = serde_json::from_str(&body).unwrap();
    assert!(!second["results"].as_array().unwrap().is_empty(), "{second:#}");
    assert_ne!(first["results"][0]["id"], second["results"][0]["id"], "page 2 is another page");
}
