//! The type checker: every problem in an expression, against the dialog's steps.

use super::tree::{Cmp, Func, Kind, Node};
use super::{ExprError, Span, Type, TypeEnv, VarType};

/// The type of a sub-expression. Multi, text and message names never get one: they are
/// only legal as direct function arguments, which are checked without inferring.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Bool,
    Number,
    Code(String),
    Choice(String, Vec<String>),
}

impl Ty {
    fn of(t: Type) -> Ty {
        match t {
            Type::Bool => Ty::Bool,
            Type::Number => Ty::Number,
        }
    }

    fn describe(&self) -> String {
        match self {
            Ty::Bool => "a condition (true or false)".to_string(),
            Ty::Number => "a number".to_string(),
            Ty::Code(code) => format!("the code `'{code}'`"),
            Ty::Choice(name, _) => format!("the choice `{name}`"),
        }
    }

    /// How to read a choice, to end a message with; empty for other types.
    fn hint(&self) -> String {
        let Ty::Choice(name, codes) = self else {
            return String::new();
        };
        let example = codes.first().map_or("code", String::as_str);
        format!("; compare it with one of its codes, like `{name} == '{example}'`")
    }
}

fn describe_var(var: &VarType) -> &'static str {
    match var {
        VarType::Number => "a number",
        VarType::Choice { .. } => "a single choice",
        VarType::Multi { .. } => "a multiple-choice step",
        VarType::Text => "a free-text answer (free-text answers are never read by rules)",
        VarType::NoValue => "a message, which has no answer",
    }
}

pub(super) struct Checker<'a> {
    pub(super) env: &'a dyn TypeEnv,
    pub(super) src: &'a str,
    pub(super) errors: Vec<ExprError>,
}

