//! Differential test against the reference JSONata implementation (npm `jsonata`, with the
//! function library's twins from `bench/twins.js`): every JSONata expression of every bundled
//! integration, on the sample provider data under `tests/differential/samples/<integration>/`,
//! and every example of the function library, must give the same JSON text (key order and
//! number formatting included) or the same error code on both engines.
//!
//! Skips, saying so, only when node or npm is not installed; CI has both.

mod common;
#[path = "differential/support.rs"]
mod support;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use switchyard_registry::Origin;
use switchyard_runtime::mapping::functions::{self, Twin, EXAMPLE_NOW_MILLIS};
use switchyard_runtime::mapping::{evaluate_json_str, Bindings, EvalOptions, Mapping};

/// One evaluation to run on both engines.
struct Case {
    label: String,
    expr: String,
    origin: Origin,
    input: Value,
    bindings: serde_json::Map<String, Value>,
}

impl Case {
    fn job(&self) -> Value {
        json!({"expr": self.expr, "input": self.input, "bindings": self.bindings})
    }

    /// Our engine: the same JSON text shape the reference prints, or the error code.
    fn ours(&self) -> Result<String, Option<String>> {
        let mapping = Mapping::parse(&self.expr, &self.origin).map_err(|e| e.code)?;
        let mut bindings = Bindings::new();
        for (name, value) in &self.bindings {
            bindings.set(name, value.clone());
        }
        let options = EvalOptions { now_millis: Some(EXAMPLE_NOW_MILLIS), ..EvalOptions::default() };
        evaluate_json_str(&mapping, &self.input.to_string(), &bindings, &options).map_err(|e| e.code)
    }
}

fn sample(integration: &str, name: &str) -> Value {
    let path = support::repo().join(format!("tests/differential/samples/{integration}/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nevery bundled expression needs sample data: add this file (see tests/differential/samples/{}/)",
            path.display(),
            common::example().integration
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sample file an integration may have or not.
fn optional_sample(integration: &str, name: &str) -> Option<Value> {
    let path = support::repo().join(format!("tests/differential/samples/{integration}/{name}.json"));
    path.exists().then(|| sample(integration, name))
}

fn bindings(pairs: &[(&str, &Value)]) -> serde_json::Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), (*v).clone())).collect()
}

fn origin(expr: &Value) -> Origin {
    serde_json::from_value(expr["origin"].clone()).expect("an expression's origin")
}

