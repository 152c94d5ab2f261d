//! The replay transport: each request the engine sends must match the next recorded
//! exchange, which answers it. Nothing leaves the process.

use super::fixture::{Exchange, RecordedResponse};
use super::matcher::{compare, Difference};
use crate::error::{ErrorKind, RuntimeError};
use crate::http::{SendFuture, Transport, UpstreamRequest, UpstreamResponse};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

pub struct ReplayTransport {
    exchanges: Vec<Exchange>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Index of the next exchange expected.
    next: usize,
    used: Vec<bool>,
    sent: usize,
    unmatched: Vec<Unmatched>,
}

/// A request that matched no recorded exchange.
#[derive(Debug, Clone)]
pub struct Unmatched {
    /// 1-based number of the request in the call.
    pub number: usize,
    /// `GET /path?query`.
    pub request: String,
    /// The closest recorded exchange (1-based), its request line and how the request differs from it.
    pub closest: Option<(usize, String, Vec<Difference>)>,
    /// The request matches this unused exchange exactly, but another was due first.
    pub out_of_order: Option<(usize, usize)>,
}

/// What a replay found wrong once the call is over.
#[derive(Debug, Clone, Default)]
pub struct ReplayReport {
    pub unmatched: Vec<Unmatched>,
    /// Recorded exchanges never requested (1-based, with their request line).
    pub unused: Vec<(usize, String)>,
    pub requests: usize,
}

impl ReplayReport {
    pub fn is_clean(&self) -> bool {
        self.unmatched.is_empty() && self.unused.is_empty()
    }

    /// A readable account of every problem.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for u in &self.unmatched {
            let _ = writeln!(out, "request #{} matches no recorded exchange: {}", u.number, u.request);
            if let Some((found, due)) = u.out_of_order {
                let _ = writeln!(out, "  it matches exchange #{found}, but exchange #{due} was due first (exchanges replay in order)");
            } else if let Some((index, line, diffs)) = &u.closest {
                let _ = writeln!(out, "  closest recorded exchange: #{index} {line}");
                for d in diffs {
                    let _ = writeln!(out, "    {d}");
                }
            } else {
                let _ = writeln!(out, "  the fixture records no exchange at all");
            }
        }
        if self.unmatched.is_empty() {
            for (index, line) in &self.unused {
                let _ = writeln!(out, "recorded exchange #{index} was never requested: {line}");
            }
        }
        out
    }
}

pub(crate) fn request_line(method: &str, path: &str, query: Option<&str>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{method} {path}?{q}"),
        None => format!("{method} {path}"),
    }
}

fn exchange_line(exchange: &Exchange) -> String {
    let m = &exchange.request;
    let query: Vec<String> = m.query.iter().flat_map(|(k, v)| v.values().into_iter().map(move |v| format!("{k}={v}"))).collect();
    request_line(m.method.as_str(), &m.path, Some(&query.join("&")))
}

impl ReplayTransport {
    pub fn new(exchanges: Vec<Exchange>) -> ReplayTransport {
        let used = vec![false; exchanges.len()];
        ReplayTransport { exchanges, state: Mutex::new(State { used, ..State::default() }) }
    }

    /// The problems found so far: unmatched requests and exchanges never used.
    pub fn report(&self) -> ReplayReport {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let unused = self.exchanges.iter().enumerate().filter(|(i, _)| !state.used[*i]).map(|(i, e)| (i + 1, exchange_line(e))).collect();
        ReplayReport { unmatched: state.unmatched.clone(), unused, requests: state.sent }
    }

    fn answer(&self, request: &UpstreamRequest) -> Result<UpstreamResponse, RuntimeError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.sent += 1;
        let number = state.sent;
        let due = state.next;
        if let Some(exchange) = self.exchanges.get(due) {
            if compare(&exchange.request, request).is_empty() {
                state.used[due] = true;
                state.next += 1;
                return Ok(response(&exchange.response, request));
            }
        }
        let query: Vec<String> = request.url.query_pairs().map(|(k, v)| format!("{k}={v}")).collect();
        let path = percent_encoding::percent_decode_str(request.url.path()).decode_utf8_lossy().into_owned();
        let line = request_line(request.method.as_str(), &path, Some(&query.join("&")));
        let exact =
            (0..self.exchanges.len()).find(|&i| !state.used[i] && i != due && compare(&self.exchanges[i].request, request).is_empty());
        let closest = (0..self.exchanges.len())
            .map(|i| (i, compare(&self.exchanges[i].request, request)))
            .min_by_key(|(i, diffs)| (diffs.iter().map(Difference::weight).sum::<usize>(), state.used[*i], i.abs_diff(due)))
            .map(|(i, diffs)| (i + 1, exchange_line(&self.exchanges[i]), diffs));
        let unmatched = Unmatched { number, request: line.clone(), closest, out_of_order: exact.map(|found| (found + 1, due + 1)) };
        state.unmatched.push(unmatched);
        Err(RuntimeError::new(ErrorKind::Connection, format!("fixture replay: no recorded exchange matches request #{number} {line}")))
    }
}

fn response(recorded: &RecordedResponse, request: &UpstreamRequest) -> UpstreamResponse {
    let mut headers = HeaderMap::new();
    for (name, values) in &recorded.headers {
        if let Ok(name) = HeaderName::try_from(name.as_str()) {
            for value in values.values() {
                if let Ok(value) = HeaderValue::try_from(value) {
                    headers.append(name.clone(), value);
                }
            }
        }
    }
    let body = match (&recorded.body, &recorded.body_text) {
        (Some(json), _) => {
            if !headers.contains_key("content-type") {
                headers.insert("content-type", HeaderValue::from_static("application/json"));
            }
            Bytes::from(serde_json::to_vec(json).unwrap_or_default())
        }
        (None, Some(text)) => Bytes::from(text.clone().into_bytes()),
        (None, None) => Bytes::new(),
    };
    UpstreamResponse { status: recorded.status, headers, body, elapsed: Duration::ZERO, url: request.url.clone() }
}

impl Transport for ReplayTransport {
    fn send(&self, request: UpstreamRequest, _timeout: Duration) -> SendFuture<'_> {
        let answer = self.answer(&request);
        Box::pin(async move { answer })
    }
}
