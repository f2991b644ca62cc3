//! One `[[step]]` table read and checked on its own: its kind, text, options and limits.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::is_identifier;
use super::tags::read_tags;
use crate::diagnostic::Diagnostic;
use crate::dialog::model::{Action, Choice, StepKind, Tag};
use crate::dialog::reader::{At, Reader, Table};

const MAX_TEXT_CHARS: usize = 3500;
const MAX_LABEL_CHARS: usize = 40;
const MAX_OPTIONS: usize = 24;
const PLACEHOLDERS: &[&str] = &["name", "first_name"];
/// The longest callback data the engine builds: `q<session id>.<question seq>.<action>`.
/// Session ids and sequence numbers are bounded by i64; the action part grows with the
/// number of options.
const CALLBACK_OVERHEAD: usize = 1 + 19 + 1 + 19 + 1;

const COMMON_STEP_KEYS: &[&str] = &[
    "id",
    "kind",
    "text",
    "tags",
    "skippable",
    "show_if",
    "branches",
    "goto",
    "allow_loop",
    "hint",
];
const KINDS: &[&str] = &[
    "message", "scale", "choice", "multi", "yes_no", "number", "time", "text",
];

fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "scale" => &["min", "max", "min_label", "max_label"],
        "choice" => &["options"],
        "multi" => &["options", "exclusive", "min_selected", "max_selected"],
        "number" => &["min", "max", "decimals", "unit"],
        "text" => &["max_length"],
        _ => &[],
    }
}

/// A step as read, before cross-step checks.
pub(super) struct RawStep {
    pub(super) id: At<String>,
    pub(super) kind: StepKind,
    pub(super) text: String,
    pub(super) tags: Vec<String>,
    pub(super) skippable: bool,
    pub(super) show_if: Option<At<String>>,
    pub(super) branches: Vec<(At<String>, At<String>)>,
    pub(super) goto: Option<At<String>>,
    pub(super) allow_loop: bool,
    pub(super) hint: Option<String>,
    pub(super) span: Range<usize>,
}

fn check_text(r: &mut Reader, text: &At<String>, what: &str) {
    if text.value.trim().is_empty() {
        r.error(text.span.clone(), format!("{what} is empty"));
    }
    if text.value.chars().count() > MAX_TEXT_CHARS {
        r.error(
            text.span.clone(),
            format!("{what} is longer than {MAX_TEXT_CHARS} characters"),
        );
    }
    for name in crate::content::placeholders(&text.value) {
        if !PLACEHOLDERS.contains(&name) {
            r.error(
                text.span.clone(),
                format!(
                    "{what} uses unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.join(", ")
                ),
            );
        }
    }
}

