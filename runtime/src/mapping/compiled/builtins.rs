//! The built-in functions the fast path evaluates itself. Each handles the argument types whose
//! result it knows to be the engine's; anything else is [`Stop::Fallback`], and the engine
//! evaluates the expression instead. String work is done by jsonata-core's own functions.

use super::stop::Stop;
use super::value::{equal, index_like, Arr, Kind, Obj, K, V};
use crate::mapping::functions::{Call, Function};
use indexmap::IndexMap;
use jsonata_core::functions::{numeric, string};
use jsonata_core::value::JValue;
use std::rc::Rc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    String,
    Number,
    Boolean,
    Not,
    Exists,
    Count,
    Type,
    Append,
    Merge,
    Keys,
    Lookup,
    Split,
    Join,
    Trim,
    Lowercase,
    Uppercase,
    Length,
    Substring,
    SubstringBefore,
    SubstringAfter,
    Contains,
}

impl Builtin {
    pub fn is_function_name(name: &str) -> bool {
        crate::registry::vocabulary::JSONATA_FUNCTIONS.contains(&name)
    }

    /// The built-in called `name` with `argc` arguments, when the fast path evaluates it.
    pub fn find(name: &str, argc: usize) -> Option<Builtin> {
        use Builtin::*;
        let (builtin, arity): (Builtin, &[usize]) = match name {
            "string" => (String, &[1]),
            "number" => (Number, &[1]),
            "boolean" => (Boolean, &[1]),
            "not" => (Not, &[1]),
            "exists" => (Exists, &[1]),
            "count" => (Count, &[1]),
            "type" => (Type, &[1]),
            "append" => (Append, &[2]),
            "merge" => (Merge, &[1]),
            "keys" => (Keys, &[1]),
            "lookup" => (Lookup, &[2]),
            "split" => (Split, &[2]),
            "join" => (Join, &[1, 2]),
            "trim" => (Trim, &[1]),
            "lowercase" => (Lowercase, &[1]),
            "uppercase" => (Uppercase, &[1]),
            "length" => (Length, &[1]),
            "substring" => (Substring, &[2, 3]),
            "substringBefore" => (SubstringBefore, &[2]),
            "substringAfter" => (SubstringAfter, &[2]),
            "contains" => (Contains, &[2]),
            _ => return None,
        };
        arity.contains(&argc).then_some(builtin)
    }

    /// Whether the result can be a sequence (which a lambda's tail call would hand on as is).
    pub fn may_give_sequence(self) -> bool {
        matches!(self, Builtin::Keys | Builtin::Lookup)
    }

