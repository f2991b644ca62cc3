//! The bot's words, loaded from `dialogs/` (`core.toml`, `crisis.toml`) and validated.
//!
//! Texts are data so that clinicians, peer workers and service users can read and change them
//! without touching Rust. Problems are reported as `file:line:col`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::crisis::CrisisCard;
use crate::diagnostic::Diagnostic;

pub const CORE_FILE: &str = "core.toml";
pub const CRISIS_FILE: &str = "crisis.toml";
const SUPPORTED_FORMAT: i64 = 1;
/// Telegram allows 4096 characters; leave room for placeholders.
const MAX_TEXT_CHARS: usize = 3500;
const PLACEHOLDERS: &[&str] = &[
    "first_name",
    "name",
    "timezone",
    "min",
    "max",
    "min_label",
    "max_label",
    "until",
    "label",
    "when",
    "time",
    "quiet",
    "list",
    "title",
    "days",
    "hour",
    "person",
    "role",
    "receives",
    "link",
    "position",
    "what",
    "date",
    "reason",
    "notes",
    "people",
    "then",
    // /week
    "weeks",
    "range",
    "hours",
    "from",
    "count",
    "total",
    "give",
    // a question rewritten into the next one
    "asked",
    "question",
];

mod texts;
pub use texts::Texts;

/// All loaded content.
#[derive(Debug, Clone)]
pub struct Content {
    pub texts: Texts,
    /// `core.toml`'s `version`: recorded with each consent so we know the wording shown.
    pub texts_version: i64,
    pub crisis: CrisisCard,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCore {
    format: Spanned<i64>,
    version: i64,
    text: Spanned<BTreeMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrisis {
    format: Spanned<i64>,
    last_verified: Spanned<toml::value::Datetime>,
    intro: String,
    outro: String,
    contact: Vec<RawContact>,
    phrases: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    not_crisis: Vec<Spanned<String>>,
    #[serde(default)]
    stems: Vec<Spanned<String>>,
    #[serde(default)]
    real_words: Vec<Spanned<String>>,
    #[serde(default)]
    glued: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    name: String,
    how: String,
}

/// The result of loading: content if there were no errors, and every diagnostic
/// (errors and warnings) found.
pub struct Loaded {
    pub content: Option<Content>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Content {
    /// Loads and validates the content under `dir`; `today` decides whether the crisis
    /// contacts are overdue for re-verification (a warning).
    pub fn load(dir: &Path, today: NaiveDate) -> Loaded {
        let mut diags = Vec::new();
        let texts = load_core(&dir.join(CORE_FILE), &mut diags);
        let crisis = load_crisis(&dir.join(CRISIS_FILE), today, &mut diags);
        let content = match (texts, crisis) {
            (Some((texts, texts_version)), Some(crisis)) if !diags.iter().any(|d| d.is_error()) => {
                Some(Content {
                    texts,
                    texts_version,
                    crisis,
                })
            }
            _ => None,
        };
        Loaded {
            content,
            diagnostics: diags,
        }
    }

    /// Loads, turning any error into one `anyhow` error listing them all.
    pub fn load_or_fail(dir: &Path, today: NaiveDate) -> anyhow::Result<Content> {
        let loaded = Content::load(dir, today);
        for w in loaded.diagnostics.iter().filter(|d| !d.is_error()) {
            tracing::warn!("{w}");
        }
        loaded.content.ok_or_else(|| {
            let all: Vec<String> = loaded
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            anyhow::anyhow!(
                "content under {} has errors:\n{}",
                dir.display(),
                all.join("\n")
            )
        })
    }
}

fn read(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) => {
            diags.push(Diagnostic::file(path, format!("cannot read: {e}")));
            None
        }
    }
}

fn check_format(path: &Path, src: &str, format: &Spanned<i64>, diags: &mut Vec<Diagnostic>) {
    if *format.get_ref() != SUPPORTED_FORMAT {
        diags.push(Diagnostic::at(
            path,
            src,
            Some(format.span()),
            format!(
                "unsupported format {}; this version of staywell reads format {SUPPORTED_FORMAT}",
                format.get_ref()
            ),
        ));
    }
}

fn load_core(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<(Texts, i64)> {
    let src = read(path, diags)?;
    let raw: RawCore = match toml::from_str(&src) {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diagnostic::from_toml(path, &src, &e));
            return None;
        }
    };
    check_format(path, &src, &raw.format, diags);
    let table_span = raw.text.span();
    let texts: BTreeMap<Spanned<String>, Spanned<String>> = raw.text.into_inner();
    let expected = expected_text_keys();
    for (key, value) in &texts {
        check_text(path, &src, key.get_ref(), value, diags);
        if !expected.contains(&key.get_ref().as_str()) {
            diags.push(Diagnostic::at(
                path,
                &src,
                Some(key.span()),
                format!(
                    "unknown text key `{}`; expected one of: {}",
                    key.get_ref(),
                    expected.join(", ")
                ),
            ));
        }
    }
    // Convert to the typed struct: this names missing and unknown keys.
    let plain: BTreeMap<&str, &str> = texts
        .iter()
        .map(|(k, v)| (k.get_ref().as_str(), v.get_ref().as_str()))
        .collect();
    for key in &expected {
        if !plain.contains_key(key) {
            diags.push(Diagnostic::at(
                path,
                &src,
                Some(table_span.clone()),
                format!("missing text key `{key}` in [text]"),
            ));
        }
    }
    let value = toml::Value::Table(
        plain
            .iter()
            .filter(|(k, _)| expected.contains(k))
            .map(|(k, v)| (k.to_string(), toml::Value::String(v.trim().to_string())))
            .collect(),
    );
    match Texts::deserialize(value) {
        Ok(t) => Some((t, raw.version)),
        Err(_) => None, // already reported key by key above
    }
}

