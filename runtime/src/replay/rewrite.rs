//! Rewriting the absolute URLs of a recorded response from the provider's real origins to
//! another origin, so a recording served from elsewhere (`switchyard sandbox`, a test server
//! on loopback) links back to where it is served. A next-page URL (a `Link` header's
//! `rel="next"`, Salesforce's `nextRecordsUrl`, HubSpot's `paging.next.link`) then stays on
//! the origin the engine called, which is the only origin it follows.
//!
//! [`ProviderOrigins`] is the set of origins that count as the provider's, derived from its
//! definition and its recordings:
//!
//! - the literal origins of `base_url`, `auth.authorize_url` and `auth.token_url`
//!   (`https://api.github.com`, `https://github.com`);
//! - a host with placeholders as a pattern, each placeholder standing for one DNS label or part
//!   of one (`https://{{connection.subdomain}}.zendesk.com` matches `https://acme.zendesk.com`);
//! - a template whose whole origin is a placeholder (`{{connection.instance_url}}/services/…`)
//!   rendered with every connection known: the connection fields' defaults and allowed values,
//!   the accounts of the fixtures, the connection fields a recorded token response fills
//!   (`auth.token_response.store`), and the origin of any absolute URL in a recorded response
//!   whose path lies under the template's literal path (`/services/data/v62.0/…`).
//!
//! [`OriginRewrite`] replaces the origin of every matching absolute URL (scheme, host and port;
//! the path, query and fragment are kept byte for byte) in header values, in every string of a
//! JSON body (nested at any depth, and inside longer text) and in a text body. URLs of other
//! origins (a docs link, an avatar host) are left alone.

use super::fixture::{Fixture, HeaderValues, RecordedResponse};
use crate::registry::{Auth, Integration, Path, Scope, Segment, StoreValue, Template};
use indexmap::IndexMap;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;
use url::Url;

/// The origins a provider answers from (see the module comment for how they are found).
#[derive(Debug, Clone, Default)]
pub struct ProviderOrigins {
    exact: BTreeSet<UrlOrigin>,
    patterns: Vec<HostPattern>,
    /// The definition's URL templates, rendered again with each connection learned.
    templates: Vec<Template>,
    /// The literal path after a template's placeholder origin (`/services/data/v62.0`).
    dynamic_paths: Vec<String>,
    /// Connection values from the definition (defaults), under each connection learned.
    defaults: IndexMap<String, String>,
    /// Connection fields a token response fills: field <- path in the response.
    store: Vec<(String, Path)>,
    /// Where a token response holds its access token: what tells a token response.
    access_token: Option<Path>,
}

impl ProviderOrigins {
    /// The origins the definition alone shows: literal ones, host patterns, and placeholder
    /// origins rendered with the connection fields' defaults and allowed values.
    pub fn of(integration: &Integration) -> ProviderOrigins {
        let mut origins = ProviderOrigins::default();
        origins.templates.push(integration.base_url.clone());
        if let Auth::OAuth2(oauth) = &integration.auth {
            origins.templates.extend(oauth.authorize_url.clone());
            origins.templates.push(oauth.token_url.clone());
            origins.access_token = Some(oauth.token_response.access_token.clone());
            for (field, value) in &oauth.token_response.store {
                if let StoreValue::Value(path) = value {
                    origins.store.push((field.clone(), path.clone()));
                }
            }
        }
        for template in origins.templates.clone() {
            match shape(&template) {
                Shape::Literal(origin) => {
                    origins.exact.insert(origin);
                }
                Shape::Pattern(pattern) => {
                    if !origins.patterns.contains(&pattern) {
                        origins.patterns.push(pattern);
                    }
                }
                Shape::Dynamic(path) => {
                    if path.len() > 1 && !origins.dynamic_paths.contains(&path) {
                        origins.dynamic_paths.push(path);
                    }
                }
                Shape::Unknown => {}
            }
        }
        for (name, field) in &integration.connection.fields {
            if let Some(value) = &field.default {
                origins.defaults.insert(name.clone(), value.clone());
            }
        }
        origins.learn_connection(std::iter::empty::<(&str, &str)>());
        for (name, field) in &integration.connection.fields {
            for value in field.values.iter().flatten() {
                origins.learn_connection([(name.as_str(), value.as_str())]);
            }
        }
        origins
    }

