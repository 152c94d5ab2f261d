//! `switchyard sandbox`: an integration's recorded fixtures served as a mock provider.
//!
//! Every exchange of `DIR/INTEGRATION/fixtures/*.yaml` (read and checked as `switchyard test`
//! reads them) becomes an answer. A request gets the recorded response of the best-matching
//! exchange: same method and path, then the fewest differences as the fixture replay counts
//! them (`switchyard_fixtures::replay::compare`), with credentials left out of the count since
//! fixtures hold fake ones: headers, fields named like a secret, and recorded values that say
//! they are fake (`fake-client-id`). A successful recording (status below 400) wins over an
//! error one (a recorded 401 or 429) at any distance, so a sandbox answers like a provider that
//! works; among equals, the fuller response (the longest body), then the first case in name
//! order. An OAuth authorize request (`response_type=code` with a `redirect_uri`) that nothing
//! recorded answers is redirected back at once with a fake code. Anything else gets a JSON 404
//! that lists what the sandbox can answer.
//!
//! Every answer links back to the sandbox: absolute URLs of the provider's origins in its
//! headers (`Link`, `Location`) and in its body (`nextRecordsUrl`, `paging.next.link`) are
//! rewritten to the origin the request was sent to (its `Host`), with path and query kept
//! (`switchyard_fixtures::replay::OriginRewrite`; the origins come from the definition and the
//! fixtures, `ProviderOrigins`). A server pointed at the sandbox with `--upstream` therefore
//! follows next-page URLs, which it refuses off the origin it called.
//!
//! Besides the fixture cases, `DIR/INTEGRATION/fixtures/sandbox/*.yaml` may hold exchanges that
//! no unified call makes, for the sandbox alone (`switchyard test` does not read that folder):
//! the `verify` call of an integration whose verify method is not behind a unified call
//! (Attio's `GET /v2/self`, Jira's `GET /myself`). Such a file has a `description` and
//! `exchanges`, written as in a fixture, and is checked like one (schema, live-looking secrets).

use super::{EXIT_INVALID, EXIT_USAGE};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchyard_compiler::codes::Code;
use switchyard_compiler::diagnostic::Diagnostic;
use switchyard_fixtures::load_fixture;
use switchyard_fixtures::suite::{discover, Project};
use switchyard_fixtures::FIXTURE_SCHEMA;
use switchyard_compiler::project::Options;
use switchyard_compiler::render;
use switchyard_compiler::schema::Schema;
use switchyard_compiler::source::{SourceFile, Span};
use switchyard_compiler::yaml::{self, Limits, Node, NodeKind};
use switchyard_runtime::http::UpstreamRequest;
use switchyard_registry::{FieldType, HttpMethod};
use switchyard_fixtures::replay::secrets::{is_marked_fake, is_secret_name, live_secret_reason};
use switchyard_fixtures::replay::{
    compare, AccountSpec, Call, CallMethod, Difference, Exchange, OriginRewrite, Pages, ProviderOrigins, RecordedResponse,
};

#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// The integration whose fixtures to serve.
    pub integration: String,
    /// The integrations directory.
    #[arg(long, default_value = "integrations")]
    pub dir: PathBuf,
    /// Address to listen on (port 0 picks a free port; the origin is printed).
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: String,
}

pub fn sandbox(args: &SandboxArgs) -> u8 {
    if !args.dir.is_dir() {
        eprintln!("error: cannot read the integrations directory `{}`", args.dir.display());
        return EXIT_USAGE;
    }
    let mut sandbox = match Sandbox::load(&args.dir, &args.integration) {
        Ok(sandbox) => sandbox,
        Err((code, message)) => {
            eprintln!("{message}");
            return code;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&args.listen).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return EXIT_USAGE;
            }
        };
        let origin = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => {
                eprintln!("error: cannot read the listening address: {e}");
                return EXIT_USAGE;
            }
        };
        sandbox.origin = url::Url::parse(&origin).ok();
        let sandbox = Arc::new(sandbox);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(sandbox.banner(&origin).as_bytes());
        let _ = out.flush();
        drop(out);
        let app = axum::Router::new().fallback(handle).with_state(sandbox);
        match axum::serve(listener, app).await {
            Ok(()) => super::EXIT_OK,
            Err(e) => {
                eprintln!("error: the sandbox stopped: {e}");
                EXIT_USAGE
            }
        }
    })
}

