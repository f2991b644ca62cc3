//! `/plan`: the member's early-warning plan, built in plain language one rule at a time —
//! which sign, how sensitive (within the template's bounds), who hears at which tier, and
//! whether to ask first — each choice confirmed with a receipt and recorded as consents.
//! Also `/coping` (what helps, in their own words), and what alert buttons do: a supporter's
//! Acknowledge and the member's answer to an ask-first question.

use std::collections::BTreeMap;

use super::circle::{MENU_TTL, keyboard};
use super::{Change, Ctx, Member, Outcome, Person};
use crate::content::fill;
use crate::domain::Outgoing;
use crate::domain::circle::{Action, Purpose, Role, TieStatus};
use crate::rules::{Template, Tier};
use crate::store::{PlanRule, PlanSettings, Share};

/// Coping notes longer than this are refused (they are shown back in one message).
const MAX_NOTES_CHARS: usize = 1000;

fn tier_of(s: &str) -> Option<Tier> {
    Tier::parse(s)
}

/// The values a member can choose for `t`'s adjustable parameter (whole steps, at most 7).
fn choices(t: &Template) -> Vec<i64> {
    let Some(p) = t.adjust.as_ref().and_then(|a| t.params.get(a)) else {
        return Vec::new();
    };
    spread(
        (p.min.ceil() as i64, p.max.floor() as i64),
        p.default.round() as i64,
    )
}

/// At most seven values across `lo..=hi`, ends and `default` among them (a wide range,
/// like 7–28 days, is offered as steps, not as its first seven values).
fn spread((lo, hi): (i64, i64), default: i64) -> Vec<i64> {
    if hi - lo < 7 {
        return (lo..=hi).collect();
    }
    let mut v: Vec<i64> = (0..7).map(|i| lo + ((hi - lo) * i + 3) / 6).collect();
    if (lo..=hi).contains(&default) && !v.contains(&default) {
        let nearest = (1..6).min_by_key(|&i| (v[i] - default).abs()).unwrap_or(3);
        v[nearest] = default;
        v.sort_unstable();
        v.dedup();
    }
    v
}

/// The template's parameters with the adjustable one set to `value` (clamped to bounds).
fn params_with(t: &Template, value: Option<i64>) -> BTreeMap<String, f64> {
    let mut v = t.defaults();
    if let (Some(a), Some(x)) = (&t.adjust, value) {
        v.insert(a.clone(), x as f64);
    }
    t.clamp(&v)
}

/// Whom a rule at `tier` may be shared with: active ties of the right role whose pairing
/// consent (alerts, nudges) stands.
fn people(person: &Person, tier: Tier) -> Vec<&crate::domain::circle::Tie> {
    let paired = |t: &crate::domain::circle::Tie| {
        Purpose::pairing(tier).is_some_and(|p| {
            person
                .consents
                .iter()
                .any(|c| c.tie == Some(t.id) && c.purpose == p)
        })
    };
    person
        .circle
        .iter()
        .filter(|t| t.status == TieStatus::Active)
        .filter(|t| paired(t))
        .filter(|t| match tier {
            Tier::Nudge => matches!(t.role, Role::Carer | Role::Both),
            Tier::Alert | Tier::Urgent => matches!(t.role, Role::Supporter | Role::Both),
            Tier::SelfHelp => false,
        })
        .collect()
}

fn names(ties: &[&crate::domain::circle::Tie]) -> String {
    crate::content::and_list(&ties.iter().map(|t| t.name.as_str()).collect::<Vec<_>>())
}

/// What the bot will do, in words, for a receipt or the plan overview.
fn doing(ctx: &Ctx, person: &Person, tier: Tier, ask: &str) -> String {
    let t = &ctx.content.texts;
    let who = names(&people(person, tier));
    let mut s = match tier {
        Tier::SelfHelp => t.plan_do_self_help.clone(),
        Tier::Nudge => fill(&t.plan_do_nudge, &[("people", &who)]),
        Tier::Alert => fill(&t.plan_do_alert, &[("people", &who)]),
        Tier::Urgent => fill(&t.plan_do_urgent, &[("people", &who)]),
    };
    if ask != "no" && matches!(tier, Tier::Nudge | Tier::Alert) {
        let hours = person.plan_settings.ask_hours.to_string();
        let then = if ask == "tell" {
            &t.plan_ask_first_tell
        } else {
            &t.plan_ask_first_dont
        };
        s.push_str(&fill(then, &[("hours", &hours)]));
    }
    s
}

