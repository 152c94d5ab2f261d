//! The load benchmark with the store on Postgres versus SQLite, and two server nodes on one
//! Postgres database versus one node, in one run.
//! Run: `cargo bench --bench storage_backends` (or `bench/storage.sh [SECONDS]`).
//!
//! - The mock, the server and the load generator are those of `server_load`
//!   (benches/support/load.rs): the example integration's list endpoint answering a 100-record
//!   contacts page on loopback, the built `switchyard serve` set up through its public interface,
//!   keep-alive workers on `GET /v1/unified/{model}/{resource}?account_id=…&page_size=100`.
//! - Postgres is a throwaway cluster of `switchyard_testpg` (Debian's postgresql package;
//!   `fsync`, `synchronous_commit` and `full_page_writes` off), the bench's own, started once and
//!   removed at the end; SQLite is a file in a temporary directory (WAL, `synchronous = NORMAL`,
//!   the store's own settings).
//! - Six runs, each on a fresh database and fresh server processes, each STORAGE_SECONDS (default
//!   10) after STORAGE_WARMUP seconds (default 2): SQLite and Postgres with 1 worker, SQLite and
//!   Postgres with STORAGE_WORKERS workers (default 8); then one node on Postgres with that many
//!   workers, and two nodes on one Postgres database with the workers split evenly between their
//!   addresses (the second node started with the first one's secret key, API key and account:
//!   no `env create` of its own). The runs are STORAGE_PAUSE seconds apart (default 15): on the
//!   2-core development VM, the run right after an SQLite run at 8 workers measured 8 to 20%
//!   slower than the same run elsewhere in the order when they were back to back.
//!
//! Prints requests, errors (non-2xx or transport), req/s, p50 and p99 of each run, the exchange
//! log's dropped counter of each server (the log is written to the database off the request path;
//! a writer that falls behind drops entries), where the CPU went in the measured window (per
//! request: the servers, the Postgres processes, this process's load generator and mock; and how
//! much of the machine other processes took, from /proc), then the rate ratios: Postgres/SQLite
//! at 1 and at N workers (bar: at least 0.90, PASS or MISS) and two nodes / one node (reported,
//! no bar). Not a test: nothing is asserted on timing; it exits 1 only if a request failed or a
//! server could not be set up. Without Postgres on the machine it prints SKIPPED and exits 0. The
//! servers log at `RUST_LOG=warn` unless RUST_LOG is set. `STORAGE_PG_SET="name=value;…"` sets
//! Postgres settings on each database first (`ALTER DATABASE … SET`), to try what a setting
//! would change (e.g. `default_toast_compression=lz4`).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::load::{env_number, verdict, Load, Mock, Outcome, Server, SqliteFile};
use switchyard_testpg::Cluster;

/// The bar of the Postgres/SQLite rate ratio.
const BAR: f64 = 0.90;

