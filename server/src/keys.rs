//! Recently verified API keys, kept in memory so a request does not wait on the database to
//! learn its environment, and never served once revoked.
//!
//! - **This process** evicts a key the moment it revokes or rotates it ([`KeyCache::evict_key`]):
//!   the next request with it is checked against the database and refused.
//! - **Every other process** sharing the database learns of it within [`KeyCache::CHECK_INTERVAL`]:
//!   the store keeps a revocation generation (`Store::api_key_generation`, one row that triggers
//!   bump on every revocation, rotation or deletion of a key, by any process or by hand). The
//!   first request after the interval reads it (one primary-key read, at most once per interval
//!   per process, however many requests there are; the other requests at that moment wait for
//!   that one read); when it moved, the whole cache is dropped and keys are verified again.
//! - A key rotated with an overlap is cached with its revocation time and stops being served at
//!   that time, without any database read.
//!
//! A grant read from the database before the cache was dropped is not cached after it (the
//! `epoch`), so a request racing a revocation cannot put a revoked key back.

use crate::error::{ApiError, ApiResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use switchyard_store::apikey::DISPLAY_PREFIX_LEN;
use switchyard_store::{ApiKeyGrant, ApiKeyHash, ApiKeyInfo, Environment, Store};

/// Verified keys of this process, and what it knows of the database's revocation generation.
pub struct KeyCache {
    state: Mutex<CacheState>,
    /// Held while the generation is read, so one request reads it and the others wait for it.
    check: tokio::sync::Mutex<()>,
    generation_reads: AtomicU64,
}

#[derive(Default)]
struct CacheState {
    entries: HashMap<ApiKeyHash, Entry>,
    /// Bumped whenever entries are dropped: a grant read before cannot be cached after.
    epoch: u64,
    /// The revocation generation last read, and when that read started.
    generation: Option<i64>,
    checked_at: Option<Instant>,
}

struct Entry {
    grant: ApiKeyGrant,
    cached_at: Instant,
    /// When `last_used_at` was last written for this key by this process.
    touched_at: Instant,
}

/// What a lookup found.
enum Lookup {
    Hit(Environment, Option<String>),
    Miss(u64),
}

impl KeyCache {
    /// How often the revocation generation is read (at most): a key revoked by another process
    /// is refused here within this.
    pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
    /// A verified key is verified again after this even when nothing was revoked (a safety net:
    /// revocations are caught by the generation).
    pub const TTL: Duration = Duration::from_secs(300);
    /// `last_used_at` is written at most this often per key and process.
    pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
    const MAX_ENTRIES: usize = 10_000;

    pub fn new() -> KeyCache {
        KeyCache { state: Mutex::new(CacheState::default()), check: tokio::sync::Mutex::new(()), generation_reads: AtomicU64::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times this cache read the revocation generation.
    pub fn generation_reads(&self) -> u64 {
        self.generation_reads.load(Ordering::Relaxed)
    }

    /// The environment of a presented key: from the cache when it was verified since the last
    /// revocation, else from the database (by its hash). An unknown or revoked key is
    /// [`ApiError::not_found`].
    pub async fn authenticate(&self, store: &Arc<dyn Store>, key: &str) -> ApiResult<Environment> {
        let hash = ApiKeyHash::of(key);
        self.check_generation(store).await?;
        let epoch = match self.lookup(&hash) {
            Lookup::Hit(environment, touch) => {
                if let Some(key_id) = touch {
                    touch_later(store, key_id, None);
                }
                return Ok(environment);
            }
            Lookup::Miss(epoch) => epoch,
        };
        let reader = store.clone();
        let grant = tokio::task::spawn_blocking(move || reader.api_key_grant(&hash))
            .await
            .map_err(|e| ApiError::internal(format!("a database task failed: {e}")))??;
        let environment = grant.environment.clone();
        let key_id = grant.key_id.clone();
        // Recorded once per verification, not by every request that raced to verify the key.
        if self.put(hash, grant, epoch) {
            // The key matched its hash: its first characters are its display prefix, stored if
            // the key has none yet (made by `env create`, or before prefixes were kept).
            let prefix = key.get(..DISPLAY_PREFIX_LEN).filter(|p| p.starts_with(switchyard_store::apikey::PREFIX)).map(str::to_owned);
            touch_later(store, key_id, prefix);
        }
        Ok(environment)
    }

    fn lookup(&self, hash: &ApiKeyHash) -> Lookup {
        let mut state = self.lock();
        let epoch = state.epoch;
        let Some(entry) = state.entries.get_mut(hash) else { return Lookup::Miss(epoch) };
        let now = chrono::Utc::now();
        if entry.cached_at.elapsed() >= Self::TTL || entry.grant.revoked_at.is_some_and(|at| at <= now) {
            state.entries.remove(hash);
            return Lookup::Miss(epoch);
        }
        let touch = if entry.touched_at.elapsed() >= Self::TOUCH_INTERVAL {
            entry.touched_at = Instant::now();
            Some(entry.grant.key_id.clone())
        } else {
            None
        };
        Lookup::Hit(entry.grant.environment.clone(), touch)
    }

    /// Caches a grant read from the database, unless entries were dropped since the read began.
    /// Whether it was new (no other request cached it meanwhile).
    fn put(&self, hash: ApiKeyHash, grant: ApiKeyGrant, epoch: u64) -> bool {
        let mut state = self.lock();
        if state.epoch != epoch {
            return false;
        }
        if state.entries.len() >= Self::MAX_ENTRIES {
            state.entries.retain(|_, e| e.cached_at.elapsed() < Self::TTL);
            if state.entries.len() >= Self::MAX_ENTRIES {
                state.entries.clear();
            }
        }
        let now = Instant::now();
        state.entries.insert(hash, Entry { grant, cached_at: now, touched_at: now }).is_none()
    }

    fn check_due(&self) -> bool {
        self.lock().checked_at.is_none_or(|at| at.elapsed() >= Self::CHECK_INTERVAL)
    }

    /// Reads the revocation generation when the last read is [`Self::CHECK_INTERVAL`] old, and
    /// drops every entry when it moved.
    async fn check_generation(&self, store: &Arc<dyn Store>) -> ApiResult<()> {
        if !self.check_due() {
            return Ok(());
        }
        let _one_at_a_time = self.check.lock().await;
        if !self.check_due() {
            // Another request read it while this one waited.
            return Ok(());
        }
        let started = Instant::now();
        let reader = store.clone();
        let generation = tokio::task::spawn_blocking(move || reader.api_key_generation())
            .await
            .map_err(|e| ApiError::internal(format!("a database task failed: {e}")))??;
        self.generation_reads.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        if state.generation != Some(generation) {
            if state.generation.is_some() {
                state.entries.clear();
                state.epoch += 1;
            }
            state.generation = Some(generation);
        }
        // From when the read began: a revocation committed after it is seen by the next read,
        // at most one interval later.
        state.checked_at = Some(started);
        Ok(())
    }

    /// Forgets a key at once (this process revoked or rotated it).
    pub fn evict_key(&self, key_id: &str) {
        let mut state = self.lock();
        state.entries.retain(|_, e| e.grant.key_id != key_id);
        state.epoch += 1;
    }
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::new()
    }
}

/// Records a key's use (and its display prefix, if given) in the background: the request does
/// not wait for the write.
fn touch_later(store: &Arc<dyn Store>, key_id: String, prefix: Option<String>) {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = store.touch_api_key(&key_id, chrono::Utc::now(), prefix.as_deref()) {
            tracing::debug!(error = %e, "could not record an API key's last use");
        }
    });
}

