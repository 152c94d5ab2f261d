//! Switchyard's runtime: everything that executes the registry (the IR, in `switchyard_registry`).
#![forbid(unsafe_code)]

pub mod account;
pub mod answer;
pub mod auth;
pub mod engine;
pub mod error;
pub mod http;
pub mod mapping;
pub mod pagination;
pub mod rate_limit;
pub mod webhook;

mod spread;

/// The IR this runtime executes, under the name the runtime's modules use for it.
pub use switchyard_registry as registry;
