//! What every handler shares.

use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult};
use crate::exchange_log::ExchangeLog;
use crate::keys::KeyCache;
use crate::metrics::Metrics;
use crate::refresh::StoreRefresher;
use std::sync::Arc;
use switchyard_runtime::engine::Engine;
use switchyard_store::{Keyring, Store};

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub keyring: Arc<Keyring>,
    pub metrics: Arc<Metrics>,
    pub log: ExchangeLog,
    pub keys: Arc<KeyCache>,
    pub refresher: Arc<StoreRefresher>,
    pub config: Arc<ServerConfig>,
}

impl AppState {
    /// Runs a blocking store operation off the async workers.
    pub async fn db<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, switchyard_store::StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(format!("a database task failed: {e}"))),
        }
    }
}
