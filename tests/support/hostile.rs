//! A hostile provider on 127.0.0.1 for `tests/fuzz_upstream.rs`: a bare HTTP/1.1 server (std
//! threads) that answers each request with the next of a script of raw answers, bytes as
//! written: any status line, duplicated or junk headers, lying lengths, cut chunks, bodies that
//! are not what they say, a stall. Token requests (a body with `grant_type`) and API requests
//! have scripts of their own; the last answer of a script is repeated. Every connection is
//! closed after its answer.
//!
//! Included with `#[path = "support/hostile.rs"] mod hostile;` (it is not part of `support`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One answer, as bytes, and whether to stall after its head.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    /// Sleep this long after the head and the first half of the body (a provider that stalls).
    pub stall: Option<Duration>,
}

/// A request as the hostile provider read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether it was answered from the token script.
    pub token: bool,
}

#[derive(Default)]
struct Script {
    api: Vec<Written>,
    token: Vec<Written>,
    seen: Vec<Seen>,
}

pub struct Hostile {
    pub url: String,
    pub addr: String,
    script: Arc<Mutex<Script>>,
}

impl Hostile {
    pub fn start() -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let script: Arc<Mutex<Script>> = Arc::default();
        let shared = script.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let script = shared.clone();
                std::thread::spawn(move || serve(stream, &script));
            }
        });
        Hostile { url: format!("http://{addr}"), addr, script }
    }

    /// The answers of the next requests (the last of each script repeated); forgets what was seen.
    pub fn set(&self, api: Vec<Written>, token: Vec<Written>) {
        let mut script = self.script.lock().unwrap();
        *script = Script { api, token, seen: Vec::new() };
    }

    /// The requests since the last [`Hostile::set`].
    pub fn seen(&self) -> Vec<Seen> {
        self.script.lock().unwrap().seen.clone()
    }
}

fn serve(mut stream: TcpStream, script: &Mutex<Script>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut data = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buffer[..n]),
        }
        if data.len() > 1024 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let length: usize = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buffer[..n]),
        }
    }
    let token = String::from_utf8_lossy(&body).contains("grant_type");
    let written = {
        let mut script = script.lock().unwrap();
        let index = script.seen.iter().filter(|s| s.token == token).count();
        script.seen.push(Seen { method, target, headers, body, token });
        let list = if token { &script.token } else { &script.api };
        list.get(index).or(list.last()).cloned().unwrap_or_else(|| Written {
            head: b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
            ..Written::default()
        })
    };
    let _ = stream.write_all(&written.head);
    match written.stall {
        Some(pause) => {
            let half = written.body.len() / 2;
            let _ = stream.write_all(&written.body[..half]);
            let _ = stream.flush();
            std::thread::sleep(pause);
            let _ = stream.write_all(&written.body[half..]);
        }
        None => {
            let _ = stream.write_all(&written.body);
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}
