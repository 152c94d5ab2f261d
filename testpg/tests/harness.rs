//! The harness itself: databases are fresh and separate, a dedicated cluster stops and starts.

use std::time::Instant;

use switchyard_testpg::{database, Cluster};

#[test]
fn each_database_is_fresh_and_separate() {
    let Some(a) = database() else { return };
    let Some(b) = database() else { return };
    assert_ne!(a.name, b.name);
    let mut ca = postgres::Client::connect(&a.url, postgres::NoTls).unwrap();
    ca.batch_execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (1)").unwrap();
    let mut cb = postgres::Client::connect(&b.url, postgres::NoTls).unwrap();
    assert!(cb.query("SELECT * FROM t", &[]).is_err(), "database b sees a's table");
    let user: String = ca.query_one("SELECT current_user", &[]).unwrap().get(0);
    assert_eq!(user, "postgres");
}

#[test]
fn a_dedicated_cluster_stops_and_starts_on_the_same_data_and_port() {
    let Some(cluster) = Cluster::dedicated() else { return };
    let db = cluster.create_database();
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client.batch_execute("CREATE TABLE kept (x INT); INSERT INTO kept VALUES (42)").unwrap();
    let port = cluster.port();
    let t = Instant::now();
    cluster.stop();
    eprintln!("stopped in {:?}", t.elapsed());
    assert!(client.query("SELECT 1", &[]).is_err(), "a connection survived the stop");
    assert!(postgres::Client::connect(&db.url, postgres::NoTls).is_err());
    let t = Instant::now();
    cluster.start();
    eprintln!("started in {:?}", t.elapsed());
    assert_eq!(cluster.port(), port);
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let x: i32 = client.query_one("SELECT x FROM kept", &[]).unwrap().get(0);
    assert_eq!(x, 42);
    let dir = cluster.data_dir().parent().unwrap().to_path_buf();
    drop(client);
    drop(cluster);
    assert!(!dir.exists(), "a dedicated cluster's directory outlived it");
}

#[test]
fn a_tls_cluster_serves_tls_with_its_key_private_and_can_refuse_plain_tcp() {
    use std::os::unix::fs::PermissionsExt;
    use switchyard_testpg::PlainTcp;

    let Some((open, files)) = Cluster::dedicated_tls(PlainTcp::Allowed) else { return };
    let Some((strict, _)) = Cluster::dedicated_tls(PlainTcp::Refused) else { return };
    for cluster in [&open, &strict] {
        let ssl: String = cluster.client("postgres").query_one("SHOW ssl", &[]).unwrap().get(0);
        assert_eq!(ssl, "on");
        let key = std::fs::metadata(cluster.data_dir().join("server.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
        cluster.create_database();
    }
    for pem in [&files.ca_pem, &files.other_ca_pem] {
        let text = std::fs::read_to_string(pem).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{}", pem.display());
    }
    assert_ne!(std::fs::read(&files.ca_pem).unwrap(), std::fs::read(&files.other_ca_pem).unwrap());
    // Plain TCP: taken by one, refused by the other.
    postgres::Client::connect(&open.url("postgres"), postgres::NoTls).unwrap();
    let e = postgres::Client::connect(&strict.url("postgres"), postgres::NoTls).err().expect("plain TCP was accepted");
    let reason = format!("{e:?}");
    assert!(reason.contains("no encryption"), "{reason}");
}