pub fn command_plan(o: &mut Outcome, person: &Person, m: &Member, ctx: &Ctx) {
    let t = &ctx.content.texts;
    if ctx.rules.is_empty() {
        o.reply(person.chat, Outgoing::text(&t.plan_none));
        return;
    }
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    for tpl in ctx.rules.values() {
        match person.plan.iter().find(|r| r.rule_id == tpl.id) {
            Some(r) => {
                let ask = match (r.ask_first, r.tell_if_unanswered) {
                    (false, _) => "no",
                    (true, true) => "tell",
                    (true, false) => "dont",
                };
                lines.push(fill(
                    &t.plan_line_on,
                    &[
                        ("title", &tpl.title),
                        ("reason", &tpl.explain(&r.params)),
                        ("what", &doing(ctx, person, r.tier, ask)),
                    ],
                ))
            }
            None => lines.push(fill(&t.plan_line_off, &[("title", &tpl.title)])),
        }
        rows.push(vec![(
            tpl.title.clone(),
            Action::PlanRule {
                rule: tpl.id.clone(),
            },
        )]);
    }
    rows.push(vec![
        (t.plan_coping_button.clone(), Action::PlanCoping),
        (t.plan_settings_button.clone(), Action::PlanSettings),
    ]);
    let buttons = keyboard(o, ctx, m.telegram_user, Some(m.id), MENU_TTL, rows);
    o.reply(
        person.chat,
        Outgoing::with_buttons(
            fill(&t.plan_overview, &[("list", &lines.join("\n"))]),
            buttons,
        ),
    );
}

/// A sign that reads what only the weekly check-in asks (*connect*): says so, and when the
/// weekly check-in is off, offers to turn it on (the `/schedule` day picker's button). Said
/// before the sign's own question, so that question's keyboard stays the latest.
fn weekly_needed(o: &mut Outcome, person: &Person, tpl: &Template, ctx: &Ctx) {
    let asks = |d: Option<&std::sync::Arc<crate::dialog::Dialog>>| {
        d.is_some_and(|d| {
            d.steps
                .iter()
                .any(|s| tpl.reads.as_ref().is_some_and(|r| s.tags.contains(r)))
        })
    };
    if !asks(ctx.weekly) || asks(ctx.checkin) {
        return;
    }
    let t = &ctx.content.texts;
    let on = person
        .schedules
        .iter()
        .any(|s| s.active && ctx.weekly.is_some_and(|w| w.id == s.dialog_id));
    let title = [("title", tpl.title.as_str())];
    if on {
        o.reply(
            person.chat,
            Outgoing::text(fill(&t.plan_needs_weekly_on, &title)),
        );
    } else {
        let button = crate::domain::Button::new(&t.plan_weekly_on_button, "sd:w");
        o.reply(
            person.chat,
            Outgoing::with_buttons(fill(&t.plan_needs_weekly_off, &title), vec![vec![button]]),
        );
    }
}

/// `/coping [what helps]`: shows or sets the member's own coping notes.
pub fn command_coping(o: &mut Outcome, person: &Person, args: &str, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let notes = args.trim();
    if notes.is_empty() {
        let current = person.coping_notes.as_deref().unwrap_or(&t.coping_none);
        o.reply(
            person.chat,
            Outgoing::text(fill(&t.coping_show, &[("notes", current)])),
        );
    } else if notes.chars().count() > MAX_NOTES_CHARS {
        o.reply(person.chat, Outgoing::text(&t.coping_too_long));
    } else {
        o.changes
            .push(Change::SetCopingNotes(Some(notes.to_string())));
        o.reply(person.chat, Outgoing::text(&t.coping_set));
    }
}

