//! `{{scope.field}}` templates, stored pre-parsed so the runtime never needs the grammar.

use serde::{Deserialize, Deserializer, Serialize};

/// A string with placeholders. In a definition it is written as a plain string; the
/// compiler parses it and fills `segments`. In the artifact both are stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub source: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Segment {
    Text(String),
    Var { scope: Scope, field: Vec<String> },
}

/// Where a placeholder's value comes from. Which scopes are allowed depends on where the
/// template stands (see docs/dsl.md); the compiler enforces that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Declared connection fields of the account.
    Connection,
    /// The auth's credential fields (tokens, keys).
    Credentials,
    /// Parameters of one method call (path ids, …).
    Params,
    /// The install of the integration in an environment (its OAuth client, webhook secret).
    Install,
    /// Parts of an inbound webhook request.
    Request,
}

impl Scope {
    pub const ALL: [Scope; 5] = [Scope::Connection, Scope::Credentials, Scope::Params, Scope::Install, Scope::Request];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Connection => "connection",
            Scope::Credentials => "credentials",
            Scope::Params => "params",
            Scope::Install => "install",
            Scope::Request => "request",
        }
    }

    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl Template {
    /// A template not parsed yet (as read from a definition).
    pub fn unparsed(source: impl Into<String>) -> Template {
        Template { source: source.into(), segments: Vec::new() }
    }

    /// A template of plain text with no placeholder.
    pub fn text(source: impl Into<String>) -> Template {
        let source = source.into();
        let segments = if source.is_empty() { Vec::new() } else { vec![Segment::Text(source.clone())] };
        Template { source, segments }
    }

    pub fn vars(&self) -> impl Iterator<Item = (Scope, &[String])> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var { scope, field } => Some((*scope, field.as_slice())),
            Segment::Text(_) => None,
        })
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Source(String),
            Compiled { source: String, segments: Vec<Segment> },
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Source(source) if super::require_compiled() => {
                return Err(serde::de::Error::custom(format!(
                    "a template in an artifact must be compiled, found the plain string {source:?}"
                )))
            }
            Repr::Source(source) => Template::unparsed(source),
            Repr::Compiled { source, segments } => Template { source, segments },
        })
    }
}
