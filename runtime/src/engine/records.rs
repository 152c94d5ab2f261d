//! The mapped records of a unified list page, kept as the JSON text the mapping wrote them to.
//!
//! The server answers with that text as it is, so a page's records are never built as
//! `serde_json::Value`s only to be written out again; callers that want values (fixtures, the
//! envelope mapping, tests) get them by reading the text once, on first use.

use serde::{Serialize, Serializer};
use serde_json::Value;
use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

pub struct Records {
    /// A JSON array.
    json: String,
    values: OnceLock<Vec<Value>>,
}

impl Records {
    /// `json` must be a JSON array (as [`crate::mapping::evaluate_each_json`] writes one).
    pub(crate) fn from_json(json: String) -> Records {
        Records { json, values: OnceLock::new() }
    }

    pub fn from_values(values: Vec<Value>) -> Records {
        let json = serde_json::to_string(&values).unwrap_or_else(|_| "[]".to_string());
        Records { json, values: OnceLock::from(values) }
    }

    /// The records as a JSON array, compact.
    pub fn json(&self) -> &str {
        &self.json
    }

    pub fn values(&self) -> &[Value] {
        self.values.get_or_init(|| {
            let values = serde_json::from_str(&self.json);
            debug_assert!(values.is_ok(), "mapped records are a JSON array: {}", self.json);
            values.unwrap_or_default()
        })
    }

    pub fn into_values(self) -> Vec<Value> {
        self.values();
        self.values.into_inner().unwrap_or_default()
    }
}

impl Deref for Records {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        self.values()
    }
}

impl<'r> IntoIterator for &'r Records {
    type Item = &'r Value;
    type IntoIter = std::slice::Iter<'r, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.values().iter()
    }
}

impl Clone for Records {
    fn clone(&self) -> Records {
        Records { json: self.json.clone(), values: self.values.clone() }
    }
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

impl PartialEq for Records {
    fn eq(&self, other: &Records) -> bool {
        self.values() == other.values()
    }
}

impl PartialEq<Vec<Value>> for Records {
    fn eq(&self, other: &Vec<Value>) -> bool {
        self.values() == other.as_slice()
    }
}

impl Serialize for Records {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.values().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_and_values_agree() {
        let records = Records::from_json(r#"[{"b":1,"a":[true,null]},{"x":"y"}]"#.to_string());
        assert_eq!(records.len(), 2);
        assert_eq!(records, vec![json!({"b": 1, "a": [true, null]}), json!({"x": "y"})]);
        assert_eq!(serde_json::to_string(&records).unwrap(), records.json(), "keys keep their order");
        let built = Records::from_values(vec![json!({"z": 1, "a": 2})]);
        assert_eq!(built.json(), r#"[{"z":1,"a":2}]"#);
        assert_eq!(built.clone().into_values(), vec![json!({"z": 1, "a": 2})]);
    }
}
