//! Switchyard's runtime: the registry IR and everything that executes it.
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
pub mod registry;
pub mod replay;
pub mod webhook;

mod spread;