    /// [`ProviderOrigins::of`], plus what each fixture shows ([`ProviderOrigins::learn`]).
    pub fn with_fixtures<'a>(integration: &Integration, fixtures: impl IntoIterator<Item = &'a Fixture>) -> ProviderOrigins {
        let mut origins = ProviderOrigins::of(integration);
        for fixture in fixtures {
            origins.learn(fixture);
        }
        origins
    }

    /// Adds what a fixture shows: its account's connection rendered into the definition's URL
    /// templates, the connection fields its token responses fill, and the origins of absolute
    /// URLs under a placeholder origin's path in its responses.
    pub fn learn(&mut self, fixture: &Fixture) {
        let connection: Vec<(&str, &str)> = fixture.account.connection.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.learn_connection(connection.iter().copied());
        for exchange in &fixture.exchanges {
            self.learn_response(&exchange.response, &connection);
        }
    }

    /// Adds the origins the definition's URL templates take with these connection values
    /// (over the fields' defaults), e.g. a Salesforce `instance_url`.
    pub fn learn_connection<'a>(&mut self, connection: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut values = self.defaults.clone();
        values.extend(connection.into_iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for template in &self.templates {
            if let Some(origin) = render(template, &values).as_deref().and_then(UrlOrigin::parse) {
                self.exact.insert(origin);
            }
        }
    }

    /// Adds what a recorded response shows, for an account with `connection`: the connection
    /// fields it fills if it is a token response, and the origins of absolute URLs under a
    /// placeholder origin's path.
    pub fn learn_response(&mut self, response: &RecordedResponse, connection: &[(&str, &str)]) {
        let token = |body: &Value| self.access_token.as_ref().is_some_and(|path| path.lookup(body).is_some());
        if let Some(body) = response.body.as_ref().filter(|body| token(body)) {
            let stored: Vec<(String, String)> = self
                .store
                .iter()
                .filter_map(|(field, path)| path.lookup(body).and_then(Value::as_str).map(|v| (field.clone(), v.to_string())))
                .collect();
            if !stored.is_empty() {
                let merged = connection.iter().copied().chain(stored.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                self.learn_connection(merged.collect::<Vec<_>>());
            }
        }
        if self.dynamic_paths.is_empty() {
            return;
        }
        let mut texts: Vec<&str> = response.headers.values().flat_map(HeaderValues::values).collect();
        texts.extend(response.body_text.as_deref());
        if let Some(body) = &response.body {
            strings(body, &mut texts);
        }
        let mut found = Vec::new();
        for text in texts {
            for span in url_spans(text) {
                let Ok(url) = Url::parse(&text[span.start..span.end]) else { continue };
                let under = self
                    .dynamic_paths
                    .iter()
                    .any(|p| url.path() == p || url.path().strip_prefix(p.as_str()).is_some_and(|r| r.starts_with('/')));
                if under {
                    found.extend(UrlOrigin::of(&url));
                }
            }
        }
        self.exact.extend(found);
    }

    /// Adds an origin (`https://api.example.com`; a path is ignored). False if it is not an
    /// http(s) URL.
    pub fn insert(&mut self, origin: &str) -> bool {
        match UrlOrigin::parse(origin) {
            Some(origin) => {
                self.exact.insert(origin);
                true
            }
            None => false,
        }
    }

    /// Whether the origin of this absolute URL is one of the provider's.
    pub fn contains(&self, url: &str) -> bool {
        UrlOrigin::parse(url).is_some_and(|origin| self.contains_origin(&origin))
    }

    fn contains_origin(&self, origin: &UrlOrigin) -> bool {
        self.exact.contains(origin) || self.patterns.iter().any(|p| p.matches(origin))
    }

    /// The origins, for a log or a banner: exact ones (but those a pattern covers), then
    /// patterns (`https://*.zendesk.com`).
    pub fn describe(&self) -> Vec<String> {
        let exact = self.exact.iter().filter(|o| !self.patterns.iter().any(|p| p.matches(o)));
        let mut out: Vec<String> = exact.map(UrlOrigin::to_string).collect();
        out.extend(self.patterns.iter().map(HostPattern::to_string));
        out
    }
}

