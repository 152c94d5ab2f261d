//! The YAML front end: text in, a spanned tree out, within bounded time and memory.

mod load;
mod node;
pub mod offset;
mod scalar;

pub use load::{load, Limits};
pub use node::{Entry, Node, NodeKind, ScalarKind};
