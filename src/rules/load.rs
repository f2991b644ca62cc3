//! `dialogs/rules.toml`: the rule templates a member's plan is built from. Validated like the
//! dialogs: every problem as `file:line:col`, all of them collected.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Direction, Kind, Param, Template, Tier};
use crate::diagnostic::Diagnostic;
use crate::dialog::Catalog;

pub const RULES_FILE: &str = "rules.toml";
const SUPPORTED_FORMAT: i64 = 1;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    format: Spanned<i64>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    title: String,
    description: String,
    kind: Spanned<String>,
    reads: Option<Spanned<String>>,
    direction: Option<Spanned<String>>,
    tier: Spanned<String>,
    adjust: Option<Spanned<String>>,
    flag: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    explains: Spanned<String>,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, Spanned<RawParam>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    default: f64,
    min: f64,
    max: f64,
}

/// What rules are checked against: the tags `tags.toml` declares and the flags dialog options
/// raise. `None` when those files have errors of their own (reported there), so no rule is
/// blamed for them.
pub struct Known {
    pub tags: Option<BTreeSet<String>>,
    pub flags: Option<BTreeSet<String>>,
}

impl Known {
    /// Everything in a catalog that loaded without errors.
    pub fn all(catalog: &Catalog) -> Known {
        Known {
            tags: Some(catalog.tags.keys().cloned().collect()),
            flags: Some(known_flags(catalog)),
        }
    }

    /// What loaded, when some files had errors.
    pub fn partly(loaded: &crate::dialog::load::LoadedCatalog) -> Known {
        Known {
            tags: loaded
                .tags_ok
                .then(|| loaded.partial.tags.keys().cloned().collect()),
            flags: loaded.dialogs_ok.then(|| known_flags(&loaded.partial)),
        }
    }
}

/// Every flag some dialog option can raise (`flag:<name>` actions).
fn known_flags(catalog: &Catalog) -> BTreeSet<String> {
    use crate::dialog::model::{Action, StepKind};
    let mut out = BTreeSet::new();
    for d in catalog.dialogs.values() {
        for s in &d.steps {
            let options = match &s.kind {
                StepKind::Choice { options } | StepKind::Multi { options, .. } => options,
                _ => continue,
            };
            for o in options {
                for a in &o.actions {
                    if let Action::Flag(f) = a {
                        out.insert(f.clone());
                    }
                }
            }
        }
    }
    out
}

/// Loads `dir/rules.toml` against the dialogs' tags and flags. Templates by id if there
/// were no errors; every diagnostic either way.
pub fn load_rules(
    dir: &Path,
    catalog: &Catalog,
) -> (Option<BTreeMap<String, Template>>, Vec<Diagnostic>) {
    load_rules_against(dir, &Known::all(catalog))
}

/// As [`load_rules`], against what is known (see [`Known`]).
pub fn load_rules_against(
    dir: &Path,
    known: &Known,
) -> (Option<BTreeMap<String, Template>>, Vec<Diagnostic>) {
    let path = dir.join(RULES_FILE);
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            return (
                None,
                vec![Diagnostic::file(&path, format!("cannot read: {e}"))],
            );
        }
    };
    parse_rules_against(&path, &src, known)
}

pub fn parse_rules(
    path: &Path,
    src: &str,
    catalog: &Catalog,
) -> (Option<BTreeMap<String, Template>>, Vec<Diagnostic>) {
    parse_rules_against(path, src, &Known::all(catalog))
}

