//! Problems found in files people edit (config, dialogs), reported as `file:line:col: message`
//! with the offending line underneath, rustc-style.

use std::fmt;
use std::ops::Range;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    /// Another place a problem involves (the first of two duplicates), shown under it.
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    /// 1-based, in characters.
    pub col: usize,
    pub message: String,
    /// The source line the problem points at (empty if none).
    pub snippet: String,
    /// Other places this problem involves, each printed under it with its own line.
    pub notes: Vec<Diagnostic>,
}

impl Diagnostic {
    /// A diagnostic at a byte `span` of `source`.
    pub fn at(
        file: &Path,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let (line, col, snippet) = match span {
            Some(span) => locate(source, span.start),
            None => (0, 0, String::new()),
        };
        Diagnostic {
            severity: Severity::Error,
            file: file.display().to_string(),
            line,
            col,
            message: message.into(),
            snippet,
            notes: Vec::new(),
        }
    }

    /// A problem with the file as a whole (missing, unreadable).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic::at(file, "", None, message)
    }

    /// Turns a `toml` parse/deserialize error into a positioned diagnostic, in plain words.
    pub fn from_toml(file: &Path, source: &str, err: &toml::de::Error) -> Self {
        Diagnostic::at(file, source, err.span(), plain_toml(err.message()))
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Adds another place this problem involves (`note` is `Diagnostic::at(…)` there).
    pub fn with_note(mut self, mut note: Diagnostic) -> Self {
        note.severity = Severity::Note;
        self.notes.push(note);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// 1-based line and column (in chars) of a byte offset, plus that line's text.
pub fn locate(source: &str, offset: usize) -> (usize, usize, String) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    let line_text = source[line_start..]
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    (line, col, line_text)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        if self.line == 0 {
            write!(f, "{}: {level}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {level}: {}",
                self.file, self.line, self.col, self.message
            )?;
        }
        if !self.snippet.is_empty() {
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {:>col$}",
                "",
                self.line,
                self.snippet,
                "",
                "^",
                col = self.col
            )?;
        }
        for note in &self.notes {
            write!(f, "\n{note}")?;
        }
        Ok(())
    }
}

/// A `toml` error message in words for the person who edits the file (a peer worker, not a
/// programmer): what is wrong and what to look at. Unknown messages pass through unchanged.
pub fn plain_toml(message: &str) -> String {
    let message = message.trim();
    // The parser's own messages: "<what>, expected <…>".
    let what = message.split(", expected").next().unwrap_or(message);
    let plain = match what {
        "invalid basic string" | "invalid string" | "missing opening quote" => {
            "a text in quotes is not closed — check the quotes on this line"
        }
        "invalid literal string" => {
            "a text in 'single quotes' is not closed — check the quotes on this line"
        }
        "invalid multi-line basic string" | "invalid multi-line literal string" => {
            "a text in three quotes (\"\"\") is not closed — it needs \"\"\" at its end"
        }
        "missing escaped value" | "too few unicode value digits" => {
            "a \\ in a text must be followed by n (a new line), \" or \\ — to write a \\ itself, type \\\\"
        }
        "string values must be quoted" | "invalid value" => {
            "this value needs quotes — write text as \"like this\" (numbers and true/false have none)"
        }
        "key with no value"
        | "missing value"
        | "missing value for key"
        | "missing assignment between key-value pairs"
        | "invalid key-value pair" => "this line should read key = value, like text = \"Hello\"",
        "extra `=`" | "extra assignment between key-value pairs" => {
            "there is one `=` too many here"
        }
        "duplicate key" => {
            "this key is given twice in the same place (the same step or table) — keep one"
        }
        "unclosed array" | "missing array opening" => {
            "a list in square brackets [ ] is not closed — it needs a ] at its end"
        }
        "missing comma between array elements" => {
            "the items of a list need commas between them, like [\"a\", \"b\"]"
        }
        "extra comma in array" | "unexpected `=` in array" => {
            "something is out of place in this list — it should look like [\"a\", \"b\"]"
        }
        "unclosed inline table" | "missing inline table opening" => {
            "a { … } is not closed — it needs a } at its end, on the same line"
        }
        "missing comma between key-value pairs"
        | "extra comma in inline table"
        | "invalid inline table element"
        | "missing key for inline table element" => {
            "the parts of a { … } need commas between them, like { code = \"yes\", label = \"Yes\" }, all on one line"
        }
        "unclosed table" | "missing table open" => {
            "a [heading] is not closed — it needs a ] at its end"
        }
        "unclosed array table" => "a [[heading]] is not closed — it needs ]] at its end",
        "invalid unquoted key"
        | "unquoted keys cannot be empty"
        | "invalid key"
        | "keys cannot be multi-line basic strings"
        | "keys cannot be multi-line literal strings" => {
            "a key (the name before =) uses letters, digits, _ and - only"
        }
        "unexpected key or value" | "unexpected content" => {
            "something follows the value on this line — put one key = value on each line (a note goes after #)"
        }
        "invalid comment character"
        | "missing comment start"
        | "unexpected content between comment and newline" => {
            "this line cannot be read — a note (comment) starts with #"
        }
        "invalid boolean" => "write true or false in small letters, without quotes",
        "invalid date" | "invalid time" | "invalid date-time" => {
            "this date cannot be read — write it like 2026-03-20"
        }
        "invalid float"
        | "invalid integer number"
        | "invalid fraction"
        | "invalid exponent"
        | "invalid mantissa"
        | "unexpected leading zero"
        | "unexpected sign"
        | "redundant numeric sign"
        | "`_` may only go between digits" => "this number cannot be read — write it like 7 or 6.5",
        _ => "",
    };
    if !plain.is_empty() {
        return plain.to_string();
    }
    plain_serde(message).unwrap_or_else(|| message.to_string())
}