impl Checker<'_> {
    fn err(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(ExprError::new(span, message));
    }

    fn text(&self, span: Span) -> &str {
        self.src.get(span.start..span.end).unwrap_or("?")
    }

    /// Checks that `node` is a `want`; `place` says where, e.g. "on each side of `and`".
    pub(super) fn expect(&mut self, node: &Node, want: Type, place: &str) {
        let Some(found) = self.infer(node) else {
            return;
        };
        let want = Ty::of(want);
        if found != want {
            let (want, hint, found) = (want.describe(), found.hint(), found.describe());
            self.err(
                node.span,
                format!("expected {want} {place}, but found {found}{hint}"),
            );
        }
    }

    /// The type of `node`, or `None` if it is wrong in a way already reported.
    fn infer(&mut self, node: &Node) -> Option<Ty> {
        match &node.kind {
            Kind::Num(_) => Some(Ty::Number),
            Kind::Code(code) => Some(Ty::Code(code.clone())),
            Kind::Var(name) => self.var(name, node.span),
            Kind::Neg(inner) => {
                self.expect(inner, Type::Number, "after `-`");
                Some(Ty::Number)
            }
            Kind::Not(inner) => {
                self.expect(inner, Type::Bool, "after `not`");
                Some(Ty::Bool)
            }
            Kind::Bin(op, l, r) => {
                let place = format!("on each side of `{}`", op.symbol());
                self.expect(l, op.operands(), &place);
                self.expect(r, op.operands(), &place);
                Some(Ty::of(op.operands()))
            }
            Kind::Cmp(op, l, r) => {
                self.comparison(*op, l, r, node.span);
                Some(Ty::Bool)
            }
            Kind::In(lhs, codes) => {
                self.membership(lhs, codes);
                Some(Ty::Bool)
            }
            Kind::Call(func, args) => self.call(*func, args, node.span),
        }
    }

    fn lookup(&mut self, name: &str, span: Span) -> Option<VarType> {
        let found = self.env.var_type(name);
        if found.is_none() {
            self.err(
                span,
                format!("there is no step or computed value called `{name}`"),
            );
        }
        found
    }

    fn var(&mut self, name: &str, span: Span) -> Option<Ty> {
        let message = match self.lookup(name, span)? {
            VarType::Number => return Some(Ty::Number),
            VarType::Choice { codes, .. } => return Some(Ty::Choice(name.to_string(), codes)),
            VarType::Multi { codes } => {
                let example = codes.first().map_or("code", String::as_str);
                let how = format!("contains({name}, '{example}') or count({name})");
                format!("`{name}` is a multiple-choice step; read it with {how}")
            }
            VarType::Text => format!(
                "`{name}` is a free-text answer, and free-text answers are never read by rules; \
                 only answered({name}) is allowed"
            ),
            VarType::NoValue => {
                format!("`{name}` is a message and has no answer; only answered({name}) is allowed")
            }
        };
        self.err(span, message);
        None
    }

    fn known_code(&mut self, code: &str, span: Span, step: &str, codes: &[String]) {
        if !codes.iter().any(|c| c == code) {
            let options = codes.join(", ");
            self.err(
                span,
                format!("`'{code}'` is not an option of `{step}` (options: {options})"),
            );
        }
    }

    /// `med == yes`: a bare word that is one of the other side's codes. Reports and returns true.
    fn unquoted_code(&mut self, bare: &Node, other: &Node) -> bool {
        let (Kind::Var(word), Kind::Var(step)) = (&bare.kind, &other.kind) else {
            return false;
        };
        let Some(VarType::Choice { codes, .. }) = self.env.var_type(step) else {
            return false;
        };
        if self.env.var_type(word).is_some() || !codes.contains(word) {
            return false;
        }
        let message =
            format!("`{word}` is not a step; for the option, use single quotes: `'{word}'`");
        self.err(bare.span, message);
        true
    }

    fn comparison(&mut self, op: Cmp, l: &Node, r: &Node, span: Span) {
        if self.unquoted_code(l, r) || self.unquoted_code(r, l) {
            return;
        }
        let (Some(lt), Some(rt)) = (self.infer(l), self.infer(r)) else {
            return;
        };
        match (&lt, &rt) {
            (Ty::Number, Ty::Number) => {}
            (Ty::Choice(step, codes), Ty::Code(code))
            | (Ty::Code(code), Ty::Choice(step, codes)) => {
                if matches!(op, Cmp::Eq | Cmp::Ne) {
                    let code_span = if matches!(lt, Ty::Code(_)) {
                        l.span
                    } else {
                        r.span
                    };
                    self.known_code(code, code_span, step, codes);
                } else {
                    let op = op.symbol();
                    let message = format!(
                        "`{step}` is a choice, so it can only be compared with `==`, `!=` or `in`, not `{op}`"
                    );
                    self.err(span, message);
                }
            }
            _ => {
                let (l, r, hint) = (lt.describe(), rt.describe(), lt.hint() + &rt.hint());
                self.err(span, format!("can't compare {l} with {r}{hint}"));
            }
        }
    }

    fn membership(&mut self, lhs: &Node, codes: &[(String, Span)]) {
        match self.infer(lhs) {
            Some(Ty::Choice(step, options)) => {
                for (code, span) in codes {
                    self.known_code(code, *span, &step, &options);
                }
            }
            Some(other) => {
                let found = other.describe();
                let message = format!("`in [...]` needs a choice on its left, but found {found}");
                self.err(lhs.span, message);
            }
            None => {}
        }
    }

    fn call(&mut self, func: Func, args: &[Node], span: Span) -> Option<Ty> {
        match (func, args) {
            (Func::Contains, [multi, code]) => {
                let options = self.multi(func, multi);
                match (&code.kind, options) {
                    (Kind::Code(c), Some((step, codes))) => {
                        self.known_code(c, code.span, step, &codes)
                    }
                    (Kind::Code(_), None) => {}
                    _ => {
                        let found = self.text(code.span).to_string();
                        let message = format!(
                            "the second value of `contains(...)` must be a code in quotes, like 'yes', but found `{found}`"
                        );
                        self.err(code.span, message);
                    }
                }
                Some(Ty::Bool)
            }
            (Func::Count, [multi]) => {
                self.multi(func, multi);
                Some(Ty::Number)
            }
            (Func::Answered, [arg]) => {
                if let Some(name) = self.step_name(func, arg) {
                    self.lookup(name, arg.span);
                }
                Some(Ty::Bool)
            }
            (Func::Score, [arg]) => {
                self.scored(arg);
                Some(Ty::Number)
            }
            (Func::Mean | Func::Sum | Func::Min | Func::Max, args) if !args.is_empty() => {
                let place = format!("in `{}(...)`", func.name());
                for arg in args {
                    self.expect(arg, Type::Number, &place);
                }
                Some(Ty::Number)
            }
            _ => {
                self.err(span, func.arity_error(args.len()));
                None
            }
        }
    }

    /// The name given to a function that reads a step directly, like `count(symptoms)`.
    fn step_name<'n>(&mut self, func: Func, arg: &'n Node) -> Option<&'n str> {
        if let Kind::Var(name) = &arg.kind {
            return Some(name);
        }
        let (f, found) = (func.name(), self.text(arg.span).to_string());
        self.err(
            arg.span,
            format!("`{f}(...)` needs the name of a step here, but found `{found}`"),
        );
        None
    }

    fn multi<'n>(&mut self, func: Func, arg: &'n Node) -> Option<(&'n str, Vec<String>)> {
        let name = self.step_name(func, arg)?;
        let needs = format!("`{}(...)` needs a multiple-choice step", func.name());
        let message = match self.lookup(name, arg.span)? {
            VarType::Multi { codes } => return Some((name, codes)),
            VarType::Choice { codes, .. } => {
                let example = codes.first().map_or("code", String::as_str);
                let instead = format!("compare it instead, like `{name} == '{example}'`");
                format!("{needs}, but `{name}` is a single choice; {instead}")
            }
            other => format!("{needs}, but `{name}` is {}", describe_var(&other)),
        };
        self.err(arg.span, message);
        None
    }

    fn scored(&mut self, arg: &Node) {
        let Some(name) = self.step_name(Func::Score, arg) else {
            return;
        };
        let message = match self.lookup(name, arg.span) {
            None | Some(VarType::Choice { scored: true, .. }) => return,
            Some(VarType::Choice { .. }) => {
                format!("`{name}` has no scores on its options, so score({name}) can't be used")
            }
            Some(other) => format!(
                "`score(...)` needs a choice with scored options, but `{name}` is {}",
                describe_var(&other)
            ),
        };
        self.err(arg.span, message);
    }
}
