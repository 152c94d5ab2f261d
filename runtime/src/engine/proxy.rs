//! The raw proxy: a caller's own request sent to an integration's API with the account's
//! credentials, and the provider's answer handed back as it came.
//!
//! The caller chooses the method, path, query, headers and body; the engine chooses where
//! the request goes and how it is authenticated. The path is resolved against the
//! integration's rendered base URL and must stay on its origin and under its path: a path
//! that could mean anything else (an absolute or scheme-relative URL, a dot segment in any
//! encoding, an encoded slash or backslash, a control character) is refused before
//! anything is sent, a token refresh included. The caller's credentials and hop-by-hop
//! headers are dropped; the definition's auth, default headers and default query are put
//! on instead (each replacing a caller's header or parameter of the same name).
//!
//! Credentials are refreshed exactly as for unified calls ([`Engine::send_authorized`]): before
//! the call when due, and once after a 401. Every other status, a 404 or a 500 included, is
//! the caller's to read; the body is never parsed.

use super::call::unset_optional_field;
use super::Engine;
use super::Refreshed;
use crate::account::Account;
use crate::auth;
use crate::error::{ErrorKind, RuntimeError};
use crate::http::{render, Body, Encoding, Scopes, UpstreamRequest};
use crate::rate_limit::RateLimitStatus;
use crate::registry::{HttpMethod, Integration};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

/// A caller's request for the raw proxy.
#[derive(Debug, Clone, Default)]
pub struct ProxyRequest {
    /// The HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    pub method: String,
    /// The path relative to the integration's base URL, as it arrived (still
    /// percent-encoded). A leading `/` is optional.
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
}

/// The provider's answer, unparsed.
#[derive(Debug, Clone)]
pub struct ProxyResponse {
    pub status: u16,
    /// The provider's headers without the hop-by-hop ones. A compressed body has been
    /// decoded, and its Content-Encoding and Content-Length removed with it.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The rate-limit state per the definition. A limited answer is returned like any
    /// other, with `limited` set.
    pub rate_limit: RateLimitStatus,
    /// New credentials when the call refreshed them.
    pub refreshed: Option<Refreshed>,
}

/// Caller headers never forwarded: credentials (the definition's are put on instead), what
/// the HTTP client sets itself, and hop-by-hop headers (RFC 9110 §7.6.1). `Proxy-*` headers
/// are dropped as well.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "accept-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Provider headers never returned: hop-by-hop headers, which described the connection to
/// the provider, not the answer.
const DROPPED_RESPONSE_HEADERS: &[&str] = &["connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade"];

impl Engine {
    /// Sends a caller's request to the account's integration, authenticated with the
    /// account's credentials, and returns the provider's answer whatever its status.
    ///
    /// Errors: `invalid_request` for a method the proxy does not send or a path or query that
    /// could leave the integration's base URL (nothing is sent); `needs_reauth` for a 401
    /// that no refresh cures, as with unified calls; transport failures (`upstream_timeout`,
    /// `upstream_unreachable`, `upstream_error`); and the token endpoint's errors when a
    /// refresh fails.
    pub async fn proxy(&self, account: &Account, request: ProxyRequest) -> Result<ProxyResponse, RuntimeError> {
        let integration = self.integration(&account.integration)?;
        let method = proxy_method(&request.method)?;
        let path = checked_path(&request.path)?;
        let query = request.query.as_deref().filter(|q| !q.is_empty()).map(checked_query).transpose()?;
        let headers = forwarded_headers(integration, &request.headers)?;
        // Checked against the current connection before anything is sent, a refresh
        // included; checked again on every send, since a refresh can change the base URL.
        target_url(integration, account, &path, query)?;
        let sent = self
            .send_authorized(integration, account, |account| {
                let mut url = target_url(integration, account, &path, query)?;
                self.override_origin(&integration.name, &mut url);
                let body = request.body.clone().map(|bytes| Body { content_type: "application/octet-stream", bytes });
                let mut upstream = UpstreamRequest { method, url, headers: headers.clone(), body };
                let scopes = scopes(account);
                for (name, template) in &integration.headers {
                    if !unset_optional_field(integration, account, template) {
                        upstream.set_header(name, render(template, &scopes, Encoding::Raw)?);
                    }
                }
                if !integration.query.is_empty() {
                    let mut pairs: Vec<(String, String)> = upstream
                        .url
                        .query_pairs()
                        .filter(|(name, _)| !integration.query.contains_key(name.as_ref()))
                        .map(|(name, value)| (name.into_owned(), value.into_owned()))
                        .collect();
                    for (name, template) in &integration.query {
                        pairs.push((name.clone(), render(template, &scopes, Encoding::Raw)?));
                    }
                    upstream.url.query_pairs_mut().clear().extend_pairs(&pairs);
                }
                auth::apply(&integration.auth, &scopes, &mut upstream)?;
                Ok(upstream)
            })
            .await?;
        let response = sent.response;
        if response.status < 200 {
            // An informational status is never a final answer: passed on, the client would get
            // `101 Switching Protocols` and a closed connection.
            return Err(RuntimeError::new(
                ErrorKind::Upstream,
                format!("the provider answered HTTP {} as its final answer (an informational status)", response.status),
            )
            .with_response(response.status, &response.body));
        }
        let rate_limit = self.rate_limit_status(
            integration.rate_limit.as_ref(),
            &response,
            rate_limit_body(integration, response.status, &response.body).as_ref(),
        );
        let mut headers = response.headers;
        remove_hop_by_hop(&mut headers);
        Ok(ProxyResponse { status: response.status, headers, body: response.body, rate_limit, refreshed: sent.refreshed })
    }
}

