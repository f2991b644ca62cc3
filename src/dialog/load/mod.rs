//! Loads `dialogs/*.toml` and `dialogs/tags.toml` into validated [`Dialog`]s, reporting every
//! problem as `file:line:col` (see `dialogs/README.md` for the format).
//! `tags` reads `tags.toml`, `steps` one `[[step]]`; here, the catalog and the checks across
//! a dialog's steps (ids, jumps, expressions, computes, reachability).

mod steps;
mod tags;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::expr::{Expr, ExprError, Type, TypeEnv, VarType};
use super::model::{Branch, Compute, Dialog, Provenance, Step, StepKind, Tag, Target};
use super::reader::{At, Reader, Table, parse};
use crate::diagnostic::Diagnostic;
use steps::read_step;
use tags::read_tags;

pub use tags::parse_tags;

pub const SUPPORTED_FORMAT: i64 = 1;
pub const TAGS_FILE: &str = "tags.toml";
/// Files in the dialogs directory that are not dialogs.
pub const NOT_DIALOGS: &[&str] = &[
    "core.toml",
    "crisis.toml",
    "tags.toml",
    "rules.toml",
    "simulate-profile.toml",
    "simulate-peak.toml",
];
pub const DEFAULT_ANSWER_WINDOW_MINUTES: i64 = 180;

const TOP_KEYS: &[&str] = &[
    "format",
    "id",
    "version",
    "title",
    "default_locale",
    "estimated_seconds",
    "answer_window_minutes",
    "provenance",
    "step",
    "compute",
];

/// Every dialog and tag, validated.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub dialogs: BTreeMap<String, Arc<Dialog>>,
    pub tags: BTreeMap<String, Tag>,
    /// Each dialog's file text (snapshotted in the database with its version).
    pub sources: BTreeMap<String, String>,
    /// Each dialog's file.
    pub files: BTreeMap<String, PathBuf>,
}

impl Catalog {
    pub fn get(&self, id: &str) -> Option<&Arc<Dialog>> {
        self.dialogs.get(id)
    }
}

pub struct LoadedCatalog {
    /// Everything, if no file had an error.
    pub catalog: Option<Catalog>,
    /// What did load (the tags and every dialog file without errors), even when other files
    /// had errors: `staywell check` goes on to check the files that depend on it.
    pub partial: Catalog,
    /// `tags.toml` loaded without errors (else tags are not checked, to blame no dialog for it).
    pub tags_ok: bool,
    /// Every dialog file loaded without errors.
    pub dialogs_ok: bool,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Loads every dialog under `dir`.
pub fn load_dir(dir: &Path) -> LoadedCatalog {
    let mut diags = Vec::new();
    let tags_path = dir.join(TAGS_FILE);
    let (tags, tags_ok) = match std::fs::read_to_string(&tags_path) {
        Ok(src) => {
            let (tags, d) = parse_tags(&tags_path, &src);
            let ok = !d.iter().any(|d| d.is_error());
            diags.extend(d);
            (tags, ok)
        }
        Err(e) => {
            diags.push(Diagnostic::file(&tags_path, format!("cannot read: {e}")));
            (BTreeMap::new(), false)
        }
    };
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !NOT_DIALOGS.contains(&n))
            })
            .collect(),
        Err(e) => {
            diags.push(Diagnostic::file(
                dir,
                format!("cannot read the dialogs directory: {e}"),
            ));
            Vec::new()
        }
    };
    files.sort();
    let mut dialogs: BTreeMap<String, Arc<Dialog>> = BTreeMap::new();
    let mut sources: BTreeMap<String, String> = BTreeMap::new();
    let mut origin: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut dialogs_ok = true;
    for file in files {
        let src = match std::fs::read_to_string(&file) {
            Ok(s) => s,
            Err(e) => {
                diags.push(Diagnostic::file(&file, format!("cannot read: {e}")));
                dialogs_ok = false;
                continue;
            }
        };
        let (dialog, d) = parse_dialog_in(&file, &src, tags_ok.then_some(&tags));
        diags.extend(d);
        let Some(dialog) = dialog else {
            dialogs_ok = false;
            continue;
        };
        if let Some(first) = origin.get(&dialog.id) {
            let first_src = sources.get(&dialog.id).map(String::as_str).unwrap_or("");
            diags.push(
                Diagnostic::at(
                    &file,
                    &src,
                    top_level_span(&src, "id"),
                    format!(
                        "two dialogs have the id `{}`: give this one an id of its own",
                        dialog.id
                    ),
                )
                .with_note(Diagnostic::at(
                    first,
                    first_src,
                    top_level_span(first_src, "id"),
                    format!("`{}` is first used here", dialog.id),
                )),
            );
            dialogs_ok = false;
        } else {
            origin.insert(dialog.id.clone(), file.clone());
            sources.insert(dialog.id.clone(), src.clone());
            dialogs.insert(dialog.id.clone(), Arc::new(dialog));
        }
    }
    let ok = !diags.iter().any(|d| d.is_error());
    let partial = Catalog {
        dialogs,
        tags,
        sources,
        files: origin,
    };
    LoadedCatalog {
        catalog: ok.then(|| partial.clone()),
        partial,
        tags_ok,
        dialogs_ok,
        diagnostics: diags,
    }
}

