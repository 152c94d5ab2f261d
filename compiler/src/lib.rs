//! Switchyard's compiler: YAML definitions in, diagnostics and a registry out.
#![forbid(unsafe_code)]

pub mod codes;
pub mod diagnostic;
pub mod embed;
pub mod jsonata;
pub mod project;
pub mod render;
pub mod schema;
pub mod semantic;
pub mod source;
pub mod template;
pub mod yaml;
