//! The hook through which the engine gets fresh credentials. The server implements it
//! with single flight, a database lease and persistence before use; tests and the CLI
//! use [`DirectRefresher`], which only performs the token request.

use super::{merge_tokens, Engine};
use crate::account::{Account, Connection, Credentials};
use crate::error::RuntimeError;
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshReason {
    /// The access token is within the refresh margin of its expiry, or past it.
    Expiring,
    /// The provider answered 401 to a request made with the current token.
    Rejected,
    /// There is no access token yet (client credentials).
    Missing,
}

/// Credentials after a refresh, already persisted by the refresher.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub credentials: Credentials,
    pub connection: Connection,
}

pub type RefreshFuture<'a> = Pin<Box<dyn Future<Output = Result<Refreshed, RuntimeError>> + Send + 'a>>;

pub trait TokenRefresher: Send + Sync {
    /// Returns fresh credentials for `account`. `engine.fetch_token(account)` performs the
    /// token request; an implementation decides who may call it and stores the result
    /// before returning it.
    fn refresh<'a>(&'a self, engine: &'a Engine, account: &'a Account, reason: RefreshReason) -> RefreshFuture<'a>;
}

/// Refreshes without storing anything: the caller keeps the returned credentials.
pub struct DirectRefresher;

impl TokenRefresher for DirectRefresher {
    fn refresh<'a>(&'a self, engine: &'a Engine, account: &'a Account, _reason: RefreshReason) -> RefreshFuture<'a> {
        Box::pin(async move {
            let tokens = engine.fetch_token(account).await?;
            Ok(merge_tokens(account, &tokens))
        })
    }
}
