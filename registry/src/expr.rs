//! JSONata expressions, kept as source with the place they were written.

use serde::{Deserialize, Deserializer, Serialize};

/// A JSONata expression. The compiler has parsed it (so its syntax is valid) and recorded
/// where it starts, so a mapping error at request time can name `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expr {
    pub source: String,
    pub origin: Origin,
}

impl Expr {
    /// The expression as written at `origin`: `source` without the shared functions the
    /// compiler bound in front of it ([`super::functions`]).
    pub fn written(&self) -> &str {
        super::functions::written(&self.source)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// Relative to the parent of the integrations directory (`integrations/hubspot/integration.yaml`), with `/` separators.
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Source(String),
            Compiled { source: String, origin: Origin },
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Source(source) if super::require_compiled() => {
                return Err(serde::de::Error::custom(format!(
                    "an expression in an artifact must be compiled, found the plain string {source:?}"
                )))
            }
            Repr::Source(source) => Expr { source, origin: Origin::default() },
            Repr::Compiled { source, origin } => Expr { source, origin },
        })
    }
}
