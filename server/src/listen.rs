//! The API's connections, served by hyper directly rather than through `axum::serve`, for two things
//! that happen below the router and that `axum::serve` cannot be told:
//!
//! - **The HTTP parser's own refusals answer the documented JSON.** hyper refuses a request it
//!   cannot parse before any route sees it: a target over 65,534 bytes (414), more than 100 headers
//!   or a head over ~400 KB (431), bytes that are not HTTP such as a NUL in a header (400). It
//!   writes that answer itself, with an empty body, then reports the parse error. [`Socket`] holds
//!   back a head that looks like such an answer; when hyper then reports a parse error, the held
//!   head was hyper's refusal and is replaced by our JSON error; otherwise it is sent unchanged.
//! - **Lingering close (RFC 9112 §9.6).** A server that closes a connection while the client is
//!   still sending a request body the route never read (a refused upload, a GET with a body) makes
//!   the kernel answer the unread bytes with a reset, which can destroy the answer on its way. So
//!   after the last answer the socket stops writing, then reads and discards what the client
//!   still sends, for a bounded time, before closing.
//!
//! Connections are HTTP/1.1, or HTTP/2 with prior knowledge (as `axum::serve` offers), and stop
//! gracefully: on shutdown the listener closes, each connection finishes its requests in flight,
//! and [`serve`] returns when all are done.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

use switchyard_runtime::answer;

/// How long a client may take to send a request head: a connection that trickles its head
/// (slowloris) is closed after this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Lingering close: the longest the socket reads on after the last answer, and the longest it
/// waits for the next bytes (a client that sends nothing more is not waited for).
const LINGER_TOTAL: Duration = Duration::from_secs(5);
const LINGER_IDLE: Duration = Duration::from_secs(1);
/// How long writing the parser's refusal may take before the connection is dropped.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the open connections to
/// finish their requests in flight.
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl Future<Output = ()> + Send) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let builder = std::sync::Arc::new(builder);
    // `stop` tells the connections to finish; every connection task holds a `done` receiver, so
    // `done_tx.closed()` resolves when the last one has ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            // The client gave up before the accept: nothing to serve.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue
            }
            // Out of file descriptors and the like: retrying at once would spin.
            Err(e) => {
                tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Answers are written whole; waiting for more to coalesce only adds latency.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(builder.clone(), app.clone(), stream, stop_rx.clone(), done_rx.clone()));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

async fn serve_connection(
    builder: std::sync::Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    stream: TcpStream,
    mut stop: watch::Receiver<bool>,
    _done: watch::Receiver<()>,
) {
    let (give_back, given_back) = oneshot::channel();
    let socket = Socket { stream: Some(stream), held: Vec::new(), give_back: Some(give_back) };
    // `Router` takes hyper's request body as it is.
    let service = TowerToHyperService::new(app);
    let outcome = {
        let connection = builder.serve_connection(TokioIo::new(socket), service);
        tokio::pin!(connection);
        let mut stopping = *stop.borrow();
        if stopping {
            connection.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                outcome = connection.as_mut() => break outcome,
                changed = stop.changed(), if !stopping => {
                    stopping = true;
                    // A closed channel means the server is going away too.
                    let _ = changed;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
        // The connection (and with it the socket) is dropped here: the socket comes back below.
    };
    let Ok(Returned { mut stream, held }) = given_back.await else { return };
    if !held.is_empty() {
        let parser_refused =
            outcome.as_ref().err().and_then(|e| e.downcast_ref::<hyper::Error>()).is_some_and(|e| e.is_parse() || e.is_parse_too_large());
        let answer = if parser_refused { refusal_answer(&held) } else { held };
        if tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(&answer)).await.is_err() {
            return;
        }
    }
    linger(stream).await;
}

/// Stops writing, then reads and discards what the client still sends until it closes, goes quiet
/// for [`LINGER_IDLE`], or [`LINGER_TOTAL`] has passed; then the socket is closed.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER_TOTAL;
    let mut discard = vec![0u8; 16 * 1024];
    loop {
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now()).min(LINGER_IDLE);
        match tokio::time::timeout(wait, stream.read(&mut discard)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(_)) => {}
        }
    }
}

