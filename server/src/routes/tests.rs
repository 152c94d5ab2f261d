//! The router's JSON errors for axum's own rejections (kept out of mod.rs, whose `.route(` calls
//! the OpenAPI test reads as the API's routes).

use super::*;
use axum::extract::Path;
use std::io::{Read, Write};

#[derive(serde::Deserialize)]
struct Named {
    #[allow(dead_code)]
    name: String,
}

/// One request on its own connection, as written: status, content type and body.
fn exchange(addr: std::net::SocketAddr, request: String) -> (u16, String, Value) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string())).unwrap_or_default();
    (status, content_type, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// axum's own rejections (JSON and path extractors, the method router) come out as the
/// API's JSON errors, with their status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_rejections_are_json_errors() {
    let app = Router::new()
        .route("/json", post(|axum::Json(_): axum::Json<Named>| async { "ok" }))
        .route("/number/{n}", get(|Path(n): Path<u32>| async move { n.to_string() }))
        .layer(middleware::from_fn(json_errors));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let post = |content_type: &str, body: &str| {
        format!(
            "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    for (request, status, code) in [
        (post("text/plain", "{\"name\": \"a\"}"), 415, "unsupported_media_type"),
        (post("application/json", "{\"name\":"), 400, "invalid_request"),
        (post("application/json", "{\"other\": 1}"), 422, "invalid_request"),
        (get("/number/abc"), 400, "invalid_request"),
        (get("/number/%c0%ae"), 400, "invalid_request"),
        (get("/json"), 405, "method_not_allowed"),
    ] {
        let (got, content_type, body) = tokio::task::spawn_blocking(move || exchange(addr, request)).await.unwrap();
        assert_eq!(got, status, "{body}");
        assert!(content_type.starts_with("application/json"), "{content_type}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let (ok, _, _) = tokio::task::spawn_blocking(move || exchange(addr, get("/number/7"))).await.unwrap();
    assert_eq!(ok, 200);
}
