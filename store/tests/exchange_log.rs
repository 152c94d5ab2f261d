//! The exchange log at scale: its page query walks an index (no sort of the environment's log),
//! pages move on with `before` and stop at a byte budget, the size cap evicts the oldest entries
//! of each environment only, pruning deletes in batches, and reads never wait for the writer. On
//! both backends.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::{new_account, Backend, Fixture};
use switchyard_store::{NewExchange, PostgresOptions, PostgresStore, SqliteStore, Store, PRUNE_BATCH};

fn exchange(account: Option<&str>, body: &str) -> NewExchange {
    NewExchange {
        account_id: account.map(str::to_owned),
        integration: "acme_crm".into(),
        method: "GET".into(),
        url: "https://api.acme-crm.example/crm/v3/objects/contacts?limit=1".into(),
        status: Some(200),
        latency: Duration::from_millis(42),
        request_headers: vec![("accept".into(), "application/json".into())],
        request_body: None,
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_body: Some(body.into()),
        error: None,
    }
}

fn bodies(entries: &[switchyard_store::ExchangeEntry]) -> Vec<String> {
    entries.iter().map(|e| e.response_body.clone().unwrap_or_default()).collect()
}

/// Appends `n` entries `{prefix}-0` … `{prefix}-{n-1}` in batches.
fn fill(store: &dyn Store, env: &str, account: Option<&str>, prefix: &str, n: usize) {
    let all: Vec<NewExchange> = (0..n).map(|i| exchange(account, &format!("{prefix}-{i}"))).collect();
    for chunk in all.chunks(1000) {
        store.append_exchanges(env, chunk.to_vec(), &[]).unwrap();
    }
}

fn the_log_page_query_walks_an_index_and_sorts_nothing(f: &Fixture) {
    for with_account in [false, true] {
        match &f.backend {
            Backend::Sqlite { path, .. } => {
                let index = if with_account { "exchanges_environment " } else { "exchanges_environment_id " };
                let text = SqliteStore::open(path).unwrap().exchange_page_plan(with_account).unwrap().join("\n");
                println!("account: {with_account}: {text}");
                assert!(!text.contains("TEMP B-TREE"), "the log page sorts (account: {with_account}):\n{text}");
                assert!(
                    text.contains(&format!("USING INDEX {index}")) || text.contains(&format!("USING COVERING INDEX {index}")),
                    "{text}"
                );
                assert!(text.starts_with("SEARCH exchanges"), "a search, not a scan:\n{text}");
            }
            Backend::Postgres { db } => {
                let store = PostgresStore::open(&db.url, PostgresOptions::default()).unwrap();
                let text = store.exchange_page_plan(with_account).unwrap().join("\n");
                println!("account: {with_account}: {text}");
                assert!(!text.contains("Sort"), "the log page sorts (account: {with_account}):\n{text}");
                // On an empty table either index serves the account's page without a sort; the
                // planner picks by the statistics it will have.
                assert!(text.contains("Index Scan Backward using exchanges_environment"), "{text}");
            }
        }
    }
}