/// The documented JSON error in place of hyper's empty refusal `head` (its status kept).
fn refusal_answer(head: &[u8]) -> Vec<u8> {
    let (status, reason, code, message) = match head.get(9..12) {
        Some(b"414") => (
            414,
            "URI Too Long",
            "uri_too_long",
            "the request target (path and query) is over 65,534 bytes; shorten the query, e.g. fewer or shorter filters",
        ),
        Some(b"431") => (
            431,
            "Request Header Fields Too Large",
            "headers_too_large",
            "the request has more than 100 headers or a head over 400 KB; send fewer or shorter headers",
        ),
        _ => (
            400,
            "Bad Request",
            "malformed_request",
            "the request is not valid HTTP/1.1: a malformed request line or header (e.g. a control or NUL byte in the target or a header); fix how the client writes the request",
        ),
    };
    let body = answer::error_body(code, message, serde_json::Map::new()).to_string();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Whether `buf` may be hyper's own refusal of a request it could not parse: exactly one answer
/// head, status 400, 414 or 431, no body and no `content-type` (every answer of ours has one).
fn may_be_parser_refusal(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = &buf[..end];
    end + 4 == buf.len()
        && head.starts_with(b"HTTP/1.")
        && matches!(head.get(9..13), Some(b"400 " | b"414 " | b"431 "))
        && !head.to_ascii_lowercase().windows(15).any(|w| w == b"\r\ncontent-type:")
}

/// What a [`Socket`] hands back when hyper drops it.
struct Returned {
    stream: TcpStream,
    held: Vec<u8>,
}

/// The TCP stream as hyper sees it: writes pass through, except an answer head that may be the
/// parser's refusal, which is held until the next read (then sent: it was an ordinary answer) or
/// the end of the connection (then the caller decides). When hyper drops it, the stream and any
/// held head go back to [`serve_connection`] for the refusal and the lingering close.
struct Socket {
    stream: Option<TcpStream>,
    held: Vec<u8>,
    give_back: Option<oneshot::Sender<Returned>>,
}

impl Socket {
    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("the stream is only taken when the socket is dropped"))
    }

    /// Sends the held bytes, if any.
    fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            let written = self.stream().poll_write(cx, &held);
            self.held = held;
            match ready!(written)? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => drop(self.held.drain(..n)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if let (Some(stream), Some(give_back)) = (self.stream.take(), self.give_back.take()) {
            let _ = give_back.send(Returned { stream, held: std::mem::take(&mut self.held) });
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // hyper reads the next request only after writing its answer: a held head was an
        // ordinary answer, which the client is waiting for.
        ready!(this.poll_release(cx))?;
        this.stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_release(cx))?;
        if may_be_parser_refusal(buf) {
            this.held = buf.to_vec();
            return Poll::Ready(Ok(buf.len()));
        }
        this.stream().poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.held.is_empty() {
            return Poll::Ready(Ok(()));
        }
        this.stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The end of the connection: the held head is sent (or replaced) by `serve_connection`,
        // before the write side closes.
        if !this.held.is_empty() {
            return Poll::Ready(Ok(()));
        }
        this.stream().poll_shutdown(cx)
    }

    // Not vectored: hyper then writes an answer head in one buffer, which `may_be_parser_refusal`
    // can recognise.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_a_bodiless_refusal_head() {
        assert!(may_be_parser_refusal(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n"));
        assert!(may_be_parser_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"));
        assert!(!may_be_parser_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"));
        assert!(!may_be_parser_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}"));
        assert!(!may_be_parser_refusal(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"));
        assert!(!may_be_parser_refusal(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n"));
    }

    #[test]
    fn a_refusal_becomes_the_documented_json() {
        let answer = refusal_answer(b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n");
        let text = String::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "uri_too_long");
    }
}
