//! JSON text parsed straight into fast-path values, borrowing from the text: strings without
//! escapes and object keys are slices of it, objects are member lists (no hashing), numbers are
//! `f64` as the engine reads them. This is what makes mapping a page from text cheaper than
//! parsing it into `serde_json::Value` first.
//!
//! The result is the value `serde_json::Value` would give, as the fast path sees it: a repeated
//! key keeps its first place and its last value (as `preserve_order` does). An object wider than
//! [`MAX_MEMBERS`] is left to the `serde_json::Value` path, so the member search here stays
//! cheap on hostile input.

use super::value::{Arr, Obj, K, V};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::rc::Rc;

/// Members an object may have on this path (a repeated key is found by a search in order).
const MAX_MEMBERS: usize = 128;

/// Parses `text`; `None` when it is not JSON, nests deeper than `max_depth`, or has an object
/// wider than [`MAX_MEMBERS`] (the caller then takes the `serde_json::Value` path, which
/// reports or handles each of these).
pub(crate) fn parse(text: &str, max_depth: usize) -> Option<V<'_>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let Parsed(value) = Parsed::deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    (max_depth >= super::SERDE_JSON_DEPTH || within_depth(&value, max_depth)).then_some(value)
}

/// Whether `value` nests no deeper than `max_depth` (a scalar is depth 0).
fn within_depth(value: &V, max_depth: usize) -> bool {
    match value {
        V::Arr(a) => max_depth > 0 && a.items.iter().all(|item| within_depth(item, max_depth - 1)),
        V::Obj(map) => max_depth > 0 && map.iter().all(|(_, item)| within_depth(item, max_depth - 1)),
        _ => true,
    }
}

struct Parsed<'a>(V<'a>);

impl<'de> Deserialize<'de> for Parsed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(Parsed)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = V<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<V<'de>, E> {
        Ok(V::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<V<'de>, E> {
        Ok(V::Num(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<V<'de>, E> {
        Ok(V::Num(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<V<'de>, E> {
        Ok(V::Num(n))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<V<'de>, E> {
        Ok(V::Key(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<V<'de>, E> {
        Ok(V::string(s))
    }
    fn visit_string<E>(self, s: String) -> Result<V<'de>, E> {
        Ok(V::string(s))
    }
    fn visit_unit<E>(self) -> Result<V<'de>, E> {
        Ok(V::Null)
    }
    fn visit_none<E>(self) -> Result<V<'de>, E> {
        Ok(V::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<V<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Parsed(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Arr::array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V<'de>, A::Error> {
        // serde_json gives no size hint: room for a typical record's members, grown once for a
        // wide one.
        let mut members = Obj::with_capacity(map.size_hint().unwrap_or(12));
        // A key whose (length, first byte) was not seen before in this object is new: no search.
        let mut seen = 0u64;
        while let Some(Key(key)) = map.next_key()? {
            let Parsed(value) = map.next_value()?;
            if members.len() >= MAX_MEMBERS {
                return Err(de::Error::custom("an object too wide for the fast path"));
            }
            let bit =
                1u64 << ((key.len() as u64).wrapping_mul(31).wrapping_add(u64::from(key.as_bytes().first().copied().unwrap_or(0))) % 64);
            if seen & bit == 0 {
                members.push(key, value);
            } else {
                members.insert(key, value);
            }
            seen |= bit;
        }
        Ok(V::Obj(Rc::new(members)))
    }
}

/// An object key, borrowed from the text unless it has escapes.
struct Key<'a>(K<'a>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor).map(Key)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = K<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<K<'de>, E> {
        Ok(K::B(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<K<'de>, E> {
        Ok(K::O(Rc::from(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::output;
    use super::*;

    /// The fast path's view of a `serde_json::Value`, written out.
    fn via_serde(text: &str) -> String {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut out = String::new();
        output::write_json(&V::of(&value), &mut out, 100).unwrap();
        out
    }

    fn via_parse(text: &str) -> String {
        let mut out = String::new();
        output::write_json(&parse(text, 100).expect("parses"), &mut out, 100).unwrap();
        out
    }

    #[test]
    fn reads_as_serde_json_does() {
        for text in [
            r#"{"a":1,"b":[true,false,null,"x"],"c":{"d":-2.5e3,"e":""}}"#,
            r#"{"esc\"aped":"line\nbreak \u00e9","plain":"é"}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"[18446744073709551615, -9223372036854775808, 0.1, 1.5e300]"#,
            r#""top""#,
            "  {\"spaced\" : [ ] }  ",
        ] {
            assert_eq!(via_parse(text), via_serde(text), "{text}");
        }
    }

    #[test]
    fn refuses_what_the_value_path_must_handle() {
        assert!(parse("{\"a\":1} trailing", 100).is_none(), "trailing text");
        assert!(parse("{\"a\":", 100).is_none(), "truncated");
        assert!(parse("[[[1]]]", 2).is_none(), "deeper than the limit");
        assert!(parse("[[[1]]]", 3).is_some());
        let wide = format!("{{{}}}", (0..=MAX_MEMBERS).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        assert!(parse(&wide, 100).is_none(), "wider than MAX_MEMBERS");
    }
}
