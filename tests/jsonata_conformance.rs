//! The JSONata reference test suite (jsonata-js v2.2.2, 1,686 cases, in
//! `../shared/reference/conformance/jsonata-suite` beside the repository) run through both of our
//! evaluation paths:
//!
//! 1. the engine (jsonata-core with our function library and limits, `Mapping::interpreted`),
//!    for every case;
//! 2. the compiled fast path alone, for every case whose expression compiles, from JSON text
//!    (`Mapping::evaluate_compiled_text`, as `switchyard eval` and the page path take it) and
//!    from a `serde_json::Value` (`Mapping::evaluate_compiled`, as `evaluate` takes it); each
//!    answer it gives (rather than leaving the evaluation to the engine) must be right.
//!
//! Each case is read as the upstream runner (`test/run-test-suite.js`) reads it: `expr` or
//! `expr-file`; input `data`, else `datasets/<dataset>.json`, else (`dataset: null`) undefined;
//! `bindings`; then, in this order, `undefinedResult`, `result` (deep equality, numbers compared
//! as doubles and object keys in any order, as chai's deep-equal does), `error` or `code` (an
//! error is raised, with that code when ours has a code: see [`codes_match`]; `token` is not
//! compared, our errors do not name one). `depth` becomes `MappingLimits::max_stack_depth`;
//! `timelimit` raises the timeout when it is longer than our default (the upstream runner raises
//! `U1001` past either; we raise `D1011` or `D1012`). Everything else is
//! `MappingLimits::default()`, as `switchyard eval` uses.
//!
//! Where our API differs from the upstream runner's:
//! - An undefined input (`dataset: null`): evaluated with no input at all
//!   (`mapping::evaluate_without_input`, what `switchyard eval` does without an input file, and
//!   `Mapping::evaluate_compiled_without_input` on the fast path).
//! - An undefined result: our results are JSON, so undefined comes out as `null`. When the
//!   answer is `null`, the case is run again as `$exists((EXPR))` on the same path, to tell
//!   undefined (`false`) from `null` (`true`).
//! - Two cases write a lone UTF-16 surrogate (`'\uD800'`) in the expression, which no Rust string
//!   can hold: the escape is handed to the JSONata parser as written rather than decoded by the
//!   JSON reader (and the parser refuses it: both are in [`EXCLUDED`]).
//!
//! Cases we do not pass are listed, each with its reason, in [`EXCLUDED`]. The test fails when a
//! case not listed there fails, and when a listed case passes (so the list stays exact). Run with
//! `--nocapture` to see the counts.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use switchyard_registry::Origin;
use switchyard_runtime::mapping::{
    evaluate_json_str, evaluate_without_input, Bindings, EvalOptions, Mapping, MappingError, MappingErrorKind, MappingLimits,
};

/// Which of our evaluation paths an exclusion is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Route {
    Engine,
    Fast,
}

/// Every case we do not pass, on which path, and why. Each must still fail there: a case that
/// starts passing fails the test until it is removed from this table.
const EXCLUDED: &[(&str, Route, &str)] = &[
    (
        "range-operator/case021",
        Route::Engine,
        "[1..10000000] builds 10,000,000 items, past MappingLimits::max_sequence_length (1,000,000): D2015 by design",
    ),
    (
        "range-operator/case024",
        Route::Engine,
        "[100..10000099] builds 10,000,000 items, past MappingLimits::max_sequence_length (1,000,000): D2015 by design",
    ),
    (
        "function-encodeUrl/case002",
        Route::Engine,
        "'\\uD800' is a lone UTF-16 surrogate, which no Rust string holds: the parser refuses the literal (S0104) \
         instead of $encodeUrl raising D3140",
    ),
    (
        "function-encodeUrlComponent/case002",
        Route::Engine,
        "'\\uD800' is a lone UTF-16 surrogate, which no Rust string holds: the parser refuses the literal (S0104) \
         instead of $encodeUrlComponent raising D3140",
    ),
];

/// The suite, beside the repository as CI checks it out.
fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/conformance/jsonata-suite")
}

/// What a case expects.
#[derive(Debug, Clone)]
enum Expect {
    Result(Value),
    Undefined,
    /// An error; its code when the case gives one (`code`, or `error.code`).
    Error(Option<String>),
}

