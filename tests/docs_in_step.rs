//! Keeps docs/dsl.md in step with the DSL's JSON Schemas: every key the schemas define
//! and every value they enumerate is documented, and the page links to the diagnostic
//! codes. Run with `cargo test --test docs_in_step`.
//!
//! "Documented" means written as inline code in docs/dsl.md: `` `name` ``, or as a
//! segment of a dotted key path such as `` `token_response.store` `` (which documents
//! `token_response` and `store`). Fenced code blocks (the YAML examples) do not count.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

const SCHEMAS: &[&str] = &["schemas/integration.schema.json", "schemas/unified.schema.json"];

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_file(relative)).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// What the schemas define: property names, and enumerated string values.
#[derive(Default)]
struct Defined {
    properties: BTreeSet<String>,
    enum_values: BTreeSet<String>,
}

/// Walks one schema: its `properties` (names and their schemas), and the subschemas
/// under `$defs`, `allOf`/`anyOf`/`oneOf`, `then`/`else`, `items`, `additionalProperties`
/// and `propertyNames`. (`if` and `not` only restate conditions on keys defined elsewhere.)
fn walk(schema: &Value, defined: &mut Defined) {
    let Value::Object(map) = schema else {
        return;
    };
    if let Some(Value::Object(properties)) = map.get("properties") {
        for (name, subschema) in properties {
            defined.properties.insert(name.clone());
            walk(subschema, defined);
        }
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        defined.enum_values.extend(values.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(Value::Object(defs)) = map.get("$defs") {
        defs.values().for_each(|s| walk(s, defined));
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = map.get(key) {
            items.iter().for_each(|s| walk(s, defined));
        }
    }
    for key in ["then", "else", "items", "additionalProperties", "propertyNames"] {
        if let Some(subschema) = map.get(key) {
            walk(subschema, defined);
        }
    }
}

fn defined() -> Defined {
    let mut defined = Defined::default();
    for path in SCHEMAS {
        let schema: Value = serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"));
        walk(&schema, &mut defined);
    }
    defined
}

/// The contents of every inline code span outside fenced code blocks.
fn inline_code(markdown: &str) -> BTreeSet<String> {
    let mut spans = BTreeSet::new();
    let mut fence: Option<String> = None;
    let mut prose = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed.chars().take_while(|&c| c == '`' || c == '~').collect();
        if marker.len() >= 3 && marker.chars().all(|c| c == marker.chars().next().unwrap_or('`')) {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) && trimmed.trim_end() == marker => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_none() {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    // A code span opens with a run of N backticks and closes at the next run of exactly N.
    let chars: Vec<char> = prose.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|&&c| c == '`').count();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let open = run_at(i);
        let start = i + open;
        let mut j = start;
        let mut closed = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let run = run_at(j);
                if run == open {
                    closed = Some(j);
                    break;
                }
                j += run;
            } else {
                j += 1;
            }
        }
        match closed {
            Some(end) => {
                let text: String = chars[start..end].iter().collect::<String>().replace('\n', " ");
                let text = match text.strip_prefix(' ').and_then(|t| t.strip_suffix(' ')) {
                    Some(inner) if !inner.trim().is_empty() => inner.to_string(),
                    _ => text,
                };
                spans.insert(text);
                i = end + open;
            }
            None => i = start,
        }
    }
    spans
}

/// Whether `name` is documented: a span equal to it, or a dotted key path holding it.
fn documented(name: &str, spans: &BTreeSet<String>) -> bool {
    spans.contains(name)
        || spans.iter().any(|span| {
            let segments: Vec<&str> = span.split('.').collect();
            segments.len() > 1
                && segments.iter().all(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                && segments.contains(&name)
        })
}

#[test]
fn dsl_reference_documents_every_schema_key_and_value() {
    let defined = defined();
    assert!(defined.properties.len() > 50, "the schema walk found too few keys: {:?}", defined.properties);
    let spans = inline_code(&read("docs/dsl.md"));
    let missing_keys: Vec<&String> = defined.properties.iter().filter(|name| !documented(name, &spans)).collect();
    let missing_values: Vec<&String> = defined.enum_values.iter().filter(|value| !documented(value, &spans)).collect();
    assert!(
        missing_keys.is_empty() && missing_values.is_empty(),
        "docs/dsl.md is out of step with schemas/*.schema.json.\n\
         Keys defined in the schemas but never written as inline code in docs/dsl.md: {missing_keys:?}\n\
         Enum values defined in the schemas but never written as inline code in docs/dsl.md: {missing_values:?}\n\
         Document them (as `name`), or remove them from the schema."
    );
}

#[test]
fn dsl_reference_links_to_the_diagnostic_codes() {
    let dsl = read("docs/dsl.md");
    let mut problems = Vec::new();
    if !(dsl.contains("](diagnostics.md") || dsl.contains("](./diagnostics.md")) {
        problems.push(
            "docs/dsl.md must link to docs/diagnostics.md (the generated list of diagnostic codes), e.g. [diagnostics.md](diagnostics.md)"
                .to_string(),
        );
    }
    // Every code the reference names exists (codes are never renumbered, but a typo is easy).
    let diagnostics = read("docs/diagnostics.md");
    let chars: Vec<char> = dsl.chars().collect();
    let mut unknown = BTreeSet::new();
    for (i, window) in chars.windows(5).enumerate() {
        let boundary_before = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        let boundary_after = chars.get(i + 5).is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary_before && boundary_after && matches!(window[0], 'E' | 'W') && window[1..].iter().all(char::is_ascii_digit) {
            let code: String = window.iter().collect();
            if !diagnostics.contains(&format!("\n## {code}\n")) {
                unknown.insert(code);
            }
        }
    }
    if !unknown.is_empty() {
        problems.push(format!("docs/dsl.md names diagnostic codes that docs/diagnostics.md does not define: {unknown:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn inline_code_parsing() {
    let spans = inline_code("a `x` b ``y`z`` c\n```yaml\n`inside`\n```\n`` `t` `` and `p.q.r`\n");
    assert!(spans.contains("x") && spans.contains("y`z") && spans.contains("`t`") && spans.contains("p.q.r"), "{spans:?}");
    assert!(!spans.contains("inside"), "{spans:?}");
    assert!(documented("p", &spans) && documented("r", &spans) && !documented("pq", &spans) && !documented("inside", &spans));
}
