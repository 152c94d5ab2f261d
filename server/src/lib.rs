//! Switchyard's unified API server: one HTTP API over every integration of a registry.
//!
//! - [`config`]: what `switchyard serve` is told (flags, environment, file); [`database`]: the
//!   SQLite file or the Postgres database it keeps its rows in;
//! - [`state`]: what every handler shares (engine, store, keyring, metrics);
//! - [`tenancy`]: API keys, each seeing only its environment; [`keys`]: the keys verified recently;
//! - [`accounts`]: stored accounts as the engine runs them, and as the API shows them (never a secret);
//! - [`refresh`]: token refresh with single flight in the process and a fenced lease in the database;
//! - [`exchange_log`]: every upstream exchange, redacted, written off the request path;
//! - [`routes`]: one module per group of endpoints; `listen`: the connections under them (the HTTP
//!   parser's refusals as JSON, lingering close);
//! - [`metrics`], [`openapi`], [`error`].
#![forbid(unsafe_code)]

pub mod accounts;
pub mod config;
pub mod connect_state;
pub mod database;
pub mod error;
pub mod exchange_log;
pub mod keys;
mod listen;
pub mod metrics;
pub mod openapi;
pub mod refresh;
pub mod routes;
pub mod server;
pub mod state;
pub mod tenancy;

pub use config::{DatabaseUrl, ServerConfig};
pub use server::{create_environment, serve, start, Running, ServeError};
