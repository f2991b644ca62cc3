//! Early warning, as a use case: after a member's history changes (a check-in completed, a
//! flag raised, a slot's window closed), evaluate their plan and tell the people they chose —
//! once per episode, only on a consent that stands, in the transaction that recorded the
//! change. Also what time makes happen (escalation, unanswered ask-first questions) and what
//! a supporter's acknowledgement or the member's ask-first answer sets off.
//!
//! The decisions are pure (`rules::evaluate`, `rules::advance`); this module reads and writes
//! through the store and renders the messages.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::content::{Content, and_list, fill};
use crate::conversation::circle::server_buttons;
use crate::dialog::{AnswerValue, Registry, StepKind};
use crate::domain::circle::{Action, Role};
use crate::domain::states::SessionStatus;
use crate::domain::{ChatId, Envelope, Lane, MemberId, Outgoing};
use crate::rules::{self, CheckIn, Outcome, Template, Tier};
use crate::schedule::QuietHours;
use crate::store::prelude::*;
use crate::store::{PlanRule, RawHistory, Recipient, Work};
use crate::token::Tokens;

/// History read for evaluation.
const HISTORY_DAYS: i64 = 90;
/// A rule re-arms after this many clear check-ins in a row.
pub const REARM_AFTER: u32 = 2;
/// And never fires twice within this.
pub const COOLDOWN: Duration = Duration::hours(72);
/// Acknowledge buttons work for this long.
const ACK_TTL: Duration = Duration::days(7);

/// What evaluation needs besides the transaction.
pub struct Ctx<'a> {
    pub content: &'a Content,
    pub dialogs: &'a Registry,
    pub templates: &'a BTreeMap<String, Template>,
    pub tokens: &'a Tokens,
    pub now: DateTime<Utc>,
}

/// The member as early warning needs them.
struct Who {
    id: MemberId,
    chat: ChatId,
    user: crate::domain::UserId,
    name: String,
    tz: Tz,
    quiet: QuietHours,
    settings: crate::store::PlanSettings,
}

async fn who(tx: &mut Work, member: MemberId, ctx: &Ctx<'_>) -> anyhow::Result<Option<Who>> {
    let Some(b) = tx.member_basics(member).await? else {
        return Ok(None);
    };
    Ok(Some(Who {
        id: member,
        chat: b.chat,
        user: b.user,
        name: b
            .name
            .unwrap_or_else(|| ctx.content.texts.default_name.clone()),
        tz: b.timezone.parse().unwrap_or(chrono_tz::Europe::London),
        quiet: QuietHours::from_stored(&b.quiet_start, &b.quiet_end),
        settings: b.settings,
    }))
}

