//! `switchyard sandbox`: the built binary serves the example integration's fixtures on a free
//! loopback port. Recorded requests get their recorded bodies, with the provider's origins in
//! them pointing back to the sandbox (a token exchange too, whatever the client and tokens),
//! an unknown path gets the JSON 404 listing what is recorded, and the runtime itself, pointed
//! at the sandbox as `switchyard serve --upstream` points it, verifies the fixtures' account and
//! walks a unified list to its second page. Then the README's quickstart, as printed by the
//! sandbox: `switchyard serve --upstream`, `env create`, the install and the verified account
//! from the banner, and a unified list across two pages: for the example integration, for every
//! integration that pages through the Link header (found in the compiled registry; its next URL
//! must come back on the sandbox's origin), and for every bundled integration at once (an import
//! with `verify: true` and a list, its second page when the banner shows one), against one
//! server. No provider is named here: what is provider-specific comes from the definitions,
//! their fixtures and snapshots, and `tests/examples.json`.

mod common;

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use switchyard_compiler::project::Options;
use switchyard_fixtures::load_fixture;
use switchyard_fixtures::replay::{Exchange, Fixture, OriginRewrite, ProviderOrigins};
use switchyard_fixtures::suite::Project;
use switchyard_registry::HttpMethod;
use switchyard_registry::Pagination;
use switchyard_runtime::engine::{Engine, EngineConfig, ListRequest};

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
    let mut request = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {address}\r\n"));
    }
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
    // The cases only: `fixtures/sandbox/` holds the sandbox's own exchanges.
    let mut paths: Vec<_> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect();
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

/// The bundled project, compiled once for the tests that need the definitions.
fn project() -> &'static Project {
    static PROJECT: std::sync::OnceLock<Project> = std::sync::OnceLock::new();
    PROJECT.get_or_init(|| Project::load(&Options::new(common::repo().join("integrations")), false).expect("the bundled project compiles"))
}

/// What the sandbox does to every answer: the integration's origins (from its definition and
/// fixtures) rewritten to `origin`.
fn rewrite_to(integration: &str, cases: &[(String, Fixture)], origin: &str) -> OriginRewrite {
    let definition = project().registry.integration(integration).expect("a bundled integration");
    let origins = ProviderOrigins::with_fixtures(definition, cases.iter().map(|(_, f)| f));
    OriginRewrite::new(origins, &url::Url::parse(origin).unwrap())
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

    // Both pages of the two-page list case, with a credential the fixture never saw. The
    // bodies are the recorded ones with the provider's origins rewritten to the sandbox's.
    let cases = fixtures(&example.integration);
    let rewrite = rewrite_to(&example.integration, &cases, &sandbox.origin);
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
        let served: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(served, rewrite.response(&exchange.response).body.unwrap(), "GET {}", target(exchange));
        let recorded = recorded_body(exchange).to_string();
        for origin in rewrite.origins().describe() {
            assert!(!body.contains(&format!("{origin}/")), "{origin} is rewritten in {body}");
            if recorded.contains(&format!("{origin}/")) {
                assert!(body.contains(&format!("{}/", sandbox.origin)), "{body}");
            }
        }
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
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), rewrite.response(&token.response).body.unwrap());

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
    let project = project();
    let mut config = EngineConfig::default();
    config.origin_overrides.insert(example.integration.clone(), url::Url::parse(&sandbox.origin).unwrap());
    let engine = Engine::new(Arc::clone(&project.registry), config).unwrap();
    let cases = fixtures(&example.integration);
    let (_, list) = cases.iter().find(|(name, _)| *name == example.list_case).unwrap();
    // The fixture's account expired long ago: the engine refreshes it through the sandbox first.
    let definition = project.registry.integration(&example.integration).expect("the example integration");
    let account = list.account.to_account(definition).unwrap();
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
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("-d '")?;
            // The account's line goes on into `| python3 …`, which reads its id.
            Some(rest.split_once("' | ").map(|(json, _)| json).or_else(|| rest.strip_suffix('\''))?.to_string())
        })
        .map(|json| serde_json::from_str(&json.replace("'\\''", "'")).expect("the banner's bodies are JSON"))
        .collect()
}

