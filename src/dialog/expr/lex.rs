//! The lexer: expression source to tokens, reporting every bad token.

use super::tree::{Bin, Cmp};
use super::{ExprError, Span};

/// Longest expression accepted, in tokens; keeps every recursion shallow.
const MAX_TOKENS: usize = 500;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) fn lex(src: &str) -> Result<Vec<(Tok, Span)>, Vec<ExprError>> {
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
