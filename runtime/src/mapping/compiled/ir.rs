//! The fast path's program: a tree the interpreter in [`super::eval`] walks over borrowed JSON.
//! Built from jsonata-core's AST by [`super::compile`].

use super::builtins::Builtin;
pub(crate) use super::value::FieldName;
use crate::mapping::functions::Function;
use serde_json::Value;

/// A compiled expression.
#[derive(Debug)]
pub(crate) struct Program {
    pub root: Node,
    pub lambdas: Vec<Lambda>,
    /// Local variables (block bindings, lambda parameters, lambdas' contexts).
    pub slots: usize,
    /// Names of the bindings the expression reads (`params`, `query`, …), indexed by
    /// [`Node::Global`].
    pub globals: Vec<String>,
    /// Names the expression calls as functions: a binding of the same name would hide them, so
    /// such an evaluation is left to the engine.
    pub called: Vec<String>,
    /// A bound on how deep an evaluation nests, in expression levels.
    pub depth: usize,
    /// How many field steps the program has (each has a lookup hint, [`StepNode::Field`]).
    pub fields: usize,
}

#[derive(Debug)]
pub(crate) struct Lambda {
    /// The slot of each parameter.
    pub params: Vec<usize>,
    pub body: Node,
    /// The slot that holds `$` where the lambda was defined.
    pub context: usize,
    /// The body reads only its second parameter (a `$sift` key), literals and pure operators
    /// and functions: its value depends on that key alone, so `$sift` may remember it.
    pub key_only: bool,
}

impl Node {
    /// Whether the node reads no variable but `slot`, and nothing else that could change
    /// between evaluations (no context, bindings, calls of lambdas or of the library).
    pub fn reads_only(&self, slot: usize) -> bool {
        use super::builtins::Builtin as B;
        match self {
            Node::Lit(_) | Node::Undef | Node::ConstArray(_) => true,
            Node::Local(s) => *s == slot,
            Node::Not(a) | Node::Substring(a, ..) | Node::InStrings(a, ..) => a.reads_only(slot),
            Node::And(a, b)
            | Node::Or(a, b)
            | Node::Equal(a, b)
            | Node::NotEqual(a, b)
            | Node::Default(a, b)
            | Node::Coalesce(a, b)
            | Node::Concat(a, b) => a.reads_only(slot) && b.reads_only(slot),
            Node::Cond(c, t, e) => c.reads_only(slot) && t.reads_only(slot) && e.as_ref().is_none_or(|e| e.reads_only(slot)),
            Node::Builtin(
                B::String
                | B::Boolean
                | B::Not
                | B::Exists
                | B::Type
                | B::Trim
                | B::Lowercase
                | B::Uppercase
                | B::Length
                | B::Substring
                | B::SubstringBefore
                | B::SubstringAfter
                | B::Contains,
                args,
            ) => args.iter().all(|a| a.reads_only(slot)),
            _ => false,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Node {
    /// A string, number, boolean or null literal.
    Lit(Value),
    Undef,
    /// `$`.
    Context,
    /// `$$`: the input of the evaluation.
    Root,
    Local(usize),
    Global(usize),
    Path(Path),
    /// `{ "key": value, … }` with literal keys, in written order.
    Object(Vec<(FieldName, Node)>),
    /// `[ … ]`; the flag marks items that are array constructors themselves (not flattened).
    Array(Vec<(Node, bool)>),
    Block(Vec<Stmt>),
    Cond(Box<Node>, Box<Node>, Option<Box<Node>>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    /// `?:`
    Default(Box<Node>, Box<Node>),
    /// `??`
    Coalesce(Box<Node>, Box<Node>),
    Equal(Box<Node>, Box<Node>),
    NotEqual(Box<Node>, Box<Node>),
    Order(Order, Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
    /// `x in <array of string literals>`: the strings sorted for a binary search. The count
    /// is the length of an array constructor written in place (checked against the sequence
    /// limit as the constructor would be), 0 for a variable bound to one.
    InStrings(Box<Node>, StrSet, usize),
    /// The `not` operator.
    Not(Box<Node>),
    /// `$substring(x, start, length)` with literal integers `start >= 0`, `length > 0`.
    Substring(Box<Node>, i64, i64),
    /// An array constructor of scalar literals only: built once, checked against the
    /// sequence limit at each evaluation as the constructor would be.
    ConstArray(Value),
    Concat(Box<Node>, Box<Node>),
    Arith(Arith, Box<Node>, Box<Node>),
    Negate(Box<Node>),
    Builtin(Builtin, Vec<Node>),
    /// A function of our library, called through its engine implementation.
    Library(LibraryFn, Vec<Node>),
    /// A call of a lambda bound with `:=`.
    Call(usize, Vec<Node>),
    /// `$sift`, `$each`, `$map` or `$filter` with a lambda; the flag marks a lambda written in
    /// place (its context is the call's).
    Hof(Hof, Box<Node>, usize, bool),
    /// A value with filter stages (`(expr)[pred]`).
    Filtered(Box<Node>, Vec<Filter>),
}

#[derive(Debug)]
pub(crate) enum Stmt {
    Bind(usize, Node),
    /// A `$f := function(…){…}`: records the lambda's context.
    Define(usize),
    Eval(Node),
}

#[derive(Debug)]
pub(crate) struct Path {
    pub steps: Vec<Step>,
    /// The first step is a variable (`$x.a`, `$.a`): the input is not iterated.
    pub variable_first: bool,
}

#[derive(Debug)]
pub(crate) struct Step {
    pub node: StepNode,
    pub filters: Vec<Filter>,
}

#[derive(Debug)]
pub(crate) enum StepNode {
    /// A member by name; the number indexes the session's lookup hints (where the member was
    /// found last time: records of a page mostly have their keys in the same order).
    Field(String, usize),
    /// Any other expression, evaluated with each item as `$`.
    Expr(Node),
}

#[derive(Debug)]
pub(crate) enum Filter {
    /// `[n]`, a number literal: a position.
    Index(f64),
    Predicate(Node),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Order {
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hof {
    Sift,
    Each,
    Map,
    Filter,
}

/// A set of strings fixed when the program is compiled, grouped by length.
#[derive(Debug, Default)]
pub(crate) struct StrSet {
    by_length: Vec<Vec<Box<str>>>,
}

impl StrSet {
    pub fn new(strings: Vec<String>) -> StrSet {
        let mut set = StrSet::default();
        for s in strings {
            if set.by_length.len() <= s.len() {
                set.by_length.resize_with(s.len() + 1, Vec::new);
            }
            set.by_length[s.len()].push(s.into_boxed_str());
        }
        set
    }

    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        self.by_length.get(s.len()).is_some_and(|same| same.iter().any(|t| **t == *s))
    }
}

/// A function of our library.
#[derive(Clone, Copy)]
pub(crate) struct LibraryFn(pub &'static Function);

impl std::fmt::Debug for LibraryFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.0.name)
    }
}