/// Rewrites the provider's origins to one other origin in recorded responses.
#[derive(Debug, Clone)]
pub struct OriginRewrite {
    from: ProviderOrigins,
    /// `scheme://host[:port]`, no trailing slash.
    to: String,
}

impl OriginRewrite {
    /// Rewrites `from` to the origin of `to` (its path, if any, is ignored: recorded paths are
    /// absolute paths on the provider's origin).
    pub fn new(from: ProviderOrigins, to: &Url) -> OriginRewrite {
        let mut origin = format!("{}://{}", to.scheme(), to.host_str().unwrap_or_default());
        if let Some(port) = to.port() {
            origin.push_str(&format!(":{port}"));
        }
        OriginRewrite { from, to: origin }
    }

    /// The origin URLs are rewritten to.
    pub fn to(&self) -> &str {
        &self.to
    }

    pub fn origins(&self) -> &ProviderOrigins {
        &self.from
    }

    /// Every absolute URL of a provider origin in `text` (a header value, a string, a text
    /// body), with the origin replaced; the rest of the text is kept as it is.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = String::new();
        let mut last = 0;
        for span in url_spans(text) {
            let matches = UrlOrigin::parse(&text[span.start..span.authority_end]).is_some_and(|o| self.from.contains_origin(&o));
            if matches {
                out.push_str(&text[last..span.start]);
                out.push_str(&self.to);
                last = span.authority_end;
            }
        }
        if last == 0 {
            return Cow::Borrowed(text);
        }
        out.push_str(&text[last..]);
        Cow::Owned(out)
    }

    /// Rewrites every string of a JSON value, at any depth (object keys are left alone).
    /// Returns how many strings changed.
    pub fn json(&self, value: &mut Value) -> usize {
        match value {
            Value::String(s) => match self.text(s) {
                Cow::Owned(new) => {
                    *s = new;
                    1
                }
                Cow::Borrowed(_) => 0,
            },
            Value::Array(items) => items.iter_mut().map(|v| self.json(v)).sum(),
            Value::Object(map) => map.values_mut().map(|v| self.json(v)).sum(),
            _ => 0,
        }
    }

    /// Rewrites every value of recorded headers (`Link`, `Location`, …). Returns how many changed.
    pub fn headers(&self, headers: &mut IndexMap<String, HeaderValues>) -> usize {
        let mut changed = 0;
        for values in headers.values_mut() {
            let list: Vec<&mut String> = match values {
                HeaderValues::One(v) => vec![v],
                HeaderValues::Many(vs) => vs.iter_mut().collect(),
            };
            for value in list {
                if let Cow::Owned(new) = self.text(value) {
                    *value = new;
                    changed += 1;
                }
            }
        }
        changed
    }

    /// A copy of a recorded response with its headers, JSON body and text body rewritten.
    pub fn response(&self, response: &RecordedResponse) -> RecordedResponse {
        let mut out = response.clone();
        self.headers(&mut out.headers);
        if let Some(body) = &mut out.body {
            self.json(body);
        }
        if let Some(text) = &mut out.body_text {
            if let Cow::Owned(new) = self.text(text) {
                *text = new;
            }
        }
        out
    }

    /// A response body as bytes: JSON is parsed, rewritten and written again (compact) when a
    /// URL changed; other UTF-8 text is rewritten in place; anything else is returned as is.
    pub fn body<'a>(&self, body: &'a [u8]) -> Cow<'a, [u8]> {
        if let Ok(mut value) = serde_json::from_slice::<Value>(body) {
            if self.json(&mut value) == 0 {
                return Cow::Borrowed(body);
            }
            return Cow::Owned(serde_json::to_vec(&value).expect("JSON values serialize"));
        }
        match std::str::from_utf8(body).map(|text| self.text(text)) {
            Ok(Cow::Owned(text)) => Cow::Owned(text.into_bytes()),
            _ => Cow::Borrowed(body),
        }
    }

    /// Rewrites the values of an HTTP header map (a live or replayed response's). Values that
    /// are not text are left alone. Returns how many changed.
    pub fn header_map(&self, headers: &mut reqwest::header::HeaderMap) -> usize {
        let mut changed = 0;
        for value in headers.values_mut() {
            let Ok(text) = value.to_str() else { continue };
            if let Cow::Owned(new) = self.text(text) {
                if let Ok(new) = reqwest::header::HeaderValue::from_str(&new) {
                    *value = new;
                    changed += 1;
                }
            }
        }
        changed
    }
}

