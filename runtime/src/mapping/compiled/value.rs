//! The fast path's values: borrowed from the input and the bindings wherever possible, owned
//! only where an expression builds something new.
//!
//! JSONata distinguishes *undefined* (nothing matched: the key is left out) from `null`, and
//! a *sequence* (what a path produces; a sequence of one item is that item) from an array
//! (what the input holds or an array constructor builds). [`V`] keeps both distinctions.

use serde_json::Value;
use std::rc::Rc;

/// A value during a fast-path evaluation. `'a` is the lifetime of the input, the bindings and
/// the compiled program (literals are borrowed from it).
#[derive(Clone, Debug)]
pub(crate) enum V<'a> {
    Undef,
    Null,
    Bool(bool),
    Num(f64),
    Str(Rc<str>),
    /// A string, array or object of the input, a binding or a literal (never a scalar of
    /// another kind: [`V::of`] turns those into `Null`, `Bool` and `Num`).
    Ref(&'a Value),
    Arr(Rc<Arr<'a>>),
    /// A string borrowed from the program or from an input object's keys.
    Key(&'a str),
    /// An object built by the expression. Never holds `Undef`.
    Obj(Rc<Obj<'a>>),
}

/// An object key: borrowed from the program or the input, or owned.
#[derive(Clone, Debug)]
pub(crate) enum K<'a> {
    B(&'a str),
    O(Rc<str>),
    /// A key written by an object constructor of the program, its JSON text rendered.
    P(&'a FieldName),
}

impl std::ops::Deref for K<'_> {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        match self {
            K::B(s) => s,
            K::O(s) => s,
            K::P(f) => &f.name,
        }
    }
}

/// A built object: members in insertion order (objects built by mappings are small, so a
/// list searched in order beats hashing).
#[derive(Debug, Default)]
pub(crate) struct Obj<'a> {
    members: Vec<(K<'a>, V<'a>)>,
}

impl<'a> Obj<'a> {
    pub fn with_capacity(n: usize) -> Self {
        Obj { members: Vec::with_capacity(n) }
    }
    /// Sets a member; a key already present keeps its place.
    pub fn insert(&mut self, key: K<'a>, value: V<'a>) {
        match self.members.iter_mut().find(|(k, _)| same_key(k, &key)) {
            Some(member) => member.1 = value,
            None => self.members.push((key, value)),
        }
    }
    /// Adds a member known not to be present.
    pub fn push(&mut self, key: K<'a>, value: V<'a>) {
        self.members.push((key, value));
    }
    pub fn get(&self, key: &str) -> Option<&V<'a>> {
        self.members.iter().find(|(k, _)| same_key(k, key)).map(|(_, v)| v)
    }
    /// [`Self::get`], trying the position `hint` first and leaving there where it found `key`.
    #[inline]
    pub fn get_hinted(&self, key: &str, hint: &mut usize) -> Option<&V<'a>> {
        if let Some((k, v)) = self.members.get(*hint) {
            if same_key(k, key) {
                return Some(v);
            }
        }
        let position = self.members.iter().position(|(k, _)| same_key(k, key))?;
        *hint = position;
        Some(&self.members[position].1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&K<'a>, &V<'a>)> {
        self.members.iter().map(|(k, v)| (k, v))
    }
    pub fn len(&self) -> usize {
        self.members.len()
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Key equality for the searches in order: most keys of an object differ in length or in
/// their first byte, which this compares before calling out to compare the rest.
#[inline(always)]
pub(crate) fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// A built array or sequence.
#[derive(Debug, Default)]
pub(crate) struct Arr<'a> {
    pub items: Vec<V<'a>>,
    /// A sequence (a path's result): one item stands for itself, none for undefined.
    pub seq: bool,
    /// An array constructor's result used as a path's first step (JSONata's `cons`): a path
    /// step does not flatten it.
    pub cons: bool,
}

impl<'a> Arr<'a> {
    pub fn array(items: Vec<V<'a>>) -> V<'a> {
        V::Arr(Rc::new(Arr { items, seq: false, cons: false }))
    }
    pub fn sequence(items: Vec<V<'a>>) -> V<'a> {
        V::Arr(Rc::new(Arr { items, seq: true, cons: false }))
    }
}

/// The JavaScript type of a value, as `$type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Undef,
    Null,
    Bool,
    Num,
    Str,
    Arr,
    Obj,
}

impl<'a> V<'a> {
    /// A value of the input.
    #[inline]
    pub fn of(value: &'a Value) -> V<'a> {
        match value {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Number(n) => V::Num(n.as_f64().unwrap_or(0.0)),
            _ => V::Ref(value),
        }
    }

    pub fn string(s: impl Into<Rc<str>>) -> V<'a> {
        V::Str(s.into())
    }