/// A press on a `/plan` button (or an alert's): false if it no longer applies.
pub(super) fn press(o: &mut Outcome, person: &Person, action: &Action, ctx: &Ctx) -> bool {
    let t = &ctx.content.texts;
    let chat = person.chat;
    match action {
        Action::Ack { alert, how } => {
            if person.supporting.is_empty() {
                return false;
            }
            o.changes.push(Change::AckAlert {
                alert: *alert,
                how: how.clone(),
            });
            o.reply(chat, Outgoing::text(&t.ack_thanks));
            return true;
        }
        Action::AskAnswer { episode, tell } => {
            if person.member.is_none() {
                return false;
            }
            o.changes.push(Change::AnswerAsk {
                episode: *episode,
                tell: *tell,
            });
            return true;
        }
        _ => {}
    }
    let Some(m) = &person.member else {
        return false;
    };
    let kb = |o: &mut Outcome, rows| keyboard(o, ctx, m.telegram_user, Some(m.id), MENU_TTL, rows);
    match action {
        Action::PlanCoping => {
            command_coping(o, person, "", ctx);
            true
        }
        Action::PlanSettings => {
            show_settings(o, person, m, person.plan_settings, ctx);
            true
        }
        Action::PlanSet { what } => {
            let mut s = person.plan_settings;
            match what.as_str() {
                "escalate_6" => s.escalate_hours = 6,
                "escalate_12" => s.escalate_hours = 12,
                "escalate_24" => s.escalate_hours = 24,
                "tell_me_ack" => s.tell_me_ack = !s.tell_me_ack,
                "alert_reason" => s.alert_reason = !s.alert_reason,
                "nudge_reason" => s.nudge_reason = !s.nudge_reason,
                "ask_1" => s.ask_hours = 1,
                "ask_2" => s.ask_hours = 2,
                "ask_4" => s.ask_hours = 4,
                _ => return false,
            }
            let receipt = fill(
                &t.plan_settings_receipt,
                &[("list", &settings_text(s, ctx))],
            );
            o.changes.push(Change::SetPlanSettings {
                settings: s,
                wording: receipt.clone(),
                version: ctx.content.texts_version,
            });
            o.reply(chat, Outgoing::text(receipt));
            true
        }
        Action::PlanRule { rule } => {
            let Some(tpl) = ctx.rules.get(rule) else {
                return false;
            };
            let on = person.plan.iter().any(|r| &r.rule_id == rule);
            let values = choices(tpl);
            let mut rows: Vec<Vec<(String, Action)>> = values
                .iter()
                .map(|v| {
                    vec![(
                        tpl.explain(&params_with(tpl, Some(*v))),
                        Action::PlanValue {
                            rule: rule.clone(),
                            value: *v,
                        },
                    )]
                })
                .collect();
            if values.is_empty() {
                rows.push(vec![(
                    t.plan_choose_button.clone(),
                    Action::PlanValue {
                        rule: rule.clone(),
                        value: 0,
                    },
                )]);
            }
            if on {
                rows.push(vec![(
                    t.plan_off_button.clone(),
                    Action::PlanOff { rule: rule.clone() },
                )]);
            }
            let buttons = kb(o, rows);
            // A sign with nothing to adjust asks no "when should it count?".
            let question = if values.is_empty() {
                &t.plan_ask_fixed
            } else {
                &t.plan_ask_value
            };
            let text = fill(
                question,
                &[("title", &tpl.title), ("what", &tpl.description)],
            );
            weekly_needed(o, person, tpl, ctx);
            o.reply(chat, Outgoing::with_buttons(text, buttons));
            true
        }
        Action::PlanValue { rule, value } => {
            let Some(tpl) = ctx.rules.get(rule) else {
                return false;
            };
            let mut rows = vec![vec![(
                t.who_me_button.clone(),
                Action::PlanWho {
                    rule: rule.clone(),
                    value: *value,
                    tier: Tier::SelfHelp.as_str().into(),
                },
            )]];
            let mut offer = |tier: Tier, label: &str| {
                if !people(person, tier).is_empty() {
                    rows.push(vec![(
                        fill(label, &[("people", &names(&people(person, tier)))]),
                        Action::PlanWho {
                            rule: rule.clone(),
                            value: *value,
                            tier: tier.as_str().into(),
                        },
                    )]);
                }
            };
            offer(Tier::Nudge, &t.who_carers_button);
            offer(Tier::Alert, &t.who_supporters_button);
            if tpl.tier == Tier::Urgent {
                offer(Tier::Urgent, &t.who_urgent_button);
            }
            let lonely = rows.len() == 1;
            let buttons = kb(o, rows);
            let mut text = fill(&t.plan_ask_who, &[("title", &tpl.title)]);
            if lonely {
                text.push_str("\n\n");
                text.push_str(&t.plan_nobody_yet);
            }
            o.reply(chat, Outgoing::with_buttons(text, buttons));
            true
        }
        Action::PlanWho { rule, value, tier } => {
            let (Some(_), Some(tier)) = (ctx.rules.get(rule), tier_of(tier)) else {
                return false;
            };
            if matches!(tier, Tier::Nudge | Tier::Alert) {
                let ask = |a: &str| Action::PlanAsk {
                    rule: rule.clone(),
                    value: *value,
                    tier: tier.as_str().into(),
                    ask: a.into(),
                };
                let buttons = kb(
                    o,
                    vec![
                        vec![(t.ask_first_tell_button.clone(), ask("tell"))],
                        vec![(t.ask_first_dont_button.clone(), ask("dont"))],
                        vec![(t.no_ask_button.clone(), ask("no"))],
                    ],
                );
                o.reply(chat, Outgoing::with_buttons(&t.plan_ask_first, buttons));
                true
            } else {
                finish(o, person, rule, *value, tier, "no", ctx)
            }
        }
        Action::PlanAsk {
            rule,
            value,
            tier,
            ask,
        } => {
            let Some(tier) = tier_of(tier) else {
                return false;
            };
            finish(o, person, rule, *value, tier, ask, ctx)
        }
        Action::PlanOff { rule } => {
            let Some(tpl) = ctx.rules.get(rule) else {
                return false;
            };
            if !person.plan.iter().any(|r| &r.rule_id == rule) {
                return false;
            }
            o.changes.push(Change::TurnOffRule { rule: rule.clone() });
            o.reply(
                chat,
                Outgoing::text(fill(&t.plan_turned_off, &[("title", &tpl.title)])),
            );
            true
        }
        _ => false,
    }
}

