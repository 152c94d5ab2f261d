//! The interpreter: walks a [`Program`] over borrowed JSON with JSONata's semantics, or stops
//! ([`Stop::Fallback`]) where it could not be sure to give the engine's answer.

use super::builtins;
use super::ir::{Arith, Filter, Hof, Node, Order, Path, Program, Step, StepNode, Stmt};
pub(crate) use super::stop::Stop;
use super::value::{equal, index_like, same_key, Arr, Kind, Obj, K, V};
use crate::mapping::functions::Call;
use jsonata_core::functions::string;
use std::rc::Rc;
use std::time::Instant;

/// The state of one evaluation.
pub(crate) struct Env<'a, 'c> {
    pub program: &'a Program,
    pub slots: Vec<V<'a>>,
    pub globals: Vec<V<'a>>,
    pub root: V<'a>,
    pub max_sequence: usize,
    pub started: Instant,
    pub timeout_ms: u64,
    pub cancelled: &'c dyn Fn() -> bool,
    pub ticks: u32,
    /// What our library's functions see of the evaluation.
    pub call: Call,
    /// For each lambda whose value depends on its key alone ([`super::ir::Lambda::key_only`]):
    /// whether `$sift` keeps each key seen so far.
    pub kept_keys: Vec<KeyMemo>,
    /// For each field step, where its member was found last.
    pub hints: Vec<usize>,
}

/// Answers of a `$sift` lambda by key, for the whole session (bounded).
#[derive(Default)]
pub(crate) struct KeyMemo {
    by_key: std::collections::HashMap<Box<str>, bool, std::hash::BuildHasherDefault<WordHash>>,
    /// The key last seen at each position of an object, with its answer: the records of a
    /// page mostly have their keys in the same order, so one comparison usually answers.
    by_position: Vec<(Box<str>, bool)>,
}

/// Positions [`KeyMemo::by_position`] covers.
const MEMO_POSITIONS: usize = 256;

impl KeyMemo {
    fn get(&mut self, position: usize, key: &str) -> Option<bool> {
        if let Some((known, keep)) = self.by_position.get(position) {
            if same_key(known, key) {
                return Some(*keep);
            }
        }
        let keep = self.by_key.get(key).copied()?;
        self.at(position, key, keep);
        Some(keep)
    }

    fn insert(&mut self, position: usize, key: &str, keep: bool) {
        if self.by_key.len() < MEMO_KEYS {
            self.by_key.insert(Box::from(key), keep);
        }
        self.at(position, key, keep);
    }

    fn at(&mut self, position: usize, key: &str, keep: bool) {
        if position < self.by_position.len() {
            self.by_position[position] = (Box::from(key), keep);
        } else if position == self.by_position.len() && position < MEMO_POSITIONS {
            self.by_position.push((Box::from(key), keep));
        }
    }
}

/// Keys remembered per lambda at most.
const MEMO_KEYS: usize = 4096;

/// A multiply-rotate hash eight bytes at a time (as rustc's FxHash): short keys, no adversary
/// that matters (a bounded cache).
#[derive(Default)]
pub(crate) struct WordHash(u64);

impl WordHash {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ ((rest.len() as u64) << 56));
    }
    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }
}

impl<'a, 'c> Env<'a, 'c> {
    /// Evaluates the program on `input`.
    pub fn run(&mut self, input: V<'a>) -> Result<V<'a>, Stop> {
        self.started = Instant::now();
        self.ticks = 0;
        self.check()?;
        for slot in &mut self.slots {
            *slot = V::Undef;
        }
        self.root = input;
        let root = self.root.clone();
        self.ev(&self.program.root, &root)
    }

    fn check(&self) -> Result<(), Stop> {
        if (self.cancelled)() {
            return Err(Stop::Limit("U1003: Evaluation cancelled".to_string()));
        }
        if self.started.elapsed().as_millis() as u64 > self.timeout_ms {
            return Err(Stop::Limit(format!("D1012: Evaluation timeout after {} milliseconds. Check for infinite loop", self.timeout_ms)));
        }
        Ok(())
    }

    #[inline]
    fn tick(&mut self) -> Result<(), Stop> {
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % 1024 == 0 {
            self.check()?;
        }
        Ok(())
    }

    fn bounded(&self, len: usize) -> Result<(), Stop> {
        if len > self.max_sequence {
            return Err(Stop::Fallback);
        }
        Ok(())
    }

    /// A node's value as JSONata hands it on (a sequence of one is its item).
    #[inline]
    pub fn eval(&mut self, node: &'a Node, ctx: &V<'a>) -> Result<V<'a>, Stop> {
        Ok(self.raw(node, ctx)?.settle())
    }