/// Turns stored slots, sessions and answers into check-ins with values by tag (pure).
pub fn build_history(raw: &RawHistory, dialogs: &Registry, tz: Tz) -> Vec<CheckIn> {
    let mut values: BTreeMap<i64, (BTreeMap<String, f64>, Vec<String>)> = BTreeMap::new();
    let sessions: BTreeMap<i64, &crate::store::HistorySession> =
        raw.sessions.iter().map(|s| (s.id, s)).collect();
    for a in &raw.answers {
        let Some(s) = sessions.get(&a.session) else {
            continue;
        };
        let Some(dialog) = dialogs.get(&s.dialog_id, s.version) else {
            continue;
        };
        let entry = values.entry(a.session).or_default();
        if let Some(f) = &a.flags {
            entry
                .1
                .extend(f.split(',').filter(|s| !s.is_empty()).map(str::to_string));
        }
        let Some(v) = a
            .value
            .as_deref()
            .and_then(|v| serde_json::from_str::<AnswerValue>(v).ok())
        else {
            continue;
        };
        let (tags, number) = if let Some(step) = dialog.steps.iter().find(|x| x.id == a.step_id) {
            (step.tags.clone(), step.kind.score(&v))
        } else if let Some(c) = dialog.computes.iter().find(|c| c.id == a.step_id) {
            (c.tags.clone(), StepKind::Message.score(&v))
        } else {
            continue;
        };
        if let Some(n) = number {
            for tag in tags {
                entry.0.insert(tag, n);
            }
        }
    }
    let mut out = Vec::new();
    let mut slotted = std::collections::BTreeSet::new();
    for slot in &raw.slots {
        if let Some(s) = slot.session
            && !slotted.insert(s)
        {
            continue; // one check-in per session, whichever slots joined it
        }
        let done = slot
            .session
            .and_then(|s| sessions.get(&s))
            .is_some_and(|s| s.status == "completed");
        let some = slot.session.is_some_and(|s| values.contains_key(&s));
        let outcome = match slot.outcome.as_deref().and_then(Outcome::parse) {
            Some(o) => o,
            None if done => Outcome::Completed,
            // Still open but answered in part: what was answered counts now (an "I don't
            // feel safe" must not wait for the window to close).
            None if some => Outcome::Partial,
            None => continue, // still open, nothing answered yet
        };
        let (vals, flags) = slot
            .session
            .and_then(|s| values.get(&s).cloned())
            .unwrap_or_default();
        // A check-in begun of their own accord before its slot was due (the slot joined it)
        // happened when it began: "said again in a later check-in" must not find the same one.
        let began = slot
            .session
            .and_then(|s| sessions.get(&s))
            .map(|s| s.started);
        out.push(CheckIn {
            at: began.map_or(slot.due, |b| b.min(slot.due)),
            date: NaiveDate::parse_from_str(&slot.local_date, "%Y-%m-%d")
                .unwrap_or(slot.due.date_naive()),
            outcome,
            values: vals,
            flags,
        });
    }
    // Check-ins people started themselves (`/checkin`), outside any slot.
    for s in &raw.sessions {
        if slotted.contains(&s.id) || !values.contains_key(&s.id) {
            continue;
        }
        let (vals, flags) = values.get(&s.id).cloned().unwrap_or_default();
        out.push(CheckIn {
            at: s.started,
            date: s.started.with_timezone(&tz).date_naive(),
            outcome: if s.status == "completed" {
                Outcome::Completed
            } else {
                Outcome::Partial
            },
            values: vals,
            flags,
        });
    }
    out.sort_by_key(|c| c.at);
    out
}

fn answered(c: &CheckIn) -> bool {
    matches!(c.outcome, Outcome::Completed | Outcome::Partial)
}

/// How many answered check-ins in a row, before the latest and after the open episode began
/// (`since`), the rule was clear on. Missed, unknown and paused ones never count as clear:
/// silence is not wellness; nor do check-ins from before the episode (they cannot show it
/// has passed).
fn clear_before(
    t: &Template,
    params: &BTreeMap<String, f64>,
    history: &[CheckIn],
    since: Option<DateTime<Utc>>,
    templates: &BTreeMap<String, Template>,
) -> u32 {
    let mut n = 0;
    let ends: Vec<usize> = (1..history.len())
        .filter(|e| answered(&history[e - 1]))
        .filter(|e| since.is_none_or(|s| history[e - 1].at > s))
        .collect();
    for end in ends.into_iter().rev().take(REARM_AFTER as usize) {
        let prefix = &history[..end];
        let at = prefix[end - 1].at;
        if rules::evaluate(t, params, prefix, at, templates).firing {
            break;
        }
        n += 1;
    }
    n
}

