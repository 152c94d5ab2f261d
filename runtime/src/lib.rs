//! Switchyard's runtime.
//!
//! For now this crate holds the registry IR: the compiled, versioned form of every
//! integration definition. The compiler front end targets it; the runtime loads it
//! without YAML, pest or JSON Schema.
#![forbid(unsafe_code)]

pub mod registry;