/// One recorded exchange, with the case it comes from.
struct Recorded {
    /// The fixture case's name (the file stem).
    case: String,
    /// 1-based position of the exchange in its case.
    number: usize,
    exchange: Exchange,
    /// The response body as it is sent.
    body: Bytes,
}

impl Recorded {
    fn is_error(&self) -> bool {
        self.exchange.response.status >= 400
    }
}

struct Sandbox {
    integration: String,
    exchanges: Vec<Recorded>,
    cases: usize,
    /// The first case's account that has credentials: the example account.
    account: Option<AccountSpec>,
    /// The example list call: the unified model and resource listed by most cases.
    list: Option<ListCall>,
    /// The provider's origins, which answers point back to the sandbox.
    origins: ProviderOrigins,
    /// Where the sandbox listens: answers link here when a request has no usable `Host`.
    origin: Option<url::Url>,
}

/// A unified list the fixtures call: the banner's example list call is the most listed.
struct ListCall {
    model: String,
    resource: String,
    /// How many cases list it.
    cases: usize,
    /// When one of its cases walks more than one page: that case's page size, if it gives one.
    paged: Option<Option<u64>>,
}

/// The fake authorization code an authorize request is redirected back with.
const FAKE_CODE: &str = "fake-authorization-code";

impl Sandbox {
    /// Checks the project (as `switchyard test` does), then reads every fixture of `integration`.
    fn load(dir: &Path, integration: &str) -> Result<Sandbox, (u8, String)> {
        let project = Project::load(&Options::new(dir), false).map_err(|report| (EXIT_INVALID, report))?;
        let Some(definition) = project.registry.integration(integration) else {
            let known: Vec<&str> = project.registry.integrations.iter().map(|i| i.name.as_str()).collect();
            return Err((EXIT_USAGE, format!("error: no integration `{integration}` in {} (it has: {})", dir.display(), known.join(", "))));
        };
        let secret_fields: Vec<String> =
            definition.connection.fields.iter().filter(|(_, f)| f.field_type == FieldType::Secret).map(|(n, _)| n.clone()).collect();
        let cases: Vec<_> = discover(dir).into_iter().filter(|c| c.integration == integration).collect();
        if cases.is_empty() {
            return Err((
                EXIT_USAGE,
                format!(
                    "error: `{integration}` has no fixtures to serve (looked for {})",
                    dir.join(integration).join("fixtures").join("*.yaml").display()
                ),
            ));
        }
        let mut sandbox = Sandbox {
            integration: integration.to_string(),
            exchanges: Vec::new(),
            cases: cases.len(),
            account: None,
            list: None,
            origins: ProviderOrigins::of(definition),
            origin: None,
        };
        let mut lists: Vec<ListCall> = Vec::new();
        let mut files: Vec<SourceFile> = Vec::new();
        let mut problems = Vec::new();
        for case in &cases {
            let (loaded, diagnostics) = load_fixture(&case.path, &project.display(&case.path), &secret_fields, &mut files);
            let errors: Vec<_> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
            match loaded {
                Some(loaded) if errors.is_empty() => {
                    let fixture = loaded.fixture;
                    sandbox.origins.learn(&fixture);
                    if sandbox.account.is_none() && !fixture.account.credentials.is_empty() {
                        sandbox.account = Some(fixture.account.clone());
                    }
                    if fixture.call.method == CallMethod::List {
                        let (model, resource) = (&fixture.call.model, &fixture.call.resource);
                        let paged = walks_pages(&fixture.call, &fixture.exchanges);
                        match lists.iter_mut().find(|l| l.model == *model && l.resource == *resource) {
                            Some(list) => {
                                list.cases += 1;
                                list.paged = list.paged.or(paged);
                            }
                            None => lists.push(ListCall { model: model.clone(), resource: resource.clone(), cases: 1, paged }),
                        }
                    }
                    for (i, exchange) in fixture.exchanges.into_iter().enumerate() {
                        sandbox.push(&case.name, i + 1, exchange);
                    }
                }
                _ => problems.extend(errors),
            }
        }
        // The sandbox's own exchanges, for an account like the example one.
        let connection: Vec<(String, String)> = sandbox.account.iter().flat_map(|a| a.connection.clone()).collect();
        let connection: Vec<(&str, &str)> = connection.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for path in sandbox_files(&dir.join(integration).join("fixtures").join("sandbox")) {
            let name = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (loaded, diagnostics) = load_sandbox_file(&path, &project.display(&path), &mut files);
            let errors: Vec<_> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
            match loaded {
                Some(exchanges) if errors.is_empty() => {
                    for (i, exchange) in exchanges.into_iter().enumerate() {
                        sandbox.origins.learn_response(&exchange.response, &connection);
                        sandbox.push(&format!("sandbox/{name}"), i + 1, exchange);
                    }
                }
                _ => problems.extend(errors),
            }
        }
        // The most listed; the first of equals.
        sandbox.list = lists.into_iter().rev().max_by_key(|l| l.cases);
        if !problems.is_empty() {
            let mut text = render::render_human(&problems, &files, false);
            text.push_str("error: the fixtures above cannot be served");
            return Err((EXIT_INVALID, text));
        }
        Ok(sandbox)
    }

