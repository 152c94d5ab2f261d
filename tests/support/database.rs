//! The database a test server runs on. The server tests run twice in CI: on SQLite (a file in the
//! test's temporary directory; the default) and, with `SWITCHYARD_TEST_DB=postgres`, on a fresh
//! database of the test process's throwaway Postgres (`switchyard_testpg`). A test says which
//! database it wants only when it must (e.g. a multi-node test needs Postgres).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchyard_server::database::off_async;
use switchyard_server::DatabaseUrl;
use switchyard_store::{PostgresOptions, PostgresStore, SqliteStore, Store};

/// Which backend `SWITCHYARD_TEST_DB` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `SWITCHYARD_TEST_DB`: `postgres` or `sqlite` (the default).
    pub fn chosen() -> Backend {
        match std::env::var("SWITCHYARD_TEST_DB").as_deref().map(str::trim) {
            Ok("postgres") => Backend::Postgres,
            Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("SWITCHYARD_TEST_DB={other}: expected sqlite or postgres"),
        }
    }
}

#[derive(Clone, Debug)]
pub enum TestDatabase {
    Sqlite(PathBuf),
    /// A database of its own on the shared throwaway Postgres.
    Postgres(String),
}

impl TestDatabase {
    /// A new, empty database on the chosen backend; an SQLite one is `dir/switchyard.db`.
    pub fn create(dir: &Path) -> TestDatabase {
        match Backend::chosen() {
            Backend::Sqlite => TestDatabase::Sqlite(dir.join("switchyard.db")),
            Backend::Postgres => TestDatabase::postgres()
                .expect("SWITCHYARD_TEST_DB=postgres, but this machine has no Postgres (install Debian's postgresql package)"),
        }
    }

    /// A new database on the throwaway Postgres, whatever `SWITCHYARD_TEST_DB` says; `None`
    /// (after `switchyard_testpg` printed SKIPPED) without Postgres, except under `CI=true`.
    pub fn postgres() -> Option<TestDatabase> {
        off_async(|| switchyard_testpg::database().map(|db| TestDatabase::Postgres(db.url)))
    }

    pub fn url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.arg()).expect("a test database URL parses")
    }

    /// What `switchyard serve --db` and `switchyard keys --db` are given.
    pub fn arg(&self) -> String {
        match self {
            TestDatabase::Sqlite(path) => path.display().to_string(),
            TestDatabase::Postgres(url) => url.clone(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDatabase::Postgres(_))
    }

    /// The store on its own connection(s), as another process would have it. Call it (and the
    /// store) off async threads: in `spawn_blocking` or `off_async`.
    pub fn open(&self) -> Arc<dyn Store> {
        off_async(|| self.open_here())
    }

    fn open_here(&self) -> Arc<dyn Store> {
        match self {
            TestDatabase::Sqlite(path) => Arc::new(SqliteStore::open(path).expect("the SQLite database opens")),
            TestDatabase::Postgres(url) => {
                Arc::new(PostgresStore::open(url, PostgresOptions::default()).expect("the Postgres database opens"))
            }
        }
    }

    /// Everything the database keeps, as bytes to search for plaintext secrets: an SQLite file
    /// and its WAL as they are on disk; every row of every table of a Postgres database in its
    /// text form (what a dump or a stolen backup holds).
    pub fn contents(&self) -> Vec<u8> {
        off_async(|| self.contents_here())
    }

    fn contents_here(&self) -> Vec<u8> {
        match self {
            TestDatabase::Sqlite(path) => {
                let mut bytes = std::fs::read(path).unwrap_or_default();
                for suffix in ["-wal", "-shm", "-journal"] {
                    let mut side = path.clone().into_os_string();
                    side.push(suffix);
                    bytes.extend(std::fs::read(side).unwrap_or_default());
                }
                bytes
            }
            TestDatabase::Postgres(url) => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect to the test database");
                let tables: Vec<String> = client
                    .query("SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()", &[])
                    .expect("list the tables")
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                let mut bytes = Vec::new();
                for table in tables {
                    let quoted = format!("\"{}\"", table.replace('"', "\"\""));
                    for row in client.query(&format!("SELECT t::text FROM {quoted} t"), &[]).expect("read a table") {
                        let text: String = row.get(0);
                        bytes.extend_from_slice(text.as_bytes());
                        bytes.push(b'\n');
                    }
                    // The text form shows `bytea` in hex: its raw bytes too, as they are stored.
                    let binary: Vec<String> = client
                        .query(
                            "SELECT column_name::text FROM information_schema.columns \
                             WHERE table_schema = current_schema() AND table_name = $1 AND data_type = 'bytea'",
                            &[&table],
                        )
                        .expect("list a table's columns")
                        .iter()
                        .map(|row| row.get(0))
                        .collect();
                    for column in binary {
                        let column = format!("\"{}\"", column.replace('"', "\"\""));
                        let query = format!("SELECT {column} FROM {quoted} WHERE {column} IS NOT NULL");
                        for row in client.query(&query, &[]).expect("read a binary column") {
                            let value: Vec<u8> = row.get(0);
                            bytes.extend_from_slice(&value);
                            bytes.push(b'\n');
                        }
                    }
                }
                bytes
            }
        }
    }

    /// Asserts that no needle is anywhere in [`TestDatabase::contents`].
    pub fn assert_holds_none<S: AsRef<str>>(&self, needles: &[S]) {
        let bytes = self.contents();
        assert!(!bytes.is_empty(), "the database {} holds nothing to search", self.arg());
        for needle in needles {
            let needle = needle.as_ref().as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "the database {} holds `{}` in plain text",
                self.arg(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}