fn main() {
    let seconds = Duration::from_secs_f64(env_number("STORAGE_SECONDS", 10.0).max(0.1));
    let warmup = Duration::from_secs_f64(env_number("STORAGE_WARMUP", 2.0).max(0.0));
    let workers = env_number("STORAGE_WORKERS", 8.0).max(2.0) as usize;
    let pause = Duration::from_secs_f64(env_number("STORAGE_PAUSE", 15.0).max(0.0));

    // The cluster and its databases are made here, outside the runtime: the postgres client
    // blocks (it runs a runtime of its own). The cluster is the bench's own, so it is stopped and
    // its directory removed before the process exits. switchyard_testpg panics when Postgres is
    // there but does not start: that is a setup failure (exit 1), not a skip.
    let prepared = std::panic::catch_unwind(|| {
        Cluster::dedicated().map(|cluster| {
            let prepared = postgres_databases(&cluster);
            (cluster, prepared)
        })
    });
    let (cluster, (databases, version, settings)) = match prepared {
        Ok(Some(prepared)) => prepared,
        Ok(None) => {
            println!("storage backends benchmark: SKIPPED (no Postgres on this machine: install Debian's postgresql package)");
            std::process::exit(0);
        }
        Err(_) => {
            println!("storage backends benchmark: the Postgres cluster could not be set up (the panic above says why)");
            std::process::exit(1);
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let code = runtime.block_on(run(&databases, &version, &settings, workers, Timing { seconds, warmup, pause }));
    drop(runtime);
    drop(cluster);
    std::process::exit(code);
}

/// The four Postgres databases, the server's version, and the settings given to the databases.
fn postgres_databases(cluster: &Cluster) -> (Databases, String, String) {
    let version = cluster
        .client("postgres")
        .query_one("SHOW server_version", &[])
        .map(|row| row.get::<_, String>(0))
        .unwrap_or_else(|e| format!("unknown ({e})"));
    // What-if settings for the Postgres databases (`STORAGE_PG_SET="name=value;…"`, e.g.
    // `default_toast_compression=lz4`), set on each with ALTER DATABASE before a server connects.
    let settings: Vec<(String, String)> = std::env::var("STORAGE_PG_SET")
        .unwrap_or_default()
        .split(';')
        .filter(|s| !s.trim().is_empty())
        .map(|s| match s.split_once('=') {
            Some((name, value)) => (name.trim().to_string(), value.trim().to_string()),
            None => panic!("STORAGE_PG_SET: `{s}` is not name=value"),
        })
        .collect();
    let database = || {
        let database = cluster.create_database();
        let mut admin = cluster.client("postgres");
        for (name, value) in &settings {
            let value = value.replace('\'', "''");
            admin
                .batch_execute(&format!("ALTER DATABASE {} SET {name} = '{value}'", database.name))
                .unwrap_or_else(|e| panic!("STORAGE_PG_SET {name}={value}: {e}"));
        }
        database.url
    };
    let databases = Databases { one_worker: database(), many_workers: database(), one_node: database(), two_nodes: database() };
    let settings = settings.iter().map(|(name, value)| format!("{name} = {value}")).collect::<Vec<_>>().join(", ");
    (databases, version, settings)
}

/// A fresh Postgres database for each Postgres run.
struct Databases {
    one_worker: String,
    many_workers: String,
    one_node: String,
    two_nodes: String,
}

/// Where a run keeps its data.
#[derive(Clone, Copy)]
enum Backend<'a> {
    Sqlite,
    Postgres(&'a str),
}

/// What one run measured, or why it could not.
struct Run {
    name: String,
    outcome: Option<Outcome>,
}

/// How long each run measures, after how long a warm-up, and the pause before the next run.
struct Timing {
    seconds: Duration,
    warmup: Duration,
    pause: Duration,
}

async fn run(databases: &Databases, version: &str, settings: &str, workers: usize, timing: Timing) -> i32 {
    let Timing { seconds, warmup, pause } = timing;
    let example = common::example();
    let page = serde_json::to_vec(&support::contacts_page()).expect("the page serializes");
    let mock = Mock::start(example.str("list_path"), page.clone()).await;
    println!(
        "storage backends benchmark: {} {}/{} pages of {} records ({} bytes upstream), keep-alive, {:.1} s after a {:.1} s warm-up each",
        example.integration,
        example.model,
        example.resource,
        support::RECORDS,
        page.len(),
        seconds.as_secs_f64(),
        warmup.as_secs_f64()
    );
    println!("  SQLite: a file in a temporary directory; Postgres {version}: a throwaway local cluster (switchyard_testpg, fsync off)");
    if !settings.is_empty() {
        println!("  Postgres databases set with (STORAGE_PG_SET): {settings}");
    }
    println!(
        "  each run on a fresh database and fresh server processes, {:.0} s apart; load average at the start: {}",
        pause.as_secs_f64(),
        load_average()
    );
    println!(
        "  (STORAGE_SECONDS, STORAGE_WARMUP, STORAGE_WORKERS, STORAGE_PAUSE change them; STORAGE_PG_SET=\"name=value;…\" sets Postgres settings)"
    );
    println!("\n                          requests   errors       req/s    p50 ms    p99 ms");

    let ctx = Context { mock: &mock, example, seconds, warmup, pause };
    let sqlite_1 = ctx.single("sqlite,   1 worker", Backend::Sqlite, 1).await;
    let postgres_1 = ctx.single("postgres, 1 worker", Backend::Postgres(&databases.one_worker), 1).await;
    let sqlite_n = ctx.single(&format!("sqlite,   {workers} workers"), Backend::Sqlite, workers).await;
    let postgres_n = ctx.single(&format!("postgres, {workers} workers"), Backend::Postgres(&databases.many_workers), workers).await;
    let one_node = ctx.single(&format!("pg 1 node,  {workers} workers"), Backend::Postgres(&databases.one_node), workers).await;
    let two_nodes = ctx.two_nodes(&format!("pg 2 nodes, {workers} workers"), &databases.two_nodes, workers).await;

    println!("\n  load average at the end: {}", load_average());
    println!();
    ratio("postgres/sqlite rate, 1 worker", &postgres_1, &sqlite_1, Some(BAR));
    ratio(&format!("postgres/sqlite rate, {workers} workers"), &postgres_n, &sqlite_n, Some(BAR));
    ratio(&format!("two nodes / one node rate, {workers} workers"), &two_nodes, &one_node, None);
    let runs = [&sqlite_1, &postgres_1, &sqlite_n, &postgres_n, &one_node, &two_nodes];
    i32::from(runs.iter().any(|run| run.outcome.as_ref().is_none_or(|o| o.exit_code() != 0)))
}

/// Prints `a`'s rate over `b`'s, judged against `bar` when there is one.
fn ratio(label: &str, a: &Run, b: &Run, bar: Option<f64>) {
    let (Some(x), Some(y)) = (&a.outcome, &b.outcome) else {
        println!("  {label:<38} not measured ({} or {} has no result)", a.name.trim(), b.name.trim());
        return;
    };
    let value = x.rate() / y.rate();
    let p50 = (x.percentile(0.50) - y.percentile(0.50)) * 1e3;
    match bar {
        Some(bar) => println!("  {label:<38} {value:6.3}   (bar: at least {bar:.2})  {}   (p50 {p50:+.3} ms)", verdict(value >= bar)),
        None => println!("  {label:<38} {value:6.3}   (reported, no bar)        (p50 {p50:+.3} ms)"),
    }
}

/// The machine's load average (1, 5 and 15 minutes), from /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

struct Context<'a> {
    mock: &'a Mock,
    example: &'a common::Example,
    seconds: Duration,
    warmup: Duration,
    pause: Duration,
}

impl Context<'_> {
    /// The pause after a run. Back to back on the development VM, the run after an SQLite run at
    /// 8 workers (whose server writes ~35 MB/s to disk) measured 8 to 20% slower than the same
    /// run elsewhere in the order; with 15 s between runs it did not.
    async fn settle(&self) {
        tokio::time::sleep(self.pause).await;
    }

    /// Runs `load`, and reads the CPU time spent from the end of its warm-up to its end.
    async fn measure(&self, load: Load, workers: usize) -> (Outcome, CpuSpent) {
        // `Load::run` starts its workers 50 ms from now and measures after the warm-up.
        let measure_from = tokio::time::Instant::now() + Duration::from_millis(50) + self.warmup;
        let first = tokio::spawn(async move {
            tokio::time::sleep_until(measure_from).await;
            CpuSample::now()
        });
        let outcome = load.run(workers, self.warmup, self.seconds).await;
        let last = CpuSample::now();
        let first = first.await.expect("the CPU sample task");
        (outcome, last.since(&first))
    }

    /// One server on a fresh database, `workers` workers on it.
    async fn single(&self, name: &str, backend: Backend<'_>, workers: usize) -> Run {
        // An SQLite file outlives its server (dropped after it, at the end of this function).
        let sqlite;
        let db = match backend {
            Backend::Postgres(url) => url,
            Backend::Sqlite => match SqliteFile::new() {
                Ok(file) => {
                    sqlite = file;
                    sqlite.path.as_str()
                }
                Err(why) => return not_measured(name, why),
            },
        };
        let calls_before = self.mock.requests.load(Ordering::Relaxed);
        let mut server = match Server::start(self.mock, self.example, db).await {
            Ok(server) => server,
            Err(why) => return not_measured(name, why),
        };
        let before = self.mock.requests.load(Ordering::Relaxed);
        let (outcome, cpu) = self.measure(Load { targets: vec![server.load_target()] }, workers).await;
        let upstream = self.mock.requests.load(Ordering::Relaxed) - before;
        outcome.print(name);
        report_server(&mut server, "").await;
        println!("    (upstream calls, warm-up included: {upstream})");
        cpu.print(outcome.latencies.len());
        drop(server);
        if let Backend::Postgres(url) = backend {
            print_statements(url, self.mock.requests.load(Ordering::Relaxed) - calls_before).await;
        }
        // Every single-node run has another after it (the two-node run is last).
        self.settle().await;
        Run { name: name.to_string(), outcome: Some(outcome) }
    }

    /// Two servers on one fresh Postgres database, the workers split evenly between them.
    async fn two_nodes(&self, name: &str, url: &str, workers: usize) -> Run {
        let calls_before = self.mock.requests.load(Ordering::Relaxed);
        let mut first = match Server::start(self.mock, self.example, url).await {
            Ok(server) => server,
            Err(why) => return not_measured(name, why),
        };
        let mut second = match first.join(self.mock, self.example).await {
            Ok(server) => server,
            Err(why) => return not_measured(name, format!("the second node: {why}")),
        };
        let before = self.mock.requests.load(Ordering::Relaxed);
        let load = Load { targets: vec![first.load_target(), second.load_target()] };
        let (outcome, cpu) = self.measure(load, workers).await;
        let upstream = self.mock.requests.load(Ordering::Relaxed) - before;
        outcome.print(name);
        report_server(&mut first, "node 1: ").await;
        report_server(&mut second, "node 2: ").await;
        println!(
            "    (requests per node: {} ({} workers) and {} ({} workers); upstream calls, warm-up included: {upstream})",
            outcome.by_target[0],
            workers.div_ceil(2),
            outcome.by_target[1],
            workers / 2
        );
        cpu.print(outcome.latencies.len());
        drop((first, second));
        print_statements(url, self.mock.requests.load(Ordering::Relaxed) - calls_before).await;
        Run { name: name.to_string(), outcome: Some(outcome) }
    }
}