    fn push(&mut self, case: &str, number: usize, exchange: Exchange) {
        let body = body_bytes(&exchange.response);
        self.exchanges.push(Recorded { case: case.to_string(), number, exchange, body });
    }

    /// The rewrite of the provider's origins to the one a request was sent to: its `Host`
    /// when that is a valid authority, else where the sandbox listens.
    fn rewrite_for(&self, headers: &HeaderMap) -> Option<OriginRewrite> {
        let host = headers.get("host").and_then(|h| h.to_str().ok());
        let to = host.and_then(|h| url::Url::parse(&format!("http://{h}")).ok()).or_else(|| self.origin.clone())?;
        Some(OriginRewrite::new(self.origins.clone(), &to))
    }

    /// The best-matching exchange for a request, or `None` when nothing is recorded for its
    /// method and path.
    fn answer(&self, request: &UpstreamRequest) -> Option<&Recorded> {
        self.exchanges
            .iter()
            .filter(|r| r.exchange.request.method == request.method)
            .filter_map(|r| {
                let differences = compare(&r.exchange.request, request);
                // The replay compares paths percent-decoded; a different path is no answer.
                (!differences.iter().any(|d| d.place == "path")).then(|| ((r.is_error(), distance(&differences), Reverse(r.body.len())), r))
            })
            .min_by_key(|(key, _)| *key)
            .map(|(_, r)| r)
    }

    /// Every recorded endpoint, once: method, path, the cases recording it, their statuses.
    fn endpoints(&self) -> Vec<Value> {
        let mut seen: Vec<(HttpMethod, String, Vec<String>, Vec<u16>)> = Vec::new();
        for r in &self.exchanges {
            let request = &r.exchange.request;
            let index = match seen.iter().position(|(m, p, _, _)| *m == request.method && *p == request.path) {
                Some(index) => index,
                None => {
                    seen.push((request.method, request.path.clone(), Vec::new(), Vec::new()));
                    seen.len() - 1
                }
            };
            let (_, _, cases, statuses) = &mut seen[index];
            if !cases.contains(&r.case) {
                cases.push(r.case.clone());
            }
            if !statuses.contains(&r.exchange.response.status) {
                statuses.push(r.exchange.response.status);
            }
        }
        seen.into_iter()
            .map(|(method, path, cases, statuses)| json!({"method": method.as_str(), "path": path, "statuses": statuses, "cases": cases}))
            .collect()
    }

    /// The example bodies for `PUT /v1/installs/{integration}` (when the fixtures' account has
    /// an OAuth client) and `POST /v1/accounts`, from the first case whose account has
    /// credentials.
    fn example_bodies(&self) -> (Option<Value>, Value) {
        let account = self.account.clone().unwrap_or_default();
        let install = match (&account.install.client_id, &account.install.client_secret) {
            (Some(id), Some(secret)) => Some(json!({"oauth_client": {"client_id": id, "client_secret": secret}})),
            _ => None,
        };
        let mut credentials: Map<String, Value> = account.credentials.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
        // The recorded expiry is the recording's, long past: a fresh hour instead, so the
        // server does not refresh before its first call.
        if account.expires_at.is_some() {
            credentials.insert("expires_in".into(), json!(3600));
        }
        let connection: Map<String, Value> = account.connection.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
        let body = json!({"integration": self.integration, "connection": connection, "credentials": credentials, "verify": true});
        (install, body)
    }