    /// [`Self::eval`], with the leaves (variables, literals) read in place.
    #[inline(always)]
    fn ev(&mut self, node: &'a Node, ctx: &V<'a>) -> Result<V<'a>, Stop> {
        match node {
            Node::Local(slot) => Ok(self.slots[*slot].clone().settle()),
            Node::Lit(value) => Ok(V::of(value)),
            Node::Context => Ok(ctx.clone().settle()),
            _ => self.eval(node, ctx),
        }
    }

    /// A node's value before a sequence is settled (filters apply to the sequence itself).
    /// The common small nodes here, the others in [`Self::built`] (a small stack frame for the
    /// recursion).
    fn raw(&mut self, node: &'a Node, ctx: &V<'a>) -> Result<V<'a>, Stop> {
        Ok(match node {
            Node::Lit(value) => V::of(value),
            Node::Undef => V::Undef,
            Node::Context => ctx.clone(),
            Node::Root => self.root.clone(),
            Node::Local(slot) => self.slots[*slot].clone(),
            Node::Global(i) => self.globals[*i].clone(),
            Node::Path(path) => self.path(path, ctx)?,
            Node::Cond(condition, then, otherwise) => {
                if self.ev(condition, ctx)?.truthy() {
                    self.ev(then, ctx)?
                } else if let Some(otherwise) = otherwise {
                    self.ev(otherwise, ctx)?
                } else {
                    V::Undef
                }
            }
            Node::And(l, r) => V::Bool(self.ev(l, ctx)?.truthy() && self.ev(r, ctx)?.truthy()),
            Node::Or(l, r) => V::Bool(self.ev(l, ctx)?.truthy() || self.ev(r, ctx)?.truthy()),
            Node::Not(operand) => V::Bool(!self.ev(operand, ctx)?.truthy()),
            Node::InStrings(l, strings, checked) => {
                let l = self.ev(l, ctx)?;
                self.bounded(*checked)?;
                // As `member` decides against an array of strings.
                V::Bool(match l.kind() {
                    Kind::Undef => false,
                    Kind::Arr | Kind::Obj => return Err(Stop::Fallback),
                    Kind::Str => strings.contains(l.as_str().unwrap_or_default()),
                    _ => false,
                })
            }
            Node::Substring(operand, start, length) => {
                let value = self.ev(operand, ctx)?;
                builtins::substring(&value, *start, Some(*length))?
            }
            Node::Call(id, args) if args.len() <= 1 => {
                let value = match args.first() {
                    Some(arg) => self.ev(arg, ctx)?,
                    None => V::Undef,
                };
                self.call(*id, std::slice::from_ref(&value))?
            }
            _ => self.built(node, ctx)?,
        })
    }

    #[inline(never)]
    fn built(&mut self, node: &'a Node, ctx: &V<'a>) -> Result<V<'a>, Stop> {
        Ok(match node {
            Node::Lit(_)
            | Node::Undef
            | Node::Context
            | Node::Root
            | Node::Local(_)
            | Node::Global(_)
            | Node::Path(_)
            | Node::Cond(..)
            | Node::And(..)
            | Node::Or(..)
            | Node::Not(_)
            | Node::InStrings(..)
            | Node::Substring(..) => return self.raw(node, ctx),
            Node::Object(pairs) => {
                // Over an array, an object constructor groups its items: left to the engine.
                if ctx.is_array() {
                    return Err(Stop::Fallback);
                }
                let mut map = Obj::with_capacity(pairs.len());
                for (key, value) in pairs {
                    let value = self.ev(value, ctx)?;
                    if !value.is_undef() {
                        // Keys are distinct: the compiler checked.
                        map.push(K::P(key), value);
                    }
                }
                V::Obj(Rc::new(map))
            }
            Node::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (item, constructor) in items {
                    let value = self.ev(item, ctx)?;
                    if value.is_undef() {
                        continue;
                    }
                    match value.items() {
                        Some(items) if !constructor => out.extend(items),
                        _ => out.push(value),
                    }
                }
                self.bounded(out.len())?;
                Arr::array(out)
            }
            Node::Block(statements) => {
                let mut last = V::Undef;
                for statement in statements {
                    last = match statement {
                        Stmt::Bind(slot, value) => {
                            let value = self.ev(value, ctx)?;
                            self.slots[*slot] = value.clone();
                            value
                        }
                        Stmt::Define(id) => {
                            self.slots[self.program.lambdas[*id].context] = ctx.clone();
                            V::Undef
                        }
                        Stmt::Eval(value) => self.ev(value, ctx)?,
                    };
                }
                last
            }
            Node::Default(l, r) => {
                let left = self.ev(l, ctx)?;
                if left.truthy() {
                    left
                } else {
                    self.ev(r, ctx)?
                }
            }
            Node::Coalesce(l, r) => {
                let left = self.ev(l, ctx)?;
                if left.is_undef() {
                    self.ev(r, ctx)?
                } else {
                    left
                }
            }
            Node::Equal(l, r) => {
                let (l, r) = (self.ev(l, ctx)?, self.ev(r, ctx)?);
                V::Bool(equal(&l, &r))
            }
            Node::NotEqual(l, r) => {
                let (l, r) = (self.ev(l, ctx)?, self.ev(r, ctx)?);
                V::Bool(!l.is_undef() && !r.is_undef() && !equal(&l, &r))
            }
            Node::Order(order, l, r) => {
                let (l, r) = (self.ev(l, ctx)?, self.ev(r, ctx)?);
                compare(*order, &l, &r)?
            }
            Node::ConstArray(value) => {
                self.bounded(value.as_array().map_or(0, Vec::len))?;
                V::Ref(value)
            }
            Node::In(l, r) => {
                let (l, r) = (self.ev(l, ctx)?, self.ev(r, ctx)?);
                V::Bool(builtins::member(&l, &r)?)
            }
            Node::Concat(l, r) => {
                let (l, r) = (self.ev(l, ctx)?, self.ev(r, ctx)?);
                let mut out = String::new();
                concat_part(&l, &mut out)?;
                concat_part(&r, &mut out)?;
                V::string(out)
            }
            Node::Arith(op, l, r) => {
                let (l, r) = (self.ev(l, ctx)?, self.ev(r, ctx)?);
                arithmetic(*op, &l, &r)?
            }
            Node::Negate(operand) => match self.ev(operand, ctx)? {
                V::Undef => V::Undef,
                V::Num(n) => V::Num(-n),
                _ => return Err(Stop::Fallback),
            },
            Node::Builtin(builtin, args) if args.len() <= 3 => {
                // No allocation for the arguments of the usual calls.
                let mut values = [V::Undef, V::Undef, V::Undef];
                for (value, arg) in values.iter_mut().zip(args) {
                    *value = self.ev(arg, ctx)?;
                }
                builtin.call(&values[..args.len()])?
            }
            Node::Builtin(builtin, args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.ev(arg, ctx)?);
                }
                builtin.call(&values)?
            }
            Node::Library(function, args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.ev(arg, ctx)?);
                }
                self.call.start();
                builtins::call_library(function.0, &values, &self.call)?
            }
            Node::Call(id, args) if args.len() <= 3 => {
                let mut values = [V::Undef, V::Undef, V::Undef];
                for (value, arg) in values.iter_mut().zip(args) {
                    *value = self.ev(arg, ctx)?;
                }
                self.call(*id, &values[..args.len()])?
            }
            Node::Call(id, args) => {
                let mut values = Vec::with_capacity(args.len());
                for arg in args {
                    values.push(self.ev(arg, ctx)?);
                }
                self.call(*id, &values)?
            }
            Node::Hof(hof, subject, id, inline) => {
                if *inline {
                    self.slots[self.program.lambdas[*id].context] = ctx.clone();
                }
                let subject = self.ev(subject, ctx)?;
                self.hof(*hof, subject, *id)?
            }
            Node::Filtered(inner, filters) => {
                let value = self.raw(inner, ctx)?;
                if value.is_undef() {
                    self.filter_undefined(filters)?;
                    V::Undef
                } else {
                    self.apply_filters(value, filters)?
                }
            }
        })
    }

    fn call(&mut self, id: usize, args: &[V<'a>]) -> Result<V<'a>, Stop> {
        self.tick()?;
        let program = self.program;
        let lambda = &program.lambdas[id];
        for (i, slot) in lambda.params.iter().enumerate() {
            self.slots[*slot] = args.get(i).cloned().unwrap_or(V::Undef);
        }
        let ctx = self.slots[lambda.context].clone();
        self.ev(&lambda.body, &ctx)
    }

    fn hof(&mut self, hof: Hof, subject: V<'a>, id: usize) -> Result<V<'a>, Stop> {
        let arity = self.program.lambdas[id].params.len();
        match hof {
            Hof::Sift | Hof::Each => {
                if subject.is_undef() && hof == Hof::Sift {
                    return Ok(V::Undef);
                }
                // Sized once for every member (a few hundred bytes), not grown member by member.
                let members = match &subject {
                    V::Ref(serde_json::Value::Object(map)) => map.len(),
                    V::Obj(map) => map.len(),
                    _ => 0,
                };
                let mut kept = Obj::with_capacity(if hof == Hof::Sift { members } else { 0 });
                let mut results = Vec::with_capacity(if hof == Hof::Each { members } else { 0 });
                match &subject {
                    V::Ref(serde_json::Value::Object(map)) => {
                        if map.keys().any(|k| index_like(k)) {
                            return Err(Stop::Fallback);
                        }
                        for (position, (key, value)) in map.iter().enumerate() {
                            let (key, value) = (K::B(key.as_str()), V::of(value));
                            self.entry(hof, id, arity, &subject, position, key, value, &mut kept, &mut results)?;
                        }
                    }
                    V::Obj(map) => {
                        if map.iter().any(|(k, _)| index_like(k)) {
                            return Err(Stop::Fallback);
                        }
                        let map = Rc::clone(map);
                        for (position, (key, value)) in map.iter().enumerate() {
                            self.entry(hof, id, arity, &subject, position, key.clone(), value.clone(), &mut kept, &mut results)?;
                        }
                    }
                    _ => return Err(Stop::Fallback),
                }
                Ok(match hof {
                    Hof::Sift if kept.is_empty() => V::Undef,
                    Hof::Sift => V::Obj(Rc::new(kept)),
                    _ => Arr::sequence(results),
                })
            }
            Hof::Map | Hof::Filter => {
                if subject.is_undef() {
                    return Ok(V::Undef);
                }
                let array = if subject.is_array() { subject } else { Arr::array(vec![subject]) };
                let mut results = Vec::new();
                for (i, item) in array.items().into_iter().flatten().enumerate() {
                    let args = [item.clone(), V::Num(i as f64), if arity >= 3 { array.clone() } else { V::Undef }];
                    let result = self.call(id, &args[..arity.clamp(1, 3)])?;
                    if hof == Hof::Map {
                        if !result.is_undef() {
                            results.push(result);
                        }
                    } else if result.truthy() {
                        results.push(item);
                    }
                }
                Ok(Arr::sequence(results))
            }
        }
    }

    /// One entry of an object for `$sift` (kept when the lambda says so) or `$each` (the
    /// lambda's result collected).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn entry(
        &mut self,
        hof: Hof,
        id: usize,
        arity: usize,
        subject: &V<'a>,
        position: usize,
        key: K<'a>,
        value: V<'a>,
        kept: &mut Obj<'a>,
        results: &mut Vec<V<'a>>,
    ) -> Result<(), Stop> {
        let memo = hof == Hof::Sift && self.program.lambdas[id].key_only;
        if memo {
            if let Some(keep) = self.kept_keys.get_mut(id).and_then(|m| m.get(position, &key)) {
                self.tick()?;
                if keep {
                    kept.push(key, value);
                }
                return Ok(());
            }
        }
        let args = [value.clone(), if arity >= 2 { V::key(&key) } else { V::Undef }, if arity >= 3 { subject.clone() } else { V::Undef }];
        let result = self.call(id, &args[..arity.clamp(1, 3)])?;
        if memo {
            if self.kept_keys.len() <= id {
                self.kept_keys.resize_with(id + 1, KeyMemo::default);
            }
            self.kept_keys[id].insert(position, &key, result.truthy());
        }
        if hof == Hof::Sift {
            if result.truthy() {
                kept.push(key, value);
            }
        } else if !result.is_undef() {
            results.push(result);
        }
        Ok(())
    }

    fn path(&mut self, path: &'a Path, ctx: &V<'a>) -> Result<V<'a>, Stop> {
        let last = path.steps.len() - 1;
        // While the path is at a single value that is not an array, each step is that value's
        // step, with no sequence to build: the common `$p.email`, `a.b.c`.
        let mut first = 0;
        let mut single = match ctx.items() {
            Some(_) if !path.variable_first => None,
            _ => Some(ctx.clone()),
        };
        while let Some(current) = &single {
            let step = &path.steps[first];
            if !step.filters.is_empty() {
                break;
            }
            let next = match &step.node {
                StepNode::Field(key, site) => current.lookup_hinted(key, &mut self.hints[*site]),
                StepNode::Expr(node) => self.ev(node, current)?,
            };
            if next.is_undef() {
                return Ok(V::Undef);
            }
            if first == last {
                // One result: an array is the result itself (the last-step rule), a sequence
                // flattens to itself, anything else stands for its one-item sequence.
                return Ok(next);
            }
            first += 1;
            if next.items().is_some() {
                if next.len() == 0 {
                    return Ok(V::Undef);
                }
                let input: Vec<V<'a>> = next.items().into_iter().flatten().collect();
                return self.path_from(path, first, input);
            }
            single = Some(next);
        }
        let input: Vec<V<'a>> = match single {
            Some(value) => vec![value],
            None => ctx.items().into_iter().flatten().collect(),
        };
        self.path_from(path, first, input)
    }

    /// The path's steps from `first` on, over a sequence of items.
    fn path_from(&mut self, path: &'a Path, first: usize, mut input: Vec<V<'a>>) -> Result<V<'a>, Stop> {
        let last = path.steps.len() - 1;
        for (i, step) in path.steps.iter().enumerate().skip(first) {
            let result = self.step(step, &input, i == last)?;
            if i == last {
                return Ok(result);
            }
            if result.len() == 0 {
                return Ok(V::Undef);
            }
            input = result.items().into_iter().flatten().collect();
        }
        Ok(V::Undef)
    }

    fn step(&mut self, step: &'a Step, input: &[V<'a>], last: bool) -> Result<V<'a>, Stop> {
        let mut results = Vec::with_capacity(input.len());
        for item in input {
            self.tick()?;
            let mut value = match &step.node {
                StepNode::Field(key, site) => item.lookup_hinted(key, &mut self.hints[*site]).settle(),
                StepNode::Expr(node) => self.ev(node, item)?,
            };
            if !step.filters.is_empty() {
                if value.is_undef() {
                    self.filter_undefined(&step.filters)?;
                } else {
                    value = self.apply_filters(value, &step.filters)?;
                }
            }
            if !value.is_undef() {
                results.push(value);
            }
        }
        if last && results.len() == 1 && results[0].is_array() && !results[0].is_seq() {
            return Ok(results.pop().unwrap_or(V::Undef));
        }
        let mut out = Vec::with_capacity(results.len());
        for value in results {
            match &value {
                V::Arr(a) if a.cons => out.push(value),
                _ => match value.items() {
                    Some(items) => out.extend(items),
                    None => out.push(value),
                },
            }
        }
        self.bounded(out.len())?;
        Ok(Arr::sequence(out))
    }

    /// A step's filters on a value.
    fn apply_filters(&mut self, mut value: V<'a>, filters: &'a [Filter]) -> Result<V<'a>, Stop> {
        for filter in filters {
            if value.is_undef() {
                return Ok(V::Undef);
            }
            let items: Vec<V<'a>> = match value.items() {
                Some(items) => items.collect(),
                None => vec![value.clone()],
            };
            value = match filter {
                Filter::Index(position) => match item_at(&items, *position) {
                    Some(item) if item.is_array() => item.clone(),
                    Some(item) => Arr::sequence(vec![item.clone()]),
                    None => Arr::sequence(Vec::new()),
                },
                Filter::Predicate(predicate) => {
                    let len = items.len();
                    let mut out = Vec::new();
                    for (index, item) in items.iter().enumerate() {
                        self.tick()?;
                        let selector = self.ev(predicate, item)?;
                        let repeats = match index_matches(&selector, index, len) {
                            Some(n) => n,
                            None => usize::from(selector.truthy()),
                        };
                        for _ in 0..repeats {
                            out.push(item.clone());
                        }
                    }
                    Arr::sequence(out)
                }
            };
        }
        Ok(value)
    }

    /// The engine evaluates a step's predicates on nothing too, for their errors; so does
    /// this, so that an error there falls back to the engine.
    fn filter_undefined(&mut self, filters: &'a [Filter]) -> Result<(), Stop> {
        for filter in filters {
            let Filter::Predicate(predicate) = filter else { break };
            let selector = self.ev(predicate, &V::Undef)?;
            if index_matches(&selector, 0, 1).is_some() || !selector.truthy() {
                break;
            }
        }
        Ok(())
    }
}