/// A key as listed by the API and the CLI: never the key, never its hash.
pub fn key_view(key: &ApiKeyInfo) -> serde_json::Value {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    serde_json::json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": time(Some(key.created_at)),
        "last_used_at": time(key.last_used_at),
        "revoked_at": time(key.revoked_at),
        "active": key.is_active_at(chrono::Utc::now()),
    })
}

/// A key just created: its view and, this once, the key itself.
pub fn created_view(key: &ApiKeyInfo, secret: &switchyard_store::ApiKey) -> serde_json::Value {
    let mut view = key_view(key);
    view["key"] = serde_json::Value::from(secret.expose());
    view
}

/// The longest overlap a rotation may give the old key.
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// Key management for operators (`switchyard keys …`), on the database directly like
/// `switchyard env create`. The answers are the API's.
pub mod admin {
    use super::{created_view, key_view, MAX_OVERLAP};
    use crate::config::{DatabaseUrl, PoolSettings};
    use crate::server::ServeError;
    use serde_json::Value;
    use std::sync::Arc;
    use std::time::Duration;
    use switchyard_store::{ApiKey, Environment, NewApiKey, Store, StoreError};

    fn open(database: &DatabaseUrl, environment: &str) -> Result<(Arc<dyn Store>, Environment), ServeError> {
        if let DatabaseUrl::Sqlite(path) = database {
            if !path.exists() {
                return Err(ServeError::Config(format!(
                    "no database at {}: start the server or run `switchyard env create` first",
                    path.display()
                )));
            }
        }
        let store = crate::database::open(database, &PoolSettings::default())?;
        let environment = match store.environment_by_name(environment) {
            Ok(environment) => environment,
            Err(StoreError::NotFound(_)) => {
                let known: Vec<String> = store.list_environments()?.into_iter().map(|e| e.name).collect();
                return Err(ServeError::Config(format!(
                    "no environment named `{environment}` in {database}; it has: {}",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                )));
            }
            Err(e) => return Err(e.into()),
        };
        Ok((store, environment))
    }

