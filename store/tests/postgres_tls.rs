//! The Postgres store's TLS modes end to end, against throwaway clusters with TLS on
//! (`switchyard_testpg::Cluster::dedicated_tls`: a server certificate for `localhost` and
//! `127.0.0.1` issued by a test CA) and the shared cluster, which has no TLS.
//!
//! Whether a store's connections really use TLS is read on the server: the store's connections
//! carry an `application_name` of the test's own, and `pg_stat_ssl` says for each whether it is
//! encrypted (asked through the cluster's Unix socket, which is not one of them).
//!
//! A refusal for TLS (a certificate that does not verify, TLS required by one side and not
//! offered by the other) will not pass by itself: it is [`StoreError::Postgres`] with the
//! reason, like a wrong password, not [`StoreError::Unavailable`] (which tells callers to retry
//! shortly).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use switchyard_store::{PostgresOptions, PostgresStore, Store, StoreError};
use switchyard_testpg::{Cluster, PlainTcp, TlsFiles};

/// The TLS cluster that also takes plain TCP, shared by this file's tests.
fn tls_cluster() -> Option<&'static (Cluster, TlsFiles)> {
    static CLUSTER: OnceLock<Option<(Cluster, TlsFiles)>> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::dedicated_tls(PlainTcp::Allowed)).as_ref()
}

/// The TLS cluster that refuses TCP connections without TLS.
fn tls_only_cluster() -> Option<&'static (Cluster, TlsFiles)> {
    static CLUSTER: OnceLock<Option<(Cluster, TlsFiles)>> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::dedicated_tls(PlainTcp::Refused)).as_ref()
}

/// A URL to a fresh database of `cluster` at `host` (the name checked against the certificate)
/// with `sslmode`, and the `application_name` that marks the store's connections.
fn new_url(cluster: &Cluster, host: &str, sslmode: &str) -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let db = cluster.create_database();
    let app = format!("tls_test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let url = format!("postgres://postgres@{host}:{}/{}?sslmode={sslmode}&application_name={app}", cluster.port(), db.name);
    (url, app)
}

fn trusting(ca: &std::path::Path) -> PostgresOptions {
    PostgresOptions { ca_file: Some(ca.to_path_buf()), ..Default::default() }
}

/// Opens the store and uses it (a write, a read, the health check).
fn open_and_use(url: &str, options: PostgresOptions) -> PostgresStore {
    let store = PostgresStore::open(url, options).unwrap_or_else(|e| panic!("opening {url}: {e}"));
    let env = store.create_environment("production").unwrap();
    assert_eq!(store.get_environment(&env.id).unwrap(), env);
    store.health().unwrap();
    store
}

/// Whether each connection of `app` to `cluster` uses TLS (one entry per connection; the store
/// keeps at least the one it opened with).
fn tls_of_connections(cluster: &Cluster, app: &str) -> Vec<bool> {
    let mut admin = cluster.client("postgres");
    admin
        .query("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1", &[&app])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The protocol and cipher of the connections of `app` (to say what was used).
fn tls_versions(cluster: &Cluster, app: &str) -> Vec<String> {
    let mut admin = cluster.client("postgres");
    admin
        .query(
            "SELECT s.version || ' ' || s.cipher FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1 AND s.ssl",
            &[&app],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The error of opening a store that must be refused, after checking it is quick (a refusal,
/// not a timeout) and not [`StoreError::Unavailable`].
fn refused(url: &str, options: PostgresOptions) -> StoreError {
    let started = Instant::now();
    let e = match PostgresStore::open(url, options) {
        Ok(_) => panic!("{url} was accepted"),
        Err(e) => e,
    };
    assert!(started.elapsed() < Duration::from_secs(2), "the refusal took {:?}: {e}", started.elapsed());
    assert!(matches!(e, StoreError::Postgres(_)), "a TLS refusal will not pass by itself: expected StoreError::Postgres, got {e:?} ({e})");
    e
}

#[test]
fn require_with_the_test_ca_verifies_the_server_and_every_connection_uses_tls() {
    let Some((cluster, files)) = tls_cluster() else { return };
    // Both names of the certificate: a DNS name and an IP address.
    for host in ["localhost", "127.0.0.1"] {
        for sslmode in ["require", "verify-full", "verify-ca"] {
            let (url, app) = new_url(cluster, host, sslmode);
            let store = open_and_use(&url, trusting(&files.ca_pem));
            // Several connections at once, so the pool opens more than the first.
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| store.list_environments().unwrap());
                }
            });
            let tls = tls_of_connections(cluster, &app);
            assert!(!tls.is_empty() && tls.iter().all(|&t| t), "{host} {sslmode}: connections' TLS: {tls:?}");
            if host == "localhost" && sslmode == "require" {
                eprintln!("{} connections, {:?}", tls.len(), tls_versions(cluster, &app));
            }
        }
    }
}

#[test]
fn require_with_only_the_public_roots_refuses_the_test_certificate() {
    let Some((cluster, _)) = tls_cluster() else { return };
    let (url, _) = new_url(cluster, "localhost", "require");
    let e = refused(&url, PostgresOptions::default());
    let m = e.to_string();
    assert!(m.contains("TLS") && m.contains("certificate") && m.contains("UnknownIssuer"), "{m}");
}

