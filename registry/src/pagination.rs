//! How a list is walked page by page, and when it ends.

use super::{Expr, Path};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Pagination {
    None {},
    /// An opaque cursor read from the body, a header, or the last record.
    Cursor {
        cursor: CursorSource,
        request: PageRequest,
        #[serde(flatten)]
        common: PageCommon,
    },
    /// A page number.
    Page {
        request: PageRequest,
        #[serde(default = "one")]
        start: i64,
        #[serde(flatten)]
        common: PageCommon,
    },
    /// A record offset, advanced by the number of records received.
    Offset {
        request: PageRequest,
        #[serde(default)]
        start: i64,
        #[serde(flatten)]
        common: PageCommon,
    },
    /// `Link: <…>; rel="next"`.
    LinkHeader {
        #[serde(default = "next_rel")]
        rel: String,
        #[serde(flatten)]
        common: PageCommon,
    },
    /// The next page's URL in the body: absolute, or relative to the URL of the request
    /// (Salesforce's `nextRecordsUrl` is a path from the host).
    NextUrl {
        path: Path,
        #[serde(flatten)]
        common: PageCommon,
    },
    /// A JSONata expression computes the next request from the response, or null.
    Dynamic {
        next: Expr,
        #[serde(flatten)]
        common: PageCommon,
    },
}

/// Settings shared by every kind but `none`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PageCommon {
    #[serde(default)]
    pub page_size: Option<PageSize>,
    #[serde(default)]
    pub stop: StopWhen,
    #[serde(default)]
    pub max_pages: Option<u64>,
}

impl Pagination {
    pub fn type_name(&self) -> &'static str {
        match self {
            Pagination::None {} => "none",
            Pagination::Cursor { .. } => "cursor",
            Pagination::Page { .. } => "page",
            Pagination::Offset { .. } => "offset",
            Pagination::LinkHeader { .. } => "link_header",
            Pagination::NextUrl { .. } => "next_url",
            Pagination::Dynamic { .. } => "dynamic",
        }
    }

    pub fn common(&self) -> Option<&PageCommon> {
        match self {
            Pagination::None {} => None,
            Pagination::Cursor { common, .. }
            | Pagination::Page { common, .. }
            | Pagination::Offset { common, .. }
            | Pagination::LinkHeader { common, .. }
            | Pagination::NextUrl { common, .. }
            | Pagination::Dynamic { common, .. } => Some(common),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorSource {
    pub from: CursorFrom,
    #[serde(default)]
    pub path: Option<Path>,
    #[serde(default)]
    pub header: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorFrom {
    Body,
    Header,
    /// A field of the last record of the page (Stripe's `starting_after`).
    LastRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamIn {
    #[default]
    Query,
    Body,
}

/// Where the position (cursor, page number, offset) goes in the next request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageRequest {
    #[serde(rename = "in", default)]
    pub placement: ParamIn,
    pub param: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSize {
    /// Absent: the engine sends no parameter; the size reaches the method's `query` and `body`
    /// mappings as `page_size` only (a provider that takes it inside a query text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    #[serde(rename = "in", default)]
    pub placement: ParamIn,
    pub max: u64,
    #[serde(default)]
    pub default: Option<u64>,
}

/// Conditions that end a list; any one that holds ends it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopWhen {
    /// Stop when the value here is false or absent.
    #[serde(default)]
    pub has_more: Option<Path>,
    /// Stop when the value here is true.
    #[serde(default)]
    pub is_last: Option<Path>,
    #[serde(default)]
    pub empty_page: bool,
    /// Stop when a page holds fewer records than were asked for.
    #[serde(default)]
    pub short_page: bool,
    #[serde(default)]
    pub missing_cursor: bool,
    /// With page or offset pagination: the total number of records; stop once the records
    /// fetched reach it (Jira's `startAt`/`total`).
    #[serde(default)]
    pub total: Option<Path>,
}

fn one() -> i64 {
    1
}
fn next_rel() -> String {
    "next".to_string()
}