    /// Every key of the environment, revoked ones included, oldest first.
    pub fn list(database: &DatabaseUrl, environment: &str) -> Result<Value, ServeError> {
        let (store, env) = open(database, environment)?;
        let keys = store.list_api_keys(&env.id)?;
        Ok(serde_json::json!({ "results": keys.iter().map(key_view).collect::<Vec<_>>() }))
    }

    /// A new key; the answer holds it, once.
    pub fn create(database: &DatabaseUrl, environment: &str, name: Option<String>) -> Result<Value, ServeError> {
        let (store, env) = open(database, environment)?;
        let key = ApiKey::generate();
        let info = store.create_api_key(&env.id, NewApiKey::of(&key, name))?;
        Ok(created_view(&info, &key))
    }

    /// Revokes a key now; the last working key only with `force`.
    pub fn revoke(database: &DatabaseUrl, environment: &str, id: &str, force: bool) -> Result<Value, ServeError> {
        let (store, env) = open(database, environment)?;
        Ok(key_view(&store.revoke_api_key_by_id(&env.id, id, force)?))
    }

    /// A new key replacing `id`, which stops working after `overlap` (at once for zero).
    pub fn rotate(database: &DatabaseUrl, environment: &str, id: &str, overlap: Duration) -> Result<Value, ServeError> {
        if overlap > MAX_OVERLAP {
            return Err(ServeError::Config(format!("the overlap is at most {} seconds (7 days)", MAX_OVERLAP.as_secs())));
        }
        let (store, env) = open(database, environment)?;
        let key = ApiKey::generate();
        let (new, old) = store.rotate_api_key(&env.id, id, NewApiKey::of(&key, None), overlap)?;
        let mut view = created_view(&new, &key);
        view["replaced"] = key_view(&old);
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_store::{ApiKey, NewApiKey, SqliteStore};

    fn store() -> (tempfile::TempDir, Arc<dyn Store>, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("switchyard.db")).unwrap();
        let env = store.create_environment("production").unwrap();
        (dir, Arc::new(store), env.id)
    }