    pub fn call<'a>(self, args: &[V<'a>]) -> Result<V<'a>, Stop> {
        use Builtin::*;
        let arg = |i: usize| args.get(i).unwrap_or(&V::Undef);
        let a = arg(0);
        Ok(match self {
            String => match a.kind() {
                Kind::Undef => V::Undef,
                Kind::Str => a.clone(),
                _ => from_engine(string::string(&to_engine(a)?, None).map_err(|_| Stop::Fallback)?)?,
            },
            Number => match a.kind() {
                Kind::Undef => V::Undef,
                Kind::Num => a.clone(),
                Kind::Str => from_engine(numeric::number(&to_engine(a)?).map_err(|_| Stop::Fallback)?)?,
                _ => return Err(Stop::Fallback),
            },
            Boolean | Not if a.is_undef() => return Err(Stop::Fallback),
            Boolean => V::Bool(a.truthy()),
            Not => V::Bool(!a.truthy()),
            Exists => V::Bool(!a.is_undef()),
            Count => match a.kind() {
                Kind::Undef => V::Num(0.0),
                Kind::Arr => V::Num(a.len() as f64),
                Kind::Null => return Err(Stop::Fallback),
                _ => V::Num(1.0),
            },
            Type => match a.kind() {
                Kind::Undef => V::Undef,
                Kind::Null => V::string("null"),
                Kind::Bool => V::string("boolean"),
                Kind::Num => V::string("number"),
                Kind::Str => V::string("string"),
                Kind::Arr => V::string("array"),
                Kind::Obj => V::string("object"),
            },
            Append => {
                let b = arg(1);
                if b.is_undef() {
                    return Ok(a.clone());
                }
                if a.is_undef() {
                    return Ok(b.clone());
                }
                let mut items: Vec<V<'a>> = match a.items() {
                    Some(items) => items.collect(),
                    None => vec![a.clone()],
                };
                match b.items() {
                    Some(more) => items.extend(more),
                    None => items.push(b.clone()),
                }
                Arr::array(items)
            }
            Merge => match a.kind() {
                Kind::Undef => V::Undef,
                Kind::Obj => a.clone(),
                Kind::Arr => {
                    // Objects of which one only has members (`$merge([{}, $x])`): that one.
                    let mut only = None;
                    let mut members = 0;
                    for item in a.items().into_iter().flatten() {
                        match &item {
                            V::Ref(serde_json::Value::Object(map)) if map.is_empty() => {}
                            V::Obj(map) if map.is_empty() => {}
                            V::Ref(serde_json::Value::Object(_)) | V::Obj(_) => {
                                members += 1;
                                only = Some(item);
                            }
                            _ => return Err(Stop::Fallback),
                        }
                    }
                    if members <= 1 {
                        return Ok(match only {
                            Some(item) => {
                                let fine = match &item {
                                    V::Ref(serde_json::Value::Object(map)) => !map.keys().any(|k| index_like(k)),
                                    V::Obj(map) => !map.iter().any(|(k, _)| index_like(k)),
                                    _ => false,
                                };
                                if !fine {
                                    return Err(Stop::Fallback);
                                }
                                item
                            }
                            None => V::Obj(Rc::new(Obj::default())),
                        });
                    }
                    let mut out = Obj::default();
                    for item in a.items().into_iter().flatten() {
                        for (key, value) in item.entries().ok_or(Stop::Fallback)? {
                            if index_like(&key) {
                                return Err(Stop::Fallback);
                            }
                            out.insert(key, value);
                        }
                    }
                    V::Obj(Rc::new(out))
                }
                _ => return Err(Stop::Fallback),
            },
            Keys => match a.kind() {
                Kind::Undef => V::Undef,
                Kind::Obj => {
                    let entries = a.entries().ok_or(Stop::Fallback)?;
                    if entries.iter().any(|(k, _)| index_like(k)) {
                        return Err(Stop::Fallback);
                    }
                    Arr::sequence(entries.iter().map(|(k, _)| V::key(k)).collect())
                }
                _ => return Err(Stop::Fallback),
            },
            Lookup => {
                let key = arg(1).as_str().ok_or(Stop::Fallback)?;
                match a.kind() {
                    Kind::Undef | Kind::Null => V::Undef,
                    Kind::Obj => a.lookup(key),
                    _ => return Err(Stop::Fallback),
                }
            }
            Split => match (a.kind(), arg(1).as_str()) {
                (Kind::Undef, _) => V::Undef,
                (Kind::Str, Some(separator)) => {
                    let s = a.as_str().unwrap_or_default();
                    let parts: Vec<V<'a>> = if separator.is_empty() {
                        s.chars().map(|c| V::string(c.to_string())).collect()
                    } else {
                        s.split(separator).map(V::string).collect()
                    };
                    Arr::array(parts)
                }
                _ => return Err(Stop::Fallback),
            },
            Join => {
                let separator = match arg(1) {
                    V::Undef => "",
                    other => other.as_str().ok_or(Stop::Fallback)?,
                };
                match a.kind() {
                    Kind::Undef => V::Undef,
                    Kind::Arr => {
                        let mut out = std::string::String::new();
                        for (i, item) in a.items().into_iter().flatten().enumerate() {
                            if i > 0 {
                                out.push_str(separator);
                            }
                            out.push_str(item.as_str().ok_or(Stop::Fallback)?);
                        }
                        V::string(out)
                    }
                    _ => return Err(Stop::Fallback),
                }
            }
            Trim | Lowercase | Uppercase | Length => match a.kind() {
                Kind::Undef => V::Undef,
                Kind::Str => {
                    let s = a.as_str().unwrap_or_default();
                    let result = match self {
                        Trim => string::trim(s),
                        Lowercase => string::lowercase(s),
                        Uppercase => string::uppercase(s),
                        _ => string::length(s),
                    };
                    from_engine(result.map_err(|_| Stop::Fallback)?)?
                }
                _ => return Err(Stop::Fallback),
            },
            Substring => {
                let integral = |v: &V| v.as_num().filter(|n| n.fract() == 0.0 && n.abs() < 1e15).map(|n| n as i64);
                match a.kind() {
                    Kind::Undef => V::Undef,
                    Kind::Str => {
                        let start = integral(arg(1)).ok_or(Stop::Fallback)?;
                        let length = match args.get(2) {
                            None => None,
                            Some(v) => Some(integral(v).ok_or(Stop::Fallback)?),
                        };
                        substring(a, start, length)?
                    }
                    _ => return Err(Stop::Fallback),
                }
            }
            SubstringBefore | SubstringAfter | Contains => {
                if a.is_undef() || (self == Contains && arg(1).is_undef()) {
                    return Ok(V::Undef);
                }
                let (Some(s), Some(t)) = (a.as_str(), arg(1).as_str()) else { return Err(Stop::Fallback) };
                match self {
                    SubstringBefore => from_engine(string::substring_before(s, t).map_err(|_| Stop::Fallback)?)?,
                    SubstringAfter => from_engine(string::substring_after(s, t).map_err(|_| Stop::Fallback)?)?,
                    _ => V::Bool(s.contains(t)),
                }
            }
        })
    }
}

