//! The hand-written OpenAPI document (`server/openapi.json`) against the router
//! (`server/src/routes/mod.rs`): it parses, is OpenAPI 3.1, has every route with the same
//! methods (and no route the router lacks), declares every path parameter, asks for the API key
//! exactly where the server does, and every `$ref` resolves.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The methods `any(…)` is documented with.
const ANY_METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];
const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "any"];
/// Routes that take no API key.
const OPEN_ROUTES: &[&str] = &["/healthz", "/metrics", "/v1/openapi.json", "/v1/connect/callback"];

fn crate_file(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn document() -> Value {
    serde_json::from_str(&crate_file("openapi.json")).unwrap_or_else(|e| panic!("openapi.json is not valid JSON: {e}"))
}

/// The text of the call that starts at `open` (an opening parenthesis), up to its closing one.
fn call_arguments(text: &str, open: usize) -> &str {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses after byte {open} of routes/mod.rs");
}

/// Method routers named in a `.route(…)` call: `get(`, `post(`, … as a whole word, not a
/// handler path such as `accounts::get`.
fn methods_of(arguments: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for method in METHODS {
        let needle = format!("{method}(");
        for (at, _) in arguments.match_indices(&needle) {
            let before = arguments[..at].chars().next_back();
            let word_start = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            if !word_start {
                continue;
            }
            if *method == "any" {
                out.extend(ANY_METHODS.iter().map(|m| m.to_string()));
            } else {
                out.insert(method.to_string());
            }
        }
    }
    out
}

/// Every `.route("PATH", …)` of the router, as an OpenAPI path, with its methods.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let source = crate_file("src/routes/mod.rs");
    let mut routes = BTreeMap::new();
    for (at, _) in source.match_indices(".route(") {
        let open = at + ".route".len();
        let arguments = call_arguments(&source, open);
        let rest = arguments.trim_start().strip_prefix('"').expect("a route path is a string literal");
        let path = &rest[..rest.find('"').expect("the route path's closing quote")];
        let methods = methods_of(&rest[path.len() + 1..]);
        assert!(!methods.is_empty(), "no method found for route {path}");
        // axum's catch-all `{*name}` is an ordinary `{name}` parameter in OpenAPI.
        let path = path.replace("{*", "{");
        let previous = routes.insert(path.clone(), methods);
        assert!(previous.is_none(), "route {path} is registered twice");
    }
    assert!(routes.len() >= 10, "found only {} routes in routes/mod.rs: {routes:?}", routes.len());
    routes
}

fn operations(item: &Value) -> impl Iterator<Item = (&String, &Value)> {
    const ALL: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    item.as_object().into_iter().flatten().filter(|(k, _)| ALL.contains(&k.as_str()))
}

/// A parameter, following a `$ref` into the document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {reference}"));
            doc.pointer(pointer).unwrap_or_else(|| panic!("$ref {reference} does not resolve"))
        }
        None => value,
    }
}

#[test]
fn is_openapi_3_1() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3.1"), "openapi is {version}, not 3.1");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(doc["paths"].is_object());
}

#[test]
fn every_route_is_documented_with_its_methods() {
    let doc = document();
    let paths = doc["paths"].as_object().expect("`paths` is an object");
    let routes = router_routes();
    let mut problems = Vec::new();
    for (path, methods) in &routes {
        let Some(item) = paths.get(path) else {
            problems.push(format!("{path} is routed but not documented"));
            continue;
        };
        let documented: BTreeSet<String> = operations(item).map(|(m, _)| m.clone()).collect();
        if &documented != methods {
            problems.push(format!("{path}: routed {methods:?}, documented {documented:?}"));
        }
    }
    for path in paths.keys() {
        if !routes.contains_key(path) {
            problems.push(format!("{path} is documented but not routed"));
        }
    }
    assert!(problems.is_empty(), "openapi.json and the router disagree:\n{}", problems.join("\n"));
}

#[test]
fn every_path_parameter_is_declared() {
    let doc = document();
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let in_template: BTreeSet<&str> = path.split('{').skip(1).map(|rest| &rest[..rest.find('}').expect("closing brace")]).collect();
        let declared_on = |params: Option<&Value>| -> BTreeSet<String> {
            params
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| resolve(&doc, p))
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().expect("parameter name").to_string())
                .collect()
        };
        let shared = declared_on(item.get("parameters"));
        for (method, operation) in operations(item) {
            let mut declared = shared.clone();
            declared.extend(declared_on(operation.get("parameters")));
            let expected: BTreeSet<String> = in_template.iter().map(|s| s.to_string()).collect();
            if declared != expected {
                problems.push(format!("{method} {path}: path parameters {declared:?}, template has {expected:?}"));
            }
            if operation.get("responses").and_then(Value::as_object).is_none_or(|r| r.is_empty()) {
                problems.push(format!("{method} {path}: no responses"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn api_key_is_required_except_on_open_routes() {
    let doc = document();
    let schemes = doc["components"]["securitySchemes"].as_object().expect("components.securitySchemes");
    let (name, scheme) = schemes.iter().next().expect("a security scheme");
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let global = doc["security"].as_array().expect("a global `security` requirement");
    assert!(global.iter().any(|r| r.get(name).is_some()), "the global security does not use {name}");
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations(item) {
            let open = operation.get("security").and_then(Value::as_array).is_some_and(|s| s.is_empty());
            if open != OPEN_ROUTES.contains(&path.as_str()) {
                problems.push(format!(
                    "{method} {path}: {}",
                    if open { "open, but needs an API key" } else { "asks for an API key, but is open" }
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_ref_resolves() {
    fn walk(doc: &Value, value: &Value, at: &str, problems: &mut Vec<String>, count: &mut usize) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref") {
                    *count += 1;
                    match reference.as_str().and_then(|r| r.strip_prefix('#')) {
                        Some(pointer) if doc.pointer(pointer).is_some() => {}
                        _ => problems.push(format!("{at}: $ref {reference} does not resolve")),
                    }
                }
                for (key, child) in map {
                    walk(doc, child, &format!("{at}/{key}"), problems, count);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(doc, child, &format!("{at}/{i}"), problems, count);
                }
            }
            _ => {}
        }
    }
    let doc = document();
    let (mut problems, mut count) = (Vec::new(), 0);
    walk(&doc, &doc, "#", &mut problems, &mut count);
    assert!(count > 0, "no $ref at all");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
