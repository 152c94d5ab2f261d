//! The log of upstream exchanges: every request the engine sends, with its response, redacted and
//! written off the request path by one writer thread.
//!
//! The engine's transport knows nothing of accounts, so the server runs each engine call inside a
//! [`CallContext`] (a task-local): which environment and account it is for, and the secret values
//! in play. The context also learns secrets as they appear: a token response's new access and
//! refresh tokens are redacted in its own log entry and in every later one of the same call.
//!
//! The context is also where the redaction of what a provider says ends: [`with_context`], the
//! only way to run an engine call for an account, returns its error redacted of every secret the
//! call knew (and of the credentials the error's own body excerpt carries), so no route, store
//! write or log line downstream sees one. The refresher redacts before it stores or traces
//! ([`redact_error`]). The redaction itself is `switchyard_store::redact::Redactor`.

use crate::metrics::Metrics;
use axum::body::Bytes;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use switchyard_registry::{FieldType, Registry};
use switchyard_runtime::account::Account as RuntimeAccount;
use switchyard_runtime::answer;
use switchyard_runtime::error::RuntimeError;
use switchyard_runtime::http::{SendFuture, Transport, UpstreamRequest, UpstreamResponse};
use switchyard_store::redact::{Redactor, MIN_SECRET_LEN};
use switchyard_store::{NewExchange, Store};

/// Bodies are cut to this before redaction (the store cuts further); a 30 MB page is not copied
/// into the log.
const BODY_PREFIX_BYTES: usize = 64 * 1024;
/// Response bodies up to this size are searched for new credentials on the request path (a
/// token response is a few hundred bytes); a page of records is not parsed again for them.
const TOKEN_RESPONSE_MAX_BYTES: usize = 16 * 1024;
/// Exchanges waiting for the writer; past this, new ones are dropped (and counted) rather than
/// letting a slow disk hold requests up.
const QUEUE_CAPACITY: usize = 10_000;

tokio::task_local! {
    static CALL: Arc<CallContext>;
}

/// Who an engine call is for.
#[derive(Debug)]
pub struct CallContext {
    pub environment_id: String,
    pub account_id: Option<String>,
    pub integration: String,
    secrets: Mutex<Vec<String>>,
}

impl CallContext {
    pub fn new(environment_id: &str, account_id: Option<&str>, integration: &str, secrets: Vec<String>) -> Arc<CallContext> {
        Arc::new(CallContext {
            environment_id: environment_id.to_string(),
            account_id: account_id.map(str::to_string),
            integration: integration.to_string(),
            secrets: Mutex::new(secrets.into_iter().filter(|s| !s.is_empty()).collect()),
        })
    }

    fn learn(&self, values: impl IntoIterator<Item = String>) {
        let mut secrets = self.secrets.lock().unwrap_or_else(|p| p.into_inner());
        for value in values {
            if !value.is_empty() && !secrets.contains(&value) {
                secrets.push(value);
            }
        }
    }