/// `$substring` of a value with integral positions.
#[inline]
pub(crate) fn substring<'a>(a: &V<'a>, start: i64, length: Option<i64>) -> Result<V<'a>, Stop> {
    match a.kind() {
        Kind::Undef => Ok(V::Undef),
        Kind::Str => {
            // From a position counted from the start, some characters: the same characters as
            // jsonata-core's slice, borrowed when the string is.
            if let (Some(s), true, Some(length)) = (a.as_borrowed_str(), start >= 0, length.filter(|l| *l > 0)) {
                let (start, length) = (start as usize, length as usize);
                // ASCII up to the end of the slice: byte positions are character positions.
                let end = start.saturating_add(length);
                if s.as_bytes().iter().take(end).all(u8::is_ascii) {
                    return Ok(V::Key(&s[start.min(s.len())..end.min(s.len())]));
                }
                let mut chars = s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len()));
                let from = chars.nth(start).unwrap_or(s.len());
                let to = chars.nth(length - 1).unwrap_or(s.len());
                return Ok(V::Key(&s[from..to]));
            }
            from_engine(string::substring(a.as_str().unwrap_or_default(), start, length).map_err(|_| Stop::Fallback)?)
        }
        _ => Err(Stop::Fallback),
    }
}

/// `in`: whether `a` is `b` or one of its items (values by value; arrays and objects only by
/// identity, which the fast path leaves to the engine).
pub(crate) fn member(a: &V, b: &V) -> Result<bool, Stop> {
    if a.is_undef() || b.is_undef() {
        return Ok(false);
    }
    if matches!(a.kind(), Kind::Arr | Kind::Obj) {
        return Err(Stop::Fallback);
    }
    if let Some(s) = a.as_str() {
        return Ok(match b.items() {
            Some(mut items) => items.any(|item| item.as_str() == Some(s)),
            None => b.as_str() == Some(s),
        });
    }
    let same = |item: &V| -> bool { !matches!(item.kind(), Kind::Arr | Kind::Obj) && equal(a, item) };
    Ok(match b.items() {
        Some(mut items) => items.any(|item| same(&item)),
        None => same(b),
    })
}

