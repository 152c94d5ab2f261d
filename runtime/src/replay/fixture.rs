//! The fixture IR: one unified call, the account it runs with, the upstream exchanges
//! recorded for it, and what is expected. The YAML form is `schemas/fixture.schema.json`.

use crate::account::{Account, Connection, Credentials, Install, Secret};
use crate::pagination::Position;
use crate::registry::HttpMethod;
use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub call: Call,
    #[serde(default)]
    pub account: AccountSpec,
    /// RFC 3339. Freezes the engine's clock and JSONata's `$now()` / `$millis()`.
    pub now: String,
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    #[serde(default, skip_serializing_if = "Expect::is_default")]
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    pub model: String,
    pub resource: String,
    pub method: CallMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub query: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u64>,
    /// Lists only: how many pages to walk (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Pages>,
    /// Lists only: the upstream position the first page starts from, as a caller resuming a
    /// listing with a cursor would (`{kind: page, value: 10}`); default: the list's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallMethod {
    List,
    Get,
    Create,
    Update,
    Delete,
}

impl CallMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CallMethod::List => "list",
            CallMethod::Get => "get",
            CallMethod::Create => "create",
            CallMethod::Update => "update",
            CallMethod::Delete => "delete",
        }
    }
}

/// `all`, or a number of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pages {
    All,
    Count(u64),
}

impl Serialize for Pages {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Pages::All => serializer.serialize_str("all"),
            Pages::Count(n) => serializer.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Pages {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) if s == "all" => Ok(Pages::All),
            Value::Number(n) => {
                n.as_u64().filter(|n| *n >= 1).map(Pages::Count).ok_or_else(|| serde::de::Error::custom("`pages` must be at least 1"))
            }
            other => Err(serde::de::Error::custom(format!("`pages` must be `all` or a number, not {other}"))),
        }
    }
}

/// The account a case runs with. Every value is fake: the fixture is committed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub connection: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub credentials: IndexMap<String, String>,
    /// RFC 3339: when the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "InstallSpec::is_empty")]
    pub install: InstallSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl InstallSpec {
    pub fn is_empty(&self) -> bool {
        self.client_id.is_none() && self.client_secret.is_none() && self.webhook_secret.is_none()
    }
}

impl AccountSpec {
    /// The runtime account for `integration`.
    pub fn to_account(&self, integration: &str) -> Result<Account, String> {
        let mut credentials: Credentials = self.credentials.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        credentials.expires_at = match &self.expires_at {
            Some(text) => Some(parse_time(text).map_err(|e| format!("account.expires_at: {e}"))?),
            None => None,
        };
        Ok(Account {
            integration: integration.to_string(),
            connection: self.connection.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Connection>(),
            credentials,
            install: Install {
                client_id: self.install.client_id.clone(),
                client_secret: self.install.client_secret.clone().map(Secret::new),
                webhook_secret: self.install.webhook_secret.clone().map(Secret::new),
            },
            ..Account::default()
        })
    }
}

/// One request the engine is expected to send, and the response it gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub request: RequestMatcher,
    pub response: RecordedResponse,
}

/// What a request must be to match: method and path always; the whole query; the headers
/// listed (others are not compared); the body when one of `body`, `form`, `body_text` is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMatcher {
    pub method: HttpMethod,
    pub path: String,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub query: IndexMap<String, QueryValue>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// A JSON body, compared as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A form-encoded body, compared field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<IndexMap<String, String>>,
    /// Any other body, compared as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
}

/// A query parameter's value: one string, or a list for a repeated parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueryValue {
    One(String),
    Many(Vec<String>),
}

impl QueryValue {
    pub fn values(&self) -> Vec<&str> {
        match self {
            QueryValue::One(v) => vec![v.as_str()],
            QueryValue::Many(vs) => vs.iter().map(String::as_str).collect(),
        }
    }
}

/// A header's value: one string, or a list for a repeated header (`Set-Cookie`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

impl HeaderValues {
    pub fn values(&self) -> Vec<&str> {
        match self {
            HeaderValues::One(v) => vec![v.as_str()],
            HeaderValues::Many(vs) => vs.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, HeaderValues>,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A body that is not JSON (or not meant to be read as JSON), verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Compare the outcome with `snapshots/<case>.snap` (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub snapshot: bool,
    /// The call must end in this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExpectedError>,
}

impl Default for Expect {
    fn default() -> Self {
        Expect { snapshot: true, error: None }
    }
}

impl Expect {
    fn is_default(&self) -> bool {
        *self == Expect::default()
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// The error kind (`rate_limited`, `needs_reauth`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The HTTP status the unified API answers with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The provider's HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<u16>,
    /// A substring of the error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Parses an RFC 3339 timestamp.
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| format!("`{text}` is not an RFC 3339 timestamp ({e})"))?;
    let millis = parsed.timestamp_millis();
    if millis < 0 {
        return Err(format!("`{text}` is before 1970"));
    }
    Ok(UNIX_EPOCH + Duration::from_millis(millis as u64))
}

/// Formats a time as RFC 3339 in UTC, to the second (`2024-06-01T09:00:00Z`).
pub fn format_time(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

impl Fixture {
    /// The frozen "now".
    pub fn now(&self) -> Result<SystemTime, String> {
        parse_time(&self.now).map_err(|e| format!("now: {e}"))
    }
}
