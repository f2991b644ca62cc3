//! Early warning, as a use case: after a member's history changes (a check-in completed, a
//! flag raised, a slot's window closed), evaluate their plan and tell the people they chose —
//! once per episode, only on a consent that stands, in the transaction that recorded the
//! change. Also what time makes happen (escalation, unanswered ask-first questions) and what
//! a supporter's acknowledgement or the member's ask-first answer sets off.
//!
//! `decide` chooses (pure), `render` words (pure); this module reads what they need through
//! the store, applies the decisions in order and returns the messages for the caller to
//! queue — except those that carry a consent or a time to wait for (see `queue`).

mod decide;
mod history;
mod render;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::content::Content;
use crate::dialog::Registry;
use crate::domain::states::{EpisodeState, SessionStatus};
use crate::domain::{ChatId, Envelope, MemberId, UserId};
use crate::rules::{Template, Tier};
use crate::schedule::QuietHours;
use crate::store::prelude::*;
use crate::store::{PlanSettings, Recipient, Work};
use crate::token::Tokens;
use decide::{Decision, People, Question, Sign};
use render::Render;

pub use decide::{COOLDOWN, REARM_AFTER};
pub use history::build_history;

/// History read for evaluation.
const HISTORY_DAYS: i64 = 90;

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
    user: UserId,
    name: String,
    tz: Tz,
    quiet: QuietHours,
    settings: PlanSettings,
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
        tz: b.timezone,
        quiet: b.quiet,
        settings: b.settings,
    }))
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
    let raw = tx
        .raw_history(member, ctx.now - Duration::days(HISTORY_DAYS))
        .await?;
    let history = build_history(&raw, ctx.dialogs, m.tz);
    let mut signs = Vec::new();
    for rule in &plan.rules {
        if !ctx.templates.contains_key(&rule.rule_id) {
            continue;
        }
        let open = match tx.open_episode(member, &rule.rule_id).await? {
            Some(o) => Some(decide::Open {
                id: o.id,
                opened_at: o.opened_at,
                anyone_told: !tx.episode_recipients(o.id).await?.is_empty(),
                ask_until: tx.episode_ask_until(o.id).await?,
            }),
            None => None,
        };
        signs.push(Sign {
            rule,
            open,
            last_fired: tx.last_fired(member, &rule.rule_id).await?,
        });
    }
    let decisions = decide::after_history(&decide::Evaluation {
        member: &m,
        unreadable: &plan.unreadable,
        signs: &signs,
        history: &history,
        templates: ctx.templates,
        now: ctx.now,
    });
    apply(tx, &m, decisions, ctx).await
}

/// Who may hear about `episode` of `rule_id` at `tier` (see [`decide::People`]).
struct Reached {
    recipients: Vec<Recipient>,
    done: Vec<i64>,
    told: Vec<String>,
}