    /// What is printed on start.
    fn banner(&self, origin: &str) -> String {
        let name = &self.integration;
        let (install, account) = self.example_bodies();
        let extra = self.exchanges.iter().filter(|r| r.case.starts_with("sandbox/")).count();
        let mut out = format!(
            "switchyard sandbox: `{name}` listening on {origin} ({} recorded exchanges from {} fixture cases{})\n\n",
            self.exchanges.len() - extra,
            self.cases,
            if extra > 0 { format!(", and {extra} from fixtures/sandbox/") } else { String::new() }
        );
        out.push_str(&format!("Point a server at it (in another terminal):\n  switchyard serve --upstream {name}={origin}\n\n"));
        out.push_str(
            "Then, in a third terminal (SERVER is the server's origin: http://127.0.0.1:8080 unless `serve --listen` \
             says otherwise; `env create` and `serve` use ./switchyard.db unless `--db` says otherwise):\n",
        );
        let json_field = |field: &str| format!("python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{field}\"])'");
        out.push_str("  SERVER=http://127.0.0.1:8080\n");
        out.push_str(&format!("  KEY=$(switchyard env create demo | {})\n", json_field("api_key")));
        let curl = |method: &str, path: &str, body: &Value| {
            format!(
                "curl -s -X {method} \"$SERVER{path}\" -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n    -d '{}'",
                body.to_string().replace('\'', "'\\''")
            )
        };
        if let Some(install) = &install {
            out.push_str(&format!("  {}\n", curl("PUT", &format!("/v1/installs/{name}"), install)));
        }
        // verify: true, so the import calls the provider (the sandbox) before storing anything.
        out.push_str(&format!("  ACCOUNT=$({} | {})\n", curl("POST", "/v1/accounts", &account), json_field("id")));
        let (model, resource, page_size) = match &self.list {
            Some(list) => (list.model.as_str(), list.resource.as_str(), list.paged),
            None => ("<model>", "<resource>", None),
        };
        let list = format!("$SERVER/v1/unified/{model}/{resource}?account_id=$ACCOUNT");
        let key = "-H \"Authorization: Bearer $KEY\"";
        match page_size {
            // A recorded walk over pages: its page size gives a first page with a next_cursor.
            Some(size) => {
                let list = match size {
                    Some(size) => format!("{list}&page_size={size}"),
                    None => list,
                };
                out.push_str(&format!("  curl -s \"{list}\" {key}    # page 1 and a next_cursor\n"));
                out.push_str(&format!("  curl -s \"{list}&cursor=<that next_cursor>\" {key}    # page 2\n\n"));
            }
            None => out.push_str(&format!("  curl -s \"{list}\" {key}\n\n")),
        }
        out.push_str("Example account (POST /v1/accounts body):\n");
        out.push_str(&serde_json::to_string_pretty(&account).unwrap_or_default());
        let origins = self.origins.describe();
        if !origins.is_empty() {
            out.push_str(&format!(
                "\n\nAnswers link back here: absolute URLs of {} in them point to this sandbox (the origin each request was sent to).",
                origins.join(", ")
            ));
        }
        out.push_str("\n\nRecorded endpoints (anything else gets a JSON 404 listing these):\n");
        for endpoint in self.endpoints() {
            out.push_str(&format!(
                "  {:<6} {}  ({})\n",
                endpoint["method"].as_str().unwrap_or_default(),
                endpoint["path"].as_str().unwrap_or_default(),
                endpoint["cases"].as_array().map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()
            ));
        }
        out.push_str("Requests are logged on stderr; Ctrl-C stops the sandbox.\n");
        out
    }
}

/// How far a request is from a recorded one: the replay's differences, without credentials.
fn distance(differences: &[Difference]) -> usize {
    differences.iter().filter(|d| !is_credential(d)).map(Difference::weight).sum()
}

/// Whether a difference is about a credential, which a sandbox does not check: any header
/// (the fixtures' `authorization` holds a fake token), a field named like a secret
/// (`form.client_secret`, `query.api_key`), or a recorded value that says it is fake.
fn is_credential(difference: &Difference) -> bool {
    let place = difference.place.as_str();
    if place.starts_with("header ") {
        return true;
    }
    let field = place.rsplit('.').next().unwrap_or(place);
    let field = field.split('[').next().unwrap_or(field);
    is_secret_name(field) || difference.expected.as_deref().is_some_and(is_marked_fake)
}

