//! A fast-path result written out exactly as the adapter writes the engine's: JSON text as
//! `JSON.stringify` writes it, or a `serde_json::Value` with integral numbers as integers.
//! Numbers of the input go through `f64`, as they do through the engine. Too deep a result is
//! left to the engine, which reports it.

use super::stop::Stop;
use super::value::{K, V};
use crate::mapping::convert::{number_value, write_number, write_string};
use serde_json::Value;

pub(crate) fn write_json(v: &V, out: &mut String, depth: usize) -> Result<(), Stop> {
    match v {
        V::Undef | V::Null => out.push_str("null"),
        V::Bool(true) => out.push_str("true"),
        V::Bool(false) => out.push_str("false"),
        V::Num(n) => write_number(*n, out),
        V::Str(s) => write_string(s, out),
        V::Key(s) => write_string(s, out),
        V::Ref(value) => write_input(value, out, depth)?,
        V::Arr(a) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            out.push('[');
            for (i, item) in a.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out, depth)?;
            }
            out.push(']');
        }
        V::Obj(map) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match key {
                    K::P(field) => out.push_str(&field.json),
                    _ => {
                        write_string(key, out);
                        out.push(':');
                    }
                }
                write_json(item, out, depth)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_input(value: &Value, out: &mut String, depth: usize) -> Result<(), Stop> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n.as_f64().unwrap_or(0.0), out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_input(item, out, depth)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_input(item, out, depth)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

pub(crate) fn to_value(v: &V, depth: usize) -> Result<Value, Stop> {
    Ok(match v {
        V::Undef | V::Null => Value::Null,
        V::Bool(b) => Value::Bool(*b),
        V::Num(n) => number_value(*n),
        V::Str(s) => Value::String(s.to_string()),
        V::Key(s) => Value::String(s.to_string()),
        V::Ref(value) => input_value(value, depth)?,
        V::Arr(a) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            Value::Array(a.items.iter().map(|item| to_value(item, depth)).collect::<Result<_, _>>()?)
        }
        V::Obj(map) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            let mut out = serde_json::Map::with_capacity(map.len());
            for (key, item) in map.iter() {
                out.insert(key.to_string(), to_value(item, depth)?);
            }
            Value::Object(out)
        }
    })
}

fn input_value(value: &Value, depth: usize) -> Result<Value, Stop> {
    Ok(match value {
        Value::Number(n) => number_value(n.as_f64().unwrap_or(0.0)),
        Value::Array(items) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            Value::Array(items.iter().map(|item| input_value(item, depth)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => {
            let depth = depth.checked_sub(1).ok_or(Stop::Fallback)?;
            let mut out = serde_json::Map::with_capacity(map.len());
            for (key, item) in map {
                out.insert(key.clone(), input_value(item, depth)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Whether `value` nests no deeper than `max_depth` (a scalar is depth 0).
pub(crate) fn within_depth(value: &Value, max_depth: usize) -> bool {
    match value {
        Value::Array(items) => max_depth > 0 && items.iter().all(|item| within_depth(item, max_depth - 1)),
        Value::Object(map) => max_depth > 0 && map.values().all(|item| within_depth(item, max_depth - 1)),
        _ => true,
    }
}
