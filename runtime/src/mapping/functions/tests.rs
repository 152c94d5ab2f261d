//! Every example of every function, and the generated documentation.

use super::{all, render_docs, Expected, EXAMPLE_NOW_MILLIS};
use crate::mapping::{evaluate, Bindings, EvalOptions, Mapping};
use crate::registry::Origin;

fn options() -> EvalOptions {
    EvalOptions { now_millis: Some(EXAMPLE_NOW_MILLIS), ..EvalOptions::default() }
}

#[test]
fn every_example_holds() {
    let mut failures = Vec::new();
    for function in all() {
        assert!(!function.examples.is_empty(), "${} has no examples", function.name);
        for example in function.examples {
            let origin = Origin { file: format!("{}.examples", function.name), line: 1, col: 1 };
            let mapping = Mapping::parse(example.expr, &origin).unwrap_or_else(|e| panic!("{e}"));
            let input: serde_json::Value = serde_json::from_str(example.input).unwrap_or_else(|e| panic!("{}: input: {e}", example.expr));
            let got = evaluate(&mapping, &input, &Bindings::new(), &options());
            let ok = match (&got, example.output) {
                (Ok(value), Expected::Json(expected)) => {
                    let expected: serde_json::Value =
                        serde_json::from_str(expected).unwrap_or_else(|e| panic!("{}: expected: {e}", example.expr));
                    serde_json::to_string(value).unwrap() == serde_json::to_string(&expected).unwrap()
                }
                (Err(error), Expected::Error(code)) => error.code.as_deref() == Some(code),
                _ => false,
            };
            if !ok {
                failures.push(format!("${}: {}\n    expected {:?}\n    got      {:?}", function.name, example.expr, example.output, got));
            }
        }
    }
    assert!(failures.is_empty(), "{} example(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn names_are_unique_and_not_builtins() {
    let mut names: Vec<_> = all().iter().map(|f| f.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all().len());
    for f in all() {
        // register_fn refuses a built-in's name; this fails fast if a new function has one.
        let mut evaluator = jsonata_core::evaluator::Evaluator::new();
        assert!(
            evaluator.register_fn(f.name, |_: &[jsonata_core::value::JValue]| Ok(jsonata_core::value::JValue::Null)).is_ok(),
            "${}",
            f.name
        );
        assert!(f.signature.starts_with(&format!("${}(", f.name)), "{}", f.signature);
    }
}

#[test]
fn docs_are_in_step() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/functions.md");
    let rendered = render_docs();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(current == rendered, "docs/functions.md is out of date: run `UPDATE_DOCS=1 cargo test -p switchyard-runtime functions`");
}

#[test]
fn the_registry_vocabulary_names_exactly_this_library() {
    let implemented: Vec<&str> = super::all().iter().map(|f| f.name).collect();
    assert_eq!(implemented, crate::registry::vocabulary::LIBRARY_FUNCTIONS);
}
