//! The syntax tree the parser builds and the checker and evaluator walk.

use std::cmp::Ordering;

use super::{Span, Type};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub(super) kind: Kind,
    pub(super) span: Span,
}

impl Node {
    pub(super) fn new(span: Span, kind: Kind) -> Node {
        Node { kind, span }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Kind {
    Num(f64),
    Code(String),
    Var(String),
    Neg(Box<Node>),
    Not(Box<Node>),
    Bin(Bin, Box<Node>, Box<Node>),
    Cmp(Cmp, Box<Node>, Box<Node>),
    In(Box<Node>, Vec<(String, Span)>),
    Call(Func, Vec<Node>),
}

/// The left-associative operators: logic and arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Bin {
    Or,
    And,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Func {
    Contains,
    Count,
    Answered,
    Score,
    Mean,
    Sum,
    Min,
    Max,
}

impl Bin {
    pub(super) fn symbol(self) -> &'static str {
        ["or", "and", "+", "-", "*", "/"][self as usize]
    }

    /// The type of both operands and of the result.
    pub(super) fn operands(self) -> Type {
        match self {
            Bin::Or | Bin::And => Type::Bool,
            _ => Type::Number,
        }
    }

    /// Division by zero gives infinity or NaN here; `Ev::num` turns those into null.
    pub(super) fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Bin::Add => a + b,
            Bin::Sub => a - b,
            Bin::Mul => a * b,
            Bin::Div => a / b,
            Bin::Or | Bin::And => f64::NAN, // not arithmetic
        }
    }
}

impl Cmp {
    pub(super) fn symbol(self) -> &'static str {
        ["==", "!=", "<", "<=", ">", ">="][self as usize]
    }

    pub(super) fn holds(self, o: Ordering) -> bool {
        match self {
            Cmp::Eq => o.is_eq(),
            Cmp::Ne => o.is_ne(),
            Cmp::Lt => o.is_lt(),
            Cmp::Le => o.is_le(),
            Cmp::Gt => o.is_gt(),
            Cmp::Ge => o.is_ge(),
        }
    }
}

impl Func {
    pub(super) const ALL: [(&'static str, Func); 8] = [
        ("contains", Func::Contains),
        ("count", Func::Count),
        ("answered", Func::Answered),
        ("score", Func::Score),
        ("mean", Func::Mean),
        ("sum", Func::Sum),
        ("min", Func::Min),
        ("max", Func::Max),
    ];

    pub(super) fn from_name(name: &str) -> Option<Func> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub(super) fn name(self) -> &'static str {
        Self::ALL[self as usize].0
    }

    pub(super) fn arity_ok(self, n: usize) -> bool {
        match self {
            Func::Contains => n == 2,
            Func::Count | Func::Answered | Func::Score => n == 1,
            Func::Mean | Func::Sum | Func::Min | Func::Max => n >= 1,
        }
    }

    pub(super) fn arity_error(self, n: usize) -> String {
        let wants = match self {
            Func::Contains => "two values: a multiple-choice step and a code in quotes",
            Func::Count => "one value: a multiple-choice step",
            Func::Answered => "one value: the name of a step or computed value",
            Func::Score => "one value: a choice step with scored options",
            Func::Mean | Func::Sum | Func::Min | Func::Max => "at least one number",
        };
        format!("`{}(...)` takes {wants}, but was given {n}", self.name())
    }
}

/// Adds the names `node` uses to `out`, each once, in order of first use.
pub(super) fn collect_names(node: &Node, out: &mut Vec<String>) {
    match &node.kind {
        Kind::Var(name) if !out.contains(name) => out.push(name.clone()),
        Kind::Var(_) | Kind::Num(_) | Kind::Code(_) => {}
        Kind::Neg(inner) | Kind::Not(inner) | Kind::In(inner, _) => collect_names(inner, out),
        Kind::Bin(_, l, r) | Kind::Cmp(_, l, r) => {
            collect_names(l, out);
            collect_names(r, out);
        }
        Kind::Call(_, args) => args.iter().for_each(|arg| collect_names(arg, out)),
    }
}
