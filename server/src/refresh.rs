//! Token refresh that is safe with many requests and several server processes on one database.
//!
//! 1. Single flight in the process: requests for one account queue on its gate, so only the first
//!    refreshes and the others find its result.
//! 2. A lease in the database with a fencing token, for the other processes: whoever holds it
//!    refreshes; the others wait and re-read, for at most [`LEASE_WAIT`]: then the request
//!    answers 503 `refresh_in_progress` with `Retry-After` (a holder killed mid-refresh leaves
//!    its lease until it lapses).
//! 3. The credentials are re-read when the lease is taken: another process may have refreshed (and
//!    a rotating provider may have retired the refresh token we hold) in between.
//! 4. The new tokens are stored (fenced on the lease) before anything uses them: a rotated refresh
//!    token is never lost, and the old one is never sent again.
//! 5. `invalid_grant` marks the account `needs_reauth`; it is not refreshed again until someone
//!    gives it new credentials.
//! 6. A failure is redacted before anything keeps it: the token endpoint's words may repeat the
//!    refresh token, the client secret or a new token (`last_error`, `status_reason`, the
//!    tracing line and the error returned all get the redacted text).

use crate::accounts::{self, secret_connection_fields, secrets_of, to_runtime};
use crate::exchange_log::{account_secrets, learn_secrets, redact_error};
use crate::metrics::Metrics;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use switchyard_registry::Auth;
use switchyard_runtime::account::Account;
use switchyard_runtime::engine::{merge_tokens, Engine};
use switchyard_runtime::engine::{RefreshFuture, RefreshReason, Refreshed, TokenRefresher};
use switchyard_runtime::error::{ErrorKind, RuntimeError};
use switchyard_store::{AccountPatch, AccountStatus, Keyring, LeaseOutcome, Store, StoreError};

/// How often a waiter re-reads an account another process is refreshing.
const POLL: Duration = Duration::from_millis(25);

/// How long a request waits for a refresh lease another process holds, from the moment it
/// asked for a refresh. A live holder finishes well within it (a token request takes well under
/// a second); a holder that was killed (kill -9) leaves a lease that lapses only after the lease
/// time (30 s by default), and a request must not hang that long: it gets 503
/// `refresh_in_progress` with `Retry-After` (the seconds until the lease lapses) instead.
pub const LEASE_WAIT: Duration = Duration::from_secs(3);

tokio::task_local! {
    /// Set when a request of the call gave up waiting on another process's lease: how long until
    /// that lease lapses.
    static LEASE_BUSY: std::cell::Cell<Option<Duration>>;
}

/// Runs an engine call, and says whether it failed because another process holds the account's
/// refresh lease (the time until the lease lapses), so the caller can answer 503
/// `refresh_in_progress` with `Retry-After` rather than the refresher's plain error.
pub async fn watching_leases<T>(call: impl std::future::Future<Output = T>) -> (T, Option<Duration>) {
    LEASE_BUSY
        .scope(std::cell::Cell::new(None), async {
            let out = call.await;
            (out, LEASE_BUSY.with(|busy| busy.get()))
        })
        .await
}

pub struct StoreRefresher {
    store: Arc<dyn Store>,
    keyring: Arc<Keyring>,
    metrics: Arc<Metrics>,
    /// This process's name on leases.
    owner: String,
    lease_ttl: Duration,
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl StoreRefresher {
    pub fn new(store: Arc<dyn Store>, keyring: Arc<Keyring>, metrics: Arc<Metrics>, lease_ttl: Duration) -> StoreRefresher {
        let owner = format!("{}-{}", std::process::id(), switchyard_store::ids::new_id("proc"));
        StoreRefresher { store, keyring, metrics, owner, lease_ttl, gates: Mutex::new(HashMap::new()) }
    }

    fn gate(&self, account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if gates.len() > 10_000 {
            // Gates nobody waits on can go; a new one is made on demand.
            gates.retain(|_, gate| Arc::strong_count(gate) > 1);
        }
        gates.entry(account_id.to_string()).or_default().clone()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| internal(format!("a database task failed: {e}")))?
            .map_err(|e| internal(format!("the database failed during a token refresh: {e}")))
    }

