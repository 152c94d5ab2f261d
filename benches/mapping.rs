//! Mapping throughput on a 100-record HubSpot contacts page, with the bundled contacts
//! `list.response` mapping applied to each record. Run: `cargo bench --bench mapping`.
//!
//! Prints pages/s for:
//! - ours, from bytes: parse the page text, map each record, serialize the mapped records;
//! - the npm reference implementation on the same expression, data and bindings (node runs
//!   `bench/mapping.js`; skipped with a message when node or npm is missing);
//! - the ceiling: serde_json parse + serialize of the same page, no mapping at all;
//!
//! and the ratios ours/reference (bar: at least 10) and ours/ceiling (bar: at least 0.5); then,
//! for scale, ours and the reference on the same page with the brief's short example mapping.
//! Rates are per second of CPU time of the measuring process (node's counts all its threads),
//! so that other work on a shared machine moves them less than wall-clock rates.
//!
//! Not a test: it asserts only that both engines print the same records. `BENCH_PROFILE=N` maps
//! N pages with our engine only and exits, for a profiler.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/differential/support.rs"]
mod differential;
mod support;

use serde_json::{json, Value};

// The allocator the `switchyard` binary uses, so the bench measures what the server runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::hint::black_box;
use std::time::{Duration, Instant};
use support::RECORDS;
use switchyard_runtime::mapping::{self, Bindings, EvalOptions, Mapping};
use switchyard_runtime::registry::{Expr, Origin};

/// CPU time this thread has used, in seconds (Linux `/proc/thread-self/schedstat`), so that
/// other processes on a shared machine do not change the numbers much; wall-clock elsewhere.
fn cpu_seconds() -> f64 {
    match std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok()) {
        Some(ns) => ns / 1e9,
        None => {
            static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            START.get_or_init(Instant::now).elapsed().as_secs_f64()
        }
    }
}

/// Runs `f` repeatedly for about `budget` of CPU time (after a short warm-up) and returns calls
/// per CPU second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let warm = cpu_seconds();
    while cpu_seconds() - warm < budget.as_secs_f64() / 5.0 {
        f();
    }
    let start = cpu_seconds();
    let mut n = 0u64;
    while cpu_seconds() - start < budget.as_secs_f64() {
        f();
        n += 1;
    }
    n as f64 / (cpu_seconds() - start)
}

/// Ours from bytes, on the page fast path (`evaluate_page_json_str`): the page text parsed
/// straight into the engine's values, each record mapped with one evaluator, the results
/// written straight to text.
fn ours(mapping: &Mapping, page_text: &str, bindings: &Bindings, options: &EvalOptions) -> String {
    mapping::evaluate_page_json_str(mapping, page_text, &common::example().records, bindings, options).expect("the mapping succeeds")
}

/// Ours from bytes through `serde_json::Value` (`evaluate_each`): what a caller that has already
/// parsed the page does.
fn ours_values(mapping: &Mapping, page_text: &str, bindings: &Bindings, options: &EvalOptions) -> String {
    let mut page: Value = serde_json::from_str(page_text).expect("the page is JSON");
    let Some(Value::Array(records)) = page.get_mut(&common::example().records).map(Value::take) else { panic!("the page has records") };
    let mapped = mapping::evaluate_each(mapping, &records, bindings, options).expect("the mapping succeeds");
    serde_json::to_string(&mapped).unwrap()
}

