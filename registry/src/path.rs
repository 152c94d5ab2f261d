//! Dotted paths into a JSON document (`paging.next.after`, `data.0`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A path of object keys or array indexes. Written and stored as a dotted string; the
/// empty path is the document itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(pub Vec<String>);

impl Path {
    pub fn parse(text: &str) -> Path {
        if text.is_empty() {
            Path(Vec::new())
        } else {
            Path(text.split('.').map(str::to_string).collect())
        }
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Follows the path; a numeric segment indexes an array.
    pub fn lookup<'a>(&self, value: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        let mut current = value;
        for segment in &self.0 {
            current = match current {
                serde_json::Value::Object(map) => map.get(segment)?,
                serde_json::Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

impl Serialize for Path {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Path::parse(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_walks_objects_and_arrays() {
        let doc = serde_json::json!({"data": [{"id": "7"}], "paging": {"next": {"after": "x"}}});
        assert_eq!(Path::parse("paging.next.after").lookup(&doc), Some(&serde_json::json!("x")));
        assert_eq!(Path::parse("data.0.id").lookup(&doc), Some(&serde_json::json!("7")));
        assert_eq!(Path::parse("data.1.id").lookup(&doc), None);
        assert_eq!(Path::parse("").lookup(&doc), Some(&doc));
    }
}
