//! The requests the HTTP fuzz sends that are not HTTP a router could see (bytes a target or a
//! header may not hold, framing that lies): the HTTP parser refuses them before axum.

use super::Fixture;
use proptest::prelude::*;

// --- requests the HTTP parser refuses ---

#[derive(Debug, Clone)]
pub(crate) enum Malformed {
    /// A byte no request target may hold, put into a valid one.
    TargetByte(u8, u16),
    /// A request target longer than the parser takes.
    LongTarget(usize),
    HeaderName(Vec<u8>),
    HeaderValue(Vec<u8>),
    ObsFold,
    ManyHeaders(usize),
    HugeHead(usize),
    LengthAndChunked,
    BadLength(&'static str),
    /// `Content-Length` says more than is sent, then the client stops writing.
    ShortBody(usize),
    BadChunk(&'static [u8]),
    BareLf,
    Version(&'static str),
    Bytes(Vec<u8>),
}

pub(crate) fn malformed() -> impl Strategy<Value = Malformed> {
    prop_oneof![
        (prop::sample::select(vec![0u8, 1, 8, 9, 10, 13, 27, 32, 34, 60, 62, 96, 127, 0x80, 0xc0, 0xff]), 0..1000u16)
            .prop_map(|(b, at)| Malformed::TargetByte(b, at)),
        prop::sample::select(vec![65_535usize, 70_000, 200_000]).prop_map(Malformed::LongTarget),
        prop::sample::select(vec![
            b"Bad Header".to_vec(),
            b"X:Y".to_vec(),
            b"\x00".to_vec(),
            b"".to_vec(),
            b"X\xffY".to_vec(),
            b"(x)".to_vec()
        ])
        .prop_map(Malformed::HeaderName),
        prop::sample::select(vec![b"a\x00b".to_vec(), b"a\rb".to_vec(), b"\x7f".to_vec(), b"a\x0bb".to_vec()])
            .prop_map(Malformed::HeaderValue),
        Just(Malformed::ObsFold),
        prop::sample::select(vec![101usize, 500]).prop_map(Malformed::ManyHeaders),
        prop::sample::select(vec![500_000usize, 2_000_000]).prop_map(Malformed::HugeHead),
        Just(Malformed::LengthAndChunked),
        prop::sample::select(vec!["-1", "abc", "1, 2", "99999999999999999999", "0x10", " 12", "+5", "40000000"])
            .prop_map(Malformed::BadLength),
        prop::sample::select(vec![1usize, 100, 1_000_000]).prop_map(Malformed::ShortBody),
        prop::sample::select(vec![
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"5\r\nab\r\n",
            b"3\r\nabcdef\r\n0\r\n\r\n",
            b"ffffffffffffffffff\r\n",
            b"3\r\nabc"
        ])
        .prop_map(Malformed::BadChunk),
        Just(Malformed::BareLf),
        prop::sample::select(vec!["HTTP/9.9", "HTTP/1", "", "HTTP/1.1 extra", "http/1.1", "HTTP/2.0"]).prop_map(Malformed::Version),
        prop_oneof![
            Just(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec()),
            Just(b"GET\r\n\r\n".to_vec()),
            prop::collection::vec(any::<u8>(), 1..300),
        ]
        .prop_map(Malformed::Bytes),
    ]
}

pub(crate) fn render_malformed(f: &Fixture, m: &Malformed, base_path: &str) -> (Vec<u8>, bool) {
    let host = &f.addr;
    let key = &f.key;
    let plain = |target: &[u8], headers: &[u8], body: &[u8]| {
        let mut out = b"POST ".to_vec();
        out.extend_from_slice(target);
        out.extend_from_slice(format!(" HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n").as_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    };
    let length = |n: usize| format!("Content-Length: {n}\r\n").into_bytes();
    match m {
        Malformed::TargetByte(b, at) => {
            let mut target = base_path.as_bytes().to_vec();
            let i = (target.len() * *at as usize / 1000).clamp(1, target.len());
            target.insert(i, *b);
            (plain(&target, &length(2), b"{}"), false)
        }
        Malformed::LongTarget(n) => (plain(format!("/v1/accounts/{}", "a".repeat(*n)).as_bytes(), &length(0), b""), false),
        Malformed::HeaderName(name) => {
            let mut headers = name.clone();
            headers.extend_from_slice(b": v\r\n");
            headers.extend(length(2));
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::HeaderValue(value) => {
            let mut headers = b"X-Bad: ".to_vec();
            headers.extend_from_slice(value);
            headers.extend_from_slice(b"\r\n");
            headers.extend(length(2));
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::ObsFold => (plain(base_path.as_bytes(), b"X-Folded: a\r\n  b\r\nContent-Length: 2\r\n", b"{}"), false),
        Malformed::ManyHeaders(n) => {
            let headers: Vec<u8> = (0..*n).flat_map(|i| format!("X-H{i}: v\r\n").into_bytes()).chain(length(2)).collect();
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::HugeHead(n) => {
            let headers = format!("X-Huge: {}\r\nContent-Length: 2\r\n", "h".repeat(*n)).into_bytes();
            (plain(base_path.as_bytes(), &headers, b"{}"), false)
        }
        Malformed::LengthAndChunked => {
            (plain(base_path.as_bytes(), b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), false)
        }
        Malformed::BadLength(value) => (plain(base_path.as_bytes(), format!("Content-Length: {value}\r\n").as_bytes(), b"{}"), true),
        Malformed::ShortBody(n) => (plain(base_path.as_bytes(), &length(n + 2), b"{}"), true),
        Malformed::BadChunk(body) => (plain(base_path.as_bytes(), b"Transfer-Encoding: chunked\r\n", body), true),
        Malformed::BareLf => (
            format!("POST {base_path} HTTP/1.1\nHost: {host}\nAuthorization: Bearer {key}\nContent-Length: 2\nConnection: close\n\n{{}}")
                .into_bytes(),
            true,
        ),
        Malformed::Version(version) => (
            format!("GET {base_path} {version}\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").into_bytes(),
            true,
        ),
        Malformed::Bytes(bytes) => (bytes.clone(), true),
    }
}
