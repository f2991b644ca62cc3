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

use std::cmp::Ordering;
use std::fmt;

/// Longest expression accepted, in tokens; keeps every recursion shallow.
const MAX_TOKENS: usize = 500;
/// Deepest nesting of brackets, `not`, unary minus and function calls.
const MAX_NESTING: usize = 40;

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

// ------------------------------------------------------------------------- syntax tree

#[derive(Debug, Clone, PartialEq)]
struct Node {
    kind: Kind,
    span: Span,
}

impl Node {
    fn new(span: Span, kind: Kind) -> Node {
        Node { kind, span }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
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
enum Bin {
    Or,
    And,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
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
    fn symbol(self) -> &'static str {
        ["or", "and", "+", "-", "*", "/"][self as usize]
    }

    /// The type of both operands and of the result.
    fn operands(self) -> Type {
        match self {
            Bin::Or | Bin::And => Type::Bool,
            _ => Type::Number,
        }
    }

    /// Division by zero gives infinity or NaN here; `Ev::num` turns those into null.
    fn apply(self, a: f64, b: f64) -> f64 {
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
    fn symbol(self) -> &'static str {
        ["==", "!=", "<", "<=", ">", ">="][self as usize]
    }

    fn holds(self, o: Ordering) -> bool {
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
    const ALL: [(&'static str, Func); 8] = [
        ("contains", Func::Contains),
        ("count", Func::Count),
        ("answered", Func::Answered),
        ("score", Func::Score),
        ("mean", Func::Mean),
        ("sum", Func::Sum),
        ("min", Func::Min),
        ("max", Func::Max),
    ];

    fn from_name(name: &str) -> Option<Func> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    fn name(self) -> &'static str {
        Self::ALL[self as usize].0
    }

    fn arity_ok(self, n: usize) -> bool {
        match self {
            Func::Contains => n == 2,
            Func::Count | Func::Answered | Func::Score => n == 1,
            Func::Mean | Func::Sum | Func::Min | Func::Max => n >= 1,
        }
    }

    fn arity_error(self, n: usize) -> String {
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

// ------------------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Code(String),
    Name(String),
    Not,
    In,
    Bin(Bin),
    Cmp(Cmp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

/// Operators and punctuation, two-character ones first.
const SYMBOLS: [(&str, Tok); 15] = [
    ("==", Tok::Cmp(Cmp::Eq)),
    ("!=", Tok::Cmp(Cmp::Ne)),
    ("<=", Tok::Cmp(Cmp::Le)),
    (">=", Tok::Cmp(Cmp::Ge)),
    ("<", Tok::Cmp(Cmp::Lt)),
    (">", Tok::Cmp(Cmp::Gt)),
    ("+", Tok::Bin(Bin::Add)),
    ("-", Tok::Bin(Bin::Sub)),
    ("*", Tok::Bin(Bin::Mul)),
    ("/", Tok::Bin(Bin::Div)),
    ("(", Tok::LParen),
    (")", Tok::RParen),
    ("[", Tok::LBracket),
    ("]", Tok::RBracket),
    (",", Tok::Comma),
];

/// Symbols people bring from other languages, with what to write instead.
const MISTAKES: [(&str, &str); 6] = [
    ("&&", "use `and` instead of `&&`"),
    ("&", "use `and` instead of `&`"),
    ("||", "use `or` instead of `||`"),
    ("|", "use `or` instead of `|`"),
    ("=", "use `==` to compare; a single `=` is not allowed"),
    ("!", "use `not` instead of `!`"),
];

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    toks: Vec<(Tok, Span)>,
    errors: Vec<ExprError>,
}

/// Splits `src` into tokens ending with `Tok::End`, or returns every bad token found.
fn lex(src: &str) -> Result<Vec<(Tok, Span)>, Vec<ExprError>> {
    let (toks, errors) = (Vec::new(), Vec::new());
    let mut lx = Lexer {
        src,
        pos: 0,
        toks,
        errors,
    };
    while let Some(c) = src[lx.pos..].chars().next() {
        match c {
            _ if c.is_whitespace() => lx.pos += c.len_utf8(),
            '0'..='9' => lx.number(),
            'a'..='z' | 'A'..='Z' | '_' => lx.word(),
            '\'' => lx.code(),
            '"' => lx.double_quoted(),
            _ => lx.symbol(c),
        }
    }
    if lx.toks.len() > MAX_TOKENS {
        let message = format!(
            "this expression is too long (over {MAX_TOKENS} pieces); split it into computed values"
        );
        lx.errors
            .push(ExprError::new(Span::new(0, src.len()), message));
    }
    lx.toks.push((Tok::End, Span::new(src.len(), src.len())));
    if lx.errors.is_empty() {
        Ok(lx.toks)
    } else {
        Err(lx.errors)
    }
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok, len: usize) {
        self.toks.push((tok, Span::new(self.pos, self.pos + len)));
        self.pos += len;
    }

    fn fail(&mut self, len: usize, message: impl Into<String>) {
        let span = Span::new(self.pos, self.pos + len);
        self.errors.push(ExprError::new(span, message));
        self.pos += len;
    }

    /// The text from the current position on while `keep` holds.
    fn run(&self, keep: impl Fn(char) -> bool) -> &str {
        let rest = &self.src[self.pos..];
        &rest[..rest.find(|c: char| !keep(c)).unwrap_or(rest.len())]
    }

    fn symbol(&mut self, c: char) {
        let rest = &self.src[self.pos..];
        if let Some((text, tok)) = SYMBOLS.iter().find(|(s, _)| rest.starts_with(s)) {
            return self.push(tok.clone(), text.len());
        }
        match MISTAKES.iter().find(|(s, _)| rest.starts_with(s)) {
            Some((text, message)) => self.fail(text.len(), *message),
            None => {
                let message = format!("`{}` is not allowed in an expression", c.escape_debug());
                self.fail(c.len_utf8(), message)
            }
        }
    }

    fn number(&mut self) {
        let text = self.run(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let well_formed = match text.split_once('.') {
            Some((whole, fraction)) => digits(whole) && digits(fraction),
            None => digits(text),
        };
        match text.parse::<f64>() {
            Ok(n) if well_formed && n.is_finite() => self.push(Tok::Num(n), text.len()),
            _ => {
                let message = format!("`{text}` is not a number (write numbers like 3 or 6.5)");
                self.fail(text.len(), message)
            }
        }
    }

    fn word(&mut self) {
        let text = self.run(|c| c.is_ascii_alphanumeric() || c == '_');
        let tok = match text {
            "and" => Tok::Bin(Bin::And),
            "or" => Tok::Bin(Bin::Or),
            "not" => Tok::Not,
            "in" => Tok::In,
            _ if text.bytes().any(|b| b.is_ascii_uppercase()) => {
                let message = format!(
                    "`{text}` is not a valid name: names use only lower-case letters, digits and `_`"
                );
                return self.fail(text.len(), message);
            }
            _ => Tok::Name(text.to_string()),
        };
        self.push(tok, text.len());
    }

    fn code(&mut self) {
        let rest = &self.src[self.pos + 1..];
        let Some(len) = rest.find('\'') else {
            return self.fail(rest.len() + 1, "this code has no closing `'`");
        };
        let body = &rest[..len];
        if body.is_empty() {
            self.fail(2, "an empty code `''` is not allowed");
        } else if body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.push(Tok::Code(body.to_string()), len + 2);
        } else {
            let message = format!(
                "`'{body}'` is not a valid code: codes use only letters, digits, `_` and `-`"
            );
            self.fail(len + 2, message);
        }
    }

    fn double_quoted(&mut self) {
        let rest = &self.src[self.pos + 1..];
        let len = rest.find('"').map_or(rest.len() + 1, |len| len + 2);
        self.fail(
            len,
            "codes are written in single quotes, like 'yes', not double quotes",
        );
    }
}

// ------------------------------------------------------------------------- parser

type PResult<T> = Result<T, ExprError>;

/// Recursive descent, one function per precedence level (see the grammar above).
struct Parser<'s> {
    src: &'s str,
    toks: Vec<(Tok, Span)>, // never empty: ends with Tok::End
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn span(&self) -> Span {
        self.toks[self.pos].1
    }

    fn bump(&mut self) -> (Tok, Span) {
        let tok = self.toks[self.pos].clone();
        self.pos = (self.pos + 1).min(self.toks.len() - 1);
        tok
    }

    fn at_end(&self) -> bool {
        *self.peek() == Tok::End
    }

    /// The current token, described for an error message.
    fn found(&self) -> String {
        if self.at_end() {
            return "the end of the expression".to_string();
        }
        let Span { start, end } = self.span();
        format!("`{}`", self.src.get(start..end).unwrap_or("?"))
    }

    fn error<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(ExprError::new(self.span(), message))
    }

    /// A missing closer. At the end of the source, point at what was left open.
    fn unclosed<T>(&self, open: Span, opener: &str, closer: &str) -> PResult<T> {
        let (span, expected) = match self.at_end() {
            true => (open, closer.to_string()),
            false => (self.span(), format!("`,` or {closer}")),
        };
        let found = self.found();
        let message = format!("expected {expected} to close {opener} but found {found}");
        Err(ExprError::new(span, message))
    }

    /// Runs `f` one nesting level deeper, refusing absurd depths.
    fn nested(&mut self, f: fn(&mut Self) -> PResult<Node>) -> PResult<Node> {
        if self.depth >= MAX_NESTING {
            return self.error("this is nested too deeply; split it into computed values");
        }
        self.depth += 1;
        let node = f(self);
        self.depth -= 1;
        node
    }

    fn whole(mut self) -> PResult<Node> {
        let node = self.or()?;
        match self.peek() {
            Tok::End => Ok(node),
            Tok::RParen => self.error("this `)` has no matching `(`"),
            _ => self.error(format!(
                "expected the end, or an operator such as `and`, `or`, `==`, `+`, but found {}",
                self.found()
            )),
        }
    }

    /// One left-associative level: `next { op next }` for the operators in `ops`.
    fn chain(&mut self, next: fn(&mut Self) -> PResult<Node>, ops: &[Bin]) -> PResult<Node> {
        let mut lhs = next(self)?;
        while let Tok::Bin(op) = *self.peek()
            && ops.contains(&op)
        {
            self.bump();
            let rhs = next(self)?;
            let span = lhs.span.to(rhs.span);
            lhs = Node::new(span, Kind::Bin(op, Box::new(lhs), Box::new(rhs)));
        }
        Ok(lhs)
    }

    fn or(&mut self) -> PResult<Node> {
        self.chain(Self::and, &[Bin::Or])
    }

    fn and(&mut self) -> PResult<Node> {
        self.chain(Self::not, &[Bin::And])
    }

    fn not(&mut self) -> PResult<Node> {
        if *self.peek() != Tok::Not {
            return self.comparison();
        }
        let op = self.bump().1;
        let inner = self.nested(Self::not)?;
        Ok(Node::new(op.to(inner.span), Kind::Not(Box::new(inner))))
    }

    fn comparison(&mut self) -> PResult<Node> {
        let lhs = self.sum()?;
        let node = match *self.peek() {
            Tok::Cmp(op) => {
                self.bump();
                let rhs = self.sum()?;
                Node::new(
                    lhs.span.to(rhs.span),
                    Kind::Cmp(op, Box::new(lhs), Box::new(rhs)),
                )
            }
            Tok::In => {
                self.bump();
                self.code_list(lhs)?
            }
            _ => return Ok(lhs),
        };
        if matches!(self.peek(), Tok::Cmp(_) | Tok::In) {
            return self.error(
                "comparisons can't be chained; join them with `and`, like `a < b and b < c`",
            );
        }
        Ok(node)
    }

    fn code_list(&mut self, lhs: Node) -> PResult<Node> {
        if *self.peek() != Tok::LBracket {
            let found = self.found();
            return self.error(format!(
                "expected a list like `['a', 'b']` after `in`, but found {found}"
            ));
        }
        let open = self.bump().1;
        let mut codes = Vec::new();
        loop {
            let Tok::Code(code) = self.peek().clone() else {
                let found = self.found();
                return self.error(format!(
                    "expected a code in quotes, like 'yes', but found {found}"
                ));
            };
            codes.push((code, self.bump().1));
            match self.peek() {
                Tok::Comma => _ = self.bump(),
                Tok::RBracket => break,
                _ => return self.unclosed(open, "`[`", "`]`"),
            }
        }
        let close = self.bump().1;
        Ok(Node::new(
            lhs.span.to(close),
            Kind::In(Box::new(lhs), codes),
        ))
    }

    fn sum(&mut self) -> PResult<Node> {
        self.chain(Self::product, &[Bin::Add, Bin::Sub])
    }

    fn product(&mut self) -> PResult<Node> {
        self.chain(Self::unary, &[Bin::Mul, Bin::Div])
    }

    fn unary(&mut self) -> PResult<Node> {
        if *self.peek() != Tok::Bin(Bin::Sub) {
            return self.primary();
        }
        let op = self.bump().1;
        let inner = self.nested(Self::unary)?;
        Ok(Node::new(op.to(inner.span), Kind::Neg(Box::new(inner))))
    }

    fn primary(&mut self) -> PResult<Node> {
        let span = self.span();
        let kind = match self.peek().clone() {
            Tok::Num(n) => Kind::Num(n),
            Tok::Code(code) => Kind::Code(code),
            Tok::Name(name) => Kind::Var(name),
            Tok::LParen => return self.nested(Self::parenthesised),
            Tok::LBracket => {
                return self.error("a list like `['a', 'b']` can only come after `in`");
            }
            _ => {
                let found = self.found();
                let expected = "a number, a name, a code in quotes or `(`";
                return self.error(format!("expected {expected}, but found {found}"));
            }
        };
        self.bump();
        match kind {
            Kind::Var(name) if *self.peek() == Tok::LParen => self.call(name, span),
            kind => Ok(Node::new(span, kind)),
        }
    }

    fn parenthesised(&mut self) -> PResult<Node> {
        let open = self.bump().1;
        let mut inner = self.or()?;
        if *self.peek() != Tok::RParen {
            return self.unclosed(open, "`(`", "`)`");
        }
        inner.span = open.to(self.bump().1);
        Ok(inner)
    }

    fn call(&mut self, name: String, name_span: Span) -> PResult<Node> {
        let Some(func) = Func::from_name(&name) else {
            let known = Func::ALL.map(|(n, _)| n).join(", ");
            let message =
                format!("there is no function called `{name}`; the functions are {known}");
            return Err(ExprError::new(name_span, message));
        };
        let open = name_span.to(self.bump().1);
        let mut args = Vec::new();
        // `name()` has no arguments; otherwise one before every `,` and before the `)`.
        while *self.peek() != Tok::RParen || !args.is_empty() {
            args.push(self.nested(Self::or)?);
            match self.peek() {
                Tok::Comma => _ = self.bump(),
                Tok::RParen => break,
                _ => return self.unclosed(open, &format!("`{name}(`"), "`)`"),
            }
        }
        let span = name_span.to(self.bump().1);
        if !func.arity_ok(args.len()) {
            return Err(ExprError::new(span, func.arity_error(args.len())));
        }
        Ok(Node::new(span, Kind::Call(func, args)))
    }
}

// ------------------------------------------------------------------------- type checker

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

struct Checker<'a> {
    env: &'a dyn TypeEnv,
    src: &'a str,
    errors: Vec<ExprError>,
}

