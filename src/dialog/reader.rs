//! Reads a TOML file as a tree with positions and pulls typed values out of it, collecting
//! *every* problem (unknown keys, wrong types, missing keys) instead of stopping at the
//! first, as serde would.

use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::diagnostic::Diagnostic;

/// A value with the byte range it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub span: Range<usize>,
}

impl<T> At<T> {
    pub fn new(value: T, span: Range<usize>) -> Self {
        At { value, span }
    }
}

/// A table of the file, with the span of its header (or of its inline definition).
pub struct Table<'t, 'i> {
    pub entries: &'t DeTable<'i>,
    pub span: Range<usize>,
}

/// Collects diagnostics for one file.
pub struct Reader<'a> {
    pub file: &'a Path,
    pub src: &'a str,
    pub diags: Vec<Diagnostic>,
}

impl<'a> Reader<'a> {
    pub fn new(file: &'a Path, src: &'a str) -> Self {
        Reader {
            file,
            src,
            diags: Vec::new(),
        }
    }

    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::at(self.file, self.src, Some(span), message));
    }

    pub fn warning(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::at(self.file, self.src, Some(span), message).warning());
    }

    /// Reports each key of `table` that is not in `allowed`, listing the expected ones.
    pub fn only_keys(&mut self, table: &Table, allowed: &[&str], context: &str) {
        for (key, _) in table.entries.iter() {
            let name: &str = key.get_ref();
            if !allowed.contains(&name) {
                let mut expected = allowed.to_vec();
                expected.sort_unstable();
                self.error(
                    key.span(),
                    format!(
                        "unknown key `{name}` in {context}; expected one of: {}",
                        expected.join(", ")
                    ),
                );
            }
        }
    }

    fn get<'t, 'i>(
        &self,
        table: &Table<'t, 'i>,
        key: &str,
    ) -> Option<&'t toml::Spanned<DeValue<'i>>> {
        table.entries.get(key)
    }

    /// The value at `key`; if absent and `required`, reports it as missing.
    fn lookup<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &str,
        context: &str,
        required: bool,
    ) -> Option<&'t toml::Spanned<DeValue<'i>>> {
        let v = self.get(table, key);
        if v.is_none() && required {
            self.missing(table, key, context);
        }
        v
    }

    fn missing(&mut self, table: &Table, key: &str, context: &str) {
        self.error(
            table.span.clone(),
            format!("missing key `{key}` in {context}"),
        );
    }

    fn wrong_type(&mut self, span: Range<usize>, key: &str, expected: &str, found: &DeValue) {
        self.error(
            span,
            format!("`{key}` must be {expected}, found {}", describe(found)),
        );
    }

    pub fn string(
        &mut self,
        table: &Table,
        key: &str,
        context: &str,
        required: bool,
    ) -> Option<At<String>> {
        let v = self.lookup(table, key, context, required)?;
        match v.get_ref() {
            DeValue::String(s) => Some(At::new(s.to_string(), v.span())),
            other => {
                self.wrong_type(v.span(), key, "text in quotes", other);
                None
            }
        }
    }

    pub fn integer(
        &mut self,
        table: &Table,
        key: &str,
        context: &str,
        required: bool,
    ) -> Option<At<i64>> {
        let v = self.lookup(table, key, context, required)?;
        match v.get_ref() {
            DeValue::Integer(i) => {
                match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                    Ok(n) => Some(At::new(n, v.span())),
                    Err(_) => {
                        self.error(v.span(), format!("`{key}` is out of range"));
                        None
                    }
                }
            }
            other => {
                self.wrong_type(v.span(), key, "a whole number", other);
                None
            }
        }
    }

    pub fn number(
        &mut self,
        table: &Table,
        key: &str,
        context: &str,
        required: bool,
    ) -> Option<At<f64>> {
        let v = self.lookup(table, key, context, required)?;
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite()),
            other => {
                self.wrong_type(v.span(), key, "a number", other);
                return None;
            }
        };
        match parsed {
            Some(x) => Some(At::new(x, v.span())),
            None => {
                self.error(v.span(), format!("`{key}` must be a finite number"));
                None
            }
        }
    }

    pub fn boolean(&mut self, table: &Table, key: &str) -> Option<At<bool>> {
        let v = self.get(table, key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(At::new(*b, v.span())),
            other => {
                self.wrong_type(v.span(), key, "true or false", other);
                None
            }
        }
    }

    pub fn string_list(&mut self, table: &Table, key: &str) -> Option<At<Vec<At<String>>>> {
        let v = self.get(table, key)?;
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(At::new(s.to_string(), item.span())),
                        other => {
                            self.wrong_type(item.span(), key, "a list of texts in quotes", other)
                        }
                    }
                }
                Some(At::new(out, v.span()))
            }
            other => {
                self.wrong_type(v.span(), key, "a list like [\"a\", \"b\"]", other);
                None
            }
        }
    }

    /// An array of tables (`[[key]]` or `key = [{…}, {…}]`).
    pub fn tables<'t, 'i>(
        &mut self,
        table: &Table<'t, 'i>,
        key: &str,
    ) -> Option<At<Vec<Table<'t, 'i>>>> {
        let v = self.get(table, key)?;
        match v.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => out.push(Table {
                            entries: t,
                            span: item.span(),
                        }),
                        other => self.wrong_type(item.span(), key, "a list of tables", other),
                    }
                }
                Some(At::new(out, v.span()))
            }
            other => {
                self.wrong_type(v.span(), key, "a list of tables", other);
                None
            }
        }
    }

    /// A sub-table (`[key]` or `key = {…}`).
    pub fn table<'t, 'i>(&mut self, table: &Table<'t, 'i>, key: &str) -> Option<Table<'t, 'i>> {
        let v = self.get(table, key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Table {
                entries: t,
                span: v.span(),
            }),
            other => {
                self.wrong_type(v.span(), key, "a table", other);
                None
            }
        }
    }
}

fn describe(v: &DeValue) -> &'static str {
    match v {
        DeValue::String(_) => "text",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// Parses a whole file into a positioned tree; syntax errors become diagnostics.
pub fn parse<'i>(file: &Path, src: &'i str) -> Result<toml::Spanned<DeTable<'i>>, Vec<Diagnostic>> {
    let (tree, errors) = DeTable::parse_recoverable(src);
    if errors.is_empty() {
        Ok(tree)
    } else {
        Err(errors
            .iter()
            .map(|e| Diagnostic::from_toml(file, src, e))
            .collect())
    }
}