impl Reached {
    async fn read(
        tx: &mut Work,
        m: &Who,
        episode: i64,
        rule_id: &str,
        tier: Tier,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Reached> {
        let recipients = tx.recipients(m.id, rule_id, tier, now).await?;
        let (done, told) = if tier == Tier::Alert {
            (
                tx.episode_recipients(episode).await?,
                tx.told_names(episode).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(Reached {
            recipients,
            done,
            told,
        })
    }

    fn people(&self) -> People<'_> {
        People {
            recipients: &self.recipients,
            done: &self.done,
            told: &self.told,
        }
    }
}

/// Applies decisions in order: state through the store, messages through `render`. An
/// episode opened or told is followed at once by whom it reaches (read now, decided by
/// `decide::opened` / `decide::tell`), worded with its reason.
async fn apply(
    tx: &mut Work,
    m: &Who,
    decisions: Vec<Decision>,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let now = ctx.now;
    let words = Render {
        content: ctx.content,
        tokens: ctx.tokens,
        member: m,
        now,
    };
    let mut out = Vec::new();
    let mut pending = VecDeque::from(decisions);
    // Why the episode at hand fired: what it reaches comes straight after it.
    let mut reason = String::new();
    let then = |pending: &mut VecDeque<Decision>, next: Vec<Decision>| {
        for d in next.into_iter().rev() {
            pending.push_front(d);
        }
    };
    while let Some(d) = pending.pop_front() {
        match d {
            Decision::Unreadable { rule, not_before } => {
                if !tx.note_unreadable_rule(&rule, now).await? {
                    continue;
                }
                tracing::error!(
                    member = m.id.0,
                    plan_rule = rule.id,
                    "a plan rule's stored settings cannot be read: its sign is off, the member is told"
                );
                let title = ctx
                    .templates
                    .get(&rule.rule_id)
                    .map_or(rule.rule_id.as_str(), |t| t.title.as_str());
                queue(tx, m, &words.unreadable(title), None, not_before, now).await?;
            }
            Decision::Rearm { episode } | Decision::SaidAgain { episode } => {
                tx.close_episode(episode, now).await?;
            }
            Decision::OpenEpisode {
                rule_id,
                tier,
                reason: why,
                evidence,
                ask_until,
            } => {
                let evidence = serde_json::json!({ "reason": why, "evidence": evidence });
                let state = if ask_until.is_some() {
                    EpisodeState::Asking
                } else {
                    EpisodeState::Told
                };
                let opened = tx
                    .open_new_episode(m.id, &rule_id, &evidence.to_string(), state, ask_until, now)
                    .await?;
                let Some(episode) = opened else {
                    continue; // one already open: never twice
                };
                let reached = Reached::read(tx, m, episode, &rule_id, tier, now).await?;
                let ask = ask_until.is_some();
                then(
                    &mut pending,
                    decide::opened(m, episode, tier, ask, reached.people(), now),
                );
                reason = why;
            }
            Decision::Tell {
                episode,
                rule_id,
                tier,
                step,
                reason: why,
            } => {
                let reached = Reached::read(tx, m, episode, &rule_id, tier, now).await?;
                then(
                    &mut pending,
                    decide::tell(m, episode, tier, step, reached.people(), now),
                );
                reason = why;
            }
            Decision::AskFirst {
                episode,
                people,
                expires,
            } => {
                let (env, buttons) = words.ask_first(episode, &reason, &people, expires);
                tx.register_buttons(&buttons, now).await?;
                out.push(env);
            }
            Decision::SelfHelp {
                episode,
                not_before,
            } => {
                let recorded = tx
                    .record_alert(episode, m.id, None, Tier::SelfHelp, None, 0, None, now)
                    .await?;
                if recorded.is_some() {
                    let notes = tx.coping_notes(m.id).await?;
                    queue(
                        tx,
                        m,
                        &words.self_help(&reason, notes),
                        None,
                        not_before,
                        now,
                    )
                    .await?;
                }
            }
            Decision::Nudge {
                episode,
                to,
                consent,
                not_before,
            } => {
                let recorded = tx
                    .record_alert(
                        episode,
                        m.id,
                        Some(to.tie),
                        Tier::Nudge,
                        Some(consent),
                        0,
                        None,
                        now,
                    )
                    .await?;
                if recorded.is_some() {
                    let env = words.nudge(to, &reason);
                    queue(tx, m, &env, Some(consent), not_before, now).await?;
                }
            }
            Decision::Alert {
                episode,
                to,
                consent,
                tier,
                step,
                escalate_at,
                silent,
            } => {
                let Some(alert) = tx
                    .record_alert(
                        episode,
                        m.id,
                        Some(to.tie),
                        tier,
                        Some(consent),
                        step,
                        escalate_at,
                        now,
                    )
                    .await?
                else {
                    continue;
                };
                let (env, buttons) = words.alert(to, alert, tier, step, silent, &reason);
                tx.register_buttons(&buttons, now).await?;
                let queued = queue(tx, m, &env, Some(consent), now, now).await?;
                tx.attach_alert_outbox(alert, queued).await?;
            }
            Decision::Nobody { told, with_card } => {
                out.push(words.nobody(&reason, &told, with_card));
            }
            Decision::CrisisCard => out.push(words.crisis_card()),
            Decision::Answer { episode, from, to } => {
                // Decided on the state just read in this transaction: it cannot have moved.
                if !tx.set_episode_state(episode, from, to).await? {
                    tracing::warn!(episode, "ask-first answer found the question moved");
                    break;
                }
            }
            Decision::Lapse { episode } => {
                if tx
                    .set_episode_state(episode, EpisodeState::Asking, EpisodeState::Lapsed)
                    .await?
                {
                    tracing::error!(episode, "ask-first question's rule is unreadable; lapsed");
                }
            }
            Decision::AskLater {
                episode,
                until,
                tell_if_unanswered,
            } => {
                let (env, buttons) = words.ask_later(episode, until, tell_if_unanswered);
                tx.register_buttons(&buttons, now).await?;
                out.push(env);
            }
            Decision::Reply(notice) => out.push(words.notice(notice)),
        }
    }
    Ok(out)
}

/// Queues a message that cannot travel in the `Vec<Envelope>` callers queue: one held until
/// `not_before` (quiet hours), or sent only while `consent` stands (cancelled if it is
/// revoked, checked again at sending). An alert's row id is written to the alert in this
/// same transaction (escalation follows its delivery). Returns the row's id.
///
/// These are the only messages early warning queues itself; the rest are returned. Until
/// the callers' outbox takes a consent and a time with each message, they stay here.
async fn queue(
    tx: &mut Work,
    m: &Who,
    env: &Envelope,
    consent: Option<i64>,
    not_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    Ok(match consent {
        Some(c) => tx.enqueue_consented(env, c, m.id, now, not_before).await?,
        None => {
            tx.enqueue_at(std::slice::from_ref(env), None, now, not_before)
                .await?[0]
        }
    }
    .0)
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
        let reason = reason_of(&due.evidence);
        let decisions = decide::escalation(&m, &due, &plan, &reason, ctx.now);
        out.extend(apply(tx, &m, decisions, ctx).await?);
    }
    for ask in tx.due_asks(ctx.now).await? {
        out.extend(answer_ask(tx, ask.member, ask.episode, None, true, ctx).await?);
    }
    Ok(out)
}

/// Why an episode fired, from its stored evidence.
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
    let Some((owner, rule_id, evidence)) = tx.episode_evidence(episode).await? else {
        return Ok(Vec::new());
    };
    if owner != member {
        return Ok(Vec::new());
    }
    let Some(m) = who(tx, member, ctx).await? else {
        return Ok(Vec::new());
    };
    let rules = tx.member_plan(member).await?;
    let state = tx.episode_state(episode).await?;
    let open = tx.open_episode(member, &rule_id).await?;
    let q = Question {
        episode,
        rule: rules.iter().find(|r| r.rule_id == rule_id),
        reason: reason_of(&evidence),
        state,
        open: open.is_some_and(|o| o.id == episode),
        ask_until: tx.episode_ask_until(episode).await?,
    };
    let decisions = decide::answer(&q, tell_them, timed_out);
    apply(tx, &m, decisions, ctx).await
}

/// An ask-first answer pressed when the question is over: the member hears what became of
/// it (see [`decide::pressed_again`]).
async fn pressed_again(
    tx: &mut Work,
    member: MemberId,
    episode: i64,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let Some(m) = who(tx, member, ctx).await? else {
        return Ok(Vec::new());
    };
    let owner = tx.episode_evidence(episode).await?.map(|e| e.0);
    let state = tx.episode_state(episode).await?;
    let notice = decide::pressed_again(state, owner == Some(member));
    apply(tx, &m, vec![Decision::Reply(notice)], ctx).await
}

/// A supporter acknowledged an alert: the member hears that someone is on it (if they
/// asked to).
pub async fn acknowledged(
    tx: &mut Work,
    alert: i64,
    ctx: &Ctx<'_>,
) -> anyhow::Result<Vec<Envelope>> {
    let Some((member_chat, supporter, how)) = tx.acked_alert(alert).await? else {
        return Ok(Vec::new());
    };
    Ok(vec![render::acknowledged(
        ctx.content,
        member_chat,
        &supporter,
        &how,
    )])
}