/// Scheme, lower-case host and port (the scheme's default filled in) of an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct UrlOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl UrlOrigin {
    fn of(url: &Url) -> Option<UrlOrigin> {
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        Some(UrlOrigin { scheme: url.scheme().to_string(), host: url.host_str()?.to_ascii_lowercase(), port: url.port_or_known_default() })
    }

    fn parse(text: &str) -> Option<UrlOrigin> {
        Url::parse(text).ok().as_ref().and_then(UrlOrigin::of)
    }
}

impl std::fmt::Display for UrlOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Some(port) if Some(port) != default_port(&self.scheme) => write!(f, ":{port}"),
            _ => Ok(()),
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// A host with placeholders, on the scheme's default port. Each placeholder stands for one or
/// more letters, digits or hyphens: part of one DNS label, never a dot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    scheme: String,
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Lower case.
    Text(String),
    Label,
}

impl HostPattern {
    fn matches(&self, origin: &UrlOrigin) -> bool {
        origin.scheme == self.scheme && origin.port == default_port(&self.scheme) && glob(&self.pieces, &origin.host)
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://", self.scheme)?;
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => f.write_str(text)?,
                Piece::Label => f.write_str("*")?,
            }
        }
        Ok(())
    }
}

fn glob(pieces: &[Piece], host: &str) -> bool {
    match pieces.split_first() {
        None => host.is_empty(),
        Some((Piece::Text(text), rest)) => host.strip_prefix(text.as_str()).is_some_and(|after| glob(rest, after)),
        Some((Piece::Label, rest)) => {
            let run = host.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'-').count();
            (1..=run).any(|n| glob(rest, &host[n..]))
        }
    }
}

/// What a URL template says about its origin.
enum Shape {
    Literal(UrlOrigin),
    Pattern(HostPattern),
    /// The whole origin is a placeholder; the literal path that follows it.
    Dynamic(String),
    Unknown,
}

fn shape(template: &Template) -> Shape {
    let segments: Cow<[Segment]> = if template.segments.is_empty() {
        if template.source.contains("{{") {
            return Shape::Unknown;
        }
        Cow::Owned(vec![Segment::Text(template.source.clone())])
    } else {
        Cow::Borrowed(&template.segments)
    };
    let (first, rest) = match segments.split_first() {
        Some((Segment::Text(first), rest)) => (first, rest),
        Some((Segment::Var { .. }, rest)) => {
            let path = match rest.first() {
                Some(Segment::Text(text)) => text.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/').to_string(),
                _ => String::new(),
            };
            return if path.starts_with('/') { Shape::Dynamic(path) } else { Shape::Unknown };
        }
        None => return Shape::Unknown,
    };
    let Some(separator) = first.find("://") else { return Shape::Unknown };
    let scheme = first[..separator].to_ascii_lowercase();
    let mut pieces = Vec::new();
    let after_scheme = Segment::Text(first[separator + 3..].to_string());
    for segment in std::iter::once(&after_scheme).chain(rest) {
        match segment {
            Segment::Text(text) => match text.find(['/', '?', '#']) {
                Some(end) => {
                    pieces.push(Piece::Text(text[..end].to_ascii_lowercase()));
                    break;
                }
                None => pieces.push(Piece::Text(text.to_ascii_lowercase())),
            },
            Segment::Var { .. } => pieces.push(Piece::Label),
        }
    }
    pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
    if !pieces.contains(&Piece::Label) {
        let authority: String = pieces.iter().map(|p| if let Piece::Text(t) = p { t.as_str() } else { "" }).collect();
        return UrlOrigin::parse(&format!("{scheme}://{authority}")).map(Shape::Literal).unwrap_or(Shape::Unknown);
    }
    // A port or credentials beside a placeholder: not worth a pattern.
    if pieces.iter().any(|p| matches!(p, Piece::Text(t) if t.contains([':', '@']))) || default_port(&scheme).is_none() {
        return Shape::Unknown;
    }
    Shape::Pattern(HostPattern { scheme, pieces })
}

