//! The compiled fast path against the engine: every expression of the bundled registry and of
//! tests/runtime/definitions, on the sample data of tests/differential/samples and on variants
//! of it (fields missing, null, empty, of another type), must give the engine's JSON text
//! whenever the fast path answers. Also reports how many expressions compile, and checks the
//! tricky semantics (undefined vs null, sequences, `&` casting, key order) case by case.

mod common;
#[path = "differential/support.rs"]
mod differential;

use serde_json::{json, Value};
use switchyard_compiler::project::{self, Options};
use switchyard_registry::Origin;
use switchyard_runtime::mapping::functions::EXAMPLE_NOW_MILLIS;
use switchyard_runtime::mapping::{evaluate_each_json, evaluate_each_json_text, evaluate_json_str, Bindings, EvalOptions, Mapping};

fn options() -> EvalOptions {
    EvalOptions { now_millis: Some(EXAMPLE_NOW_MILLIS), ..EvalOptions::default() }
}

/// Every JSON file's values under tests/differential/samples: records, pages, requests,
/// contexts, error responses and webhook bodies of every integration.
struct Samples {
    inputs: Vec<Value>,
    contexts: Vec<Bindings>,
}

fn samples() -> Samples {
    let dir = differential::repo().join("tests/differential/samples");
    let mut inputs = Vec::new();
    let mut contexts = vec![Bindings::new()];
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    for file in files {
        let data: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let page = &data["page"];
        if let Some(records) = page.get(data["records"].as_str().unwrap_or("results")).and_then(Value::as_array) {
            inputs.extend(records.iter().cloned());
        }
        if page.is_object() {
            inputs.push(page.clone());
        }
        for key in ["requests", "responses", "bodies"] {
            if let Some(items) = data[key].as_array() {
                inputs.extend(items.iter().cloned());
                inputs.extend(items.iter().filter_map(|i| i.get("body").cloned()));
            }
        }
        for context in data["contexts"].as_array().into_iter().flatten() {
            let mut b = Bindings::new();
            for name in ["params", "query", "connection", "headers"] {
                if let Some(v) = context.get(name) {
                    b.set(name, v.clone());
                }
            }
            b.set("page", page.clone());
            contexts.push(b);
        }
    }
    Samples { inputs, contexts }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out
}

