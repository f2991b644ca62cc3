//! Evaluation against one person's answers, with null for anything unanswered.

use super::tree::{Bin, Cmp, Func, Kind, Node};
use super::{Value, ValueEnv};

/// A runtime value, plus the booleans that conditions give.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Ev {
    Null,
    Bool(bool),
    Num(f64),
    Code(String),
    Codes(Vec<String>),
    Text,
}

impl Ev {
    /// Infinite and NaN results (division by zero, overflow) become null.
    fn num(n: f64) -> Ev {
        if n.is_finite() { Ev::Num(n) } else { Ev::Null }
    }

    fn from_value(value: Value) -> Ev {
        match value {
            Value::Null => Ev::Null,
            Value::Number(n) => Ev::num(n),
            Value::Code(code) => Ev::Code(code),
            Value::Codes(codes) => Ev::Codes(codes),
            Value::Text => Ev::Text,
        }
    }
}

pub(super) fn eval(node: &Node, env: &dyn ValueEnv) -> Ev {
    match &node.kind {
        Kind::Num(n) => Ev::num(*n),
        Kind::Code(code) => Ev::Code(code.clone()),
        Kind::Var(name) => Ev::from_value(env.value(name)),
        Kind::Neg(inner) => match eval(inner, env) {
            Ev::Num(n) => Ev::num(-n),
            _ => Ev::Null,
        },
        Kind::Not(inner) => match eval(inner, env) {
            Ev::Bool(b) => Ev::Bool(!b),
            _ => Ev::Null,
        },
        Kind::Bin(op @ (Bin::And | Bin::Or), l, r) => logic(*op, l, r, env),
        Kind::Bin(op, l, r) => match (eval(l, env), eval(r, env)) {
            (Ev::Num(a), Ev::Num(b)) => Ev::num(op.apply(a, b)),
            _ => Ev::Null,
        },
        Kind::Cmp(op, l, r) => Ev::Bool(compare(*op, eval(l, env), eval(r, env))),
        Kind::In(lhs, codes) => Ev::Bool(match eval(lhs, env) {
            Ev::Code(code) => codes.iter().any(|(c, _)| *c == code),
            _ => false,
        }),
        Kind::Call(func, args) => call(*func, args, env),
    }
}

/// Short-circuiting `and`/`or`; anything but a boolean on either side gives null.
fn logic(op: Bin, l: &Node, r: &Node, env: &dyn ValueEnv) -> Ev {
    let Ev::Bool(a) = eval(l, env) else {
        return Ev::Null;
    };
    if a == (op == Bin::Or) {
        return Ev::Bool(a); // `false and ...`, `true or ...`
    }
    match eval(r, env) {
        Ev::Bool(b) => Ev::Bool(b),
        _ => Ev::Null,
    }
}

/// Numbers compare as numbers, codes only for (in)equality; anything else (null too) is false.
fn compare(op: Cmp, l: Ev, r: Ev) -> bool {
    match (l, r) {
        (Ev::Num(a), Ev::Num(b)) => a.partial_cmp(&b).is_some_and(|o| op.holds(o)),
        (Ev::Code(a), Ev::Code(b)) if op == Cmp::Eq => a == b,
        (Ev::Code(a), Ev::Code(b)) if op == Cmp::Ne => a != b,
        _ => false,
    }
}

fn call(func: Func, args: &[Node], env: &dyn ValueEnv) -> Ev {
    match (func, args) {
        (Func::Contains, [multi, code]) => Ev::Bool(match (eval(multi, env), eval(code, env)) {
            (Ev::Codes(codes), Ev::Code(code)) => codes.contains(&code),
            _ => false,
        }),
        (Func::Count, [multi]) => match eval(multi, env) {
            Ev::Codes(codes) => Ev::num(codes.len() as f64),
            _ => Ev::Null,
        },
        (Func::Answered, [arg]) => Ev::Bool(eval(arg, env) != Ev::Null),
        (
            Func::Score,
            [
                Node {
                    kind: Kind::Var(name),
                    ..
                },
            ],
        ) => env.score(name).map_or(Ev::Null, Ev::num),
        (Func::Mean | Func::Sum | Func::Min | Func::Max, _) => aggregate(func, args, env),
        _ => Ev::Null,
    }
}

/// `mean`/`sum`/`min`/`max` over the arguments that are numbers; null if there are none.
fn aggregate(func: Func, args: &[Node], env: &dyn ValueEnv) -> Ev {
    let nums: Vec<f64> = args
        .iter()
        .filter_map(|arg| match eval(arg, env) {
            Ev::Num(n) => Some(n),
            _ => None,
        })
        .collect();
    if nums.is_empty() {
        return Ev::Null;
    }
    let total: f64 = nums.iter().sum();
    Ev::num(match func {
        Func::Mean => total / nums.len() as f64,
        Func::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
        Func::Max => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        _ => total,
    })
}