/// The server's exchange-log dropped counter, and whether it exited during the run.
async fn report_server(server: &mut Server, label: &str) {
    let dropped = server.exchange_log_dropped().await;
    println!("    ({label}upstream exchanges the log dropped: {dropped})");
    if let Some(reason) = server.exited() {
        println!("    {label}the server exited during the run: {reason}\n{}", server.log_tail());
    }
}

/// The tables whose statistics [`print_statements`] reads, in the order it prints them.
const TABLES: [&str; 6] = ["accounts", "installs", "environments", "api_keys", "api_key_generation", "exchanges"];

/// What the servers asked of a Postgres database, per upstream call (one per list request),
/// from its statistics once the servers are gone (a backend reports its counts when it ends):
/// scans of each table (the foreign-key checks of an insert count too), rows inserted into the
/// exchange log (an exchange still queued when the server is killed is not written),
/// transactions committed (a statement outside a transaction is one).
async fn print_statements(url: &str, calls: u64) {
    let url = url.to_string();
    let counted = tokio::task::spawn_blocking(move || -> Result<String, postgres::Error> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        // The servers' connections end when they are killed; wait for their backends to go.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let row = client
                .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", &[])?;
            if row.get::<_, i64>(0) == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let per_call = |n: i64| n as f64 / calls.max(1) as f64;
        let (mut scans, mut inserted) = (Vec::new(), 0.0);
        for row in client.query(
            "SELECT relname::text, coalesce(idx_scan, 0) + seq_scan, n_tup_ins FROM pg_stat_user_tables \
             WHERE relname::text = ANY($1::text[]) ORDER BY array_position($1::text[], relname::text)",
            &[&&TABLES[..]],
        )? {
            let (table, scanned, rows): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
            if table == "exchanges" {
                inserted = per_call(rows);
            } else {
                scans.push(format!("{table} {:.2}", per_call(scanned)));
            }
        }
        let commits: i64 = client.query_one("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()", &[])?.get(0);
        Ok(format!(
            "scans of {} (foreign-key checks included); {inserted:.2} rows inserted into exchanges; {:.2} transactions committed",
            scans.join(", "),
            per_call(commits)
        ))
    })
    .await;
    match counted {
        Ok(Ok(text)) => println!("    (Postgres, per upstream call, warm-up and setup included: {text})"),
        Ok(Err(e)) => println!("    (Postgres statistics not read: {e})"),
        Err(e) => println!("    (Postgres statistics not read: {e})"),
    }
}