impl Checker<'_> {
    fn err(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(ExprError::new(span, message));
    }

    fn text(&self, span: Span) -> &str {
        self.src.get(span.start..span.end).unwrap_or("?")
    }

    /// Checks that `node` is a `want`; `place` says where, e.g. "on each side of `and`".
    fn expect(&mut self, node: &Node, want: Type, place: &str) {
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

// ------------------------------------------------------------------------- evaluation

/// A runtime value, plus the booleans that conditions give.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
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

fn eval(node: &Node, env: &dyn ValueEnv) -> Ev {
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

fn collect_names(node: &Node, out: &mut Vec<String>) {
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
mod tests {
    use super::*;
    use Type::{Bool as B, Number as N};

    /// The dialog the tests are written against.
    struct Steps;

    impl TypeEnv for Steps {
        fn var_type(&self, name: &str) -> Option<VarType> {
            let codes = |cs: &str| cs.split(' ').map(String::from).collect::<Vec<_>>();
            Some(match name {
                "mood" | "sleep" | "anxious" | "a" | "b" => VarType::Number,
                "med" => VarType::Choice {
                    codes: codes("yes no"),
                    scored: false,
                },
                "feel" => VarType::Choice {
                    codes: codes("low ok good"),
                    scored: true,
                },
                "symptoms" => VarType::Multi {
                    codes: codes("voices sleep_loss not_safe"),
                },
                "diary" => VarType::Text,
                "intro" => VarType::NoValue,
                _ => return None,
            })
        }
    }

    /// Answers by name; anything not listed (`a`, `b`, ...) is null.
    struct Answers(Vec<(&'static str, Value)>);

    impl ValueEnv for Answers {
        fn value(&self, name: &str) -> Value {
            let found = self.0.iter().find(|(n, _)| *n == name);
            found.map_or(Value::Null, |(_, v)| v.clone())
        }
        fn score(&self, name: &str) -> Option<f64> {
            let Value::Code(code) = self.value(name) else {
                return None;
            };
            let position = ["low", "ok", "good"].iter().position(|o| *o == code);
            position.filter(|_| name == "feel").map(|i| i as f64)
        }
    }

    fn answers() -> Answers {
        let codes = Value::Codes(vec!["voices".into(), "not_safe".into()]);
        Answers(vec![
            ("mood", Value::Number(4.0)),
            ("sleep", Value::Number(7.5)),
            ("anxious", Value::Number(8.0)),
            ("med", Value::Code("yes".into())),
            ("feel", Value::Code("good".into())),
            ("symptoms", codes),
            ("diary", Value::Text),
        ])
    }

    fn parse(src: &str) -> Expr {
        Expr::parse(src).unwrap_or_else(|e| panic!("`{src}` should parse: {e:?}"))
    }

    fn checked(src: &str, want: Type) -> Expr {
        let expr = parse(src);
        let errors = expr.check(&Steps, want);
        assert!(errors.is_empty(), "`{src}`: {errors:?}");
        expr
    }

    fn is_true(src: &str) -> bool {
        checked(src, B).eval_bool(&answers())
    }

    fn number(src: &str) -> Option<f64> {
        checked(src, N).eval_number(&answers())
    }

    /// Each type error as (the text its span covers, message).
    fn type_errors(src: &str, want: Type) -> Vec<(String, String)> {
        let errors = parse(src).check(&Steps, want);
        errors
            .into_iter()
            .map(|e| (src[e.span.start..e.span.end].to_string(), e.message))
            .collect()
    }

    /// Each case has exactly one error, covering `span`, whose message contains `message`.
    fn assert_type_errors(cases: &[(&str, Type, &str, &str)]) {
        for &(src, want, span, message) in cases {
            let errors = type_errors(src, want);
            assert_eq!(errors.len(), 1, "`{src}`: {errors:?}");
            assert_eq!(errors[0].0, span, "span of the error in `{src}`");
            assert!(errors[0].1.contains(message), "`{src}`: {}", errors[0].1);
        }
    }

    /// The first syntax error as (start, end, message).
    fn syntax_error(src: &str) -> (usize, usize, String) {
        let errors = Expr::parse(src).expect_err(src);
        (
            errors[0].span.start,
            errors[0].span.end,
            errors[0].message.clone(),
        )
    }

    fn syntax_span(src: &str) -> (usize, usize) {
        let (start, end, _) = syntax_error(src);
        (start, end)
    }

    /// The parse tree in prefix form, to test precedence.
    fn shape(src: &str) -> String {
        fn tree(node: &Node) -> String {
            match &node.kind {
                Kind::Num(n) => n.to_string(),
                Kind::Code(c) => format!("'{c}'"),
                Kind::Var(v) => v.clone(),
                Kind::Neg(x) => format!("(neg {})", tree(x)),
                Kind::Not(x) => format!("(not {})", tree(x)),
                Kind::Bin(op, l, r) => format!("({} {} {})", op.symbol(), tree(l), tree(r)),
                Kind::Cmp(op, l, r) => format!("({} {} {})", op.symbol(), tree(l), tree(r)),
                Kind::In(x, codes) => format!("(in {} {})", tree(x), codes.len()),
                Kind::Call(f, args) => format!("({} {})", f.name(), args.len()),
            }
        }
        tree(&parse(src).root)
    }

    #[test]
    fn not_is_looser_than_comparisons_and_tighter_than_and_which_is_tighter_than_or() {
        assert_eq!(
            shape("not a == 1 and b > 2 or c"),
            "(or (and (not (== a 1)) (> b 2)) c)"
        );
        assert_eq!(shape("a or b and c"), "(or a (and b c))");
        assert_eq!(shape("not not a"), "(not (not a))");
        assert_eq!(shape("feel in ['low','ok'] or a"), "(or (in feel 2) a)");
    }

    #[test]
    fn arithmetic_follows_school_precedence_and_groups_left_to_right() {
        assert_eq!(shape("1 + 2 * 3"), "(+ 1 (* 2 3))");
        assert_eq!(shape("a - b - 1"), "(- (- a b) 1)");
        assert_eq!(shape("-a * 2 / b"), "(/ (* (neg a) 2) b)");
        assert_eq!(shape("a + 1 < b * 2"), "(< (+ a 1) (* b 2))");
        assert_eq!(number("(2 + 3) * 4 - 10 - 4"), Some(6.0));
        assert_eq!(number("-2 * -3 + 6.5"), Some(12.5));
    }

    #[test]
    fn the_expressions_in_the_shipped_dialogs_work() {
        assert!(is_true("mood <= 4 or anxious >= 8 or count(symptoms) >= 3"));
        assert_eq!(number("mean(mood, 10 - anxious)"), Some(3.0));
        assert!(is_true("med != 'no'"));
        assert!(!is_true("feel in ['low', 'ok']"));
    }

    #[test]
    fn every_function_gives_what_it_promises() {
        assert!(is_true("contains(symptoms, 'voices')"));
        assert!(!is_true("contains(symptoms, 'sleep_loss')"));
        assert_eq!(number("count(symptoms)"), Some(2.0));
        assert!(is_true(
            "answered(mood) and answered(diary) and answered(symptoms)"
        ));
        assert!(!is_true("answered(a) or answered(intro)"));
        assert_eq!(number("score(feel)"), Some(2.0));
        assert_eq!(number("mean(mood, sleep, 1.5)"), Some(13.0 / 3.0));
        assert_eq!(number("sum(mood, sleep, 1)"), Some(12.5));
        assert_eq!(number("min(mood, sleep, 5)"), Some(4.0));
        assert_eq!(number("max(mood, sleep, 5)"), Some(7.5));
    }

    #[test]
    fn in_lists_test_membership_and_every_code_in_them_is_checked() {
        assert!(is_true("med in ['yes']") && is_true("feel in ['ok', 'good']"));
        assert!(!is_true("feel in ['low']"));
        let errors = type_errors("feel in ['lo', 'ok', 'godo']", B);
        let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(spans, ["'lo'", "'godo'"]);
        assert_eq!(
            errors[0].1,
            "`'lo'` is not an option of `feel` (options: low, ok, good)"
        );
    }

    #[test]
    fn a_typo_in_a_choice_code_is_an_error_naming_the_options() {
        let errors = parse("med == 'yess'").check(&Steps, B);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].span, Span::new(7, 13));
        assert_eq!(
            errors[0].message,
            "`'yess'` is not an option of `med` (options: yes, no)"
        );
        assert_type_errors(&[("'nope' != med", B, "'nope'", "not an option of `med`")]);
    }

    #[test]
    fn a_choice_is_only_compared_with_its_codes_by_equality_or_in() {
        assert_type_errors(&[
            (
                "med < 'yes'",
                B,
                "med < 'yes'",
                "only be compared with `==`, `!=` or `in`, not `<`",
            ),
            (
                "med == 1",
                B,
                "med == 1",
                "can't compare the choice `med` with a number; compare it with one of its codes, like `med == 'yes'`",
            ),
            (
                "med == feel",
                B,
                "med == feel",
                "can't compare the choice `med` with the choice `feel`",
            ),
            (
                "feel + 1",
                N,
                "feel",
                "expected a number on each side of `+`, but found the choice `feel`; compare it",
            ),
            (
                "med == yes",
                B,
                "yes",
                "`yes` is not a step; for the option, use single quotes: `'yes'`",
            ),
            (
                "'yes' == 'yes'",
                B,
                "'yes' == 'yes'",
                "can't compare the code `'yes'` with",
            ),
        ]);
    }

    #[test]
    fn a_multiple_choice_step_is_only_read_by_contains_count_and_answered() {
        assert_type_errors(&[
            (
                "symptoms == 'voices'",
                B,
                "symptoms",
                "read it with contains(symptoms, 'voices')",
            ),
            (
                "contains(symptoms, 'voice')",
                B,
                "'voice'",
                "`'voice'` is not an option of `symptoms` (options: voices, sleep_loss, not_safe)",
            ),
            (
                "contains(med, 'yes')",
                B,
                "med",
                "`med` is a single choice; compare it instead",
            ),
            (
                "contains(symptoms, mood)",
                B,
                "mood",
                "must be a code in quotes",
            ),
            (
                "count(mood + 1) > 0",
                B,
                "mood + 1",
                "needs the name of a step here",
            ),
            (
                "count(mood) > 0",
                B,
                "mood",
                "needs a multiple-choice step, but `mood` is a number",
            ),
        ]);
    }

    #[test]
    fn free_text_and_messages_are_only_allowed_inside_answered() {
        assert_type_errors(&[
            (
                "diary == 'x'",
                B,
                "diary",
                "free-text answers are never read by rules",
            ),
            (
                "count(diary) > 0",
                B,
                "diary",
                "free-text answers are never read by rules",
            ),
            (
                "intro > 1",
                B,
                "intro",
                "`intro` is a message and has no answer",
            ),
        ]);
        assert!(type_errors("answered(diary) or answered(intro)", B).is_empty());
    }

    #[test]
    fn score_needs_a_choice_with_scored_options() {
        assert_type_errors(&[
            ("score(med)", N, "med", "`med` has no scores on its options"),
            (
                "score(mood)",
                N,
                "mood",
                "needs a choice with scored options, but `mood` is a number",
            ),
        ]);
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_it() {
        let errors = type_errors("mod > 3 or answered(slep)", B);
        assert_eq!(
            errors[0],
            (
                "mod".into(),
                "there is no step or computed value called `mod`".into()
            )
        );
        assert_eq!(errors[1].0, "slep");
    }

    #[test]
    fn logic_needs_conditions_arithmetic_needs_numbers_and_codes_are_not_numbers() {
        assert_type_errors(&[
            (
                "mood and med == 'yes'",
                B,
                "mood",
                "expected a condition (true or false) on each side of `and`, but found a number",
            ),
            ("not mood", B, "mood", "after `not`"),
            ("mood > 1 or 3", B, "3", "on each side of `or`"),
            (
                "(mood > 1) * 2",
                N,
                "(mood > 1)",
                "expected a number on each side of `*`, but found a condition",
            ),
            (
                "-'yes'",
                N,
                "'yes'",
                "expected a number after `-`, but found the code `'yes'`",
            ),
            ("mean(mood, feel)", N, "feel", "in `mean(...)`"),
            (
                "mood == 'yes'",
                B,
                "mood == 'yes'",
                "can't compare a number with the code `'yes'`",
            ),
            (
                "mood in ['yes']",
                B,
                "mood",
                "`in [...]` needs a choice on its left, but found a number",
            ),
        ]);
    }

    #[test]
    fn the_whole_expression_must_be_what_the_caller_asks_for() {
        assert_type_errors(&[
            (
                "mood + 1",
                B,
                "mood + 1",
                "expected a condition (true or false) for the whole expression, but found a number",
            ),
            (
                "mood > 1",
                N,
                "mood > 1",
                "expected a number for the whole expression",
            ),
        ]);
    }

    #[test]
    fn all_type_errors_are_reported_in_source_order() {
        let src = "med == 'yess' and diary == 'x' or nothing > 1 and score(med) > 1";
        let errors = type_errors(src, B);
        let spans: Vec<&str> = errors.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(spans, ["'yess'", "diary", "nothing", "med"]);
    }

    #[test]
    fn an_unclosed_bracket_points_at_the_bracket_left_open() {
        let message = "expected `)` to close `mean(` but found the end of the expression";
        assert_eq!(syntax_error("mean(mood, sleep"), (0, 5, message.into()));
        assert_eq!(syntax_error("(mood > 1 and med == 'yes'").0, 0);
        let message = "expected `,` or `)` to close `mean(` but found `sleep`";
        assert_eq!(syntax_error("mean(mood sleep)"), (10, 15, message.into()));
        assert_eq!(syntax_span("med in ['yes'"), (7, 8));
    }

    #[test]
    fn trailing_garbage_is_an_error_at_the_first_unexpected_token() {
        let (start, end, message) = syntax_error("mood > 1 sleep");
        assert_eq!((start, end), (9, 14));
        assert!(message.ends_with("but found `sleep`"), "{message}");
        assert_eq!(
            syntax_error("mood > 1)"),
            (8, 9, "this `)` has no matching `(`".into())
        );
    }

    #[test]
    fn a_bad_code_literal_is_an_error_covering_the_literal() {
        let message =
            "`'not sure'` is not a valid code: codes use only letters, digits, `_` and `-`";
        assert_eq!(syntax_error("med == 'not sure'"), (7, 17, message.into()));
        assert_eq!(syntax_error("med == 'yes").0, 7);
        assert_eq!(syntax_span("med == ''"), (7, 9));
        assert_eq!(syntax_span("med == \"yes\""), (7, 12));
    }

    #[test]
    fn comparisons_do_not_chain() {
        let (start, end, message) = syntax_error("1 < mood < 5");
        assert_eq!((start, end), (9, 10));
        assert!(
            message.starts_with("comparisons can't be chained"),
            "{message}"
        );
        assert_eq!(syntax_span("med in ['yes'] == 'no'"), (15, 17));
        assert!(Expr::parse("(1 < mood) == (mood < 5)").is_ok());
    }

    #[test]
    fn other_syntax_mistakes_get_plain_english_errors() {
        let cases = [
            ("", "the expression is empty"),
            (
                "mood = 3",
                "use `==` to compare; a single `=` is not allowed",
            ),
            ("!answered(mood)", "use `not` instead of `!`"),
            ("a && b", "use `and` instead of `&&`"),
            (
                "Mood > 3",
                "`Mood` is not a valid name: names use only lower-case letters",
            ),
            (
                "avg(mood)",
                "no function called `avg`; the functions are contains, count, answered",
            ),
            (
                "count(a, b)",
                "`count(...)` takes one value: a multiple-choice step, but was given 2",
            ),
            (
                "mean()",
                "`mean(...)` takes at least one number, but was given 0",
            ),
            (
                "mean(a,)",
                "expected a number, a name, a code in quotes or `(`, but found `)`",
            ),
            (
                "['a'] == med",
                "a list like `['a', 'b']` can only come after `in`",
            ),
            (
                "med in 'yes'",
                "expected a list like `['a', 'b']` after `in`, but found `'yes'`",
            ),
            (
                "med in []",
                "expected a code in quotes, like 'yes', but found `]`",
            ),
            ("mood >", "but found the end of the expression"),
            (
                "3x > 1",
                "`3x` is not a number (write numbers like 3 or 6.5)",
            ),
            ("1.2.3 > 1", "`1.2.3` is not a number"),
            ("mood > 3 % 2", "`%` is not allowed in an expression"),
        ];
        for (src, message) in cases {
            let found = syntax_error(src).2;
            assert!(found.contains(message), "`{src}`: {found}");
        }
    }

    #[test]
    fn every_bad_token_is_reported_not_just_the_first() {
        let errors = Expr::parse("mood = 3 and med == 'a b' and x & y").unwrap_err();
        let spans: Vec<Span> = errors.iter().map(|e| e.span).collect();
        assert_eq!(
            spans,
            [Span::new(5, 6), Span::new(20, 25), Span::new(32, 33)]
        );
    }

    #[test]
    fn comparisons_with_null_are_false_even_not_equal() {
        for src in [
            "a == 1", "a != 1", "a < 1", "a <= 1", "a > 1", "a >= 1", "a == b", "a != b",
        ] {
            assert!(!is_true(src), "`{src}` with `a` unanswered");
        }
        let nobody = Answers(vec![]);
        for src in [
            "med == 'yes'",
            "med != 'yes'",
            "med in ['yes', 'no']",
            "contains(symptoms, 'voices')",
        ] {
            assert!(
                !checked(src, B).eval_bool(&nobody),
                "`{src}` with nothing answered"
            );
        }
        assert!(
            checked("not (a == 1)", B).eval_bool(&nobody),
            "`not` is plain negation"
        );
    }

    #[test]
    fn arithmetic_with_null_is_null_and_aggregates_skip_nulls() {
        for src in ["a + 1", "-a", "mood * b", "min(a, b)", "mean(a - 1)"] {
            assert_eq!(number(src), None, "`{src}`");
        }
        assert_eq!(number("mean(a, mood, b, sleep)"), Some(5.75));
        assert_eq!(number("sum(a, mood)"), Some(4.0));
        assert_eq!(number("max(a + 1, sleep)"), Some(7.5));
        let nobody = Answers(vec![]);
        assert_eq!(checked("count(symptoms)", N).eval_number(&nobody), None);
        assert_eq!(checked("score(feel)", N).eval_number(&nobody), None);
    }

    #[test]
    fn division_by_zero_gives_null() {
        for src in ["mood / 0", "0 / 0", "mood / (sleep - 7.5)"] {
            assert_eq!(number(src), None, "`{src}`");
        }
        assert_eq!(number("mean(mood / 0, 2)"), Some(2.0));
        assert!(!is_true("mood / 0 > 1") && !is_true("mood / 0 != 1"));
    }

    #[test]
    fn and_or_short_circuit_and_unchecked_nonsense_evaluates_to_nothing() {
        assert!(is_true("mood > 1 or mood / 0 > 1"));
        assert!(!is_true("mood > 9 and mood > 1"));
        let env = answers();
        assert!(!parse("mood and 1").eval_bool(&env) && !parse("mood").eval_bool(&env));
        assert_eq!(parse("mood > 1").eval_number(&env), None);
    }

    #[test]
    fn references_list_each_name_once_in_order_of_first_use() {
        let expr =
            parse("mean(mood, sleep) > 3 and contains(symptoms, 'a') or mood < answered(diary)");
        assert_eq!(expr.references(), ["mood", "sleep", "symptoms", "diary"]);
        assert!(parse("1 + 2").references().is_empty());
    }

    #[test]
    fn an_expression_keeps_its_source_and_debug_prints_only_that() {
        let expr = parse(" mood  > 3 ");
        assert_eq!(expr.source(), " mood  > 3 ");
        assert_eq!(format!("{expr:?}"), r#"Expr(" mood  > 3 ")"#);
        assert_eq!(expr.clone(), expr);
        assert_ne!(parse("mood > 3"), parse("mood > 4"));
    }

    #[test]
    fn deep_nesting_and_very_long_expressions_are_errors_not_crashes() {
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(syntax_error(&deep).2.contains("nested too deeply"));
        assert!(
            syntax_error(&"not ".repeat(100))
                .2
                .contains("nested too deeply")
        );
        assert!(syntax_error(&"- ".repeat(100_000)).2.contains("too long"));
        assert_eq!(number(&vec!["mood"; 200].join(" + ")), Some(800.0));
    }

    #[test]
    fn garbage_never_panics_and_every_span_is_inside_the_source() {
        const PIECES: &[&str] = &[
            "mood",
            "med",
            "feel",
            "symptoms",
            "diary",
            "intro",
            "zz",
            "'yes'",
            "'voices'",
            "'",
            "\"",
            "(",
            ")",
            "[",
            "]",
            ",",
            "==",
            "!=",
            "<",
            ">=",
            "=",
            "!",
            "+",
            "-",
            "*",
            "/",
            "and",
            "or",
            "not",
            "in",
            "0",
            "3",
            "6.5",
            "1e9",
            "mean(",
            "count(",
            "contains(",
            "score(",
            "answered(",
            "max(",
            "foo(",
            " ",
            " ",
            "é",
            "🙂",
            "&",
            "%",
            "\t",
            "9e999",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let (mut parsed, envs) = (0, [answers(), Answers(vec![])]);
        for _ in 0..5000 {
            let len = 1 + next() % 7;
            let src: String = (0..len).map(|_| PIECES[next() % PIECES.len()]).collect();
            let inside = |errors: &[ExprError]| {
                let ok = |e: &ExprError| src.get(e.span.start..e.span.end).is_some();
                !errors.is_empty() && errors.iter().all(ok)
            };
            match Expr::parse(&src) {
                Err(errors) => assert!(inside(&errors), "`{src}`: {errors:?}"),
                Ok(expr) => {
                    parsed += 1;
                    for want in [B, N] {
                        let errors = expr.check(&Steps, want);
                        assert!(errors.is_empty() || inside(&errors), "`{src}`: {errors:?}");
                    }
                    for env in &envs {
                        expr.eval_bool(env);
                        assert!(expr.eval_number(env).is_none_or(f64::is_finite), "`{src}`");
                    }
                    expr.references();
                }
            }
        }
        assert!(
            parsed > 200,
            "only {parsed} of the random inputs parsed; too noisy"
        );
    }
}
