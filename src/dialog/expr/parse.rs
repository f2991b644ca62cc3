//! The parser: tokens to a syntax tree, by recursive descent over the grammar in `mod.rs`.

use super::lex::Tok;
use super::tree::{Bin, Func, Kind, Node};
use super::{ExprError, Span};

/// Deepest nesting of brackets, `not`, unary minus and function calls.
const MAX_NESTING: usize = 40;

type PResult<T> = Result<T, ExprError>;

/// Recursive descent, one function per precedence level (see the grammar in `mod.rs`).
pub(super) struct Parser<'s> {
    pub(super) src: &'s str,
    pub(super) toks: Vec<(Tok, Span)>, // never empty: ends with Tok::End
    pub(super) pos: usize,
    pub(super) depth: usize,
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

    pub(super) fn whole(mut self) -> PResult<Node> {
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
