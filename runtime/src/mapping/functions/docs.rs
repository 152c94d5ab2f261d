//! `docs/functions.md`, generated from the library table so the two cannot drift.

use super::{all, codes, Expected, Twin, EXAMPLE_NOW_MILLIS};
use std::fmt::Write as _;

const INTRO: &str = "# Mapping function library

<!-- Generated from runtime/src/mapping/functions/*.rs by `UPDATE_DOCS=1 cargo test -p switchyard-runtime functions`.
     Do not edit by hand: edit the function's file and regenerate. -->

Every JSONata expression in a definition (mappings, `errors.mapping`, webhook `events`, …) can call these
functions besides JSONata's standard library. Each one lives in its own file under
`runtime/src/mapping/functions/`; the examples below are its unit tests, and the differential test runs them
through the reference implementation (npm `jsonata`) with the JavaScript twins in `bench/twins.js` too.

Conventions:
- An undefined first argument gives undefined, so the key is left out of the record, as with JSONata's own
  functions. Write `$f(x) ? $f(x) : null` (or `$firstNonEmpty($f(x))`) to keep an explicit `null`.
- A wrong argument type is JSONata's `T0410`; a value a function cannot use has one of the `F` codes below.
  A function never takes the process down: every error is a mapping error naming the expression's
  `file:line:col`.
- A result of undefined is `null` for the caller.
- In the examples `$` is the input shown, and the clock is frozen at 2024-05-02T14:11:07.517Z
  (`EvalOptions::now_millis`), as fixtures and snapshots run.

Every evaluation runs under limits (`MappingLimits`), and a mapping that hits one fails with a mapping error
of that kind instead of taking the server down:

| Limit | Default | Error |
|---|---|---|
| time for one evaluation (one record) | 2000 ms | `D1012`, kind `timeout` |
| evaluation depth (a recursive function calls itself about a third as often) | 500 | `D1011`, kind `stack_depth` |
| length of any sequence, ranges included | 1,000,000 | `D2015`, kind `sequence_length` |
| nesting of the input and of each binding | 128 | kind `input_too_deep` |
| nesting of the result | 256 | kind `output_too_deep` |

Memory is not limited as such: an expression that doubles a string on every step reaches about 2 GB before
the default timeout stops it (measured; about 300 MB with a 300 ms timeout).

Try a mapping on a record with `switchyard eval MAPPING.jsonata [INPUT.json] [--bind NAME=FILE.json]…
[--now RFC3339] [--repeat N] [--compact]`: it uses this library and these limits, prints the result with keys
in the order the mapping writes them, and names the line and column of a syntax error.
";

const OUTRO: &str = "## Where results can differ from the reference implementation

The differential test (`tests/mapping_differential.rs`) evaluates every bundled mapping and every example
above with both engines and requires the same JSON text. Known differences, none of which the bundled
mappings meet:
- Object keys that look like array indexes (`\"1\"`, `\"42\"`): JavaScript objects list them first, in
  numeric order; Switchyard keeps the order the mapping wrote them (and the input had them).
- Numbers are written as JavaScript writes them, but an integer beyond 2^53 is not exact in either engine.
- `$jsonParse` of a string with an escaped lone surrogate (`\"\\ud800\"`): `null` here, a string there.
";

/// The whole of `docs/functions.md`.
pub fn render() -> String {
    let mut out = String::from(INTRO);
    out.push_str("\n| Function | What it does |\n|---|---|\n");
    for f in all() {
        let _ = writeln!(out, "| [`{}`](#{}) | {} |", f.signature, anchor(f.name), f.summary);
    }
    for f in all() {
        let _ = write!(out, "\n## `${}`\n\n`{}`: {}\n\n{}\n\n", f.name, f.signature, f.summary, f.doc);
        out.push_str("| Expression | Input | Result |\n|---|---|---|\n");
        for example in f.examples {
            let result = match example.output {
                Expected::Json(json) => format!("`{}`", cell(json)),
                Expected::Error(code) => format!("error `{code}`"),
            };
            let _ = writeln!(out, "| `{}` | `{}` | {} |", cell(example.expr), cell(example.input), result);
        }
        if let Twin::None(reason) = f.twin {
            let _ = write!(out, "\nNo JavaScript twin: {reason} The differential test skips it.\n");
        }
    }
    out.push_str("\n## Error codes\n\n| Code | Meaning |\n|---|---|\n");
    for (code, meaning) in codes::ALL {
        let _ = writeln!(out, "| `{code}` | {meaning} |");
    }
    out.push_str("| `T0410` | (JSONata's) an argument is missing or has the wrong type |\n\n");
    out.push_str(OUTRO);
    debug_assert_eq!(EXAMPLE_NOW_MILLIS, 1_714_659_067_517);
    out
}

fn anchor(name: &str) -> String {
    name.to_lowercase()
}

/// Text inside a table cell's code span: pipes escaped, whitespace runs collapsed.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}