fn scopes(account: &Account) -> Scopes<'_> {
    static NO_PARAMS: std::sync::OnceLock<serde_json::Map<String, serde_json::Value>> = std::sync::OnceLock::new();
    Scopes {
        connection: &account.connection,
        credentials: &account.credentials,
        params: NO_PARAMS.get_or_init(serde_json::Map::new),
        install: Some(&account.install),
    }
}

fn invalid(message: String) -> RuntimeError {
    RuntimeError::new(ErrorKind::InvalidRequest, message)
}

fn proxy_method(name: &str) -> Result<HttpMethod, RuntimeError> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "PATCH" => HttpMethod::Patch,
        "DELETE" => HttpMethod::Delete,
        "HEAD" => HttpMethod::Head,
        "OPTIONS" => HttpMethod::Options,
        _ => return Err(invalid(format!("the proxy sends GET, POST, PUT, PATCH, DELETE, HEAD and OPTIONS, not {:?}", shorten(name)))),
    })
}

/// At most 200 characters of a caller's input, for a message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// RFC 3986 `pchar` without `%` (checked apart): unreserved, sub-delims, `:` and `@`.
fn is_pchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

/// The caller's path, checked, with a leading `/` (empty stays empty: the base URL itself).
fn checked_path(raw: &str) -> Result<String, RuntimeError> {
    let refuse = |why: &str| invalid(format!("the proxy path {:?} is refused: {why}", shorten(raw)));
    if raw.starts_with("//") {
        return Err(refuse("a scheme-relative URL (`//host`) could leave the integration's origin; give a path under its base URL"));
    }
    let (relative, rest) = match raw.strip_prefix('/') {
        Some(rest) => (false, rest),
        None => (true, raw),
    };
    // Without a leading slash, a `:` or `@` in the first segment reads as a scheme
    // (`https:/x`, `http://evil`) or as credentials before a host.
    let first = rest.split('/').next().unwrap_or_default();
    if relative && first.contains(':') {
        return Err(refuse("an absolute URL is not allowed; give a path under the integration's base URL"));
    }
    if relative && first.contains('@') {
        return Err(refuse("`@` where a URL's authority would be is not allowed"));
    }
    if let Some(c) = raw.chars().find(|&c| !is_pchar(c) && c != '%' && c != '/') {
        let what = match c {
            '\\' => "a backslash".to_string(),
            '?' => "a `?`: give the query string apart".to_string(),
            '#' => "a `#`: fragments are not sent".to_string(),
            c if c.is_control() => "a control character".to_string(),
            c => format!("the character {c:?}, which must be percent-encoded"),
        };
        return Err(refuse(&format!("it holds {what}")));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        if segment.is_empty() && index + 1 < segments.len() {
            return Err(refuse("an empty segment (`//`) is not allowed"));
        }
        check_segment(segment.as_bytes()).map_err(|why| refuse(&why))?;
    }
    Ok(if raw.is_empty() || !relative { raw.to_string() } else { format!("/{raw}") })
}

