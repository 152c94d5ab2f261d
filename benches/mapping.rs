//! Mapping throughput on a 100-record contacts page of the example integration, with the
//! bundled contacts `list.response` mapping applied to each record, through the function the
//! server's list route calls. Run: `cargo bench --bench mapping`.
//!
//! What the server runs: `GET /v1/unified/{model}/{resource}` → `Engine::list` →
//! `Engine::page_text` (engine/page_text.rs: a structural scan of the page's text that finds
//! the records array and each record's span) → `Engine::eval_each_json_text` →
//! [`mapping::evaluate_each_json_text`]`(mapping, page_text, spans, bindings, options)`: each
//! record's text parsed straight into the fast path's values, the results written as one JSON
//! array, a record mapped to nothing left out, a page of 32 records or more mapped in two
//! halves at once while a core is idle. The bench runs the same two steps on the page's text
//! (`PageText::read`, then that function on the records' spans), with the bindings the list
//! route gives (`params`, `query`, `connection`, `headers`; no `$page`: the text path is taken
//! only for a mapping that does not read it).
//!
//! Not included: what `Engine::list` does around the mapping (the request, classification and
//! pagination reading the rest of the page, the last record parsed again for pagination).
//!
//! Prints pages/s for:
//! - ours, from the page's text (above);
//! - ours, the page parsed whole (the list route's fallback when the text path does not apply:
//!   serde_json parse of the page, then `mapping::evaluate_each_json` on its records);
//! - the ceiling: serde_json parse + serialize of the same page, no mapping at all;
//! - the npm reference implementation on the same expression, data and bindings (node runs
//!   `bench/mapping.js`: parse the page text, map each record, leave out records mapped to
//!   nothing, serialize; skipped with a message when node or npm is missing);
//!
//! and the ratios ours/reference (bar: at least 10) and ours/ceiling (bar: at least 0.5); then,
//! for scale, ours and the reference on the same page with the brief's short example mapping.
//! Rates are per second of CPU time of the whole measuring process, every thread counted (ours
//! maps half the page on a helper thread; node's count includes its own threads), so that the
//! split does not inflate ours and other work on a shared machine moves the numbers less than
//! it would wall-clock rates. Ours also prints its wall-clock time per page.
//!
//! Not a test: it asserts only that both engines print the same records. `BENCH_PROFILE=N` maps
//! N pages with our engine only and exits, for a profiler.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/differential/support.rs"]
mod differential;
mod support;

use serde_json::{json, Value};
use std::hint::black_box;
use std::time::{Duration, Instant};
use support::RECORDS;
use switchyard_registry::{Expr, Origin};
use switchyard_runtime::engine::PageText;
use switchyard_runtime::mapping::{self, Bindings, EvalOptions, Mapping};

// The allocator the `switchyard` binary uses, so the bench measures what the server runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time of this process, every thread (Linux: the sum of `/proc/self/task/*/schedstat`, in
/// nanoseconds), so that other processes on a shared machine do not change the numbers much
/// and the helper thread's half of a page counts; wall-clock elsewhere.
fn cpu_seconds() -> f64 {
    let threads = std::fs::read_dir("/proc/self/task").ok().map(|dir| {
        dir.filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .sum::<f64>()
    });
    match threads {
        Some(ns) if ns > 0.0 => ns / 1e9,
        _ => {
            static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
            START.get_or_init(Instant::now).elapsed().as_secs_f64()
        }
    }
}

/// A rate: calls per CPU second, and wall-clock seconds per call.
struct Rate {
    per_cpu_second: f64,
    wall_per_call: f64,
}

/// Runs `f` repeatedly for about `budget` of CPU time (after a short warm-up). The clock is
/// read between batches of calls (each batch at least 10 ms), not around every call.
fn rate(budget: Duration, mut f: impl FnMut()) -> Rate {
    let warm = cpu_seconds();
    while cpu_seconds() - warm < budget.as_secs_f64() / 5.0 {
        f();
    }
    let (start, wall) = (cpu_seconds(), Instant::now());
    let (mut n, mut batch) = (0u64, 1u64);
    loop {
        let before = cpu_seconds();
        for _ in 0..batch {
            f();
        }
        n += batch;
        let now = cpu_seconds();
        if now - start >= budget.as_secs_f64() {
            return Rate { per_cpu_second: n as f64 / (now - start), wall_per_call: wall.elapsed().as_secs_f64() / n as f64 };
        }
        if now - before < 0.01 {
            batch *= 2;
        }
    }
}

/// Ours as the list route maps a page read from its text (`Engine::list`): the scan that finds
/// the records and parses the rest of the page (`PageText::read`), then
/// `mapping::evaluate_each_json_text` on the records' spans.
fn ours(mapping: &Mapping, page_text: &str, records: &[String], bindings: &Bindings, options: &EvalOptions) -> String {
    let page = PageText::read(page_text, records).expect("the scan reads the page");
    mapping::evaluate_each_json_text(mapping, page.text, page.record_spans(), bindings, options)
        .expect("the mapping succeeds")
        .expect("every record is JSON")
}

