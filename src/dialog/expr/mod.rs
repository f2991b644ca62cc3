//! The small expression language of scripted check-in dialogs: `show_if`, `branches`
//! conditions and `compute` scores.
//!
//! An expression is parsed once ([`Expr::parse`]), type-checked when the dialog is loaded
//! ([`Expr::check`]) and evaluated against one person's answers ([`Expr::eval_bool`],
//! [`Expr::eval_number`]). Grammar, loosest first:
//!
//! ```text
//! expr       = and_expr { "or" and_expr }
//! and_expr   = not_expr { "and" not_expr }
//! not_expr   = "not" not_expr | comparison
//! comparison = sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=") sum | "in" code_list ]
//! sum        = product { ("+" | "-") product }
//! product    = unary { ("*" | "/") unary }
//! unary      = "-" unary | primary
//! primary    = number | code | name | name "(" [ expr { "," expr } ] ")" | "(" expr ")"
//! code_list  = "[" code { "," code } "]"
//! number     = digits [ "." digits ]          e.g. 3, 6.5
//! code       = "'" [A-Za-z0-9_-]+ "'"         e.g. 'not_safe'
//! name       = [a-z_][a-z0-9_]*               a step id or a computed value
//! ```
//!
//! Comparisons do not chain (`a < b < c` is an error). Functions: `contains(multi, 'code')`,
//! `count(multi)`, `answered(x)`, `score(choice)`, and `mean`/`sum`/`min`/`max` of one or
//! more numbers. Unanswered values are null: every comparison with null is false,
//! arithmetic with null is null, and `mean`/`sum`/`min`/`max` skip nulls.

mod check;
mod eval;
mod lex;
mod parse;
mod tree;

use std::fmt;

use check::Checker;
use eval::{Ev, eval};
use lex::lex;
use parse::Parser;
use tree::{Node, collect_names};

/// Byte offsets into the expression source (not into the file that contains it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    fn to(self, other: Span) -> Span {
        Span::new(self.start, other.end)
    }
}

/// A problem in an expression, in plain English, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub span: Span,
    pub message: String,
}

impl ExprError {
    fn new(span: Span, message: impl Into<String>) -> Self {
        let message = message.into();
        ExprError { span, message }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExprError {}

/// What a whole expression must give: a condition or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Bool,
    Number,
}

/// What a name refers to, as far as the type checker is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarType {
    /// scale, number, time (minutes since midnight), computed values
    Number,
    /// choice and yes_no (yes_no has codes yes/no)
    Choice {
        codes: Vec<String>,
        scored: bool,
    },
    Multi {
        codes: Vec<String>,
    },
    /// free text: never readable by expressions
    Text,
    /// a `message` step: has no answer
    NoValue,
}

/// Answers the type checker's question "what is this name?"; `None` means no such name.
pub trait TypeEnv {
    fn var_type(&self, name: &str) -> Option<VarType>;
}

/// A runtime value. `Null` means unanswered, skipped or not shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Number(f64),
    Code(String),
    Codes(Vec<String>),
    /// Text carries no content on purpose: rules never read free text.
    Text,
}

/// One person's answers, as expressions see them.
pub trait ValueEnv {
    fn value(&self, name: &str) -> Value;
    /// The score of the chosen option of a scored choice, if answered.
    fn score(&self, name: &str) -> Option<f64>;
}

// ------------------------------------------------------------------------- public face

/// A parsed expression. It keeps its source text; `Debug` prints only that.
#[derive(Clone, PartialEq)]
pub struct Expr {
    src: String,
    root: Node,
}

impl Expr {
    /// Parses `src`. Every bad token is reported; otherwise the first grammar error.
    pub fn parse(src: &str) -> Result<Expr, Vec<ExprError>> {
        if src.trim().is_empty() {
            let span = Span::new(0, src.len());
            return Err(vec![ExprError::new(span, "the expression is empty")]);
        }
        let toks = lex(src)?;
        let parser = Parser {
            src,
            toks,
            pos: 0,
            depth: 0,
        };
        let root = parser.whole().map_err(|e| vec![e])?;
        let src = src.to_string();
        Ok(Expr { src, root })
    }

    /// Type-checks against the dialog's steps. Returns every problem, in source order.
    pub fn check(&self, env: &dyn TypeEnv, want: Type) -> Vec<ExprError> {
        let src = &self.src;
        let mut checker = Checker {
            env,
            src,
            errors: Vec::new(),
        };
        checker.expect(&self.root, want, "for the whole expression");
        checker.errors.sort_by_key(|e| (e.span.start, e.span.end));
        checker.errors
    }

    /// True only if the expression gives `true`; null or anything else is false.
    pub fn eval_bool(&self, env: &dyn ValueEnv) -> bool {
        eval(&self.root, env) == Ev::Bool(true)
    }

    /// The number the expression gives; `None` if null (unanswered, divided by zero...).
    pub fn eval_number(&self, env: &dyn ValueEnv) -> Option<f64> {
        match eval(&self.root, env) {
            Ev::Num(n) => Some(n),
            _ => None,
        }
    }

    /// Names used, each once, in order of first use.
    pub fn references(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_names(&self.root, &mut out);
        out
    }

    pub fn source(&self) -> &str {
        &self.src
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expr").field(&self.src).finish()
    }
}

#[cfg(test)]
mod tests;