fn item_at<'v, 'a>(items: &'v [V<'a>], position: f64) -> Option<&'v V<'a>> {
    let mut index = position.floor();
    if index < 0.0 {
        index += items.len() as f64;
    }
    (index >= 0.0).then(|| items.get(index as usize)).flatten()
}

/// A predicate's value as positions: `None` when it is not numeric.
fn index_matches(selector: &V, index: usize, len: usize) -> Option<usize> {
    let hit = |n: f64| {
        let mut i = n.floor() as i64;
        if i < 0 {
            i += len as i64;
        }
        i >= 0 && i as usize == index
    };
    match selector.kind() {
        Kind::Num => Some(usize::from(hit(selector.as_num().unwrap_or(f64::NAN)))),
        Kind::Arr => {
            let items: Vec<V> = selector.items().into_iter().flatten().collect();
            if items.iter().all(|v| v.kind() == Kind::Num) {
                Some(items.iter().filter(|v| hit(v.as_num().unwrap_or(f64::NAN))).count())
            } else {
                None
            }
        }
        _ => None,
    }
}

fn compare<'a>(order: Order, l: &V<'a>, r: &V<'a>) -> Result<V<'a>, Stop> {
    let comparable = |v: &V| matches!(v.kind(), Kind::Num | Kind::Str | Kind::Undef);
    if !comparable(l) || !comparable(r) {
        return Err(Stop::Fallback);
    }
    if l.is_undef() || r.is_undef() {
        return Ok(V::Undef);
    }
    let ordering = match (l.kind(), r.kind()) {
        (Kind::Num, Kind::Num) => l.as_num().partial_cmp(&r.as_num()),
        (Kind::Str, Kind::Str) => Some(l.as_str().cmp(&r.as_str())),
        _ => return Err(Stop::Fallback),
    };
    let Some(ordering) = ordering else { return Err(Stop::Fallback) };
    use std::cmp::Ordering::*;
    Ok(V::Bool(match order {
        Order::Less => ordering == Less,
        Order::LessEqual => ordering != Greater,
        Order::Greater => ordering == Greater,
        Order::GreaterEqual => ordering != Less,
    }))
}