    async fn refresh_stored(
        &self,
        engine: &Engine,
        caller: &Account,
        environment: &str,
        account_id: &str,
        reason: RefreshReason,
    ) -> Result<Refreshed, RuntimeError> {
        let margin = refresh_margin(engine, &caller.integration);
        // The bounded wait counts from here: a request queued behind others of this process
        // that waited on the same lease does not wait its own full turn after them.
        let asked_at = Instant::now();
        let gate = self.gate(account_id);
        let _flight = gate.lock().await;
        loop {
            let (env, id, owner, ttl) = (environment.to_string(), account_id.to_string(), self.owner.clone(), self.lease_ttl);
            let outcome = self.blocking(move |s| s.acquire_refresh_lease(&env, &id, &owner, ttl)).await?;
            match outcome {
                LeaseOutcome::Acquired(lease) => {
                    let current = to_runtime(&self.keyring, &lease.account, None).map_err(|e| internal(e.message))?;
                    let current = Account { install: caller.install.clone(), ..current };
                    let release = |token: i64| {
                        let (env, id) = (environment.to_string(), account_id.to_string());
                        self.blocking(move |s| s.release_refresh_lease(&env, &id, token))
                    };
                    match lease.account.status {
                        AccountStatus::Active => {}
                        status => {
                            release(lease.token).await?;
                            return Err(RuntimeError::new(
                                ErrorKind::NeedsReauth,
                                format!("the account is {status}; give it new credentials (PATCH /v1/accounts/{account_id}) or reconnect"),
                            ));
                        }
                    }
                    if already_fresh(&current, caller, reason, margin, engine.now()) {
                        release(lease.token).await?;
                        self.metrics.refresh(&caller.integration, "reused");
                        return Ok(Refreshed { credentials: current.credentials, connection: current.connection });
                    }
                    return self.refresh_with_lease(engine, &current, &lease.account, lease.token).await;
                }
                LeaseOutcome::HeldByAnother { expires_at, owner } => {
                    // Another process is refreshing: wait for its result, or for its lease to lapse.
                    tokio::time::sleep(POLL).await;
                    let (env, id) = (environment.to_string(), account_id.to_string());
                    let stored = self.blocking(move |s| s.get_account(&env, &id)).await?;
                    let current = to_runtime(&self.keyring, &stored, None).map_err(|e| internal(e.message))?;
                    if stored.status != AccountStatus::Active {
                        return Err(RuntimeError::new(
                            ErrorKind::NeedsReauth,
                            format!("the account is {}; it must be reconnected", stored.status),
                        ));
                    }
                    if already_fresh(&current, caller, reason, margin, engine.now()) {
                        self.metrics.refresh(&caller.integration, "reused");
                        return Ok(Refreshed { credentials: current.credentials, connection: current.connection });
                    }
                    // A lapsed lease is taken over on the next turn; a live one is waited on, briefly.
                    let left = (expires_at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
                    if !left.is_zero() && asked_at.elapsed() >= LEASE_WAIT.min(self.lease_ttl) {
                        let _ = LEASE_BUSY.try_with(|busy| busy.set(Some(left)));
                        self.metrics.refresh(&caller.integration, "busy");
                        tracing::warn!(account = %account_id, owner = %owner, lease_left_s = left.as_secs(), "another process holds the refresh lease");
                        return Err(RuntimeError::new(
                            ErrorKind::Upstream,
                            format!(
                                "another process is refreshing this account's token (its lease lapses in {} s; a process killed while \
                                 refreshing leaves its lease until then); retry after that",
                                left.as_secs().max(1)
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// Holding the lease: calls the token endpoint with the credentials read under the lease, then
    /// stores the result (fenced) before returning it.
    async fn refresh_with_lease(
        &self,
        engine: &Engine,
        current: &Account,
        stored: &switchyard_store::Account,
        token: i64,
    ) -> Result<Refreshed, RuntimeError> {
        let environment = stored.environment_id.clone();
        let account_id = stored.id.clone();
        let integration = current.integration.clone();
        // The credentials re-read under the lease may be newer than the caller's: the call's log
        // and error are redacted of them too.
        let secrets = account_secrets(engine.registry(), current);
        learn_secrets(secrets.clone());
        match engine.fetch_token(current).await {
            Ok(tokens) => {
                let refreshed = merge_tokens(current, &tokens);
                let secret_connection = secret_connection_fields(&self.keyring, stored).map_err(|e| internal(e.message))?;
                let secrets = secrets_of(&refreshed.credentials, secret_connection);
                let sealed = accounts::seal(&self.keyring, &account_id, &secrets).map_err(|e| internal(e.message))?;
                let expires_at = refreshed.credentials.expires_at.map(accounts::to_utc);
                let connection = connection_update(stored, &tokens.connection_updates);
                let (env, id) = (environment.clone(), account_id.clone());
                let written = self
                    .blocking(move |s| {
                        let account = s.complete_refresh(&env, &id, token, sealed, expires_at)?;
                        match connection {
                            Some(connection) => {
                                s.update_account(&env, &id, AccountPatch { connection: Some(connection), ..Default::default() })
                            }
                            None => Ok(account),
                        }
                    })
                    .await;
                match written {
                    Ok(_) => {
                        self.metrics.refresh(&integration, "refreshed");
                        tracing::info!(account = %account_id, integration = %integration, rotated = tokens.rotated, "token refreshed");
                        Ok(refreshed)
                    }
                    Err(error) => {
                        // The lease was taken over or the credentials replaced meanwhile: our tokens
                        // must not be used (with a rotating provider they may even be the only valid
                        // ones, but the fence says another writer won).
                        self.metrics.refresh(&integration, "failed");
                        Err(error)
                    }
                }
            }
            Err(error) => {
                let error = redact_error(error, secrets);
                let needs_reauth = error.kind == ErrorKind::NeedsReauth;
                let message = error.message.clone();
                let (env, id) = (environment, account_id.clone());
                let _ = self.blocking(move |s| s.fail_refresh(&env, &id, token, &message, needs_reauth)).await;
                self.metrics.refresh(&integration, if needs_reauth { "needs_reauth" } else { "failed" });
                tracing::warn!(account = %account_id, integration = %integration, error = %error.message, needs_reauth, "token refresh failed");
                Err(error)
            }
        }
    }
}

impl TokenRefresher for StoreRefresher {
    fn refresh<'a>(&'a self, engine: &'a Engine, account: &'a Account, reason: RefreshReason) -> RefreshFuture<'a> {
        Box::pin(async move {
            match (&account.environment, &account.id) {
                (Some(environment), Some(id)) => self.refresh_stored(engine, account, environment, id, reason).await,
                // Not stored yet (verification before an account is created): the caller keeps
                // the result and stores it with the account.
                _ => {
                    let tokens = engine
                        .fetch_token(account)
                        .await
                        .map_err(|error| redact_error(error, account_secrets(engine.registry(), account)))?;
                    self.metrics.refresh(&account.integration, "refreshed");
                    Ok(merge_tokens(account, &tokens))
                }
            }
        })
    }
}

fn refresh_margin(engine: &Engine, integration: &str) -> Duration {
    match engine.registry().integration(integration).map(|i| &i.auth) {
        Some(Auth::OAuth2(oauth)) => Duration::from_secs(oauth.refresh_margin_seconds),
        _ => Duration::ZERO,
    }
}

/// Whether the stored credentials already answer the caller's need (someone refreshed since the
/// caller read them), so no token request is needed.
fn already_fresh(current: &Account, caller: &Account, reason: RefreshReason, margin: Duration, now: SystemTime) -> bool {
    let token = current.credentials.get("access_token").filter(|t| !t.is_empty());
    let Some(token) = token else { return false };
    let expiring = current.credentials.expires_at.is_some_and(|at| at <= now + margin);
    let changed = caller.credentials.get("access_token") != Some(token);
    match reason {
        RefreshReason::Missing | RefreshReason::Expiring => !expiring,
        RefreshReason::Rejected => changed && !expiring,
    }
}

/// The connection after a token response stored fields into it (`instance_url`), if it changed.
fn connection_update(stored: &switchyard_store::Account, updates: &[(String, String)]) -> Option<Value> {
    if updates.is_empty() {
        return None;
    }
    let mut connection = match &stored.connection {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    let mut changed = false;
    for (field, value) in updates {
        if connection.get(field).and_then(Value::as_str) != Some(value.as_str()) {
            connection.insert(field.clone(), Value::from(value.clone()));
            changed = true;
        }
    }
    changed.then_some(Value::Object(connection))
}

fn internal(message: String) -> RuntimeError {
    RuntimeError::new(ErrorKind::Upstream, message)
}
