//! Benchmark of `check` + `compile`: the bundled set, and generated sets of N providers
//! x 10 resources to show how the time grows. Run: `cargo bench --bench check_compile`.
//! Prints one line per set; not a test (it asserts nothing about time).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};
use switchyard_compiler::project::{self, Options};

const RESOURCES: usize = 10;

fn provider_yaml(name: &str) -> String {
    let mut out = format!(
        r#"name: {name}
label: Provider {name}
base_url: https://{{{{connection.subdomain}}}}.example.com/api/v2
headers:
  Accept: application/json
connection:
  fields:
    subdomain: {{ type: text, required: true, pattern: "[a-z0-9-]+" }}
auth:
  type: oauth2
  authorize_url: https://auth.example.com/authorize
  token_url: https://auth.example.com/token
  scopes: [read, write]
  rotates_refresh_token: true
verify: {{ resource: r0, method: list, query: {{ limit: "1" }} }}
pagination:
  type: cursor
  cursor: {{ from: body, path: meta.next_cursor }}
  request: {{ param: cursor }}
  page_size: {{ param: limit, max: 100 }}
  stop: {{ missing_cursor: true }}
rate_limit:
  limited_when:
    - status: [429]
    - status: [403]
      header: {{ name: x-ratelimit-remaining, equals: "0" }}
  limit: {{ header: x-ratelimit-limit }}
  remaining: {{ header: x-ratelimit-remaining }}
  reset: {{ header: x-ratelimit-reset, unit: epoch_seconds }}
errors:
  mapping: |
    {{ "code": body.error.code, "message": body.error.message }}
resources:
"#
    );
    for r in 0..RESOURCES {
        let _ = write!(
            out,
            r#"  r{r}:
    list: {{ method: GET, path: /r{r}, records: data }}
    get: {{ method: GET, path: "/r{r}/{{{{params.id}}}}", record: data }}
    create: {{ method: POST, path: /r{r} }}
    update: {{ method: PATCH, path: "/r{r}/{{{{params.id}}}}" }}
"#
        );
    }
    out
}

fn unified_yaml() -> String {
    let mut out = String::from("model: bench\nresources:\n");
    for r in 0..RESOURCES {
        let _ = write!(
            out,
            r#"  r{r}:
    list:
      resource: r{r}
      query: |
        {{ "limit": page_size, "cursor": cursor }}
      response: |
        {{
          "id": $string(id),
          "name": $join([first_name, last_name], " "),
          "emails": [emails.{{ "email": value, "type": $lowercase(label) }}],
          "created_at": created_at,
          "custom_fields": $sift($, function($v, $k) {{ $substring($k, 0, 3) = "cf_" }})
        }}
    get:
      resource: r{r}
      response: |
        {{ "id": $string(id), "name": name }}
"#
        );
    }
    out
}

fn generate(dir: &Path, providers: usize) {
    let models = dir.join("schemas/models/bench");
    std::fs::create_dir_all(&models).unwrap();
    for r in 0..RESOURCES {
        std::fs::write(models.join(format!("r{r}.json")), r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"id":{"type":"string"}},"required":["id"]}"#).unwrap();
    }
    let unified = unified_yaml();
    for p in 0..providers {
        let name = format!("p{p:05}");
        let folder = dir.join("integrations").join(&name);
        std::fs::create_dir_all(folder.join("unified")).unwrap();
        std::fs::write(folder.join("integration.yaml"), provider_yaml(&name)).unwrap();
        std::fs::write(folder.join("unified/bench.yaml"), &unified).unwrap();
    }
}

fn time(options: &Options, runs: usize) -> (Duration, usize, usize) {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    let mut integrations = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let outcome = project::check(options).expect("the directory exists");
        assert!(!outcome.has_errors(), "generated set must be valid: {:?}", outcome.diagnostics.items.first());
        let registry = outcome.registry.expect("registry");
        bytes = registry.to_json().len();
        integrations = registry.integrations.len();
        best = best.min(start.elapsed());
    }
    (best, integrations, bytes)
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (t, n, bytes) = time(&Options::new(repo.join("integrations")), 5);
    println!("bundled set: {n} integrations, check+compile {:.1} ms (best of 5), artifact {} KiB", t.as_secs_f64() * 1e3, bytes / 1024);

    let mut previous: Option<(usize, f64)> = None;
    for providers in [100, 250, 500, 1000] {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), providers);
        let (t, n, bytes) = time(&Options::new(dir.path().join("integrations")), 3);
        let secs = t.as_secs_f64();
        let growth =
            previous.map(|(p, s)| format!(", x{:.2} time for x{:.1} providers", secs / s, providers as f64 / p as f64)).unwrap_or_default();
        println!(
            "generated: {n} providers x {RESOURCES} resources ({} files), check+compile {:.3} s (best of 3), {:.2} ms/provider, artifact {:.1} MiB{growth}",
            n * 2,
            secs,
            secs * 1e3 / n as f64,
            bytes as f64 / (1024.0 * 1024.0)
        );
        previous = Some((providers, secs));
    }
}