    #[inline]
    pub fn kind(&self) -> Kind {
        match self {
            V::Undef => Kind::Undef,
            V::Null => Kind::Null,
            V::Bool(_) => Kind::Bool,
            V::Num(_) => Kind::Num,
            V::Str(_) | V::Key(_) => Kind::Str,
            V::Ref(Value::String(_)) => Kind::Str,
            V::Ref(Value::Array(_)) | V::Arr(_) => Kind::Arr,
            V::Ref(Value::Object(_)) | V::Obj(_) => Kind::Obj,
            V::Ref(Value::Null) => Kind::Null,
            V::Ref(Value::Bool(_)) => Kind::Bool,
            V::Ref(Value::Number(_)) => Kind::Num,
        }
    }

    #[inline]
    pub fn is_undef(&self) -> bool {
        matches!(self, V::Undef)
    }

    /// Undefined or `null`: what a record mapped to nothing gives.
    #[inline]
    pub fn is_nothing(&self) -> bool {
        matches!(self, V::Undef | V::Null)
    }

    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(s) => Some(s),
            V::Key(s) => Some(s),
            V::Ref(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The string, for a string borrowed for the whole evaluation.
    #[inline]
    pub fn as_borrowed_str(&self) -> Option<&'a str> {
        match self {
            V::Key(s) => Some(s),
            V::Ref(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The number, for a number.
    #[inline]
    pub fn as_num(&self) -> Option<f64> {
        match self {
            V::Num(n) => Some(*n),
            V::Ref(Value::Number(n)) => n.as_f64(),
            _ => None,
        }
    }

    pub fn is_array(&self) -> bool {
        self.kind() == Kind::Arr
    }

    pub fn is_seq(&self) -> bool {
        matches!(self, V::Arr(a) if a.seq)
    }

    /// An array's items, as values (borrowed items of an input array are wrapped).
    pub fn items(&self) -> Option<Items<'_, 'a>> {
        match self {
            V::Arr(a) => Some(Items::Built(a.items.iter())),
            V::Ref(Value::Array(items)) => Some(Items::Input(items.iter())),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            V::Arr(a) => a.items.len(),
            V::Ref(Value::Array(items)) => items.len(),
            _ => 0,
        }
    }

    /// `$boolean`: JSONata's truthiness (an array is true when any item is).
    pub fn truthy(&self) -> bool {
        match self {
            V::Undef | V::Null => false,
            V::Bool(b) => *b,
            V::Num(n) => *n != 0.0,
            V::Str(s) => !s.is_empty(),
            V::Key(s) => !s.is_empty(),
            V::Ref(Value::String(s)) => !s.is_empty(),
            V::Ref(Value::Object(map)) => !map.is_empty(),
            V::Obj(map) => !map.is_empty(),
            V::Ref(Value::Array(items)) => match items.len() {
                0 => false,
                1 => V::of(&items[0]).truthy(),
                _ => items.iter().any(|item| V::of(item).truthy()),
            },
            V::Arr(a) => match a.items.len() {
                0 => false,
                1 => a.items[0].truthy(),
                _ => a.items.iter().any(V::truthy),
            },
            V::Ref(other) => V::of(other).truthy(),
        }
    }

    /// A member of an object (`None` for anything else or a missing key).
    pub fn get(&self, key: &str) -> Option<V<'a>> {
        match self {
            V::Ref(Value::Object(map)) => member(map, key).map(V::of),
            V::Obj(map) => map.get(key).cloned(),
            _ => None,
        }
    }

    /// An object's keys in order, or `None` when this is not an object.
    pub fn entries(&self) -> Option<Vec<(K<'a>, V<'a>)>> {
        match self {
            V::Ref(Value::Object(map)) => Some(map.iter().map(|(k, v)| (K::B(k.as_str()), V::of(v))).collect()),
            V::Obj(map) => Some(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            _ => None,
        }
    }

    /// A key as a value.
    pub fn key(key: &K<'a>) -> V<'a> {
        match key {
            K::B(s) => V::Key(s),
            K::O(s) => V::Str(s.clone()),
            K::P(f) => V::Key(&f.name),
        }
    }

    /// [`Self::lookup`] with a position to try first in a built or parsed object (see
    /// [`Obj::get_hinted`]; `serde_json::Map` has no access by position).
    #[inline]
    pub fn lookup_hinted(&self, key: &str, hint: &mut usize) -> V<'a> {
        match self {
            V::Obj(map) => map.get_hinted(key, hint).cloned().unwrap_or(V::Undef),
            _ => self.lookup(key),
        }
    }

    /// JSONata's path lookup of `key`: a member of an object; over an array, the members of
    /// its items, flattened one level; undefined for anything else.
    pub fn lookup(&self, key: &str) -> V<'a> {
        match self {
            V::Ref(Value::Object(map)) => member(map, key).map_or(V::Undef, V::of),
            V::Obj(map) => map.get(key).cloned().unwrap_or(V::Undef),
            V::Ref(Value::Array(_)) | V::Arr(_) => {
                let mut out = Vec::new();
                for item in self.items().into_iter().flatten() {
                    let found = item.lookup(key);
                    match found.items() {
                        Some(items) if !found.is_undef() => out.extend(items),
                        _ if found.is_undef() => {}
                        _ => out.push(found),
                    }
                }
                Arr::sequence(out)
            }
            _ => V::Undef,
        }
    }

    /// A sequence as JSONata hands it on: none is undefined, one is that item.
    #[inline]
    pub fn settle(self) -> V<'a> {
        match &self {
            V::Arr(a) if a.seq => match a.items.len() {
                0 => V::Undef,
                1 => a.items[0].clone(),
                _ => self,
            },
            _ => self,
        }
    }
}

/// A member of an input object: small objects searched in order (cheaper than hashing the key).
#[inline]
fn member<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= 32 {
        map.iter().find(|(k, _)| same_key(k, key)).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// The items of an array, borrowed or built.
pub(crate) enum Items<'v, 'a> {
    Built(std::slice::Iter<'v, V<'a>>),
    Input(std::slice::Iter<'a, Value>),
}

impl<'a> Iterator for Items<'_, 'a> {
    type Item = V<'a>;
    #[inline]
    fn next(&mut self) -> Option<V<'a>> {
        match self {
            Items::Built(it) => it.next().cloned(),
            Items::Input(it) => it.next().map(V::of),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Items::Built(it) => it.size_hint(),
            Items::Input(it) => it.size_hint(),
        }
    }
}

/// Deep equality (`=`), as JSONata's: numbers by value, arrays item by item, objects by
/// their members regardless of order.
pub(crate) fn equal(a: &V, b: &V) -> bool {
    match (a.kind(), b.kind()) {
        (Kind::Null, Kind::Null) => true,
        (Kind::Bool, Kind::Bool) => matches!((a, b), (V::Bool(x), V::Bool(y)) if x == y),
        (Kind::Num, Kind::Num) => a.as_num() == b.as_num(),
        (Kind::Str, Kind::Str) => a.as_str() == b.as_str(),
        (Kind::Arr, Kind::Arr) => {
            a.len() == b.len() && a.items().into_iter().flatten().zip(b.items().into_iter().flatten()).all(|(x, y)| equal(&x, &y))
        }
        (Kind::Obj, Kind::Obj) => {
            let (Some(x), Some(y)) = (a.entries(), b.entries()) else { return false };
            x.len() == y.len() && x.iter().all(|(k, v)| b.get(k).is_some_and(|w| equal(v, &w)))
        }
        _ => false,
    }
}

/// Whether a key is one JavaScript would enumerate before the others (an array index), where
/// the fast path and the engine could order keys differently.
pub(crate) fn index_like(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit())
}

/// A key an object constructor writes, with its JSON text (`"key":`) rendered once, when the
/// program is compiled, instead of escaped again for every record.
#[derive(Debug)]
pub(crate) struct FieldName {
    pub name: String,
    pub json: String,
}

impl FieldName {
    pub fn new(name: &str) -> FieldName {
        let mut json = String::with_capacity(name.len() + 3);
        crate::mapping::convert::write_string(name, &mut json);
        json.push(':');
        FieldName { name: name.to_string(), json }
    }
}