/// serde's messages about the shape of a file (keys and types).
fn plain_serde(message: &str) -> Option<String> {
    let quoted = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = quoted(rest);
        let (key, expected) = names.split_first()?;
        return Some(if expected.is_empty() {
            format!("unknown key `{key}`; nothing else is expected here")
        } else {
            format!(
                "unknown key `{key}`; expected one of: {}",
                expected.join(", ")
            )
        });
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let names = quoted(rest);
        let (value, expected) = names.split_first()?;
        return Some(format!(
            "unknown value `{value}`; expected one of: {}",
            expected.join(", ")
        ));
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return Some(format!("missing key `{}`", quoted(rest).first()?));
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ")?;
        let found = match found.split_whitespace().next()? {
            "string" => "text",
            "integer" => "a whole number",
            "floating" => "a decimal number",
            "boolean" => "true/false",
            "sequence" => "a list",
            "map" => "a table",
            _ => "something else",
        };
        return Some(format!(
            "this must be {}, not {found}",
            plain_type(expected)
        ));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        let (_, expected) = rest.split_once(", expected ")?;
        return Some(format!(
            "this value is out of range: expected {}",
            plain_type(expected)
        ));
    }
    None
}

fn plain_type(expected: &str) -> String {
    match expected.trim() {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "an integer" => {
            "a whole number".into()
        }
        "f32" | "f64" | "a float" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" => "text in quotes".into(),
        "a sequence" => "a list like [\"a\", \"b\"]".into(),
        e if e.starts_with("struct ") || e == "a map" => "a table".into(),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let src = "a = 1\nbé = x\n";
        let offset = src.find('x').unwrap();
        let (line, col, text) = locate(src, offset);
        assert_eq!((line, col, text.as_str()), (2, 6, "bé = x"));
    }

    #[test]
    fn display_is_file_line_col_with_a_caret() {
        let d = Diagnostic::at(Path::new("f.toml"), "k = oops\n", Some(4..8), "bad value");
        let shown = d.to_string();
        assert!(shown.starts_with("f.toml:1:5: error: bad value"), "{shown}");
        assert!(shown.ends_with("|     ^"), "{shown}");
    }

    /// A broken line, and what the person who edits dialogs reads about it (line:col: message).
    #[test]
    fn toml_mistakes_are_told_in_plain_words_at_their_place() {
        let cases: &[(&str, &str)] = &[
            (
                "title = \"Daily check-in\n",
                "1:24: a text in quotes is not closed — check the quotes on this line",
            ),
            (
                "title = 'Daily\n",
                "1:15: a text in 'single quotes' is not closed — check the quotes on this line",
            ),
            (
                "text = \"\"\"Hello\n",
                "2:1: a text in three quotes (\"\"\") is not closed — it needs \"\"\" at its end",
            ),
            (
                "text = \"C:\\q\"\n",
                "1:12: a \\ in a text must be followed by n (a new line), \" or \\ — to write a \\ itself, type \\\\",
            ),
            (
                "kind = scale\n",
                "1:8: this value needs quotes — write text as \"like this\" (numbers and true/false have none)",
            ),
            (
                "skippable true\n",
                "1:11: this line should read key = value, like text = \"Hello\"",
            ),
            (
                "tags = [\"a\" \"b\"]\n",
                "1:13: the items of a list need commas between them, like [\"a\", \"b\"]",
            ),
            (
                "tags = [\"a\", \"b\"\n",
                "1:17: a list in square brackets [ ] is not closed — it needs a ] at its end",
            ),
            (
                "o = { code = \"a\" label = \"A\" }\n",
                "1:18: the parts of a { … } need commas between them, like { code = \"yes\", label = \"Yes\" }, all on one line",
            ),
            (
                "[[step]\n",
                "1:8: a [[heading]] is not closed — it needs ]] at its end",
            ),
            (
                "id = \"a\"\nid = \"b\"\n",
                "2:1: this key is given twice in the same place (the same step or table) — keep one",
            ),
            (
                "skippable = True\n",
                "1:13: write true or false in small letters, without quotes",
            ),
            (
                "min = 1.2.3\n",
                "1:10: this number cannot be read — write it like 7 or 6.5",
            ),
            (
                "id = \"a\" id2 = \"b\"\n",
                "1:10: something follows the value on this line — put one key = value on each line (a note goes after #)",
            ),
        ];
        let mut failures = Vec::new();
        for (src, expected) in cases {
            let err = toml::from_str::<toml::Table>(src).unwrap_err();
            let d = Diagnostic::from_toml(Path::new("f.toml"), src, &err);
            let got = format!("{}:{}: {}", d.line, d.col, d.message);
            if got != *expected {
                failures.push(format!("{src:?}\n  expected {expected}\n  got      {got}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn serde_messages_about_keys_and_types_are_plain_too() {
        assert_eq!(
            plain_toml("unknown field `ful`, expected one of `full`, `partial`"),
            "unknown key `ful`; expected one of: full, partial"
        );
        assert_eq!(plain_toml("missing field `intro`"), "missing key `intro`");
        assert_eq!(
            plain_toml("invalid type: string \"x\", expected i64"),
            "this must be a whole number, not text"
        );
        assert_eq!(plain_toml("something new"), "something new");
    }
}
