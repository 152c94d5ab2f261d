//! From jsonata-core's AST to a [`Program`], for the expressions the fast path evaluates
//! exactly as the engine does. Anything else (`None`) leaves the whole expression to the engine.
//!
//! Variables are resolved here, once: a block's bindings and a lambda's parameters become
//! slots, other names are bindings of the call (`$params`, …). To keep that resolution exact,
//! a name bound twice in one block, or read before the block binds it (a recursive lambda
//! reads itself that way), is not compiled.

use super::builtins::Builtin;
use super::ir::{Arith, FieldName, Filter, Hof, Lambda, Node, Order, Path, Program, Step, StepNode, Stmt, StrSet};
use super::value::index_like;
use crate::mapping::functions;
use jsonata_core::ast::{AstNode, BinaryOp, PathStep, Stage, UnaryOp};
use std::collections::{HashMap, HashSet};

/// How deep an expression may nest to be compiled: the interpreter recurses once per level.
const MAX_NESTING: usize = 96;

pub(crate) fn compile(ast: &AstNode) -> Option<Program> {
    let mut compiler = Compiler::default();
    let root = compiler.node(ast)?;
    // Lambdas never recurse, so no evaluation nests deeper than every body stacked.
    let depth = compiler.deepest * (compiler.lambdas.len() + 1);
    Some(Program {
        root,
        lambdas: compiler.lambdas,
        slots: compiler.slots,
        globals: compiler.globals,
        called: compiler.called,
        depth,
        fields: compiler.fields,
    })
}

#[derive(Clone, Copy)]
enum Binding {
    Slot(usize),
    Lambda(usize),
}

#[derive(Default)]
struct Frame {
    names: HashMap<String, Binding>,
    /// Every name the block binds, before or after the statement being compiled.
    bound_here: HashSet<String>,
}

#[derive(Default)]
struct Compiler {
    frames: Vec<Frame>,
    slots: usize,
    lambdas: Vec<Lambda>,
    globals: Vec<String>,
    called: Vec<String>,
    nesting: usize,
    deepest: usize,
    /// Slots bound to an array constructor of scalar literals, with its value.
    constants: HashMap<usize, serde_json::Value>,
    /// Field steps numbered so far.
    fields: usize,
}

/// The items of an array of strings, or `None` when it holds anything else.
fn string_items(value: &serde_json::Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(|item| item.as_str().map(str::to_string)).collect()
}

/// What a `$name` refers to.
enum Resolved {
    Binding(Binding),
    /// Not bound by the expression: a binding of the call, or a function.
    Free,
}

impl Compiler {
    /// A field step, numbered for its lookup hint.
    fn field(&mut self, name: &str) -> StepNode {
        self.fields += 1;
        StepNode::Field(name.to_string(), self.fields - 1)
    }

    fn slot(&mut self) -> usize {
        self.slots += 1;
        self.slots - 1
    }

    fn resolve(&self, name: &str) -> Option<Resolved> {
        for frame in self.frames.iter().rev() {
            if let Some(binding) = frame.names.get(name) {
                return Some(Resolved::Binding(*binding));
            }
            if frame.bound_here.contains(name) {
                return None;
            }
        }
        Some(Resolved::Free)
    }

    fn global(&mut self, name: &str) -> usize {
        match self.globals.iter().position(|g| g == name) {
            Some(i) => i,
            None => {
                self.globals.push(name.to_string());
                self.globals.len() - 1
            }
        }
    }

    fn boxed(&mut self, ast: &AstNode) -> Option<Box<Node>> {
        self.node(ast).map(Box::new)
    }

    fn node(&mut self, ast: &AstNode) -> Option<Node> {
        self.nesting += 1;
        self.deepest = self.deepest.max(self.nesting);
        let result = if self.nesting > MAX_NESTING { None } else { self.node_inner(ast) };
        self.nesting -= 1;
        result
    }

