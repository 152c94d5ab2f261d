//! Starting and stopping the server, and the one administrative action done outside the API:
//! creating an environment with its first API key.

use crate::config::{DatabaseUrl, PoolSettings, ServerConfig};
use crate::exchange_log::{ExchangeLog, LoggingTransport};
use crate::keys::KeyCache;
use crate::metrics::Metrics;
use crate::refresh::StoreRefresher;
use crate::routes;
use crate::state::AppState;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchyard_registry::Registry;
use switchyard_runtime::engine::{Engine, EngineConfig};
use switchyard_runtime::http::{HttpTransport, TransportLimits};
use switchyard_runtime::pagination::CursorKey;
use switchyard_store::{ApiKey, Keyring, NewApiKey, Store};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error("database: {0}")]
    Store(#[from] switchyard_store::StoreError),
    #[error("secret key: {0}")]
    Crypto(#[from] switchyard_store::CryptoError),
    #[error("{0}")]
    Runtime(String),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: String, error: std::io::Error },
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// Creates an environment and its first API key; the key is in the answer and nowhere else
/// (only its hash is stored).
pub fn create_environment(database: &DatabaseUrl, name: &str) -> Result<Value, ServeError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ServeError::Config(format!("`{name}`: an environment name is 1–64 letters, digits, `-` or `_`")));
    }
    crate::database::off_async(|| {
        let store = crate::database::open(database, &PoolSettings::default())?;
        let environment = store.create_environment(name)?;
        let key = ApiKey::generate();
        store.create_api_key(&environment.id, NewApiKey::of(&key, None))?;
        Ok(json!({ "environment": { "id": environment.id, "name": environment.name }, "api_key": key.expose() }))
    })
}

/// A server started by [`start`]: its address, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    /// The metrics listener's address, when `metrics_listen` was set.
    pub metrics_addr: Option<SocketAddr>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Stops taking connections, finishes the requests in flight and writes the exchanges still
    /// queued.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        self.task.await.map_err(|e| ServeError::Runtime(format!("the server task failed: {e}")))?
    }
}

/// Runs the server until Ctrl-C or SIGTERM, then stops gracefully.
pub async fn serve(config: ServerConfig, registry: Arc<Registry>) -> Result<(), ServeError> {
    let running = start(config, registry, None).await?;
    // Scripts wait for this line on stdout to know the port (with --listen 127.0.0.1:0).
    println!("listening on http://{}", running.addr);
    if let Some(metrics) = running.metrics_addr {
        // A second line (with --metrics-listen 127.0.0.1:0, the metrics port); a reader that
        // closed stdout after the first line must not stop the server.
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "metrics on http://{metrics}/metrics").and_then(|_| std::io::stdout().flush());
    }
    tokio::select! {
        _ = shutdown_signal() => running.stop().await,
        // The server ended on its own (an accept loop error).
        result = wait(&running) => result,
    }
}

async fn wait(running: &Running) -> Result<(), ServeError> {
    while !running.task.is_finished() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(ServeError::Runtime("the server stopped unexpectedly".into()))
}