/// Cases for every expression of every bundled integration.
fn registry_cases(registry: &Value) -> Vec<Case> {
    let mut cases = Vec::new();
    for integration in registry["integrations"].as_array().expect("integrations") {
        let name = integration["name"].as_str().unwrap();
        let mut expressions = Vec::new();
        support::collect(integration, &mut Vec::new(), &mut expressions);
        for (path, expr) in expressions {
            let source = expr["source"].as_str().unwrap().to_string();
            let origin = origin(expr);
            let label = format!("{name}: {} ({origin})", path.join("."));
            let push = |cases: &mut Vec<Case>, what: String, input: Value, b: serde_json::Map<String, Value>| {
                cases.push(Case { label: format!("{label} on {what}"), expr: source.clone(), origin: origin.clone(), input, bindings: b });
            };
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            match p.as_slice() {
                // unified.<model>.resources.<resource>.<method>.<part>
                ["unified", _, "resources", resource, _, part @ ..] => {
                    let data = sample(name, resource);
                    let records = data["page"][data["records"].as_str().unwrap_or("results")].as_array().expect("sample records").clone();
                    let contexts = data["contexts"].as_array().expect("sample contexts");
                    let connection = contexts[0]["connection"].clone();
                    match part {
                        ["response"] => {
                            for (c, context) in contexts.iter().enumerate() {
                                for (r, record) in records.iter().enumerate() {
                                    let b = bindings(&[
                                        ("params", &context["params"]),
                                        ("query", &context["query"]),
                                        ("connection", &context["connection"]),
                                        ("headers", &context["headers"]),
                                        ("page", &data["page"]),
                                    ]);
                                    push(&mut cases, format!("record {r}, context {c}"), record.clone(), b);
                                }
                            }
                        }
                        ["query"] | ["body"] | ["params", _] => {
                            for (q, request) in data["requests"].as_array().expect("sample requests").iter().enumerate() {
                                let empty = json!({});
                                let b = bindings(&[
                                    ("params", request.get("params").unwrap_or(&empty)),
                                    ("query", request.get("query").unwrap_or(&empty)),
                                    ("connection", &connection),
                                ]);
                                push(&mut cases, format!("request {q}"), request.clone(), b);
                            }
                        }
                        ["error"] => {
                            for (e, response) in sample(name, "errors")["responses"].as_array().unwrap().iter().enumerate() {
                                push(&mut cases, format!("error response {e}"), response.clone(), serde_json::Map::new());
                            }
                        }
                        other => panic!("{label}: no sample data for a mapping part {other:?}; teach mapping_differential.rs"),
                    }
                }
                // unified.<model>.envelope: one list page's body, for each resource of the model.
                ["unified", model, "envelope"] => {
                    let resources = integration["unified"][*model]["resources"].as_object().expect("the model's resources");
                    for resource in resources.keys() {
                        let data = sample(name, resource);
                        let records = data["page"][data["records"].as_str().unwrap_or("results")].clone();
                        for (c, context) in data["contexts"].as_array().expect("sample contexts").iter().enumerate() {
                            for (next, cursor) in [(json!("c2.signed"), json!("c1.signed")), (Value::Null, Value::Null)] {
                                let input = json!({
                                    "results": records, "next_cursor": next, "cursor": cursor, "page_size": 100,
                                    "integration": name, "model": model, "resource": resource
                                });
                                push(&mut cases, format!("{resource} page, context {c}"), input, bindings(&[("query", &context["query"])]));
                            }
                        }
                    }
                }
                ["errors", "mapping"] => {
                    for (e, response) in sample(name, "errors")["responses"].as_array().unwrap().iter().enumerate() {
                        push(&mut cases, format!("error response {e}"), response.clone(), serde_json::Map::new());
                    }
                }
                // A rate-limit rule's body condition sees the parsed body of an error response.
                ["rate_limit", "limited_when", _, "body"] => {
                    for (e, response) in sample(name, "errors")["responses"].as_array().unwrap().iter().enumerate() {
                        push(&mut cases, format!("error body {e}"), response["body"].clone(), serde_json::Map::new());
                    }
                }
                // An error rule's body condition (the integration's or a method's) sees a parsed body.
                ["errors", "when", _, "body"] | ["resources", _, _, "errors", "when", _, "body"] => {
                    for (e, response) in sample(name, "errors")["responses"].as_array().unwrap().iter().enumerate() {
                        push(&mut cases, format!("response body {e}"), response["body"].clone(), serde_json::Map::new());
                    }
                }
                // A dynamic pagination `next` sees `{body, headers, records, page_size, position, url}`:
                // the inputs of `pagination.json` when the integration has one (the pages where its
                // expression changes course), and the contacts sample page at the start and later.
                [.., "pagination", "next"] => {
                    if let Some(data) = optional_sample(name, "pagination") {
                        for (i, input) in data["inputs"].as_array().expect("pagination.json: `inputs`, an array").iter().enumerate() {
                            let what =
                                input.get("label").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("input {i}"));
                            let mut input = input.clone();
                            if let Value::Object(map) = &mut input {
                                map.remove("label");
                            }
                            push(&mut cases, format!("pagination {what}"), input, serde_json::Map::new());
                        }
                    }
                    let resource = "contacts";
                    let data = sample(name, resource);
                    let records = data["page"][data["records"].as_str().unwrap_or("results")].as_array().map(Vec::len).unwrap_or(0);
                    for position in [json!({ "kind": "start" }), json!({ "kind": "dynamic", "value": { "query": {} } })] {
                        let input = json!({
                            "body": data["page"], "headers": {}, "records": records, "page_size": records,
                            "position": position, "url": "https://provider.example/list"
                        });
                        push(&mut cases, format!("{resource} page"), input, serde_json::Map::new());
                    }
                }
                // Webhook events see the parsed body, with the delivery's headers (lower-case
                // names) as `$headers`: `deliveries` give both, `bodies` a body without headers.
                ["webhooks", "events"] => {
                    let data = sample(name, "webhooks");
                    let empty = json!({});
                    for (w, body) in data["bodies"].as_array().into_iter().flatten().enumerate() {
                        push(&mut cases, format!("webhook body {w}"), body.clone(), bindings(&[("headers", &empty)]));
                    }
                    for (w, delivery) in data["deliveries"].as_array().into_iter().flatten().enumerate() {
                        let headers = delivery.get("headers").unwrap_or(&empty);
                        push(&mut cases, format!("webhook delivery {w}"), delivery["body"].clone(), bindings(&[("headers", headers)]));
                    }
                }
                other => panic!("{label}: an expression at {other:?} has no sample inputs; teach mapping_differential.rs"),
            }
        }
    }
    cases
}