/// One path segment, decoded layer by layer (`%252e` is `%2e`, then `.`): no layer may be
/// a dot segment or hold a slash, a backslash or a control character. Only the segment as
/// sent must have well-formed escapes: in a decoded layer, a `%` that starts none is data
/// (`100%25` is `100%`).
fn check_segment(raw: &[u8]) -> Result<(), String> {
    if !well_formed_escapes(raw) {
        return Err("it holds a malformed percent-escape".to_string());
    }
    let mut layer = raw.to_vec();
    let mut depth = 0;
    loop {
        if depth > 0 {
            if let Some(&b) = layer.iter().find(|&&b| b == b'/' || b == b'\\') {
                return Err(format!("it holds an encoded {}", if b == b'/' { "slash" } else { "backslash" }));
            }
            if layer.iter().any(|&b| b < 0x20 || b == 0x7f) {
                return Err("it holds an encoded control character".to_string());
            }
        }
        // `..;x` is `..` to some servers; trailing spaces are dropped by others.
        let name = layer.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
        if !name.is_empty() && name.iter().all(|&b| b == b'.') {
            return Err("a `.` or `..` segment, in any encoding, is not allowed".to_string());
        }
        let decoded = decode_layer(&layer);
        if decoded == layer {
            return Ok(());
        }
        if depth == 4 {
            return Err("it is percent-encoded too many times over".to_string());
        }
        layer = decoded;
        depth += 1;
    }
}

fn well_formed_escapes(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'%')
        .all(|(i, _)| bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
}

/// Decodes one layer of percent-escapes, leaving a `%` that starts none as it is.
fn decode_layer(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let (b'%', Some(high), Some(low)) = (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The caller's query string, checked: printable ASCII without `#`, and well-formed
/// percent-escapes. What the escapes hold is the provider's business (a search text may
/// hold a newline): a query cannot change where the request goes.
fn checked_query(raw: &str) -> Result<&str, RuntimeError> {
    let refuse = |why: &str| invalid(format!("the proxy query {:?} is refused: {why}", shorten(raw)));
    if let Some(c) = raw.chars().find(|&c| !c.is_ascii_graphic() || c == '#') {
        return Err(refuse(&match c {
            '#' => "it holds a `#`: fragments are not sent".to_string(),
            c if c.is_control() => "it holds a control character".to_string(),
            c => format!("it holds the character {c:?}, which must be percent-encoded"),
        }));
    }
    if !well_formed_escapes(raw.as_bytes()) {
        return Err(refuse("it holds a malformed percent-escape"));
    }
    Ok(raw)
}

/// The URL a checked path and query lead to: the rendered base URL's path followed by the
/// caller's, which must stay on the base URL's origin and under its path.
fn target_url(integration: &Integration, account: &Account, path: &str, query: Option<&str>) -> Result<Url, RuntimeError> {
    let rendered = render(&integration.base_url, &scopes(account), Encoding::BaseUrl)?;
    let base =
        Url::parse(&rendered).map_err(|e| invalid(format!("the base URL of `{}` is not a URL ({rendered:?}): {e}", integration.name)))?;
    let base_path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_fragment(None);
    url.set_path(&format!("{base_path}{path}"));
    let joined = match (base.query(), query) {
        (Some(own), Some(caller)) => Some(format!("{own}&{caller}")),
        (own, caller) => own.or(caller).map(str::to_string),
    };
    url.set_query(joined.as_deref());
    // The path was checked segment by segment; this guards the join itself.
    let refuse = |why: &str| invalid(format!("the proxy path {:?} is refused: {why}", shorten(path)));
    if url.origin() != base.origin() || !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it leads off the integration's origin"));
    }
    let under = url.path() == base_path || base_path.is_empty() || url.path().strip_prefix(base_path).is_some_and(|r| r.starts_with('/'));
    if !under {
        return Err(refuse("it leads out of the integration's base URL"));
    }
    Ok(url)
}

/// The caller's headers without those never forwarded and those the definition sets
/// itself (its default headers: a caller cannot replace one, even one the definition
/// leaves out for this account). Each name and value must be valid in HTTP.
fn forwarded_headers(integration: &Integration, headers: &[(String, String)]) -> Result<Vec<(String, String)>, RuntimeError> {
    let named_by_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(',').map(|n| n.trim().to_ascii_lowercase()))
        .collect();
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if DROPPED_REQUEST_HEADERS.contains(&lower.as_str())
            || lower.starts_with("proxy-")
            || named_by_connection.contains(&lower)
            || integration.headers.keys().any(|own| own.eq_ignore_ascii_case(name))
        {
            continue;
        }
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(format!("the header name {:?} is not valid in HTTP", shorten(name))));
        }
        if HeaderValue::from_str(value).is_err() {
            return Err(invalid(format!("the value of header `{name}` is not valid in HTTP (a control character?)")));
        }
        out.push((name.clone(), value.clone()));
    }
    Ok(out)
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_ascii_lowercase()))
        .collect();
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            DROPPED_RESPONSE_HEADERS.contains(&name) || name.starts_with("proxy-") || named.iter().any(|n| n == name)
        })
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(name);
    }
}