/// The methods a definition (and so a fixture) can use; others are never recorded.
fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => return None,
    })
}

/// The incoming request as the replay's matcher sees an engine's request.
fn upstream_request(method: HttpMethod, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Option<UpstreamRequest> {
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = url::Url::parse(&format!("http://sandbox.invalid{path_and_query}")).ok()?;
    let headers = headers.iter().filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string()))).collect();
    let body = (!body.is_empty()).then(|| switchyard_runtime::http::Body { content_type: "application/octet-stream", bytes: body });
    Some(UpstreamRequest { method, url, headers, body })
}

async fn handle(State(sandbox): State<Arc<Sandbox>>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let line = format!("{method} {uri}");
    let request = http_method(&method).and_then(|m| upstream_request(m, &uri, &headers, body));
    let rewrite = sandbox.rewrite_for(&headers);
    let recorded = request.as_ref().and_then(|r| sandbox.answer(r));
    let response = match recorded {
        Some(recorded) => {
            eprintln!("{line} -> {} ({} #{})", recorded.exchange.response.status, recorded.case, recorded.number);
            match &rewrite {
                Some(rewrite) => {
                    let served = rewrite.response(&recorded.exchange.response);
                    let body = body_bytes(&served);
                    recorded_response(&served, body)
                }
                None => recorded_response(&recorded.exchange.response, recorded.body.clone()),
            }
        }
        None => match request.as_ref().and_then(authorize_redirect) {
            Some(location) => {
                eprintln!("{line} -> 302 (an authorize request: redirected back with a fake code)");
                Response::builder().status(StatusCode::FOUND).header("location", location).body(Body::empty()).expect("a valid response")
            }
            None => {
                eprintln!("{line} -> 404 (no recorded exchange)");
                let body = json!({
                    "error": {
                        "kind": "not_found",
                        "message": format!("the `{}` sandbox has no recorded exchange for {line}", sandbox.integration),
                        "request": line,
                    },
                    "recorded": sandbox.endpoints(),
                });
                Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec_pretty(&body).expect("JSON values serialize")))
                    .expect("a valid response")
            }
        },
    };
    response
}

/// A recorded response, headers as recorded (framing headers aside), with `body` (its body's bytes).
fn recorded_response(response: &RecordedResponse, body: Bytes) -> Response {
    let mut builder = Response::builder().status(StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    let mut has_type = false;
    for (name, values) in &response.headers {
        let lower = name.to_ascii_lowercase();
        if matches!(lower.as_str(), "content-length" | "transfer-encoding" | "connection" | "content-encoding") {
            continue;
        }
        let Ok(header) = HeaderName::from_bytes(lower.as_bytes()) else { continue };
        has_type |= lower == "content-type";
        for value in values.values() {
            if let Ok(value) = HeaderValue::from_str(value) {
                builder = builder.header(header.clone(), value);
            }
        }
    }
    if !has_type && response.body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    builder.body(Body::from(body)).expect("a valid response")
}

/// The body of a recorded response as it is sent: JSON written compactly, or the text.
fn body_bytes(response: &RecordedResponse) -> Bytes {
    match (&response.body, &response.body_text) {
        (Some(value), _) => Bytes::from(serde_json::to_vec(value).expect("JSON values serialize")),
        (None, Some(text)) => Bytes::from(text.clone()),
        (None, None) => Bytes::new(),
    }
}

/// For a list case that walks more than one page, each answered without error: its page size
/// (`None` when the provider chose it). The example list call asks for it, so that its first
/// page has a next cursor.
fn walks_pages(call: &Call, exchanges: &[Exchange]) -> Option<Option<u64>> {
    let pages = call.pages.unwrap_or(Pages::Count(1));
    let several = pages == Pages::All || matches!(pages, Pages::Count(n) if n > 1);
    (several && exchanges.len() > 1 && exchanges.iter().all(|e| e.response.status < 400)).then_some(call.page_size)
}

/// The `*.yaml` files of a `fixtures/sandbox` folder, in name order (none when it is absent).
fn sandbox_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    paths.sort();
    paths
}

