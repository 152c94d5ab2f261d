//! The mapping API as other modules use it: errors with code and place, sharing between
//! threads, key order, undefined results, and records mapped from their text as a list page's are.

mod common;

use common::example;
use serde_json::{json, Value};
use switchyard_registry::{Expr, Origin};
use switchyard_runtime::mapping::{
    evaluate, evaluate_each_json, evaluate_each_json_text, evaluate_json_str, Bindings, EvalOptions, Mapping, MappingErrorKind,
};

fn mapping(source: &str) -> Mapping {
    let expr = Expr { source: source.to_string(), origin: Origin { file: "integrations/evil/unified/crm.yaml".into(), line: 7, col: 9 } };
    Mapping::compile(&expr).expect("the expression parses")
}

fn options() -> EvalOptions {
    EvalOptions::default()
}

#[test]
fn errors_carry_the_jsonata_code_and_the_place() {
    let m = mapping(r#"{"n": name + 1}"#);
    let error = evaluate(&m, &json!({"name": "ada"}), &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::Evaluation);
    assert_eq!(error.code.as_deref(), Some("T2001"));
    assert!(error.to_string().starts_with("mapping error at integrations/evil/unified/crm.yaml:7:9: T2001: "), "{error}");
    let error =
        Mapping::compile(&Expr { source: "{\"a\": }".into(), origin: Origin { file: "f.yaml".into(), line: 3, col: 5 } }).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::Syntax);
    assert!(error.to_string().starts_with("mapping error at f.yaml:3:5: S0"), "{error}");
    let error = evaluate_json_str(&mapping("$"), "{\"a\": tru}", &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InvalidInput);
}

#[test]
fn mappings_are_shared_between_threads() {
    let m = mapping(r#"{"id": id, "seen": $query.flag, "now": $now()}"#);
    let bindings = Bindings::new().with("query", json!({"flag": "1"}));
    let options = EvalOptions { now_millis: Some(0), ..EvalOptions::default() };
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (m, bindings, options) = (m.clone(), bindings.clone(), options.clone());
            std::thread::spawn(move || {
                let inputs: Vec<Value> = (0..50).map(|j| json!({"id": i * 100 + j})).collect();
                evaluate_each_json(&m, &inputs, &bindings, &options).unwrap()
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let out: Vec<Value> = serde_json::from_str(&handle.join().unwrap()).unwrap();
        assert_eq!(out.len(), 50);
        assert_eq!(out[3], json!({"id": i * 100 + 3, "seen": "1", "now": "1970-01-01T00:00:00.000Z"}));
    }
}

#[test]
fn undefined_is_null_and_keys_keep_the_mapping_order() {
    let m = mapping(r#"{"z": a, "y": b, "x": missing, "w": {"b": 1, "a": 2}}"#);
    let out = evaluate(&m, &json!({"b": 2, "a": 1}), &Bindings::new(), &options()).unwrap();
    assert_eq!(serde_json::to_string(&out).unwrap(), r#"{"z":1,"y":2,"w":{"b":1,"a":2}}"#);
    let text = evaluate_json_str(&m, r#"{"b": 2, "a": 1}"#, &Bindings::new(), &options()).unwrap();
    assert_eq!(text, r#"{"z":1,"y":2,"w":{"b":1,"a":2}}"#);
    assert_eq!(evaluate(&mapping("missing"), &json!({}), &Bindings::new(), &options()).unwrap(), Value::Null);
}

/// Records' texts laid out as a page's records array, with the span of each (what the list
/// path's scan of a page finds).
fn records_text(records: &[String]) -> (String, Vec<std::ops::Range<usize>>) {
    let mut text = String::from("{\"results\": [");
    let mut spans = Vec::new();
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            text.push_str(",\n  ");
        }
        spans.push(text.len()..text.len() + record.len());
        text.push_str(record);
    }
    text.push_str("]}");
    (text, spans)
}

/// A list page's records mapped from their text (`evaluate_each_json_text`, what the list route
/// does) give what mapping them as values does (`evaluate_each_json`).
#[test]
fn records_from_text_map_like_records_from_values() {
    let example = example();
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(example.sample()).unwrap()).unwrap();
    let records = sample["page"][&example.records].as_array().unwrap();
    let source = std::fs::read_to_string(common::repo().join(example.str("extracted_list_response"))).unwrap();
    let m = mapping(&source);
    let bindings = Bindings::new().with("query", json!({"include_remote_data": "true"}));
    let from_values = evaluate_each_json(&m, records, &bindings, &options()).unwrap();
    let (text, spans) = records_text(&records.iter().map(Value::to_string).collect::<Vec<_>>());
    let from_text = evaluate_each_json_text(&m, &text, &spans, &bindings, &options()).unwrap();
    assert_eq!(from_text.as_deref(), Some(from_values.as_str()));
    assert_eq!(serde_json::from_str::<Vec<Value>>(&from_values).unwrap().len(), records.len());
    // A record mapped to nothing is left out; a record that is not JSON is `None` (the caller
    // then reads the page whole).
    let m = mapping(r#"kind = "pr" ? null : {"id": id}"#);
    let texts = [r#"{"id": 1}"#, r#"{"id": 2, "kind": "pr"}"#, r#"{"kind": "x"}"#, r#"{"id": 4}"#].map(String::from);
    let (text, spans) = records_text(&texts);
    let out = evaluate_each_json_text(&m, &text, &spans, &Bindings::new(), &options()).unwrap();
    assert_eq!(out.as_deref(), Some(r#"[{"id":1},{},{"id":4}]"#));
    let (text, spans) = records_text(&[r#"{"id": 1}"#.to_string(), "{oops".to_string()]);
    assert_eq!(evaluate_each_json_text(&m, &text, &spans, &Bindings::new(), &options()).unwrap(), None);
}

#[test]
fn a_binding_read_inside_a_shared_function_is_mentioned() {
    // `Mapping::mentions` decides which bindings are built: `$page` read by a function counts.
    use switchyard_registry::functions::{bind, called};
    let source = "{ \"total\": $total() }";
    let bound = bind(source, &called(source, &[("total", "function() { $page.total }")]));
    let expr = Expr { source: bound.clone(), origin: Origin { file: "f.yaml".into(), line: 1, col: 1 } };
    assert!(Mapping::compile(&expr).unwrap().mentions("page"), "{bound}");
}