/// Where a top-level `key`'s value is in `src` (None if the file does not parse or lacks it).
pub fn top_level_span(src: &str, key: &str) -> Option<Range<usize>> {
    let (tree, _) = toml::de::DeTable::parse_recoverable(src);
    tree.get_ref().get(key).map(|v| v.span())
}

fn check_format(r: &mut Reader, root: &Table) {
    match r.integer(root, "format", "the file", true) {
        Some(f) if f.value != SUPPORTED_FORMAT => r.error(
            f.span,
            format!(
                "unsupported format {}; this version of staywell reads format {SUPPORTED_FORMAT}",
                f.value
            ),
        ),
        _ => {}
    }
}

/// Parses and validates one dialog file. Returns the dialog only if there were no errors.
pub fn parse_dialog(
    file: &Path,
    src: &str,
    tags: &BTreeMap<String, Tag>,
) -> (Option<Dialog>, Vec<Diagnostic>) {
    parse_dialog_in(file, src, Some(tags))
}

/// As [`parse_dialog`]; `tags` is None when `tags.toml` itself is broken, and then a step's
/// tags are not checked (the problem is reported once, in `tags.toml`).
fn parse_dialog_in(
    file: &Path,
    src: &str,
    tags: Option<&BTreeMap<String, Tag>>,
) -> (Option<Dialog>, Vec<Diagnostic>) {
    let tree = match parse(file, src) {
        Ok(t) => t,
        Err(d) => return (None, d),
    };
    let mut r = Reader::new(file, src);
    let root = Table {
        entries: tree.get_ref(),
        span: 0..0,
    };
    r.only_keys(&root, TOP_KEYS, "a dialog file");
    check_format(&mut r, &root);
    let id = r.string(&root, "id", "a dialog file", true);
    if let Some(id) = &id
        && !is_identifier(&id.value)
    {
        r.error(
            id.span.clone(),
            "a dialog id uses lower-case letters, digits and _ only",
        );
    }
    let version = r.integer(&root, "version", "a dialog file", true);
    if let Some(v) = &version
        && v.value < 1
    {
        r.error(v.span.clone(), "version starts at 1");
    }
    let title = r.string(&root, "title", "a dialog file", true);
    let locale = r.string(&root, "default_locale", "a dialog file", true);
    let seconds = r.integer(&root, "estimated_seconds", "a dialog file", true);
    if let Some(s) = &seconds
        && s.value <= 0
    {
        r.error(s.span.clone(), "estimated_seconds must be more than 0");
    }
    let window = r.integer(&root, "answer_window_minutes", "a dialog file", false);
    if let Some(w) = &window
        && !(5..=1440).contains(&w.value)
    {
        r.error(
            w.span.clone(),
            "answer_window_minutes must be between 5 and 1440 (a day)",
        );
    }
    let provenance = r.table(&root, "provenance").and_then(|p| {
        r.only_keys(
            &p,
            &["source", "licence", "verbatim", "notice", "url"],
            "[provenance]",
        );
        let source = r.string(&p, "source", "[provenance]", true);
        let licence = r.string(&p, "licence", "[provenance]", true);
        let verbatim = r.boolean(&p, "verbatim");
        if verbatim.is_none() && !p.entries.contains_key("verbatim") {
            r.error(p.span.clone(), "missing key `verbatim` in [provenance]");
        }
        let notice = r.string(&p, "notice", "[provenance]", false);
        let url = r.string(&p, "url", "[provenance]", false);
        Some(Provenance {
            source: source?.value,
            licence: licence?.value,
            verbatim: verbatim?.value,
            notice: notice.map(|n| n.value),
            url: url.map(|u| u.value),
        })
    });

    let step_tables = r.tables(&root, "step").map(|a| a.value).unwrap_or_default();
    if step_tables.is_empty() {
        r.error(0..0, "a dialog needs at least one [[step]]");
    }
    let mut raw_steps = Vec::new();
    for t in &step_tables {
        if let Some(s) = read_step(&mut r, t, tags) {
            raw_steps.push(s);
        }
    }
    let computes_raw: Vec<_> = r
        .tables(&root, "compute")
        .map(|a| a.value)
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            r.only_keys(t, &["id", "expr", "tags"], "[[compute]]");
            let id = r.string(t, "id", "[[compute]]", true)?;
            let expr = r.string(t, "expr", "[[compute]]", true)?;
            let tag_list = read_tags(&mut r, t, tags);
            Some((id, expr, tag_list))
        })
        .collect();

    // Ids: unique across steps and computes, not reserved.
    let mut seen: HashMap<String, Range<usize>> = HashMap::new();
    for id in raw_steps
        .iter()
        .map(|s| &s.id)
        .chain(computes_raw.iter().map(|c| &c.0))
    {
        if !is_identifier(&id.value) {
            r.error(
                id.span.clone(),
                format!(
                    "`{}`: ids use lower-case letters, digits and _ only",
                    id.value
                ),
            );
        } else if id.value == "end" {
            r.error(
                id.span.clone(),
                "`end` is reserved (it means the end of the dialog)",
            );
        } else if let Some(first) = seen.get(&id.value) {
            let d = Diagnostic::at(
                r.file,
                r.src,
                Some(id.span.clone()),
                format!(
                    "two steps have the id `{}`: give this one an id of its own",
                    id.value
                ),
            )
            .with_note(Diagnostic::at(
                r.file,
                r.src,
                Some(first.clone()),
                format!("`{}` is first used here", id.value),
            ));
            r.diags.push(d);
        } else {
            seen.insert(id.value.clone(), id.span.clone());
        }
    }

    // Types for expressions.
    let env = Env {
        vars: raw_steps
            .iter()
            .map(|s| (s.id.value.clone(), var_type(&s.kind)))
            .chain(
                computes_raw
                    .iter()
                    .map(|c| (c.0.value.clone(), VarType::Number)),
            )
            .collect(),
    };
    let index: HashMap<&str, usize> = raw_steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.value.as_str(), i))
        .collect();
    let resolve = |r: &mut Reader,
                   from: usize,
                   target: &At<String>,
                   allow_loop: bool|
     -> Option<Target> {
        if target.value == "end" {
            return Some(Target::End);
        }
        match index.get(target.value.as_str()) {
            Some(&to) => {
                if to <= from && !allow_loop {
                    r.error(
                        target.span.clone(),
                        format!(
                            "`{}` jumps back to an earlier step; add `allow_loop = true` to this step if that is intended",
                            target.value
                        ),
                    );
                }
                Some(Target::Step(to))
            }
            None => {
                r.error(
                    target.span.clone(),
                    format!(
                        "no step called `{}` (use a step id from this file, or `end`)",
                        target.value
                    ),
                );
                None
            }
        }
    };

    let mut steps = Vec::new();
    for (i, s) in raw_steps.iter().enumerate() {
        let show_if = s
            .show_if
            .as_ref()
            .and_then(|e| expression(&mut r, e, &env, Type::Bool));
        let mut branches = Vec::new();
        for (cond, goto) in &s.branches {
            let c = expression(&mut r, cond, &env, Type::Bool);
            let t = resolve(&mut r, i, goto, s.allow_loop);
            if let (Some(cond), Some(target)) = (c, t) {
                branches.push(Branch { cond, target });
            }
        }
        let goto = s
            .goto
            .as_ref()
            .and_then(|g| resolve(&mut r, i, g, s.allow_loop));
        if !s.branches.is_empty() && matches!(s.kind, StepKind::Message) {
            r.warning(
                s.span.clone(),
                format!(
                    "step `{}` is a message: its branches are tried as soon as it is shown",
                    s.id.value
                ),
            );
        }
        steps.push(Step {
            id: s.id.value.clone(),
            kind: s.kind.clone(),
            text: s.text.clone(),
            tags: s.tags.clone(),
            skippable: s.skippable,
            show_if,
            branches,
            goto,
            hint: s.hint.clone(),
        });
    }
    let computes: Vec<Compute> = computes_raw
        .iter()
        .filter_map(|(id, e, tag_list)| {
            expression(&mut r, e, &env, Type::Number).map(|expr| Compute {
                id: id.value.clone(),
                expr,
                tags: tag_list.clone(),
            })
        })
        .collect();

    // A compute may use steps and earlier computes only (so evaluation always ends).
    for (j, c) in computes.iter().enumerate() {
        for name in c.expr.references() {
            if let Some(k) = computes.iter().position(|o| o.id == name)
                && k >= j
            {
                let span = computes_raw
                    .iter()
                    .find(|r| r.0.value == c.id)
                    .map(|r| r.1.span.clone())
                    .unwrap_or(0..0);
                r.error(
                    span,
                    format!(
                        "compute `{}` uses `{name}`, which is not computed before it",
                        c.id
                    ),
                );
            }
        }
    }

    // Reachability (warnings): follow every edge the engine could take. Not while the file
    // has errors: a duplicate id or a jump that could not be read would make steps look
    // unreachable that are not.
    let has_errors = r.diags.iter().any(|d| d.is_error());
    if !has_errors && !steps.is_empty() && steps.len() == raw_steps.len() {
        let reachable = reachable_steps(&steps);
        for (i, s) in raw_steps.iter().enumerate() {
            if !reachable[i] {
                r.warning(
                    s.id.span.clone(),
                    format!("step `{}` can never be reached", s.id.value),
                );
            }
        }
    }

    let has_errors = has_errors || r.diags.iter().any(|d| d.is_error());
    let dialog = match (id, version, title, locale, seconds) {
        (Some(id), Some(version), Some(title), Some(locale), Some(seconds)) if !has_errors => {
            Some(Dialog {
                id: id.value,
                version: version.value,
                title: title.value,
                default_locale: locale.value,
                estimated_seconds: seconds.value,
                answer_window_minutes: window
                    .map(|w| w.value)
                    .unwrap_or(DEFAULT_ANSWER_WINDOW_MINUTES),
                provenance,
                steps,
                computes,
            })
        }
        _ => None,
    };
    (dialog, r.diags)
}

