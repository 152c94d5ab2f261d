//! The integrations bundled with this binary, compiled at build time (see build.rs).
#![allow(dead_code)]

include!(concat!(env!("OUT_DIR"), "/switchyard_registry.rs"));
