//! `$toNumber(value)`

use super::args::{arg, arity, trim_ascii};
use super::{ok, Call, Function, Twin};
use jsonata_core::evaluator::EvaluatorError;
use jsonata_core::value::JValue;

pub(super) const FUNCTION: Function = Function {
    name: "toNumber",
    signature: "$toNumber(value)",
    summary: "A number from a number, a numeric string or a boolean; `null` when there is none.",
    doc: "Unlike `$number`, never fails. A number is returned as it is; `true` is `1` and `false` is `0`. A string \
is trimmed of spaces, tabs and line breaks and must then be a decimal number: an optional sign, digits with an \
optional decimal point (`\"007\"`, `\".5\"`, `\"5.\"`), an optional exponent (`\"1e3\"`). No thousands \
separators, no hexadecimal, no `Infinity`. Anything else (`\"\"`, `\"12 apples\"`, `null`, an object, an \
array) is `null`. Undefined gives undefined.",
    examples: &[
        ok("$toNumber(properties.seats)", r#"{"properties": {"seats": " 12 "}}"#, "12"),
        ok("$toNumber(amount)", r#"{"amount": "-1250.50"}"#, "-1250.5"),
        ok("[$toNumber(\"1e3\"), $toNumber(\".5\"), $toNumber(\"5.\"), $toNumber(\"+7\"), $toNumber(\"007\"), $toNumber(true), $toNumber(3.25)]", "{}", "[1000, 0.5, 5, 7, 7, 1, 3.25]"),
        ok("[$toNumber(\"\"), $toNumber(\"12 apples\"), $toNumber(\"1,000\"), $toNumber(\"Infinity\"), $toNumber(null)]", "{}", "[null, null, null, null, null]"),
        ok("$toNumber(missing)", "{}", "null"),
    ],
    twin: Twin::Faithful,
    call,
};

fn call(args: &[JValue], _: &Call) -> Result<JValue, EvaluatorError> {
    arity(args, FUNCTION.name, 1, 1)?;
    Ok(match arg(args, 0) {
        JValue::Undefined => JValue::Undefined,
        JValue::Number(n) => JValue::Number(*n),
        JValue::Bool(b) => JValue::Number(if *b { 1.0 } else { 0.0 }),
        JValue::String(s) => parse(trim_ascii(s)).map_or(JValue::Null, JValue::Number),
        _ => JValue::Null,
    })
}

/// `[+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?`, finite.
fn parse(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_digits = count_digits(&bytes[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&bytes[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&bytes[i..]);
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != bytes.len() {
        return None;
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}