/// Which steps can be reached from the first, following next, goto, branch targets, and the
/// skip-over edge of a step with `show_if`.
pub fn reachable_steps(steps: &[Step]) -> Vec<bool> {
    let mut seen = vec![false; steps.len()];
    let mut queue = VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        if i >= steps.len() || seen[i] {
            continue;
        }
        seen[i] = true;
        let s = &steps[i];
        for b in &s.branches {
            if let Target::Step(t) = b.target {
                queue.push_back(t);
            }
        }
        match s.goto {
            Some(Target::Step(t)) => queue.push_back(t),
            Some(Target::End) => {}
            None => queue.push_back(i + 1),
        }
        if s.show_if.is_some() {
            queue.push_back(i + 1);
        }
    }
    seen
}

struct Env {
    vars: HashMap<String, VarType>,
}

impl TypeEnv for Env {
    fn var_type(&self, name: &str) -> Option<VarType> {
        self.vars.get(name).cloned()
    }
}

fn var_type(kind: &StepKind) -> VarType {
    match kind {
        StepKind::Message => VarType::NoValue,
        StepKind::Scale { .. } | StepKind::Number { .. } | StepKind::Time => VarType::Number,
        StepKind::Choice { options } => VarType::Choice {
            codes: options.iter().map(|o| o.code.clone()).collect(),
            scored: !options.is_empty() && options.iter().all(|o| o.score.is_some()),
        },
        StepKind::YesNo => VarType::Choice {
            codes: vec!["yes".into(), "no".into()],
            scored: false,
        },
        StepKind::Multi { options, .. } => VarType::Multi {
            codes: options.iter().map(|o| o.code.clone()).collect(),
        },
        StepKind::Text { .. } => VarType::Text,
    }
}

