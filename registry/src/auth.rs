//! How a request is authenticated, and how OAuth2 tokens are obtained and refreshed.

use super::{Path, ResponseRule, RuleKind, Template};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Auth {
    None {
        #[serde(default)]
        credentials: Option<Vec<String>>,
    },
    ApiKey(ApiKeyAuth),
    Bearer(BearerAuth),
    Basic(BasicAuth),
    Custom(CustomAuth),
    #[serde(rename = "oauth2")]
    OAuth2(OAuth2),
}

impl Auth {
    pub fn type_name(&self) -> &'static str {
        match self {
            Auth::None { .. } => "none",
            Auth::ApiKey(_) => "api_key",
            Auth::Bearer(_) => "bearer",
            Auth::Basic(_) => "basic",
            Auth::Custom(_) => "custom",
            Auth::OAuth2(_) => "oauth2",
        }
    }

    /// The declared credential fields (the `credentials` placeholder scope).
    pub fn credentials(&self) -> &[String] {
        let declared = match self {
            Auth::None { credentials } => credentials,
            Auth::ApiKey(a) => &a.credentials,
            Auth::Bearer(a) => &a.credentials,
            Auth::Basic(a) => &a.credentials,
            Auth::Custom(a) => &a.credentials,
            Auth::OAuth2(a) => &a.credentials,
        };
        declared.as_deref().unwrap_or(&[])
    }

    pub fn credentials_mut(&mut self) -> &mut Option<Vec<String>> {
        match self {
            Auth::None { credentials } => credentials,
            Auth::ApiKey(a) => &mut a.credentials,
            Auth::Bearer(a) => &mut a.credentials,
            Auth::Basic(a) => &mut a.credentials,
            Auth::Custom(a) => &mut a.credentials,
            Auth::OAuth2(a) => &mut a.credentials,
        }
    }

    /// The credential fields a definition gets when it declares none.
    pub fn default_credentials(&self) -> &'static [&'static str] {
        match self {
            Auth::None { .. } | Auth::Custom(_) => &[],
            Auth::ApiKey(_) => &["api_key"],
            Auth::Bearer(_) => &["token"],
            Auth::Basic(_) => &["username", "password"],
            Auth::OAuth2(_) => &["access_token", "refresh_token"],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    #[default]
    Header,
    Query,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyAuth {
    #[serde(rename = "in")]
    pub placement: Placement,
    pub name: String,
    #[serde(default = "default_api_key_value")]
    pub value: Template,
    #[serde(default)]
    pub credentials: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerAuth {
    #[serde(default = "default_bearer_token")]
    pub token: Template,
    #[serde(default)]
    pub credentials: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default = "default_basic_username")]
    pub username: Template,
    #[serde(default = "default_basic_password")]
    pub password: Template,
    #[serde(default)]
    pub credentials: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomAuth {
    #[serde(default)]
    pub headers: IndexMap<String, Template>,
    #[serde(default)]
    pub query: IndexMap<String, Template>,
    #[serde(default)]
    pub credentials: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    #[default]
    AuthorizationCode,
    ClientCredentials,
}

/// The encoding of a token request's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 says.
    #[default]
    Form,
    /// A JSON object, which some providers document instead.
    Json,
}

/// How the OAuth client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    #[default]
    Body,
    BasicHeader,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    #[serde(default)]
    pub grant: OAuthGrant,
    #[serde(default)]
    pub authorize_url: Option<Template>,
    pub token_url: Template,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default = "default_scope_separator")]
    pub scope_separator: String,
    #[serde(default)]
    pub authorize_params: IndexMap<String, String>,
    /// Extra token-request parameters; templates, so one may vary per account (Greenhouse's
    /// `sub`).
    #[serde(default)]
    pub token_params: IndexMap<String, Template>,
    /// How the token request's parameters are sent.
    #[serde(default)]
    pub token_format: TokenFormat,
    /// The OAuth client; by default the install's (the team's own app). A provider whose
    /// customers each issue their own client reads it from connection fields.
    #[serde(default = "default_client_id")]
    pub client_id: Template,
    #[serde(default = "default_client_secret")]
    pub client_secret: Template,
    #[serde(default)]
    pub client_auth: ClientAuth,
    #[serde(default)]
    pub pkce: bool,
    #[serde(default = "default_refresh_margin")]
    pub refresh_margin_seconds: u64,
    #[serde(default)]
    pub rotates_refresh_token: bool,
    #[serde(default)]
    pub token_response: TokenResponse,
    #[serde(default)]
    pub apply: OAuth2Apply,
    #[serde(default)]
    pub credentials: Option<Vec<String>>,
}

