//! What only the Postgres store has: its failure behaviour (a stopped database answers
//! `Unavailable` fast, and the same store works again once it is back), timeouts, the first start
//! of several nodes on an empty database, errors of a bad URL or login, text Postgres cannot
//! store, and closing connections from inside a Tokio runtime.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use switchyard_store::postgres::migrations;
use switchyard_store::{NewExchange, PostgresOptions, PostgresStore, Store, StoreError};
use switchyard_testpg::Cluster;

fn open(url: &str) -> PostgresStore {
    PostgresStore::open(url, PostgresOptions::default()).unwrap()
}

fn unavailable<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Err(StoreError::Unavailable(why)) => why,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn exchange(body: &str) -> NewExchange {
    NewExchange {
        integration: "acme_crm".into(),
        method: "GET".into(),
        url: "https://x.example/".into(),
        response_body: Some(body.into()),
        ..Default::default()
    }
}

#[test]
fn a_stopped_database_answers_unavailable_fast_and_the_store_recovers_by_itself() {
    let Some(cluster) = Cluster::dedicated() else { return };
    let db = cluster.create_database();
    let store = open(&db.url);
    let env = store.create_environment("production").unwrap();
    // Several pooled connections, idle when the server goes away.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| store.list_environments().unwrap());
        }
    });

    cluster.stop();
    for round in 0..3 {
        let started = Instant::now();
        let why = unavailable(store.health());
        unavailable(store.get_environment(&env.id));
        unavailable(store.create_environment(&format!("down-{round}")));
        unavailable(store.append_exchange(&env.id, exchange("x"), &[]));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "round {round}: four calls took {took:?} with the database down ({why})");
    }
    // Many callers at once: none hangs.
    let started = Instant::now();
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..16).map(|_| s.spawn(|| store.get_environment(&env.id))).collect();
        for call in calls {
            unavailable(call.join().unwrap());
        }
    });
    assert!(started.elapsed() < Duration::from_secs(3), "16 concurrent calls took {:?}", started.elapsed());

    cluster.start();
    // The same store, not reopened: broken connections are discarded, new ones opened.
    store.health().unwrap();
    assert_eq!(store.get_environment(&env.id).unwrap(), env);
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..16).map(|_| s.spawn(|| store.list_environments())).collect();
        for call in calls {
            assert_eq!(call.join().unwrap().unwrap().len(), 1);
        }
    });
    store.create_environment("after").unwrap();
}

#[test]
fn opening_an_unreachable_database_fails_fast() {
    // A port nobody listens on: refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let why = unavailable(PostgresStore::open(&format!("postgres://u@127.0.0.1:{port}/db?sslmode=disable"), PostgresOptions::default()));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(why.contains("connect"), "{why}");
}

#[test]
fn a_refusal_by_the_server_is_a_database_error_with_its_reason() {
    let Some(cluster) = Cluster::shared() else { return };
    match PostgresStore::open(&cluster.url("no_such_database"), PostgresOptions::default()) {
        Err(e @ StoreError::Postgres(_)) => assert!(e.to_string().contains(r#"database "no_such_database" does not exist"#), "{e}"),
        other => panic!("expected the server's refusal, got {other:?}"),
    }
}

#[test]
fn a_statement_past_its_timeout_is_unavailable_and_the_connection_stays_usable() {
    let Some(db) = switchyard_testpg::database() else { return };
    let options = PostgresOptions { statement_timeout: Duration::from_millis(300), pool_size: 1, ..Default::default() };
    let store = PostgresStore::open(&db.url, options).unwrap();
    let env = store.create_environment("production").unwrap();
    let mut other = ::postgres::Client::connect(&db.url, ::postgres::NoTls).unwrap();
    other.batch_execute("BEGIN; LOCK TABLE exchanges IN ACCESS EXCLUSIVE MODE").unwrap();
    let started = Instant::now();
    let why = unavailable(store.append_exchange(&env.id, exchange("blocked"), &[]));
    assert!(why.contains("statement timeout"), "{why}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    other.batch_execute("COMMIT").unwrap();
    // The pool's only connection was kept and works.
    store.append_exchange(&env.id, exchange("after"), &[]).unwrap();
    assert_eq!(store.list_exchanges(&env.id, None, 10).unwrap().len(), 1);
}

#[test]
fn a_call_that_finds_every_connection_busy_is_unavailable_after_the_checkout_timeout() {
    let Some(db) = switchyard_testpg::database() else { return };
    let options = PostgresOptions { pool_size: 1, checkout_timeout: Duration::from_millis(300), ..Default::default() };
    let store = PostgresStore::open(&db.url, options).unwrap();
    let env = store.create_environment("production").unwrap();
    let mut other = ::postgres::Client::connect(&db.url, ::postgres::NoTls).unwrap();
    other.batch_execute("BEGIN; LOCK TABLE exchanges IN EXCLUSIVE MODE").unwrap();
    std::thread::scope(|s| {
        // Holds the only connection, waiting for the lock.
        let writer = s.spawn(|| store.append_exchange(&env.id, exchange("waits"), &[]));
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let why = unavailable(store.get_environment(&env.id));
        let took = started.elapsed();
        assert!(why.contains("came free"), "{why}");
        assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "{took:?}");
        other.batch_execute("COMMIT").unwrap();
        writer.join().unwrap().unwrap();
    });
    assert_eq!(store.get_environment(&env.id).unwrap(), env);
}

#[test]
fn four_nodes_starting_at_once_on_an_empty_database_all_open_and_migrate_once() {
    let Some(db) = switchyard_testpg::database() else { return };
    let barrier = Barrier::new(4);
    let versions: Vec<i64> = std::thread::scope(|s| {
        let opens: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    open(&db.url).schema_version().unwrap()
                })
            })
            .collect();
        opens.into_iter().map(|o| o.join().unwrap()).collect()
    });
    assert_eq!(versions, vec![migrations::latest(); 4]);
    // Idempotent: reopening applies nothing again.
    drop(open(&db.url));
    let mut client = ::postgres::Client::connect(&db.url, ::postgres::NoTls).unwrap();
    let applied: i64 = client.query_one("SELECT COUNT(*) FROM schema_migrations", &[]).unwrap().get(0);
    assert_eq!(applied, migrations::MIGRATIONS.len() as i64);
}

#[test]
fn text_postgres_cannot_store_is_kept_in_the_log_and_refused_elsewhere() {
    let Some(db) = switchyard_testpg::database() else { return };
    let store = open(&db.url);
    let env = store.create_environment("production").unwrap();
    // An upstream's body with a NUL is logged (the NUL replaced), not lost.
    store.append_exchange(&env.id, exchange("before\0after"), &[]).unwrap();
    assert_eq!(store.list_exchanges(&env.id, None, 1).unwrap()[0].response_body.as_deref(), Some("before\u{FFFD}after"));
    // A name with a NUL is bad input, as a 400 would say, not a server failure.
    assert!(matches!(store.create_environment("bad\0name"), Err(StoreError::Invalid(_))));
    store.health().unwrap();
}

#[test]
fn a_store_dropped_inside_a_tokio_runtime_closes_its_connections_without_panicking() {
    let Some(db) = switchyard_testpg::database() else { return };
    let store = open(&db.url);
    store.health().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async move { drop(store) });
}

#[test]
fn debug_output_names_the_database_not_the_password() {
    let Some(cluster) = Cluster::shared() else { return };
    let db = cluster.create_database();
    let url = db.url.replace("postgres@", "postgres:hunter2@");
    let shown = format!("{:?}", open(&url));
    assert!(shown.contains(&db.name) && !shown.contains("hunter2"), "{shown}");
}
