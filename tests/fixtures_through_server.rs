//! Snapshots are the server's answers: every bundled fixture case is driven through the real
//! HTTP server (`switchyard_server::start` on loopback, its SQLite store, its refresher and
//! exchange log), with a loopback provider answering the case's recorded exchanges, strictly
//! and in order, as `switchyard test` replays them. Each HTTP answer — status, headers, body,
//! key order — is compared with the case's snapshot.
//!
//! The server runs with the fixture's frozen `now` and the fixture cursor key, so expiry,
//! rate-limit resets, `$now()` and signed cursors are the snapshot's. The account and install
//! are made through the API, as an operator would. One difference is by design: the server's
//! cursors are bound to its account (the signature covers the account's id, which replay's
//! accounts do not have), so each cursor the server answers is checked to be bound to the
//! account and then compared with its binding taken off (re-signed unbound): the payload
//! byte for byte, and the signature replay gives it. What a snapshot holds beside the answers
//! (`refreshed`: what a refresh did to the stored credentials) is not part of an answer and is
//! not compared here.

#[path = "common/mod.rs"]
mod common;
#[path = "support/database.rs"]
mod database;

use database::TestDatabase;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use switchyard_compiler::project::Options;
use switchyard_fixtures::replay::{CallMethod, Fixture, Pages, ReplayTransport};
use switchyard_fixtures::run::CURSOR_KEY;
use switchyard_fixtures::served::StrictProvider;
use switchyard_fixtures::snapshot;
use switchyard_fixtures::suite::{Case, Project};
use switchyard_registry::FieldType;
use switchyard_runtime::pagination::{CursorKey, CursorState};
use switchyard_server::ServerConfig;
use switchyard_store::Keyring;

/// Headers every HTTP answer has that are the transport's, not the renderer's.
const TRANSPORT_HEADERS: [&str; 3] = ["content-type", "content-length", "date"];

enum Outcome {
    Passed,
    Failed(String),
}

/// One trial per bundled case, named `through_server/<integration>/<case>`; a case that cannot
/// run this way is listed with its reason before the trials and marked ignored.
fn main() {
    let args = Arguments::from_args();
    let repo = common::repo();
    let mut options = Options::new(repo.join("integrations"));
    options.models_dir = Some(repo.join("schemas/models"));
    let project = Arc::new(Project::load(&options, false).expect("the bundled integrations compile"));
    let cases = project.cases();
    assert!(!cases.is_empty(), "no fixture found under integrations/*/fixtures");
    let mut trials = Vec::new();
    let mut not_run = Vec::new();
    for case in cases {
        let project = project.clone();
        let name = format!("through_server/{}", case.id());
        if let Some(why) = cannot_run(&project, &case) {
            not_run.push(format!("{}: {why}", case.id()));
            trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
            continue;
        }
        trials.push(Trial::test(name, move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| e.to_string())?;
            match runtime.block_on(run_case(&project, &case)) {
                Outcome::Passed => Ok(()),
                Outcome::Failed(why) => Err(Failed::from(why)),
            }
        }));
    }
    println!(
        "fixtures through the server: {} bundled cases, {} to run, {} that cannot run this way",
        trials.len(),
        trials.len() - not_run.len(),
        not_run.len()
    );
    for line in &not_run {
        println!("  not run: {line}");
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Why a case cannot run through the server, if it cannot: a case that keeps no snapshot has
/// nothing to compare the server's answers with. (A fixture that does not load runs, and fails.)
fn cannot_run(project: &Project, case: &Case) -> Option<String> {
    let fixture = load(project, case).ok()?;
    (!fixture.expect.snapshot).then(|| "the case keeps no snapshot (`expect.snapshot: false`)".to_string())
}

/// The case's fixture, read and checked as `switchyard test` reads it.
fn load(project: &Project, case: &Case) -> Result<Fixture, String> {
    let integration = project.registry.integration(&case.integration).ok_or("no such integration")?;
    let secret_fields: Vec<String> =
        integration.connection.fields.iter().filter(|(_, f)| f.field_type == FieldType::Secret).map(|(n, _)| n.clone()).collect();
    let mut files = Vec::new();
    let (loaded, diagnostics) = switchyard_fixtures::load_fixture(&case.path, &project.display(&case.path), &secret_fields, &mut files);
    match loaded.filter(|_| diagnostics.iter().all(|d| !d.is_error())) {
        Some(loaded) => Ok(loaded.fixture),
        None => Err(format!("the fixture does not load: {diagnostics:?}")),
    }
}

async fn run_case(project: &Project, case: &Case) -> Outcome {
    let fixture = match load(project, case) {
        Ok(fixture) => fixture,
        Err(why) => return Outcome::Failed(why),
    };
    let expected = match snapshot::read_body(&case.snapshot_path()) {
        Ok(Some(body)) => body,
        Ok(None) => return Outcome::Failed(format!("no snapshot at {}", case.snapshot_path().display())),
        Err(e) => return Outcome::Failed(format!("cannot read the snapshot: {e}")),
    };
    let expected: Value = match serde_json::from_str(&expected) {
        Ok(value) => value,
        Err(e) => return Outcome::Failed(format!("the snapshot is not JSON: {e}")),
    };

    let transport = Arc::new(ReplayTransport::new(fixture.exchanges.clone()));
    let provider = StrictProvider::start(transport.clone()).await.expect("the provider listens");
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), db.url());
    config.upstreams.insert(case.integration.clone(), url::Url::parse(provider.origin()).unwrap());
    config.frozen_now = Some(fixture.now().expect("the fixture's `now` parses"));
    config.cursor_key = Some(CURSOR_KEY);
    let running =
        switchyard_server::start(config, project.registry.clone(), Some(Keyring::new(1, &[7; 32]))).await.expect("the server starts");
    let server = Client::new(format!("http://{}", running.addr), &db);

    let outcome = match drive(&server, &case.integration, &fixture).await {
        Ok(actual) => compare(&expected, &actual, &transport),
        Err(why) => Outcome::Failed(why),
    };
    running.stop().await.expect("the server stops");
    provider.stop();
    outcome
}