/// Where the fields of a token response are. `store` copies extra fields (such as
/// `instance_url` or `api_domain`) into the account's connection fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    #[serde(default = "default_access_token_path")]
    pub access_token: Path,
    #[serde(default = "default_refresh_token_path")]
    pub refresh_token: Path,
    #[serde(default = "default_expires_in_path")]
    pub expires_in: Path,
    #[serde(default)]
    pub store: IndexMap<String, StoreValue>,
    /// Where an error response holds its code (RFC 6749 `error` by default).
    #[serde(default = "default_error_path")]
    pub error: Path,
    /// Where an error response holds its description (`error_description` by default).
    #[serde(default = "default_error_description_path")]
    pub error_description: Path,
    /// Rules that make a token response an error of a given kind, checked first; without a
    /// match the default applies: a non-2xx status, or a 2xx with a code at `error` and no
    /// access token, is an error classified by its code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_when: Vec<TokenErrorRule>,
}

impl Default for TokenResponse {
    fn default() -> Self {
        TokenResponse {
            access_token: default_access_token_path(),
            refresh_token: default_refresh_token_path(),
            expires_in: default_expires_in_path(),
            store: IndexMap::new(),
            error: default_error_path(),
            error_description: default_error_description_path(),
            error_when: Vec::new(),
        }
    }
}

/// What `token_response.store` puts into a connection field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoreValue {
    /// The value at this path of the token response, as text.
    Value(Path),
    /// A lifetime in seconds at this path, stored as the time it ends (RFC 3339, UTC): a
    /// refresh token's lifetime (QuickBooks' `x_refresh_token_expires_in`), so an operator
    /// can see when an account will need to reconnect.
    Expiry { expires_in: Path },
}

/// A token response is an error of `kind` when its status is listed (any status when
/// `status` is absent) and the optional header and body conditions hold (on the parsed token
/// response: JSON, or a form-encoded one as an object of strings): the conditions of an
/// `errors.when` rule.
pub type TokenErrorRule = ResponseRule<TokenErrorKind>;

/// What a token-endpoint error means: the grant is dead (`needs_reauth`: the customer must
/// connect again), the OAuth client is refused (`auth`), or the endpoint failed (`upstream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenErrorKind {
    NeedsReauth,
    Auth,
    Upstream,
}

impl RuleKind for TokenErrorKind {
    /// Each `error_when` rule names its kind.
    fn implied() -> Option<Self> {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Apply {
    #[serde(rename = "in", default)]
    pub placement: Placement,
    #[serde(default = "default_apply_name")]
    pub name: String,
    #[serde(default = "default_apply_value")]
    pub value: Template,
}

impl Default for OAuth2Apply {
    fn default() -> Self {
        OAuth2Apply { placement: Placement::Header, name: default_apply_name(), value: default_apply_value() }
    }
}

fn default_api_key_value() -> Template {
    Template::unparsed("{{credentials.api_key}}")
}
fn default_bearer_token() -> Template {
    Template::unparsed("{{credentials.token}}")
}
fn default_basic_username() -> Template {
    Template::unparsed("{{credentials.username}}")
}
fn default_basic_password() -> Template {
    Template::unparsed("{{credentials.password}}")
}
fn default_client_id() -> Template {
    Template::unparsed("{{install.client_id}}")
}
fn default_client_secret() -> Template {
    Template::unparsed("{{install.client_secret}}")
}
fn default_scope_separator() -> String {
    " ".to_string()
}
fn default_refresh_margin() -> u64 {
    300
}
fn default_error_path() -> Path {
    Path::parse("error")
}
fn default_error_description_path() -> Path {
    Path::parse("error_description")
}
fn default_access_token_path() -> Path {
    Path::parse("access_token")
}
fn default_refresh_token_path() -> Path {
    Path::parse("refresh_token")
}
fn default_expires_in_path() -> Path {
    Path::parse("expires_in")
}
fn default_apply_name() -> String {
    "Authorization".to_string()
}
fn default_apply_value() -> Template {
    Template::unparsed("Bearer {{credentials.access_token}}")
}