    fn node_inner(&mut self, ast: &AstNode) -> Option<Node> {
        Some(match ast {
            AstNode::String(s) => Node::Lit(serde_json::Value::String(s.clone())),
            AstNode::Number(n) => Node::Lit(serde_json::Value::Number(serde_json::Number::from_f64(*n)?)),
            AstNode::Boolean(b) => Node::Lit(serde_json::Value::Bool(*b)),
            AstNode::Null => Node::Lit(serde_json::Value::Null),
            AstNode::Undefined => Node::Undef,
            AstNode::Variable(name) => self.variable(name)?,
            AstNode::ParentVariable(name) if name.is_empty() => Node::Root,
            AstNode::Name(field) => {
                let node = self.field(field);
                Node::Path(Path { steps: vec![Step { node, filters: Vec::new() }], variable_first: false })
            }
            AstNode::Path { steps } => self.path(steps)?,
            AstNode::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs)?,
            AstNode::Unary { op: UnaryOp::Negate, operand } => match &**operand {
                AstNode::Number(n) => Node::Lit(serde_json::Value::Number(serde_json::Number::from_f64(-n)?)),
                other => Node::Negate(self.boxed(other)?),
            },
            AstNode::Unary { op: UnaryOp::Not, operand } => Node::Not(self.boxed(operand)?),
            AstNode::Function { name, args, is_builtin: true } => self.call(name, args)?,
            AstNode::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push((self.node(item)?, matches!(item, AstNode::Array(_))));
                }
                let scalar = |(node, constructor): &(Node, bool)| {
                    !constructor && matches!(node, Node::Lit(value) if !value.is_array() && !value.is_object())
                };
                if out.iter().all(scalar) {
                    let items = out.into_iter().filter_map(|(node, _)| if let Node::Lit(value) = node { Some(value) } else { None });
                    Node::ConstArray(serde_json::Value::Array(items.collect()))
                } else {
                    Node::Array(out)
                }
            }
            AstNode::Object(pairs) => {
                let mut out: Vec<(FieldName, Node)> = Vec::with_capacity(pairs.len());
                for (key, value) in pairs {
                    let AstNode::String(key) = key else { return None };
                    if index_like(key) || out.iter().any(|(k, _)| k.name == *key) {
                        return None;
                    }
                    out.push((FieldName::new(key), self.node(value)?));
                }
                Node::Object(out)
            }
            AstNode::Block(statements) => self.block(statements)?,
            AstNode::Conditional { condition, then_branch, else_branch } => {
                let else_branch = match else_branch {
                    Some(e) => Some(self.boxed(e)?),
                    None => None,
                };
                Node::Cond(self.boxed(condition)?, self.boxed(then_branch)?, else_branch)
            }
            _ => return None,
        })
    }

    fn variable(&mut self, name: &str) -> Option<Node> {
        if name.is_empty() {
            return Some(Node::Context);
        }
        match self.resolve(name)? {
            Resolved::Binding(Binding::Slot(slot)) => Some(Node::Local(slot)),
            // A function as a value: not compiled.
            Resolved::Binding(Binding::Lambda(_)) => None,
            Resolved::Free if Builtin::is_function_name(name) || functions::find(name).is_some() => None,
            Resolved::Free => Some(Node::Global(self.global(name))),
        }
    }

    fn path(&mut self, steps: &[PathStep]) -> Option<Node> {
        // One step that is not a field: evaluated once against the whole input, its filters
        // applied to its (unsettled) value.
        if let [step] = steps {
            if !matches!(step.node, AstNode::Name(_)) {
                if step.focus.is_some() || step.index_var.is_some() || step.ancestor_label.is_some() || step.is_tuple || step.inner_tuple {
                    return None;
                }
                let node = self.node(&step.node)?;
                if step.stages.is_empty() {
                    return Some(node);
                }
                let mut filters = Vec::with_capacity(step.stages.len());
                for stage in &step.stages {
                    match stage {
                        Stage::Filter(predicate) => filters.push(self.filter(predicate)?),
                        Stage::KeepArray | Stage::Index(_) => return None,
                    }
                }
                return Some(Node::Filtered(Box::new(node), filters));
            }
        }
        let mut out = Vec::with_capacity(steps.len());
        let mut variable_first = false;
        for (i, step) in steps.iter().enumerate() {
            if step.focus.is_some() || step.index_var.is_some() || step.ancestor_label.is_some() || step.is_tuple || step.inner_tuple {
                return None;
            }
            let mut filters = Vec::with_capacity(step.stages.len());
            for stage in &step.stages {
                match stage {
                    Stage::Filter(predicate) => filters.push(self.filter(predicate)?),
                    Stage::KeepArray | Stage::Index(_) => return None,
                }
            }
            let node = match &step.node {
                AstNode::Name(field) => self.field(field),
                AstNode::Variable(name) => {
                    variable_first |= i == 0;
                    StepNode::Expr(self.variable(name)?)
                }
                AstNode::ParentVariable(name) if name.is_empty() => {
                    variable_first |= i == 0;
                    StepNode::Expr(Node::Root)
                }
                AstNode::Function { .. } | AstNode::Object(_) => StepNode::Expr(self.node(&step.node)?),
                AstNode::Block(_) if i > 0 => StepNode::Expr(self.node(&step.node)?),
                AstNode::FunctionApplication(inner) if i > 0 => StepNode::Expr(self.node(inner)?),
                _ => return None,
            };
            out.push(Step { node, filters });
        }
        Some(Node::Path(Path { steps: out, variable_first }))
    }

    fn filter(&mut self, predicate: &AstNode) -> Option<Filter> {
        Some(match predicate {
            AstNode::Number(n) => Filter::Index(*n),
            AstNode::Unary { op: UnaryOp::Negate, operand } if matches!(**operand, AstNode::Number(_)) => {
                let AstNode::Number(n) = **operand else { return None };
                Filter::Index(-n)
            }
            other => Filter::Predicate(self.node(other)?),
        })
    }

    fn binary(&mut self, op: BinaryOp, lhs: &AstNode, rhs: &AstNode) -> Option<Node> {
        let pair = |c: &mut Self| -> Option<(Box<Node>, Box<Node>)> { Some((c.boxed(lhs)?, c.boxed(rhs)?)) };
        Some(match op {
            BinaryOp::Add | BinaryOp::Subtract | BinaryOp::Multiply | BinaryOp::Divide | BinaryOp::Modulo => {
                let arith = match op {
                    BinaryOp::Add => Arith::Add,
                    BinaryOp::Subtract => Arith::Sub,
                    BinaryOp::Multiply => Arith::Mul,
                    BinaryOp::Divide => Arith::Div,
                    _ => Arith::Mod,
                };
                let (l, r) = pair(self)?;
                Node::Arith(arith, l, r)
            }
            BinaryOp::Equal => {
                let (l, r) = pair(self)?;
                Node::Equal(l, r)
            }
            BinaryOp::NotEqual => {
                let (l, r) = pair(self)?;
                Node::NotEqual(l, r)
            }
            BinaryOp::LessThan | BinaryOp::LessThanOrEqual | BinaryOp::GreaterThan | BinaryOp::GreaterThanOrEqual => {
                let order = match op {
                    BinaryOp::LessThan => Order::Less,
                    BinaryOp::LessThanOrEqual => Order::LessEqual,
                    BinaryOp::GreaterThan => Order::Greater,
                    _ => Order::GreaterEqual,
                };
                let (l, r) = pair(self)?;
                Node::Order(order, l, r)
            }
            BinaryOp::And => {
                let (l, r) = pair(self)?;
                Node::And(l, r)
            }
            BinaryOp::Or => {
                let (l, r) = pair(self)?;
                Node::Or(l, r)
            }
            BinaryOp::Concatenate => {
                let (l, r) = pair(self)?;
                Node::Concat(l, r)
            }
            BinaryOp::In => {
                let (l, r) = pair(self)?;
                let (strings, checked) = match &*r {
                    Node::ConstArray(value) => (string_items(value), value.as_array().map_or(0, Vec::len)),
                    Node::Local(slot) => (self.constants.get(slot).and_then(string_items), 0),
                    _ => (None, 0),
                };
                match strings {
                    Some(strings) => Node::InStrings(l, StrSet::new(strings), checked),
                    None => Node::In(l, r),
                }
            }
            BinaryOp::Default => {
                let (l, r) = pair(self)?;
                Node::Default(l, r)
            }
            BinaryOp::Coalesce => {
                let (l, r) = pair(self)?;
                Node::Coalesce(l, r)
            }
            // `:=` outside a block's statements, ranges, `~>`, bindings in paths.
            _ => return None,
        })
    }

    fn block(&mut self, statements: &[AstNode]) -> Option<Node> {
        if statements.is_empty() {
            return None;
        }
        let mut frame = Frame::default();
        for statement in statements {
            if let AstNode::Binary { op: BinaryOp::ColonEqual, lhs, .. } = statement {
                let AstNode::Variable(name) = &**lhs else { return None };
                if name.is_empty() || !frame.bound_here.insert(name.clone()) {
                    return None;
                }
            }
        }
        self.frames.push(frame);
        let result = self.statements(statements);
        self.frames.pop();
        result
    }

    fn statements(&mut self, statements: &[AstNode]) -> Option<Node> {
        let mut out = Vec::with_capacity(statements.len());
        for (i, statement) in statements.iter().enumerate() {
            let last = i + 1 == statements.len();
            match statement {
                AstNode::Binary { op: BinaryOp::ColonEqual, lhs, rhs } => {
                    let AstNode::Variable(name) = &**lhs else { return None };
                    if let AstNode::Lambda { .. } = &**rhs {
                        if last {
                            return None;
                        }
                        let id = self.lambda(rhs)?;
                        self.frames.last_mut()?.names.insert(name.clone(), Binding::Lambda(id));
                        out.push(Stmt::Define(id));
                    } else {
                        let value = self.node(rhs)?;
                        let slot = self.slot();
                        // Bound once, before anything can read it: the slot always holds this.
                        if let Node::ConstArray(constant) = &value {
                            self.constants.insert(slot, constant.clone());
                        }
                        self.frames.last_mut()?.names.insert(name.clone(), Binding::Slot(slot));
                        out.push(Stmt::Bind(slot, value));
                    }
                }
                other => out.push(Stmt::Eval(self.node(other)?)),
            }
        }
        Some(Node::Block(out))
    }

    /// A lambda without a signature, compiled in a frame of its parameters.
    fn lambda(&mut self, ast: &AstNode) -> Option<usize> {
        let AstNode::Lambda { params, body, signature: None, .. } = ast else { return None };
        // A call in tail position hands its result on unsettled (jsonata-core's tail calls):
        // only calls whose result is never a sequence are compiled there.
        if self.tail_may_give_sequence(body) {
            return None;
        }
        let mut frame = Frame::default();
        let mut slots = Vec::with_capacity(params.len());
        for param in params {
            if param.is_empty() || frame.names.contains_key(param) {
                return None;
            }
            let slot = self.slot();
            slots.push(slot);
            frame.names.insert(param.clone(), Binding::Slot(slot));
        }
        self.frames.push(frame);
        let body = self.node(body);
        self.frames.pop();
        let body = body?;
        let context = self.slot();
        let key_only = slots.len() >= 2 && body.reads_only(slots[1]);
        self.lambdas.push(Lambda { params: slots, body, context, key_only });
        Some(self.lambdas.len() - 1)
    }

    /// Whether a lambda body's tail position (itself, a conditional's branches, a block's last
    /// expression) holds a call whose result may be a sequence. Lambdas that compiled never
    /// give one (they would not have compiled), nor do our library's functions (the fast path
    /// leaves a sequence they return to the engine).
    fn tail_may_give_sequence(&self, ast: &AstNode) -> bool {
        match ast {
            AstNode::Function { name, args, is_builtin: true } => match self.resolve(name) {
                Some(Resolved::Binding(Binding::Lambda(_))) => false,
                Some(Resolved::Free) => match Builtin::find(name, args.len()) {
                    Some(builtin) => builtin.may_give_sequence(),
                    None => name != "sift" && (Builtin::is_function_name(name) || functions::find(name).is_none()),
                },
                _ => true,
            },
            AstNode::Function { .. } | AstNode::Call { .. } => true,
            AstNode::Conditional { then_branch, else_branch, .. } => {
                self.tail_may_give_sequence(then_branch) || else_branch.as_deref().is_some_and(|e| self.tail_may_give_sequence(e))
            }
            // The block's own bindings are not in scope yet; a call of one is not compiled.
            AstNode::Block(items) => items.last().is_some_and(|last| self.tail_may_give_sequence(last)),
            AstNode::Binary { op: BinaryOp::ColonEqual, rhs, .. } => self.tail_may_give_sequence(rhs),
            _ => false,
        }
    }

    /// A lambda given as an argument: written in place, or a name bound to one.
    fn lambda_argument(&mut self, ast: &AstNode) -> Option<usize> {
        match ast {
            AstNode::Lambda { .. } => self.lambda(ast),
            AstNode::Variable(name) if !name.is_empty() => match self.resolve(name)? {
                Resolved::Binding(Binding::Lambda(id)) => Some(id),
                _ => None,
            },
            _ => None,
        }
    }

    fn call(&mut self, name: &str, args: &[AstNode]) -> Option<Node> {
        if args.iter().any(|a| matches!(a, AstNode::Placeholder)) {
            return None;
        }
        match self.resolve(name)? {
            Resolved::Binding(Binding::Lambda(id)) => {
                let args = args.iter().map(|a| self.node(a)).collect::<Option<Vec<_>>>()?;
                return Some(Node::Call(id, args));
            }
            Resolved::Binding(Binding::Slot(_)) => return None,
            Resolved::Free => {}
        }
        if !self.called.iter().any(|c| c == name) {
            self.called.push(name.to_string());
        }
        let hof = match name {
            "sift" => Some(Hof::Sift),
            "each" => Some(Hof::Each),
            "map" => Some(Hof::Map),
            "filter" => Some(Hof::Filter),
            _ => None,
        };
        if let Some(hof) = hof {
            let [subject, function] = args else { return None };
            let subject = self.boxed(subject)?;
            let id = self.lambda_argument(function)?;
            return Some(Node::Hof(hof, subject, id, matches!(function, AstNode::Lambda { .. })));
        }
        if let Some(builtin) = Builtin::find(name, args.len()) {
            let mut args = args.iter().map(|a| self.node(a)).collect::<Option<Vec<_>>>()?;
            // `$substring(x, 0, 3)`: the positions known now.
            if let (Builtin::Substring, [_, Node::Lit(start), Node::Lit(length)]) = (builtin, &args[..]) {
                let integral = |v: &serde_json::Value| v.as_f64().filter(|n| n.fract() == 0.0 && n.abs() < 1e15).map(|n| n as i64);
                if let (Some(start), Some(length)) = (integral(start), integral(length)) {
                    if start >= 0 && length > 0 {
                        args.truncate(1);
                        return Some(Node::Substring(Box::new(args.pop()?), start, length));
                    }
                }
            }
            return Some(Node::Builtin(builtin, args));
        }
        if Builtin::is_function_name(name) {
            return None;
        }
        let function = functions::find(name)?;
        if !super::builtins::library_supported(function) {
            return None;
        }
        let args = args.iter().map(|a| self.node(a)).collect::<Option<Vec<_>>>()?;
        Some(Node::Library(super::ir::LibraryFn(function), args))
    }
}
