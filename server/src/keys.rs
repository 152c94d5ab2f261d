//! Recently verified API keys, kept in memory so a request does not wait on the database to
//! learn its environment.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchyard_store::{ApiKeyHash, Environment};

/// Recently verified keys, so a request does not wait on the database to learn its environment.
/// A revoked key keeps working for at most [`KeyCache::TTL`] in a process that saw it.
pub struct KeyCache {
    entries: Mutex<HashMap<ApiKeyHash, (Environment, Instant)>>,
}

impl KeyCache {
    pub const TTL: Duration = Duration::from_secs(10);
    const MAX_ENTRIES: usize = 10_000;

    pub fn new() -> KeyCache {
        KeyCache { entries: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn get(&self, hash: &ApiKeyHash) -> Option<Environment> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(hash).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(env, _)| env.clone())
    }

    pub(crate) fn put(&self, hash: ApiKeyHash, environment: Environment) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < Self::TTL);
        }
        entries.insert(hash, (environment, Instant::now()));
    }
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::new()
    }
}