/// Whether the fast path calls this library function (through the engine's values): all but
/// `$groupBy`, which evaluates an expression of its own.
pub(crate) fn library_supported(function: &Function) -> bool {
    function.name != "groupBy"
}

/// Calls a library function with the engine's values: arguments converted, the result
/// converted back. An error is left to the engine, which reports it.
pub(crate) fn call_library<'a>(function: &Function, args: &[V<'a>], call: &Call) -> Result<V<'a>, Stop> {
    let args = args.iter().map(|a| to_engine_deep(a, 0)).collect::<Result<Vec<_>, _>>()?;
    let result = (function.call)(&args, call).map_err(|_| Stop::Fallback)?;
    from_engine_deep(result, 0)
}

/// How deep a value crosses to and from the engine's values here (the input is already bounded).
const BRIDGE_DEPTH: usize = 512;

fn to_engine_deep(v: &V, depth: usize) -> Result<JValue, Stop> {
    if depth > BRIDGE_DEPTH {
        return Err(Stop::Fallback);
    }
    Ok(match v {
        V::Ref(value @ (serde_json::Value::Array(_) | serde_json::Value::Object(_))) => {
            crate::mapping::convert::from_value(value, BRIDGE_DEPTH).map_err(|_| Stop::Fallback)?
        }
        V::Arr(a) => {
            let items = a.items.iter().map(|item| to_engine_deep(item, depth + 1)).collect::<Result<Vec<_>, _>>()?;
            if a.seq {
                JValue::sequence(items)
            } else {
                JValue::array(items)
            }
        }
        V::Obj(map) => {
            let mut out = IndexMap::with_capacity(map.len());
            for (key, item) in map.iter() {
                out.insert(key.to_string(), to_engine_deep(item, depth + 1)?);
            }
            JValue::object(out)
        }
        other => to_engine(other)?,
    })
}

fn from_engine_deep<'a>(value: JValue, depth: usize) -> Result<V<'a>, Stop> {
    if depth > BRIDGE_DEPTH {
        return Err(Stop::Fallback);
    }
    Ok(match value {
        JValue::Array(arr) => {
            if arr.sequence || arr.cons || arr.keep_singleton || arr.outer_wrapper || arr.sorted_tuples {
                return Err(Stop::Fallback);
            }
            let items = arr.iter().map(|item| from_engine_deep(item.clone(), depth + 1)).collect::<Result<Vec<_>, _>>()?;
            if items.iter().any(V::is_undef) {
                return Err(Stop::Fallback);
            }
            Arr::array(items)
        }
        JValue::Object(map) => {
            let mut out = Obj::with_capacity(map.len());
            for (key, item) in map.iter() {
                let item = from_engine_deep(item.clone(), depth + 1)?;
                if item.is_undef() || index_like(key) {
                    return Err(Stop::Fallback);
                }
                out.push(K::O(Rc::from(key.as_str())), item);
            }
            V::Obj(Rc::new(out))
        }
        other => from_engine(other)?,
    })
}

/// A value as the engine's, for the engine's functions. Only scalars cross.
pub(crate) fn to_engine(v: &V) -> Result<JValue, Stop> {
    Ok(match v.kind() {
        Kind::Undef => JValue::Undefined,
        Kind::Null => JValue::Null,
        Kind::Bool => JValue::Bool(matches!(v, V::Bool(true))),
        Kind::Num => JValue::Number(v.as_num().unwrap_or(0.0)),
        Kind::Str => JValue::string(v.as_str().unwrap_or_default()),
        _ => return Err(Stop::Fallback),
    })
}

/// A scalar result of the engine's functions.
pub(crate) fn from_engine<'a>(value: JValue) -> Result<V<'a>, Stop> {
    Ok(match value {
        JValue::Undefined => V::Undef,
        JValue::Null => V::Null,
        JValue::Bool(b) => V::Bool(b),
        JValue::Number(n) => V::Num(n),
        JValue::String(s) => V::Str(Rc::from(&*s)),
        _ => return Err(Stop::Fallback),
    })
}