pub(super) fn read_step(
    r: &mut Reader,
    t: &Table,
    tags: Option<&BTreeMap<String, Tag>>,
) -> Option<RawStep> {
    let id = r.string(t, "id", "[[step]]", true);
    let context = match &id {
        Some(id) => format!("step `{}`", id.value),
        None => "[[step]]".to_string(),
    };
    let kind = r.string(t, "kind", &context, true);
    let kind_name = kind.as_ref().map(|k| k.value.as_str()).unwrap_or("");
    let known_kind = KINDS.contains(&kind_name);
    if let Some(k) = &kind
        && !known_kind
    {
        r.error(
            k.span.clone(),
            format!(
                "unknown kind `{}`; expected one of: {}",
                k.value,
                KINDS.join(", ")
            ),
        );
    }
    if known_kind {
        let allowed: Vec<&str> = COMMON_STEP_KEYS
            .iter()
            .chain(kind_keys(kind_name))
            .copied()
            .collect();
        r.only_keys(t, &allowed, &format!("{context} (a `{kind_name}` step)"));
    }
    let text = r.string(t, "text", &context, true);
    if let Some(text) = &text {
        check_text(r, text, &format!("the text of {context}"));
    }
    let hint = r.string(t, "hint", &context, false);
    if let Some(h) = &hint {
        check_text(r, h, &format!("the hint of {context}"));
    }
    let tag_list = read_tags(r, t, tags);
    let skippable = r.boolean(t, "skippable").map(|b| b.value).unwrap_or(false);
    let allow_loop = r.boolean(t, "allow_loop").map(|b| b.value).unwrap_or(false);
    let show_if = r.string(t, "show_if", &context, false);
    let goto = r.string(t, "goto", &context, false);
    let mut branches = Vec::new();
    for b in r.tables(t, "branches").map(|a| a.value).unwrap_or_default() {
        r.only_keys(&b, &["if", "goto"], &format!("a branch of {context}"));
        let cond = r.string(&b, "if", &format!("a branch of {context}"), true);
        let target = r.string(&b, "goto", &format!("a branch of {context}"), true);
        if let (Some(c), Some(g)) = (cond, target) {
            branches.push((c, g));
        }
    }
    let kind = if known_kind {
        read_kind(r, t, kind_name, &context)
    } else {
        None
    };
    if let (Some(kind), Some(id)) = (&kind, &id) {
        let options = kind.options().len();
        let worst = CALLBACK_OVERHEAD + 1 + options.max(1).to_string().len();
        if worst > 64 {
            r.error(id.span.clone(), format!("{context}: its buttons' callback data could reach {worst} bytes, over Telegram's 64"));
        }
    }
    Some(RawStep {
        id: id?,
        kind: kind?,
        text: text?.value.trim().to_string(),
        tags: tag_list,
        skippable,
        show_if,
        branches,
        goto,
        allow_loop,
        hint: hint.map(|h| h.value),
        span: t.span.clone(),
    })
}

fn read_kind(r: &mut Reader, t: &Table, kind: &str, context: &str) -> Option<StepKind> {
    match kind {
        "message" => Some(StepKind::Message),
        "yes_no" => Some(StepKind::YesNo),
        "time" => Some(StepKind::Time),
        "scale" => {
            let min = r.integer(t, "min", context, true);
            let max = r.integer(t, "max", context, true);
            let min_label = r.string(t, "min_label", context, true);
            let max_label = r.string(t, "max_label", context, true);
            let (min, max) = (min?, max?);
            if min.value >= max.value {
                r.error(
                    max.span.clone(),
                    format!("max ({}) must be more than min ({})", max.value, min.value),
                );
                return None;
            }
            if max.value - min.value > 10 {
                r.error(
                    max.span.clone(),
                    "a scale has at most 11 points (e.g. 0 to 10)",
                );
                return None;
            }
            Some(StepKind::Scale {
                min: min.value,
                max: max.value,
                min_label: min_label?.value,
                max_label: max_label?.value,
            })
        }
        "number" => {
            let min = r.number(t, "min", context, true);
            let max = r.number(t, "max", context, true);
            let decimals = r.integer(t, "decimals", context, false);
            let unit = r.string(t, "unit", context, false);
            let (min, max) = (min?, max?);
            if min.value >= max.value {
                r.error(
                    max.span.clone(),
                    format!("max ({}) must be more than min ({})", max.value, min.value),
                );
                return None;
            }
            let decimals = match decimals {
                Some(d) if !(0..=3).contains(&d.value) => {
                    r.error(d.span, "decimals must be between 0 and 3");
                    return None;
                }
                Some(d) => d.value as u32,
                None => 0,
            };
            Some(StepKind::Number {
                min: min.value,
                max: max.value,
                decimals,
                unit: unit.map(|u| u.value),
            })
        }
        "text" => {
            let max_length = r.integer(t, "max_length", context, true)?;
            if !(1..=4000).contains(&max_length.value) {
                r.error(max_length.span, "max_length must be between 1 and 4000");
                return None;
            }
            Some(StepKind::Text {
                max_length: max_length.value as usize,
            })
        }
        "choice" | "multi" => {
            let options = read_options(r, t, context)?;
            if kind == "choice" {
                return Some(StepKind::Choice { options });
            }
            let exclusive = r.string(t, "exclusive", context, false);
            if let Some(x) = &exclusive
                && !options.iter().any(|o| o.code == x.value)
            {
                let codes: Vec<&str> = options.iter().map(|o| o.code.as_str()).collect();
                r.error(
                    x.span.clone(),
                    format!(
                        "exclusive option `{}` is not one of: {}",
                        x.value,
                        codes.join(", ")
                    ),
                );
            }
            let min_sel = r.integer(t, "min_selected", context, false);
            let max_sel = r.integer(t, "max_selected", context, false);
            let min_selected = min_sel.as_ref().map(|m| m.value).unwrap_or(1);
            let max_selected = max_sel
                .as_ref()
                .map(|m| m.value)
                .unwrap_or(options.len() as i64);
            if min_selected < 0
                || max_selected < 1
                || min_selected > max_selected
                || max_selected > options.len() as i64
            {
                let span = max_sel
                    .or(min_sel)
                    .map(|a| a.span)
                    .unwrap_or(t.span.clone());
                r.error(
                    span,
                    format!(
                        "need 0 ≤ min_selected ≤ max_selected ≤ number of options ({}); got {min_selected} and {max_selected}",
                        options.len()
                    ),
                );
                return None;
            }
            Some(StepKind::Multi {
                options,
                exclusive: exclusive.map(|x| x.value),
                min_selected: min_selected as usize,
                max_selected: max_selected as usize,
            })
        }
        _ => None,
    }
}

