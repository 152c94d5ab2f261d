//! One integration: its HTTP layer, connection fields, resources and unified mappings.

use super::{Auth, Expr, Pagination, Path, RateLimit, ResponseRule, RuleKind, Template, UnifiedModel, Webhooks};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub docs_url: Option<String>,
    pub base_url: Template,
    #[serde(default)]
    pub headers: IndexMap<String, Template>,
    #[serde(default)]
    pub query: IndexMap<String, Template>,
    #[serde(default)]
    pub query_array_format: QueryArrayFormat,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub connection: Connection,
    pub auth: Auth,
    #[serde(default)]
    pub verify: Option<VerifyCall>,
    /// The default for methods named `list`; other methods paginate only if they say so.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub errors: Option<ErrorMapping>,
    pub resources: IndexMap<String, Resource>,
    #[serde(default)]
    pub webhooks: Option<Webhooks>,
    /// Filled by the compiler from `unified/<model>.yaml`: model name -> mappings.
    #[serde(default)]
    pub unified: IndexMap<String, UnifiedModel>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    #[serde(default)]
    pub fields: IndexMap<String, ConnectionField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryArrayFormat {
    /// `a=1&a=2`
    #[default]
    Repeat,
    /// `a=1,2`
    Comma,
    /// `a[]=1&a[]=2`
    Brackets,
    /// `a[0]=1&a[1]=2`
    Indices,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionField {
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<String>>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub example: Option<String>,
    /// A query parameter of the OAuth redirect that fills the field when the customer comes
    /// back (the authorization-code grant only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_callback: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    /// Encrypted at rest, never logged, never returned.
    Secret,
    Enum,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyCall {
    pub resource: String,
    pub method: String,
    #[serde(default)]
    pub params: IndexMap<String, Template>,
    #[serde(default)]
    pub query: IndexMap<String, Template>,
    /// The call's body, for methods that take one (a POST query endpoint).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorMapping {
    pub mapping: Expr,
    /// Rules that make a response an error of a given kind whatever its status (a 200 whose
    /// body says the record is gone); checked after the method's own rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<ErrorRule>,
}

/// A method's own error rules (`resources.<r>.<m>.errors.when`), checked before the
/// integration's: a body that means "deleted" on a get can be a success on a delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodErrors {
    pub when: Vec<ErrorRule>,
}

/// A response is an error of `kind` when its status is listed (any status when `status` is
/// absent) and the optional header and body conditions hold: the conditions of every
/// [`ResponseRule`]. The error's code and message still come from the integration's
/// `errors.mapping`.
pub type ErrorRule = ResponseRule<RuleErrorKind>;

/// The error kinds a rule can assign: the ones a response's content can mean. Rate limits
/// have their own rules; timeouts, connection and mapping failures are not read from a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleErrorKind {
    Auth,
    NotFound,
    Validation,
    Upstream,
}

impl RuleKind for RuleErrorKind {
    /// Each `errors.when` rule names its kind.
    fn implied() -> Option<Self> {
        None
    }
}

/// A provider resource: its methods by name (`list`, `get`, … or custom ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resource {
    pub methods: IndexMap<String, Method>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// The HTTP verb.
    pub method: HttpMethod,
    pub path: Template,
    #[serde(default)]
    pub query: IndexMap<String, Template>,
    #[serde(default)]
    pub headers: IndexMap<String, Template>,
    #[serde(default)]
    pub body_format: BodyFormat,
    /// Where the records are in a list response; `None` = the body is the array.
    #[serde(default)]
    pub records: Option<Path>,
    /// Where the record is in a single response; `None` = the body.
    #[serde(default)]
    pub record: Option<Path>,
    /// After compilation: the pagination in force for this method (its own, or the
    /// integration default for `list`), or `None`.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    /// Rules that make a response of this method an error (see [`ErrorRule`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<MethodErrors>,
    /// This method's own rate-limit policy, in place of the integration's (an endpoint with a
    /// limit of its own, reported in headers of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    /// `HEAD` and `OPTIONS` are only sent by the raw proxy: the DSL's schema does not let a
    /// definition's method use them.
    Head,
    Options,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    #[default]
    Json,
    Form,
}