/// Where an expression's text starts inside its TOML string (after the opening quote).
fn inner_offset(src: &str, span: &Range<usize>) -> usize {
    let s = &src[span.start.min(src.len())..span.end.min(src.len())];
    if s.starts_with("\"\"\"") || s.starts_with("'''") {
        span.start + 3
    } else if s.starts_with('"') || s.starts_with('\'') {
        span.start + 1
    } else {
        span.start
    }
}

fn expression(r: &mut Reader, e: &At<String>, env: &Env, want: Type) -> Option<Expr> {
    let base = inner_offset(r.src, &e.span);
    let report = |r: &mut Reader, errs: Vec<ExprError>| {
        for err in errs {
            let span = (base + err.span.start)..(base + err.span.end);
            r.error(span, format!("in `{}`: {}", e.value, err.message));
        }
    };
    match Expr::parse(&e.value) {
        Ok(expr) => {
            let errs = expr.check(env, want);
            if errs.is_empty() {
                Some(expr)
            } else {
                report(r, errs);
                None
            }
        }
        Err(errs) => {
            report(r, errs);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::shipped_dialogs_dir;

    fn tags() -> BTreeMap<String, Tag> {
        let path = shipped_dialogs_dir().join(TAGS_FILE);
        parse_tags(&path, &std::fs::read_to_string(&path).unwrap()).0
    }

    const HEAD: &str = "format = 1\nid = \"t\"\nversion = 1\ntitle = \"T\"\ndefault_locale = \"en\"\nestimated_seconds = 30\n";

    /// Loads `HEAD + body` and returns every diagnostic as `line:col: message`.
    fn problems(body: &str) -> Vec<String> {
        let src = format!("{HEAD}{body}");
        let (_, diags) = parse_dialog(Path::new("t.toml"), &src, &tags());
        diags
            .iter()
            .map(|d| {
                format!(
                    "{}:{}: {}{}",
                    d.line,
                    d.col,
                    if d.is_error() { "" } else { "warning: " },
                    d.message
                )
            })
            .collect()
    }

    /// Data-driven: each case names the body and the diagnostic it must produce (line:col
    /// counted in the whole file: HEAD is 6 lines, so the body starts on line 7).
    #[test]
    fn every_class_of_error_is_reported_at_its_line_and_column() {
        let cases: &[(&str, &str)] = &[
            // TOML syntax
            ("[[step]]\nid = = 1\n", "8:6: "),
            // unknown top-level key, listing the expected ones
            (
                "titel = \"x\"\n[[step]]\nid = \"a\"\nkind = \"message\"\ntext = \"hi\"\n",
                "7:1: unknown key `titel` in a dialog file; expected one of: answer_window_minutes, compute",
            ),
            // unknown step key for its kind
            (
                "[[step]]\nid = \"a\"\nkind = \"message\"\ntext = \"hi\"\nmin = 1\n",
                "11:1: unknown key `min` in step `a` (a `message` step)",
            ),
            // unknown kind
            (
                "[[step]]\nid = \"a\"\nkind = \"slider\"\ntext = \"hi\"\n",
                "9:8: unknown kind `slider`; expected one of: message, scale",
            ),
            // missing kind field
            (
                "[[step]]\nid = \"a\"\nkind = \"scale\"\ntext = \"hi\"\nmin = 0\nmax = 10\nmin_label = \"no\"\n",
                "7:1: missing key `max_label` in step `a`",
            ),
            // contradictory kind fields
            (
                "[[step]]\nid = \"a\"\nkind = \"scale\"\ntext = \"hi\"\nmin = 5\nmax = 5\nmin_label = \"l\"\nmax_label = \"h\"\n",
                "12:7: max (5) must be more than min (5)",
            ),
            // duplicate step ids
            (
                "[[step]]\nid = \"a\"\nkind = \"message\"\ntext = \"hi\"\n[[step]]\nid = \"a\"\nkind = \"message\"\ntext = \"hi\"\n",
                "12:6: two steps have the id `a`: give this one an id of its own",
            ),
            // duplicate option codes
            (
                "[[step]]\nid = \"a\"\nkind = \"choice\"\ntext = \"hi\"\noptions = [{ code = \"x\", label = \"X\" }, { code = \"x\", label = \"Y\" }]\n",
                "11:50: two options have the code `x`: give this one a code of its own",
            ),
            // goto target that does not exist
            (
                "[[step]]\nid = \"a\"\nkind = \"yes_no\"\ntext = \"hi\"\ngoto = \"nowhere\"\n",
                "11:8: no step called `nowhere`",
            ),
            // backward jump without allow_loop
            (
                "[[step]]\nid = \"a\"\nkind = \"yes_no\"\ntext = \"hi\"\n[[step]]\nid = \"b\"\nkind = \"yes_no\"\ntext = \"hi\"\ngoto = \"a\"\n",
                "15:8: `a` jumps back to an earlier step; add `allow_loop = true`",
            ),
            // unreachable step (warning)
            (
                "[[step]]\nid = \"a\"\nkind = \"yes_no\"\ntext = \"hi\"\ngoto = \"end\"\n[[step]]\nid = \"b\"\nkind = \"yes_no\"\ntext = \"hi\"\n",
                "13:6: warning: step `b` can never be reached",
            ),
            // expression syntax error, positioned inside the string
            (
                "[[step]]\nid = \"a\"\nkind = \"yes_no\"\ntext = \"hi\"\n[[step]]\nid = \"b\"\nkind = \"yes_no\"\ntext = \"hi\"\nshow_if = \"a == 'yes' and (\"\n",
                "15:",
            ),
            // expression type error: a typo in a choice code
            (
                "[[step]]\nid = \"a\"\nkind = \"yes_no\"\ntext = \"hi\"\n[[step]]\nid = \"b\"\nkind = \"yes_no\"\ntext = \"hi\"\nshow_if = \"a == 'yess'\"\n",
                "15:17: in `a == 'yess'`: ",
            ),
            // undeclared tag
            (
                "[[step]]\nid = \"a\"\nkind = \"yes_no\"\ntext = \"hi\"\ntags = [\"moood\"]\n",
                "11:9: tag `moood` is not declared in tags.toml",
            ),
            // unknown action
            (
                "[[step]]\nid = \"a\"\nkind = \"choice\"\ntext = \"hi\"\noptions = [{ code = \"x\", label = \"X\", actions = [\"call:999\"] }, { code = \"y\", label = \"Y\" }]\n",
                "11:50: unknown action `call:999`",
            ),
            // unknown placeholder
            (
                "[[step]]\nid = \"a\"\nkind = \"message\"\ntext = \"hi {nmae}\"\n",
                "10:8: the text of step `a` uses unknown placeholder {nmae}",
            ),
            // wrong value type
            (
                "[[step]]\nid = \"a\"\nkind = \"text\"\ntext = \"hi\"\nmax_length = \"long\"\n",
                "11:14: `max_length` must be a whole number, found text",
            ),
            // unsupported format
            ("", "1:10: unsupported format"),
        ];
        let mut failures = Vec::new();
        for (body, expected) in cases {
            let body = if expected.starts_with("1:10") {
                // Rewrite the format line itself.
                let src =
                    format!("{HEAD}[[step]]\nid = \"a\"\nkind = \"message\"\ntext = \"hi\"\n")
                        .replace("format = 1", "format = 99");
                let (_, d) = parse_dialog(Path::new("t.toml"), &src, &tags());
                let got: Vec<String> = d
                    .iter()
                    .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
                    .collect();
                if !got.iter().any(|g| g.starts_with(expected)) {
                    failures.push(format!("format case: expected {expected:?}, got {got:?}"));
                }
                continue;
            } else {
                body
            };
            let got = problems(body);
            if !got.iter().any(|g| g.starts_with(expected)) {
                failures.push(format!(
                    "body:\n{body}expected a diagnostic starting {expected:?}, got {got:?}\n"
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn all_problems_are_collected_not_just_the_first() {
        let got = problems(
            "bogus = 1\n[[step]]\nid = \"a\"\nkind = \"slider\"\ntext = \"\"\n[[step]]\nid = \"b\"\nkind = \"yes_no\"\ntext = \"hi\"\ngoto = \"zzz\"\ntags = [\"nope\"]\n",
        );
        assert!(got.len() >= 4, "{got:#?}");
    }

    #[test]
    fn the_shipped_dialogs_load_without_errors_or_warnings() {
        let loaded = load_dir(&shipped_dialogs_dir());
        assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
        let catalog = loaded.catalog.unwrap();
        assert!(catalog.dialogs.contains_key("daily_checkin"));
        assert!(catalog.dialogs.contains_key("weekly_connect_give"));
    }
}
