//! Shared functions (`functions:` in `integration.yaml` and `unified/<model>.yaml`): how an
//! expression that calls them is stored in the artifact.
//!
//! The compiler binds every shared function an expression calls (and every one those call) in
//! front of the expression, so the stored source is self-contained: any JSONata engine
//! evaluates it as it is (the fast path, jsonata-core, the reference jsonata-js), and the
//! runtime needs nothing else. The stored form is
//!
//! ```text
//! /*functions:NN*/(
//! $s := function($x) { $x ? $x : null };
//! <the expression as written>
//! )
//! ```
//!
//! where `NN` is the byte length of `(`, the newline and the definitions: the expression as
//! written starts right after them, at the start of a line, so its lines and columns are
//! counted from its `origin` as before ([`written`]). An expression that calls no shared
//! function is stored as written.

use std::collections::{BTreeSet, HashSet};

const HEADER_START: &str = "/*functions:";
const HEADER_END: &str = "*/";
const CLOSE: &str = "\n)";

/// Every identifier written after a `$` in `source` (an over-approximation: names inside
/// strings and comments count), without the `$`.
pub fn mentioned_names(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = source.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some(&(j, c)) = chars.peek() {
            if c.is_alphanumeric() || c == '_' {
                end = j + c.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        if end > start {
            names.insert(source[start..end].to_string());
        }
    }
    names
}

/// The shared functions (`(name, lambda source)`, in declaration order) that `source` calls,
/// directly or through another one, each after the functions it calls (declaration order
/// otherwise; functions that call each other in a cycle stay in declaration order).
pub fn called<'a>(source: &str, functions: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    fn visit<'a>(
        i: usize,
        functions: &[(&'a str, &'a str)],
        calls: &[BTreeSet<String>],
        seen: &mut HashSet<usize>,
        out: &mut Vec<(&'a str, &'a str)>,
    ) {
        if !seen.insert(i) {
            return;
        }
        for (j, (name, _)) in functions.iter().enumerate() {
            if j != i && calls[i].contains(*name) {
                visit(j, functions, calls, seen, out);
            }
        }
        out.push(functions[i]);
    }
    let mentioned = mentioned_names(source);
    if !functions.iter().any(|(name, _)| mentioned.contains(*name)) {
        return Vec::new();
    }
    let calls: Vec<BTreeSet<String>> = functions.iter().map(|(_, lambda)| mentioned_names(lambda)).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, (name, _)) in functions.iter().enumerate() {
        if mentioned.contains(*name) {
            visit(i, functions, &calls, &mut seen, &mut out);
        }
    }
    out
}

/// `source` with `functions` (`(name, lambda source)`, in the order given) bound in front of
/// it, in the stored form described in the module documentation. No functions: `source` as is.
pub fn bind(source: &str, functions: &[(&str, &str)]) -> String {
    if functions.is_empty() {
        return source.to_string();
    }
    let mut prelude = String::from("(\n");
    for (name, lambda) in functions {
        prelude.push('$');
        prelude.push_str(name);
        prelude.push_str(" := ");
        prelude.push_str(lambda.trim());
        prelude.push_str(";\n");
    }
    format!("{HEADER_START}{}{HEADER_END}{prelude}{source}{CLOSE}", prelude.len())
}

/// The expression as written: a stored source without the shared functions bound in front of
/// it (the source itself when it has none).
pub fn written(source: &str) -> &str {
    let unbound = || -> Option<&str> {
        let rest = source.strip_prefix(HEADER_START)?;
        let (length, rest) = rest.split_once(HEADER_END)?;
        let length: usize = length.parse().ok()?;
        rest.get(length..)?.strip_suffix(CLOSE)
    };
    unbound().unwrap_or(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: (&str, &str) = ("s", "function($x) { $x ? $x : null }");
    const ONE: (&str, &str) = ("one", "function($vs) { $cur($vs)[0] }");
    const CUR: (&str, &str) = ("cur", "function($vs) { [$vs[active]] }\n");

    #[test]
    fn only_what_is_called_is_bound_dependencies_first() {
        let all = [S, ONE, CUR];
        assert_eq!(called("{ \"a\": $one(x) }", &all), [CUR, ONE]);
        assert_eq!(called("{ \"a\": $s(x), \"b\": $cur(y) }", &all), [S, CUR]);
        assert!(called("{ \"a\": x }", &all).is_empty());
        // Functions calling each other in a cycle: each bound once.
        let cycle = [("a", "function($x) { $b($x) }"), ("b", "function($x) { $a($x) }")];
        assert_eq!(called("$a(1)", &cycle).len(), 2);
    }

    #[test]
    fn the_expression_as_written_is_recovered() {
        let expression = "(\n  $p := properties;\n  { \"id\": $s($p.id) }\n)\n";
        let bound = bind(expression, &[CUR, S]);
        assert!(bound.starts_with("/*functions:"), "{bound}");
        assert!(bound.contains("\n$cur := function($vs) { [$vs[active]] };\n$s := "), "{bound}");
        assert_eq!(written(&bound), expression);
        // The expression starts a line: its lines and columns are unchanged.
        let at = bound.find(expression).unwrap();
        assert_eq!(&bound[at - 1..at], "\n");
        assert_eq!(bind(expression, &[]), expression);
        assert_eq!(written(expression), expression);
        assert_eq!(written("/*functions:99*/(\n1\n)"), "/*functions:99*/(\n1\n)");
    }
}
