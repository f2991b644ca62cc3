//! `tags.toml`, and the tags a step or compute lists (each must be declared there).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use super::{check_format, is_identifier};
use crate::diagnostic::Diagnostic;
use crate::dialog::model::{Polarity, Tag};
use crate::dialog::reader::{Reader, Table, parse};

/// Parses `tags.toml`.
pub fn parse_tags(file: &Path, src: &str) -> (BTreeMap<String, Tag>, Vec<Diagnostic>) {
    let tree = match parse(file, src) {
        Ok(t) => t,
        Err(d) => return (BTreeMap::new(), d),
    };
    let mut r = Reader::new(file, src);
    let root = Table {
        entries: tree.get_ref(),
        span: 0..0,
    };
    r.only_keys(&root, &["format", "tag"], "tags.toml");
    check_format(&mut r, &root);
    let mut tags = BTreeMap::new();
    let mut first_at: HashMap<String, Range<usize>> = HashMap::new();
    for t in r.tables(&root, "tag").map(|a| a.value).unwrap_or_default() {
        r.only_keys(&t, &["id", "polarity", "description"], "[[tag]]");
        let id = r.string(&t, "id", "[[tag]]", true);
        let polarity = r.string(&t, "polarity", "[[tag]]", true);
        let description = r.string(&t, "description", "[[tag]]", true);
        let (Some(id), Some(polarity), Some(description)) = (id, polarity, description) else {
            continue;
        };
        if !is_identifier(&id.value) {
            r.error(
                id.span.clone(),
                "a tag id uses lower-case letters, digits and _ only",
            );
        }
        let polarity = match polarity.value.as_str() {
            "higher_is_better" => Polarity::HigherIsBetter,
            "lower_is_better" => Polarity::LowerIsBetter,
            "neutral" => Polarity::Neutral,
            other => {
                r.error(
                    polarity.span,
                    format!("unknown polarity `{other}`; expected higher_is_better, lower_is_better or neutral"),
                );
                continue;
            }
        };
        if let Some(first) = first_at.get(&id.value) {
            let d = Diagnostic::at(
                file,
                src,
                Some(id.span.clone()),
                format!("tag `{}` is declared twice: keep one", id.value),
            )
            .with_note(Diagnostic::at(
                file,
                src,
                Some(first.clone()),
                format!("`{}` is first declared here", id.value),
            ));
            r.diags.push(d);
            continue;
        }
        first_at.insert(id.value.clone(), id.span.clone());
        tags.insert(
            id.value.clone(),
            Tag {
                id: id.value,
                polarity,
                description: description.value,
            },
        );
    }
    (tags, r.diags)
}

/// A step's or compute's tags; each must be declared, unless `declared` is None (tags.toml
/// is broken, and says so itself).
pub(super) fn read_tags(
    r: &mut Reader,
    t: &Table,
    declared: Option<&BTreeMap<String, Tag>>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(list) = r.string_list(t, "tags") {
        for tag in list.value {
            if let Some(declared) = declared
                && !declared.contains_key(&tag.value)
            {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                r.error(
                    tag.span,
                    format!(
                        "tag `{}` is not declared in tags.toml (declared: {})",
                        tag.value,
                        known.join(", ")
                    ),
                );
            } else {
                out.push(tag.value);
            }
        }
    }
    out
}