    fn secrets(&self) -> Vec<String> {
        self.secrets.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `error` with every secret of the call redacted: those given, those learned from its
    /// exchanges, and the credentials its own body excerpt carries (a token response the engine
    /// could not use still returned them).
    fn redact(&self, error: RuntimeError) -> RuntimeError {
        self.learn(error.body_excerpt.as_deref().map(|excerpt| credentials_in_body(excerpt.as_bytes())).unwrap_or_default());
        redact_with(&Redactor::from_secrets(self.secrets()), error)
    }
}

/// Runs `future` (an engine call) with `context`: its exchanges are logged for that account, and
/// its error comes back redacted of every secret the call knew.
pub async fn with_context<T, F>(context: Arc<CallContext>, future: F) -> Result<T, RuntimeError>
where
    F: Future<Output = Result<T, RuntimeError>>,
{
    let _call = CallInFlight::enter();
    let result = CALL.scope(context.clone(), future).await;
    result.map_err(|error| context.redact(error))
}

/// Every secret an account's call may repeat: its credentials, its secret connection fields
/// (per the definition), the install's client and webhook secrets.
pub fn account_secrets(registry: &Registry, account: &RuntimeAccount) -> Vec<String> {
    let mut out: Vec<String> = account.credentials.secret_values().map(str::to_string).collect();
    out.extend(account.install.client_secret.iter().chain(&account.install.webhook_secret).map(|s| s.expose().to_string()));
    if let Some(integration) = registry.integration(&account.integration) {
        for (name, field) in &integration.connection.fields {
            if field.field_type == FieldType::Secret {
                out.extend(account.connection.get(name).map(str::to_string));
            }
        }
    }
    out
}

/// Adds `secrets` to the running call's (if any): its later log entries and its error are
/// redacted of them too (the refresher's credentials, re-read under its lease).
pub fn learn_secrets(secrets: impl IntoIterator<Item = String>) {
    let _ = CALL.try_with(|context| context.learn(secrets));
}

/// `error` redacted of `secrets` and, inside an engine call, of every secret the call knows.
pub fn redact_error(error: RuntimeError, secrets: impl IntoIterator<Item = String>) -> RuntimeError {
    match CALL.try_with(Arc::clone) {
        Ok(context) => {
            context.learn(secrets);
            context.redact(error)
        }
        Err(_) => {
            let mut secrets: Vec<String> = secrets.into_iter().collect();
            secrets.extend(error.body_excerpt.as_deref().map(|excerpt| credentials_in_body(excerpt.as_bytes())).unwrap_or_default());
            redact_with(&Redactor::from_secrets(secrets), error)
        }
    }
}

fn redact_with(redactor: &Redactor, mut error: RuntimeError) -> RuntimeError {
    if !redactor.is_empty() {
        answer::redact_error(&mut error, &|text| redactor.redact(text), &|text| redactor.redact_cut(text));
    }
    error
}

/// Engine calls running now. Writing an exchange costs about a tenth of what mapping its page
/// does, and mapping is what a caller waits for: the writer waits for a moment with no call
/// running (the first exchange of a call is logged while the call goes on).
static CALLS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// How long the writer waits for a quiet moment at most: on a busy server there is none, and
/// the log must keep up (the queue is bounded).
const MAX_WAIT: Duration = Duration::from_millis(50);
const QUIET_POLL: Duration = Duration::from_micros(250);

struct CallInFlight;

impl CallInFlight {
    fn enter() -> CallInFlight {
        CALLS_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        CallInFlight
    }
}

impl Drop for CallInFlight {
    fn drop(&mut self) {
        CALLS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

fn wait_for_a_quiet_moment() {
    let deadline = Instant::now() + MAX_WAIT;
    while CALLS_IN_FLIGHT.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        std::thread::sleep(QUIET_POLL);
    }
}

/// Exchanges written together: one transaction per run of one environment's exchanges (at most
/// [`Batch::MAX`]), rather than one per exchange, which on Postgres is a commit (a WAL flush) each.
struct Batch {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    pending: Vec<(String, NewExchange, Vec<String>)>,
    /// Failed writes not yet reported, and when the last report was made.
    unreported: usize,
    reported_at: Option<Instant>,
}

impl Batch {
    const MAX: usize = 500;
    /// A database that is down fails every write: one warning this often, with the count.
    const REPORT_EVERY: Duration = Duration::from_secs(10);

    fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Batch {
        Batch { store, metrics, pending: Vec::new(), unreported: 0, reported_at: None }
    }

    fn push(&mut self, environment_id: String, exchange: NewExchange, secrets: Vec<String>) {
        self.pending.push((environment_id, exchange, secrets));
        if self.pending.len() >= Self::MAX {
            self.write();
        }
    }

    /// Writes what is pending. Each exchange is redacted of the secrets of every exchange of its
    /// run (all of one environment): more than its own, never less. What cannot be written is
    /// counted as dropped (`switchyard_exchange_log_dropped_total`).
    fn write(&mut self) {
        let mut pending = std::mem::take(&mut self.pending).into_iter().peekable();
        while let Some((environment_id, exchange, secrets)) = pending.next() {
            let mut run = vec![exchange];
            let mut all_secrets = secrets;
            while let Some((_, exchange, secrets)) = pending.next_if(|(next, _, _)| *next == environment_id) {
                run.push(exchange);
                all_secrets.extend(secrets);
            }
            all_secrets.sort_unstable();
            all_secrets.dedup();
            let refs: Vec<&str> = all_secrets.iter().map(String::as_str).collect();
            let count = run.len();
            if let Err(error) = self.store.append_exchanges(&environment_id, run, &refs) {
                self.failed(count, &error);
            }
        }
    }

