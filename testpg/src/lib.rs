//! Throwaway Postgres servers for Switchyard's tests (a dev-dependency; never shipped).
//!
//! - [`database`]: a fresh, empty database on the test process's shared server, started on
//!   first use. Each test takes its own, so tests stay isolated and run in parallel.
//! - [`Cluster::dedicated`]: a server of the test's own, which it can [`Cluster::stop`] and
//!   [`Cluster::start`] again (same data, same port) to see what clients do while it is down.
//! - [`Cluster::dedicated_tls`]: a dedicated server with TLS on, its certificate issued by a test
//!   CA of its own ([`TlsFiles`]), optionally refusing TCP connections without TLS.
//!
//! The server is Debian's Postgres (`apt-get install postgresql`), found in
//! `/usr/lib/postgresql/*/bin`, through `pg_config --bindir`, or on `PATH`
//! (`SWITCHYARD_PG_BINDIR` overrides). It runs from a temporary directory, listens on 127.0.0.1
//! on a free port with trust authentication (user `postgres`), and trades durability for speed
//! (`fsync = off`). When the test process runs as root (CI does), Postgres runs as the `postgres`
//! system user, since it refuses root.
//!
//! The server dies with the test process: it is started from a thread that lives as long as the
//! cluster, with `PR_SET_PDEATHSIG`, so it gets SIGQUIT when that thread (or the whole process)
//! ends; the directories of test processes that are gone are removed at the next start.
//!
//! Without Postgres, [`database`] and [`Cluster::dedicated`] print
//! `SKIPPED: Postgres tests (…)` to stderr (once per process, past the test harness's capture)
//! and return `None`, so the test returns early; with `CI=true` they panic instead: a machine
//! without Postgres must not pass CI by skipping.
//!
//! ```no_run
//! let Some(db) = switchyard_testpg::database() else { return };
//! let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
//! client.batch_execute("CREATE TABLE t (x INT)").unwrap();
//! ```

mod binaries;
mod server;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use binaries::Binaries;
use server::Server;
pub use tls::{PlainTcp, TlsFiles, TLS_SERVER_NAMES};

/// A database of its own for one test.
#[derive(Clone, Debug)]
pub struct Database {
    /// Its name (unique in the cluster).
    pub name: String,
    /// `postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable`.
    pub url: String,
}

/// A running Postgres server (a "cluster" in Postgres's words) in a temporary directory.
pub struct Cluster {
    server: Server,
}

/// A fresh database on the shared cluster, or `None` (after saying so) without Postgres.
pub fn database() -> Option<Database> {
    Cluster::shared().map(Cluster::create_database)
}

impl Cluster {
    /// The test process's shared cluster, started on first use; `None` without Postgres (see the
    /// crate's documentation). Panics if Postgres is there but does not start (the message has
    /// its log).
    pub fn shared() -> Option<&'static Cluster> {
        static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
        SHARED.get_or_init(|| Binaries::find_or_skip().map(|b| Cluster { server: Server::create(b, "shared") })).as_ref()
    }

    /// A cluster of the caller's own, which it may stop and start; removed when dropped. `None`
    /// without Postgres.
    pub fn dedicated() -> Option<Cluster> {
        Binaries::find_or_skip().map(|b| Cluster { server: Server::create(b, "dedicated") })
    }

    /// Creates a new, empty database and returns it.
    pub fn create_database(&self) -> Database {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("t_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut admin = self.client("postgres");
        // FILE_COPY copies the template's files (fast with fsync off); servers before 15 know
        // only that way and not the clause.
        let fast = admin.batch_execute(&format!("CREATE DATABASE {name} STRATEGY = FILE_COPY"));
        if let Err(e) = fast {
            if e.code() != Some(&postgres::error::SqlState::SYNTAX_ERROR) {
                panic!("CREATE DATABASE {name} failed: {e}");
            }
            admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        }
        Database { url: self.url(&name), name }
    }

    /// The URL of a database of this cluster (as the superuser `postgres`, over TCP without TLS).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable", self.port())
    }

    /// A superuser connection to a database of this cluster, for what a test does by hand. It
    /// goes through the cluster's Unix socket (so it works on a cluster that takes TCP
    /// connections with TLS only, and does not show in `pg_stat_ssl` as a TCP client).
    pub fn client(&self, database: &str) -> postgres::Client {
        postgres::Client::connect(&self.server.socket_conninfo(database), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting to the test cluster's database {database}: {e}"))
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The data directory (to look at the files Postgres writes).
    pub fn data_dir(&self) -> &Path {
        &self.server.data
    }

    /// Stops the server (a fast shutdown: connections are closed) and waits until it is gone.
    pub fn stop(&self) {
        self.server.stop();
    }

    /// Starts the server again on the same data and port, and waits until it accepts
    /// connections.
    pub fn start(&self) {
        self.server.start();
    }
}

/// Where the clusters of this machine's test processes live: one directory per cluster, named
/// after the process, so the next start can remove those of processes that are gone.
fn base_dir() -> PathBuf {
    // Per effective user: a directory made by root is not writable by another user.
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    std::env::temp_dir().join(format!("switchyard-testpg-{euid}"))
}
