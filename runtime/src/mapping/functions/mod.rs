//! The function library available to every mapping, one function per file.
//!
//! Each file holds the implementation, its documentation and its `EXAMPLES`. The examples are
//! unit tests (`every_example_holds`), the source of `docs/functions.md` (`docs_are_in_step`;
//! regenerate with `UPDATE_DOCS=1 cargo test -p switchyard-runtime functions`), and cases of the
//! differential test against the reference implementation (`tests/mapping_differential.rs`,
//! with the JavaScript twins in `bench/twins.js`).
//!
//! Conventions shared by every function:
//! - An undefined first argument gives undefined (the key is left out), as JSONata's own
//!   functions do.
//! - A wrong argument type is `T0410`; a value the function cannot use is one of the `F` codes
//!   in [`codes`]. Functions never panic.

mod args;
pub(crate) mod clock;
pub mod codes;
mod datetime;
mod docs;

pub use docs::render as render_docs;

use jsonata_core::evaluator::{EvaluatorError, EvaluatorOptions};
use jsonata_core::value::JValue;
use std::cell::Cell;
use std::time::Instant;

/// One library function.
pub struct Function {
    /// The name, without `$`.
    pub name: &'static str,
    /// How it is called, e.g. `$pick(object, keys)`; `?` marks optional arguments.
    pub signature: &'static str,
    /// One sentence.
    pub summary: &'static str,
    /// The details, in Markdown.
    pub doc: &'static str,
    pub examples: &'static [Example],
    /// Whether `bench/twins.js` has a faithful JavaScript twin.
    pub twin: Twin,
    pub(crate) call: fn(&[JValue], &Call) -> Result<JValue, EvaluatorError>,
}

/// The JavaScript twin of a function, used by the differential test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Twin {
    /// `bench/twins.js` implements it with the same results.
    Faithful,
    /// No faithful twin; the reason is printed in `docs/functions.md`.
    None(&'static str),
}

/// An expression, its input (JSON) and what it gives.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub expr: &'static str,
    pub input: &'static str,
    pub output: Expected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The result, as JSON text.
    Json(&'static str),
    /// The error code.
    Error(&'static str),
}

pub(crate) const fn ok(expr: &'static str, input: &'static str, output: &'static str) -> Example {
    Example { expr, input, output: Expected::Json(output) }
}

pub(crate) const fn fails(expr: &'static str, input: &'static str, code: &'static str) -> Example {
    Example { expr, input, output: Expected::Error(code) }
}

/// The frozen clock the examples run with (`EvalOptions::now_millis`): 2024-05-02T14:11:07.517Z.
pub const EXAMPLE_NOW_MILLIS: i64 = 1_714_659_067_517;

/// What a function call can see besides its arguments: the evaluation's limits and when it
/// started, for functions that evaluate an expression of their own (`$groupBy`).
pub(crate) struct Call {
    options: EvaluatorOptions,
    max_depth: usize,
    started: Cell<Instant>,
}

impl Call {
    pub(crate) fn new(options: EvaluatorOptions, max_depth: usize) -> Self {
        Call { options, max_depth, started: Cell::new(Instant::now()) }
    }

    /// Marks the start of one evaluation.
    pub(crate) fn start(&self) {
        self.started.set(Instant::now());
    }

    /// The options for a nested evaluation: what is left of the time budget, the same limits.
    pub(crate) fn nested_options(&self) -> EvaluatorOptions {
        let mut options = self.options.clone();
        if let Some(timeout) = options.timeout_ms {
            let spent = self.started.get().elapsed().as_millis() as u64;
            options.timeout_ms = Some(timeout.saturating_sub(spent).max(1));
        }
        options
    }

    pub(crate) fn max_depth(&self) -> usize {
        self.max_depth
    }
}

macro_rules! library {
    ($($module:ident),* $(,)?) => {
        $(mod $module;)*
        /// Every library function, in the order of `docs/functions.md`.
        pub fn all() -> &'static [Function] {
            const ALL: &[Function] = &[$($module::FUNCTION),*];
            ALL
        }
    };
}

library![
    remove_empty,
    first_non_empty,
    pick,
    omit,
    map_values,
    group_by,
    key_by,
    to_number,
    json_parse,
    parse_date,
    format_date,
    parse_url,
    parse_query,
    sha256,
    hmac,
];

/// The function called `name` (without `$`).
pub fn find(name: &str) -> Option<&'static Function> {
    all().iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests;