struct Case {
    name: String,
    expr: String,
    /// `None`: undefined.
    input: Option<Value>,
    bindings: Bindings,
    expect: Expect,
    timelimit: Option<u64>,
    depth: Option<usize>,
}

impl Case {
    fn options(&self) -> EvalOptions {
        let defaults = MappingLimits::default();
        let limits = MappingLimits {
            timeout_ms: self.timelimit.map_or(defaults.timeout_ms, |t| t.max(defaults.timeout_ms)),
            max_stack_depth: self.depth.unwrap_or(defaults.max_stack_depth),
            ..defaults
        };
        EvalOptions { limits, ..EvalOptions::default() }
    }

    fn expect_code(&self) -> Option<&str> {
        match &self.expect {
            Expect::Error(code) => code.as_deref(),
            _ => None,
        }
    }

    /// The input as JSON text; `None` when the case has none (`$` undefined).
    fn input_text(&self) -> Option<String> {
        self.input.as_ref().map(Value::to_string)
    }
}

/// JSON text whose lone UTF-16 surrogate escapes (`\uD800` not part of a pair) are turned into
/// an escaped backslash, so the decoded string holds the escape as written.
fn keep_lone_surrogates(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let hex = |at: usize| -> Option<u32> {
        let digits: String = chars.get(at..at + 4)?.iter().collect();
        u32::from_str_radix(&digits, 16).ok()
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars.get(i + 1) != Some(&'u') {
            out.extend(chars.get(i..i + 2).into_iter().flatten());
            i += 2;
            continue;
        }
        match hex(i + 2) {
            Some(high @ 0xD800..=0xDBFF) if chars.get(i + 6) == Some(&'\\') && chars.get(i + 7) == Some(&'u') => match hex(i + 8) {
                Some(0xDC00..=0xDFFF) => {
                    out.extend(&chars[i..i + 12]);
                    i += 12;
                }
                _ => {
                    out.push_str(&format!("\\\\u{high:04X}"));
                    i += 6;
                }
            },
            Some(unit @ 0xD800..=0xDFFF) => {
                out.push_str(&format!("\\\\u{unit:04X}"));
                i += 6;
            }
            _ => {
                out.extend(&chars[i..i + 2]);
                i += 2;
            }
        }
    }
    out
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&keep_lone_surrogates(&text)))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load() -> Vec<Case> {
    let dir = suite_dir();
    assert!(
        dir.join("groups").is_dir(),
        "the JSONata reference suite is not at {} (CI clones the repository with ../shared beside it; \
         locally, put jsonata-js v2.2.2's test/test-suite there)",
        dir.display()
    );
    let mut datasets: BTreeMap<String, Value> = BTreeMap::new();
    let mut cases = Vec::new();
    let mut groups: Vec<PathBuf> = std::fs::read_dir(dir.join("groups")).unwrap().map(|e| e.unwrap().path()).collect();
    groups.sort();
    for group in groups {
        let group_name = group.file_name().unwrap().to_str().unwrap().to_string();
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&group).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
        files.sort();
        for file in files {
            let stem = file.file_stem().unwrap().to_str().unwrap().to_string();
            let entries = match read_json(&file) {
                Value::Array(items) => items.into_iter().enumerate().map(|(i, c)| (format!("{group_name}/{stem}[{i}]"), c)).collect(),
                case => vec![(format!("{group_name}/{stem}"), case)],
            };
            for (name, case) in entries {
                cases.push(read_case(&dir, &group, name, &case, &mut datasets));
            }
        }
    }
    cases
}

