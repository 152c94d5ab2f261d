//! Why a fast-path evaluation stopped: what every part of the fast path may answer instead of
//! a value, so it sits below them all.

/// Why an evaluation stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Not decided here: the engine evaluates it (evaluation is pure, so this is safe).
    Fallback,
    /// A limit (time, cancel): the engine's error message, code first.
    Limit(String),
}