fn main() {
    let budget = Duration::from_secs_f64(std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0));
    let registry = differential::registry();
    let example = common::example();
    let (source, origin) = differential::list_response(&registry, &example.integration, &example.model, &example.resource);
    let origin: Origin = serde_json::from_value(origin).unwrap();
    let mapping = Mapping::compile(&Expr { source: source.clone(), origin }).expect("the bundled mapping compiles");
    let page = support::contacts_page();
    let page_text = serde_json::to_string(&page).unwrap();
    let query = json!({"include_remote_data": "false"});
    let bindings = Bindings::new()
        .with("query", query.clone())
        .with("params", json!({}))
        .with("connection", json!({}))
        .with("headers", json!({"content-type": "application/json;charset=utf-8"}))
        .with("page", page.clone());
    let options = EvalOptions::default();

    println!(
        "mapping benchmark: {RECORDS}-record {} {} page ({} bytes), bundled {} list.response mapping",
        example.integration,
        example.resource,
        page_text.len(),
        example.resource
    );
    println!("  ({:.1} s per measurement; BENCH_SECONDS changes it)", budget.as_secs_f64());
    println!("  compiled fast path: {}", if mapping.is_compiled() { "yes" } else { "no (jsonata-core for every record)" });

    let our_output = ours(&mapping, &page_text, &bindings, &options);
    if let Some(pages) = std::env::var("BENCH_PROFILE").ok().and_then(|s| s.parse::<usize>().ok()) {
        // For a profiler (valgrind --tool=callgrind): only our side, a fixed number of pages.
        for _ in 0..pages {
            black_box(ours(&mapping, black_box(&page_text), &bindings, &options));
        }
        return;
    }
    let ours_rate = rate(budget, || {
        black_box(ours(&mapping, black_box(&page_text), &bindings, &options));
    });
    println!("  ours (page text -> mapped JSON text):        {ours_rate:>9.1} pages/s  ({:.1} µs/page)", 1e6 / ours_rate);
    assert_eq!(ours_values(&mapping, &page_text, &bindings, &options), our_output, "both paths map alike");
    let values_rate = rate(budget, || {
        black_box(ours_values(&mapping, black_box(&page_text), &bindings, &options));
    });
    println!("  ours via serde_json::Value (evaluate_each):  {values_rate:>9.1} pages/s  ({:.1} µs/page)", 1e6 / values_rate);

    let ceiling_rate = rate(budget, || {
        let value: Value = serde_json::from_str(black_box(&page_text)).unwrap();
        black_box(serde_json::to_string(&value).unwrap());
    });
    println!("  ceiling (serde_json parse + serialize):      {ceiling_rate:>9.1} pages/s  ({:.1} µs/page)", 1e6 / ceiling_rate);

    let reference_rate = reference(&source, &page_text, &bindings, budget, &our_output);
    if let Some(reference) = reference_rate {
        println!(
            "  reference (npm jsonata {}, node):         {reference:>9.1} pages/s  ({:.1} µs/page)",
            differential::JSONATA_VERSION,
            1e6 / reference
        );
    }
    ratios(ours_rate, reference_rate, ceiling_rate);

    // For scale: the same page through the short mapping of the product brief's example
    // (field copies and one array literal, no functions).
    println!("\nsame page, the brief's example mapping (no function calls):");
    let simple_source = simple();
    let simple = Mapping::compile(&Expr { source: simple_source.to_string(), origin: Origin::default() }).unwrap();
    println!("  compiled fast path: {}", if simple.is_compiled() { "yes" } else { "no (jsonata-core for every record)" });
    let simple_output = ours(&simple, &page_text, &bindings, &options);
    let simple_rate = rate(budget, || {
        black_box(ours(&simple, black_box(&page_text), &bindings, &options));
    });
    println!("  ours (page text -> mapped JSON text):        {simple_rate:>9.1} pages/s  ({:.1} µs/page)", 1e6 / simple_rate);
    let simple_reference = reference(simple_source, &page_text, &bindings, budget, &simple_output);
    if let Some(reference) = simple_reference {
        println!(
            "  reference (npm jsonata {}, node):         {reference:>9.1} pages/s  ({:.1} µs/page)",
            differential::JSONATA_VERSION,
            1e6 / reference
        );
    }
    ratios(simple_rate, simple_reference, ceiling_rate);
}

/// The unified mapping sketched in the product brief (`bench.simple_mapping` in
/// tests/examples.json: it reads the example integration's properties).
fn simple() -> &'static str {
    common::example().str("bench.simple_mapping")
}

fn ratios(ours: f64, reference: Option<f64>, ceiling: f64) {
    match reference {
        Some(reference) => println!("  ours / reference: {:>6.2}x   (bar: >= 10x)", ours / reference),
        None => println!("  ours / reference:   n/a"),
    }
    println!("  ours / ceiling:   {:>6.2}    (bar: >= 0.5)", ours / ceiling);
}

/// Spawns node on `bench/mapping.js` with the same expression, page and bindings; checks that
/// it printed the same records as ours.
fn reference(source: &str, page_text: &str, bindings: &Bindings, budget: Duration, our_output: &str) -> Option<f64> {
    let node_path = match differential::reference() {
        Ok(path) => path,
        Err(reason) => {
            println!("  reference: skipped ({reason})");
            return None;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let mapping_file = dir.path().join("mapping.jsonata");
    let page_file = dir.path().join("page.json");
    let bindings_file = dir.path().join("bindings.json");
    std::fs::write(&mapping_file, source).unwrap();
    std::fs::write(&page_file, page_text).unwrap();
    let bound: serde_json::Map<String, Value> = bindings.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    std::fs::write(&bindings_file, serde_json::to_vec(&bound).unwrap()).unwrap();
    let output = std::process::Command::new("node")
        .arg(differential::repo().join("bench/mapping.js"))
        .args([&mapping_file, &page_file])
        .arg(&common::example().records)
        .arg(&bindings_file)
        .arg(budget.as_secs_f64().to_string())
        .env("NODE_PATH", node_path)
        .output()
        .expect("run node");
    assert!(output.status.success(), "bench/mapping.js failed: {}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("bench/mapping.js prints JSON");
    let theirs = report["output"].as_str().unwrap_or_default();
    assert_eq!(theirs, our_output, "the reference mapped the page differently");
    report["pages_per_sec"].as_f64()
}
