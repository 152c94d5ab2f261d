//! Which database the server keeps its rows in, and opening it: an SQLite file (the default, one
//! machine) or Postgres (several nodes sharing one database).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchyard_store::{PostgresOptions, PostgresStore, SqliteStore, Store};

use crate::server::ServeError;

/// Where the server keeps its rows (`--db`, `SWITCHYARD_DB`).
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (`./switchyard.db`, `sqlite://path`, `sqlite:///abs/path`).
    Sqlite(PathBuf),
    /// A Postgres database (`postgres://user:password@host:port/db?sslmode=require`).
    Postgres(PostgresUrl),
}

/// A Postgres connection URL. Shown (`Debug`, `Display`, logs) with its password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    /// The URL as given, minus `sslrootcert` (read into `ca_file`: the driver does not take it).
    url: String,
    /// `sslrootcert=PATH`: a CA certificate (PEM) trusted besides the public roots.
    ca_file: Option<PathBuf>,
}

impl PostgresUrl {
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL with its password replaced by `***`.
    pub fn masked(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut parsed) if parsed.password().is_some() => {
                let _ = parsed.set_password(Some("***"));
                parsed.to_string()
            }
            Ok(parsed) => parsed.to_string(),
            Err(_) => "postgres://(unparsable URL)".to_string(),
        }
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresUrl({})", self.masked())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            DatabaseUrl::Postgres(url) => url.fmt(f),
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&url.masked()),
        }
    }
}

impl DatabaseUrl {
    /// Parses `--db`: a bare path, a `sqlite:` URL or a `postgres://` (`postgresql://`) URL.
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the database URL is empty; give a file path such as ./switchyard.db or a postgres:// URL".into());
        }
        if let Some(rest) = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")) {
            let path = rest.split('?').next().unwrap_or(rest);
            if path.is_empty() {
                return Err(format!("`{text}` names no file; write sqlite://./switchyard.db"));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return parse_postgres(text).map(DatabaseUrl::Postgres);
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!("unknown database scheme `{scheme}`; use a file path, sqlite://PATH or postgres://USER@HOST/DB"));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(text)))
    }
}

fn parse_postgres(text: &str) -> Result<PostgresUrl, String> {
    let mut url =
        url::Url::parse(text).map_err(|e| format!("the Postgres URL is not a URL ({e}); write postgres://USER:PASSWORD@HOST:PORT/DB"))?;
    if url.path().trim_start_matches('/').is_empty() {
        return Err("the Postgres URL names no database; write postgres://USER@HOST:PORT/DB".into());
    }
    let mut ca_file = None;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter_map(|(key, value)| {
            if key == "sslrootcert" {
                ca_file = Some(PathBuf::from(value.as_ref()));
                None
            } else {
                Some((key.into_owned(), value.into_owned()))
            }
        })
        .collect();
    if let Some((key, value)) = kept
        .iter()
        .find(|(key, value)| key == "sslmode" && !matches!(value.as_str(), "disable" | "prefer" | "require" | "verify-ca" | "verify-full"))
    {
        return Err(format!(
            "{key}={value}: use sslmode=disable, prefer or require (require verifies the server's certificate, as verify-full)"
        ));
    }
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(&kept);
    }
    Ok(PostgresUrl { url: url.to_string(), ca_file })
}

/// The Postgres connection pool (`--db-pool-size`, `--db-statement-timeout-ms`,
/// `--db-connect-timeout-ms`); `None` takes the store's default. Not used with SQLite.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolSettings {
    pub size: Option<u32>,
    pub statement_timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
}

/// Runs `work` (store calls) where a blocking call may run: on this thread, or on a thread of its
/// own when this one may be driving async tasks. `PostgresStore` drives each connection with a
/// small runtime of its own, which cannot start on a thread that runs a Tokio runtime's tasks;
/// the server calls the store from `spawn_blocking`, and its synchronous entry points (environment
/// creation, key management, opening the store) go through this, so they work from async code too.
pub fn off_async<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return work();
    }
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Opens (creating or migrating) the database.
pub fn open(database: &DatabaseUrl, pool: &PoolSettings) -> Result<Arc<dyn Store>, ServeError> {
    off_async(|| open_here(database, pool))
}

fn open_here(database: &DatabaseUrl, pool: &PoolSettings) -> Result<Arc<dyn Store>, ServeError> {
    match database {
        DatabaseUrl::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                if !parent.exists() {
                    return Err(ServeError::Config(format!("the database directory {} does not exist", parent.display())));
                }
            }
            Ok(Arc::new(SqliteStore::open(path)?))
        }
        DatabaseUrl::Postgres(url) => {
            let mut options = PostgresOptions { ca_file: url.ca_file.clone(), ..PostgresOptions::default() };
            if let Some(size) = pool.size {
                options.pool_size = size as usize;
            }
            if let Some(timeout) = pool.statement_timeout {
                options.statement_timeout = timeout;
            }
            if let Some(timeout) = pool.connect_timeout {
                options.connect_timeout = timeout;
                options.checkout_timeout = timeout;
            }
            Ok(Arc::new(PostgresStore::open(url.as_str(), options)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(DatabaseUrl::parse("./x.db").unwrap(), DatabaseUrl::Sqlite("./x.db".into()));
        assert_eq!(DatabaseUrl::parse("sqlite://./x.db").unwrap(), DatabaseUrl::Sqlite("./x.db".into()));
        assert_eq!(DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap(), DatabaseUrl::Sqlite("/tmp/x.db".into()));
        assert!(DatabaseUrl::parse("mysql://h/db").unwrap_err().contains("unknown database scheme"));
        assert!(DatabaseUrl::parse("").is_err());
        assert!(DatabaseUrl::parse("postgres://u@h").unwrap_err().contains("names no database"));
        assert!(DatabaseUrl::parse("postgres://u@h/db?sslmode=allow").unwrap_err().contains("sslmode"));
    }

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        let url =
            DatabaseUrl::parse("postgresql://app:s3cr%2Ft@db.internal:5432/switchyard?sslmode=require&sslrootcert=/etc/ca.pem").unwrap();
        let DatabaseUrl::Postgres(postgres) = &url else { panic!("{url:?}") };
        assert_eq!(postgres.ca_file.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        assert_eq!(postgres.as_str(), "postgresql://app:s3cr%2Ft@db.internal:5432/switchyard?sslmode=require");
        for shown in [url.to_string(), format!("{url:?}")] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("app:***@db.internal:5432/switchyard"), "{shown}");
        }
    }
}