/// Variants of an input: each member (and each member of a member object) missing, null,
/// empty, or of another type.
fn variants(input: &Value) -> Vec<Value> {
    let replacements = [Value::Null, json!(""), json!(0), json!(12.5), json!(true), json!([]), json!(["x"]), json!([{"a": 1}]), json!({})];
    let mut out = Vec::new();
    let Some(map) = input.as_object() else { return out };
    for (key, value) in map {
        let mut removed = map.clone();
        removed.shift_remove(key);
        out.push(Value::Object(removed));
        for replacement in &replacements {
            let mut changed = map.clone();
            changed.insert(key.clone(), replacement.clone());
            out.push(Value::Object(changed));
        }
        if let Some(inner) = value.as_object() {
            for inner_key in inner.keys() {
                for replacement in [None, Some(Value::Null), Some(json!("")), Some(json!(7)), Some(json!(["a", "b"]))] {
                    let mut changed_inner = inner.clone();
                    match replacement {
                        None => {
                            changed_inner.shift_remove(inner_key);
                        }
                        Some(r) => {
                            changed_inner.insert(inner_key.clone(), r);
                        }
                    }
                    let mut changed = map.clone();
                    changed.insert(key.clone(), Value::Object(changed_inner));
                    out.push(Value::Object(changed));
                }
            }
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    compared: usize,
    fell_back: usize,
    differences: Vec<String>,
}

/// Compares the fast path with the engine on one input; a fast-path answer must be the engine's.
/// Both ways into the fast path are compared: a `serde_json::Value` input, and the input's text
/// parsed straight into the fast path's values.
fn compare(label: &str, mapping: &Mapping, engine: &Mapping, input: &Value, bindings: &Bindings, tally: &mut Tally) {
    let text = input.to_string();
    let from_value = mapping.evaluate_compiled(input, bindings, &options());
    let from_text = mapping.evaluate_compiled_text(&text, bindings, &options());
    if from_value.is_none() && from_text.is_none() {
        tally.fell_back += 1;
        return;
    }
    tally.compared += 1;
    let slow = evaluate_json_str(engine, &text, bindings, &options());
    for (way, fast) in [("value", from_value), ("text", from_text)] {
        let Some(fast) = fast else { continue };
        let same = match (&fast, &slow) {
            (Ok(a), Ok(b)) => a == b,
            (Err(a), Err(b)) => a.code == b.code,
            _ => false,
        };
        if !same && tally.differences.len() < 40 {
            tally.differences.push(format!("{label} (from {way})\n    input: {input}\n    fast:   {fast:?}\n    engine: {slow:?}"));
        }
    }
}

struct Expression {
    label: String,
    source: String,
    origin: Origin,
}

fn expressions(registry: &Value, what: &str) -> Vec<Expression> {
    let mut out = Vec::new();
    for integration in registry["integrations"].as_array().expect("integrations") {
        let name = integration["name"].as_str().unwrap_or("?");
        let mut found = Vec::new();
        differential::collect(integration, &mut Vec::new(), &mut found);
        for (path, expr) in found {
            out.push(Expression {
                label: format!("{what} {name}: {}", path.join(".")),
                source: expr["source"].as_str().unwrap().to_string(),
                origin: serde_json::from_value(expr["origin"].clone()).unwrap(),
            });
        }
    }
    out
}

fn check_all(expressions: &[Expression], samples: &Samples, with_variants: bool) -> (usize, Tally) {
    let mut tally = Tally::default();
    let mut compiled = 0;
    for expression in expressions {
        let mapping = Mapping::parse(&expression.source, &expression.origin).expect("a bundled expression parses");
        if !mapping.is_compiled() {
            continue;
        }
        compiled += 1;
        let engine = mapping.interpreted();
        assert!(!engine.is_compiled());
        // The engine is slow in a debug build: every input once, with the bindings of each
        // integration's sample contexts in turn, and variants of a few inputs.
        for (i, input) in samples.inputs.iter().enumerate() {
            let bindings = &samples.contexts[i % samples.contexts.len()];
            compare(&expression.label, &mapping, &engine, input, bindings, &mut tally);
            if with_variants && i % 7 == 0 {
                for variant in variants(input).iter().step_by(3) {
                    compare(&expression.label, &mapping, &engine, variant, bindings, &mut tally);
                }
            }
        }
    }
    (compiled, tally)
}

#[test]
fn bundled_expressions_agree_with_the_engine() {
    let registry = differential::registry();
    let all = expressions(&registry, "bundled");
    let samples = samples();
    let (compiled, tally) = check_all(&all, &samples, true);
    println!(
        "{compiled} of {} bundled expressions compile to the fast path; {} evaluations compared, {} fell back to the engine",
        all.len(),
        tally.compared,
        tally.fell_back
    );
    assert!(tally.differences.is_empty(), "{} differences:\n{}", tally.differences.len(), tally.differences.join("\n"));
    assert!(tally.compared > 1000, "too few evaluations compared: {}", tally.compared);

    // The example integration's contacts list mapping (the benchmark's) takes the fast path.
    let example = common::example();
    let (source, origin) = differential::list_response(&registry, &example.integration, &example.model, &example.resource);
    let mapping = Mapping::parse(&source, &serde_json::from_value(origin).unwrap()).unwrap();
    assert!(mapping.is_compiled(), "the example's list.response mapping does not compile to the fast path");
}

#[test]
fn runtime_definition_expressions_agree_with_the_engine() {
    let repo = differential::repo();
    let mut options = Options::new(repo.join("tests/runtime/definitions"));
    options.models_dir = Some(repo.join("schemas/models"));
    let outcome = project::check(&options).expect("the definitions directory exists");
    let registry = serde_json::to_value(outcome.registry.expect("the test definitions compile")).unwrap();
    let all = expressions(&registry, "definitions");
    let mut samples = samples();
    samples.inputs.extend([json!({}), json!({"id": 1, "name": "x", "items": [1, 2], "next": null})]);
    let (compiled, tally) = check_all(&all, &samples, false);
    println!(
        "{compiled} of {} test-definition expressions compile; {} evaluations compared, {} fell back",
        all.len(),
        tally.compared,
        tally.fell_back
    );
    assert!(tally.differences.is_empty(), "{} differences:\n{}", tally.differences.len(), tally.differences.join("\n"));
}

/// Expressions exercising the semantics the fast path must get exactly right, each on inputs
/// chosen to hit the edges.
#[test]
fn tricky_semantics_agree_with_the_engine() {
    let expressions = [
        r#"{"a": a, "b": b.c, "n": missing, "z": null}"#,
        r#"a.b"#,
        r#"items.name"#,
        r#"items[0]"#,
        r#"items[-1].name"#,
        r#"items[type = "x"].name"#,
        r#"items[$type(name) = "string" and name != ""]"#,
        r#"[items.name]"#,
        r#"[a, b, [c], items]"#,
        r#"a & b & c & missing & n & t & z"#,
        r#"n & "" & f"#,
        r#"a ? a : "none""#,
        r#"a ? "yes""#,
        r#"{"x": n + 1, "y": n * f, "z": -n, "w": n / 4, "m": n % 3}"#,
        r#"a = "1" or n = 1 and t"#,
        r#"n < 5 ? "small" : "big""#,
        r#"a in ["1", "2"]"#,
        r#"$not(a in ["1"])"#,
        r#"$string(n) & $string(f) & $string(t) & $string(z)"#,
        r#"$number(s)"#,
        r#"$exists(a) and $exists(missing) = false"#,
        r#"$count(items) + $count(missing) + $count(a)"#,
        r#"$type(a) & $type(n) & $type(items) & $type(z) & $type(t)"#,
        r#"$append(items, missing)"#,
        r#"$append(a, b)"#,
        r#"$append([], [])"#,
        r#"$merge([{"a": 1}, obj, {"a": 2}])"#,
        r#"$keys(obj)"#,
        r#"$lookup(obj, "k")"#,
        r#"$split(s, ",").{"v": $trim($)}"#,
        r#"[$split(s, ",").{"v": $trim($)}]"#,
        r#"$join(items.name, ";")"#,
        r#"$lowercase(a) & $uppercase(a) & $substring(s, 1, 2) & $substringBefore(s, ",") & $substringAfter(s, ",")"#,
        r#"$contains(s, ",")"#,
        r#"($x := a; $f := function($v) { $v ? $v : null }; {"x": $f($x), "y": $f(missing), "z": $f("")})"#,
        r#"$sift(obj, function($v, $k) { $k != "k" })"#,
        r#"$sift(obj, function($v) { $v })"#,
        r#"$each(obj, function($v, $k) { $k & "=" & $string($v) })"#,
        r#"$map(items, function($i) { $i.name })"#,
        r#"$map(items, function($i, $n) { $n })"#,
        r#"$filter(items, function($i) { $i.type = "x" })"#,
        r#"$filter(items, function($i) { $i.type = "y" })"#,
        r#"items.{"n": name, "t": type}"#,
        r#"$.a"#,
        r#"$$.a"#,
        r#"a ?: "d""#,
        r#"missing ?? "d""#,
        r#"{"k": obj.k, "keys": $keys(obj)}"#,
        r#"nested.list.value"#,
        r#"nested.list[0].value"#,
        r#"$string(obj)"#,
    ];
    let inputs = [
        json!({}),
        json!({"a": "1", "b": {"c": 2}, "c": [3, 4], "n": 5, "f": 0.1, "t": true, "z": null, "s": " x , y,z ",
               "items": [{"name": "p", "type": "x"}, {"name": "q", "type": "y"}, {"name": ""}],
               "obj": {"k": "v", "e": "", "n": 0, "l": [1]},
               "nested": {"list": [{"value": [1, 2]}, {"value": 3}]}}),
        json!({"a": null, "n": null, "items": [], "obj": {}, "s": "", "nested": {"list": []}}),
        json!({"a": 1, "n": "5", "items": {"name": "solo", "type": "x"}, "obj": {"k": null}, "s": 5}),
        json!({"a": [], "b": [], "n": 1e21, "f": 1.5e-7, "items": [{"name": ["a", "b"]}, {"name": "c"}], "s": "a,b"}),
        json!({"a": ["x"], "items": [[{"name": "deep"}]], "nested": {"list": {"value": {"x": 1}}}}),
        json!({"a": {"x": 1}, "n": -0.5, "f": 123456789012345680000.0, "items": [{"type": "x"}], "obj": {"1": "one", "k": 2}}),
    ];
    let mut tally = Tally::default();
    let mut not_compiled = Vec::new();
    for source in expressions {
        let mapping = Mapping::parse(source, &Origin::default()).unwrap();
        if !mapping.is_compiled() {
            not_compiled.push(source);
            continue;
        }
        let engine = mapping.interpreted();
        for input in &inputs {
            compare(source, &mapping, &engine, input, &Bindings::new(), &mut tally);
        }
    }
    println!("{} evaluations compared, {} fell back", tally.compared, tally.fell_back);
    assert!(not_compiled.is_empty(), "these do not compile: {not_compiled:#?}");
    assert!(tally.differences.is_empty(), "{} differences:\n{}", tally.differences.len(), tally.differences.join("\n"));
}

/// A page's records as the list route maps them, from their text (`evaluate_each_json_text`),
/// with the page's text and each record's span in it.
fn records_text(records: &[&str]) -> (String, Vec<std::ops::Range<usize>>) {
    let mut text = String::from("{\"results\": [");
    let mut spans = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        spans.push(text.len()..text.len() + record.len());
        text.push_str(record);
    }
    text.push_str("]}");
    (text, spans)
}

/// The list route's ways of mapping a page's records (from values with `$page` bound, from
/// their text without it) and `evaluate` give the engine's results, records that fall back
/// included.
#[test]
fn the_page_path_agrees_with_the_engine() {
    let source = r#"{"id": id, "n": $number(n), "page": $count($page.results)}"#;
    let mapping = Mapping::parse(source, &Origin::default()).unwrap();
    assert!(mapping.is_compiled());
    let engine = mapping.interpreted();
    // The second record falls back ($number of a boolean), the others do not.
    let records = [r#"{"id": 1, "n": "2"}"#, r#"{"id": 2, "n": true}"#, r#"{"id": 3.0, "n": 4.5}"#];
    let (page, _) = records_text(&records);
    let page: Value = serde_json::from_str(&page).unwrap();
    let values = page["results"].as_array().unwrap();
    let bindings = Bindings::new().with("page", page.clone());
    let fast = evaluate_each_json(&mapping, values, &bindings, &options());
    let slow = evaluate_each_json(&engine, values, &bindings, &options());
    assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    // Without `$page`, each record's text is parsed straight into the fast path's values; a
    // record that falls back goes to the engine alone.
    let mapping = Mapping::parse(r#"{"id": id, "n": $number(n)}"#, &Origin::default()).unwrap();
    let engine = mapping.interpreted();
    let escaped = [r#"{"id": 1, "n": "2"}"#, r#"{"id": "x\"y", "n": 3, "n": "4"}"#];
    for records in [&records[..], &escaped[..], &[]] {
        let (text, spans) = records_text(records);
        let fast = evaluate_each_json_text(&mapping, &text, &spans, &Bindings::new(), &options());
        let slow = evaluate_each_json_text(&engine, &text, &spans, &Bindings::new(), &options());
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
    }
    // Lookups and `$sift` answers are remembered by position (records mostly share a key
    // order): records whose keys move around must still get the engine's answers.
    let mapping = Mapping::parse(r#"{"a": a, "b": b.c, "kept": $sift($, function($v, $k) { $k != "a" })}"#, &Origin::default()).unwrap();
    assert!(mapping.is_compiled());
    let engine = mapping.interpreted();
    let records = [
        r#"{"a": 1, "b": {"c": 2}, "z": 3}"#,
        r#"{"b": {"x": 0, "c": 4}, "a": 5}"#,
        r#"{"z": 1, "a": 2}"#,
        r#"{"a": 6, "b": {"c": 7}, "z": 8}"#,
    ];
    let (text, spans) = records_text(&records);
    let fast = evaluate_each_json_text(&mapping, &text, &spans, &Bindings::new(), &options());
    let slow = evaluate_each_json_text(&engine, &text, &spans, &Bindings::new(), &options());
    assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    let record = json!({"id": 1.0, "n": "7", "x": [1.0, 2.5]});
    let m = Mapping::parse(r#"{"id": id, "x": x, "n": $number(n)}"#, &Origin::default()).unwrap();
    assert!(m.is_compiled());
    let fast = switchyard_runtime::mapping::evaluate(&m, &record, &Bindings::new(), &options()).unwrap();
    let slow = switchyard_runtime::mapping::evaluate(&m.interpreted(), &record, &Bindings::new(), &options()).unwrap();
    assert_eq!(fast, slow);
    assert_eq!(serde_json::to_string(&fast).unwrap(), serde_json::to_string(&slow).unwrap());
}
