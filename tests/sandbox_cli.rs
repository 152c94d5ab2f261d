//! `switchyard sandbox`: the built binary serves the example integration's fixtures on a free
//! loopback port. Recorded requests get their recorded bodies (a token exchange too, whatever
//! the client and tokens), an unknown path gets the JSON 404 listing what is recorded, and the
//! runtime itself, pointed at the sandbox as `switchyard serve --upstream` points it, verifies
//! the fixtures' account and walks a unified list to its second page.

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
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    (status, headers, body.to_string())
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
