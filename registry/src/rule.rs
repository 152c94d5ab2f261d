//! Conditions on a provider's answer and what a match means: one rule type for
//! `errors.when` (the integration's and each method's), `auth.token_response.error_when` and
//! `rate_limit.limited_when`.

use super::Expr;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A response matches when its status is listed (any status when `status` is empty), the
/// `header` condition holds and the `body` condition holds on the parsed body (a response
/// without one never matches a rule with a `body` condition). A match means `kind`: an
/// error of a [`RuleErrorKind`](super::RuleErrorKind) (`errors.when`), a token-endpoint error
/// of a [`TokenErrorKind`](super::TokenErrorKind) (`error_when`), or
/// [`RateLimited`](super::RateLimited) (`limited_when`, whose kind is implied).
///
/// The three families are written as they always were, in a definition and in the artifact:
/// - a rule that names its kind ([`ErrorRule`](super::ErrorRule),
///   [`TokenErrorRule`](super::TokenErrorRule)): `kind` required; `status`, `header` and
///   `body` optional, and written only when present;
/// - a rule whose kind is implied ([`LimitedWhen`](super::LimitedWhen)): no `kind` (refused
///   as an unknown field); `status` required; every condition written (`null` when absent).
///
/// Either way an unknown field is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRule<K> {
    pub status: Vec<u16>,
    pub header: Option<HeaderEquals>,
    /// On the parsed body (JSON; a form-encoded token response as an object of strings).
    pub body: Option<Expr>,
    pub kind: K,
}

/// What a match of a [`ResponseRule`] means: an enum of the kinds a rule names, or a kind of
/// one value that every rule of its family implies.
pub trait RuleKind: Sized {
    /// The one value of a kind that rules never write (`limited_when`'s
    /// [`RateLimited`](super::RateLimited)); `None` when each rule names its `kind`. A kind
    /// with more than one value must answer `None`: an implied kind is not written, so it
    /// must be the only value there is.
    fn implied() -> Option<Self>;
}

/// A response header condition: the header is present and, with `equals`, has that value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderEquals {
    pub name: String,
    /// The header must have this value; absent = the header must be present.
    #[serde(default)]
    pub equals: Option<String>,
}

/// A rule that names its kind, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "ResponseRule")]
struct Named<K> {
    #[serde(default)]
    status: Vec<u16>,
    #[serde(default)]
    header: Option<HeaderEquals>,
    #[serde(default)]
    body: Option<Expr>,
    kind: K,
}

/// A rule whose kind is implied, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename = "ResponseRule")]
struct Implied {
    status: Vec<u16>,
    #[serde(default)]
    header: Option<HeaderEquals>,
    #[serde(default)]
    body: Option<Expr>,
}

impl<'de, K: RuleKind + Deserialize<'de>> Deserialize<'de> for ResponseRule<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match K::implied() {
            None => {
                let Named { status, header, body, kind } = Named::deserialize(deserializer)?;
                ResponseRule { status, header, body, kind }
            }
            Some(kind) => {
                let Implied { status, header, body } = Implied::deserialize(deserializer)?;
                ResponseRule { status, header, body, kind }
            }
        })
    }
}

impl<K: RuleKind + Serialize> Serialize for ResponseRule<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("ResponseRule", 4)?;
        if K::implied().is_some() {
            out.serialize_field("status", &self.status)?;
            out.serialize_field("header", &self.header)?;
            out.serialize_field("body", &self.body)?;
        } else {
            match self.status.is_empty() {
                true => out.skip_field("status")?,
                false => out.serialize_field("status", &self.status)?,
            }
            match &self.header {
                None => out.skip_field("header")?,
                Some(header) => out.serialize_field("header", header)?,
            }
            match &self.body {
                None => out.skip_field("body")?,
                Some(body) => out.serialize_field("body", body)?,
            }
            out.serialize_field("kind", &self.kind)?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorRule, LimitedWhen, RuleErrorKind, TokenErrorKind, TokenErrorRule};
    use serde_json::{json, Value};

    /// The three rule types as they were before they became one, derived.
    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KindedBefore<K> {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        status: Vec<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<HeaderEquals>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Expr>,
        kind: K,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct LimitedWhenBefore {
        status: Vec<u16>,
        #[serde(default)]
        header: Option<HeaderEquals>,
        #[serde(default)]
        body: Option<Expr>,
    }

    fn documents(kind: &str) -> Vec<Value> {
        let header = json!({ "name": "x-remaining", "equals": "0" });
        let body = json!({ "source": "deleted = true", "origin": { "file": "f.yaml", "line": 3, "col": 7 } });
        vec![
            json!({}),
            json!({ "kind": kind }),
            json!({ "status": [429] }),
            json!({ "status": [] }),
            json!({ "status": [], "kind": kind }),
            json!({ "status": [403, 429], "kind": kind }),
            json!({ "status": [403], "header": header }),
            json!({ "status": [403], "header": header, "kind": kind }),
            json!({ "header": header, "body": "deleted = true", "kind": kind }),
            json!({ "status": [200], "body": body }),
            json!({ "status": [200], "body": body, "kind": kind }),
            json!({ "status": [200], "header": null, "body": null }),
            json!({ "status": [200], "header": null, "body": null, "kind": kind }),
            json!({ "status": [200], "kind": "rate_limited" }),
            json!({ "status": [200], "kind": null }),
            json!({ "status": [200], "kind": kind, "extra": 1 }),
            json!({ "status": [200], "extra": 1 }),
            json!({ "status": 200, "kind": kind }),
            json!({ "status": [70000], "kind": kind }),
            json!({ "status": [429], "header": { "name": "x" , "other": 1 } }),
        ]
    }

    /// What a document reads as: the rule written back, or the error.
    fn read<T: Serialize + for<'de> Deserialize<'de>>(document: &Value) -> Result<String, String> {
        serde_json::from_value::<T>(document.clone()).map(|rule| serde_json::to_string_pretty(&rule).unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn every_document_reads_and_writes_as_before() {
        for document in documents("not_found") {
            assert_eq!(read::<ErrorRule>(&document), read::<KindedBefore<RuleErrorKind>>(&document), "errors.when {document}");
            assert_eq!(read::<LimitedWhen>(&document), read::<LimitedWhenBefore>(&document), "limited_when {document}");
        }
        for document in documents("needs_reauth") {
            assert_eq!(read::<TokenErrorRule>(&document), read::<KindedBefore<TokenErrorKind>>(&document), "error_when {document}");
        }
    }

    #[test]
    fn a_named_kind_is_required_and_an_implied_one_refused() {
        let missing = serde_json::from_value::<ErrorRule>(json!({ "status": [404] })).unwrap_err();
        assert_eq!(missing.to_string(), "missing field `kind`");
        let given = serde_json::from_value::<LimitedWhen>(json!({ "status": [429], "kind": "rate_limited" })).unwrap_err();
        assert_eq!(given.to_string(), "unknown field `kind`, expected one of `status`, `header`, `body`");
        let rule: LimitedWhen = serde_json::from_value(json!({ "status": [429] })).unwrap();
        assert_eq!(rule.kind, crate::RateLimited);
        assert_eq!(serde_json::to_value(&rule).unwrap(), json!({ "status": [429], "header": null, "body": null }));
    }
}