/// What a conversation's changes set off: a completed check-in or a raised flag means the
/// member's history changed; an acknowledgement tells the member; an ask-first answer tells
/// (or not).
pub async fn after_changes(
    tx: &mut Work,
    member: Option<MemberId>,
    changes: &[crate::conversation::Change],
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    use crate::conversation::Change;
    let mut out = Vec::new();
    let history_changed = changes.iter().any(|c| match c {
        Change::SaveSession { status, .. } => *status == SessionStatus::Completed,
        Change::StoreAnswers { answers, .. } => answers.iter().any(|a| !a.flags.is_empty()),
        _ => false,
    });
    if let (true, Some(m)) = (history_changed, member) {
        out.extend(after_history_change(tx, m, ctx).await?);
    }
    for c in changes {
        match c {
            Change::AckAlert { alert, .. } => out.extend(acknowledged(tx, *alert, ctx).await?),
            Change::AnswerAsk { episode, tell } => {
                if let Some(m) = member {
                    out.extend(answer_ask(tx, m, *episode, *tell, false, ctx).await?);
                }
            }
            Change::AskPressedAgain { episode } => {
                if let Some(m) = member {
                    out.extend(pressed_again(tx, m, *episode, ctx).await?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Evaluates the member's whole plan after their history changed.
pub async fn after_history_change(
    tx: &mut Work,
    member: MemberId,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let plan = tx.plan(member).await?;
    if plan.rules.is_empty() && plan.unreadable.is_empty() {
        return Ok(Vec::new());
    }
    let Some(m) = who(tx, member, ctx).await? else {
        return Ok(Vec::new());
    };
    unreadable(tx, &m, &plan.unreadable, ctx).await?;
    let mut out = Vec::new();
    let raw = tx
        .raw_history(member, ctx.now - Duration::days(HISTORY_DAYS))
        .await?;
    let history = build_history(&raw, ctx.dialogs, m.tz);
    for rule in &plan.rules {
        let Some(t) = ctx.templates.get(&rule.rule_id) else {
            continue;
        };
        let d = rules::evaluate(t, &rule.params, &history, ctx.now, ctx.templates);
        let mut open = tx.open_episode(member, &rule.rule_id).await?;
        let latest = history.iter().rfind(|c| answered(c));
        // "I don't feel safe" said again, in a later check-in, is a new episode at once:
        // every such answer is heard (no re-arming, no cooldown).
        let flagged = t.kind == rules::Kind::Flagged;
        // A question still waiting when it is said again keeps its time: saying it again
        // never puts off when supporters are told.
        let mut ask_by = None;
        if let Some(o) = &open
            && flagged
            && d.firing
            && latest.is_some_and(|c| c.at > o.opened_at)
        {
            // Except below "at once": an alert or nudge that has gone out stands — its
            // supporter is not told twice, and its escalation keeps its time.
            if rule.tier != Tier::Urgent && !tx.episode_recipients(o.id).await?.is_empty() {
                continue;
            }
            ask_by = tx.episode_ask_until(o.id).await?;
            tx.close_episode(o.id, ctx.now).await?;
            open = None;
        }
        // Only an answered check-in can count towards re-arming.
        if open.is_some() && !d.firing && !history.last().is_some_and(answered) {
            continue;
        }
        let e = rules::Episode {
            open: open.is_some(),
            clear_streak: clear_before(
                t,
                &rule.params,
                &history,
                open.as_ref().map(|o| o.opened_at),
                ctx.templates,
            ),
            last_fired: if flagged {
                None
            } else {
                tx.last_fired(member, &rule.rule_id).await?
            },
        };
        let (_, step) = rules::advance(e, d.firing, ctx.now, REARM_AFTER, COOLDOWN);
        match (step, &open) {
            (rules::Step::Rearm, Some(o)) => {
                tx.close_episode(o.id, ctx.now).await?;
            }
            (rules::Step::Fire, _) => {
                let reason = t.explain(&rule.params);
                let evidence = serde_json::json!({
                    "reason": reason,
                    "evidence": d.evidence,
                })
                .to_string();
                let ask = rule.ask_first && matches!(rule.tier, Tier::Nudge | Tier::Alert);
                let state = if ask { "asking" } else { "told" };
                let fresh = ctx.now + Duration::hours(m.settings.ask_hours.clamp(1, 24));
                let until = ask.then(|| ask_by.map_or(fresh, |by| by.min(fresh)));
                let Some(episode) = tx
                    .open_new_episode(member, &rule.rule_id, &evidence, state, until, ctx.now)
                    .await?
                else {
                    continue; // one already open: never twice
                };
                if ask {
                    out.extend(ask_first(tx, &m, rule, episode, &reason, ctx).await?);
                } else {
                    out.extend(tell(tx, &m, rule, episode, &reason, 0, ctx).await?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Whom a rule at `tier` may reach among `rs`: the right role, a standing consent, reachable.
fn eligible(r: &Recipient, tier: Tier) -> bool {
    let role_ok = match tier {
        Tier::Nudge => matches!(r.role, Role::Carer | Role::Both),
        Tier::Alert | Tier::Urgent => matches!(r.role, Role::Supporter | Role::Both),
        Tier::SelfHelp => false,
    };
    role_ok && r.consent.is_some() && !r.unreachable
}

/// A recipient's quiet hours: their own if they are a member too, else UK nights.
fn quiet_of(r: &Recipient) -> (QuietHours, Tz) {
    match &r.own_quiet {
        Some((tz, qs, qe)) => (
            QuietHours::from_stored(qs, qe),
            tz.parse().unwrap_or(chrono_tz::Europe::London),
        ),
        None => (QuietHours::default(), chrono_tz::Europe::London),
    }
}

fn names(rs: &[&Recipient]) -> String {
    and_list(&rs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>())
}

async fn ask_first(
    tx: &mut Work,
    m: &Who,
    rule: &PlanRule,
    episode: i64,
    reason: &str,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let t = &ctx.content.texts;
    let rs = tx
        .recipients(m.id, &rule.rule_id, rule.tier, ctx.now)
        .await?;
    let people: Vec<&Recipient> = rs.iter().filter(|r| eligible(r, rule.tier)).collect();
    let buttons = ask_keyboard(
        tx,
        m,
        episode,
        ctx.now + Duration::hours(m.settings.ask_hours.clamp(1, 24) + 1),
        true,
        ctx,
    )
    .await?;
    let text = fill(
        &t.ask_first_question,
        &[("reason", reason), ("people", &names(&people))],
    );
    Ok(vec![Envelope::urgent(
        m.chat,
        Outgoing::with_buttons(text, buttons),
    )])
}

/// The ask-first buttons (Yes / No, and Not now the first time), only the member can press.
async fn ask_keyboard(
    tx: &mut Work,
    m: &Who,
    episode: i64,
    expires: DateTime<Utc>,
    with_later: bool,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Vec<crate::domain::Button>>> {
    let t = &ctx.content.texts;
    let answer = |tell| Action::AskAnswer { episode, tell };
    let mut row = vec![
        (t.ask_yes_button.clone(), answer(Some(true))),
        (t.ask_no_button.clone(), answer(Some(false))),
    ];
    if with_later {
        row.push((t.ask_later_button.clone(), answer(None)));
    }
    let (buttons, new) = server_buttons(ctx.tokens, expires, m.user, Some(m.id), vec![row]);
    tx.register_buttons(&new, ctx.now).await?;
    Ok(buttons)
}

/// Tells the people the member chose for this rule's tier (step 0), or the next supporter
/// (an escalation, step ≥ 1).
async fn tell(
    tx: &mut Work,
    m: &Who,
    rule: &PlanRule,
    episode: i64,
    reason: &str,
    step: i64,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let t = &ctx.content.texts;
    let now = ctx.now;
    let mut out = Vec::new();
    match rule.tier {
        Tier::SelfHelp => {
            if tx
                .record_alert(episode, m.id, None, Tier::SelfHelp, None, 0, None, now)
                .await?
                .is_some()
            {
                let notes = tx
                    .coping_notes(m.id)
                    .await?
                    .unwrap_or_else(|| t.coping_plan_default.clone());
                let text = fill(&t.self_help, &[("reason", reason), ("notes", &notes)]);
                let at = m.quiet.next_allowed(now, m.tz);
                let env = Envelope {
                    chat: m.chat,
                    lane: Lane::Scheduled,
                    body: Outgoing::text(text),
                };
                tx.enqueue_at(&[env], None, now, at).await?;
            }
        }
        Tier::Nudge => {
            let rs = tx.recipients(m.id, &rule.rule_id, Tier::Nudge, now).await?;
            for r in rs.iter().filter(|r| eligible(r, Tier::Nudge) && !r.away) {
                let Some(consent) = r.consent else { continue };
                if tx
                    .record_alert(
                        episode,
                        m.id,
                        Some(r.tie),
                        Tier::Nudge,
                        Some(consent),
                        0,
                        None,
                        now,
                    )
                    .await?
                    .is_none()
                {
                    continue;
                }
                let env = Envelope {
                    chat: r.chat,
                    lane: Lane::Nudge,
                    body: Outgoing::text(if m.settings.nudge_reason {
                        fill(
                            &t.nudge_with_reason,
                            &[("name", &m.name), ("reason", reason)],
                        )
                    } else {
                        fill(&t.nudge, &[("name", &m.name)])
                    }),
                };
                // Never in the carer's quiet hours (their own, or UK nights).
                let (quiet, tz) = quiet_of(r);
                let at = quiet.next_allowed(now, tz);
                tx.enqueue_consented(&env, consent, m.id, now, at).await?;
            }
        }
        Tier::Alert => {
            let rs = tx.recipients(m.id, &rule.rule_id, Tier::Alert, now).await?;
            let done = tx.episode_recipients(episode).await?;
            // The first available supporter in the member's order; away and unreachable
            // people are skipped at once.
            let next = rs
                .iter()
                .find(|r| eligible(r, Tier::Alert) && !r.away && !done.contains(&r.tie));
            match next {
                Some(r) => {
                    out.extend(alert(tx, m, r, episode, reason, Tier::Alert, step, ctx).await?);
                }
                None => out.extend(nobody(tx, m, episode, reason, step, ctx).await?),
            }
        }
        Tier::Urgent => {
            let rs = tx
                .recipients(m.id, &rule.rule_id, Tier::Urgent, now)
                .await?;
            // Everyone who can hear, at once; not those who are away (as for alerts). When
            // nobody can, the member is told so, above the card.
            let reach: Vec<&Recipient> = rs
                .iter()
                .filter(|r| eligible(r, Tier::Urgent) && !r.away)
                .collect();
            if reach.is_empty() {
                let text = fill(&t.nobody_available, &[("reason", reason)]);
                out.push(Envelope::urgent(m.chat, Outgoing::text(text)));
            }
            // The member always gets the crisis card at once.
            out.push(Envelope::urgent(
                m.chat,
                Outgoing::text(ctx.content.crisis.text()),
            ));
            for r in reach {
                out.extend(alert(tx, m, r, episode, reason, Tier::Urgent, 0, ctx).await?);
            }
        }
    }
    Ok(out)
}

/// Nobody (else) can be told: the member hears the truth — who was told and that nobody
/// has replied yet, or that nobody is available — with the crisis card straight after it.
/// After an escalation (`step` ≥ 1, the scheduler's) the two are one message: routine
/// messages queued at that moment (a 19:00 check-in) could otherwise arrive between them.
async fn nobody(
    tx: &mut Work,
    m: &Who,
    episode: i64,
    reason: &str,
    step: i64,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let t = &ctx.content.texts;
    let told = tx.told_names(episode).await?;
    let text = if told.is_empty() {
        fill(&t.nobody_available, &[("reason", reason)])
    } else {
        fill(&t.no_reply_yet, &[("people", &and_list(&told))])
    };
    let card = ctx.content.crisis.text();
    Ok(if step > 0 {
        vec![Envelope::urgent(
            m.chat,
            Outgoing::text(format!("{text}\n\n{card}")),
        )]
    } else {
        vec![
            Envelope::urgent(m.chat, Outgoing::text(text)),
            Envelope::urgent(m.chat, Outgoing::text(card)),
        ]
    })
}

/// One alert to one supporter: recorded (unique per episode and person), sent only on its
/// consent, with Acknowledge buttons only they can press.
#[allow(clippy::too_many_arguments)]
async fn alert(
    tx: &mut Work,
    m: &Who,
    r: &Recipient,
    episode: i64,
    reason: &str,
    tier: Tier,
    step: i64,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let t = &ctx.content.texts;
    let now = ctx.now;
    let Some(consent) = r.consent else {
        return Ok(Vec::new());
    };
    let escalate = (tier == Tier::Alert)
        .then_some(now + Duration::hours(m.settings.escalate_hours.clamp(1, 72)));
    let Some(alert) = tx
        .record_alert(
            episode,
            m.id,
            Some(r.tie),
            tier,
            Some(consent),
            step,
            escalate,
            now,
        )
        .await?
    else {
        return Ok(Vec::new());
    };
    let (buttons, new) = server_buttons(
        ctx.tokens,
        now + ACK_TTL,
        r.user,
        None,
        vec![vec![
            (
                t.ack_reach_out_button.clone(),
                Action::Ack {
                    alert,
                    how: "reach_out".into(),
                },
            ),
            (
                t.ack_in_touch_button.clone(),
                Action::Ack {
                    alert,
                    how: "in_touch".into(),
                },
            ),
        ]],
    );
    tx.register_buttons(&new, now).await?;
    // The reason only when the member lets supporters see it (`/plan` → Settings).
    let template = match (tier == Tier::Urgent, m.settings.alert_reason) {
        (true, true) => &t.alert_urgent,
        (true, false) => &t.alert_urgent_no_reason,
        (false, true) => &t.alert,
        (false, false) => &t.alert_no_reason,
    };
    let mut text = fill(template, &[("name", &m.name), ("reason", reason)]);
    if step > 0 {
        text.push_str("\n\n");
        text.push_str(&t.alert_escalated_note);
    }
    // Without sound in the recipient's quiet hours (their own if they are a member too, else
    // UK nights), unless urgent.
    let (quiet, tz) = quiet_of(r);
    let silent = tier != Tier::Urgent && quiet.contains(now, tz);
    let env = Envelope {
        chat: r.chat,
        lane: Lane::Urgent,
        body: Outgoing::Message {
            text,
            buttons,
            protect: true,
            silent,
        },
    };
    let id = tx.enqueue_consented(&env, consent, m.id, now, now).await?;
    tx.attach_alert_outbox(alert, id.0).await?;
    Ok(Vec::new())
}

/// Rules whose stored settings cannot be read are off: logged (ids only), and the member is
/// told once, kindly, which sign and why (not in their quiet hours: it is not urgent).
async fn unreadable(
    tx: &mut Work,
    m: &Who,
    rules: &[crate::store::UnreadableRule],
    ctx: &Ctx<'_>,
) -> anyhow::Result<()> {
    for u in rules {
        if !tx.note_unreadable_rule(u, ctx.now).await? {
            continue;
        }
        tracing::error!(
            member = m.id.0,
            plan_rule = u.id,
            "a plan rule's stored settings cannot be read: its sign is off, the member is told"
        );
        let title = ctx
            .templates
            .get(&u.rule_id)
            .map_or(u.rule_id.as_str(), |t| t.title.as_str());
        let env = Envelope {
            chat: m.chat,
            lane: Lane::Reply,
            body: Outgoing::text(fill(
                &ctx.content.texts.plan_rule_unreadable,
                &[("title", title)],
            )),
        };
        let at = m.quiet.next_allowed(ctx.now, m.tz);
        tx.enqueue_at(&[env], None, ctx.now, at).await?;
    }
    Ok(())
}

/// What time makes happen: alerts nobody acknowledged go to the next supporter; ask-first
/// questions nobody answered follow the member's advance decision.
pub async fn tick(tx: &mut Work, ctx: &Ctx<'_>) -> anyhow::Result<Vec<Envelope>> {
    let mut out = Vec::new();
    for due in tx.due_escalations(ctx.now).await? {
        if !tx.mark_escalated(due.alert).await? {
            continue;
        }
        let Some(m) = who(tx, due.member, ctx).await? else {
            continue;
        };
        let plan = tx.plan(due.member).await?;
        unreadable(tx, &m, &plan.unreadable, ctx).await?;
        let Some(rule) = plan.rules.into_iter().find(|r| r.rule_id == due.rule_id) else {
            continue; // turned off meanwhile, or unreadable (the member is told)
        };
        let reason = reason_of(&due.evidence);
        out.extend(tell(tx, &m, &rule, due.episode, &reason, due.step + 1, ctx).await?);
    }
    for ask in tx.due_asks(ctx.now).await? {
        out.extend(answer_ask(tx, ask.member, ask.episode, None, true, ctx).await?);
    }
    Ok(out)
}

fn reason_of(evidence: &str) -> String {
    serde_json::from_str::<serde_json::Value>(evidence)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The member answered (or, `timed_out`, did not answer) an ask-first question.
pub async fn answer_ask(
    tx: &mut Work,
    member: MemberId,
    episode: i64,
    tell_them: Option<bool>,
    timed_out: bool,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let t = &ctx.content.texts;
    let Some((owner, rule_id, evidence)) = tx.episode_evidence(episode).await? else {
        return Ok(Vec::new());
    };
    if owner != member {
        return Ok(Vec::new());
    }
    let Some(m) = who(tx, member, ctx).await? else {
        return Ok(Vec::new());
    };
    // A press on a question that is over (told already, lapsed, its rule turned off).
    let passed = || Envelope::reply(m.chat, Outgoing::text(&t.question_passed));
    let Some(rule) = tx
        .member_plan(member)
        .await?
        .into_iter()
        .find(|r| r.rule_id == rule_id)
    else {
        // The rule was turned off (its episode cancelled), or its stored settings cannot be
        // read. A question still waiting for its time would stay due for ever: it lapses.
        if !timed_out {
            return Ok(vec![passed()]);
        }
        if tx.set_episode_state(episode, "asking", "lapsed").await? {
            tracing::error!(episode, "ask-first question's rule is unreadable; lapsed");
        }
        return Ok(Vec::new());
    };
    let decision = match (tell_them, timed_out) {
        (Some(d), _) => Some(d),
        (None, true) => Some(rule.tell_if_unanswered),
        (None, false) => None, // "not now": wait for the time to run out
    };
    let mut out = Vec::new();
    match decision {
        None => {
            // The question stays open until its time; fresh buttons to answer it later.
            let Some(until) = tx.episode_ask_until(episode).await? else {
                out.push(passed());
                return Ok(out);
            };
            let time = until.with_timezone(&m.tz).format("%H:%M").to_string();
            let then = if rule.tell_if_unanswered {
                &t.ask_then_tell
            } else {
                &t.ask_then_dont
            };
            let buttons =
                ask_keyboard(tx, &m, episode, until + Duration::hours(1), false, ctx).await?;
            out.push(Envelope::reply(
                m.chat,
                Outgoing::with_buttons(
                    fill(&t.ask_later, &[("time", &time), ("then", then)]),
                    buttons,
                ),
            ));
        }
        Some(true) => {
            // A yes is heard while the episode lasts, even after the wait ran out on
            // "don't tell them" (their keyboard stays live an hour past it).
            let told = tx.set_episode_state(episode, "asking", "told").await?
                || (!timed_out && tx.set_episode_state(episode, "not_told", "told").await?);
            if told {
                let reason = reason_of(&evidence);
                out.extend(tell(tx, &m, &rule, episode, &reason, 0, ctx).await?);
                if !timed_out {
                    out.push(Envelope::reply(m.chat, Outgoing::text(&t.ask_told)));
                }
            } else if !timed_out {
                // Told already, or lapsed (the episode ended, or a new one asks now).
                out.extend(pressed_again(tx, member, episode, ctx).await?);
            }
        }
        Some(false) => {
            if tx.set_episode_state(episode, "asking", "not_told").await? {
                if !timed_out {
                    out.push(Envelope::reply(m.chat, Outgoing::text(&t.ask_not_told)));
                }
            } else if !timed_out {
                out.push(passed());
            }
        }
    }
    Ok(out)
}

/// An ask-first answer pressed when the question is over (a double tap, a tap on the
/// collapsed keyboard, or a question told or lapsed meanwhile): nothing changes; the member
/// hears what became of it.
async fn pressed_again(
    tx: &mut Work,
    member: MemberId,
    episode: i64,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let t = &ctx.content.texts;
    let Some(chat) = tx.member_basics(member).await?.map(|b| b.chat) else {
        return Ok(Vec::new());
    };
    let owner = tx.episode_evidence(episode).await?.map(|e| e.0);
    let state = tx.episode_state(episode).await?;
    let text = match state.as_deref() {
        Some("told") if owner == Some(member) => &t.ask_already_told,
        _ => &t.question_passed,
    };
    Ok(vec![Envelope::reply(chat, Outgoing::text(text))])
}

/// A supporter acknowledged an alert: the member hears that someone is on it.
pub async fn acknowledged(
    tx: &mut Work,
    alert: i64,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let t = &ctx.content.texts;
    let Some((member_chat, supporter, how)) = tx.acked_alert(alert).await? else {
        return Ok(Vec::new());
    };
    let template = if how == "in_touch" {
        &t.member_told_in_touch
    } else {
        &t.member_told_reach_out
    };
    Ok(vec![Envelope::reply(
        member_chat,
        Outgoing::text(fill(template, &[("name", &supporter)])),
    )])
}