/// Ours as the list route maps a page it parses whole (when the text path does not apply):
/// serde_json parse, then `mapping::evaluate_each_json` on the records.
fn ours_parsed(mapping: &Mapping, page_text: &str, bindings: &Bindings, options: &EvalOptions) -> String {
    let page: Value = serde_json::from_str(page_text).expect("the page is JSON");
    let Some(Value::Array(records)) = page.get(&common::example().records) else { panic!("the page has records") };
    mapping::evaluate_each_json(mapping, records, bindings, options).expect("the mapping succeeds")
}

fn print_rate(label: &str, rate: &Rate) {
    println!(
        "  {label:<52} {:>9.1} pages/s  ({:.1} µs CPU/page, {:.1} µs wall/page)",
        rate.per_cpu_second,
        1e6 / rate.per_cpu_second,
        1e6 * rate.wall_per_call
    );
}

fn main() {
    let budget = Duration::from_secs_f64(std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0));
    let registry = differential::registry();
    let example = common::example();
    let (source, origin) = differential::list_response(&registry, &example.integration, &example.model, &example.resource);
    let origin: Origin = serde_json::from_value(origin).unwrap();
    let mapping = Mapping::compile(&Expr { source: source.clone(), origin }).expect("the bundled mapping compiles");
    assert!(!mapping.mentions("page"), "the bundled mapping reads $page: the list route would parse the page whole");
    let page = support::contacts_page();
    let page_text = serde_json::to_string(&page).unwrap();
    let records = vec![example.records.clone()];
    // The bindings the list route gives a `response` mapping (Engine::map_records).
    let bindings = Bindings::new()
        .with("query", json!({"include_remote_data": "false"}))
        .with("params", json!({}))
        .with("connection", json!({}))
        .with("headers", json!({"content-type": "application/json;charset=utf-8"}));
    // What `EngineConfig::default()` evaluates with.
    let options = EvalOptions::default();

    println!(
        "mapping benchmark: {RECORDS}-record {} {} page ({} bytes), bundled {} list.response mapping",
        example.integration,
        example.resource,
        page_text.len(),
        example.resource
    );
    println!("  ({:.1} s of CPU per measurement; BENCH_SECONDS changes it)", budget.as_secs_f64());
    println!("  compiled fast path: {}", if mapping.is_compiled() { "yes" } else { "no (jsonata-core for every record)" });
    println!("  ours = what the list route runs on a page's text: PageText::read (the scan that finds the records,");
    println!("         the rest of the page parsed) then mapping::evaluate_each_json_text on the records' spans");
    println!("  rates per CPU second of the whole process (ours maps half a page on a second core)");

    let our_output = ours(&mapping, &page_text, &records, &bindings, &options);
    if let Some(pages) = std::env::var("BENCH_PROFILE").ok().and_then(|s| s.parse::<usize>().ok()) {
        // For a profiler (valgrind --tool=callgrind): only our side, a fixed number of pages.
        for _ in 0..pages {
            black_box(ours(&mapping, black_box(&page_text), &records, &bindings, &options));
        }
        return;
    }
    let ours_rate = rate(budget, || {
        black_box(ours(&mapping, black_box(&page_text), &records, &bindings, &options));
    });
    print_rate("ours (records' text -> mapped JSON text):", &ours_rate);
    assert_eq!(ours_parsed(&mapping, &page_text, &bindings, &options), our_output, "both paths map alike");
    let parsed_rate = rate(budget, || {
        black_box(ours_parsed(&mapping, black_box(&page_text), &bindings, &options));
    });
    print_rate("ours, page parsed whole (serde_json + evaluate_each_json):", &parsed_rate);

    let ceiling_rate = rate(budget, || {
        let value: Value = serde_json::from_str(black_box(&page_text)).unwrap();
        black_box(serde_json::to_string(&value).unwrap());
    });
    print_rate("ceiling (serde_json parse + serialize):", &ceiling_rate);

    let reference_rate = reference(&source, &page_text, &bindings, budget, &our_output);
    if let Some(reference) = reference_rate {
        println!(
            "  {:<52} {reference:>9.1} pages/s  ({:.1} µs CPU/page)",
            format!("reference (npm jsonata {}, node):", differential::JSONATA_VERSION),
            1e6 / reference
        );
    }
    ratios(ours_rate.per_cpu_second, reference_rate, ceiling_rate.per_cpu_second);

    // For scale: the same page through the short mapping of the product brief's example
    // (field copies and one array literal, no functions).
    println!("\nsame page, the brief's example mapping (no function calls):");
    let simple_source = simple();
    let simple = Mapping::compile(&Expr { source: simple_source.to_string(), origin: Origin::default() }).unwrap();
    println!("  compiled fast path: {}", if simple.is_compiled() { "yes" } else { "no (jsonata-core for every record)" });
    let simple_output = ours(&simple, &page_text, &records, &bindings, &options);
    let simple_rate = rate(budget, || {
        black_box(ours(&simple, black_box(&page_text), &records, &bindings, &options));
    });
    print_rate("ours (records' text -> mapped JSON text):", &simple_rate);
    let simple_reference = reference(simple_source, &page_text, &bindings, budget, &simple_output);
    if let Some(reference) = simple_reference {
        println!(
            "  {:<52} {reference:>9.1} pages/s  ({:.1} µs CPU/page)",
            format!("reference (npm jsonata {}, node):", differential::JSONATA_VERSION),
            1e6 / reference
        );
    }
    ratios(simple_rate.per_cpu_second, simple_reference, ceiling_rate.per_cpu_second);
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
