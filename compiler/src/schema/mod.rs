//! The JSON Schema pass: validates a document against the DSL's schema (the `jsonschema`
//! crate) and walks each error's instance path back to a span in the YAML.

pub(crate) mod suggest;
pub use suggest::closest as suggest_closest;

use crate::codes::Code;
use crate::diagnostic::Diagnostic;
use crate::yaml::Node;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

/// The DSL's schemas, embedded so `switchyard check` works in any repository.
pub const INTEGRATION_SCHEMA: &str = include_str!("../../../schemas/integration.schema.json");
pub const UNIFIED_SCHEMA: &str = include_str!("../../../schemas/unified.schema.json");

/// A compiled schema together with its JSON (for "did you mean" candidates).
pub struct Schema {
    json: Value,
    validator: Validator,
}

impl Schema {
    pub fn new(text: &str) -> Result<Schema, String> {
        let json: Value = serde_json::from_str(text).map_err(|e| format!("schema is not JSON: {e}"))?;
        let validator =
            jsonschema::draft202012::options().should_validate_formats(true).build(&json).map_err(|e| format!("schema is invalid: {e}"))?;
        Ok(Schema { json, validator })
    }

    pub fn integration() -> Schema {
        Schema::new(INTEGRATION_SCHEMA).expect("the embedded integration schema is valid (tested)")
    }

    pub fn unified() -> Schema {
        Schema::new(UNIFIED_SCHEMA).expect("the embedded unified schema is valid (tested)")
    }