/// Reads a `fixtures/sandbox/*.yaml` file: `description` and `exchanges`, checked against the
/// fixture schema's definitions and for live-looking secrets as a fixture is, each problem a
/// diagnostic at its `file:line:col`.
fn load_sandbox_file(path: &Path, name: &str, files: &mut Vec<SourceFile>) -> (Option<Vec<Exchange>>, Vec<Diagnostic>) {
    let index = files.len();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            files.push(SourceFile::new(name, path, String::new()));
            let d = Diagnostic::new(Code::Unreadable, format!("cannot read the file: {e}")).at(index, Span::point(0));
            return (None, vec![d]);
        }
    };
    files.push(SourceFile::new(name, path, text));
    let (node, mut diagnostics) = yaml::load(index, &files[index], &Limits::default());
    let Some(node) = node.filter(|_| !diagnostics.iter().any(Diagnostic::is_error)) else {
        return (None, diagnostics);
    };
    let json = node.to_json();
    diagnostics.extend(sandbox_schema().check(index, &node, &json));
    if diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    scan_secrets(index, &node, &mut Vec::new(), &mut diagnostics);
    let exchanges: Vec<Exchange> = match serde_json::from_value(json["exchanges"].clone()) {
        Ok(exchanges) => exchanges,
        Err(e) => {
            let at = node.lookup(&["exchanges"]).map(|n| n.span).unwrap_or(node.span);
            diagnostics.push(Diagnostic::new(Code::InvalidFixture, format!("`exchanges`: {e}")).at(index, at));
            return (None, diagnostics);
        }
    };
    for (i, exchange) in exchanges.iter().enumerate() {
        let r = &exchange.request;
        let at = |rest: &[&str]| {
            let mut place = vec!["exchanges".to_string(), i.to_string()];
            place.extend(rest.iter().map(|s| s.to_string()));
            node.lookup(&place).map(|n| n.span).unwrap_or(node.span)
        };
        if [r.body.is_some(), r.form.is_some(), r.body_text.is_some()].iter().filter(|b| **b).count() > 1 {
            diagnostics.push(
                Diagnostic::new(Code::InvalidFixture, "a request matcher gives more than one of `body`, `form` and `body_text`")
                    .at(index, at(&["request"])),
            );
        }
        if exchange.response.body.is_some() && exchange.response.body_text.is_some() {
            diagnostics
                .push(Diagnostic::new(Code::InvalidFixture, "a response gives both `body` and `body_text`").at(index, at(&["response"])));
        }
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    (Some(exchanges), diagnostics)
}

/// The fixture schema with only `description` and `exchanges` (at least one) at the top.
fn sandbox_schema() -> Schema {
    let fixture: Value = serde_json::from_str(FIXTURE_SCHEMA).expect("the embedded fixture schema is JSON");
    let mut exchanges = fixture["properties"]["exchanges"].clone();
    exchanges["minItems"] = json!(1);
    exchanges["description"] = json!("Exchanges served by `switchyard sandbox` only, in the fixture format.");
    let schema = json!({
        "$schema": fixture["$schema"],
        "type": "object",
        "additionalProperties": false,
        "required": ["exchanges"],
        "properties": {
            "description": fixture["properties"]["description"],
            "exchanges": exchanges,
        },
        "$defs": fixture["$defs"],
    });
    Schema::new(&schema.to_string()).expect("a schema derived from the fixture schema is valid")
}

