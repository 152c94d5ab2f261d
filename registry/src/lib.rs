//! The registry: every integration, compiled. The IR the compiler produces and the runtime
//! executes; serde types, no I/O.
//!
//! The artifact written by `switchyard compile` is this structure serialized as JSON
//! (see `docs/registry.md`). It is self-describing (`format`, `version`) so a server
//! refuses an artifact it does not understand instead of misreading it.

#![forbid(unsafe_code)]

mod auth;
mod expr;
pub mod functions;
mod integration;
mod pagination;
mod path;
mod rate_limit;
mod rule;
mod template;
mod unified;
pub mod vocabulary;
mod webhooks;

pub use auth::{
    ApiKeyAuth, Auth, BasicAuth, BearerAuth, ClientAuth, CustomAuth, OAuth2, OAuth2Apply, OAuthGrant, Placement, StoreValue,
    TokenErrorKind, TokenErrorRule, TokenFormat, TokenResponse,
};
pub use expr::{Expr, Origin};
pub use integration::{
    BodyFormat, Connection, ConnectionField, ErrorMapping, ErrorRule, FieldType, HttpMethod, Integration, Method, MethodErrors,
    QueryArrayFormat, Resource, RuleErrorKind, VerifyCall,
};
pub use pagination::{CursorFrom, CursorSource, PageCommon, PageRequest, PageSize, Pagination, ParamIn, StopWhen};
pub use path::Path;
pub use rate_limit::{HeaderValue, LimitedWhen, NumberFormat, RateLimit, RateLimited, ResetHeader, RetryAfter, RetryAfterUnit, TimeUnit};
pub use rule::{HeaderEquals, ResponseRule, RuleKind};
pub use template::{Scope, Segment, Template};
pub use unified::{UnifiedMapping, UnifiedMethodName, UnifiedModel};
pub use webhooks::{
    HmacAlgorithm, SecretEncoding, SignatureEncoding, SignatureFormat, SignatureHeader, TimestampRule, TimestampUnit, WebhookVerify,
    Webhooks,
};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::fmt;

thread_local! {
    static COMPILED_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a deserialization in which templates and expressions must be in compiled form.
fn compiled_only<T>(f: impl FnOnce() -> T) -> T {
    COMPILED_ONLY.with(|flag| flag.set(true));
    let result = f();
    COMPILED_ONLY.with(|flag| flag.set(false));
    result
}

pub(crate) fn require_compiled() -> bool {
    COMPILED_ONLY.with(|flag| flag.get())
}

/// The value of `format` in every artifact.
pub const FORMAT: &str = "switchyard-registry";
/// Bumped on any change a reader of an older version would misread.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub format: String,
    pub version: u32,
    /// Sorted by name, so the artifact does not depend on directory listing order.
    pub integrations: Vec<Integration>,
    /// Unified models: model name -> resource name -> JSON Schema of one record.
    pub models: IndexMap<String, IndexMap<String, serde_json::Value>>,
}

#[derive(Debug)]
pub enum RegistryError {
    Malformed(String),
    WrongFormat(String),
    UnsupportedVersion { found: u32, supported: u32 },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Malformed(e) => write!(f, "the registry artifact is malformed: {e}"),
            RegistryError::WrongFormat(found) => write!(
                f,
                "not a Switchyard registry (format is `{found}`, expected `{FORMAT}`); build one with `switchyard compile`"
            ),
            RegistryError::UnsupportedVersion { found, supported } => write!(
                f,
                "registry version {found} is not supported by this build (it reads version {supported}); recompile the definitions with this version of `switchyard compile`"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

impl Registry {
    pub fn new(integrations: Vec<Integration>, models: IndexMap<String, IndexMap<String, serde_json::Value>>) -> Self {
        let mut integrations = integrations;
        integrations.sort_by(|a, b| a.name.cmp(&b.name));
        Registry { format: FORMAT.to_string(), version: VERSION, integrations, models }
    }

    /// Reads an artifact, checking its format and version before its body so that an
    /// artifact from a newer compiler is reported as such rather than as a parse error.
    pub fn from_json(text: &str) -> Result<Registry, RegistryError> {
        #[derive(Deserialize)]
        struct Header {
            format: Option<String>,
            version: Option<u32>,
        }
        let header: Header = serde_json::from_str(text).map_err(|e| RegistryError::Malformed(e.to_string()))?;
        let format = header.format.unwrap_or_default();
        if format != FORMAT {
            return Err(RegistryError::WrongFormat(format));
        }
        let found = header.version.unwrap_or(0);
        if found != VERSION {
            return Err(RegistryError::UnsupportedVersion { found, supported: VERSION });
        }
        // An artifact holds compiled templates and expressions only; the plain-string
        // form a definition uses would load as an empty template.
        compiled_only(|| serde_json::from_str(text)).map_err(|e| RegistryError::Malformed(e.to_string()))
    }

    /// The artifact text: pretty JSON (reviewable in a diff) with a final newline.
    /// Deterministic: every map keeps source order and integrations are sorted.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("registry types serialize infallibly");
        text.push('\n');
        text
    }

    pub fn integration(&self, name: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.name == name)
    }
}