/// The body as JSON, only when a rate-limit rule for this status reads the body: the proxy
/// otherwise never parses it.
fn rate_limit_body(integration: &Integration, status: u16, body: &[u8]) -> Option<serde_json::Value> {
    let def = integration.rate_limit.as_ref()?;
    let read = def.limited_when.iter().any(|rule| rule.body.is_some() && rule.status.contains(&status));
    if read {
        serde_json::from_slice(body).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_response_headers_are_removed() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-hop"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("trailer", "x-checksum"),
            ("proxy-authenticate", "Basic"),
            ("x-hop", "1"),
            ("content-type", "text/csv"),
            ("x-request-id", "7"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        remove_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-request-id"]);
    }

    #[test]
    fn segments() {
        for ok in ["a", "a.b", "...json", "100%25", "%41", "a;b", "%2525", ""] {
            assert_eq!(check_segment(ok.as_bytes()), Ok(()), "{ok:?}");
        }
        for bad in ["..", ".", "%2e", "%2E%2e", ".%2e", "%252e%252e", "%25252e", "..;x", ".. ", "a%2fb", "a%255cb", "a%00", "%", "%g0"] {
            assert!(check_segment(bad.as_bytes()).is_err(), "{bad:?}");
        }
        // Nested five times over: refused rather than decoded forever.
        assert!(check_segment(b"%2525252541").is_err());
    }

    fn integration(base_url: &str) -> Integration {
        let mut integration: Integration = serde_json::from_value(serde_json::json!({
            "name": "t", "label": "t", "base_url": { "source": "", "segments": [] },
            "auth": { "type": "none" }, "resources": {}
        }))
        .unwrap();
        integration.base_url = crate::registry::Template::text(base_url);
        integration
    }

    #[test]
    fn the_join_itself_refuses_to_leave_the_base_path() {
        // Paths the segment checks would have refused: the join alone still holds.
        let account = Account::default();
        let api = integration("https://api.example.com/v2");
        for path in ["/../x", "/%2e%2e/x", "/../v2x", "/./../x"] {
            let error = target_url(&api, &account, path, None).unwrap_err();
            assert!(error.message.contains("out of the integration's base URL"), "{path}: {}", error.message);
        }
        let url = target_url(&api, &account, "/contacts", Some("a=1")).unwrap();
        assert_eq!(url.as_str(), "https://api.example.com/v2/contacts?a=1");
        assert_eq!(target_url(&api, &account, "", None).unwrap().as_str(), "https://api.example.com/v2");
        // A base URL with a query of its own keeps it, before the caller's.
        let tenant = integration("https://api.example.com/v2/?tenant=1");
        assert_eq!(
            target_url(&tenant, &account, "/contacts", Some("a=1")).unwrap().as_str(),
            "https://api.example.com/v2/contacts?tenant=1&a=1"
        );
        // At the root, any path is under the base.
        let root = integration("https://api.example.com");
        assert_eq!(target_url(&root, &account, "/x/y", None).unwrap().as_str(), "https://api.example.com/x/y");
        assert!(target_url(&root, &account, "/../x", None).is_ok_and(|u| u.host_str() == Some("api.example.com")));
    }
}
