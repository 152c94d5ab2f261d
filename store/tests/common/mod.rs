#![allow(dead_code)]
//! What the store tests share: a fixture per backend (an SQLite file in a temp dir, or a fresh
//! database on the test process's Postgres), and [`on_both_backends!`], which runs each test body
//! on both: `exchange_log::sqlite::pruning_by_age_runs_in_batches` and
//! `exchange_log::postgres::pruning_by_age_runs_in_batches`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;
use switchyard_store::ids;
use switchyard_store::{
    AccountStatus, Keyring, NewAccount, PostgresOptions, PostgresStore, SealedCredentials, SecretString, SqliteStore, Store,
};
use switchyard_testpg::{Cluster, Database};

/// Turns test bodies `fn name(f: &Fixture)` into `sqlite::name` and `postgres::name` tests. The
/// Postgres ones return early (after the harness says SKIPPED) where Postgres is not installed,
/// and fail under `CI=true`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(&crate::common::Fixture::sqlite())
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let Some(f) = crate::common::Fixture::postgres() else { return };
                    super::$name(&f)
                }
            )*
        }
    };
}

pub enum Backend {
    Sqlite { dir: tempfile::TempDir, path: PathBuf },
    Postgres { db: Database },
}

pub struct Fixture {
    pub backend: Backend,
    pub keyring: Keyring,
}

impl Fixture {
    pub fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.db");
        Fixture { backend: Backend::Sqlite { dir, path }, keyring: Keyring::generate(1) }
    }

    /// A fresh database on the shared cluster; `None` where Postgres is missing (not under CI).
    pub fn postgres() -> Option<Fixture> {
        Some(Fixture { backend: Backend::Postgres { db: switchyard_testpg::database()? }, keyring: Keyring::generate(1) })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    /// A new store on the fixture's database: another process, as far as the database can tell.
    pub fn open(&self) -> Box<dyn Store> {
        match &self.backend {
            Backend::Sqlite { path, .. } => Box::new(SqliteStore::open(path).unwrap()),
            Backend::Postgres { db } => Box::new(PostgresStore::open(&db.url, PostgresOptions::default()).unwrap()),
        }
    }

    /// The SQLite file (panics on Postgres).
    pub fn path(&self) -> &PathBuf {
        match &self.backend {
            Backend::Sqlite { path, .. } => path,
            Backend::Postgres { .. } => panic!("an SQLite-only test ran on Postgres"),
        }
    }

    /// Runs SQL that reads the same on both backends, by hand (outside the store).
    pub fn raw_execute(&self, sql: &str) {
        match &self.backend {
            Backend::Sqlite { path, .. } => {
                rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap();
            }
            Backend::Postgres { db } => pg_client(db).batch_execute(sql).unwrap(),
        }
    }

    /// The single integer a statement that reads the same on both backends answers.
    pub fn raw_i64(&self, sql: &str) -> i64 {
        match &self.backend {
            Backend::Sqlite { path, .. } => rusqlite::Connection::open(path).unwrap().query_row(sql, [], |r| r.get(0)).unwrap(),
            Backend::Postgres { db } => pg_client(db).query_one(sql, &[]).unwrap().get(0),
        }
    }

    /// Deletes an API key by hand, outside the store (by its hash).
    pub fn delete_key_by_hand(&self, hash: &[u8; 32]) {
        match &self.backend {
            Backend::Sqlite { path, .. } => {
                rusqlite::Connection::open(path).unwrap().execute("DELETE FROM api_keys WHERE hash = ?1", [&hash[..]]).unwrap();
            }
            Backend::Postgres { db } => {
                pg_client(db).execute("DELETE FROM api_keys WHERE hash = $1", &[&&hash[..]]).unwrap();
            }
        }
    }

    /// Every file the database's data may be in, with its bytes: the SQLite file and its `-wal`,
    /// `-shm` and `-journal`; for Postgres, after a checkpoint (so nothing is only in memory),
    /// the database's own directory and the write-ahead log.
    pub fn stored_files(&self) -> Vec<(String, Vec<u8>)> {
        match &self.backend {
            Backend::Sqlite { path, .. } => ["", "-wal", "-shm", "-journal"]
                .iter()
                .filter_map(|suffix| {
                    let p = format!("{}{suffix}", path.display());
                    std::fs::read(&p).ok().map(|b| (p, b))
                })
                .collect(),
            Backend::Postgres { db } => {
                let mut client = pg_client(db);
                client.batch_execute("CHECKPOINT").unwrap();
                let oid: u32 = client.query_one("SELECT oid FROM pg_database WHERE datname = current_database()", &[]).unwrap().get(0);
                let data = Cluster::shared().unwrap().data_dir().to_path_buf();
                let mut files = Vec::new();
                for dir in [data.join("base").join(oid.to_string()), data.join("pg_wal")] {
                    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                        if let Ok(bytes) = std::fs::read(entry.path()) {
                            files.push((entry.path().display().to_string(), bytes));
                        }
                    }
                }
                files
            }
        }
    }

    /// The applied schema version, as the backend's store reports it.
    pub fn schema_version(&self) -> i64 {
        match &self.backend {
            Backend::Sqlite { path, .. } => SqliteStore::open(path).unwrap().schema_version().unwrap(),
            Backend::Postgres { db } => PostgresStore::open(&db.url, PostgresOptions::default()).unwrap().schema_version().unwrap(),
        }
    }

    /// Opens a store and returns the error (the store must refuse to open).
    pub fn open_error(&self) -> switchyard_store::StoreError {
        let opened = match &self.backend {
            Backend::Sqlite { path, .. } => SqliteStore::open(path).map(drop),
            Backend::Postgres { db } => PostgresStore::open(&db.url, PostgresOptions::default()).map(drop),
        };
        opened.expect_err("the store opened")
    }
}

fn pg_client(db: &Database) -> postgres::Client {
    postgres::Client::connect(&db.url, postgres::NoTls).unwrap()
}

pub fn creds(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
    pairs.iter().map(|(k, v)| (k.to_string(), SecretString::new(*v))).collect()
}

/// A new OAuth account with the given tokens, sealed for its own id.
pub fn new_account(keyring: &Keyring, integration: &str, external_id: Option<&str>, access: &str, refresh: &str) -> NewAccount {
    let id = ids::account_id();
    let credentials = SealedCredentials::seal(keyring, &id, &creds(&[("access_token", access), ("refresh_token", refresh)])).unwrap();
    NewAccount {
        id,
        integration: integration.into(),
        external_id: external_id.map(str::to_owned),
        connection: json!({ "subdomain": "acme" }),
        credentials,
        expires_at: Some(chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap()),
        status: AccountStatus::Active,
    }
}

pub fn open_creds(keyring: &Keyring, account: &switchyard_store::Account) -> BTreeMap<String, String> {
    account.credentials.open(keyring, &account.id).unwrap().into_iter().map(|(k, v)| (k, v.expose().to_owned())).collect()
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The first of the files that holds `needle`. (A searcher with a prefilter: the Postgres files
/// are tens of megabytes, too many for a byte-by-byte search in a debug build.)
pub fn files_contain(files: &[(String, Vec<u8>)], needle: &str) -> Option<String> {
    let searcher = aho_corasick::AhoCorasick::new([needle]).unwrap();
    files.iter().find(|(_, bytes)| searcher.is_match(bytes.as_slice())).map(|(p, _)| p.clone())
}
