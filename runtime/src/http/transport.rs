//! Sending a request: over HTTP with reqwest, or (in fixture replay) in process. The
//! engine only sees the trait.

use super::guard::{refused_error, PrivateUpstreams, Reach, Refused};
use super::request::UpstreamRequest;
use crate::error::{ErrorKind, RuntimeError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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
/// origin, or lead to a private address), gzip/brotli/deflate decoded, bodies capped.
///
/// A guarded transport ([`HttpTransport::guarded`]) also refuses upstream targets that are not
/// public ([`PrivateUpstreams`]): a literal address in the URL before anything is sent, and a
/// name by the addresses it resolves to, when the connection is made (its own DNS resolver
/// drops the addresses that may not be reached, so what is checked is what is connected to).
#[derive(Clone)]
pub struct HttpTransport {
    /// The system's resolver, no address checks: every request of an unguarded transport, and
    /// in a guarded one the requests to an allowed origin or host or to a checked literal
    /// address (which is not resolved).
    client: reqwest::Client,
    guard: Option<Guard>,
    limits: TransportLimits,
}

#[derive(Clone)]
struct Guard {
    /// Resolves names through [`GuardedResolver`].
    client: reqwest::Client,
    access: Arc<PrivateUpstreams>,
}

impl HttpTransport {
    /// A transport that checks no address: for tests and tools whose targets are their own
    /// (the engine still refuses literal private addresses and metadata names before it sends;
    /// see [`HttpTransport::guarded`] for the check of resolved names).
    pub fn new(limits: TransportLimits) -> Result<HttpTransport, RuntimeError> {
        Ok(HttpTransport { client: client(&limits, None)?, guard: None, limits })
    }

    /// A transport that calls only public addresses, and those `access` allows (the
    /// operator's allow-list and the origin overrides: `EngineConfig::upstream_access`).
    pub fn guarded(limits: TransportLimits, access: PrivateUpstreams) -> Result<HttpTransport, RuntimeError> {
        let access = Arc::new(access);
        let resolver = Arc::new(GuardedResolver { access: access.clone() });
        let guard = Guard { client: client(&limits, Some(resolver))?, access };
        Ok(HttpTransport { client: client(&limits, None)?, guard: Some(guard), limits })
    }

    /// The client for `url`, or why it may not be called.
    fn client_for(&self, url: &Url) -> Result<&reqwest::Client, RuntimeError> {
        let Some(guard) = &self.guard else { return Ok(&self.client) };
        match guard.access.check(url) {
            Ok(Reach::Resolve) => Ok(&guard.client),
            Ok(Reach::Allowed | Reach::Address) => Ok(&self.client),
            Err(refused) => Err(refused_error(url, &refused)),
        }
    }
}

fn client(limits: &TransportLimits, resolver: Option<Arc<GuardedResolver>>) -> Result<reqwest::Client, RuntimeError> {
    // rustls needs a process-wide crypto provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect_timeout)
        .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")));
    if let Some(resolver) = resolver {
        builder = builder.dns_resolver(resolver);
    }
    builder.build().map_err(|e| RuntimeError::new(ErrorKind::Connection, format!("cannot build the HTTP client: {e}")))
}

/// Resolves with the system's resolver, then keeps only the addresses the allow-list lets the
/// transport connect to; a name with none left fails with [`Refused`].
struct GuardedResolver {
    access: Arc<PrivateUpstreams>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let access = self.access.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let kept = access.filter_resolved(&name, found)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

impl Transport for HttpTransport {
    fn send(&self, request: UpstreamRequest, timeout: Duration) -> SendFuture<'_> {
        Box::pin(async move {
            let started = Instant::now();
            let client = self.client_for(&request.url)?;
            let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes()).expect("HTTP verbs are valid methods");
            let mut builder = client.request(method, request.url.clone()).timeout(timeout);
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
    // A name that resolves only to addresses that may not be reached ([`GuardedResolver`]).
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(refused) = inner.downcast_ref::<Refused>() {
            return refused_error(url, refused);
        }
        source = inner.source();
    }
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