    fn failed(&mut self, count: usize, error: &switchyard_store::StoreError) {
        for _ in 0..count {
            self.metrics.log_dropped();
        }
        self.unreported += count;
        if self.reported_at.is_none_or(|at| at.elapsed() >= Self::REPORT_EVERY) {
            tracing::warn!(%error, dropped = self.unreported, "could not write upstream exchanges to the log");
            self.unreported = 0;
            self.reported_at = Some(Instant::now());
        }
    }
}

enum Message {
    Exchange {
        environment_id: String,
        exchange: NewExchange,
        /// The response body as it came: masked on the writer thread, off the request path.
        response_body: Option<Bytes>,
        secrets: Vec<String>,
    },
    /// Answered once everything queued before it is written.
    Flush(mpsc::Sender<()>),
}

/// The writer's handle: cheap to clone.
#[derive(Clone)]
pub struct ExchangeLog {
    sender: mpsc::SyncSender<Message>,
    metrics: Arc<Metrics>,
}

/// Joins the writer on shutdown, after every queued exchange is written.
pub struct ExchangeLogWriter {
    thread: Option<JoinHandle<()>>,
}

impl ExchangeLog {
    pub fn start(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> (ExchangeLog, ExchangeLogWriter) {
        let (sender, receiver) = mpsc::sync_channel::<Message>(QUEUE_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("exchange-log".into())
            .spawn({
                let metrics = metrics.clone();
                move || {
                    let mut batch = Batch::new(store, metrics);
                    while let Ok(first) = receiver.recv() {
                        if matches!(first, Message::Exchange { .. }) {
                            wait_for_a_quiet_moment();
                        }
                        // Then everything queued meanwhile, in order, written a batch at a time.
                        for message in std::iter::once(first).chain(receiver.try_iter()) {
                            match message {
                                Message::Exchange { environment_id, mut exchange, response_body, secrets } => {
                                    let token_exchange = is_token_request(exchange.request_body.as_deref());
                                    exchange.response_body =
                                        response_body.map(|body| if token_exchange { scrub_token_body(&body) } else { scrub_body(&body) });
                                    batch.push(environment_id, exchange, secrets);
                                }
                                Message::Flush(done) => {
                                    batch.write();
                                    let _ = done.send(());
                                }
                            }
                        }
                        batch.write();
                    }
                }
            })
            .expect("the exchange log writer thread starts");
        (ExchangeLog { sender, metrics }, ExchangeLogWriter { thread: Some(thread) })
    }

    /// Waits until every exchange logged before this call is written, so a read of the log sees
    /// the requests that came before it.
    pub async fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.sender.send(Message::Flush(done)).is_ok() {
            let _ = tokio::task::spawn_blocking(move || wait.recv_timeout(Duration::from_secs(10))).await;
        }
    }

    fn record(&self, environment_id: String, (exchange, response_body): (NewExchange, Option<Bytes>), secrets: Vec<String>) {
        if self.sender.try_send(Message::Exchange { environment_id, exchange, response_body, secrets }).is_err() {
            self.metrics.log_dropped();
        }
    }
}

impl ExchangeLogWriter {
    /// Drops `log` (the last sender must go too) and waits for the queue to drain.
    pub fn finish(mut self, log: ExchangeLog) {
        drop(log);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A transport that logs each exchange of a call made inside a [`CallContext`] and times it
/// for the upstream latency histogram.
pub struct LoggingTransport {
    inner: Arc<dyn Transport>,
    log: ExchangeLog,
    metrics: Arc<Metrics>,
}

impl LoggingTransport {
    pub fn new(inner: Arc<dyn Transport>, log: ExchangeLog, metrics: Arc<Metrics>) -> LoggingTransport {
        LoggingTransport { inner, log, metrics }
    }
}

impl Transport for LoggingTransport {
    fn send(&self, request: UpstreamRequest, timeout: Duration) -> SendFuture<'_> {
        Box::pin(async move {
            let context = CALL.try_with(Arc::clone).ok();
            let Some(context) = context else {
                return self.inner.send(request, timeout).await;
            };
            let logged = LoggedRequest::of(&request);
            let started = Instant::now();
            let result = self.inner.send(request, timeout).await;
            let latency = started.elapsed();
            self.metrics.upstream(&context.integration, result.as_ref().ok().map(|r| r.status), latency);
            let exchange = exchange(&context, logged, &result, latency);
            self.log.record(context.environment_id.clone(), exchange, context.secrets());
            result
        })
    }
}

struct LoggedRequest {
    method: &'static str,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl LoggedRequest {
    fn of(request: &UpstreamRequest) -> LoggedRequest {
        let mut headers = request.headers.clone();
        if let Some(body) = &request.body {
            headers.push(("Content-Type".into(), body.content_type.to_string()));
        }
        LoggedRequest {
            method: request.method.as_str(),
            url: scrub_url(request.url.as_str()),
            headers,
            body: request.body.as_ref().map(|b| scrub_body(&b.bytes)),
        }
    }
}

fn exchange(
    context: &CallContext,
    request: LoggedRequest,
    result: &Result<UpstreamResponse, RuntimeError>,
    latency: Duration,
) -> (NewExchange, Option<Bytes>) {
    let mut exchange = NewExchange {
        account_id: context.account_id.clone(),
        integration: context.integration.clone(),
        method: request.method.to_string(),
        url: request.url,
        status: None,
        latency,
        request_headers: request.headers,
        request_body: request.body,
        ..NewExchange::default()
    };
    let mut response_body = None;
    match result {
        Ok(response) => {
            context.learn(credentials_in_body(&response.body));
            exchange.status = Some(response.status);
            exchange.response_headers = response
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
                .collect();
            // A reference to the same bytes, not a copy.
            response_body = (!response.body.is_empty()).then(|| response.body.clone());
        }
        Err(error) => exchange.error = Some(error.message.clone()),
    }
    (exchange, response_body)
}

/// Whether a JSON field's name says its value is a credential (`access_token`, `client_secret`,
/// `password`, `api_key`, …).
fn sensitive_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    // What describes a credential is not one (`token_type: bearer`, `token_url`).
    if ["_type", "_type_hint", "_url", "_uri", "_endpoint"].iter().any(|s| name.ends_with(s)) {
        return false;
    }
    ["token", "secret", "password", "passwd", "api_key", "apikey", "authorization", "assertion", "signature"]
        .iter()
        .any(|s| name.contains(s))
}

/// The same for a form or query parameter, where an OAuth `code` or a bare `key` travels too (in a
/// JSON body `code` is usually an error code, worth keeping).
fn sensitive_param(name: &str) -> bool {
    sensitive_name(name) || matches!(name.to_ascii_lowercase().as_str(), "code" | "code_verifier" | "key" | "sig")
}

/// The values of credential-named fields in a token endpoint's body, or in an excerpt of one
/// (an error's `body_excerpt`): the one place both the exchange log and the error path find a
/// response's new credentials. Whole JSON is walked; anything else (JSON cut short, followed by
/// text, with bytes that are not UTF-8) is scanned for `"name": "value` pairs (a value up to its
/// closing quote or the end of the text), and for form `name=value` pairs split on `&`, whatever
/// whitespace the rest of the text has (`refresh_token=…&scope=read write`). A body larger than a
/// token response is not searched.
fn credentials_in_body(body: &[u8]) -> Vec<String> {
    static PAIR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let mut out = Vec::new();
    if body.len() > TOKEN_RESPONSE_MAX_BYTES {
        return out;
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        collect_sensitive(&value, &mut out, 0);
        return out;
    }
    let text = String::from_utf8_lossy(body);
    let pair =
        PAIR.get_or_init(|| regex::Regex::new(r#""((?:[^"\\]|\\.){1,128})"\s*:\s*"((?:[^"\\]|\\.)*)"?"#).expect("the pattern compiles"));
    for found in pair.captures_iter(&text) {
        if !sensitive_name(&found[1]) {
            continue;
        }
        let raw = found[2].trim_end_matches('\\');
        let value = serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_string());
        if value.chars().count() >= MIN_SECRET_LEN && !out.contains(&value) {
            out.push(value);
        }
    }
    if text.contains('=') {
        for piece in text.split('&') {
            let Some((name, value)) = piece.split_once('=') else { continue };
            // Form-decoded as one pair (`+` and `%XX`), without the text's line ends around it.
            let pair = format!("{}={}", name.trim(), value.trim());
            let Some((name, value)) = url::form_urlencoded::parse(pair.as_bytes()).next() else { continue };
            if sensitive_param(&name) && !value.is_empty() && !out.iter().any(|v| *v == value) {
                out.push(value.into_owned());
            }
        }
    }
    out
}

fn collect_sensitive(value: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(s) if sensitive_name(key) && s.chars().count() >= MIN_SECRET_LEN => out.push(s.clone()),
                    _ => collect_sensitive(value, out, depth + 1),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_sensitive(v, out, depth + 1)),
        _ => {}
    }
}

/// A body as logged: its start, with credential-named JSON or form fields masked.
/// Whether a logged request body is an OAuth token request (`grant_type` is never masked).
fn is_token_request(body: Option<&str>) -> bool {
    body.is_some_and(|b| b.contains("grant_type"))
}

/// A token endpoint's answer as the log keeps it: masked like any body when it is JSON or a
/// form, else withheld. Every value of such an answer may be a credential, and in a body that
/// cannot be read (a key cut or garbled) nothing says which one is.
fn scrub_token_body(bytes: &[u8]) -> String {
    let whole = bytes.len() <= BODY_PREFIX_BYTES;
    let json = whole && serde_json::from_slice::<Value>(bytes).is_ok();
    let form = whole
        && std::str::from_utf8(bytes)
            .is_ok_and(|t| t.contains('=') && !t.trim().contains(char::is_whitespace) && !t.trim_start().starts_with('<'));
    if json || form {
        scrub_body(bytes)
    } else {
        format!("[a token response of {} bytes that is neither JSON nor a form: withheld, it may hold credentials]", bytes.len())
    }
}

fn scrub_body(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(BODY_PREFIX_BYTES)];
    if cut.len() == bytes.len() {
        if let Ok(mut value) = serde_json::from_slice::<Value>(cut) {
            mask_json(&mut value, 0);
            return value.to_string();
        }
        if let Ok(text) = std::str::from_utf8(cut) {
            if text.contains('=') && !text.trim().contains(char::is_whitespace) && !text.trim_start().starts_with('<') {
                return mask_form(text);
            }
        }
    }
    String::from_utf8_lossy(cut).into_owned()
}

fn mask_json(value: &mut Value, depth: usize) {
    if depth > 32 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if value.is_string() && sensitive_name(key) {
                    *value = Value::from(switchyard_store::redact::REDACTED);
                } else {
                    mask_json(value, depth + 1);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_json(v, depth + 1)),
        _ => {}
    }
}