fn read_options(r: &mut Reader, t: &Table, context: &str) -> Option<Vec<Choice>> {
    let Some(list) = r.tables(t, "options") else {
        r.error(
            t.span.clone(),
            format!("missing key `options` in {context}"),
        );
        return None;
    };
    if list.value.len() < 2 {
        r.error(list.span.clone(), "give at least two options");
    }
    if list.value.len() > MAX_OPTIONS {
        r.error(
            list.span.clone(),
            format!("at most {MAX_OPTIONS} options fit on a phone"),
        );
    }
    let mut codes: HashMap<String, Range<usize>> = HashMap::new();
    let mut out = Vec::new();
    let mut ok = true;
    for o in &list.value {
        let octx = format!("an option of {context}");
        r.only_keys(o, &["code", "label", "score", "actions"], &octx);
        let code = r.string(o, "code", &octx, true);
        let label = r.string(o, "label", &octx, true);
        let score = r.number(o, "score", &octx, false);
        let mut actions = Vec::new();
        for a in r
            .string_list(o, "actions")
            .map(|a| a.value)
            .unwrap_or_default()
        {
            match Action::parse(&a.value) {
                Some(action) => actions.push(action),
                None => {
                    r.error(
                        a.span,
                        format!("unknown action `{}`; expected show:crisis_card, show:coping_plan or flag:<name>", a.value),
                    );
                    ok = false;
                }
            }
        }
        let (Some(code), Some(label)) = (code, label) else {
            ok = false;
            continue;
        };
        if !is_identifier(&code.value) {
            r.error(
                code.span.clone(),
                format!(
                    "option code `{}` must use lower-case letters, digits and _",
                    code.value
                ),
            );
            ok = false;
        }
        if let Some(first) = codes.get(&code.value) {
            let d = Diagnostic::at(
                r.file,
                r.src,
                Some(code.span.clone()),
                format!(
                    "two options have the code `{}`: give this one a code of its own",
                    code.value
                ),
            )
            .with_note(Diagnostic::at(
                r.file,
                r.src,
                Some(first.clone()),
                format!("`{}` is first used here", code.value),
            ));
            r.diags.push(d);
            ok = false;
        } else {
            codes.insert(code.value.clone(), code.span.clone());
        }
        if label.value.trim().is_empty() || label.value.chars().count() > MAX_LABEL_CHARS {
            r.error(
                label.span.clone(),
                format!("a button label needs 1 to {MAX_LABEL_CHARS} characters"),
            );
            ok = false;
        }
        out.push(Choice {
            code: code.value,
            label: label.value,
            score: score.map(|s| s.value),
            actions,
        });
    }
    ok.then_some(out)
}
