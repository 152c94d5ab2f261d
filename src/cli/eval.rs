//! `switchyard eval MAPPING.jsonata INPUT.json`: an author's tool that evaluates one JSONata file
//! with the runtime's engine, function library and limits.

use super::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use std::path::{Path, PathBuf};
use switchyard_registry::Origin;
use switchyard_runtime::mapping::{self, Bindings, EvalOptions, Mapping, MappingError, MappingErrorKind, MappingLimits};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The JSONata expression to evaluate.
    pub mapping: PathBuf,
    /// The input (`$`), a JSON file; `-` reads standard input. Without one, `$` is undefined
    /// (not `null`), as in JSONata's exerciser.
    pub input: Option<PathBuf>,
    /// Binds `$NAME` to the JSON in FILE (repeatable), e.g. `--bind query=query.json`.
    #[arg(long = "bind", value_name = "NAME=FILE.json")]
    pub bind: Vec<String>,
    /// Evaluates N times, parsing the input each time, and prints the last result (for timing).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,
    /// Freezes `$now()` and `$millis()` at this instant, e.g. 2024-05-02T14:11:07Z.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Evaluation timeout in milliseconds.
    #[arg(long, default_value_t = MappingLimits::default().timeout_ms)]
    pub timeout_ms: u64,
    /// Prints the result on one line (the default indents it).
    #[arg(long)]
    pub compact: bool,
}

pub fn eval(args: &EvalArgs) -> u8 {
    match run(args) {
        Ok(text) => {
            println!("{text}");
            EXIT_OK
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
        Err(Failure::Mapping(error)) => {
            eprintln!("error: {error}");
            EXIT_INVALID
        }
    }
}

enum Failure {
    Usage(String),
    Mapping(MappingError),
}

fn read(path: &Path) -> Result<String, Failure> {
    let text = if path == Path::new("-") { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(path) };
    text.map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))
}

fn run(args: &EvalArgs) -> Result<String, Failure> {
    let source = read(&args.mapping)?;
    let file = args.mapping.display().to_string();
    let mapping = Mapping::parse(&source, &Origin { file: file.clone(), line: 1, col: 1 }).map_err(|error| {
        // The engine does not say where a syntax error is; the compiler's checker finds it.
        let origin = match switchyard_compiler::jsonata::check(&source) {
            Err(syntax) => position(&source, syntax.offset, &file),
            Ok(()) => error.origin.clone(),
        };
        Failure::Mapping(MappingError { origin, ..error })
    })?;
    let input = args.input.as_deref().map(read).transpose()?;
    let mut bindings = Bindings::new();
    for bind in &args.bind {
        let (name, path) = bind.split_once('=').ok_or_else(|| Failure::Usage(format!("--bind {bind:?} is not NAME=FILE.json")))?;
        let name = name.trim_start_matches('$');
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(Failure::Usage(format!("--bind {bind:?}: {name:?} is not a variable name")));
        }
        let text = read(Path::new(path))?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| Failure::Usage(format!("{path} is not JSON: {e}")))?;
        bindings.set(name, value);
    }
    let now_millis = match &args.now {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|e| Failure::Usage(format!("--now {text:?} is not an RFC 3339 date-time ({e}), e.g. 2024-05-02T14:11:07Z")))?
                .timestamp_millis(),
        ),
        None => None,
    };
    let limits = MappingLimits { timeout_ms: args.timeout_ms, ..MappingLimits::default() };
    let options = EvalOptions { limits, now_millis, cancel: None };
    let mut result = String::new();
    for _ in 0..args.repeat {
        let evaluated = match &input {
            Some(input) => mapping::evaluate_json_str(&mapping, input, &bindings, &options),
            None => mapping::evaluate_without_input(&mapping, &bindings, &options),
        };
        result = evaluated.map_err(|error| match (error.kind, &args.input) {
            (MappingErrorKind::InvalidInput, Some(path)) => Failure::Usage(format!("{} is not JSON: {}", path.display(), error.message)),
            _ => Failure::Mapping(error),
        })?;
    }
    Ok(if args.compact { result } else { indent(&result) })
}

/// The line and column (from 1, in characters) of character `offset` of `source`.
fn position(source: &str, offset: usize, file: &str) -> Origin {
    let (mut line, mut col) = (1, 1);
    for c in source.chars().take(offset) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    Origin { file: file.to_string(), line, col }
}

/// Indents compact JSON text by two spaces, leaving every token as it is (numbers included).
fn indent(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_without_touching_tokens() {
        assert_eq!(
            indent(r#"{"a":[1e+21,{}],"b":"x,{\"y\":[]}","c":[]}"#),
            "{\n  \"a\": [\n    1e+21,\n    {}\n  ],\n  \"b\": \"x,{\\\"y\\\":[]}\",\n  \"c\": []\n}"
        );
        assert_eq!(indent("null"), "null");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let origin = position("(\n  é + )", 7, "m.jsonata");
        assert_eq!((origin.line, origin.col), (2, 6));
    }
}