fn mask_form(text: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(text.as_bytes()) {
        if sensitive_param(&key) {
            out.append_pair(&key, switchyard_store::redact::REDACTED);
        } else {
            out.append_pair(&key, &value);
        }
    }
    out.finish()
}

fn scrub_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return url.to_string() };
    if parsed.query().is_none() {
        return url.to_string();
    }
    let pairs: Vec<(String, String)> = parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if !pairs.iter().any(|(k, _)| sensitive_param(k)) {
        return url.to_string();
    }
    let mut query = parsed.query_pairs_mut();
    query.clear();
    for (key, value) in &pairs {
        query.append_pair(key, if sensitive_param(key) { switchyard_store::redact::REDACTED } else { value });
    }
    drop(query);
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_are_masked_and_learned() {
        let body = br#"{"access_token":"at-123456","refresh_token":"rt-abcdef","expires_in":3600,"nested":{"id_token":"idt-999999"}}"#;
        let masked = scrub_body(body);
        assert!(!masked.contains("at-123456") && !masked.contains("rt-abcdef") && !masked.contains("idt-999999"), "{masked}");
        assert!(masked.contains("3600"));
        let mut learned = credentials_in_body(body);
        learned.sort();
        assert_eq!(learned, ["at-123456", "idt-999999", "rt-abcdef"]);
    }

    #[test]
    fn forms_and_urls_are_masked() {
        let garbled = b"{\"access_token\":\"at-1\",\"refresh_\xfftoken\":\"rt-2\"}";
        assert!(is_token_request(Some("grant_type=refresh_token&refresh_token=%5BREDACTED%5D")));
        assert!(!scrub_token_body(garbled).contains("rt-2"), "{}", scrub_token_body(garbled));
        assert_eq!(scrub_token_body(b"{\"access_token\":\"at-1\"}"), r#"{"access_token":"[REDACTED]"}"#);
        let form = scrub_body(b"grant_type=refresh_token&refresh_token=rt-1&client_secret=s3cr3t");
        assert_eq!(form, "grant_type=refresh_token&refresh_token=%5BREDACTED%5D&client_secret=%5BREDACTED%5D");
        let url = scrub_url("https://h.test/x?limit=10&api_key=k-1");
        assert_eq!(url, "https://h.test/x?limit=10&api_key=%5BREDACTED%5D");
        assert_eq!(scrub_url("https://h.test/x?limit=10"), "https://h.test/x?limit=10");
    }

    #[test]
    fn credentials_are_found_in_a_cut_excerpt() {
        let cut = r#"{"token_type":"bearer","refresh_token":"rt-new\/abcdef","access_token":"at-cut-off-he"#;
        let mut found = credentials_in_body(cut.as_bytes());
        found.sort();
        assert_eq!(found, ["at-cut-off-he", "rt-new/abcdef"]);
        assert_eq!(credentials_in_body(b"refresh_token=rt-form-123&x=1"), ["rt-form-123"]);
        assert!(credentials_in_body(br#"{"error":"invalid_grant","token_type":"bearer"}"#).is_empty());
    }

    #[test]
    fn credentials_are_found_in_a_token_answer_that_does_not_parse() {
        let cases: [&[u8]; 5] = [
            br#"{"access_token":"at-new-123456","scope":"read write""#,
            b"{\"access_token\":\"at-new-123456\"}\n<!-- x -->",
            b"{\"access_token\":\"at-new-123456\",\"note\":\"\xff\"}",
            b"access_token=at-new-123456&scope=read write",
            b"scope=read write&token_type=bearer&access_token=at%2Dnew%2D123456\r\n",
        ];
        for body in cases {
            assert_eq!(credentials_in_body(body), ["at-new-123456"], "{}", String::from_utf8_lossy(body));
        }
        assert!(credentials_in_body(b"scope=read write&token_type=bearer").is_empty());
    }

    #[test]
    fn an_error_outside_a_call_is_redacted_of_what_it_is_given() {
        let error = RuntimeError::new(switchyard_runtime::error::ErrorKind::Upstream, "no access_token")
            .with_response(200, br#"{"refresh_token":"rt-fresh-123456"}"#);
        let error = redact_error(error, ["sk-given-1".to_string()]);
        assert_eq!(error.body_excerpt.as_deref(), Some(r#"{"refresh_token":"[REDACTED]"}"#));
        let error = RuntimeError::new(switchyard_runtime::error::ErrorKind::Auth, "bad key sk-given-1");
        assert_eq!(redact_error(error, ["sk-given-1".to_string()]).message, "bad key [REDACTED]");
    }

    #[test]
    fn error_codes_in_json_stay() {
        let masked = scrub_body(br#"{"error":"invalid_grant","code":"E1","message":"bad"}"#);
        assert!(masked.contains("invalid_grant") && masked.contains("E1"));
    }
}
