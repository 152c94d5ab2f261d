//! `switchyard serve` and `switchyard env create`. Settings come from flags, then the
//! environment (`SWITCHYARD_*`), then a config file (`--config`, TOML), then defaults.

use super::{EXIT_OK, EXIT_USAGE};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard_server::{DatabaseUrl, ServerConfig};

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DB: &str = "./switchyard.db";

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SWITCHYARD_LISTEN")]
    pub listen: Option<String>,
    /// Database: an SQLite file path or sqlite:// URL, or postgres://USER:PASSWORD@HOST:PORT/DB
    /// (?sslmode=disable|prefer|require, &sslrootcert=CA.pem) for several nodes sharing one
    /// database [default: ./switchyard.db].
    #[arg(long, env = "SWITCHYARD_DB")]
    pub db: Option<String>,
    /// Postgres: connections in this node's pool [default: 8].
    #[arg(long, env = "SWITCHYARD_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// Postgres: a statement running longer is cancelled and the request answers 503
    /// storage_unavailable [default: 10000].
    #[arg(long, env = "SWITCHYARD_DB_STATEMENT_TIMEOUT_MS", value_name = "MS")]
    pub db_statement_timeout_ms: Option<u64>,
    /// Postgres: how long connecting (or waiting for a free pooled connection) may take before a
    /// request answers 503 storage_unavailable [default: 2000].
    #[arg(long, env = "SWITCHYARD_DB_CONNECT_TIMEOUT_MS", value_name = "MS")]
    pub db_connect_timeout_ms: Option<u64>,
    /// Replace the origin of every URL an integration calls: NAME=ORIGIN (repeatable).
    #[arg(long = "upstream", value_name = "NAME=ORIGIN")]
    pub upstreams: Vec<String>,
    /// The server's URL as browsers reach it (OAuth redirect URI base) [default: http://LISTEN].
    #[arg(long, env = "SWITCHYARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "SWITCHYARD_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Serve a registry artifact written by `switchyard compile` instead of the bundled
    /// integrations.
    #[arg(long, env = "SWITCHYARD_REGISTRY")]
    pub registry: Option<PathBuf>,
    /// Upstream targets that are not public (loopback, private, link-local, cloud metadata) the
    /// server may call all the same, comma-separated (repeatable): `all` (every one but cloud
    /// metadata addresses), host names, addresses, networks (10.0.0.0/8) or origins
    /// (http://HOST:PORT). The --upstream origins are always allowed [default: none].
    #[arg(long, env = "SWITCHYARD_ALLOW_PRIVATE_UPSTREAMS", value_name = "TARGETS")]
    pub allow_private_upstreams: Vec<String>,
    /// Keep at most this many exchange-log entries per environment; the oldest beyond it are
    /// evicted (checked every minute) [default: 100000].
    #[arg(long, env = "SWITCHYARD_LOG_MAX_ENTRIES", value_name = "N")]
    pub log_max_entries: Option<u64>,
    /// Serve Prometheus metrics at ADDR/metrics, without an API key, on a listener of its own
    /// (keep ADDR off the public network); the API listener never serves them [default: not
    /// served].
    #[arg(long, env = "SWITCHYARD_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// At most this many MiB of request bodies over 64 KiB are held in memory at once,
    /// server-wide; a large body beyond it is refused at once with 503 server_busy and
    /// Retry-After [default: 256].
    #[arg(long, env = "SWITCHYARD_BODY_BUDGET_MB", value_name = "MIB")]
    pub body_budget_mb: Option<u64>,
    /// A TOML file with any of: listen, db, db_pool_size, db_statement_timeout_ms,
    /// db_connect_timeout_ms, public_url, log_format, upstream = { NAME = "ORIGIN" },
    /// request_timeout_seconds, refresh_lease_seconds, log_retention_days, log_max_entries,
    /// allow_private_upstreams = ["TARGET", …], metrics_listen, body_budget_mb.
    #[arg(long, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum EnvCommand {
    /// Create an environment and print `{"environment": …, "api_key": …}` (the key is shown once).
    Create {
        name: String,
        /// Database: an SQLite file path or sqlite:// URL, or a postgres:// URL [default:
        /// ./switchyard.db].
        #[arg(long, env = "SWITCHYARD_DB")]
        db: Option<String>,
    },
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    db: Option<String>,
    db_pool_size: Option<u32>,
    db_statement_timeout_ms: Option<u64>,
    db_connect_timeout_ms: Option<u64>,
    public_url: Option<String>,
    log_format: Option<String>,
    #[serde(default)]
    upstream: std::collections::BTreeMap<String, String>,
    request_timeout_seconds: Option<u64>,
    refresh_lease_seconds: Option<u64>,
    log_retention_days: Option<u64>,
    log_max_entries: Option<u64>,
    allow_private_upstreams: Option<Vec<String>>,
    metrics_listen: Option<String>,
    body_budget_mb: Option<u64>,
}

fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}

pub fn env(command: EnvCommand) -> u8 {
    match command {
        EnvCommand::Create { name, db } => {
            let database = match DatabaseUrl::parse(db.as_deref().unwrap_or(DEFAULT_DB)) {
                Ok(d) => d,
                Err(e) => return fail(e),
            };
            match switchyard_server::create_environment(&database, &name) {
                Ok(value) => {
                    println!("{value}");
                    EXIT_OK
                }
                Err(e) => fail(e),
            }
        }
    }
}

fn build_config(args: ServeArgs) -> Result<(ServerConfig, String), String> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let listen_text = args.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listen: SocketAddr =
        listen_text.parse().map_err(|_| format!("--listen `{listen_text}` is not an address such as 127.0.0.1:8080"))?;
    let database = DatabaseUrl::parse(&args.db.or(file.db).unwrap_or_else(|| DEFAULT_DB.to_string()))?;
    let mut config = ServerConfig::new(listen, database);
    config.database_pool.size = args.db_pool_size.or(file.db_pool_size);
    if config.database_pool.size == Some(0) {
        return Err("--db-pool-size must be at least 1".into());
    }
    config.database_pool.statement_timeout = args.db_statement_timeout_ms.or(file.db_statement_timeout_ms).map(Duration::from_millis);
    config.database_pool.connect_timeout = args.db_connect_timeout_ms.or(file.db_connect_timeout_ms).map(Duration::from_millis);
    for (name, origin) in &file.upstream {
        let (name, url) = ServerConfig::parse_upstream(&format!("{name}={origin}"))?;
        config.upstreams.insert(name, url);
    }
    for text in &args.upstreams {
        let (name, url) = ServerConfig::parse_upstream(text)?;
        config.upstreams.insert(name, url);
    }
    let allowed = if args.allow_private_upstreams.is_empty() {
        file.allow_private_upstreams.unwrap_or_default()
    } else {
        args.allow_private_upstreams
    };
    for text in &allowed {
        let list = switchyard_runtime::http::PrivateUpstreams::parse(text).map_err(|e| format!("--allow-private-upstreams: {e}"))?;
        config.allow_private_upstreams.extend(&list);
    }
    if let Some(text) = args.public_url.or(file.public_url) {
        config.public_url = Some(url::Url::parse(&text).map_err(|e| format!("--public-url `{text}`: {e}"))?);
    }
    if let Some(s) = file.request_timeout_seconds {
        config.request_timeout = Duration::from_secs(s.max(1));
    }
    if let Some(s) = file.refresh_lease_seconds {
        config.refresh_lease = Duration::from_secs(s.max(1));
    }
    if let Some(d) = file.log_retention_days {
        config.log_retention = Duration::from_secs(d.max(1) * 86_400);
    }
    if let Some(n) = args.log_max_entries.or(file.log_max_entries) {
        if n == 0 {
            return Err("--log-max-entries must be at least 1".into());
        }
        config.log_max_entries = n;
    }
    if let Some(text) = args.metrics_listen.or(file.metrics_listen) {
        let addr: SocketAddr = text.parse().map_err(|_| format!("--metrics-listen `{text}` is not an address such as 127.0.0.1:9464"))?;
        if addr == listen && addr.port() != 0 {
            return Err(format!("--metrics-listen {addr} is the API's own address; give metrics an address of their own"));
        }
        config.metrics_listen = Some(addr);
    }
    if let Some(mib) = args.body_budget_mb.or(file.body_budget_mb) {
        if mib == 0 {
            return Err("--body-budget-mb must be at least 1".into());
        }
        config.body_budget = mib.saturating_mul(1024 * 1024);
    }
    let log_format = args.log_format.or(file.log_format).unwrap_or_else(|| "text".into());
    if !matches!(log_format.as_str(), "text" | "json") {
        return Err(format!("--log-format `{log_format}`: expected text or json"));
    }
    Ok((config, log_format))
}

pub fn serve(args: ServeArgs) -> u8 {
    let registry_file = args.registry.clone();
    let (config, log_format) = match build_config(args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    init_tracing(&log_format);
    let registry = match registry_file {
        None => Arc::new(crate::bundled::registry()),
        Some(path) => {
            let loaded = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| switchyard_registry::Registry::from_json(&text).map_err(|e| e.to_string()));
            match loaded {
                Ok(registry) => Arc::new(registry),
                Err(e) => return fail(format!("--registry {}: {e}", path.display())),
            }
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(switchyard_server::serve(config, registry)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            1
        }
    }
}

fn init_tracing(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("SWITCHYARD_LOG").or_else(|_| EnvFilter::try_from_default_env()).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "json" { builder.json().try_init() } else { builder.with_ansi(false).try_init() };
}