fn read_case(dir: &Path, group: &Path, name: String, case: &Value, datasets: &mut BTreeMap<String, Value>) -> Case {
    let expr = match (case.get("expr"), case.get("expr-file")) {
        (Some(Value::String(expr)), _) => expr.clone(),
        (_, Some(Value::String(file))) => {
            let path = group.join(file);
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {}: {e}", path.display()))
        }
        _ => panic!("{name}: neither expr nor expr-file"),
    };
    let input = match (case.get("data"), case.get("dataset")) {
        (Some(data), _) => Some(data.clone()),
        (None, Some(Value::String(dataset))) => Some(
            datasets.entry(dataset.clone()).or_insert_with(|| read_json(&dir.join("datasets").join(format!("{dataset}.json")))).clone(),
        ),
        (None, Some(Value::Null) | None) => None,
        (None, Some(other)) => panic!("{name}: dataset {other}"),
    };
    let mut bindings = Bindings::new();
    for (key, value) in case.get("bindings").and_then(Value::as_object).into_iter().flatten() {
        bindings.set(key, value.clone());
    }
    let object = case.as_object().unwrap_or_else(|| panic!("{name}: not an object"));
    let expect = if object.contains_key("undefinedResult") {
        Expect::Undefined
    } else if let Some(result) = object.get("result") {
        Expect::Result(result.clone())
    } else if let Some(error) = object.get("error") {
        Expect::Error(error.get("code").and_then(Value::as_str).map(str::to_string))
    } else if let Some(code) = object.get("code") {
        Expect::Error(Some(code.as_str().unwrap_or_else(|| panic!("{name}: code {code}")).to_string()))
    } else {
        panic!("{name}: no expected outcome")
    };
    Case {
        name,
        expr,
        input,
        bindings,
        expect,
        timelimit: case.get("timelimit").and_then(Value::as_u64),
        depth: case.get("depth").and_then(Value::as_u64).map(|d| d as usize),
    }
}

/// chai's deep equality on JSON: numbers as doubles (`1` equals `1.0`), object keys in any order.
fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equal(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w))),
        _ => a == b,
    }
}

/// Our error's code: [`MappingError::code`], else the first `X9999: ` in its message (the engine
/// writes some as "Invalid syntax: T1006: …", which `code` does not pick up).
fn our_code(error: &MappingError) -> Option<String> {
    if let Some(code) = &error.code {
        return Some(code.clone());
    }
    let bytes = error.message.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let word = &bytes[i..i + 6];
        let starts = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        (starts && word[0].is_ascii_uppercase() && word[1..5].iter().all(u8::is_ascii_digit) && word[5] == b':')
            .then(|| error.message[i..i + 5].to_string())
    })
}

/// Whether our error answers the expected code. `U1001` is the upstream runner's own hook,
/// raised when the evaluation nests deeper than `depth` or runs longer than `timelimit`: ours are
/// `max_stack_depth` (`D1011`) and `timeout_ms` (`D1012`). An error without a code answers any.
fn codes_match(expected: Option<&str>, error: &MappingError) -> bool {
    match (expected, our_code(error)) {
        (Some("U1001"), _) => matches!(error.kind, MappingErrorKind::StackDepth | MappingErrorKind::Timeout),
        (Some(expected), Some(ours)) => expected == ours,
        _ => true,
    }
}

/// What one path made of one case.
enum Outcome {
    /// JSON text, and for `null` whether the result was defined (`None`: the probe gave no
    /// answer on this path).
    Answer(String, Option<bool>),
    Error(MappingError),
}

/// Judges an outcome: `Ok` when it is what the case expects, else why not.
fn judge(case: &Case, outcome: &Outcome) -> Result<(), String> {
    match (&case.expect, outcome) {
        (Expect::Error(code), Outcome::Error(error)) => {
            if codes_match(code.as_deref(), error) {
                Ok(())
            } else {
                Err(format!("expected error {code:?}, got {error}"))
            }
        }
        (expect, Outcome::Error(error)) => Err(format!("expected {}, got {error}", describe(expect))),
        (Expect::Error(code), Outcome::Answer(text, _)) => Err(format!("expected error {code:?}, got {text}")),
        (Expect::Undefined | Expect::Result(Value::Null), Outcome::Answer(text, None)) if text == "null" => {
            Err(format!("cannot tell undefined from null: {PROBE} gave no answer on this path"))
        }
        (Expect::Undefined, Outcome::Answer(text, defined)) => match (text.as_str(), defined) {
            ("null", Some(false)) => Ok(()),
            ("null", Some(true)) => Err("expected undefined, got null".to_string()),
            _ => Err(format!("expected undefined, got {text}")),
        },
        (Expect::Result(expected), Outcome::Answer(text, defined)) => {
            let ours: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => return Err(format!("our result is not JSON ({e}): {text}")),
            };
            if expected.is_null() && *defined == Some(false) {
                Err("expected null, got undefined".to_string())
            } else if deep_equal(expected, &ours) {
                Ok(())
            } else {
                Err(format!("expected {expected}, got {text}"))
            }
        }
    }
}