    /// Validates `instance` (the JSON form of `root`) and reports every error at its
    /// place in the file.
    pub fn check(&self, file: usize, root: &Node, instance: &Value) -> Vec<Diagnostic> {
        let errors: Vec<ValidationError> = self.validator.iter_errors(instance).collect();
        // A misspelt required key gives two errors: "unknown `base_ulr`" and "missing
        // `base_url`". The first, with its suggestion, says it all.
        let typos: Vec<(String, String)> = errors
            .iter()
            .filter_map(|e| match e.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                    let candidates =
                        suggest::resolve(&self.json, e.schema_path().as_str()).map(|s| suggest::property_names(&self.json, s))?;
                    let fixes: Vec<String> = unexpected.iter().filter_map(|k| suggest::closest(k, &candidates)).collect();
                    Some(fixes.into_iter().map(|fix| (e.instance_path().as_str().to_string(), fix)).collect::<Vec<_>>())
                }
                _ => None,
            })
            .flatten()
            .collect();
        let mut out: Vec<Diagnostic> = Vec::new();
        for error in &errors {
            if let ValidationErrorKind::Required { property } = error.kind() {
                let at = error.instance_path().as_str().to_string();
                if typos.iter().any(|(path, fix)| *path == at && property.as_str() == Some(fix)) {
                    continue;
                }
            }
            for diagnostic in self.explain(file, root, error) {
                if !out.iter().any(|d| d.span == diagnostic.span && d.code == diagnostic.code && d.message == diagnostic.message) {
                    out.push(diagnostic);
                }
            }
        }
        out.sort_by_key(|d| (d.span.start, d.code));
        out
    }

    fn explain(&self, file: usize, root: &Node, error: &ValidationError) -> Vec<Diagnostic> {
        let path: Vec<String> = pointer_segments(error.instance_path().as_str());
        let node = root.lookup(&path);
        let node_span = node.map(|n| n.span).unwrap_or(root.span);
        let key_span = root.key_span(&path).unwrap_or(node_span);
        let place = describe(&path);
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                let schema_node = suggest::resolve(&self.json, error.schema_path().as_str());
                let candidates = schema_node.map(|s| suggest::property_names(&self.json, s)).unwrap_or_default();
                unexpected
                    .iter()
                    .map(|key| {
                        let mut key_path = path.clone();
                        key_path.push(key.clone());
                        let span = root.key_span(&key_path).unwrap_or(node_span);
                        let mut d = Diagnostic::new(Code::UnknownKey, format!("unknown key `{key}` in {place}"))
                            .at(file, span)
                            .label("not allowed here");
                        d = match suggest::closest(key, &candidates) {
                            Some(best) => d.help(format!("did you mean `{best}`?")),
                            None if !candidates.is_empty() => d.help(format!("the keys allowed here are: {}", list(&candidates))),
                            None => d.help("remove this key"),
                        };
                        d
                    })
                    .collect()
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => json_type_name(&t.to_string()),
                    TypeKind::Multiple(ts) => ts.iter().map(|t| json_type_name(&t.to_string())).collect::<Vec<_>>().join(" or "),
                };
                let found = node.map(Node::type_name).unwrap_or("nothing");
                let mut d = Diagnostic::new(Code::WrongType, format!("{place} must be {expected}, found {found}"))
                    .at(file, node_span)
                    .label(format!("expected {expected}"));
                if expected == "string" && matches!(found, "number" | "boolean" | "null") {
                    d = d.help("quote the value to make it a string");
                }
                vec![d]
            }
            ValidationErrorKind::Enum { options } => {
                let allowed: Vec<String> = options.as_array().map(|a| a.iter().map(show).collect()).unwrap_or_default();
                let value = show(error.instance());
                let mut d = Diagnostic::new(Code::BadEnum, format!("{value} is not allowed for {place}"))
                    .at(file, node_span)
                    .label("not one of the allowed values");
                let plain: Vec<String> = allowed.iter().map(|a| a.trim_matches('`').to_string()).collect();
                d = match suggest::closest(value.trim_matches('`'), &plain) {
                    Some(best) => d.help(format!("did you mean `{best}`? allowed: {}", allowed.join(", "))),
                    None => d.help(format!("allowed: {}", allowed.join(", "))),
                };
                vec![d]
            }
            ValidationErrorKind::Constant { expected_value } => {
                vec![Diagnostic::new(Code::BadEnum, format!("{place} must be {}", show(expected_value))).at(file, node_span)]
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let what = if path.is_empty() { "the file".to_string() } else { place.clone() };
                vec![Diagnostic::new(Code::MissingKey, format!("{what} is missing the required key `{name}`"))
                    .at(file, if path.is_empty() { crate::source::Span::point(root.span.start) } else { key_span })
                    .label(format!("`{name}` expected in here"))
                    .help(format!("add `{name}:`"))]
            }
            ValidationErrorKind::PropertyNames { error: inner } => {
                let key = inner.instance().as_str().map(str::to_string).unwrap_or_default();
                let mut key_path = path.clone();
                key_path.push(key.clone());
                let span = root.key_span(&key_path).unwrap_or(node_span);
                let rule = match inner.kind() {
                    ValidationErrorKind::Pattern { pattern } => {
                        format!("names here must match `{pattern}`")
                    }
                    ValidationErrorKind::Enum { options } => format!(
                        "names here must be one of {}",
                        options.as_array().map(|a| a.iter().map(show).collect::<Vec<_>>().join(", ")).unwrap_or_default()
                    ),
                    _ => inner.to_string(),
                };
                let mut d = Diagnostic::new(Code::InvalidValue, format!("`{key}` is not a valid name in {place}"))
                    .at(file, span)
                    .label("invalid name")
                    .help(rule.clone());
                if let ValidationErrorKind::Enum { options } = inner.kind() {
                    let allowed: Vec<String> =
                        options.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
                    if let Some(best) = suggest::closest(&key, &allowed) {
                        d = Diagnostic { code: Code::UnknownKey, ..d }.help(format!("did you mean `{best}`? {rule}"));
                    }
                }
                vec![d]
            }
            ValidationErrorKind::Pattern { pattern } => vec![Diagnostic::new(
                Code::InvalidValue,
                format!("{} does not match the pattern required for {place}", show(error.instance())),
            )
            .at(file, node_span)
            .help(format!("the value must match `{pattern}`"))],
            ValidationErrorKind::MinItems { limit } => {
                vec![Diagnostic::new(Code::InvalidValue, format!("{place} needs at least {limit} item(s)")).at(file, node_span)]
            }
            ValidationErrorKind::MinProperties { limit } => vec![Diagnostic::new(
                Code::InvalidValue,
                format!("{place} needs at least {limit} entr{}", if *limit == 1 { "y" } else { "ies" }),
            )
            .at(file, node_span)],
            ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
                vec![Diagnostic::new(Code::InvalidValue, format!("{place} is below its minimum of {limit}")).at(file, node_span)]
            }
            ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
                vec![Diagnostic::new(Code::InvalidValue, format!("{place} is above its maximum of {limit}")).at(file, node_span)]
            }
            ValidationErrorKind::UniqueItems => {
                // Point at the second occurrence of the repeated item.
                let repeated = match node.map(|n| &n.kind) {
                    Some(crate::yaml::NodeKind::Seq(items)) => items
                        .iter()
                        .enumerate()
                        .find(|(i, item)| items[..*i].iter().any(|earlier| earlier.to_json() == item.to_json()))
                        .map(|(_, item)| item.span),
                    _ => None,
                };
                vec![Diagnostic::new(Code::InvalidValue, format!("{place} lists an item twice"))
                    .at(file, repeated.unwrap_or(node_span))
                    .label("repeated")
                    .help("remove the repeated item")]
            }
            ValidationErrorKind::Format { format } => {
                vec![Diagnostic::new(Code::InvalidValue, format!("{} is not a valid {format} for {place}", show(error.instance())))
                    .at(file, node_span)]
            }
            _ => vec![Diagnostic::new(Code::InvalidValue, format!("{place}: {}", error.masked())).at(file, node_span)],
        }
    }
}

pub(crate) fn pointer_segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer.trim_start_matches('/').split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

/// `auth.token_url`, or "the top level".
fn describe(path: &[String]) -> String {
    if path.is_empty() {
        "the top level".to_string()
    } else {
        format!("`{}`", path.join("."))
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

fn list(items: &[String]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

fn json_type_name(t: &str) -> String {
    match t {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        "string" => "string".to_string(),
        "integer" => "an integer".to_string(),
        "number" => "a number".to_string(),
        "boolean" => "true or false".to_string(),
        "null" => "null".to_string(),
        other => other.to_string(),
    }
}