/// The live-secret scan of a fixture (`switchyard test`'s rules): a known token format
/// anywhere, a random-looking value under a header, field or key named like a secret.
fn scan_secrets(file: usize, node: &Node, path: &mut Vec<String>, out: &mut Vec<Diagnostic>) {
    match &node.kind {
        NodeKind::Str(value, _) => {
            let key = path.iter().rev().find(|s| s.parse::<usize>().is_err()).map(String::as_str);
            if let Some(reason) = live_secret_reason(value, key.is_some_and(is_secret_name)) {
                out.push(
                    Diagnostic::new(Code::FixtureSecret, format!("`{}` looks like a live secret: {reason}", path.join(".")))
                        .at(file, node.span)
                        .label("live-looking secret")
                        .help("replace it with a fake value such as `fake-access-token`, the one the fixtures' account uses"),
                );
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                scan_secrets(file, item, path, out);
                path.pop();
            }
        }
        NodeKind::Map(entries) => {
            for entry in entries {
                path.push(entry.key.clone());
                scan_secrets(file, &entry.value, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// `redirect_uri?code=fake-authorization-code&state=…` for an OAuth authorize request.
fn authorize_redirect(request: &UpstreamRequest) -> Option<String> {
    if request.method != HttpMethod::Get {
        return None;
    }
    let query: Vec<(String, String)> = request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("response_type") != Some("code") {
        return None;
    }
    let mut target = url::Url::parse(get("redirect_uri")?).ok()?;
    {
        let mut pairs = target.query_pairs_mut();
        pairs.append_pair("code", FAKE_CODE);
        if let Some(state) = get("state") {
            pairs.append_pair("state", state);
        }
    }
    Some(target.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_fixtures::replay::{RecordedResponse, RequestMatcher};

    fn exchange(
        method: HttpMethod,
        path: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, &str)]>,
        status: u16,
        body: Value,
    ) -> Exchange {
        Exchange {
            request: RequestMatcher {
                method,
                path: path.into(),
                query: query.iter().map(|(k, v)| (k.to_string(), switchyard_fixtures::replay::QueryValue::One(v.to_string()))).collect(),
                headers: [("authorization".to_string(), "Bearer fake-access-token".to_string())].into_iter().collect(),
                body: None,
                form: form.map(|f| f.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                body_text: None,
            },
            response: RecordedResponse { status, headers: Default::default(), body: Some(body), body_text: None },
        }
    }

    fn sandbox(exchanges: Vec<Exchange>) -> Sandbox {
        Sandbox {
            integration: "acme".into(),
            cases: 1,
            account: None,
            list: None,
            origins: ProviderOrigins::default(),
            origin: None,
            exchanges: exchanges
                .into_iter()
                .enumerate()
                .map(|(i, exchange)| {
                    let body = Bytes::from(serde_json::to_vec(exchange.response.body.as_ref().unwrap()).unwrap());
                    Recorded { case: format!("case{i}"), number: 1, exchange, body }
                })
                .collect(),
        }
    }

    fn request(method: HttpMethod, target: &str, headers: &[(&str, &str)], body: &str) -> UpstreamRequest {
        let uri: Uri = target.parse().unwrap();
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.insert(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        upstream_request(method, &uri, &map, Bytes::from(body.to_string())).unwrap()
    }

    fn case_of<'a>(sandbox: &'a Sandbox, request: &UpstreamRequest) -> Option<&'a str> {
        sandbox.answer(request).map(|r| r.case.as_str())
    }

    #[test]
    fn the_closest_query_wins_and_credentials_do_not_count() {
        let s = sandbox(vec![
            exchange(HttpMethod::Get, "/v1/items", &[("limit", "2")], None, 200, json!({"page": 1})),
            exchange(HttpMethod::Get, "/v1/items", &[("limit", "2"), ("after", "c2")], None, 200, json!({"page": 2})),
        ]);
        let headers = [("authorization", "Bearer live-looking-token")];
        assert_eq!(case_of(&s, &request(HttpMethod::Get, "/v1/items?limit=50", &headers, "")), Some("case0"));
        assert_eq!(case_of(&s, &request(HttpMethod::Get, "/v1/items?limit=50&after=c2", &headers, "")), Some("case1"));
        assert_eq!(case_of(&s, &request(HttpMethod::Get, "/v1/other", &headers, "")), None);
        assert_eq!(case_of(&s, &request(HttpMethod::Post, "/v1/items", &headers, "")), None);
    }

    #[test]
    fn success_beats_a_recorded_error_and_the_fuller_body_breaks_ties() {
        let s = sandbox(vec![
            exchange(HttpMethod::Get, "/v1/items", &[("limit", "100")], None, 429, json!({"error": "slow down"})),
            exchange(HttpMethod::Get, "/v1/items", &[("limit", "1")], None, 200, json!({"items": [1]})),
            exchange(HttpMethod::Get, "/v1/items", &[("limit", "2")], None, 200, json!({"items": [1, 2]})),
        ]);
        assert_eq!(case_of(&s, &request(HttpMethod::Get, "/v1/items?limit=100", &[], "")), Some("case2"));
        assert_eq!(case_of(&s, &request(HttpMethod::Get, "/v1/items?limit=1", &[], "")), Some("case1"));
        let only_error = sandbox(vec![exchange(HttpMethod::Get, "/v1/items", &[], None, 401, json!({}))]);
        assert_eq!(case_of(&only_error, &request(HttpMethod::Get, "/v1/items", &[], "")), Some("case0"));
    }

    #[test]
    fn a_token_request_matches_whatever_its_client_and_tokens() {
        let s = sandbox(vec![exchange(
            HttpMethod::Post,
            "/oauth/token",
            &[],
            Some(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "fake-refresh-token"),
                ("client_id", "fake-client-id"),
                ("client_secret", "fake-client-secret"),
            ]),
            200,
            json!({"access_token": "fake-access-token-2"}),
        )]);
        let form = "grant_type=refresh_token&refresh_token=r-123&client_id=my-app&client_secret=s3cr3t";
        let r = request(HttpMethod::Post, "/oauth/token", &[("content-type", "application/x-www-form-urlencoded")], form);
        let found = s.answer(&r).unwrap();
        assert_eq!(distance(&compare(&found.exchange.request, &r)), 0);
    }

    #[test]
    fn a_sandbox_file_is_read_and_checked_like_a_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let read = |text: &str| {
            let path = dir.path().join("verify.yaml");
            std::fs::write(&path, text).unwrap();
            let mut files = Vec::new();
            let (exchanges, diagnostics) = load_sandbox_file(&path, "fixtures/sandbox/verify.yaml", &mut files);
            let codes: Vec<(&str, usize)> = diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| (d.code.id(), files[0].text[..d.span.start].matches('\n').count() + 1))
                .collect();
            (exchanges, codes.into_iter().map(|(c, l)| (c.to_string(), l)).collect::<Vec<_>>())
        };
        let exchange = "exchanges:\n  - request:\n      method: GET\n      path: /v2/self\n      headers:\n        authorization: Bearer fake-access-token\n    response:\n      status: 200\n      body: {active: true}\n";
        let (exchanges, errors) = read(&format!("description: The verify call.\n{exchange}"));
        assert_eq!(errors, vec![]);
        let exchanges = exchanges.unwrap();
        assert_eq!((exchanges[0].request.path.as_str(), exchanges[0].response.body.clone()), ("/v2/self", Some(json!({"active": true}))));
        // A key the format does not have, no exchanges at all, a live-looking token (line 6).
        assert_eq!(read(&format!("call: {{}}\n{exchange}")).1.first().map(|(c, l)| (c.as_str(), *l)), Some(("E0201", 1)));
        assert!(read("description: nothing\nexchanges: []\n").0.is_none());
        let live = exchange.replace("Bearer fake-access-token", "Bearer ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789");
        assert_eq!(read(&live).1, vec![("E0501".to_string(), 6)]);
    }

    #[test]
    fn answers_link_to_the_host_the_request_was_sent_to() {
        let mut s = sandbox(vec![]);
        s.origins.insert("https://api.acme.test");
        s.origin = Some(url::Url::parse("http://127.0.0.1:9100").unwrap());
        let mut headers = HeaderMap::new();
        assert_eq!(s.rewrite_for(&headers).unwrap().text("https://api.acme.test/v1/items?page=2"), "http://127.0.0.1:9100/v1/items?page=2");
        headers.insert("host", HeaderValue::from_static("localhost:9100"));
        assert_eq!(
            s.rewrite_for(&headers).unwrap().text("<https://api.acme.test/v1/items?page=2>; rel=\"next\""),
            "<http://localhost:9100/v1/items?page=2>; rel=\"next\""
        );
        headers.insert("host", HeaderValue::from_static("not a host"));
        assert_eq!(s.rewrite_for(&headers).unwrap().to(), "http://127.0.0.1:9100");
    }

    #[test]
    fn an_authorize_request_is_sent_back_with_a_fake_code() {
        let r = request(
            HttpMethod::Get,
            "/oauth/authorize?response_type=code&client_id=x&redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcb&state=s1",
            &[],
            "",
        );
        assert_eq!(authorize_redirect(&r).as_deref(), Some("http://127.0.0.1:8080/cb?code=fake-authorization-code&state=s1"));
        assert_eq!(authorize_redirect(&request(HttpMethod::Get, "/oauth/authorize?state=s1", &[], "")), None);
    }
}
