//! Unified calls: a model's resource and method, mapped onto the provider's.

use super::call::{MethodCall, ProviderResponse};
use super::classify::parse_body;
use super::page_text::{self, PageText};
use super::records::Records;
use super::Engine;
use super::Refreshed;
use crate::account::Account;
use crate::answer::Answer;
use crate::error::{ErrorKind, RuntimeError};
use crate::http::UpstreamResponse;
use crate::mapping::Bindings;
use crate::pagination::{headers_json, next_position, requested_page_size, token, CursorState, Position, ResponseView, Step};
use crate::rate_limit::RateLimitStatus;
use crate::registry::{CursorFrom, Integration, Method, Pagination, Path, UnifiedMapping};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    pub page_size: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// The caller's query parameters, visible to mappings as `$query`.
    pub query: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct UnifiedPage {
    pub results: Records,
    /// Opaque and signed; `None` on the last page.
    pub next_cursor: Option<String>,
    pub rate_limit: RateLimitStatus,
    pub refreshed: Option<Refreshed>,
}

#[derive(Debug, Clone, Default)]
pub struct WriteRequest {
    pub body: Value,
    pub query: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct UnifiedRecord {
    pub result: Value,
    pub rate_limit: RateLimitStatus,
    pub refreshed: Option<Refreshed>,
}

/// A page's records as they were read: parsed with the page, or as text ([`PageText`]).
enum PageRecords<'a, 't> {
    Parsed(&'a [Value]),
    Text(&'a PageText<'t>),
}

/// A unified method resolved to the provider's.
struct Target<'a> {
    integration: &'a Integration,
    mapping: &'a UnifiedMapping,
    method: &'a Method,
    list_id: String,
}

impl Engine {
    fn target<'a>(&'a self, account: &Account, model: &str, resource: &str, method: &str) -> Result<Target<'a>, RuntimeError> {
        let integration = self.integration(&account.integration)?;
        let mapping =
            integration.unified.get(model).and_then(|m| m.resources.get(resource)).and_then(|r| r.get(method)).ok_or_else(|| {
                RuntimeError::new(ErrorKind::InvalidRequest, format!("`{}` does not map `{model}.{resource}.{method}`", integration.name))
            })?;
        let provider_method = mapping.method.as_deref().unwrap_or(method);
        let definition = integration.resources.get(&mapping.resource).and_then(|r| r.methods.get(provider_method)).ok_or_else(|| {
            RuntimeError::new(
                ErrorKind::InvalidRequest,
                format!("`{}` has no method `{}.{provider_method}`", integration.name, mapping.resource),
            )
        })?;
        Ok(Target { integration, mapping, method: definition, list_id: format!("{}/{model}/{resource}/{method}", integration.name) })
    }

    /// Bindings every mapping of a call sees.
    fn bindings(&self, account: &Account, params: &Map<String, Value>, query: &Map<String, Value>) -> Bindings {
        Bindings::new()
            .with("params", Value::Object(params.clone()))
            .with("query", Value::Object(query.clone()))
            .with("connection", account.connection.to_json())
    }

    /// Evaluates a mapping's `params`, `query` and `body` into a method call.
    fn prepare(
        &self,
        account: &Account,
        target: &Target,
        params: Map<String, Value>,
        query: &Map<String, Value>,
        input: Value,
    ) -> Result<MethodCall, RuntimeError> {
        let bindings = self.bindings(account, &params, query);
        let mut call = MethodCall { params, ..MethodCall::default() };
        for (name, expr) in &target.mapping.params {
            let value = self.eval(expr, &input, &bindings)?;
            call.params.insert(name.clone(), value);
        }
        if let Some(expr) = &target.mapping.query {
            match self.eval(expr, &input, &bindings)? {
                Value::Object(map) => call.query = map,
                Value::Null => {}
                other => return Err(shape_error(expr, "query", &other)),
            }
        }
        if let Some(expr) = &target.mapping.body {
            call.body = Some(self.eval(expr, &input, &bindings)?);
        }
        Ok(call)
    }

    /// One page of a unified list.
    pub async fn list(&self, account: &Account, model: &str, resource: &str, request: &ListRequest) -> Result<UnifiedPage, RuntimeError> {
        let target = self.target(account, model, resource, "list")?;
        let pagination = target.method.pagination.as_ref();
        let mut state = match &request.cursor {
            Some(text) => CursorState::decode_for(text, &self.config.cursor_key, &target.list_id, account.id.as_deref()).map_err(
                |token::PaginationError::InvalidCursor(why)| RuntimeError::new(ErrorKind::Pagination, format!("invalid cursor: {why}")),
            )?,
            None => CursorState { list: target.list_id.clone(), position: Position::Start, page_size: None, pages: 0, seen: Vec::new() },
        };
        if state.pages >= self.config.max_pages.min(pagination.and_then(|p| p.common()).and_then(|c| c.max_pages).unwrap_or(u64::MAX)) {
            return Err(RuntimeError::new(ErrorKind::Pagination, format!("the list reached its bound of {} pages", state.pages)));
        }
        let page_size = match pagination {
            Some(p) => requested_page_size(p, request.page_size.or(state.page_size)),
            None => None,
        };
        let position_value = match &state.position {
            Position::Start => Value::Null,
            Position::Cursor(c) | Position::Url(c) => Value::from(c.clone()),
            Position::Page(n) | Position::Offset(n) => Value::from(*n),
            Position::Dynamic(v) => v.clone(),
        };
        let input = serde_json::json!({ "page_size": page_size, "cursor": position_value, "query": request.query, "params": {} });
        let mut call = self.prepare(account, &target, Map::new(), &request.query, input)?;
        call.position = pagination.map(|_| (state.position.clone(), page_size));
        let sent = self
            .send_authorized(target.integration, account, |account| self.build_request(target.integration, target.method, account, &call))
            .await
            .map_err(|e| self.map_error(&target, e))?;
        let classify = |parsed| {
            self.classify_parsed(target.integration, Some(target.method), &sent.response, parsed).map_err(|e| self.map_error(&target, e))
        };
        // The records read from the page's text when nothing but the mapping reads them, else
        // from the page parsed whole (which also answers every case the text reading leaves).
        // Any failure on the way is left to the whole page too, so that it is reported as it
        // would be then (a page with a record that is not JSON is not JSON, even when another
        // record fails to map first).
        let mut from_text = None;
        if let Some(mut page) = self.page_text(&target, &sent.response) {
            if let Ok(response) = classify(Ok(std::mem::take(&mut page.rest))) {
                if let Ok(results) = self.map_records(account, &target, &call, &request.query, &response, PageRecords::Text(&page)) {
                    from_text = Some((response, page, results));
                }
            }
        }
        let (mut response, results, record_count, last_record, records_text) = match from_text {
            Some((response, page, results)) => {
                let last = page.parts.elements.last().and_then(|span| serde_json::from_str::<Value>(&page.text[span.clone()]).ok());
                (response, results, page.parts.elements.len(), last, Some(page.records_text()))
            }
            None => {
                let response = classify(parse_body(&sent.response))?;
                // No body (or `null`) is not a page: read as an empty list, it would tell a
                // sync that the list is empty. 204 No Content says so deliberately.
                if response.body.is_null() && response.status != 204 {
                    return Err(self.map_error(&target, no_body(&sent.response, "a page of records")));
                }
                let records = records(&response.body, target.method.records.as_ref())?;
                let results = self.map_records(account, &target, &call, &request.query, &response, PageRecords::Parsed(records))?;
                let (count, last) = (records.len(), records.last().cloned());
                (response, results, count, last, None)
            }
        };
        response.refreshed = sent.refreshed;

        let mut next_cursor = None;
        if let Some(p) = pagination {
            let defined = self.as_defined(target.integration, account, &response.url);
            let view = ResponseView {
                body: &response.body,
                headers: &response.headers,
                record_count,
                last_record: last_record.as_ref(),
                request_url: defined.as_ref().unwrap_or(&response.url),
                sent_to: defined.is_some().then_some(&response.url),
            };
            let dynamic = |expr: &crate::registry::Expr, input: &Value| self.eval(expr, input, &Bindings::new());
            if let Step::Next(position) = next_position(p, &state.position, page_size, &view, &dynamic)? {
                if record_count > 0 && !state.remember(format!("page:{}", page_digest(&target, &sent.response, records_text, &response))) {
                    return Err(loop_error("the provider returned the same page of records again"));
                }
                if !state.remember(format!("position:{}", token::digest(&position))) {
                    return Err(loop_error("the provider returned a cursor it had already returned"));
                }
                state.position = position;
                state.pages += 1;
                state.page_size = page_size;
                let encoded = state.encode_for(&self.config.cursor_key, account.id.as_deref());
                if encoded.len() > token::MAX_CURSOR {
                    return Err(RuntimeError::new(
                        ErrorKind::Pagination,
                        format!("the provider's next position does not fit in a cursor ({} bytes)", encoded.len()),
                    ));
                }
                next_cursor = Some(encoded);
            }
        }
        Ok(UnifiedPage { results, next_cursor, rate_limit: response.rate_limit, refreshed: response.refreshed })
    }

    /// Applies the unified mapping's own `error` mapping to a provider error: input
    /// `{status, body}`, output the error's `provider_error`.
    fn map_error(&self, target: &Target, mut error: RuntimeError) -> RuntimeError {
        let (Some(expr), Some(status)) = (&target.mapping.error, error.provider_status) else { return error };
        let input = serde_json::json!({ "status": status, "body": error.provider_body.clone().unwrap_or(Value::Null), "kind": error.kind });
        match self.eval(expr, &input, &Bindings::new()) {
            Ok(mapped @ Value::Object(_)) => error.provider_error = Some(mapped),
            Ok(_) => {}
            Err(e) => error.message = format!("{} (and the error mapping failed: {})", error.message, e.message),
        }
        error
    }

    /// The answer of a unified list for one page ([`Answer`]): its body is the model's envelope,
    /// or `{"results": […], "next_cursor": …}` with the records' text written as the mapping
    /// wrote it (no values built).
    pub fn list_answer(
        &self,
        integration: &str,
        model: &str,
        resource: &str,
        request: &ListRequest,
        page: &UnifiedPage,
    ) -> Result<Answer, RuntimeError> {
        if self.envelope(integration, model)?.is_some() {
            let body = self.list_body(integration, model, resource, request, page)?;
            return Ok(Answer::list(page, body.to_string()));
        }
        let results = page.results.json();
        let mut body = String::with_capacity(results.len() + 64);
        body.push_str("{\"results\":");
        body.push_str(results);
        body.push_str(",\"next_cursor\":");
        body.push_str(&serde_json::to_string(&page.next_cursor).unwrap_or_else(|_| "null".to_string()));
        body.push('}');
        Ok(Answer::list(page, body))
    }

    /// The body a unified list answers with for one page: the model's `envelope`
    /// evaluated on `{results, next_cursor, cursor, page_size, integration, model,
    /// resource}` (with `$query`), or `{results, next_cursor}` when the model has none.
    fn list_body(
        &self,
        integration: &str,
        model: &str,
        resource: &str,
        request: &ListRequest,
        page: &UnifiedPage,
    ) -> Result<Value, RuntimeError> {
        let Some(expr) = self.envelope(integration, model)? else {
            return Ok(serde_json::json!({ "results": page.results.values(), "next_cursor": page.next_cursor }));
        };
        let input = serde_json::json!({
            "results": page.results.values(),
            "next_cursor": page.next_cursor,
            "cursor": request.cursor,
            "page_size": request.page_size,
            "integration": integration,
            "model": model,
            "resource": resource,
        });
        let bindings = Bindings::new().with("query", Value::Object(request.query.clone()));
        self.eval(expr, &input, &bindings)
    }

    /// The list envelope of `model` in `integration`, if it has one.
    fn envelope(&self, integration: &str, model: &str) -> Result<Option<&crate::registry::Expr>, RuntimeError> {
        Ok(self.integration(integration)?.unified.get(model).and_then(|m| m.envelope.as_ref()))
    }

    /// The page read from its text ([`PageText`]), when that gives what reading it whole gives:
    /// a success status, records mapped by a `response` mapping that does not read `$page`, and
    /// nothing else that reads the records (no body condition in the error or rate-limit rules,
    /// no dynamic pagination, no pagination path into the records).
    fn page_text<'t>(&self, target: &Target, response: &'t UpstreamResponse) -> Option<PageText<'t>> {
        if !(200..300).contains(&response.status) {
            return None;
        }
        let expr = target.mapping.response.as_ref()?;
        if self.mapping(expr).ok()?.mentions("page") {
            return None;
        }
        let records = target.method.records.as_ref().map(|p| p.0.as_slice()).unwrap_or_default();
        let integration = target.integration;
        let method_rules = target.method.errors.as_ref().map(|e| e.when.as_slice()).unwrap_or_default();
        let error_rules = integration.errors.as_ref().map(|e| e.when.as_slice()).unwrap_or_default().iter().chain(method_rules);
        let limit_rules =
            [integration.rate_limit.as_ref(), target.method.rate_limit.as_ref()].into_iter().flatten().flat_map(|r| &r.limited_when);
        if error_rules.map(|r| &r.body).chain(limit_rules.map(|r| &r.body)).any(Option::is_some) {
            return None;
        }
        if let Some(pagination) = &target.method.pagination {
            let stop = pagination.common().map(|c| &c.stop);
            let mut paths = stop.into_iter().flat_map(|s| [&s.has_more, &s.is_last, &s.total]).flatten().collect::<Vec<_>>();
            match pagination {
                Pagination::Dynamic { .. } => return None,
                Pagination::Cursor { cursor, .. } if cursor.from == CursorFrom::Body => paths.extend(&cursor.path),
                Pagination::NextUrl { path, .. } => paths.push(path),
                _ => {}
            }
            if paths.iter().any(|path| path.0.starts_with(records)) {
                return None;
            }
        }
        PageText::read(std::str::from_utf8(&response.body).ok()?, records)
    }

    /// Maps a page's records with the unified `response` mapping (the records as they are
    /// without one). Records given as text that are not all JSON are an error here; the caller
    /// then reads the page whole, which reports it where it belongs.
    fn map_records(
        &self,
        account: &Account,
        target: &Target,
        call: &MethodCall,
        query: &Map<String, Value>,
        response: &ProviderResponse,
        records: PageRecords,
    ) -> Result<Records, RuntimeError> {
        let not_json = || RuntimeError::new(ErrorKind::Upstream, "a record of the page is not JSON");
        let Some(expr) = &target.mapping.response else {
            return match records {
                PageRecords::Parsed(records) => Ok(Records::from_values(records.to_vec())),
                PageRecords::Text(_) => Err(not_json()),
            };
        };
        let mut bindings = self.bindings(account, &call.params, query).with("headers", headers_json(&response.headers));
        // A record the mapping maps to nothing (undefined or null) is left out of the page: how
        // a definition drops records (pull requests in an issue list).
        match records {
            PageRecords::Parsed(records) => {
                // The whole page is copied into `$page` only for a mapping that reads it.
                if self.mapping(expr)?.mentions("page") {
                    bindings = bindings.with("page", response.body.clone());
                }
                Ok(Records::from_json(self.eval_each_json(expr, records, &bindings)?))
            }
            PageRecords::Text(page) => {
                let mapped = self.eval_each_json_text(expr, page.text, &page.parts.elements, &bindings)?;
                mapped.map(Records::from_json).ok_or_else(not_json)
            }
        }
    }

    pub async fn get(
        &self,
        account: &Account,
        model: &str,
        resource: &str,
        id: &str,
        query: &Map<String, Value>,
    ) -> Result<UnifiedRecord, RuntimeError> {
        self.single(account, model, resource, "get", Some(id), query, Value::Null).await
    }

    pub async fn create(
        &self,
        account: &Account,
        model: &str,
        resource: &str,
        request: &WriteRequest,
    ) -> Result<UnifiedRecord, RuntimeError> {
        self.single(account, model, resource, "create", None, &request.query, request.body.clone()).await
    }

    pub async fn update(
        &self,
        account: &Account,
        model: &str,
        resource: &str,
        id: &str,
        request: &WriteRequest,
    ) -> Result<UnifiedRecord, RuntimeError> {
        self.single(account, model, resource, "update", Some(id), &request.query, request.body.clone()).await
    }

    pub async fn delete(
        &self,
        account: &Account,
        model: &str,
        resource: &str,
        id: &str,
        query: &Map<String, Value>,
    ) -> Result<UnifiedRecord, RuntimeError> {
        self.single(account, model, resource, "delete", Some(id), query, Value::Null).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn single(
        &self,
        account: &Account,
        model: &str,
        resource: &str,
        method: &str,
        id: Option<&str>,
        query: &Map<String, Value>,
        body: Value,
    ) -> Result<UnifiedRecord, RuntimeError> {
        let target = self.target(account, model, resource, method)?;
        let mut params = Map::new();
        if let Some(id) = id {
            params.insert("id".into(), Value::from(id));
        }
        let input = serde_json::json!({ "query": query, "params": params, "body": body });
        let call = self.prepare(account, &target, params, query, input)?;
        let response = self.call_method(account, target.integration, target.method, &call).await.map_err(|e| self.map_error(&target, e))?;
        // A read must answer its record. Writes may answer nothing: a delete's 204, an update's
        // 204 (Salesforce), a create's 201 without a body.
        if method == "get" && response.body.is_null() {
            return Err(self.map_error(&target, no_body_record(&response)));
        }
        let record = match &target.method.record {
            Some(path) => path.lookup(&response.body).cloned().unwrap_or(Value::Null),
            None => response.body.clone(),
        };
        let result = match (&target.mapping.response, record.is_null()) {
            (Some(expr), false) => {
                let mut bindings = self.bindings(account, &call.params, query).with("headers", headers_json(&response.headers));
                if self.mapping(expr)?.mentions("page") {
                    bindings = bindings.with("page", response.body.clone());
                }
                self.eval(expr, &record, &bindings)?
            }
            _ => record,
        };
        Ok(UnifiedRecord { result, rate_limit: response.rate_limit, refreshed: response.refreshed })
    }

    /// The definition's `verify` call: run after a token import, before anything is stored.
    pub async fn verify(&self, account: &Account) -> Result<ProviderResponse, RuntimeError> {
        let integration = self.integration(&account.integration)?;
        let Some(verify) = &integration.verify else {
            return Err(RuntimeError::new(ErrorKind::InvalidRequest, format!("`{}` defines no verify call", integration.name)));
        };
        let scopes = crate::http::Scopes {
            connection: &account.connection,
            credentials: &account.credentials,
            params: &Map::new(),
            install: Some(&account.install),
        };
        let mut call = MethodCall::default();
        for (name, template) in &verify.params {
            call.params.insert(name.clone(), Value::from(crate::http::render(template, &scopes, crate::http::Encoding::Raw)?));
        }
        call.body = verify.body.clone();
        for (name, template) in &verify.query {
            call.query.insert(name.clone(), Value::from(crate::http::render(template, &scopes, crate::http::Encoding::Raw)?));
        }
        self.call(account, &verify.resource, &verify.method, &call).await
    }
}