fn pages_move_on_with_before_and_stop_at_the_byte_budget(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let acct = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-1", "rt-1")).unwrap();
    fill(&*store, &env.id, None, "plain", 5);
    fill(&*store, &env.id, Some(&acct.id), "acct", 5);

    let page = |account: Option<&str>, before: Option<i64>, limit: usize, max_bytes: usize| {
        store.list_exchange_page(&env.id, account, before, limit, max_bytes).unwrap()
    };
    let first = page(None, None, 4, usize::MAX);
    assert_eq!(bodies(&first.entries), ["acct-4", "acct-3", "acct-2", "acct-1"]);
    assert_eq!(first.next_before, Some(first.entries[3].id));
    let second = page(None, first.next_before, 4, usize::MAX);
    assert_eq!(bodies(&second.entries), ["acct-0", "plain-4", "plain-3", "plain-2"]);
    let last = page(None, second.next_before, 4, usize::MAX);
    assert_eq!(bodies(&last.entries), ["plain-1", "plain-0"]);
    assert_eq!(last.next_before, None, "nothing older");
    // A full page with nothing older says so too.
    let exact = page(None, second.next_before, 2, usize::MAX);
    assert_eq!((exact.entries.len(), exact.next_before), (2, None));

    let of_account = page(Some(&acct.id), Some(first.entries[1].id), 10, usize::MAX);
    assert_eq!(bodies(&of_account.entries), ["acct-2", "acct-1", "acct-0"]);
    assert_eq!(of_account.next_before, None);
    let of_account = page(Some(&acct.id), None, 3, usize::MAX);
    assert_eq!(bodies(&of_account.entries), ["acct-4", "acct-3", "acct-2"]);
    assert_eq!(of_account.next_before, Some(of_account.entries[2].id));
    assert_eq!(store.list_exchanges(&env.id, Some(&acct.id), 100).unwrap().len(), 5);

    // A byte budget smaller than one entry still returns one (paging always moves on); a larger
    // one stops after the entry that reaches it, and says where to go on.
    let tiny = page(None, None, 10, 1);
    assert_eq!(bodies(&tiny.entries), ["acct-4"]);
    assert_eq!(tiny.next_before, Some(tiny.entries[0].id));
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let p = page(None, before, 10, 700);
        assert!(!p.entries.is_empty() && p.entries.len() < 10, "{} entries", p.entries.len());
        seen.extend(bodies(&p.entries));
        match p.next_before {
            Some(id) => before = Some(id),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10, "every entry once: {seen:?}");
}

fn the_cap_evicts_the_oldest_entries_of_each_environment_only(f: &Fixture) {
    let store = f.open();
    let a = store.create_environment("tenant-a").unwrap();
    let b = store.create_environment("tenant-b").unwrap();
    let c = store.create_environment("tenant-c").unwrap();
    // Interleaved, so the ids of one environment are not contiguous.
    for round in 0..3 {
        fill(&*store, &a.id, None, &format!("a{round}"), 1000);
        fill(&*store, &b.id, None, &format!("b{round}"), 100);
    }
    fill(&*store, &c.id, None, "c", 50);
    let b_before = store.list_exchanges(&b.id, None, 10_000).unwrap();
    let c_before = store.list_exchanges(&c.id, None, 10_000).unwrap();

    // A: 3,000 entries, capped at 1,200 (more than PRUNE_BATCH rows go, so several batches run).
    // B: 300 entries, under the cap. C: 50.
    const { assert!(1800 > PRUNE_BATCH) };
    assert_eq!(store.evict_exchanges(1200).unwrap(), 1800);
    let kept = store.list_exchanges(&a.id, None, 10_000).unwrap();
    assert_eq!(kept.len(), 1200, "the cap is kept");
    // The newest 1,200: all of round 2, and the last 200 of round 1.
    let expected: Vec<String> = (0..1000).rev().map(|i| format!("a2-{i}")).chain((800..1000).rev().map(|i| format!("a1-{i}"))).collect();
    assert_eq!(bodies(&kept), expected, "the oldest went first");
    assert_eq!(store.list_exchanges(&b.id, None, 10_000).unwrap(), b_before, "another environment's log is untouched");
    assert_eq!(store.list_exchanges(&c.id, None, 10_000).unwrap(), c_before);
    assert_eq!(store.evict_exchanges(1200).unwrap(), 0, "nothing more to do");

    // A cap below B's size trims B, oldest first, and leaves A alone.
    assert_eq!(store.evict_exchanges(250).unwrap(), 950 + 50);
    let b_kept = store.list_exchanges(&b.id, None, 10_000).unwrap();
    assert_eq!(b_kept, b_before[..250].to_vec());
    assert_eq!(bodies(&store.list_exchanges(&a.id, None, 1).unwrap()), ["a2-999"]);
    assert_eq!(store.list_exchanges(&c.id, None, 10_000).unwrap(), c_before);
}

fn pruning_by_age_runs_in_batches(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    fill(&*store, &env.id, None, "old", PRUNE_BATCH * 2 + 7);
    assert_eq!(store.prune_exchanges(chrono::Utc::now() - chrono::Duration::hours(1)).unwrap(), 0);
    assert_eq!(store.prune_exchanges(chrono::Utc::now() + chrono::Duration::seconds(1)).unwrap(), PRUNE_BATCH * 2 + 7);
    assert!(store.list_exchanges(&env.id, None, 10).unwrap().is_empty());
}

