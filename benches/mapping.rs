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
mod support;

use serde_json::{json, Value};
use std::hint::black_box;
use std::time::{Duration, Instant};
use switchyard_runtime::mapping::{self, Bindings, EvalOptions, Mapping};
use switchyard_runtime::registry::{Expr, Origin};

const RECORDS: usize = 100;

/// A deterministic pseudo-random generator (xorshift), so every run maps the same page.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A list page of the example integration's contacts (tests/examples.json) as its list
/// endpoint returns it with `limit=100` and the mapped properties requested: every property a
/// string, unset ones `null` or `""`, a few custom and provider-internal properties. Property
/// names and the paging block come from `bench` in tests/examples.json.
fn contacts_page() -> Value {
    let example = common::example();
    let names = example.get("bench.properties");
    let name = |role: &str| -> String {
        names[role].as_str().unwrap_or_else(|| panic!("tests/examples.json: no bench property for `{role}`")).to_string()
    };
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let first = ["Ada", "Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Émilie", "Hedy", "Claude", "Radia"];
    let last =
        ["Lovelace", "Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "du Châtelet", "Lamarr", "Shannon", "Perlman"];
    let titles = ["Analyst", "Engineer", "VP Sales", "", "Head of Operations", "CTO"];
    let cities = [
        ("London", "United Kingdom", "N1 9GU"),
        ("Paris", "France", "75002"),
        ("Boston", "United States", "02110"),
        ("Berlin", "Germany", "10115"),
    ];
    let mut results = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let id = (51 + i * 7).to_string();
        let (f, l) = (rng.pick(&first), rng.pick(&last));
        let email = format!("{}.{}@example.com", f.to_lowercase(), l.to_lowercase().replace(' ', ""));
        let (city, country, zip) = cities[(rng.next() % cities.len() as u64) as usize];
        let created =
            format!("2024-0{}-{:02}T{:02}:{:02}:07.517Z", 1 + rng.next() % 5, 1 + rng.next() % 28, rng.next() % 24, rng.next() % 60);
        let updated = format!("2024-06-{:02}T09:00:00.000Z", 1 + rng.next() % 28);
        let opt = |rng: &mut Rng, value: String| {
            if rng.chance(70) {
                json!(value)
            } else if rng.chance(50) {
                json!("")
            } else {
                Value::Null
            }
        };
        let mut properties = serde_json::Map::new();
        properties.insert(name("created"), json!(created));
        properties.insert(name("email"), json!(email));
        properties.insert(name("first_name"), json!(f));
        properties.insert(name("last_name"), json!(l));
        properties.insert(name("job_title"), json!(rng.pick(&titles)));
        properties.insert(name("phone"), opt(&mut rng, format!("+1 555 01{:02}", i % 100)));
        properties.insert(name("mobile_phone"), opt(&mut rng, format!("+44 7700 900{:03}", i)));
        properties.insert(name("fax"), if rng.chance(10) { json!("+1 555 0199") } else { Value::Null });
        properties.insert(name("address"), opt(&mut rng, format!("{} Engine Rd", 1 + i)));
        properties.insert(name("city"), json!(city));
        properties.insert(name("state"), Value::Null);
        properties.insert(name("zip"), json!(zip));
        properties.insert(name("country"), json!(country));
        properties.insert(
            name("additional_emails"),
            if rng.chance(30) {
                json!(format!("{}@personal.example;{}.{}@old.example", f.to_lowercase(), f.to_lowercase(), i))
            } else {
                Value::Null
            },
        );
        properties.insert(name("owner_id"), opt(&mut rng, format!("7361622{}", i % 5)));
        properties.insert(name("company_id"), opt(&mut rng, format!("90{:02}", i % 40)));
        properties.insert(name("last_activity"), opt(&mut rng, updated.clone()));
        properties.insert(name("updated"), json!(updated));
        properties.insert(name("object_id"), json!(id));
        properties.insert(name("source"), json!(rng.pick(&["ORGANIC_SEARCH", "DIRECT_TRAFFIC", "OFFLINE"])));
        properties.insert("seats".into(), json!((rng.next() % 50).to_string()));
        properties.insert("loyalty_tier".into(), json!(rng.pick(&["Gold", "Silver", "Bronze", ""])));
        results.push(json!({
            "id": id,
            "properties": properties,
            "createdAt": created,
            "updatedAt": updated,
            "archived": false
        }));
    }
    let mut page = serde_json::Map::new();
    page.insert(example.records.clone(), Value::Array(results));
    page.extend(example.get("bench.paging").as_object().expect("bench.paging is an object").clone());
    Value::Object(page)
}

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
    let registry = support::registry();
    let example = common::example();
    let (source, origin) = support::list_response(&registry, &example.integration, &example.model, &example.resource);
    let origin: Origin = serde_json::from_value(origin).unwrap();
    let mapping = Mapping::compile(&Expr { source: source.clone(), origin }).expect("the bundled mapping compiles");
    let page = contacts_page();
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
            support::JSONATA_VERSION,
            1e6 / reference
        );
    }
    ratios(ours_rate, reference_rate, ceiling_rate);

    // For scale: the same page through the short mapping of the product brief's example
    // (field copies and one array literal, no functions).
    println!("\nsame page, the brief's example mapping (no function calls):");
    let simple_source = simple();
    let simple = Mapping::compile(&Expr { source: simple_source.to_string(), origin: Origin::default() }).unwrap();
    let simple_output = ours(&simple, &page_text, &bindings, &options);
    let simple_rate = rate(budget, || {
        black_box(ours(&simple, black_box(&page_text), &bindings, &options));
    });
    println!("  ours (page text -> mapped JSON text):        {simple_rate:>9.1} pages/s  ({:.1} µs/page)", 1e6 / simple_rate);
    let simple_reference = reference(simple_source, &page_text, &bindings, budget, &simple_output);
    if let Some(reference) = simple_reference {
        println!(
            "  reference (npm jsonata {}, node):         {reference:>9.1} pages/s  ({:.1} µs/page)",
            support::JSONATA_VERSION,
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
    let node_path = match support::reference() {
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
        .arg(support::repo().join("bench/mapping.js"))
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
