//! Switchyard's compiler: YAML definitions in, diagnostics and a registry out.
#![forbid(unsafe_code)]

pub mod codes;
pub mod diagnostic;
pub mod source;
pub mod yaml;
pub mod template;
pub mod jsonata;