fn describe(expect: &Expect) -> String {
    match expect {
        Expect::Result(v) => v.to_string(),
        Expect::Undefined => "undefined".to_string(),
        Expect::Error(code) => format!("error {code:?}"),
    }
}

fn origin(name: &str) -> Origin {
    Origin { file: format!("jsonata-suite/groups/{name}.json"), line: 1, col: 1 }
}

/// How an undefined result is told from `null`.
const PROBE: &str = "the probe $exists((EXPR))";

/// `$exists((EXPR))`: `false` when EXPR is undefined, `true` when it is `null`.
fn probe(case: &Case) -> Option<Mapping> {
    Mapping::parse(&format!("$exists((\n{}\n))", case.expr), &origin(&case.name)).ok()
}

/// An answer as an [`Outcome`], asking `defined` (the probe, on the same path) when it is `null`.
fn outcome(answer: Result<String, MappingError>, defined: impl FnOnce() -> Option<bool>) -> Outcome {
    match answer {
        Err(error) => Outcome::Error(error),
        Ok(text) if text == "null" => Outcome::Answer(text, defined()),
        Ok(text) => Outcome::Answer(text, None),
    }
}

/// The engine path: every evaluation on jsonata-core (`Mapping::interpreted`).
fn run_engine(case: &Case) -> Outcome {
    let mapping = match Mapping::parse(&case.expr, &origin(&case.name)) {
        Ok(m) => m.interpreted(),
        Err(error) => return Outcome::Error(error),
    };
    let (options, input) = (case.options(), case.input_text());
    let run = |m: &Mapping| match &input {
        Some(input) => evaluate_json_str(m, input, &case.bindings, &options),
        None => evaluate_without_input(m, &case.bindings, &options),
    };
    outcome(run(&mapping), || probe(case).and_then(|p| run(&p.interpreted()).ok()).map(|a| a == "true"))
}

/// The fast path alone, from JSON text (what `switchyard eval` and the page path take) and from a
/// `serde_json::Value` (what `evaluate` and `evaluate_each_json` take). `None` when the expression
/// does not compile; for each entry, `None` when it leaves this evaluation to the engine.
fn run_fast(case: &Case) -> Option<[Option<Outcome>; 2]> {
    let mapping = Mapping::parse(&case.expr, &origin(&case.name)).ok().filter(Mapping::is_compiled)?;
    let (options, text) = (case.options(), case.input_text());
    // Without an input, both ways in are the one evaluation without input.
    let from_text = |m: &Mapping| match &text {
        Some(text) => m.evaluate_compiled_text(text, &case.bindings, &options),
        None => m.evaluate_compiled_without_input(&case.bindings, &options),
    };
    let from_value = |m: &Mapping| match &case.input {
        Some(value) => m.evaluate_compiled(value, &case.bindings, &options),
        None => m.evaluate_compiled_without_input(&case.bindings, &options),
    };
    let defined = |answer: Option<Result<String, MappingError>>| answer.and_then(Result::ok).map(|a| a == "true");
    Some([
        from_text(&mapping).map(|a| outcome(a, || defined(probe(case).and_then(|p| from_text(&p))))),
        from_value(&mapping).map(|a| outcome(a, || defined(probe(case).and_then(|p| from_value(&p))))),
    ])
}

/// The suite runs first and its counts are printed (so they are in every test run's output, not
/// only with `--nocapture`); then one trial, `jsonata_reference_suite`, fails if any case is
/// not as the table of exclusions says.
fn main() {
    let args = libtest_mimic::Arguments::from_args();
    // Deep recursion runs on a thread with room for it, as `switchyard eval`'s main thread has.
    let report = std::thread::Builder::new().stack_size(64 << 20).spawn(run_suite).unwrap().join().unwrap();
    println!("{}", report.summary);
    for line in &report.details {
        println!("  {line}");
    }
    let trial = libtest_mimic::Trial::test("jsonata_reference_suite", move || {
        if report.problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{}\n{}", report.summary, report.problems.join("\n")).into())
        }
    });
    libtest_mimic::run(&args, vec![trial]).exit();
}

struct Report {
    summary: String,
    details: Vec<String>,
    problems: Vec<String>,
}

