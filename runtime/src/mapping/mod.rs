//! JSONata mappings: parse once, evaluate many times, with limits, bindings and our function
//! library.
//!
//! The engine is jsonata-core, kept behind this module so it could be swapped or forked:
//! nothing of it appears in the public API. What its design asks of us:
//! - Its values and evaluator are neither `Send` nor `Sync`; its AST is. A [`Mapping`] holds the
//!   parsed AST in an `Arc` (`Send + Sync + Clone`); each call builds its own evaluator and
//!   drops it before returning, so nothing of the engine lives across an `.await`. Results
//!   leave as `serde_json::Value` or JSON text.
//! - It has no limits by default. Every evaluation here sets a timeout, a stack depth, a
//!   sequence length and a cancel token ([`MappingLimits`], [`EvalOptions`]).
//! - Converting a deep `serde_json::Value` can overflow the stack. Inputs, bindings and results
//!   are converted here with a depth bound (`max_input_depth`).
//!
//! Bindings are visible as `$name`. A binding the expression never mentions is not converted
//! at all (a `$page` binding costs nothing to a mapping that does not read it).
//!
//! The function library (`$removeEmpty`, `$parseDate`, …) is in [`functions`], one function per
//! file; `docs/functions.md` is generated from it.

mod compiled;
mod convert;
mod engine;
mod error;
pub mod functions;

pub use engine::{evaluate, evaluate_each_json, evaluate_each_json_text, evaluate_json_str, evaluate_without_input, Mapping};
pub use error::{MappingError, MappingErrorKind};

use std::collections::BTreeMap;

/// Limits for one evaluation. With `evaluate_each_json`, each input gets the full limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingLimits {
    /// Wall-clock time for one evaluation (`D1012`, [`MappingErrorKind::Timeout`]).
    pub timeout_ms: u64,
    /// Nesting of the evaluation (`D1011`, [`MappingErrorKind::StackDepth`]): a recursive
    /// function can call itself about a third of this many times.
    pub max_stack_depth: usize,
    /// Length of any sequence the evaluation builds, ranges included (`D2015`,
    /// [`MappingErrorKind::SequenceLength`]).
    pub max_sequence_length: usize,
    /// Nesting of the input and of each binding ([`MappingErrorKind::InputTooDeep`]); a
    /// result may nest twice as deep ([`MappingErrorKind::OutputTooDeep`]). JSON text is
    /// also held to serde_json's own limit of 128 levels.
    pub max_input_depth: usize,
}

impl Default for MappingLimits {
    fn default() -> Self {
        MappingLimits { timeout_ms: 2000, max_stack_depth: 500, max_sequence_length: 1_000_000, max_input_depth: 128 }
    }
}

/// Stops evaluations from another thread: every evaluation given a clone of this token fails
/// with [`MappingErrorKind::Cancelled`] soon after [`CancelToken::cancel`].
#[derive(Debug, Clone, Default)]
pub struct CancelToken(jsonata_core::evaluator::CancelToken);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    /// Cancels every evaluation holding a clone of this token, now and later. Cannot be undone.
    pub fn cancel(&self) {
        self.0.cancel()
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// How to evaluate.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    pub limits: MappingLimits,
    /// Frozen clock for deterministic fixtures: overrides `$now()` and `$millis()` (epoch
    /// milliseconds). `None`: the real clock.
    pub now_millis: Option<i64>,
    /// Cancels the evaluation from elsewhere. `None`: a token nobody holds.
    pub cancel: Option<CancelToken>,
}

/// Named values visible to an expression as `$name` (`params`, `query`, `connection`,
/// `headers`, `page`, …). Names are given without the `$`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Bindings {
    values: BTreeMap<String, serde_json::Value>,
}

impl Bindings {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: &str, value: serde_json::Value) -> Self {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: &str, value: serde_json::Value) {
        let name = name.strip_prefix('$').unwrap_or(name);
        self.values.insert(name.to_string(), value);
    }

    pub fn remove(&mut self, name: &str) -> Option<serde_json::Value> {
        self.values.remove(name.strip_prefix('$').unwrap_or(name))
    }

    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.values.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
