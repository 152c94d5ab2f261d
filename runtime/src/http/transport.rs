//! Sending a request: over HTTP with reqwest, or (in fixture replay) in process. The
//! engine only sees the trait.

use super::request::UpstreamRequest;
use crate::error::{ErrorKind, RuntimeError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};
use url::Url;

#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed: Duration,
    pub url: Url,
}

impl UpstreamResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<UpstreamResponse, RuntimeError>> + Send + 'a>>;

pub trait Transport: Send + Sync {
    fn send(&self, request: UpstreamRequest, timeout: Duration) -> SendFuture<'_>;
}

#[derive(Debug, Clone)]
pub struct TransportLimits {
    /// Largest response body accepted (after decompression).
    pub max_body_bytes: usize,
    pub connect_timeout: Duration,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits { max_body_bytes: 32 * 1024 * 1024, connect_timeout: Duration::from_secs(10) }
    }
}

/// HTTP over reqwest: no redirects followed (a redirect could leave the provider's
/// origin), gzip/brotli/deflate decoded, bodies capped.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    limits: TransportLimits,
}

impl HttpTransport {
    pub fn new(limits: TransportLimits) -> Result<HttpTransport, RuntimeError> {
        // rustls needs a process-wide crypto provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RuntimeError::new(ErrorKind::Connection, format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpTransport { client, limits })
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: UpstreamRequest, timeout: Duration) -> SendFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes()).expect("HTTP verbs are valid methods");
            let mut builder = self.client.request(method, request.url.clone()).timeout(timeout);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if let Some(body) = &request.body {
                // A Content-Type header on the request (the raw proxy's caller's) wins over the
                // body's; reqwest appends headers, so setting both would send two.
                if request.header("content-type").is_none() {
                    builder = builder.header("content-type", body.content_type);
                }
                builder = builder.body(body.bytes.clone());
            }
            let response = builder.send().await.map_err(|e| classify(e, &request.url))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            if let Some(length) = response.content_length() {
                if length as usize > self.limits.max_body_bytes {
                    return Err(too_large(self.limits.max_body_bytes, status));
                }
            }
            // Sized once from the announced length: a page is not copied as it grows.
            let announced = response.content_length().map_or(0, |n| n as usize);
            let mut body = BytesMut::with_capacity(announced.min(self.limits.max_body_bytes));
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| body_error(e, &request.url, status))?;
                if body.len() + chunk.len() > self.limits.max_body_bytes {
                    return Err(too_large(self.limits.max_body_bytes, status));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(UpstreamResponse { status, headers, body: body.freeze(), elapsed: started.elapsed(), url: request.url })
        })
    }
}

/// A failure while the body is read, after the status and headers came: a stall past the
/// timeout is a timeout, as a stall before the headers is; anything else (the connection cut,
/// a compressed body that does not decode) is an upstream error.
fn body_error(error: reqwest::Error, url: &Url, status: u16) -> RuntimeError {
    let origin = url.origin().ascii_serialization();
    if error.is_timeout() {
        RuntimeError::new(
            ErrorKind::Timeout,
            format!("{origin} answered HTTP {status}, then stopped sending its response body: it did not arrive in time"),
        )
    } else {
        RuntimeError::new(ErrorKind::Upstream, format!("the response body from {origin} was cut off or could not be decoded: {error}"))
    }
}

fn too_large(limit: usize, status: u16) -> RuntimeError {
    let mut error = RuntimeError::new(ErrorKind::Upstream, format!("the response body is larger than the limit of {limit} bytes"));
    error.provider_status = Some(status);
    error
}

/// Names the origin only: reqwest's message holds the full URL, whose query may carry an
/// API key.
fn classify(error: reqwest::Error, url: &Url) -> RuntimeError {
    let origin = url.origin().ascii_serialization();
    let error = error.without_url();
    let error = &error;
    if error.is_timeout() {
        RuntimeError::new(ErrorKind::Timeout, format!("{origin} did not answer in time"))
    } else if error.is_connect() {
        RuntimeError::new(ErrorKind::Connection, format!("cannot connect to {origin}: {}", source_text(error)))
    } else {
        RuntimeError::new(ErrorKind::Upstream, format!("the exchange with {origin} failed: {}", source_text(error)))
    }
}

fn source_text(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}