/// The template with connection values; `None` when a placeholder has no value (or is not a
/// connection field).
fn render(template: &Template, connection: &IndexMap<String, String>) -> Option<String> {
    if template.segments.is_empty() {
        return (!template.source.contains("{{")).then(|| template.source.clone());
    }
    let mut out = String::new();
    for segment in &template.segments {
        match segment {
            Segment::Text(text) => out.push_str(text),
            Segment::Var { scope: Scope::Connection, field } if field.len() == 1 => out.push_str(connection.get(&field[0])?),
            Segment::Var { .. } => return None,
        }
    }
    Some(out)
}

/// Where an absolute URL sits in a text: its start, the end of its authority, and its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UrlSpan {
    start: usize,
    authority_end: usize,
    end: usize,
}

/// Every `http://` or `https://` URL in a text (scheme in any case). The authority is what
/// follows the scheme up to the first character that cannot be in a host and port (a trailing
/// `.` or `:` is punctuation); the URL ends at white space, a quote or an angle bracket.
fn url_spans(text: &str) -> Vec<UrlSpan> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let start = from + found;
        let rest = &lower[start + 4..];
        let scheme_len = if rest.starts_with("s://") {
            8
        } else if rest.starts_with("://") {
            7
        } else {
            from = start + 4;
            continue;
        };
        let host_start = start + scheme_len;
        let mut authority_end = host_start
            + bytes[host_start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']'))
                .count();
        while authority_end > host_start && matches!(bytes[authority_end - 1], b'.' | b':') {
            authority_end -= 1;
        }
        if authority_end == host_start {
            from = host_start;
            continue;
        }
        let end = authority_end
            + bytes[authority_end..].iter().take_while(|b| !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b'<' | b'>')).count();
        out.push(UrlSpan { start, authority_end, end });
        from = authority_end;
    }
    out
}