/// The keys `[text]` must have, derived from [`Texts`] itself so they cannot drift.
fn expected_text_keys() -> Vec<&'static str> {
    struct Collect(Vec<&'static str>);
    impl<'de> serde::Deserializer<'de> for &mut Collect {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("only structs"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(serde::de::Error::custom("collected"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut c = Collect(Vec::new());
    let _ = Texts::deserialize(&mut c);
    c.0
}

fn check_text(
    path: &Path,
    src: &str,
    key: &str,
    value: &Spanned<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let text = value.get_ref().trim();
    if text.is_empty() {
        diags.push(Diagnostic::at(
            path,
            src,
            Some(value.span()),
            format!("`{key}` is empty"),
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        diags.push(Diagnostic::at(
            path,
            src,
            Some(value.span()),
            format!(
                "`{key}` is longer than {MAX_TEXT_CHARS} characters (Telegram's limit is 4096)"
            ),
        ));
    }
    for name in placeholders(text) {
        if !PLACEHOLDERS.contains(&name) {
            diags.push(Diagnostic::at(
                path,
                src,
                Some(value.span()),
                format!(
                    "`{key}` uses unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.join(", ")
                ),
            ));
        }
    }
}

/// Names inside `{…}` in a text.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Names as a sentence lists them: "Sam", "Sam and Jo", "Sam, Jo and Kim".
pub fn and_list<S: AsRef<str>>(names: &[S]) -> String {
    match names {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(|s| s.as_ref()).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

/// Fills `{name}`-style placeholders. Values are inserted as they are (never re-expanded).
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                match vars.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn load_crisis(path: &Path, today: NaiveDate, diags: &mut Vec<Diagnostic>) -> Option<CrisisCard> {
    let src = read(path, diags)?;
    let raw: RawCrisis = match toml::from_str(&src) {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diagnostic::from_toml(path, &src, &e));
            return None;
        }
    };
    check_format(path, &src, &raw.format, diags);
    let verified = raw
        .last_verified
        .get_ref()
        .date
        .and_then(|d| NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32));
    let last_verified = match verified {
        Some(d) => d,
        None => {
            diags.push(Diagnostic::at(
                path,
                &src,
                Some(raw.last_verified.span()),
                "last_verified must be a date like 2026-11-01",
            ));
            return None;
        }
    };
    if (today - last_verified).num_days() > 365 {
        diags.push(
            Diagnostic::at(
                path,
                &src,
                Some(raw.last_verified.span()),
                format!("crisis contacts were last verified on {last_verified}, over a year ago: please re-check every number"),
            )
            .warning(),
        );
    }
    if raw.contact.is_empty() {
        diags.push(Diagnostic::file(
            path,
            "at least one [[contact]] is required",
        ));
    }
    let phrases_span = raw.phrases.span();
    let phrases = checked_phrases(path, &src, raw.phrases.into_inner(), diags);
    if phrases.is_empty() {
        diags.push(Diagnostic::at(
            path,
            &src,
            Some(phrases_span),
            "at least one crisis phrase is required",
        ));
    }
    let not_crisis = checked_phrases(path, &src, raw.not_crisis, diags);
    let single_words = |list: Vec<Spanned<String>>, diags: &mut Vec<Diagnostic>| {
        let mut words = Vec::new();
        for w in list {
            let ok = !w.get_ref().is_empty() && w.get_ref().chars().all(char::is_alphabetic);
            if ok {
                words.push(w.into_inner().to_lowercase());
            } else {
                diags.push(Diagnostic::at(
                    path,
                    &src,
                    Some(w.span()),
                    "stems, real_words and glued are single words of letters only",
                ));
            }
        }
        words
    };
    let stems = single_words(raw.stems, diags);
    let real_words = single_words(raw.real_words, diags);
    let glued = single_words(raw.glued, diags);
    let reading = crate::crisis::Reading::new(&stems, &real_words, &glued);
    let language = match crate::crisis::CrisisLanguage::new(&phrases, &not_crisis, reading) {
        Ok(l) => l,
        Err(e) => {
            diags.push(Diagnostic::file(path, e.0));
            return None;
        }
    };
    Some(CrisisCard::new(
        raw.intro.trim().to_string(),
        raw.contact.into_iter().map(|c| (c.name, c.how)).collect(),
        raw.outro.trim().to_string(),
        last_verified,
        language,
    ))
}

/// The phrases that can be used; each one that cannot is reported at its place in the file.
fn checked_phrases(
    path: &Path,
    src: &str,
    list: Vec<Spanned<String>>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let mut phrases = Vec::new();
    for p in list {
        let problem = match crate::crisis::expand(p.get_ref()) {
            Err(e) => Some(e.0),
            Ok(variants)
                if variants
                    .iter()
                    .any(|v| !v.chars().any(char::is_alphanumeric)) =>
            {
                Some("empty crisis phrase (or an alternative that leaves it empty)".into())
            }
            Ok(_) => None,
        };
        match problem {
            Some(message) => diags.push(Diagnostic::at(path, src, Some(p.span()), message)),
            None => phrases.push(p.into_inner()),
        }
    }
    phrases
}

/// The directory shipped with the source tree (used by tests and benches).
pub fn shipped_dialogs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dialogs")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    #[test]
    fn the_shipped_content_loads_without_problems() {
        let loaded = Content::load(&shipped_dialogs_dir(), today());
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        assert!(loaded.content.is_some());
    }

    #[test]
    fn missing_unknown_and_bad_keys_are_reported_with_positions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            shipped_dialogs_dir().join(CRISIS_FILE),
            dir.path().join(CRISIS_FILE),
        )
        .unwrap();
        let core = std::fs::read_to_string(shipped_dialogs_dir().join(CORE_FILE))
            .unwrap()
            .replace("help = \"\"\"", "hepl = \"\"\"")
            .replace("All set, {name}.", "All set, {nmae}.");
        std::fs::write(dir.path().join(CORE_FILE), &core).unwrap();
        let loaded = Content::load(dir.path(), today());
        assert!(loaded.content.is_none());
        let shown: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        let all = shown.join("\n");
        let hepl_line = core.lines().position(|l| l.starts_with("hepl")).unwrap() + 1;
        assert!(all.contains(&format!("core.toml:{hepl_line}:")), "{all}");
        assert!(all.contains("unknown text key `hepl`"), "{all}");
        assert!(all.contains("missing text key `help`"), "{all}");
        assert!(all.contains("unknown placeholder {nmae}"), "{all}");
    }

    #[test]
    fn toml_syntax_errors_point_at_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CORE_FILE), "format = 1\nversion = = 2\n").unwrap();
        std::fs::write(dir.path().join(CRISIS_FILE), "format = 1\n").unwrap();
        let loaded = Content::load(dir.path(), today());
        let all: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(all[0].contains("core.toml:2:11"), "{all:?}");
        assert!(all[1].contains("crisis.toml"), "{all:?}");
    }

    #[test]
    fn old_crisis_contacts_warn_but_still_load() {
        let later = NaiveDate::from_ymd_opt(2028, 1, 1).unwrap();
        let loaded = Content::load(&shipped_dialogs_dir(), later);
        assert!(loaded.content.is_some());
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| !d.is_error() && d.message.contains("re-check"))
        );
    }

    #[test]
    fn fill_replaces_known_placeholders_only_once() {
        assert_eq!(
            fill("Hi {name}, {x}", &[("name", "{name}")]),
            "Hi {name}, {x}"
        );
    }
}