#[test]
fn require_trusting_an_unrelated_ca_refuses_the_server() {
    let Some((cluster, files)) = tls_cluster() else { return };
    let (url, _) = new_url(cluster, "localhost", "require");
    let e = refused(&url, trusting(&files.other_ca_pem));
    let m = e.to_string();
    assert!(m.contains("certificate") && m.contains("UnknownIssuer"), "{m}");
}

#[test]
fn require_refuses_a_certificate_for_another_host_name() {
    let Some((cluster, files)) = tls_cluster() else { return };
    // The server is reached at 127.0.0.1 (hostaddr), but the URL's host, which the certificate
    // must name, is not among its names.
    // verify-ca checks the name too (it means require here).
    for sslmode in ["require", "verify-ca"] {
        let (url, _) = new_url(cluster, "db.not-in-the-certificate.example", sslmode);
        let url = format!("{url}&hostaddr=127.0.0.1");
        let e = refused(&url, trusting(&files.ca_pem));
        let m = e.to_string();
        assert!(m.contains("certificate") && m.contains("not valid for name"), "{sslmode}: {m}");
        assert!(m.contains("db.not-in-the-certificate.example"), "{sslmode}: {m}");
    }
    // The same through the hostaddr, with a name it holds: accepted (so the refusal above was
    // the name's).
    let (url, _) = new_url(cluster, "localhost", "require");
    open_and_use(&format!("{url}&hostaddr=127.0.0.1"), trusting(&files.ca_pem));
}

#[test]
fn prefer_uses_tls_when_the_server_offers_it() {
    let Some((cluster, files)) = tls_cluster() else { return };
    let (url, app) = new_url(cluster, "localhost", "prefer");
    let _store = open_and_use(&url, trusting(&files.ca_pem));
    let tls = tls_of_connections(cluster, &app);
    assert!(!tls.is_empty() && tls.iter().all(|&t| t), "connections' TLS: {tls:?}");
}

#[test]
fn prefer_does_not_fall_back_to_plain_tcp_when_the_certificate_fails() {
    // As documented: once the server accepts TLS, the certificate must verify.
    let Some((cluster, _)) = tls_cluster() else { return };
    let (url, _) = new_url(cluster, "localhost", "prefer");
    let m = refused(&url, PostgresOptions::default()).to_string();
    assert!(m.contains("certificate") && m.contains("UnknownIssuer"), "{m}");
}

#[test]
fn prefer_connects_in_plain_tcp_to_a_server_without_tls() {
    let Some(cluster) = Cluster::shared() else { return };
    let (url, app) = new_url(cluster, "localhost", "prefer");
    let _store = open_and_use(&url, PostgresOptions::default());
    let tls = tls_of_connections(cluster, &app);
    assert!(!tls.is_empty() && tls.iter().all(|&t| !t), "connections' TLS: {tls:?}");
}

#[test]
fn disable_never_uses_tls_even_when_the_server_offers_it() {
    let Some((cluster, files)) = tls_cluster() else { return };
    let (url, app) = new_url(cluster, "localhost", "disable");
    let _store = open_and_use(&url, trusting(&files.ca_pem));
    let tls = tls_of_connections(cluster, &app);
    assert!(!tls.is_empty() && tls.iter().all(|&t| !t), "connections' TLS: {tls:?}");
}

#[test]
fn disable_is_refused_by_a_server_that_requires_tls() {
    let Some((cluster, files)) = tls_only_cluster() else { return };
    let (url, _) = new_url(cluster, "localhost", "disable");
    let m = refused(&url, PostgresOptions::default()).to_string();
    assert!(m.contains("pg_hba.conf") && m.contains("no encryption"), "{m}");
    // The same server with TLS: accepted.
    let (url, app) = new_url(cluster, "localhost", "require");
    let _store = open_and_use(&url, trusting(&files.ca_pem));
    assert!(tls_of_connections(cluster, &app).iter().all(|&t| t));
}

#[test]
fn require_is_refused_by_a_server_without_tls() {
    let Some(cluster) = Cluster::shared() else { return };
    let (url, _) = new_url(cluster, "localhost", "require");
    let m = refused(&url, PostgresOptions::default()).to_string();
    assert!(m.contains("server does not support TLS"), "{m}");
}

#[test]
fn a_connection_that_breaks_during_the_tls_handshake_is_unavailable() {
    // Not a refusal: a server that accepts TLS (answers `S` to the client's SSLRequest) and then
    // drops the connection, as one that crashes or restarts would. A later try may succeed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut socket, _) = listener.accept().unwrap();
        let mut ssl_request = [0u8; 8];
        socket.read_exact(&mut ssl_request).unwrap();
        assert_eq!(ssl_request, [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], "not an SSLRequest");
        socket.write_all(b"S").unwrap();
        // Dropped: the client's ClientHello meets a closed connection.
    });
    let url = format!("postgres://postgres@localhost:{port}/db?sslmode=require");
    let why = match PostgresStore::open(&url, PostgresOptions::default()) {
        Err(StoreError::Unavailable(why)) => why,
        other => panic!("expected Unavailable, got {other:?}"),
    };
    assert!(why.contains("TLS handshake"), "{why}");
    server.join().unwrap();
}
