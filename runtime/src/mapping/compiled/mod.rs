//! The compiled fast path: common mappings evaluated straight over `serde_json::Value`,
//! borrowing the input, with the same results as jsonata-core.
//!
//! - [`compile`] turns jsonata-core's AST into a [`Program`] when every node is one the fast
//!   path supports (paths, constructors, conditionals, operators, blocks with `:=`, lambdas as
//!   local helpers and as arguments of `$sift`/`$each`/`$map`/`$filter`, the common built-ins).
//!   Otherwise the mapping stays on the engine for everything.
//! - At evaluation, a case whose answer the fast path cannot be sure of (a type error, an input
//!   of an unexpected type, an array context, too long a sequence, too deep a result) stops the
//!   fast path, and that evaluation is run again on the engine: evaluation is pure, so the
//!   caller sees exactly the engine's result or error.
//! - Limits: time and cancellation are checked as the engine checks them (with its error
//!   messages); recursion cannot happen (a lambda cannot reach itself), and the program's
//!   nesting is bounded when it is compiled.

mod builtins;
mod compile;
mod eval;
mod ir;
mod output;
mod parse;
mod stop;
mod value;

pub(crate) use compile::compile;
pub(crate) use ir::Program;
pub(crate) use parse::parse as parse_values;
pub(crate) use stop::Stop;
pub(crate) use value::V;

use super::functions::Call;
use super::{Bindings, EvalOptions};
use jsonata_core::evaluator::EvaluatorOptions;
use serde_json::Value;
use std::time::Instant;

/// The engine's input depth limits above which the fast path is not used (its checks recurse).
const MAX_CHECKED_DEPTH: usize = 256;

/// One fast-path evaluator: bindings resolved once, then any number of inputs.
pub(crate) struct Session<'a, 'c> {
    env: eval::Env<'a, 'c>,
    input_depth: usize,
    result_depth: usize,
}

impl<'a, 'c> Session<'a, 'c> {
    /// `None` when this call cannot take the fast path: a binding hides a function the program
    /// calls, a binding it reads is too deep (the engine reports that), or the limits are ones
    /// the fast path does not check the way the engine does.
    pub fn new(program: &'a Program, bindings: &'a Bindings, options: &EvalOptions, cancelled: &'c dyn Fn() -> bool) -> Option<Self> {
        let limits = &options.limits;
        if limits.max_input_depth > MAX_CHECKED_DEPTH || limits.max_stack_depth < 2 * program.depth + 16 {
            return None;
        }
        if program.called.iter().any(|name| bindings.get(name).is_some()) {
            return None;
        }
        let mut globals = Vec::with_capacity(program.globals.len());
        for name in &program.globals {
            match bindings.get(name) {
                Some(value) => {
                    if !output::within_depth(value, limits.max_input_depth) {
                        return None;
                    }
                    globals.push(V::of(value));
                }
                None => globals.push(V::Undef),
            }
        }
        Some(Session {
            env: eval::Env {
                program,
                slots: vec![V::Undef; program.slots],
                globals,
                root: V::Undef,
                max_sequence: limits.max_sequence_length,
                started: Instant::now(),
                timeout_ms: limits.timeout_ms,
                cancelled,
                ticks: 0,
                call: Call::new(
                    EvaluatorOptions {
                        timeout_ms: Some(limits.timeout_ms),
                        cancel: Some(options.cancel.clone().unwrap_or_default().0),
                        max_stack_depth: Some(limits.max_stack_depth),
                        max_sequence_length: Some(limits.max_sequence_length),
                    },
                    limits.max_input_depth,
                ),
                kept_keys: Vec::new(),
                hints: vec![0; program.fields],
            },
            input_depth: limits.max_input_depth,
            result_depth: limits.max_input_depth.saturating_mul(2),
        })
    }

    /// Evaluates on `input`, checking its depth first (`checked`: the caller already did).
    pub fn run(&mut self, input: &'a Value, checked: bool) -> Result<V<'a>, Stop> {
        // A top-level array is wrapped specially by the engine; left to it.
        if input.is_array() || (!checked && !output::within_depth(input, self.input_depth)) {
            return Err(Stop::Fallback);
        }
        self.env.run(V::of(input))
    }

    /// Evaluates on an input parsed by [`parse_values`] (its depth already checked).
    pub fn run_parsed(&mut self, input: &V<'a>) -> Result<V<'a>, Stop> {
        if input.is_array() {
            return Err(Stop::Fallback);
        }
        self.env.run(input.clone())
    }

    pub fn write_json(&self, v: &V, out: &mut String) -> Result<(), Stop> {
        output::write_json(v, out, self.result_depth)
    }

    pub fn to_value(&self, v: &V) -> Result<Value, Stop> {
        output::to_value(v, self.result_depth)
    }
}

/// Parses JSON text to a `serde_json::Value`, or `None` when it is not JSON or nests deeper
/// than `max_depth` (the engine then reports the error).
pub(crate) fn parse(text: &str, max_depth: usize) -> Option<Value> {
    if max_depth > MAX_CHECKED_DEPTH {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    // serde_json itself refuses text nested deeper than this: no need to walk the value.
    (max_depth >= SERDE_JSON_DEPTH || output::within_depth(&value, max_depth)).then_some(value)
}

/// Nesting serde_json's parser accepts at most.
const SERDE_JSON_DEPTH: usize = 128;

#[cfg(test)]
mod tests {
    #[test]
    fn serde_json_bounds_nesting() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deepest = (1..=200).take_while(|n| serde_json::from_str::<serde_json::Value>(&nested(*n)).is_ok()).last().unwrap();
        assert!(deepest <= super::SERDE_JSON_DEPTH, "serde_json accepted {deepest} levels");
        let value: serde_json::Value = serde_json::from_str(&nested(deepest)).unwrap();
        assert!(super::output::within_depth(&value, super::SERDE_JSON_DEPTH));
    }
}