/// Every string of a JSON value.
fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Connection, ConnectionField, HttpMethod};
    use crate::replay::{AccountSpec, Call, CallMethod, Exchange, RequestMatcher};
    use serde_json::json;

    /// A template as the compiler leaves it: `{{connection.x}}` parsed into segments.
    fn template(source: &str) -> Template {
        let mut segments = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_string()));
            }
            let close = rest[open..].find("}}").unwrap() + open;
            let (scope, field) = rest[open + 2..close].split_once('.').unwrap();
            segments.push(Segment::Var { scope: Scope::from_name(scope).unwrap(), field: vec![field.to_string()] });
            rest = &rest[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        Template { source: source.to_string(), segments }
    }

    fn integration(
        base_url: &str,
        oauth: Option<(&str, &str)>,
        store: &[(&str, &str)],
        fields: &[(&str, Option<&str>, &[&str])],
    ) -> Integration {
        let auth = match oauth {
            Some((authorize, token)) => json!({
                "type": "oauth2",
                "authorize_url": authorize,
                "token_url": token,
                "token_response": { "store": store.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>() },
            }),
            None => json!({ "type": "bearer" }),
        };
        let mut integration: Integration = serde_json::from_value(json!({
            "name": "acme",
            "label": "Acme",
            "base_url": base_url,
            "auth": auth,
            "resources": {},
        }))
        .expect("a minimal integration");
        integration.base_url = template(base_url);
        if let Auth::OAuth2(o) = &mut integration.auth {
            let (authorize, token) = oauth.unwrap();
            o.authorize_url = Some(template(authorize));
            o.token_url = template(token);
        }
        integration.connection = Connection {
            fields: fields
                .iter()
                .map(|(name, default, values)| {
                    let field = json!({
                        "type": if values.is_empty() { "text" } else { "enum" },
                        "default": default,
                        "values": (!values.is_empty()).then_some(values),
                    });
                    (name.to_string(), serde_json::from_value::<ConnectionField>(field).expect("a connection field"))
                })
                .collect(),
        };
        integration
    }

    fn fixture(connection: &[(&str, &str)], responses: Vec<RecordedResponse>) -> Fixture {
        Fixture {
            description: None,
            call: Call {
                model: "crm".into(),
                resource: "contacts".into(),
                method: CallMethod::List,
                id: None,
                query: Default::default(),
                page_size: None,
                pages: None,
                start: None,
                body: None,
            },
            account: AccountSpec {
                connection: connection.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                ..Default::default()
            },
            now: "2024-06-01T09:00:00Z".into(),
            exchanges: responses
                .into_iter()
                .map(|response| Exchange {
                    request: RequestMatcher {
                        method: HttpMethod::Get,
                        path: "/".into(),
                        query: Default::default(),
                        headers: Default::default(),
                        body: None,
                        form: None,
                        body_text: None,
                    },
                    response,
                })
                .collect(),
            expect: Default::default(),
        }
    }

    fn response(headers: &[(&str, &str)], body: Option<Value>) -> RecordedResponse {
        RecordedResponse {
            status: 200,
            headers: headers.iter().map(|(k, v)| (k.to_string(), HeaderValues::One(v.to_string()))).collect(),
            body,
            body_text: None,
        }
    }

    fn sandbox() -> Url {
        Url::parse("http://127.0.0.1:9100").unwrap()
    }

    fn github() -> OriginRewrite {
        let github = integration(
            "https://api.github.com",
            Some(("https://github.com/login/oauth/authorize", "https://github.com/login/oauth/access_token")),
            &[],
            &[],
        );
        OriginRewrite::new(ProviderOrigins::of(&github), &sandbox())
    }

    #[test]
    fn a_link_header_with_several_rels_keeps_its_queries() {
        let rewrite = github();
        let link = "<https://api.github.com/repositories/1296269/issues?state=all&per_page=2&page=2>; rel=\"next\", \
                    <https://api.github.com/repositories/1296269/issues?state=all&per_page=2&page=9>; rel=\"last\", \
                    <https://api.github.com/repositories/1296269/issues?state=all&per_page=2&page=1>; rel=\"first\"";
        assert_eq!(
            rewrite.text(link),
            "<http://127.0.0.1:9100/repositories/1296269/issues?state=all&per_page=2&page=2>; rel=\"next\", \
             <http://127.0.0.1:9100/repositories/1296269/issues?state=all&per_page=2&page=9>; rel=\"last\", \
             <http://127.0.0.1:9100/repositories/1296269/issues?state=all&per_page=2&page=1>; rel=\"first\""
        );
        // Location too, and a query that holds an encoded URL of its own stays as it was.
        let mut headers: IndexMap<String, HeaderValues> = [
            ("Location".to_string(), HeaderValues::One("https://github.com/login?return_to=https%3A%2F%2Fapi.github.com%2Fx#top".into())),
            ("x-ratelimit-limit".to_string(), HeaderValues::One("5000".into())),
        ]
        .into_iter()
        .collect();
        assert_eq!(rewrite.headers(&mut headers), 1);
        assert_eq!(
            headers["Location"],
            HeaderValues::One("http://127.0.0.1:9100/login?return_to=https%3A%2F%2Fapi.github.com%2Fx#top".into())
        );
        assert_eq!(headers["x-ratelimit-limit"], HeaderValues::One("5000".into()));
    }

    #[test]
    fn nested_json_strings_are_rewritten_and_other_origins_left_alone() {
        let rewrite = github();
        let mut body = json!({
            "items": [
                {"html_url": "https://github.com/octocat/Hello-World/issues/1347",
                 "user": {"avatar_url": "https://avatars.githubusercontent.com/u/1?v=4"},
                 "text": "moved to https://api.github.com/repos/o/r/issues/2, see https://docs.github.com/rest.",
                 "ports": ["https://api.github.com:443/a?b=c", "http://api.github.com/plain-http", "https://api.github.com.evil.test/x"]},
            ],
            "https://api.github.com/key": 1,
        });
        assert_eq!(rewrite.json(&mut body), 3);
        assert_eq!(
            body,
            json!({
                "items": [
                    {"html_url": "http://127.0.0.1:9100/octocat/Hello-World/issues/1347",
                     "user": {"avatar_url": "https://avatars.githubusercontent.com/u/1?v=4"},
                     "text": "moved to http://127.0.0.1:9100/repos/o/r/issues/2, see https://docs.github.com/rest.",
                     "ports": ["http://127.0.0.1:9100/a?b=c", "http://api.github.com/plain-http", "https://api.github.com.evil.test/x"]},
                ],
                "https://api.github.com/key": 1,
            })
        );
        // As bytes: rewritten when something matched, untouched (borrowed) otherwise.
        let page = br#"{"paging":{"next":{"link":"https://api.github.com/x?after=2&limit=2"}}}"#;
        assert_eq!(&*rewrite.body(page), br#"{"paging":{"next":{"link":"http://127.0.0.1:9100/x?after=2&limit=2"}}}"#);
        assert!(matches!(rewrite.body(br#"{"a":"https://example.com/"}"#), Cow::Borrowed(_)));
        assert_eq!(&*rewrite.body(b"next: HTTPS://API.GITHUB.COM/y"), b"next: http://127.0.0.1:9100/y");
    }

    #[test]
    fn a_recorded_response_is_rewritten_whole() {
        let rewrite = github();
        let recorded = response(
            &[("link", "<https://api.github.com/repositories/1/issues?page=2>; rel=\"next\"")],
            Some(json!([{"url": "https://api.github.com/repos/o/r/issues/1"}])),
        );
        let served = rewrite.response(&recorded);
        assert_eq!(served.headers["link"], HeaderValues::One("<http://127.0.0.1:9100/repositories/1/issues?page=2>; rel=\"next\"".into()));
        assert_eq!(served.body, Some(json!([{"url": "http://127.0.0.1:9100/repos/o/r/issues/1"}])));
        assert_eq!(served.status, 200);
        let mut map = reqwest::header::HeaderMap::new();
        map.insert("link", "<https://api.github.com/a>; rel=\"next\"".parse().unwrap());
        assert_eq!(rewrite.header_map(&mut map), 1);
        assert_eq!(map["link"], "<http://127.0.0.1:9100/a>; rel=\"next\"");
    }

    #[test]
    fn a_templated_host_is_a_pattern_of_one_label() {
        let zendesk = integration(
            "https://{{connection.subdomain}}.zendesk.com/api/v2",
            Some((
                "https://{{connection.subdomain}}.zendesk.com/oauth/authorizations/new",
                "https://{{connection.subdomain}}.zendesk.com/oauth/tokens",
            )),
            &[],
            &[],
        );
        let origins = ProviderOrigins::of(&zendesk);
        assert!(origins.contains("https://acme.zendesk.com/api/v2/tickets.json?page[size]=2&page[after]=xxx"));
        assert!(origins.contains("https://other-shop.zendesk.com"));
        assert!(!origins.contains("https://zendesk.com/api/v2"));
        assert!(!origins.contains("https://a.b.zendesk.com/api/v2"));
        assert!(!origins.contains("http://acme.zendesk.com/api/v2"));
        assert!(!origins.contains("https://acme.zendesk.com.evil.test/"));
        assert_eq!(origins.describe(), vec!["https://*.zendesk.com"]);
        let rewrite = OriginRewrite::new(origins, &sandbox());
        let mut body = json!({"links": {"next": "https://acme.zendesk.com/api/v2/tickets.json?page%5Bsize%5D=2&page%5Bafter%5D=xxx"}});
        rewrite.json(&mut body);
        assert_eq!(body["links"]["next"], "http://127.0.0.1:9100/api/v2/tickets.json?page%5Bsize%5D=2&page%5Bafter%5D=xxx");
    }

    #[test]
    fn a_placeholder_origin_is_learned_from_connections_token_responses_and_urls_under_its_path() {
        let salesforce = integration(
            "{{connection.instance_url}}/services/data/v62.0",
            Some(("https://login.salesforce.com/services/oauth2/authorize", "https://login.salesforce.com/services/oauth2/token")),
            &[("instance_url", "instance_url")],
            &[],
        );
        let origins = ProviderOrigins::of(&salesforce);
        assert_eq!(origins.describe(), vec!["https://login.salesforce.com"]);

        // The fixture's account, a token response's instance_url, an absolute next URL under
        // /services/data/v62.0; a URL elsewhere teaches nothing.
        let fixture = fixture(
            &[("instance_url", "https://acme.my.salesforce.com")],
            vec![
                response(&[], Some(json!({"access_token": "fake-access-token", "instance_url": "https://eu5.salesforce.com"}))),
                response(
                    &[],
                    Some(json!({
                        "nextRecordsUrl": "https://na1.salesforce.com/services/data/v62.0/query/01g-2000",
                        "help": "https://developer.salesforce.com/services/data/v62.0x",
                    })),
                ),
            ],
        );
        let origins = ProviderOrigins::with_fixtures(&salesforce, [&fixture]);
        for origin in
            ["https://acme.my.salesforce.com", "https://eu5.salesforce.com", "https://na1.salesforce.com", "https://login.salesforce.com"]
        {
            assert!(origins.contains(origin), "{origin}: {:?}", origins.describe());
        }
        assert!(!origins.contains("https://developer.salesforce.com"));

        // Enum values and defaults of connection fields (Zoho's accounts servers).
        let zoho = integration(
            "{{connection.api_domain}}/crm/v8",
            Some(("{{connection.accounts_server}}/oauth/v2/auth", "{{connection.accounts_server}}/oauth/v2/token")),
            &[("api_domain", "api_domain")],
            &[("accounts_server", Some("https://accounts.zoho.com"), &["https://accounts.zoho.com", "https://accounts.zoho.eu"])],
        );
        let origins = ProviderOrigins::of(&zoho);
        assert_eq!(origins.describe(), vec!["https://accounts.zoho.com", "https://accounts.zoho.eu"]);
        let mut origins = origins;
        origins.learn_connection([("api_domain", "https://www.zohoapis.eu")]);
        assert!(origins.contains("https://www.zohoapis.eu/crm/v8/Contacts"));
        assert!(origins.insert("https://extra.example:8443/ignored/path"));
        assert!(origins.contains("https://extra.example:8443"));
        assert!(!origins.contains("https://extra.example"));
        assert!(!origins.insert("not a url"));
    }

    #[test]
    fn url_spans_stop_at_punctuation_and_delimiters() {
        let text = "a <https://x.test/p?q=1>; b \"http://y.test:8080\" c https://z.test. d https:// e xhttps://w.test/";
        let spans: Vec<(&str, &str)> =
            url_spans(text).into_iter().map(|s| (&text[s.start..s.authority_end], &text[s.start..s.end])).collect();
        assert_eq!(
            spans,
            vec![
                ("https://x.test", "https://x.test/p?q=1"),
                ("http://y.test:8080", "http://y.test:8080"),
                ("https://z.test", "https://z.test."),
                ("https://w.test", "https://w.test/"),
            ]
        );
    }
}
