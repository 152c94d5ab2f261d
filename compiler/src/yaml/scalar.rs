//! Resolving plain scalars by the YAML 1.2 core schema (so `no` stays a string).

use super::node::{NodeKind, ScalarKind};

pub fn resolve_plain(text: &str) -> NodeKind {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return NodeKind::Int(i);
    }
    if looks_like_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() {
                return NodeKind::Float(f);
            }
        }
    }
    NodeKind::Str(text.to_string(), ScalarKind::Plain)
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    None
}

fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '0'..='9' => seen_digit = true,
            '.' if !seen_dot => seen_dot = true,
            'e' | 'E' if seen_digit => {
                let rest: String = chars.collect();
                let exp = rest.strip_prefix(['-', '+']).unwrap_or(&rest);
                return !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit());
            }
            _ => return false,
        }
    }
    seen_digit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema() {
        assert_eq!(resolve_plain("~"), NodeKind::Null);
        assert_eq!(resolve_plain("True"), NodeKind::Bool(true));
        assert_eq!(resolve_plain("no"), NodeKind::Str("no".into(), ScalarKind::Plain));
        assert_eq!(resolve_plain("-12"), NodeKind::Int(-12));
        assert_eq!(resolve_plain("0x1F"), NodeKind::Int(31));
        assert_eq!(resolve_plain("2.5e3"), NodeKind::Float(2500.0));
        assert_eq!(resolve_plain("1.2.3"), NodeKind::Str("1.2.3".into(), ScalarKind::Plain));
        assert_eq!(resolve_plain("e5"), NodeKind::Str("e5".into(), ScalarKind::Plain));
        assert_eq!(resolve_plain("99999999999999999999"), NodeKind::Float(1e20));
    }
}
