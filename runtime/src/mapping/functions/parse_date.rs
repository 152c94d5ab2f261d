//! `$parseDate(value, format?)`

use super::args::{arg, arity, fail, mismatch, opt_str};
use super::codes::BAD_ARGUMENT;
use super::datetime::{format_iso, parse_auto, parse_epoch, parse_pattern, EpochInput};
use super::{fails, ok, Call, Function, Twin};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "parseDate",
    signature: "$parseDate(value, format?)",
    summary: "Reads a provider's date and returns it as ISO 8601 in UTC with milliseconds (`2024-05-02T14:11:07.000Z`).",
    doc: "`format` says how to read `value`:\n\n\
| `format` | reads | examples |\n\
|---|---|---|\n\
| `\"auto\"` (default) | ISO 8601 and the variants providers send: a date `YYYY-MM-DD`, then optionally `T` or a space and `HH:MM`, `:SS`, a fraction of any length (`.` or `,`), then optionally `Z`, `±HH`, `±HHMM` or `±HH:MM`. No offset means UTC. | `2013-02-20T05:30:24.844000+00:00`, `2024-05-02T14:11:07.000+0000`, `2024-05-02 14:11:07`, `2024-05-02T14:11:07.517Z`, `2024-05-02T14:11:07+05:30`, `2024-05-02T14:11:07.517+0000`, `2024-05-02` |\n\
| `\"unix\"` | epoch seconds, a number or decimal text; fractions round to the millisecond | `1680893993` |\n\
| `\"millis\"` | epoch milliseconds, a number or decimal text | `1564113600000`, `\"1699999999999\"` |\n\
| a pattern with `%` | `%Y` (4 digits), `%m` `%d` `%H` `%M` `%S` (2 digits each), `%f` (a fraction, 1 or more digits), `%z` (`Z`, `±HH`, `±HHMM`, `±HH:MM`), `%%`; other characters must match as written; missing parts are 1 (month, day) or 0 | `\"%d/%m/%Y\"` reads `02/05/2024` |\n\n\
Digits after the milliseconds are dropped (not rounded). Surrounding spaces are ignored. `null` and `\"\"` \
give `null`; undefined gives undefined. Text that is not a date (`2024-02-30` included) is `F0201`; a date \
outside the years 0000–9999 is `F0202`; a number with the `\"auto\"` format is `F0101` (say `\"unix\"` or \
`\"millis\"`), and so is an unknown format or pattern directive.",
    examples: &[
        ok("$parseDate(date_created)", r#"{"date_created": "2013-02-20T05:30:24.844000+00:00"}"#, r#""2013-02-20T05:30:24.844Z""#),
        ok("$parseDate(CreatedDate)", r#"{"CreatedDate": "2024-05-02T14:11:07.000+0000"}"#, r#""2024-05-02T14:11:07.000Z""#),
        ok("$parseDate(add_time)", r#"{"add_time": "2024-05-02 14:11:07"}"#, r#""2024-05-02T14:11:07.000Z""#),
        ok("$parseDate(Created_Time)", r#"{"Created_Time": "2024-05-02T14:11:07+05:30"}"#, r#""2024-05-02T08:41:07.000Z""#),
        ok("$parseDate(fields.created)", r#"{"fields": {"created": "2024-05-02T14:11:07.517+0000"}}"#, r#""2024-05-02T14:11:07.517Z""#),
        ok("$parseDate(created, \"unix\")", r#"{"created": 1680893993}"#, r#""2023-04-07T18:59:53.000Z""#),
        ok("$parseDate(occurredAt, \"millis\")", r#"{"occurredAt": 1564113600000}"#, r#""2019-07-26T04:00:00.000Z""#),
        ok("$parseDate(issued_at, \"millis\")", r#"{"issued_at": "1699999999999"}"#, r#""2023-11-14T22:13:19.999Z""#),
        ok("$parseDate(d, \"%d/%m/%Y %H:%M\")", r#"{"d": "02/05/2024 14:11"}"#, r#""2024-05-02T14:11:00.000Z""#),
        ok("$parseDate(close_date)", r#"{"close_date": "2024-06-30"}"#, r#""2024-06-30T00:00:00.000Z""#),
        ok("[$parseDate(null), $parseDate(\"\")]", "{}", "[null, null]"),
        fails("$parseDate(\"2024-02-30\")", "{}", "F0201"),
        fails("$parseDate(\"yesterday\")", "{}", "F0201"),
        fails("$parseDate(1680893993)", "{}", "F0101"),
        fails("$parseDate(\"2024\", \"%Q\")", "{}", "F0101"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 2)?;
    let format = opt_str(args, 1, FUNCTION.name)?.unwrap_or("auto");
    match instant(arg(args, 0), format, FUNCTION.name)? {
        Some(ms) => Ok(JValue::string(format_iso(ms, 0)?)),
        None if matches!(arg(args, 0), JValue::Undefined) => Ok(JValue::Undefined),
        None => Ok(JValue::Null),
    }
}

/// Reads `value` in `format` as epoch milliseconds; `None` for undefined, `null` and `""`.
/// Shared with `$formatDate`, which takes a number as epoch milliseconds.
pub(super) fn instant(value: &JValue, format: &str, name: &str) -> Result<Option<i64>, EvaluatorError> {
    let ms = match (value, format) {
        (JValue::Undefined | JValue::Null, _) => return Ok(None),
        (JValue::String(s), _) if s.is_empty() => return Ok(None),
        (JValue::Number(n), "unix") => parse_epoch(EpochInput::Number(*n), 1000.0)?,
        (JValue::String(s), "unix") => parse_epoch(EpochInput::Text(s), 1000.0)?,
        (JValue::Number(n), "millis") => parse_epoch(EpochInput::Number(*n), 1.0)?,
        (JValue::String(s), "millis") => parse_epoch(EpochInput::Text(s), 1.0)?,
        (JValue::Number(_), "auto") => {
            return Err(fail(BAD_ARGUMENT, format!("${name} got a number: give the format \"unix\" (seconds) or \"millis\"")))
        }
        (JValue::String(s), "auto") => parse_auto(s)?,
        (JValue::String(s), pattern) if pattern.contains('%') => parse_pattern(s, pattern)?,
        (JValue::String(_) | JValue::Number(_), other) => {
            return Err(fail(BAD_ARGUMENT, format!("${name} has no format {other:?} (use \"auto\", \"unix\", \"millis\" or a %-pattern)")))
        }
        _ => return Err(mismatch(name, 1, "be a string or a number")),
    };
    Ok(Some(ms))
}