// ---------------------------------------------------------------------------------------
// Where the CPU went: this process (the load generator and the mock), its `switchyard serve`
// children, the Postgres processes it started (the cluster's postmaster and every backend), and
// the machine as a whole (whatever else ran counts as "elsewhere").

/// /proc reports CPU times in USER_HZ, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

struct CpuSample {
    at: Instant,
    bench: u64,
    servers: u64,
    postgres: u64,
    /// Busy ticks of every CPU of the machine (/proc/stat).
    machine: u64,
}

struct CpuSpent {
    seconds: f64,
    bench: f64,
    servers: f64,
    postgres: f64,
    machine: f64,
}

impl CpuSample {
    fn now() -> CpuSample {
        let me = std::process::id();
        let processes = processes();
        let mut sample = CpuSample { at: Instant::now(), bench: 0, servers: 0, postgres: 0, machine: machine_busy() };
        // This process's descendants, by their parent.
        let mut ours = vec![me];
        let mut i = 0;
        while i < ours.len() {
            let parent = ours[i];
            ours.extend(processes.iter().filter(|p| p.parent == parent).map(|p| p.pid));
            i += 1;
        }
        for process in processes.iter().filter(|p| ours.contains(&p.pid)) {
            match process.name.as_str() {
                _ if process.pid == me => sample.bench += process.ticks,
                "switchyard" => sample.servers += process.ticks,
                "postgres" => sample.postgres += process.ticks,
                _ => {}
            }
        }
        sample
    }