/// Makes the install and the account through the API, then the call; returns the answers in
/// a snapshot's shape.
async fn drive(server: &Client, integration: &str, fixture: &Fixture) -> Result<Value, String> {
    let install = &fixture.account.install;
    if install.client_id.is_some() || install.client_secret.is_some() {
        let body = json!({ "oauth_client": { "client_id": install.client_id, "client_secret": install.client_secret } });
        server.expect_ok("PUT", &format!("/v1/installs/{integration}"), Some(&body)).await?;
    }
    let mut credentials: Map<String, Value> =
        fixture.account.credentials.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    if let Some(expires_at) = &fixture.account.expires_at {
        credentials.insert("expires_at".into(), Value::from(expires_at.as_str()));
    }
    let connection: Map<String, Value> = fixture.account.connection.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    let account = json!({
        "integration": integration, "external_id": "fixture", "connection": connection,
        "credentials": credentials, "verify": false,
    });
    let created = server.expect_ok("POST", "/v1/accounts", Some(&account)).await?;
    let account_id = created.body["id"].as_str().ok_or("the account has no id")?.to_string();

    let call = &fixture.call;
    let base = format!("/v1/unified/{}/{}", call.model, call.resource);
    let mut query: Vec<(String, String)> = vec![("account_id".into(), account_id.clone())];
    for (name, value) in &call.query {
        match value {
            Value::Array(items) => query.extend(items.iter().map(|item| (name.clone(), text(item)))),
            other => query.push((name.clone(), text(other))),
        }
    }
    if call.method != CallMethod::List {
        let id = call.id.as_deref().map(|id| format!("/{}", percent(id))).unwrap_or_default();
        let (method, body) = match call.method {
            CallMethod::Get => ("GET", None),
            CallMethod::Create => ("POST", Some(call.body.clone().unwrap_or(Value::Null))),
            CallMethod::Update => ("PATCH", Some(call.body.clone().unwrap_or(Value::Null))),
            _ => ("DELETE", None),
        };
        let answer = server.send(method, &format!("{base}{id}?{}", encode(&query)), body.as_ref()).await?;
        return Ok(answer.snapshot_entry());
    }
    if let Some(size) = call.page_size {
        query.push(("page_size".into(), size.to_string()));
    }
    // A case that starts part-way resumes with a cursor to that position, as `switchyard test` does.
    let list = format!("{integration}/{}/{}/list", call.model, call.resource);
    let mut cursor = call.start.as_ref().map(|position| {
        CursorState { list: list.clone(), position: position.clone(), page_size: None, pages: 0, seen: Vec::new() }
            .encode_for(&CursorKey::new(CURSOR_KEY), Some(&account_id))
    });
    let pages = match call.pages {
        Some(Pages::Count(n)) => n,
        Some(Pages::All) => u64::MAX,
        None => 1,
    };
    let mut answers = Vec::new();
    for _ in 0..pages {
        let mut page_query = query.clone();
        page_query.extend(cursor.take().map(|c| ("cursor".to_string(), c)));
        let answer = server.send("GET", &format!("{base}?{}", encode(&page_query)), None).await?;
        let next = next_cursor(&answer.body, &list, &account_id);
        let failed = answer.status >= 400;
        let mut entry = answer.snapshot_entry();
        unbind(&mut entry["body"], &list, &account_id)?;
        answers.push(entry);
        match next {
            Some(next) if !failed => cursor = Some(next),
            _ => break,
        }
    }
    Ok(json!({ "pages": answers }))
}

/// The next page's cursor wherever the model's envelope puts it (`next_cursor`, Merge's `next`,
/// Apideck's `meta.cursors.next`), as a client of that shape reads it: a string under a key
/// that says `next` and is a cursor of this list, signed with the key (Apideck's envelope also
/// repeats the `current` one).
fn next_cursor(body: &Value, list: &str, account: &str) -> Option<String> {
    let Value::Object(members) = body else { return None };
    members.iter().filter(|(name, _)| *name != "results").find_map(|(name, value)| match value {
        Value::String(text) if name.contains("next") => {
            CursorState::decode_for(text, &CursorKey::new(CURSOR_KEY), list, Some(account)).is_ok().then(|| text.clone())
        }
        Value::Object(_) => next_cursor(value, list, account),
        _ => None,
    })
}