/// One side of `&`: undefined is nothing, other values as `$string` writes them.
fn concat_part(v: &V, out: &mut String) -> Result<(), Stop> {
    match v.kind() {
        Kind::Undef => {}
        Kind::Str => out.push_str(v.as_str().unwrap_or_default()),
        Kind::Num | Kind::Bool | Kind::Null => {
            let text = string::string(&builtins::to_engine(v)?, None).map_err(|_| Stop::Fallback)?;
            out.push_str(text.as_str().ok_or(Stop::Fallback)?);
        }
        Kind::Arr | Kind::Obj => return Err(Stop::Fallback),
    }
    Ok(())
}

fn arithmetic<'a>(op: Arith, l: &V<'a>, r: &V<'a>) -> Result<V<'a>, Stop> {
    let number = |v: &V| v.as_num().filter(|n| n.is_finite());
    match (number(l), number(r)) {
        (Some(a), Some(b)) => {
            let result = match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div => a / b,
                Arith::Mod => a % b,
            };
            if result.is_finite() {
                Ok(V::Num(result))
            } else {
                Err(Stop::Fallback)
            }
        }
        _ => {
            let fine = |v: &V, n: Option<f64>| n.is_some() || v.is_undef();
            if fine(l, number(l)) && fine(r, number(r)) {
                Ok(V::Undef)
            } else {
                Err(Stop::Fallback)
            }
        }
    }
}
