//! What the server runs with. The command line fills it from flags, the environment and a file;
//! this module only says what each setting means (the database URL is `crate::database`'s).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use url::Url;

pub use crate::database::{DatabaseUrl, PoolSettings};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The default cap of the exchange log, per environment: at the ~2.2 KB an entry of a typical
/// JSON page takes in the database file, about 220 MB per environment (docs/server.md).
pub const DEFAULT_LOG_MAX_ENTRIES: u64 = 100_000;
/// The pruner runs this often: between two runs an environment can exceed the cap by what it
/// logs in that time.
pub const DEFAULT_LOG_PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// The default body budget: request bodies over 64 KiB held in memory at once, server-wide
/// (eight of the largest bodies, 32 MiB each). See [`ServerConfig::body_budget`].
pub const DEFAULT_BODY_BUDGET: u64 = 256 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub database: DatabaseUrl,
    /// The Postgres connection pool (ignored with SQLite).
    pub database_pool: PoolSettings,
    /// Replaces the origin of every URL an integration calls (API and OAuth alike).
    pub upstreams: HashMap<String, Url>,
    /// Upstream targets that are not public (loopback, private, link-local, cloud metadata)
    /// the server may call all the same (`--allow-private-upstreams`). Empty by default; the
    /// origins of `upstreams` are always allowed.
    pub allow_private_upstreams: switchyard_runtime::http::PrivateUpstreams,
    /// The server's address as browsers reach it: the OAuth redirect URI is
    /// `{public_url}/v1/connect/callback`. Defaults to `http://{listen}`.
    pub public_url: Option<Url>,
    /// How long a refresh lease is held before another process may take it over.
    pub refresh_lease: Duration,
    pub request_timeout: Duration,
    /// Exchanges older than this are pruned from the log.
    pub log_retention: Duration,
    /// At most this many exchange-log entries are kept per environment: the pruner evicts the
    /// oldest beyond it (see [`DEFAULT_LOG_MAX_ENTRIES`]).
    pub log_max_entries: u64,
    /// How often the pruner enforces the retention and the cap.
    pub log_prune_interval: Duration,
    /// Stops the server's clock at this instant: token expiry, rate-limit resets and the
    /// mappings' `$now()` read it. For fixture replay through the server, never for serving.
    pub frozen_now: Option<SystemTime>,
    /// Signs list cursors with this key instead of one derived from the secret key: fixture
    /// replay's fixed key, so the server's cursors are the snapshots'.
    pub cursor_key: Option<[u8; 32]>,
    /// A second listener that serves `/metrics` without an API key (`--metrics-listen`); the
    /// API listener never serves it. `None`: metrics are not served.
    pub metrics_listen: Option<SocketAddr>,
    /// At most this many bytes of request bodies over 64 KiB are buffered at once, server-wide
    /// (`--body-budget-mb`): a large body beyond it is refused at once with 503 `server_busy`
    /// and `Retry-After`; a body larger than the whole budget with 413.
    pub body_budget: u64,
}

impl ServerConfig {
    pub fn new(listen: SocketAddr, database: DatabaseUrl) -> ServerConfig {
        ServerConfig {
            listen,
            database,
            database_pool: PoolSettings::default(),
            upstreams: HashMap::new(),
            allow_private_upstreams: Default::default(),
            public_url: None,
            refresh_lease: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            log_retention: Duration::from_secs(7 * 24 * 3600),
            log_max_entries: DEFAULT_LOG_MAX_ENTRIES,
            log_prune_interval: DEFAULT_LOG_PRUNE_INTERVAL,
            frozen_now: None,
            cursor_key: None,
            metrics_listen: None,
            body_budget: DEFAULT_BODY_BUDGET,
        }
    }

    /// `NAME=ORIGIN` as given to `--upstream`: only an origin (scheme, host, port) is accepted, since
    /// paths of the definition's URLs are kept.
    pub fn parse_upstream(text: &str) -> Result<(String, Url), String> {
        let (name, origin) =
            text.split_once('=').ok_or_else(|| format!("`{text}`: expected NAME=ORIGIN, e.g. crm=http://127.0.0.1:9100"))?;
        let url = Url::parse(origin.trim()).map_err(|e| format!("`{origin}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("`{origin}`: expected an origin like http://127.0.0.1:9100"));
        }
        if url.path() != "/" || url.query().is_some() {
            return Err(format!("`{origin}`: give only scheme://host:port; the definition's paths are kept"));
        }
        Ok((name.trim().to_string(), url))
    }

    pub fn redirect_uri(&self) -> String {
        let base = match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        };
        format!("{base}/v1/connect/callback")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_origins() {
        let (name, url) = ServerConfig::parse_upstream("crm=http://127.0.0.1:9100").unwrap();
        assert_eq!((name.as_str(), url.as_str()), ("crm", "http://127.0.0.1:9100/"));
        assert!(ServerConfig::parse_upstream("crm").is_err());
        assert!(ServerConfig::parse_upstream("crm=http://h/path").is_err());
        assert!(ServerConfig::parse_upstream("crm=ftp://h").is_err());
    }
}