/// Every cursor of this list in the server's answer that is bound to `account`, re-signed
/// unbound, as replay (whose accounts have no id) signs it; the rest of the answer as it came.
/// A cursor is found as a whole string (`next_cursor`) or inside one (Apideck's
/// `links.next` URL). A cursor of this list the server signed unbound is an error: its cursors
/// must be bound.
fn unbind(body: &mut Value, list: &str, account: &str) -> Result<(), String> {
    match body {
        Value::String(text) => {
            *text = unbind_text(text, list, account)?;
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|item| unbind(item, list, account)),
        Value::Object(members) => members.values_mut().try_for_each(|item| unbind(item, list, account)),
        _ => Ok(()),
    }
}

/// `text` with each run of cursor characters (base64url and `.`) that is a bound cursor of
/// this list re-signed unbound.
fn unbind_text(text: &str, list: &str, account: &str) -> Result<String, String> {
    let key = CursorKey::new(CURSOR_KEY);
    let is_cursor_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(is_cursor_char) {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        let end = run.find(|c: char| !is_cursor_char(c)).unwrap_or(run.len());
        let token = &run[..end];
        if let Ok(state) = CursorState::decode_for(token, &key, list, Some(account)) {
            out.push_str(&state.encode(&key));
        } else if CursorState::decode(token, &key, list).is_ok() {
            return Err(format!("the server answered a cursor not bound to its account: {token}"));
        } else {
            out.push_str(token);
        }
        rest = &run[end..];
    }
    out.push_str(rest);
    Ok(out)
}

fn compare(expected: &Value, actual: &Value, transport: &ReplayTransport) -> Outcome {
    let replay = transport.report();
    if !replay.is_clean() {
        return Outcome::Failed(format!("the provider's recorded exchanges did not replay cleanly:\n{}", replay.render()));
    }
    let expected = comparable(expected);
    let (expected, actual) = (pretty(&expected), pretty(actual));
    if expected == actual {
        Outcome::Passed
    } else {
        Outcome::Failed(line_diff(&expected, &actual))
    }
}

/// The snapshot as HTTP carries it: header names lowercased (HTTP/1.1 and HTTP/2 alike send
/// them so), and without `refreshed`, which is not part of an answer.
fn comparable(snapshot: &Value) -> Value {
    fn entry(entry: &Value) -> Value {
        let mut entry = entry.as_object().cloned().unwrap_or_default();
        entry.shift_remove("refreshed");
        if let Some(Value::Object(headers)) = entry.get_mut("headers") {
            *headers = headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.clone())).collect();
        }
        Value::Object(entry)
    }
    match snapshot.get("pages").and_then(Value::as_array) {
        Some(pages) => json!({ "pages": pages.iter().map(entry).collect::<Vec<_>>() }),
        None => entry(snapshot),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

/// The lines that differ, `-` the snapshot and `+` the server.
fn line_diff(expected: &str, actual: &str) -> String {
    let (expected, actual): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::from("(- snapshot, + server)\n");
    for i in 0..expected.len().max(actual.len()) {
        match (expected.get(i), actual.get(i)) {
            (Some(e), Some(a)) if e == a => {}
            (e, a) => {
                if let Some(e) = e {
                    out.push_str(&format!("{i:>5} - {e}\n"));
                }
                if let Some(a) = a {
                    out.push_str(&format!("{i:>5} + {a}\n"));
                }
            }
        }
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn percent(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An answer of the server.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    /// The answer in a snapshot's shape: status, the renderer's headers in the order sent, body.
    fn snapshot_entry(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .filter(|(name, _)| !TRANSPORT_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
            .collect();
        json!({ "status": self.status, "headers": headers, "body": self.body })
    }
}

struct Client {
    url: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    fn new(url: String, db: &TestDatabase) -> Client {
        let created = switchyard_server::create_environment(&db.url(), "fixtures").unwrap();
        let key = created["api_key"].as_str().unwrap().to_string();
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client { url, key, http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap() }
    }

    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, String> {
        let mut request = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let headers =
            response.headers().iter().map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or_default().to_string())).collect();
        let text = response.text().await.map_err(|e| format!("{method} {path}: {e}"))?;
        if content_type != "application/json" {
            return Err(format!("{method} {path}: answered {status} with content-type `{content_type}`: {text}"));
        }
        let body = serde_json::from_str(&text).map_err(|e| format!("{method} {path}: the body is not JSON ({e}): {text}"))?;
        Ok(Answer { status, headers, body })
    }

    async fn expect_ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Answer, String> {
        let answer = self.send(method, path, body).await?;
        if answer.status >= 300 {
            return Err(format!("{method} {path} answered {}: {}", answer.status, answer.body));
        }
        Ok(answer)
    }
}
