//! Rendering diagnostics: one module per output format.
//!
//! - [`human`]: rustc-style diagnostics;
//! - [`json`]: one JSON document (`--format json`);
//! - [`annotations`]: GitHub Actions workflow commands that annotate the lines (`--format github`).
//!
//! [`place`] holds what they share. `switchyard test`'s reports are rendered by
//! `switchyard_fixtures::report`, on these.

mod annotations;
mod human;
mod json;
mod place;

pub use annotations::{command, diagnostic_command, escape_data, escape_property, render_annotations};
pub use human::{render_human, summary, Style};
pub use json::{diagnostic_json, document, render_json};
pub use place::{plain, LocatedDiagnostic, Location};