#[derive(Default)]
struct Counts {
    engine_passed: usize,
    /// Expected errors raised on the engine: with the expected code, and with no code to compare.
    same_code: usize,
    no_code: usize,
    compiled: usize,
    /// Fast-path cases answered (by either entry), from text, from a value, and those right.
    answered: usize,
    from_text: usize,
    from_value: usize,
    agreed: usize,
}

fn run_suite() -> Report {
    let cases = load();
    let excluded: BTreeMap<(&str, Route), &str> = EXCLUDED.iter().map(|(name, route, why)| ((*name, *route), *why)).collect();
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    let mut problems = Vec::new();
    for (name, route) in excluded.keys() {
        if !names.contains(name) {
            problems.push(format!("EXCLUDED names {name} ({route:?}), which is not a case of the suite"));
        }
    }
    let mut n = Counts::default();
    for case in &cases {
        let engine = run_engine(case);
        if let (Expect::Error(Some(_)), Outcome::Error(error)) = (&case.expect, &engine) {
            if our_code(error).is_some() {
                n.same_code += usize::from(codes_match(case.expect_code(), error));
            } else {
                n.no_code += 1;
            }
        }
        match (judge(case, &engine), excluded.get(&(case.name.as_str(), Route::Engine))) {
            (Ok(()), None) => n.engine_passed += 1,
            (Ok(()), Some(_)) => problems.push(format!("{} now passes on the engine: remove it from EXCLUDED", case.name)),
            (Err(_), Some(_)) => {}
            (Err(why), None) => problems.push(format!("{} fails on the engine: {why}\n    expr: {}", case.name, case.expr)),
        }
        let fast_excluded = excluded.contains_key(&(case.name.as_str(), Route::Fast));
        let Some([text, value]) = run_fast(case) else {
            if fast_excluded {
                problems.push(format!("{} is excluded on the fast path, which does not compile it: remove it from EXCLUDED", case.name));
            }
            continue;
        };
        n.compiled += 1;
        n.from_text += usize::from(text.is_some());
        n.from_value += usize::from(value.is_some());
        let verdicts: Vec<(&str, Result<(), String>)> = [("text", text), ("value", value)]
            .into_iter()
            .filter_map(|(entry, outcome)| outcome.map(|o| (entry, judge(case, &o))))
            .collect();
        if verdicts.is_empty() {
            if fast_excluded {
                problems
                    .push(format!("{} is excluded on the fast path, which leaves it to the engine: remove it from EXCLUDED", case.name));
            }
            continue;
        }
        n.answered += 1;
        let wrong: Vec<String> =
            verdicts.iter().filter_map(|(entry, v)| v.as_ref().err().map(|why| format!("from {entry}: {why}"))).collect();
        match (wrong.is_empty(), fast_excluded) {
            (true, false) => n.agreed += 1,
            (true, true) => problems.push(format!("{} now passes on the fast path: remove it from EXCLUDED", case.name)),
            (false, true) => {}
            (false, false) => {
                problems.push(format!("{} is wrong on the fast path: {}\n    expr: {}", case.name, wrong.join("; "), case.expr))
            }
        }
    }
    let total = cases.len();
    let on = |route: Route| EXCLUDED.iter().filter(move |(_, r, _)| *r == route);
    let names_on = |route: Route| on(route).map(|(name, _, _)| *name).collect::<Vec<_>>().join(", ");
    let (engine_excluded, fast_excluded) = (on(Route::Engine).count(), on(Route::Fast).count());
    let summary = format!(
        "jsonata conformance: engine {}/{total} passed, {engine_excluded} excluded ({}); \
         fast path: compiled {} of {total}, answered {} (from JSON text {}, from a serde_json::Value {}; \
         the rest fell back to the engine), {} agree, {fast_excluded} excluded ({})",
        n.engine_passed,
        names_on(Route::Engine),
        n.compiled,
        n.answered,
        n.from_text,
        n.from_value,
        n.agreed,
        names_on(Route::Fast),
    );
    let mut details: Vec<String> = EXCLUDED.iter().map(|(name, route, why)| format!("excluded ({route:?}) {name}: {why}")).collect();
    details.push(format!(
        "expected errors on the engine: {} raised with the expected code (U1001: our depth or time limit), {} without a code to compare",
        n.same_code, n.no_code
    ));
    Report { summary, details, problems }
}