/// The settings in words.
fn settings_text(s: PlanSettings, ctx: &Ctx) -> String {
    let t = &ctx.content.texts;
    let hours = s.escalate_hours.to_string();
    [
        fill(&t.plan_setting_escalate, &[("hours", &hours)]),
        fill(&t.plan_setting_ask, &[("hours", &s.ask_hours.to_string())]),
        if s.tell_me_ack {
            t.plan_setting_ack_on.clone()
        } else {
            t.plan_setting_ack_off.clone()
        },
        if s.alert_reason {
            t.plan_setting_reason_on.clone()
        } else {
            t.plan_setting_reason_off.clone()
        },
        if s.nudge_reason {
            t.plan_setting_nudge_on.clone()
        } else {
            t.plan_setting_nudge_off.clone()
        },
    ]
    .join("\n")
}

fn show_settings(o: &mut Outcome, person: &Person, m: &Member, s: PlanSettings, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let set = |what: &str| Action::PlanSet { what: what.into() };
    let rows = vec![
        vec![
            (
                fill(&t.plan_escalate_button, &[("hours", "6")]),
                set("escalate_6"),
            ),
            (
                fill(&t.plan_escalate_button, &[("hours", "12")]),
                set("escalate_12"),
            ),
            (
                fill(&t.plan_escalate_button, &[("hours", "24")]),
                set("escalate_24"),
            ),
        ],
        vec![
            (
                fill(&t.plan_ask_hours_button, &[("hours", "1")]),
                set("ask_1"),
            ),
            (
                fill(&t.plan_ask_hours_button, &[("hours", "2")]),
                set("ask_2"),
            ),
            (
                fill(&t.plan_ask_hours_button, &[("hours", "4")]),
                set("ask_4"),
            ),
        ],
        vec![(t.plan_toggle_ack_button.clone(), set("tell_me_ack"))],
        vec![(t.plan_toggle_reason_button.clone(), set("alert_reason"))],
        vec![(t.plan_toggle_nudge_button.clone(), set("nudge_reason"))],
    ];
    let buttons = keyboard(o, ctx, m.telegram_user, Some(m.id), MENU_TTL, rows);
    o.reply(
        person.chat,
        Outgoing::with_buttons(
            fill(&t.plan_settings_show, &[("list", &settings_text(s, ctx))]),
            buttons,
        ),
    );
}

/// Records the rule with its consents and sends the receipt.
fn finish(
    o: &mut Outcome,
    person: &Person,
    rule: &str,
    value: i64,
    tier: Tier,
    ask: &str,
    ctx: &Ctx,
) -> bool {
    let t = &ctx.content.texts;
    let Some(tpl) = ctx.rules.get(rule) else {
        return false;
    };
    let told = people(person, tier);
    if tier != Tier::SelfHelp && told.is_empty() {
        return false; // the circle changed since the buttons were made
    }
    let params = params_with(tpl, (!choices(tpl).is_empty()).then_some(value));
    let reason = tpl.explain(&params);
    let receipt = fill(
        &t.plan_receipt,
        &[
            ("reason", &reason),
            ("what", &doing(ctx, person, tier, ask)),
        ],
    );
    let shares = told
        .iter()
        .map(|tie| Share {
            tie: tie.id,
            wording: fill(
                &t.plan_share_wording,
                &[
                    ("name", &tie.name),
                    ("reason", &reason),
                    ("title", &tpl.title),
                ],
            ),
        })
        .collect();
    let ask_first = ask != "no" && matches!(tier, Tier::Nudge | Tier::Alert);
    o.changes.push(Change::SetPlanRule {
        rule: PlanRule {
            rule_id: tpl.id.clone(),
            params,
            tier,
            ask_first,
            tell_if_unanswered: ask != "dont",
        },
        wording: receipt.clone(),
        shares,
        version: ctx.content.texts_version,
    });
    o.reply(person.chat, Outgoing::text(receipt));
    true
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn a_wide_range_is_offered_in_steps_with_its_ends_and_default() {
        assert_eq!(spread((7, 28), 14), vec![7, 11, 14, 18, 21, 25, 28]);
        assert_eq!(spread((7, 28), 10), vec![7, 10, 14, 18, 21, 25, 28]);
        assert_eq!(spread((2, 5), 3), vec![2, 3, 4, 5]);
        assert_eq!(spread((1, 8), 3), vec![1, 2, 3, 5, 6, 7, 8]);
    }
}