    fn since(&self, before: &CpuSample) -> CpuSpent {
        let seconds = |a: u64, b: u64| a.saturating_sub(b) as f64 / TICKS_PER_SECOND;
        CpuSpent {
            seconds: self.at.duration_since(before.at).as_secs_f64(),
            bench: seconds(self.bench, before.bench),
            servers: seconds(self.servers, before.servers),
            postgres: seconds(self.postgres, before.postgres),
            machine: seconds(self.machine, before.machine),
        }
    }
}

impl CpuSpent {
    fn print(&self, requests: usize) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_request = |cpu: f64| if requests == 0 { f64::NAN } else { cpu / requests as f64 * 1e6 };
        let elsewhere = (self.machine - self.bench - self.servers - self.postgres).max(0.0);
        println!(
            "    (CPU per request: server {:.0} µs, postgres {:.0} µs, load generator and mock {:.0} µs; \
             machine {:.2} of {cores} cores busy, {:.2} of them elsewhere)",
            per_request(self.servers),
            per_request(self.postgres),
            per_request(self.bench),
            self.machine / self.seconds,
            elsewhere / self.seconds
        );
    }
}

struct Process {
    pid: u32,
    parent: u32,
    name: String,
    /// User and system time.
    ticks: u64,
}

/// Every process of the machine, from /proc/PID/stat.
fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let text = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `PID (NAME) STATE PPID …`: the name may hold spaces and parentheses.
            let (head, rest) = text.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // After the name: state (3), ppid (4), …, utime (14), stime (15).
            let parent = fields.get(1)?.parse().ok()?;
            let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some(Process { pid, parent, name, ticks })
        })
        .collect()
}

/// Busy ticks of all CPUs: user, nice, system, irq, softirq and steal of /proc/stat's `cpu` line.
fn machine_busy() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else { return 0 };
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum()
}

fn not_measured(name: &str, why: String) -> Run {
    println!("  {name:<22} not measured: {why}");
    Run { name: name.to_string(), outcome: None }
}
