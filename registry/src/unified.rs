//! Mappings from one integration's resources to a unified model.

use super::Expr;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The content of `unified/<model>.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedModel {
    pub model: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Builds the body of one page of a list from `{results, next_cursor, cursor,
    /// page_size, integration, model, resource}`: the model's list envelope (Merge's
    /// `{next, previous, results}`, …). `None`: `{results, next_cursor}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Expr>,
    /// Unified resource -> unified method (`list`, `get`, …) -> mapping.
    pub resources: IndexMap<String, IndexMap<String, UnifiedMapping>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnifiedMethodName {
    List,
    Get,
    Create,
    Update,
    Delete,
}

impl UnifiedMethodName {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "list" => Self::List,
            "get" => Self::Get,
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            _ => return None,
        })
    }

    /// Parameters the unified call itself supplies to the provider method.
    pub fn implicit_params(self) -> &'static [&'static str] {
        match self {
            Self::Get | Self::Update | Self::Delete => &["id"],
            Self::List | Self::Create => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedMapping {
    /// The provider resource this maps to.
    pub resource: String,
    /// The provider method; defaults to the unified method's name.
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub params: IndexMap<String, Expr>,
    #[serde(default)]
    pub query: Option<Expr>,
    #[serde(default)]
    pub body: Option<Expr>,
    #[serde(default)]
    pub response: Option<Expr>,
    #[serde(default)]
    pub error: Option<Expr>,
    #[serde(default)]
    pub description: Option<String>,
}
