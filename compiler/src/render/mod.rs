//! Rendering diagnostics: one module per output format.

mod human;
mod json;

pub use human::{render_human, summary, Style};
pub use json::render_json;