/// A write stuck behind another process's lock holds one of the store's connections (SQLite: its
/// one writer, waiting for the write lock; Postgres: a connection waiting for a table lock that
/// blocks inserts into the log); reads go on.
fn reads_never_wait_for_the_writer(f: &Fixture) {
    let store: Box<dyn Store> = match &f.backend {
        Backend::Sqlite { path, .. } => Box::new(SqliteStore::open_with(path, Duration::from_secs(3)).unwrap()),
        Backend::Postgres { .. } => f.open(),
    };
    let env = store.create_environment("production").unwrap();
    let acct = store.create_account(&env.id, new_account(&f.keyring, "acme_crm", None, "at-1", "rt-1")).unwrap();
    fill(&*store, &env.id, Some(&acct.id), "x", 10);

    // Another process takes the lock and keeps it.
    let lock = WriteLock::take(f);
    std::thread::scope(|s| {
        let writer = s.spawn(|| store.append_exchange(&env.id, exchange(None, "late"), &[]));
        std::thread::sleep(Duration::from_millis(200)); // the writer is now waiting
        let started = Instant::now();
        assert_eq!(store.get_account(&env.id, &acct.id).unwrap().id, acct.id);
        assert_eq!(store.list_exchanges(&env.id, None, 100).unwrap().len(), 10);
        assert_eq!(store.list_environments().unwrap().len(), 1);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(1), "reads waited for the writer: {took:?}");
        assert!(!writer.is_finished(), "the write did not wait for the lock");
        drop(lock);
        writer.join().unwrap().unwrap();
    });
    assert_eq!(bodies(&store.list_exchanges(&env.id, None, 1).unwrap()), ["late"], "a read sees the last commit");
}

/// A lock held by another process that keeps the store from writing to the log, not from
/// reading it; released when dropped.
enum WriteLock {
    Sqlite(rusqlite::Connection),
    Postgres(::postgres::Client),
}

impl WriteLock {
    fn take(f: &Fixture) -> WriteLock {
        match &f.backend {
            Backend::Sqlite { path, .. } => {
                let other = rusqlite::Connection::open(path).unwrap();
                other.execute_batch("BEGIN IMMEDIATE").unwrap();
                WriteLock::Sqlite(other)
            }
            Backend::Postgres { db } => {
                let mut other = ::postgres::Client::connect(&db.url, ::postgres::NoTls).unwrap();
                // EXCLUSIVE blocks inserts (ROW EXCLUSIVE) and lets reads (ACCESS SHARE) through.
                other.batch_execute("BEGIN; LOCK TABLE exchanges IN EXCLUSIVE MODE").unwrap();
                WriteLock::Postgres(other)
            }
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        match self {
            WriteLock::Sqlite(c) => c.execute_batch("COMMIT").unwrap(),
            WriteLock::Postgres(c) => c.batch_execute("COMMIT").unwrap(),
        }
    }
}

fn a_batch_is_written_whole_or_not_at_all(f: &Fixture) {
    let store = f.open();
    let env = store.create_environment("production").unwrap();
    let batch = vec![exchange(None, "one"), exchange(Some("no-such-account"), "two")];
    assert!(store.append_exchanges(&env.id, batch, &[]).is_err());
    assert!(store.list_exchanges(&env.id, None, 10).unwrap().is_empty());
    let ids = store.append_exchanges(&env.id, vec![exchange(None, "one"), exchange(None, "two: tok-SECRET-2")], &["tok-SECRET-2"]).unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);
    assert_eq!(bodies(&store.list_exchanges(&env.id, None, 10).unwrap()), ["two: [REDACTED]", "one"]);
}

on_both_backends!(
    the_log_page_query_walks_an_index_and_sorts_nothing,
    pages_move_on_with_before_and_stop_at_the_byte_budget,
    the_cap_evicts_the_oldest_entries_of_each_environment_only,
    pruning_by_age_runs_in_batches,
    reads_never_wait_for_the_writer,
    a_batch_is_written_whole_or_not_at_all,
);