/// Opens the database, loads the secret key (from `keyring`, else `SWITCHYARD_SECRET_KEY` or the
/// key file beside the database), binds the address and serves in the background.
pub async fn start(config: ServerConfig, registry: Arc<Registry>, keyring: Option<Keyring>) -> Result<Running, ServeError> {
    let store = crate::database::open(&config.database, &config.database_pool)?;
    let keyring = match keyring {
        Some(keyring) => keyring,
        None => {
            let loaded = match &config.database {
                DatabaseUrl::Sqlite(path) => Keyring::load(path)?,
                DatabaseUrl::Postgres(_) => Keyring::load_shared()?,
            };
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            loaded.keyring
        }
    };
    let keyring = Arc::new(keyring);
    let metrics = Arc::new(Metrics::new());
    let (log, writer) = ExchangeLog::start(store.clone(), metrics.clone());

    for name in config.upstreams.keys() {
        if registry.integration(name).is_none() {
            return Err(ServeError::Config(format!("--upstream {name}=…: no integration `{name}` in the registry")));
        }
    }
    let mut engine_config = EngineConfig {
        cursor_key: config.cursor_key.map(CursorKey::new).unwrap_or_else(|| cursor_key(&keyring)),
        request_timeout: config.request_timeout,
        origin_overrides: config.upstreams.clone(),
        allow_private_upstreams: config.allow_private_upstreams.clone(),
        ..EngineConfig::default()
    };
    // Only public addresses, the allow-list and the `--upstream` origins are reached; names are
    // checked by the addresses they resolve to.
    let http =
        HttpTransport::guarded(TransportLimits::default(), engine_config.upstream_access()).map_err(|e| ServeError::Runtime(e.message))?;
    let transport = Arc::new(LoggingTransport::new(Arc::new(http), log.clone(), metrics.clone()));
    let refresher = Arc::new(StoreRefresher::new(store.clone(), keyring.clone(), metrics.clone(), config.refresh_lease));
    if let Some(now) = config.frozen_now {
        engine_config.freeze_clock(now);
    }
    let engine = Arc::new(
        Engine::with_parts(registry.clone(), engine_config, transport, refresher.clone()).map_err(|e| ServeError::Runtime(e.message))?,
    );

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| ServeError::Listen { addr: config.listen.to_string(), error })?;
    let addr = listener.local_addr()?;
    let mut config = config;
    config.listen = addr;
    let state = AppState {
        engine,
        store: store.clone(),
        keyring,
        metrics,
        log: log.clone(),
        keys: Arc::new(KeyCache::new()),
        refresher,
        config: Arc::new(config),
    };
    let pruner =
        tokio::spawn(prune_log(store.clone(), state.config.log_retention, state.config.log_max_entries, state.config.log_prune_interval));
    tracing::info!(listen = %addr, integrations = registry.integrations.len(), database = %state.config.database, "switchyard is serving");
    // `/metrics` on a listener of its own, without an API key, when asked for (never on the API
    // listener).
    let metrics = match state.config.metrics_listen {
        Some(metrics_listen) => {
            let listener = tokio::net::TcpListener::bind(metrics_listen)
                .await
                .map_err(|error| ServeError::Listen { addr: metrics_listen.to_string(), error })?;
            let metrics_addr = listener.local_addr()?;
            tracing::info!(listen = %metrics_addr, "serving /metrics");
            let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
            let app = routes::metrics_router(state.clone());
            let task = tokio::spawn(async move {
                crate::listen::serve(listener, app, async {
                    let _ = metrics_stopped.await;
                })
                .await
            });
            Some((metrics_addr, stop_metrics, task))
        }
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|(addr, _, _)| *addr);
    let app = routes::router(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = crate::listen::serve(listener, app, async {
            let _ = stopped.await;
        })
        .await;
        if let Some((_, stop_metrics, task)) = metrics {
            let _ = stop_metrics.send(());
            let _ = task.await;
        }
        pruner.abort();
        tracing::info!("stopping: writing the queued exchange log");
        let finish = tokio::task::spawn_blocking(move || writer.finish(log));
        let _ = tokio::time::timeout(Duration::from_secs(10), finish).await;
        served.map_err(ServeError::from)
    });
    Ok(Running { addr, metrics_addr, stop, task })
}

/// Cursors must survive a restart and be accepted by every process sharing the database, so the
/// signing key is derived from the secret key rather than drawn at random.
fn cursor_key(keyring: &Keyring) -> CursorKey {
    CursorKey::new(keyring.derive("switchyard cursor signing v1"))
}

/// Keeps the exchange log within its retention and its per-environment cap: every `interval`,
/// entries older than `retention` are deleted, then each environment's oldest entries beyond
/// `max_entries`. The store deletes in batches and releases the write lock between them, so a large
/// prune never holds the writer for long.
async fn prune_log(store: Arc<dyn Store>, retention: Duration, max_entries: u64, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        let store = store.clone();
        let pruned = tokio::task::spawn_blocking(move || -> Result<(usize, usize), switchyard_store::StoreError> {
            Ok((store.prune_exchanges(before)?, store.evict_exchanges(max_entries)?))
        });
        match pruned.await {
            Ok(Ok((0, 0))) => {}
            Ok(Ok((expired, evicted))) => tracing::info!(expired, evicted, "pruned the exchange log"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not prune the exchange log"),
            Err(e) => tracing::warn!(error = %e, "the exchange log pruner failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
