//! Compile-time parsing of JSONata expressions (the engine is jsonata-core).
//!
//! jsonata-core's parse errors carry a code and a message but no position. The checker
//! must point at the error inside the YAML block, so the position is recovered: the
//! shortest prefix of the expression that already fails for a reason other than ending
//! too early holds the offending token at its end.

use jsonata_core::parser::{self, ParserError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The message without its code, e.g. "Expected RightParen, got Colon".
    pub message: String,
    /// The JSONata error code, e.g. `S0202`.
    pub code: Option<String>,
    /// Character offset of the offending token in the expression.
    pub offset: usize,
}

/// Parses an expression; on failure says what and where.
pub fn check(source: &str) -> Result<(), SyntaxError> {
    let error = match parse(source) {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    let offset = locate(source, &error);
    let text = error.to_string();
    let (code, message) = split_code(&text);
    Err(SyntaxError { message, code, offset })
}

fn parse(source: &str) -> Result<(), ParserError> {
    // A parser bug must not take the checker down with it.
    match std::panic::catch_unwind(|| parser::parse(source)) {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(ParserError::InvalidSyntax("the JSONata parser failed on this expression".into())),
    }
}

/// Errors that mean "the text stopped too early", which any prefix of a valid
/// expression may produce.
fn is_incomplete(error: &ParserError) -> bool {
    match error {
        ParserError::UnexpectedEnd | ParserError::UnclosedString | ParserError::UnclosedBacktick | ParserError::UnclosedComment => true,
        ParserError::UnexpectedToken(found) => found == "Eof",
        ParserError::Expected { found, .. } => found == "Eof",
        ParserError::InvalidNumber(_) => true,
        _ => false,
    }
}

fn locate(source: &str, error: &ParserError) -> usize {
    let boundaries: Vec<usize> = source.char_indices().map(|(i, _)| i).skip(1).chain([source.len()]).collect();
    let end_of_text = source.trim_end().chars().count();
    if is_incomplete(error) {
        // An unclosed string, comment or bracket: point at what was left open; failing
        // that, at the end, where the parser ran out of text.
        return unclosed_opener(source).unwrap_or(end_of_text.saturating_sub(1));
    }
    // Binary search for the shortest failing prefix. Failing "for real" is monotone in
    // practice: once the bad token is inside the prefix, longer prefixes fail as well.
    let (mut low, mut high) = (0usize, boundaries.len() - 1);
    while low < high {
        let mid = (low + high) / 2;
        match parse(&source[..boundaries[mid]]) {
            Err(e) if !is_incomplete(&e) => high = mid,
            _ => low = mid + 1,
        }
    }
    // `low` is the index of the first char boundary after the offending character.
    let offset = low;
    // Point at the start of the token, not its last character.
    let chars: Vec<char> = source.chars().collect();
    let mut start = offset.min(chars.len().saturating_sub(1));
    if matches!(chars.get(start), Some('"' | '\'' | '`')) {
        // The prefix ended on a closing quote: the token is the whole string.
        let quote = chars[start];
        if let Some(open) = (0..start).rev().find(|&i| chars[i] == quote && (i == 0 || chars[i - 1] != '\\')) {
            return open;
        }
    }
    while start > 0 && is_word(chars[start]) && is_word(chars[start - 1]) {
        start -= 1;
    }
    start
}

/// The character offset of the string quote, comment or bracket left open at the end
/// of the expression (the innermost one), if any.
fn unclosed_opener(source: &str) -> Option<usize> {
    let chars: Vec<char> = source.chars().collect();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            q @ ('"' | '\'' | '`') => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != q {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                if i >= chars.len() {
                    return Some(start);
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let start = i;
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                if i + 1 >= chars.len() {
                    return Some(start);
                }
                i += 1;
            }
            '(' | '[' | '{' => open.push(i),
            ')' | ']' | '}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.pop()
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn split_code(text: &str) -> (Option<String>, String) {
    let text = text.strip_prefix("Invalid syntax: ").unwrap_or(text);
    let bytes = text.as_bytes();
    if bytes.len() > 6
        && (bytes[0] == b'S' || bytes[0] == b'T' || bytes[0] == b'D')
        && bytes[1..5].iter().all(u8::is_ascii_digit)
        && bytes[5] == b':'
    {
        (Some(text[..5].to_string()), text[6..].trim().to_string())
    } else {
        (None, text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_expressions_pass() {
        assert!(check("{ \"id\": id, \"emails\": [{ \"email\": properties.email }] }").is_ok());
        assert!(check("$map(items, function($v) { $v.id })").is_ok());
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = check("{ \"a\": x, \"b\": y ]").unwrap_err();
        assert_eq!(e.offset, 17, "{e:?}");
        let e = check("foo.bar(").unwrap_err();
        assert_eq!(e.offset, 7, "{e:?}");
        let e = check("{ \"a\": $f(x, \"open }").unwrap_err();
        assert_eq!(e.offset, 13, "unclosed string points at its quote: {e:?}");
        let e = check("{ \"a\": (x + 1, \"b\": 2 }").unwrap_err();
        assert!(e.offset > 0, "{e:?}");
        let e = check("{ \"first\": a \"last_name\": b }").unwrap_err();
        assert_eq!(e.offset, 13, "a string token is pointed at its opening quote: {e:?}");
        let e = check("[1, 2").unwrap_err();
        assert_eq!(e.offset, 0, "unclosed bracket: {e:?}");
        let e = check("a + + ").unwrap_err();
        assert!(e.offset >= 2 && e.offset <= 4, "{e:?}");
        assert!(e.code.is_some(), "{e:?}");
    }

    #[test]
    fn hostile_expressions_do_not_panic() {
        for source in ["(".repeat(5000), "[".repeat(5000), "\"".into(), "`".into(), "/*".into(), "$$$$".into(), "1e999999".into()] {
            let _ = check(&source);
        }
    }
}