    /// The cost of the check: at most one generation read per interval, however many requests;
    /// a cached key costs no database read at all. Prints the measured numbers
    /// (`cargo test -p switchyard-server --lib keys -- --nocapture`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_generation_is_read_at_most_once_a_second_however_many_requests() {
        let (_dir, store, env) = store();
        let key = ApiKey::generate();
        store.create_api_key(&env, NewApiKey::of(&key, None)).unwrap();
        let cache = Arc::new(KeyCache::new());
        cache.authenticate(&store, key.expose()).await.unwrap();

        let started = Instant::now();
        let mut calls = 0u64;
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (cache, store, key) = (cache.clone(), store.clone(), key.expose().to_string());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while started.elapsed() < Duration::from_millis(2500) {
                        cache.authenticate(&store, &key).await.unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for task in tasks {
            calls += task.await.unwrap();
        }
        let elapsed = started.elapsed();
        let reads = cache.generation_reads();
        let per_call = elapsed / calls.max(1) as u32;
        // One read at the start, then at most one per second.
        assert!(reads <= 1 + elapsed.as_secs() + 1, "{reads} generation reads in {elapsed:?} for {calls} calls");
        assert!(calls > 10 * reads, "{calls} calls, {reads} reads");

        // What one generation read costs, measured on its own.
        let timed = 2000;
        let t = Instant::now();
        for _ in 0..timed {
            store.api_key_generation().unwrap();
        }
        let read = t.elapsed() / timed;
        eprintln!(
            "key cache: {calls} authentications by 4 tasks in {elapsed:.2?} ({per_call:.2?} each, wall clock / calls); \
             {reads} generation reads (one read: {read:.2?})"
        );
    }

    #[tokio::test]
    async fn a_revocation_elsewhere_is_seen_within_the_interval_and_an_eviction_at_once() {
        let (dir, store, env) = store();
        let (a, b) = (ApiKey::generate(), ApiKey::generate());
        let ka = store.create_api_key(&env, NewApiKey::of(&a, None)).unwrap();
        let kb = store.create_api_key(&env, NewApiKey::of(&b, None)).unwrap();
        let cache = KeyCache::new();
        cache.authenticate(&store, a.expose()).await.unwrap();
        cache.authenticate(&store, b.expose()).await.unwrap();

        // Revoked through another store (another process): still served until the next check,
        // refused from it on.
        let other = SqliteStore::open(dir.path().join("switchyard.db")).unwrap();
        let revoked_at = Instant::now();
        other.revoke_api_key_by_id(&env, &ka.id, false).unwrap();
        loop {
            match cache.authenticate(&store, a.expose()).await {
                Ok(_) => assert!(revoked_at.elapsed() < KeyCache::CHECK_INTERVAL + Duration::from_millis(100), "served too long"),
                Err(e) => {
                    assert_eq!(e.status, axum::http::StatusCode::NOT_FOUND);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // Revoked here: evicted, refused on the very next request.
        store.revoke_api_key_by_id(&env, &kb.id, true).unwrap();
        cache.evict_key(&kb.id);
        assert!(cache.authenticate(&store, b.expose()).await.is_err());
    }

    #[tokio::test]
    async fn a_key_in_its_overlap_stops_at_its_revocation_time_without_a_read() {
        let (_dir, store, env) = store();
        let old = ApiKey::generate();
        let k = store.create_api_key(&env, NewApiKey::of(&old, None)).unwrap();
        store.rotate_api_key(&env, &k.id, NewApiKey::of(&ApiKey::generate(), None), Duration::from_millis(300)).unwrap();
        let cache = KeyCache::new();
        cache.authenticate(&store, old.expose()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(cache.authenticate(&store, old.expose()).await.is_err());
    }
}
