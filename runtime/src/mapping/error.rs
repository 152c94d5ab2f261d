//! The mapping error: what went wrong, the JSONata error code, and where the expression was written.

use crate::registry::Origin;
use jsonata_core::evaluator::EvaluatorError;
use std::fmt;

/// What kind of failure a [`MappingError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingErrorKind {
    /// The expression does not parse (`Sxxxx`). The compiler catches these before a registry exists.
    Syntax,
    /// Any other failure while evaluating: a type error, a bad argument to a function, `$error(…)`.
    Evaluation,
    /// The evaluation ran longer than `MappingLimits::timeout_ms` (`D1012`).
    Timeout,
    /// The evaluation nested deeper than `MappingLimits::max_stack_depth` (`D1011`, `U1001`):
    /// typically a recursive function that never stops.
    StackDepth,
    /// A sequence grew past `MappingLimits::max_sequence_length` (`D2015`), or a range past
    /// JSONata's own ten-million cap (`D2014`).
    SequenceLength,
    /// The caller's cancel token fired (`U1003`).
    Cancelled,
    /// The input, or a binding, nests deeper than `MappingLimits::max_input_depth`.
    InputTooDeep,
    /// The result nests deeper than twice `MappingLimits::max_input_depth`.
    OutputTooDeep,
    /// The input bytes are not JSON.
    InvalidInput,
    /// The engine failed in a way it should not (a panic caught at the adapter). A bug to report.
    Internal,
}

impl MappingErrorKind {
    /// A stable lowercase name, for logs and JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::Evaluation => "evaluation",
            Self::Timeout => "timeout",
            Self::StackDepth => "stack_depth",
            Self::SequenceLength => "sequence_length",
            Self::Cancelled => "cancelled",
            Self::InputTooDeep => "input_too_deep",
            Self::OutputTooDeep => "output_too_deep",
            Self::InvalidInput => "invalid_input",
            Self::Internal => "internal",
        }
    }
}

/// A mapping failed. `Display` gives `mapping error at <file>:<line>:<col>: <code>: <message>`,
/// where the place is where the expression starts in its definition file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    pub kind: MappingErrorKind,
    /// The JSONata error code (`T2001`, `D1012`, …), when there is one.
    pub code: Option<String>,
    /// The message, without its code.
    pub message: String,
    /// Where the expression starts.
    pub origin: Origin,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mapping error at {}: ", self.origin)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl MappingError {
    pub(crate) fn new(kind: MappingErrorKind, code: Option<&str>, message: impl Into<String>, origin: &Origin) -> Self {
        MappingError { kind, code: code.map(str::to_string), message: message.into(), origin: origin.clone() }
    }

    /// Classifies an engine error by the code at the start of its message.
    pub(crate) fn from_engine(error: &EvaluatorError, origin: &Origin) -> Self {
        let (code, message) = split_code(error.message());
        let kind = match code {
            Some("D1012") => MappingErrorKind::Timeout,
            Some("D1011" | "U1001") => MappingErrorKind::StackDepth,
            Some("D2014" | "D2015") => MappingErrorKind::SequenceLength,
            Some("U1003") => MappingErrorKind::Cancelled,
            _ => MappingErrorKind::Evaluation,
        };
        MappingError::new(kind, code, message, origin)
    }

    pub(crate) fn syntax(text: &str, origin: &Origin) -> Self {
        let (code, message) = split_code(text);
        MappingError::new(MappingErrorKind::Syntax, code, message, origin)
    }
}

/// Splits `"T2001: The left side…"` into its code and the rest. Codes are one uppercase
/// letter and four digits, as JSONata writes them.
pub(crate) fn split_code(text: &str) -> (Option<&str>, &str) {
    let text = text.strip_prefix("Parse error: ").unwrap_or(text);
    match jsonata_core::evaluator::error_code_prefix(text) {
        Some(code) => (Some(code), text[code.len() + 1..].trim_start()),
        None => (None, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_place_and_the_code() {
        let origin = Origin { file: "integrations/x/unified/crm.yaml".into(), line: 12, col: 9 };
        let error = MappingError::new(MappingErrorKind::Timeout, Some("D1012"), "Evaluation timeout", &origin);
        assert_eq!(error.to_string(), "mapping error at integrations/x/unified/crm.yaml:12:9: D1012: Evaluation timeout");
        let error = MappingError::new(MappingErrorKind::InputTooDeep, None, "too deep", &origin);
        assert_eq!(error.to_string(), "mapping error at integrations/x/unified/crm.yaml:12:9: too deep");
    }

    #[test]
    fn codes_are_split_off() {
        assert_eq!(split_code("T2001: The left side"), (Some("T2001"), "The left side"));
        assert_eq!(split_code("Parse error: S0202: Expected"), (Some("S0202"), "Expected"));
        assert_eq!(split_code("no code here"), (None, "no code here"));
    }
}