/// Cases for every example of every function with a twin.
fn example_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for function in functions::all() {
        if let Twin::None(reason) = function.twin {
            println!("skipping ${}: no JavaScript twin ({reason})", function.name);
            continue;
        }
        for (i, example) in function.examples.iter().enumerate() {
            cases.push(Case {
                label: format!("${} example {i}: {}", function.name, example.expr),
                expr: example.expr.to_string(),
                origin: Origin { file: format!("{}.examples", function.name), line: 1, col: 1 },
                input: serde_json::from_str(example.input).unwrap(),
                bindings: serde_json::Map::new(),
            });
        }
    }
    cases
}

fn compare(node_path: &std::path::Path, cases: &[Case]) -> Vec<String> {
    let jobs = json!({"now": EXAMPLE_NOW_MILLIS, "cases": cases.iter().map(Case::job).collect::<Vec<_>>()});
    let theirs = support::run_reference(node_path, &jobs);
    assert_eq!(theirs.len(), cases.len());
    let mut differences = Vec::new();
    for (case, theirs) in cases.iter().zip(&theirs) {
        let ours = case.ours();
        let same = match (&ours, theirs.get("ok"), theirs.get("error")) {
            (Ok(text), Some(Value::String(reference)), _) => text == reference,
            (Err(code), None, Some(reference)) => code.as_deref() == reference.as_str(),
            _ => false,
        };
        if !same {
            differences.push(format!("{}\n    ours:      {ours:?}\n    reference: {theirs}", case.label));
        }
    }
    differences
}

#[test]
fn bundled_mappings_agree_with_the_reference() {
    let node_path = match support::reference() {
        Ok(path) => path,
        Err(reason) => {
            println!("SKIPPED: the differential test needs the npm reference implementation, but {reason}");
            return;
        }
    };
    let cases = registry_cases(&support::registry());
    assert!(cases.len() > 100, "only {} cases: are the samples read?", cases.len());
    let differences = compare(&node_path, &cases);
    println!("{} evaluations of bundled expressions compared with jsonata {}", cases.len(), support::JSONATA_VERSION);
    assert!(differences.is_empty(), "{} of {} differ:\n{}", differences.len(), cases.len(), differences.join("\n"));
}

#[test]
fn function_examples_agree_with_the_reference() {
    let node_path = match support::reference() {
        Ok(path) => path,
        Err(reason) => {
            println!("SKIPPED: the differential test needs the npm reference implementation, but {reason}");
            return;
        }
    };
    let cases = example_cases();
    let differences = compare(&node_path, &cases);
    println!("{} function examples compared with jsonata {}", cases.len(), support::JSONATA_VERSION);
    assert!(differences.is_empty(), "{} of {} differ:\n{}", differences.len(), cases.len(), differences.join("\n"));
}

#[test]
fn every_function_has_a_twin_or_says_why_not() {
    let node_path = match support::reference() {
        Ok(path) => path,
        Err(reason) => {
            println!("SKIPPED: {reason}");
            return;
        }
    };
    let output = std::process::Command::new("node")
        .arg(support::repo().join("tests/differential/reference.js"))
        .arg("--twins")
        .env("NODE_PATH", &node_path)
        .output()
        .unwrap();
    let twins: BTreeSet<String> = serde_json::from_slice(&output.stdout).unwrap();
    let faithful: BTreeSet<String> = functions::all().iter().filter(|f| f.twin == Twin::Faithful).map(|f| f.name.to_string()).collect();
    assert_eq!(twins, faithful, "bench/twins.js and the Twin of each function disagree");
}
