//! Hostile and buggy mappings end in a mapping error of the right kind, within the configured
//! limits, and the process goes on mapping afterwards. No test here asserts a duration: the
//! error kind says which limit stopped the evaluation.

use serde_json::{json, Value};
use switchyard_registry::{Expr, Origin};
use switchyard_runtime::mapping::{
    evaluate, evaluate_each_json, evaluate_json_str, Bindings, CancelToken, EvalOptions, Mapping, MappingErrorKind, MappingLimits,
};

fn mapping(source: &str) -> Mapping {
    let expr = Expr { source: source.to_string(), origin: Origin { file: "integrations/evil/unified/crm.yaml".into(), line: 7, col: 9 } };
    Mapping::compile(&expr).expect("the expression parses")
}

/// Short limits, so the tests that run into them stay quick.
fn options() -> EvalOptions {
    EvalOptions { limits: MappingLimits { timeout_ms: 300, ..MappingLimits::default() }, ..EvalOptions::default() }
}

/// After each hostile evaluation: the process is alive and a normal mapping still works.
fn still_maps() {
    let m = mapping(r#"{"id": id, "name": $uppercase(name)}"#);
    let out = evaluate(&m, &json!({"id": "51", "name": "ada"}), &Bindings::new(), &options()).unwrap();
    assert_eq!(out, json!({"id": "51", "name": "ADA"}));
}

fn kind_of(source: &str, input: &Value) -> MappingErrorKind {
    let m = mapping(source);
    let error = evaluate(&m, input, &Bindings::new(), &options()).expect_err("a hostile mapping must fail");
    assert_eq!(error.origin.file, "integrations/evil/unified/crm.yaml");
    assert!(error.to_string().starts_with("mapping error at integrations/evil/unified/crm.yaml:7:9: "), "{error}");
    error.kind
}

#[test]
fn infinite_recursion_hits_the_stack_limit() {
    // Not a tail call: every call nests.
    assert_eq!(kind_of("($f := function($x) { 1 + $f($x) }; $f(1))", &json!({})), MappingErrorKind::StackDepth);
    still_maps();
}

#[test]
fn infinite_tail_recursion_hits_the_timeout() {
    // A tail call runs in constant stack (as in jsonata-js), so this one loops until the timeout.
    let m = mapping("($f := function($x) { $f($x) }; $f(1))");
    let error = evaluate(&m, &json!({}), &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::Timeout, "{error}");
    assert_eq!(error.code.as_deref(), Some("D1012"));
    still_maps();
}

#[test]
fn a_ten_million_range_hits_the_sequence_limit() {
    assert_eq!(kind_of("[1..10000000]", &json!({})), MappingErrorKind::SequenceLength);
    assert_eq!(kind_of("$count([1..10000000])", &json!({})), MappingErrorKind::SequenceLength);
    // Past JSONata's own cap too.
    assert_eq!(kind_of("[1..100000000]", &json!({})), MappingErrorKind::SequenceLength);
    still_maps();
}

#[test]
fn huge_string_concatenation_hits_the_timeout() {
    // Appends 100 bytes 1,000,000 times: quadratic copying, stopped by the timeout long before
    // the string (at most a few MB by then) matters.
    let source = r#"$reduce([1..1000000], function($acc, $x) { $acc & "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789" }, "")"#;
    assert_eq!(kind_of(source, &json!({})), MappingErrorKind::Timeout);
    still_maps();
}

#[test]
fn a_doubling_string_is_stopped_by_the_timeout() {
    // Memory is not limited as such: the string doubles until the timeout (here 100 ms, a few
    // hundred MB at most) stops it.
    let m = mapping(r#"$reduce([1..40], function($a, $x) { $a & $a }, "0123456789")"#);
    let options = EvalOptions { limits: MappingLimits { timeout_ms: 100, ..MappingLimits::default() }, ..EvalOptions::default() };
    let error = evaluate(&m, &json!({}), &Bindings::new(), &options).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::Timeout, "{error}");
    still_maps();
}

#[test]
fn huge_join_is_bounded_by_the_sequence_limit() {
    assert_eq!(kind_of(r#"$join([1..2000000].("abcdefghij"))"#, &json!({})), MappingErrorKind::SequenceLength);
    still_maps();
}

const DEPTH: usize = 100_000;

#[test]
fn deep_input_bytes_are_refused() {
    let text = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let m = mapping("$");
    let error = evaluate_json_str(&m, &text, &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InputTooDeep, "{error}");
    let text = format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH));
    let error = evaluate_json_str(&m, &text, &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InputTooDeep, "{error}");
    still_maps();
}

/// `[[[…]]]` nested `depth` deep, built in a loop (a recursive builder would itself overflow).
fn deep_value(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

/// Takes a deep value apart in a loop: serde_json's own drop recurses once per level.
fn drop_flat(mut value: Value) {
    loop {
        value = match value {
            Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            Value::Object(mut map) => match map.keys().next().cloned() {
                Some(key) => map.remove(&key).unwrap_or(Value::Null),
                None => return,
            },
            _ => return,
        };
    }
}

#[test]
fn deep_input_values_are_refused() {
    let deep = deep_value(DEPTH);
    let m = mapping("$");
    let error = evaluate(&m, &deep, &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InputTooDeep, "{error}");
    let error = evaluate_each_json(&m, std::slice::from_ref(&deep), &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InputTooDeep, "{error}");
    // A deep binding is refused too, when the mapping reads it.
    let mut bindings = Bindings::new().with("page", deep);
    let m = mapping("$page");
    let error = evaluate(&m, &json!({}), &bindings, &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::InputTooDeep, "{error}");
    assert!(error.message.contains("$page"), "{error}");
    // …and costs nothing when it does not.
    assert_eq!(evaluate(&mapping("id"), &json!({"id": 1}), &bindings, &options()).unwrap(), json!(1));
    drop_flat(bindings.remove("page").expect("bound above"));
    still_maps();
}

#[test]
fn deep_results_are_refused() {
    // $reduce nests without recursion, past any stack limit.
    let m = mapping(r#"$reduce([1..5000], function($acc, $x) { {"a": $acc} }, {})"#);
    let error = evaluate(&m, &json!({}), &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::OutputTooDeep, "{error}");
    let error = evaluate_json_str(&m, "{}", &Bindings::new(), &options()).unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::OutputTooDeep, "{error}");
    still_maps();
}

#[test]
fn cancel_stops_an_evaluation_from_another_thread() {
    let token = CancelToken::new();
    let options = EvalOptions {
        limits: MappingLimits { timeout_ms: 60_000, ..MappingLimits::default() },
        cancel: Some(token.clone()),
        ..EvalOptions::default()
    };
    let m = mapping("($f := function($x) { $f($x) }; $f(1))");
    let worker = std::thread::spawn(move || evaluate(&m, &json!({}), &Bindings::new(), &options));
    std::thread::sleep(std::time::Duration::from_millis(50));
    token.cancel();
    let error = worker.join().expect("the worker thread survives").unwrap_err();
    assert_eq!(error.kind, MappingErrorKind::Cancelled, "{error}");
    still_maps();
}