pub fn parse_rules_against(
    path: &Path,
    src: &str,
    known: &Known,
) -> (Option<BTreeMap<String, Template>>, Vec<Diagnostic>) {
    let raw: RawFile = match toml::from_str(src) {
        Ok(r) => r,
        Err(e) => return (None, vec![Diagnostic::from_toml(path, src, &e)]),
    };
    let mut diags = Vec::new();
    let mut err = |span: Range<usize>, msg: String| {
        diags.push(Diagnostic::at(path, src, Some(span), msg));
    };
    if *raw.format.get_ref() != SUPPORTED_FORMAT {
        err(
            raw.format.span(),
            format!(
                "unsupported format {}; this version of staywell reads format {SUPPORTED_FORMAT}",
                raw.format.get_ref()
            ),
        );
    }
    let ids: BTreeSet<String> = raw.rule.iter().map(|r| r.id.get_ref().clone()).collect();
    let kinds: BTreeMap<String, String> = raw
        .rule
        .iter()
        .map(|r| (r.id.get_ref().clone(), r.kind.get_ref().clone()))
        .collect();
    let mut out = BTreeMap::new();
    let mut first_at: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for r in raw.rule {
        let id = r.id.get_ref().clone();
        if let Some(first) = first_at.get(&id) {
            duplicates.push(
                Diagnostic::at(
                    path,
                    src,
                    Some(r.id.span()),
                    format!("two rules have the id `{id}`: give this one an id of its own"),
                )
                .with_note(Diagnostic::at(
                    path,
                    src,
                    Some(first.clone()),
                    format!("`{id}` is first used here"),
                )),
            );
            continue;
        }
        first_at.insert(id.clone(), r.id.span());
        let Some(kind) = Kind::all()
            .into_iter()
            .find(|k| k.name() == r.kind.get_ref())
        else {
            let names: Vec<&str> = Kind::all().iter().map(|k| k.name()).collect();
            err(
                r.kind.span(),
                format!(
                    "unknown kind `{}`; expected one of: {}",
                    r.kind.get_ref(),
                    names.join(", ")
                ),
            );
            continue;
        };
        let tier = Tier::parse(r.tier.get_ref());
        if tier.is_none() {
            err(
                r.tier.span(),
                format!(
                    "unknown tier `{}`; expected self_help, nudge, alert or urgent",
                    r.tier.get_ref()
                ),
            );
        }
        let direction = match r
            .direction
            .as_ref()
            .map(|d| (d.get_ref().as_str(), d.span()))
        {
            None | Some(("at_or_below", _)) => Some(Direction::AtOrBelow),
            Some(("at_or_above", _)) => Some(Direction::AtOrAbove),
            Some((other, span)) => {
                err(
                    span,
                    format!("unknown direction `{other}`; expected at_or_below or at_or_above"),
                );
                None
            }
        };
        let needs_tag = matches!(
            kind,
            Kind::Run | Kind::KOfN | Kind::BaselineDrop | Kind::Absence
        );
        match (&r.reads, needs_tag) {
            (Some(tag), true)
                if known
                    .tags
                    .as_ref()
                    .is_some_and(|t| !t.contains(tag.get_ref())) =>
            {
                err(
                    tag.span(),
                    format!(
                        "`reads` names tag `{}`, which dialogs/tags.toml does not declare",
                        tag.get_ref()
                    ),
                )
            }
            (None, true) => err(
                r.id.span(),
                format!("a `{}` rule needs `reads = \"<tag>\"`", kind.name()),
            ),
            (Some(tag), false) => err(
                tag.span(),
                format!("a `{}` rule reads no tag; remove `reads`", kind.name()),
            ),
            _ => {}
        }
        let mut params = BTreeMap::new();
        for (name, p) in &r.params {
            let (n, v) = (name.get_ref(), p.get_ref());
            if !kind.params().contains(&n.as_str()) {
                err(
                    name.span(),
                    format!(
                        "unknown parameter `{n}` for a `{}` rule; expected: {}",
                        kind.name(),
                        if kind.params().is_empty() {
                            "none".to_string()
                        } else {
                            kind.params().join(", ")
                        }
                    ),
                );
                continue;
            }
            if v.min > v.max || v.default < v.min || v.default > v.max {
                err(
                    p.span(),
                    format!(
                        "`{n}`: the default {} must lie between min {} and max {}",
                        v.default, v.min, v.max
                    ),
                );
                continue;
            }
            params.insert(
                n.clone(),
                Param {
                    default: v.default,
                    min: v.min,
                    max: v.max,
                },
            );
        }
        for needed in kind.params() {
            if !r.params.keys().any(|k| k.get_ref() == needed) {
                err(
                    r.id.span(),
                    format!("rule `{id}` needs parameter `{needed}` ({{ default, min, max }})"),
                );
            }
        }
        if let Some(a) = &r.adjust
            && !kind.params().contains(&a.get_ref().as_str())
        {
            err(
                a.span(),
                format!(
                    "`adjust` must name one of this rule's parameters, not `{}`",
                    a.get_ref()
                ),
            );
        }
        match (&r.flag, kind) {
            (Some(f), Kind::Flagged) => {
                if let Some(flags) = &known.flags
                    && !flags.contains(f.get_ref())
                {
                    err(
                        f.span(),
                        format!(
                            "no dialog option raises flag `{}` (known: {})",
                            f.get_ref(),
                            flags.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    )
                }
            }
            (None, Kind::Flagged) => err(
                r.id.span(),
                "a `flagged` rule needs `flag = \"<name>\"`".into(),
            ),
            (Some(f), k) if k != Kind::Flagged => err(
                f.span(),
                format!("only a `flagged` rule takes `flag`, not a `{}`", k.name()),
            ),
            _ => {}
        }
        if kind == Kind::AllOf && r.rules.len() < 2 {
            err(
                r.id.span(),
                "an `all_of` rule needs `rules` with at least two rule ids".into(),
            );
        }
        for part in &r.rules {
            let p = part.get_ref();
            if kind != Kind::AllOf {
                err(part.span(), "only an `all_of` rule takes `rules`".into());
            } else if !ids.contains(p) {
                err(
                    part.span(),
                    format!("`rules` names `{p}`, which is not a rule here"),
                );
            } else if kinds.get(p).is_some_and(|k| k == "all_of") {
                err(
                    part.span(),
                    format!("`{p}` is itself a combination; combine plain rules"),
                );
            }
        }
        for name in crate::content::placeholders(r.explains.get_ref()) {
            if !kind.params().contains(&name) {
                err(
                    r.explains.span(),
                    format!("`explains` uses {{{name}}}, which is not a parameter of this rule"),
                );
            }
        }
        if let (Some(tier), Some(direction)) = (tier, direction) {
            out.insert(
                id.clone(),
                Template {
                    id,
                    title: r.title,
                    description: r.description,
                    kind,
                    reads: r.reads.map(|t| t.into_inner()),
                    direction,
                    params,
                    adjust: r.adjust.map(|a| a.into_inner()),
                    flag: r.flag.map(|f| f.into_inner()),
                    rules: r.rules.into_iter().map(|p| p.into_inner()).collect(),
                    tier,
                    explains: r.explains.into_inner(),
                },
            );
        }
    }
    diags.extend(duplicates);
    let ok = !diags.iter().any(|d| d.is_error());
    (ok.then_some(out), diags)
}
