//! `switchyard eval` end to end, and the byte-identical output of a bundled mapping across
//! processes.

mod common;
#[path = "differential/support.rs"]
mod support;

use common::example;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn eval(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard")).arg("eval").args(args).current_dir(cwd).output().expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The committed copy of the example integration's list response mapping
/// (`extracted_list_response` in tests/examples.json).
fn extracted() -> &'static str {
    example().str("extracted_list_response")
}

/// The committed copy of the example integration's bundled list response mapping is the one
/// the binary embeds (regenerate with `UPDATE_FIXTURES=1 cargo test --test mapping_eval_cli`).
#[test]
fn extracted_mapping_matches_the_bundled_registry() {
    let example = example();
    let (source, origin) = support::list_response(&support::registry(), &example.integration, &example.model, &example.resource);
    assert_eq!(origin["file"], example.mapping_file());
    let path = support::repo().join(extracted());
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &source).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == source,
        "{} differs from the bundled {}: run `UPDATE_FIXTURES=1 cargo test --test mapping_eval_cli`",
        extracted(),
        example.mapping_file()
    );
}

/// Must show: same input, byte-identical output, across processes.
#[test]
fn a_bundled_mapping_gives_byte_identical_output_in_separate_processes() {
    let dir = tempfile::tempdir().unwrap();
    let example = example();
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(example.sample()).unwrap()).unwrap();
    let record = &sample["page"][&example.records][0];
    let input = write(dir.path(), "contact.json", &serde_json::to_string_pretty(record).unwrap());
    let query = write(dir.path(), "query.json", r#"{"include_remote_data": "true"}"#);
    let mapping = support::repo().join(extracted());
    let bind = format!("query={}", query.display());
    let args = [mapping.to_str().unwrap(), input.to_str().unwrap(), "--bind", &bind];
    let first = eval(&args, dir.path());
    let second = eval(&args, dir.path());
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(!first.stdout.is_empty());
    assert_eq!(first.stdout, second.stdout, "two processes printed different bytes");
    // Keys in the order the mapping writes them; the raw record kept as it came.
    let text = stdout(&first);
    let keys: Vec<&str> = text.lines().filter(|l| l.starts_with("  \"")).map(|l| l.trim_start().split('"').nth(1).unwrap()).collect();
    assert_eq!(
        keys,
        [
            "id",
            "first_name",
            "last_name",
            "title",
            "emails",
            "phone_numbers",
            "addresses",
            "owner_id",
            "company_id",
            "last_activity_at",
            "created_at",
            "updated_at",
            "custom_fields",
            "remote_data"
        ]
    );
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["emails"][1], serde_json::json!({"email": "ada.king@x.org", "type": "other"}));
    assert_eq!(value["custom_fields"], serde_json::json!({"seats": "12", "loyalty_tier": "Gold"}));
    assert_eq!(&value["remote_data"], record);
    // Compact output is the same document on one line, in a third process.
    let mut compact_args = args.to_vec();
    compact_args.push("--compact");
    let compact = eval(&compact_args, dir.path());
    assert_eq!(serde_json::from_slice::<Value>(&compact.stdout).unwrap(), value);
    assert_eq!(stdout(&compact).lines().count(), 1);
}

#[test]
fn repeat_evaluates_n_times_and_prints_the_last_result() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = write(dir.path(), "m.jsonata", "{\"n\": $count(items), \"at\": $now()}");
    let input = write(dir.path(), "in.json", r#"{"items": [1, 2, 3]}"#);
    let out = eval(&["m.jsonata", "in.json", "--repeat", "50", "--now", "2024-05-02T19:41:07.517+05:30", "--compact"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"n\":3,\"at\":\"2024-05-02T14:11:07.517Z\"}\n");
    let _ = (mapping, input);
}

#[test]
fn the_function_library_and_bindings_are_available() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m.jsonata", "{\"type\": $mapValues(type, $types, \"other\"), \"at\": $parseDate(created, \"unix\")}");
    write(dir.path(), "in.json", r#"{"type": "Office", "created": 1680893993}"#);
    write(dir.path(), "types.json", r#"{"office": "work"}"#);
    let out = eval(&["m.jsonata", "in.json", "--bind", "$types=types.json", "--compact"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "{\"type\":\"work\",\"at\":\"2023-04-07T18:59:53.000Z\"}\n");
}

#[test]
fn a_syntax_error_names_its_line_and_column_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.jsonata", "(\n  $a := 1;\n  { \"x\": $a, \"y\": }\n)\n");
    write(dir.path(), "in.json", "{}");
    let out = eval(&["bad.jsonata", "in.json"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("error: mapping error at bad.jsonata:3:"), "{err}");
    assert!(err.contains(": S0"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_evaluation_error_names_the_expression_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m.jsonata", "name + 1");
    write(dir.path(), "in.json", r#"{"name": "ada"}"#);
    let out = eval(&["m.jsonata", "in.json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: mapping error at m.jsonata:1:1: T2001: "), "{}", stderr(&out));
    // A hostile one stops at its limit and says which.
    write(dir.path(), "range.jsonata", "[1..10000000]");
    let out = eval(&["range.jsonata", "in.json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("D2015"), "{}", stderr(&out));
    write(dir.path(), "loop.jsonata", "($f := function($x) { $f($x) }; $f(1))");
    let out = eval(&["loop.jsonata", "in.json", "--timeout-ms", "200"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("D1012"), "{}", stderr(&out));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "m.jsonata", "$");
    write(dir.path(), "in.json", "{}");
    write(dir.path(), "broken.json", "{\"a\": ");
    let cases: &[&[&str]] = &[
        &["missing.jsonata", "in.json"],
        &["m.jsonata", "missing.json"],
        &["m.jsonata", "broken.json"],
        &["m.jsonata", "in.json", "--bind", "nofile"],
        &["m.jsonata", "in.json", "--bind", "x=missing.json"],
        &["m.jsonata", "in.json", "--bind", "x=broken.json"],
        &["m.jsonata", "in.json", "--bind", "a-b=in.json"],
        &["m.jsonata", "in.json", "--repeat", "0"],
        &["m.jsonata", "in.json", "--now", "yesterday"],
    ];
    for args in cases {
        let out = eval(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// Without an input file `$` is undefined, which JSONata tells from `null`: `$string($)` of
/// nothing is nothing (printed as `null`), of `null` the text `"null"`.
#[test]
fn without_an_input_the_input_is_undefined() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = write(dir.path(), "m.jsonata", "{ \"given\": $exists($), \"text\": $string($) }");
    let none = eval(&[mapping.to_str().unwrap(), "--compact"], dir.path());
    assert!(none.status.success(), "{}", stderr(&none));
    assert_eq!(stdout(&none).trim(), r#"{"given":false}"#);
    let null = write(dir.path(), "null.json", "null");
    let given = eval(&[mapping.to_str().unwrap(), null.to_str().unwrap(), "--compact"], dir.path());
    assert!(given.status.success(), "{}", stderr(&given));
    assert_eq!(stdout(&given).trim(), r#"{"given":true,"text":"null"}"#);
}