/// The banner's unified list calls: the first page's target (`$ACCOUNT` still in it) and whether
/// it shows a second page (a `cursor=<that next_cursor>` call).
fn banner_list(banner: &str) -> (String, bool) {
    let targets: Vec<String> = banner
        .lines()
        .filter(|l| l.trim_start().starts_with("curl -s \"$SERVER/v1/unified/"))
        .map(|l| l.split('"').nth(1).unwrap().trim_start_matches("$SERVER").to_string())
        .collect();
    match targets.as_slice() {
        [first] => (first.clone(), false),
        [first, second] => {
            assert_eq!(second.strip_suffix("&cursor=<that next_cursor>"), Some(first.as_str()), "{banner}");
            (first.clone(), true)
        }
        other => panic!("expected one or two list calls in the banner, got {other:?}:\n{banner}"),
    }
}

/// `switchyard serve` on a free loopback port, with these `--upstream`s and its own database
/// and environment; killed when dropped.
struct Server {
    child: Child,
    origin: String,
    /// The environment's API key, as `Authorization: Bearer`.
    auth: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SECRET_KEY: &str = "c3dpdGNoeWFyZC1xdWlja3N0YXJ0LXRlc3Qta2V5ISE="; // 32 bytes, base64

fn serve(upstreams: &[(String, String)]) -> Server {
    let binary = env!("CARGO_BIN_EXE_switchyard");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("quickstart.db").display().to_string();
    let created =
        Command::new(binary).args(["env", "create", "demo", "--db", &db]).env("SWITCHYARD_SECRET_KEY", SECRET_KEY).output().unwrap();
    assert!(created.status.success(), "env create: {}", String::from_utf8_lossy(&created.stderr));
    let created: Value = serde_json::from_slice(&created.stdout).expect("env create prints JSON");
    let auth = format!("Bearer {}", created["api_key"].as_str().expect("an api_key"));

    let mut command = Command::new(binary);
    command.args(["serve", "--listen", "127.0.0.1:0", "--db", &db]);
    for (name, origin) in upstreams {
        command.arg("--upstream").arg(format!("{name}={origin}"));
    }
    let mut child = command
        .env("SWITCHYARD_SECRET_KEY", SECRET_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchyard serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut server = Server { child, origin: String::new(), auth, _dir: dir };
    for line in lines.by_ref() {
        if let Some(origin) = line.expect("read the server's output").strip_prefix("listening on ") {
            server.origin = origin.trim().to_string();
            break;
        }
    }
    assert!(server.origin.starts_with("http://"), "the server printed no origin");
    std::thread::spawn(move || lines.for_each(drop));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(server.origin.trim_start_matches("http://")).is_err() || server.call("GET", "/healthz", "").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

impl Server {
    /// A call with the environment's key; the body as JSON when it is JSON, else as a string.
    fn call(&self, method: &str, target: &str, body: &str) -> (u16, Value) {
        let headers = [("Authorization", self.auth.as_str()), ("Content-Type", "application/json")];
        let (status, _, text) = http(&self.origin, method, target, &headers, body);
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// The banner's quickstart up to the import: the install (when the banner shows one) and
    /// the account with `verify: true`. Returns the account's id.
    fn import(&self, integration: &str, banner: &str) -> Result<String, String> {
        let bodies = banner_bodies(banner);
        let account = bodies.last().ok_or_else(|| format!("no account body in the banner:\n{banner}"))?;
        if account["verify"] != true {
            return Err(format!("the banner's account is not verified: {account}"));
        }
        if let [install, _] = bodies.as_slice() {
            let (status, body) = self.call("PUT", &format!("/v1/installs/{integration}"), &install.to_string());
            if !(200..300).contains(&status) {
                return Err(format!("PUT install: {status} {body}"));
            }
        }
        let (status, body) = self.call("POST", "/v1/accounts", &account.to_string());
        if status != 201 {
            return Err(format!("POST /v1/accounts with verify: {status} {body}"));
        }
        body["id"].as_str().map(str::to_string).ok_or_else(|| format!("no account id in {body}"))
    }

    /// The banner's list call for `account`, then its second page when the banner shows one.
    fn list(&self, banner: &str, account: &str) -> Result<Vec<Value>, String> {
        let (first, paged) = banner_list(banner);
        let first = first.replace("$ACCOUNT", account);
        let (status, page) = self.call("GET", &first, "");
        if status != 200 {
            return Err(format!("GET {first}: {status} {page}"));
        }
        if !paged {
            return Ok(vec![page]);
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            return Err(format!("GET {first}: the banner shows a second page, but page 1 has no next_cursor: {page}"));
        };
        let cursor: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
        let second = format!("{first}&cursor={cursor}");
        let (status, next) = self.call("GET", &second, "");
        if status != 200 {
            return Err(format!("GET {second}: {status} {next}"));
        }
        Ok(vec![page, next])
    }
}

fn ids(page: &Value) -> Vec<Value> {
    page["results"].as_array().map(|r| r.iter().map(|r| r["id"].clone()).collect()).unwrap_or_default()
}

#[test]
fn the_quickstart_runs_against_the_sandbox() {
    let example = common::example();
    let sandbox = start(&example.integration);
    let server = serve(&[(example.integration.clone(), sandbox.origin.clone())]);
    let account = server.import(&example.integration, &sandbox.banner).unwrap_or_else(|e| panic!("{e}"));
    let pages = server.list(&sandbox.banner, &account).unwrap_or_else(|e| panic!("{e}"));
    let [first, second] = pages.as_slice() else { panic!("the banner shows one page only:\n{}", sandbox.banner) };
    assert!(banner_list(&sandbox.banner).0.starts_with(&format!("/v1/unified/{}/{}?", example.model, example.resource)));
    assert!(!ids(first).is_empty(), "{first:#}");
    assert!(!ids(second).is_empty(), "{second:#}");
    assert_ne!(ids(first), ids(second), "page 2 is another page");
}

/// The bundled integrations that page through the Link header (the definition's pagination, or
/// a method's), from the compiled registry.
fn link_header_integrations() -> Vec<String> {
    let link = |p: &Option<Pagination>| p.as_ref().is_some_and(|p| p.type_name() == "link_header");
    project()
        .registry
        .integrations
        .iter()
        .filter(|i| link(&i.pagination) || i.resources.values().flat_map(|r| r.methods.values()).any(|m| link(&m.pagination)))
        .map(|i| i.name.clone())
        .collect()
}

/// The `rel="next"` URL of a `Link` header value.
fn next_link(link: &str) -> Option<url::Url> {
    let mut rest = link;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        rest = &rest[close + 1..];
        let params = rest.split('<').next().unwrap_or_default();
        if params.split([';', ',']).any(|p| p.trim().replace('"', "") == "rel=next") {
            return url::Url::parse(target).ok();
        }
    }
    None
}

/// Sorted `name=value` pairs of a recorded request's query.
fn recorded_query(exchange: &Exchange) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = exchange
        .request
        .query
        .iter()
        .flat_map(|(name, value)| value.values().into_iter().map(move |v| (name.clone(), v.to_string())))
        .collect();
    pairs.sort();
    pairs
}

/// A recorded walk over two pages through the Link header: a list case whose two exchanges
/// succeed, the first answer's `Link` header having a `rel="next"` URL that is the second
/// request (same path, same query). Returns the case's name, the fixture, that header as
/// recorded, and the next URL.
fn link_walk(cases: &[(String, Fixture)]) -> Option<(&str, &Fixture, String, url::Url)> {
    cases.iter().find_map(|(name, fixture)| {
        let [first, second] = fixture.exchanges.as_slice() else { return None };
        if fixture.call.method != switchyard_fixtures::replay::CallMethod::List
            || fixture.exchanges.iter().any(|e| e.response.status >= 400)
        {
            return None;
        }
        let link = first.response.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("link"))?.1.values()[0].to_string();
        let next = next_link(&link)?;
        let mut query: Vec<(String, String)> = next.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        query.sort();
        (next.path() == second.request.path && query == recorded_query(second)).then(|| (name.as_str(), fixture, link, next))
    })
}

/// The unified ids of each page of a case's snapshot (`integrations/<name>/snapshots/<case>.snap`).
fn snapshot_ids(integration: &str, case: &str) -> Vec<Vec<Value>> {
    let path = common::repo().join("integrations").join(integration).join("snapshots").join(format!("{case}.snap"));
    let body = switchyard_fixtures::snapshot::read_body(&path).unwrap().unwrap_or_else(|| panic!("{} exists", path.display()));
    let snapshot: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    snapshot["pages"].as_array().expect("a list snapshot has pages").iter().map(|page| ids(&page["body"])).collect()
}

#[test]
fn link_header_pages_come_back_on_the_sandboxs_origin() {
    let integrations = link_header_integrations();
    let mut walked = 0;
    for name in &integrations {
        let cases = fixtures(name);
        let Some((case, walk, recorded, next)) = link_walk(&cases) else { continue };
        walked += 1;
        let [first, _] = walk.exchanges.as_slice() else { unreachable!("a walk has two recorded pages") };
        let sandbox = start(name);

        // The recorded Link header names the provider's origin; the sandbox answers with its
        // own (the one the request was sent to), the rest of each URL as recorded.
        let provider = next.origin().ascii_serialization();
        assert!(rewrite_to(name, &cases, &sandbox.origin).origins().contains(next.as_str()), "{name}: {provider} is the provider's");
        assert_ne!(provider, sandbox.origin);
        let (status, headers, _) = http(&sandbox.origin, "GET", &target(first), &[], "");
        assert_eq!(status, first.response.status, "{name}/{case}");
        assert_eq!(headers["link"], recorded.replace(&provider, &sandbox.origin), "{name}/{case}");
        let port = sandbox.origin.rsplit(':').next().unwrap();
        let (_, headers, _) = http(&sandbox.origin, "GET", &target(first), &[("Host", &format!("localhost:{port}"))], "");
        assert_eq!(headers["link"], recorded.replace(&provider, &format!("http://localhost:{port}")), "{name}/{case}");

        // Through the server: the banner's import (verify: true) and list, at the page size of
        // the recorded walk; page 2 comes from the next URL, so it holds the recorded last page
        // (the case's snapshot gives each page's unified ids).
        let server = serve(&[(name.clone(), sandbox.origin.clone())]);
        let account = server.import(name, &sandbox.banner).unwrap_or_else(|e| panic!("{name}: {e}"));
        let list = banner_list(&sandbox.banner).0;
        assert!(list.starts_with(&format!("/v1/unified/{}/{}?", walk.call.model, walk.call.resource)), "{}", sandbox.banner);
        assert!(list.contains(&format!("&page_size={}", walk.call.page_size.unwrap())), "{}", sandbox.banner);
        let pages = server.list(&sandbox.banner, &account).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = snapshot_ids(name, case);
        assert_eq!(expected.len(), 2, "{name}/{case}: the snapshot has the two recorded pages");
        assert_eq!(ids(&pages[0]), expected[0], "{name}/{case}: page 1");
        assert_eq!(ids(&pages[1]), expected[1], "{name}/{case}: page 2");
        assert_eq!(pages[1]["next_cursor"], Value::Null, "{name}/{case}: the recorded last page has no rel=\"next\"");
    }
    assert!(walked > 0, "no Link-header integration ({integrations:?}) records a two-page walk through rel=\"next\"");
}

#[test]
fn every_bundled_integration_imports_with_verify_and_lists_against_its_sandbox() {
    let mut names: Vec<String> = std::fs::read_dir(common::repo().join("integrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("fixtures").is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The kinds this covers: every integration that pages through the Link header (its next
    // URL must come back on the sandbox's origin), and integrations whose verify call only the
    // sandbox's own exchanges answer (`fixtures/sandbox/*.yaml`).
    let link_header = link_header_integrations();
    assert!(!link_header.is_empty(), "a bundled integration pages through the Link header");
    for name in &link_header {
        assert!(names.contains(name), "{name} pages through the Link header and has fixtures: {names:?}");
    }
    let with_sandbox_files = names
        .iter()
        .filter(|n| {
            let dir = common::repo().join("integrations").join(n).join("fixtures").join("sandbox");
            std::fs::read_dir(dir).is_ok_and(|mut files| files.any(|f| f.unwrap().path().extension().is_some_and(|e| e == "yaml")))
        })
        .count();
    assert!(with_sandbox_files > 0, "a bundled integration has fixtures/sandbox/*.yaml: {names:?}");
    // Every sandbox at once, then one server sending each integration to its own.
    let sandboxes: Vec<Sandbox> = names
        .iter()
        .map(|name| {
            std::thread::spawn({
                let name = name.clone();
                move || start(&name)
            })
        })
        .map(|t| t.join().unwrap())
        .collect();
    let upstreams: Vec<(String, String)> = names.iter().cloned().zip(sandboxes.iter().map(|s| s.origin.clone())).collect();
    let server = serve(&upstreams);
    let mut failures = Vec::new();
    for (name, sandbox) in names.iter().zip(&sandboxes) {
        let outcome = server.import(name, &sandbox.banner).and_then(|account| server.list(&sandbox.banner, &account));
        match outcome {
            Ok(pages) if pages.len() == 2 && ids(&pages[0]) == ids(&pages[1]) => {
                failures.push(format!("{name}: page 2 repeats page 1: {:#}", pages[1]))
            }
            Ok(_) => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "the quickstart fails against the sandbox of:\n{}", failures.join("\n"));
}
