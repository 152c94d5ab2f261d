//! The position in a list and how the next one follows from a response.

use super::next_link;
use crate::error::{ErrorKind, RuntimeError};
use crate::registry::{CursorFrom, Expr, Pagination};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

/// Where the next request starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Position {
    Start,
    Cursor(String),
    Page(i64),
    Offset(i64),
    /// A full URL (Link header, next URL in the body).
    Url(String),
    /// Changes to the next request computed by a dynamic pagination expression:
    /// `{ "query": {…}, "body": {…}, "url": "…" }`.
    Dynamic(Value),
}

/// What the next position is computed from.
pub struct ResponseView<'a> {
    pub body: &'a Value,
    pub headers: &'a HeaderMap,
    /// How many records the page has, and its last one (what a position is read from: the
    /// records themselves may not have been parsed into values).
    pub record_count: usize,
    pub last_record: Option<&'a Value>,
    /// The URL of the request as the definition made it (the provider's own origin).
    pub request_url: &'a Url,
    /// Where the request was sent when an origin override sent it elsewhere (a sandbox, a
    /// test's mock): a next URL on that origin means the provider's own.
    pub sent_to: Option<&'a Url>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Next(Position),
    End,
}

/// The page size to ask for: the caller's, else the definition's default, else its
/// maximum, never above the maximum.
pub fn requested_page_size(pagination: &Pagination, requested: Option<u64>) -> Option<u64> {
    let size = pagination.common()?.page_size.as_ref()?;
    Some(requested.or(size.default).unwrap_or(size.max).clamp(1, size.max))
}

/// Evaluates a dynamic pagination expression on its input (the caller owns the engine).
pub type DynamicEval<'a> = &'a dyn Fn(&Expr, &Value) -> Result<Value, RuntimeError>;

pub fn next_position(
    pagination: &Pagination,
    current: &Position,
    page_size: Option<u64>,
    view: &ResponseView,
    dynamic: DynamicEval,
) -> Result<Step, RuntimeError> {
    let Some(common) = pagination.common() else { return Ok(Step::End) };
    let stop = &common.stop;
    if let Some(path) = &stop.has_more {
        if path.lookup(view.body) != Some(&Value::Bool(true)) {
            return Ok(Step::End);
        }
    }
    if let Some(path) = &stop.is_last {
        if path.lookup(view.body) == Some(&Value::Bool(true)) {
            return Ok(Step::End);
        }
    }
    if stop.empty_page && view.record_count == 0 {
        return Ok(Step::End);
    }
    if stop.short_page && page_size.is_some_and(|size| (view.record_count as u64) < size) {
        return Ok(Step::End);
    }
    if let Some(total) = stop.total.as_ref().and_then(|p| p.lookup(view.body)).and_then(Value::as_f64) {
        // Records fetched so far: everything before this page, plus this page.
        let before = match (pagination, current) {
            (Pagination::Offset { .. }, Position::Offset(n)) => *n as f64,
            (Pagination::Offset { start, .. }, _) => *start as f64,
            (Pagination::Page { start, .. }, Position::Page(n)) => ((n - start) as f64) * page_size.unwrap_or(0) as f64,
            _ => 0.0,
        };
        if before + view.record_count as f64 >= total {
            return Ok(Step::End);
        }
    }
    let step = match pagination {
        Pagination::None {} => Step::End,
        Pagination::Cursor { cursor, .. } => {
            let value = match cursor.from {
                CursorFrom::Body => cursor.path.as_ref().and_then(|p| p.lookup(view.body)).and_then(text),
                CursorFrom::LastRecord => view.last_record.and_then(|r| cursor.path.as_ref().and_then(|p| p.lookup(r))).and_then(text),
                CursorFrom::Header => {
                    cursor.header.as_ref().and_then(|h| view.headers.get(h.as_str())).and_then(|v| v.to_str().ok()).map(str::to_string)
                }
            };
            match value.filter(|v| !v.is_empty()) {
                Some(v) => Step::Next(Position::Cursor(v)),
                None => Step::End,
            }
        }
        Pagination::Page { start, .. } => {
            let page = match current {
                Position::Page(n) => *n,
                _ => *start,
            };
            Step::Next(Position::Page(page + 1))
        }
        Pagination::Offset { start, .. } => {
            if view.record_count == 0 {
                Step::End
            } else {
                let offset = match current {
                    Position::Offset(n) => *n,
                    _ => *start,
                };
                Step::Next(Position::Offset(offset + view.record_count as i64))
            }
        }
        Pagination::LinkHeader { rel, .. } => {
            let values = view.headers.get_all("link").iter().filter_map(|v| v.to_str().ok());
            match next_link(values, rel) {
                Some(target) => Step::Next(Position::Url(resolve(view, &target)?)),
                None => Step::End,
            }
        }
        Pagination::NextUrl { path, .. } => match path.lookup(view.body).and_then(text).filter(|t| !t.is_empty()) {
            Some(target) => Step::Next(Position::Url(resolve(view, &target)?)),
            None => Step::End,
        },
        Pagination::Dynamic { next, .. } => {
            let input = serde_json::json!({
                "body": view.body,
                "headers": headers_json(view.headers),
                "records": view.record_count,
                "page_size": page_size,
                "position": current,
                "url": view.request_url.as_str(),
            });
            match dynamic(next, &input)? {
                Value::Null => Step::End,
                changes @ Value::Object(_) => Step::Next(Position::Dynamic(changes)),
                other => {
                    return Err(RuntimeError::new(
                        ErrorKind::Mapping,
                        format!("the dynamic pagination expression at {} must return an object or null, not {other}", next.origin),
                    ))
                }
            }
        }
    };
    Ok(step)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Resolves a next URL against the request's; it must stay on the same origin, so a
/// provider response cannot send our credentials elsewhere. The position keeps the provider's
/// own origin, so a cursor does not depend on where an override sends the requests: a next URL
/// on the overriding origin (a sandbox that rewrote it) is taken as the provider's.
fn resolve(view: &ResponseView, target: &str) -> Result<String, RuntimeError> {
    let base = view.request_url;
    let mut url =
        base.join(target).map_err(|e| RuntimeError::new(ErrorKind::Upstream, format!("the next-page URL {target:?} is not a URL: {e}")))?;
    if view.sent_to.is_some_and(|sent| url.origin() == sent.origin() && url.origin() != base.origin()) {
        let _ = url.set_scheme(base.scheme());
        let _ = url.set_host(base.host_str());
        let _ = url.set_port(base.port());
    }
    if url.origin() != base.origin() {
        return Err(RuntimeError::new(
            ErrorKind::Upstream,
            format!(
                "the next-page URL points to {}, outside the provider's origin {}; refusing to follow it",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            ),
        ));
    }
    Ok(url.to_string())
}

/// Response headers as a JSON object with lower-case names (repeated headers joined by `, `).
pub fn headers_json(headers: &HeaderMap) -> Value {
    let mut map = serde_json::Map::new();
    for name in headers.keys() {
        let joined = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(", ");
        map.insert(name.as_str().to_string(), Value::String(joined));
    }
    Value::Object(map)
}
