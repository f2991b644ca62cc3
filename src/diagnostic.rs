//! Problems found in files people edit (config, dialogs), reported as `file:line:col: message`
//! with the offending line underneath, rustc-style.

use std::fmt;
use std::ops::Range;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
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
        }
    }

    /// A problem with the file as a whole (missing, unreadable).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic::at(file, "", None, message)
    }

    /// Turns a `toml` parse/deserialize error into a positioned diagnostic.
    pub fn from_toml(file: &Path, source: &str, err: &toml::de::Error) -> Self {
        Diagnostic::at(file, source, err.span(), err.message().trim().to_string())
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
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
        };
        if self.line == 0 {
            return write!(f, "{}: {level}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file, self.line, self.col, self.message
        )?;
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
        Ok(())
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
}
