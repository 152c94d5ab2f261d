//! "Did you mean": candidates from the schema and the closest by edit distance.

use serde_json::Value;

/// Follows a schema location (a JSON pointer that may pass through `$ref`) to the
/// subschema that owns the failing keyword.
pub fn resolve<'a>(root: &'a Value, schema_path: &str) -> Option<&'a Value> {
    let segments = super::pointer_segments(schema_path);
    // Drop the keyword itself (`additionalProperties`, …).
    let (_, owner) = segments.split_last()?;
    let mut node = root;
    for segment in owner {
        if segment == "$ref" {
            node = follow_ref(root, node)?;
            continue;
        }
        node = match node {
            Value::Object(map) => map.get(segment.as_str())?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn follow_ref<'a>(root: &'a Value, node: &'a Value) -> Option<&'a Value> {
    let reference = node.get("$ref")?.as_str()?;
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

/// Every property name a subschema allows, through `$ref`, `allOf` and `then`.
pub fn property_names(root: &Value, schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect(root, schema, &mut names, 0);
    names
}

fn collect(root: &Value, schema: &Value, names: &mut Vec<String>, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for key in props.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    if let Some(target) = follow_ref(root, schema) {
        collect(root, target, names, depth + 1);
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(items) = schema.get(keyword).and_then(Value::as_array) {
            for item in items {
                collect(root, item, names, depth + 1);
            }
        }
    }
    for keyword in ["then", "else"] {
        if let Some(sub) = schema.get(keyword) {
            collect(root, sub, names, depth + 1);
        }
    }
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn closest(word: &str, candidates: &[String]) -> Option<String> {
    let lower = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.chars().count().max(3) / 3).max(1) + usize::from(c.len() > 8))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_only() {
        let keys: Vec<String> = ["pagination", "rate_limit", "resources", "base_url"].iter().map(|s| s.to_string()).collect();
        assert_eq!(closest("pagnation", &keys).as_deref(), Some("pagination"));
        assert_eq!(closest("resource", &keys).as_deref(), Some("resources"));
        assert_eq!(closest("baseurl", &keys).as_deref(), Some("base_url"));
        assert_eq!(closest("webhooks", &keys), None);
    }
}
