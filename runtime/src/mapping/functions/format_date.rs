//! `$formatDate(value, format?, offset?)`

use super::args::{arg, arity, fail, opt_str};
use super::codes::BAD_ARGUMENT;
use super::datetime::{format_iso, format_pattern, parse_offset};
use super::parse_date::instant;
use super::{fails, ok, Call, Function, Twin};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "formatDate",
    signature: "$formatDate(value, format?, offset?)",
    summary: "Writes a date in a provider's format, at a UTC offset.",
    doc: "`value` is a date as `$parseDate` reads it with `\"auto\"` (any ISO 8601 variant, e.g. the result \
of `$parseDate`) or a number of epoch milliseconds (`$millis()`, `$toMillis(…)`). `offset` is where the \
date is seen: `\"+05:30\"`, `\"-0700\"`, `\"+05\"` or `\"Z\"` (the default, UTC).\n\n\
| `format` | writes | example |\n\
|---|---|---|\n\
| `\"iso\"` (default) | ISO 8601 with milliseconds, `Z` at offset 0, else `±HH:MM` | `2024-05-02T14:11:07.000Z`, `2024-05-02T19:41:07.000+05:30` |\n\
| `\"date\"` | the calendar date at the offset | `2024-05-02` |\n\
| `\"unix\"` | epoch seconds, a number (rounded down) | `1714659067` |\n\
| `\"millis\"` | epoch milliseconds, a number | `1714659067000` |\n\
| a pattern with `%` | `%Y` `%m` `%d` `%H` `%M` `%S`, `%f` (milliseconds, 3 digits), `%z` (`+0530`), `%:z` (`+05:30`), `%%`; other characters as written | `\"%Y-%m-%dT%H:%M:%S.%f%z\"` writes `2024-05-02T14:11:07.000+0000`; `\"%Y-%m-%d %H:%M:%S\"` writes `2024-05-02 14:11:07` |\n\n\
`null` and `\"\"` give `null`; undefined gives undefined. Errors are those of `$parseDate`, plus `F0101` for \
an unknown format or offset.",
    examples: &[
        ok("$formatDate(createdAt)", r#"{"createdAt": "2024-05-02T14:11:07.517+0000"}"#, r#""2024-05-02T14:11:07.517Z""#),
        ok("$formatDate(createdAt, \"iso\", \"+05:30\")", r#"{"createdAt": "2024-05-02T14:11:07.517Z"}"#, r#""2024-05-02T19:41:07.517+05:30""#),
        ok("$formatDate(createdAt, \"unix\")", r#"{"createdAt": "2023-04-07T18:59:53.999Z"}"#, "1680893993"),
        ok("$formatDate(createdAt, \"millis\")", r#"{"createdAt": "2013-02-20T05:30:24.844000+00:00"}"#, "1361338224844"),
        ok("$formatDate(close, \"date\", \"-0700\")", r#"{"close": "2024-05-02T03:00:00Z"}"#, r#""2024-05-01""#),
        ok("$formatDate(t, \"%Y-%m-%dT%H:%M:%S.%f%z\")", r#"{"t": "2024-05-02T14:11:07Z"}"#, r#""2024-05-02T14:11:07.000+0000""#),
        ok("$formatDate(t, \"%Y-%m-%d %H:%M:%S\")", r#"{"t": "2024-05-02T19:41:07+05:30"}"#, r#""2024-05-02 14:11:07""#),
        ok("$formatDate(1714659067517)", "{}", r#""2024-05-02T14:11:07.517Z""#),
        ok("$formatDate($parseDate(created, \"unix\"), \"%d.%m.%Y\")", r#"{"created": 1680893993}"#, r#""07.04.2023""#),
        ok("$formatDate($millis(), \"iso\", \"+02:00\")", "{}", r#""2024-05-02T16:11:07.517+02:00""#),
        ok("$formatDate(null)", "{}", "null"),
        fails("$formatDate(t, \"rfc2822\")", r#"{"t": "2024-05-02"}"#, "F0101"),
        fails("$formatDate(t, \"iso\", \"IST\")", r#"{"t": "2024-05-02"}"#, "F0101"),
        fails("$formatDate(t)", r#"{"t": "02.05.2024"}"#, "F0201"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 3)?;
    let format = opt_str(args, 1, FUNCTION.name)?.unwrap_or("iso");
    let offset = match opt_str(args, 2, FUNCTION.name)? {
        Some(text) => parse_offset(text)?,
        None => 0,
    };
    let known = matches!(format, "iso" | "date" | "unix" | "millis") || format.contains('%');
    if !known {
        return Err(fail(BAD_ARGUMENT, format!("$formatDate has no format {format:?} (use \"iso\", \"date\", \"unix\", \"millis\" or a %-pattern)")));
    }
    let value = arg(args, 0);
    let input_format = if matches!(value, JValue::Number(_)) { "millis" } else { "auto" };
    let Some(ms) = instant(value, input_format, FUNCTION.name)? else {
        return Ok(if matches!(value, JValue::Undefined) { JValue::Undefined } else { JValue::Null });
    };
    Ok(match format {
        "iso" => JValue::string(format_iso(ms, offset)?),
        "date" => JValue::string(format_pattern(ms, offset, "%Y-%m-%d")?),
        "unix" => JValue::Number(ms.div_euclid(1000) as f64),
        "millis" => JValue::Number(ms as f64),
        pattern => JValue::string(format_pattern(ms, offset, pattern)?),
    })
}
