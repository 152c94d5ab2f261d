//! Values across the adapter boundary: JSON text and `serde_json::Value` in, `JValue` inside,
//! `serde_json::Value` or JSON text out. Every direction bounds nesting depth, so no input
//! can overflow the stack of the thread that converts it.

use indexmap::IndexMap;
use jsonata_core::value::{with_stack, JArray, JValue};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Why a conversion failed.
#[derive(Debug)]
pub(crate) enum ConvertError {
    TooDeep,
    Invalid(String),
}

/// Parses JSON text into a `JValue`, refusing anything nested deeper than `max_depth`
/// (a scalar is depth 0, `[]` is depth 1). serde_json's own recursion limit (128) stays on
/// as a backstop.
pub(crate) fn parse_json(text: &str, max_depth: usize) -> Result<JValue, ConvertError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Seed { remaining: max_depth }.deserialize(&mut de).and_then(|value| de.end().map(|()| value));
    result.map_err(|e| {
        let message = e.to_string();
        if message.starts_with(TOO_DEEP) || message.starts_with("recursion limit exceeded") {
            ConvertError::TooDeep
        } else {
            ConvertError::Invalid(message)
        }
    })
}

const TOO_DEEP: &str = "nested too deeply";

#[derive(Clone, Copy)]
struct Seed {
    remaining: usize,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = JValue;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<JValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Seed {
    fn deeper<E: de::Error>(self) -> Result<Seed, E> {
        match self.remaining.checked_sub(1) {
            Some(remaining) => Ok(Seed { remaining }),
            None => Err(E::custom(TOO_DEEP)),
        }
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = JValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JValue, E> {
        Ok(JValue::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JValue, E> {
        Ok(JValue::Number(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JValue, E> {
        Ok(JValue::Number(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JValue, E> {
        Ok(JValue::Number(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JValue, E> {
        Ok(JValue::string(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<JValue, E> {
        Ok(JValue::String(v.into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<JValue, E> {
        Ok(JValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JValue, A::Error> {
        let inner = self.deeper()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let mut flat = true;
        while let Some(item) = seq.next_element_seed(inner)? {
            flat &= !matches!(item, JValue::Array(_));
            items.push(item);
        }
        Ok(JValue::Array(JArray::new_flat(items, flat)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JValue, A::Error> {
        let inner = self.deeper()?;
        let mut out = IndexMap::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            out.insert(key, value);
        }
        Ok(JValue::object(out))
    }
}

/// Converts a `serde_json::Value` (borrowed: no copy of the caller's value first), refusing
/// anything nested deeper than `max_depth`. The walk stops at the limit, so a value of any
/// depth is safe to hand in.
pub(crate) fn from_value(value: &serde_json::Value, max_depth: usize) -> Result<JValue, ConvertError> {
    Ok(match value {
        serde_json::Value::Null => JValue::Null,
        serde_json::Value::Bool(b) => JValue::Bool(*b),
        serde_json::Value::Number(n) => JValue::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => JValue::string(s.as_str()),
        serde_json::Value::Array(items) => {
            let depth = max_depth.checked_sub(1).ok_or(ConvertError::TooDeep)?;
            let mut flat = true;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let item = with_stack(|| from_value(item, depth))?;
                flat &= !matches!(item, JValue::Array(_));
                out.push(item);
            }
            JValue::Array(JArray::new_flat(out, flat))
        }
        serde_json::Value::Object(map) => {
            let depth = max_depth.checked_sub(1).ok_or(ConvertError::TooDeep)?;
            let mut out = IndexMap::with_capacity(map.len());
            for (key, item) in map {
                out.insert(key.clone(), with_stack(|| from_value(item, depth))?);
            }
            JValue::object(out)
        }
    })
}

/// Converts a result to a `serde_json::Value`. Undefined becomes `null`; a function value
/// becomes `""` (as the engine's own serializer writes it); integral numbers become
/// integers; NaN and infinities become `null`.
pub(crate) fn to_value(value: &JValue, max_depth: usize) -> Result<serde_json::Value, ConvertError> {
    Ok(match value {
        JValue::Null | JValue::Undefined => serde_json::Value::Null,
        JValue::Bool(b) => serde_json::Value::Bool(*b),
        JValue::Number(n) => number_value(*n),
        JValue::String(s) => serde_json::Value::String(s.to_string()),
        JValue::Array(items) => {
            let depth = max_depth.checked_sub(1).ok_or(ConvertError::TooDeep)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                out.push(with_stack(|| to_value(item, depth))?);
            }
            serde_json::Value::Array(out)
        }
        JValue::Object(map) => {
            let depth = max_depth.checked_sub(1).ok_or(ConvertError::TooDeep)?;
            let mut out = serde_json::Map::with_capacity(map.len());
            for (key, item) in map.iter() {
                if matches!(item, JValue::Undefined) {
                    continue;
                }
                out.insert(key.clone(), with_stack(|| to_value(item, depth))?);
            }
            serde_json::Value::Object(out)
        }
        _ => serde_json::Value::String(String::new()),
    })
}

pub(crate) fn number_value(n: f64) -> serde_json::Value {
    if !n.is_finite() {
        serde_json::Value::Null
    } else if n.fract() == 0.0 && n.abs() < 9.2e18 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// Writes a result as compact JSON text, exactly as JavaScript's `JSON.stringify` writes the
/// same value (number formatting included), so the text compares byte for byte with the
/// reference implementation's. Undefined at the top is `null`; undefined members are left out.
pub(crate) fn write_json(value: &JValue, out: &mut String, max_depth: usize) -> Result<(), ConvertError> {
    match value {
        JValue::Null | JValue::Undefined => out.push_str("null"),
        JValue::Bool(true) => out.push_str("true"),
        JValue::Bool(false) => out.push_str("false"),
        JValue::Number(n) => write_number(*n, out),
        JValue::String(s) => write_string(s, out),
        JValue::Array(items) => {
            let depth = max_depth.checked_sub(1).ok_or(ConvertError::TooDeep)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                with_stack(|| write_json(item, out, depth))?;
            }
            out.push(']');
        }
        JValue::Object(map) => {
            let depth = max_depth.checked_sub(1).ok_or(ConvertError::TooDeep)?;
            out.push('{');
            let mut first = true;
            for (key, item) in map.iter() {
                if matches!(item, JValue::Undefined) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                write_string(key, out);
                out.push(':');
                with_stack(|| write_json(item, out, depth))?;
            }
            out.push('}');
        }
        _ => out.push_str("\"\""),
    }
    Ok(())
}

/// The bytes `write_string` escapes: control characters, `"` and `\\`.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Whether any byte needs escaping, eight bytes at a time: the usual string needs none, and
/// this check is most of the cost of writing it.
#[inline]
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether any byte of `w` is below `n` (exact for n <= 128: no false answer either way).
    let any_below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        if any_below(w, 0x20) || any_below(w ^ (ONES * u64::from(b'"')), 1) || any_below(w ^ (ONES * u64::from(b'\\')), 1) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| NEEDS_ESCAPE[b as usize])
}

/// A JSON string literal, escaped as `JSON.stringify` escapes it (which is also how
/// serde_json does: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other controls as `\u00xx`).
pub(crate) fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A number as JavaScript's `Number.prototype.toString` writes it: the shortest digits that
/// read back to the same double (ryu computes them), laid out by ECMA-262's rules (plain
/// notation from 1e-6 up to 1e21, exponent notation with an explicit sign outside).
pub(crate) fn write_number(n: f64, out: &mut String) {
    use std::fmt::Write as _;
    if !n.is_finite() {
        out.push_str("null");
        return;
    }
    if n == 0.0 {
        out.push('0');
        return;
    }
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        let _ = write!(out, "{}", n as i64);
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(n);
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    // ryu writes `d.ddd`, `ddd.d` or `d.ddde-7`: collect the digits and where the point is.
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: String = int_part.chars().chain(frac_part.chars()).collect();
    // `point`: the decimal point sits after this many digits (ECMA-262's `n`).
    let mut point = int_part.len() as i32 + exponent;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..leading);
    point -= leading as i32;
    let trimmed = digits.trim_end_matches('0').len();
    digits.truncate(trimmed.max(1));
    let k = digits.len() as i32;
    if negative {
        out.push('-');
    }
    if k <= point && point <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (point - k) as usize));
    } else if 0 < point && point <= 21 {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    } else if -6 < point && point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        let e = point - 1;
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{}", if e >= 0 { "+" } else { "-" }, e.abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_check_finds_every_byte_at_every_place() {
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(needs_escape(&bytes), NEEDS_ESCAPE[b as usize], "byte {b:#x} at {at} of {len}");
                }
            }
        }
        assert!(!needs_escape("Ünïcødé ✓ text without escapes".as_bytes()));
    }

    fn number(n: f64) -> String {
        let mut out = String::new();
        write_number(n, &mut out);
        out
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "0"),
            (1.0, "1"),
            (-42.0, "-42"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (0.00001, "0.00001"),
            (1e-7, "1e-7"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e21, "1e+21"),
            (1.2345e22, "1.2345e+22"),
            (9007199254740993.0, "9007199254740992"),
            (2f64.powi(60), "1152921504606847000"),
            (1.23456, "1.23456"),
            (-2.5, "-2.5"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (12.0e3 + 0.5, "12000.5"),
            (f64::NAN, "null"),
        ];
        for (n, expected) in cases {
            assert_eq!(number(*n), *expected, "{n:e}");
        }
    }

    #[test]
    fn strings_are_escaped_like_json_stringify() {
        let mut out = String::new();
        write_string("a\"b\\c\n\u{1}\u{7f}é\u{2028}", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001\u{7f}é\u{2028}\"");
    }

    #[test]
    fn depth_is_bounded_both_ways() {
        assert!(parse_json("[[[1]]]", 3).is_ok());
        assert!(matches!(parse_json("[[[1]]]", 2), Err(ConvertError::TooDeep)));
        assert!(matches!(parse_json("{\"a\":", 5), Err(ConvertError::Invalid(_))));
        assert!(matches!(parse_json("1 2", 5), Err(ConvertError::Invalid(_))));
        let value = serde_json::json!({"a": [{"b": 1}]});
        assert!(from_value(&value, 3).is_ok());
        assert!(matches!(from_value(&value, 2), Err(ConvertError::TooDeep)));
    }
}
