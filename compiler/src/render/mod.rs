//! Rendering diagnostics and fixture-test results: one module per output format.
//!
//! - [`human`]: rustc-style diagnostics and the `ok`/`FAILED` lines of `switchyard test`;
//! - [`json`]: one JSON document (`--format json`);
//! - [`junit`]: JUnit XML for `switchyard test` (`--format junit`);
//! - [`annotations`]: GitHub Actions workflow commands that annotate the lines (`--format github`).
//!
//! [`place`] holds what they share.

mod annotations;
mod human;
mod json;
mod junit;
mod place;

pub use annotations::{escape_data, escape_property, render_annotations, render_test_annotations};
pub use human::{render_human, render_human_case, summary, Style};
pub use json::{diagnostic_json, render_json, render_test_json};
pub use junit::{hostname, render_junit};
pub use place::{plain, LocatedDiagnostic, Location};
