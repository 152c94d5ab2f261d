//! The mapping API as other modules use it: errors with code and place, sharing between
//! threads, key order, undefined results, and the page fast path.

mod common;

use common::example;
use serde_json::{json, Value};
use switchyard_runtime::mapping::{
    evaluate, evaluate_each, evaluate_json_str, evaluate_page_json_str, Bindings, EvalOptions, Mapping, MappingErrorKind,
};
use switchyard_registry::{Expr, Origin};

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
                evaluate_each(&m, &inputs, &bindings, &options).unwrap()
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let out = handle.join().unwrap();
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

#[test]
fn the_page_fast_path_maps_like_evaluate_each() {
    let example = example();
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(example.sample()).unwrap()).unwrap();
    let page = &sample["page"];
    let records = page[&example.records].as_array().unwrap();
    let source = std::fs::read_to_string(common::repo().join(example.str("extracted_list_response"))).unwrap();
    let m = mapping(&source);
    let bindings = Bindings::new().with("query", json!({"include_remote_data": "true"}));
    let each = evaluate_each(&m, records, &bindings, &options()).unwrap();
    let text = evaluate_page_json_str(&m, &page.to_string(), &example.records, &bindings, &options()).unwrap();
    assert_eq!(text, serde_json::to_string(&each).unwrap());
    // `$page` is the page itself; a missing records path is an empty page; a non-array is refused.
    let m = mapping(r#"{"id": id, "next": $page.paging.next.after, "of": $count($page.data.items)}"#);
    let page = r#"{"data": {"items": [{"id": 1}, {"id": 2}]}, "paging": {"next": {"after": "x"}}}"#;
    let text = evaluate_page_json_str(&m, page, "data.items", &Bindings::new().with("page", json!("ignored")), &options()).unwrap();
    assert_eq!(text, r#"[{"id":1,"next":"x","of":2},{"id":2,"next":"x","of":2}]"#);
    assert_eq!(evaluate_page_json_str(&m, page, "missing.path", &Bindings::new(), &options()).unwrap(), "[]");
    assert_eq!(evaluate_page_json_str(&mapping("$"), "[1, [2], {}]", "", &Bindings::new(), &options()).unwrap(), "[1,[2],{}]");
    let error = evaluate_page_json_str(&m, page, "paging", &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InvalidInput);
    let error = evaluate_page_json_str(&m, "{oops", "data.items", &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InvalidInput);
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