/// The records of a list response, borrowed from it (a page is not copied to be mapped).
fn records<'a>(body: &'a Value, path: Option<&Path>) -> Result<&'a [Value], RuntimeError> {
    let found = match path {
        Some(path) => path.lookup(body),
        None => Some(body),
    };
    match found {
        Some(Value::Array(items)) => Ok(items),
        None | Some(Value::Null) => Ok(&[]),
        Some(other) => Err(RuntimeError::new(
            ErrorKind::Upstream,
            format!(
                "expected a list of records at `{}`, found {}",
                path.map(|p| p.to_string()).unwrap_or_else(|| "the body".into()),
                type_name(other)
            ),
        )),
    }
}

/// The digest of a page's records for loop detection: of the records array's text wherever the
/// text can be read so (whichever way the page was read, the same page gives the same digest),
/// else of the parsed records.
fn page_digest(target: &Target, upstream: &UpstreamResponse, records_text: Option<&str>, response: &ProviderResponse) -> String {
    let path = target.method.records.as_ref().map(|p| p.0.as_slice()).unwrap_or_default();
    let text = records_text.or_else(|| std::str::from_utf8(&upstream.body).ok().and_then(|text| page_text::records_text(text, path)));
    match text {
        Some(text) => token::digest_records_text(text),
        None => token::digest_records(records(&response.body, target.method.records.as_ref()).unwrap_or_default()),
    }
}

/// The error for a success status without a body (or with `null`) where `expected` was.
fn no_body(response: &UpstreamResponse, expected: &str) -> RuntimeError {
    let what = if response.body.iter().all(u8::is_ascii_whitespace) { "an empty body" } else { "a null body" };
    RuntimeError::new(
        ErrorKind::Upstream,
        format!("the provider answered HTTP {} with {what} where {expected} was expected", response.status),
    )
    .with_response(response.status, &response.body)
}

/// [`no_body`] for a read, from the classified answer (its body is `null` when it had none).
fn no_body_record(response: &ProviderResponse) -> RuntimeError {
    RuntimeError::new(
        ErrorKind::Upstream,
        format!("the provider answered HTTP {} with an empty or null body where a record was expected", response.status),
    )
    .with_response(response.status, b"")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn shape_error(expr: &crate::registry::Expr, what: &str, value: &Value) -> RuntimeError {
    RuntimeError::new(ErrorKind::Mapping, format!("the {what} mapping at {} must produce an object, not {}", expr.origin, type_name(value)))
}

fn loop_error(what: &str) -> RuntimeError {
    RuntimeError::new(ErrorKind::Pagination, format!("{what}; stopping instead of looping forever"))
}
