//! What early warning decides, as pure functions over plain data: after a member's history
//! changes, what becomes of each sign's episode; whom a firing tells, at which tier, and
//! when; what an escalation, or the member's answer to an ask-first question, sets off.
//! No store, no clock but `now`, no message texts: `render` words the decisions, `mod.rs`
//! reads what they need and applies them.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::Who;
use crate::domain::circle::Role;
use crate::domain::states::EpisodeState;
use crate::domain::{ChatId, UserId};
use crate::rules::{self, CheckIn, Evidence, Outcome, Template, Tier};
use crate::schedule::QuietHours;
use crate::store::{DueEscalation, Plan, PlanRule, Recipient, UnreadableRule};

/// A rule re-arms after this many clear check-ins in a row.
pub const REARM_AFTER: u32 = 2;
/// And never fires twice within this.
pub const COOLDOWN: Duration = Duration::hours(72);

/// One thing early warning does, in the order it is to be done.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A sign whose stored settings cannot be read is off: the member is told, once, not
    /// before `not_before` (the end of their quiet hours: it is not urgent).
    Unreadable {
        rule: UnreadableRule,
        not_before: DateTime<Utc>,
    },
    /// The sign has been clear long enough: its episode closes and it re-arms.
    Rearm { episode: i64 },
    /// A flag said again in a later check-in: its open episode closes, a new one opens next.
    SaidAgain { episode: i64 },
    /// A new episode of a sign, and why. With `ask_until` the member is asked first (until
    /// then); without, the people they chose are told at once (see [`opened`]).
    OpenEpisode {
        rule_id: String,
        tier: Tier,
        reason: String,
        evidence: Evidence,
        ask_until: Option<DateTime<Utc>>,
    },
    /// Tell the people the member chose for `tier` (step 0), or the next supporter (an
    /// escalation, step ≥ 1): whom exactly is decided once they are read (see [`tell`]).
    Tell {
        episode: i64,
        rule_id: String,
        tier: Tier,
        step: i64,
        reason: String,
    },
    /// Ask the member before anyone is told: `people` are those they are asked about; the
    /// buttons (Yes / No / Not now) work until `expires`.
    AskFirst {
        episode: i64,
        people: Vec<String>,
        expires: DateTime<Utc>,
    },
    /// The member's own self-help message, once per episode, held to the end of their
    /// quiet hours.
    SelfHelp {
        episode: i64,
        not_before: DateTime<Utc>,
    },
    /// A carer's nudge, once per episode, on its consent, held to the end of the carer's
    /// quiet hours.
    Nudge {
        episode: i64,
        to: To,
        consent: i64,
        not_before: DateTime<Utc>,
    },
    /// An alert to one supporter, once per episode, on its consent, with Acknowledge
    /// buttons; escalating at `escalate_at` if nobody acknowledges (alert tier only);
    /// `silent` in the supporter's quiet hours (never when urgent).
    Alert {
        episode: i64,
        to: To,
        consent: i64,
        tier: Tier,
        step: i64,
        escalate_at: Option<DateTime<Utc>>,
        silent: bool,
    },
    /// Nobody (else) can be told: the member hears who was told and that nobody has replied
    /// yet, or (nobody told) that nobody is available; `with_card`: the crisis card in the
    /// same message.
    Nobody { told: Vec<String>, with_card: bool },
    /// The crisis card, to the member, at once.
    CrisisCard,
    /// The member's answer moves their ask-first question from one state to another (and
    /// nothing more happens if it is no longer there).
    Answer {
        episode: i64,
        from: EpisodeState,
        to: EpisodeState,
    },
    /// A question still waiting whose sign is gone (turned off, unreadable) lapses.
    Lapse { episode: i64 },
    /// "Not now": the question waits until `until`; fresh Yes / No buttons to answer it.
    AskLater {
        episode: i64,
        until: DateTime<Utc>,
        tell_if_unanswered: bool,
    },
    /// A short reply to the member about their question.
    Reply(Notice),
}

/// Someone in the member's circle a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct To {
    pub tie: i64,
    pub chat: ChatId,
    pub user: UserId,
}

/// What the member hears after pressing an ask-first answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The question is over (told already, lapsed, its sign turned off).
    QuestionPassed,
    /// "I've let them know."
    Told,
    /// "I won't tell anyone this time."
    NotTold,
    /// A second yes: "I've already let them know."
    AlreadyTold,
}

/// What evaluating a member's plan reads.
pub struct Evaluation<'a> {
    pub member: &'a Who,
    /// Rules whose stored settings cannot be read.
    pub unreadable: &'a [UnreadableRule],
    /// The readable rules, each with its episodes.
    pub signs: &'a [Sign<'a>],
    pub history: &'a [CheckIn],
    pub templates: &'a BTreeMap<String, Template>,
    pub now: DateTime<Utc>,
}

/// One rule of the member's plan with what is stored about its episodes.
pub struct Sign<'a> {
    pub rule: &'a PlanRule,
    pub open: Option<Open>,
    /// When its latest episode opened (for the cooldown).
    pub last_fired: Option<DateTime<Utc>>,
}

/// A sign's open episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    pub id: i64,
    pub opened_at: DateTime<Utc>,
    /// Someone in the circle has been sent something in it.
    pub anyone_told: bool,
    /// When its ask-first question runs out, while it is still being asked.
    pub ask_until: Option<DateTime<Utc>>,
}

/// Who may hear about one episode: the sign's recipients at its tier, in the member's
/// order, and (alert tier) the ties already sent something in it and the names of those
/// still in the circle.
#[derive(Clone, Copy)]
pub struct People<'a> {
    pub recipients: &'a [Recipient],
    pub done: &'a [i64],
    pub told: &'a [String],
}

/// An ask-first question as stored when the member answers it (or its time runs out).
pub struct Question<'a> {
    pub episode: i64,
    /// The sign it asks about, while it is in the plan and readable.
    pub rule: Option<&'a PlanRule>,
    /// Why it fired.
    pub reason: String,
    /// Where its episode is (`None`: no such episode, or its stored state cannot be read).
    pub state: Option<EpisodeState>,
    pub open: bool,
    /// When it runs out, while it is being asked.
    pub ask_until: Option<DateTime<Utc>>,
}

impl Question<'_> {
    fn in_state(&self, state: EpisodeState) -> bool {
        self.open && self.state == Some(state)
    }
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

/// Each unreadable sign: the member is told (the first time), after their quiet hours.
pub fn unreadable(m: &Who, rules: &[UnreadableRule], now: DateTime<Utc>) -> Vec<Decision> {
    rules
        .iter()
        .map(|u| Decision::Unreadable {
            rule: u.clone(),
            not_before: m.quiet.next_allowed(now, m.tz),
        })
        .collect()
}

/// The member's whole plan after their history changed: once per episode, re-arming after
/// [`REARM_AFTER`] clear check-ins, never within [`COOLDOWN`] — except that "I don't feel
/// safe" said again in a later check-in is heard again at once.
pub fn after_history(e: &Evaluation) -> Vec<Decision> {
    let (m, history, now) = (e.member, e.history, e.now);
    let mut out = unreadable(m, e.unreadable, now);
    for sign in e.signs {
        let rule = sign.rule;
        let Some(t) = e.templates.get(&rule.rule_id) else {
            continue;
        };
        let d = rules::evaluate(t, &rule.params, history, now, e.templates);
        let mut open = sign.open.as_ref();
        let latest = history.iter().rfind(|c| answered(c));
        // "I don't feel safe" said again, in a later check-in, is a new episode at once:
        // every such answer is heard (no re-arming, no cooldown).
        let flagged = t.kind == rules::Kind::Flagged;
        // A question still waiting when it is said again keeps its time: saying it again
        // never puts off when supporters are told.
        let mut ask_by = None;
        if let Some(o) = open
            && flagged
            && d.firing
            && latest.is_some_and(|c| c.at > o.opened_at)
        {
            // Except below "at once": an alert or nudge that has gone out stands — its
            // supporter is not told twice, and its escalation keeps its time.
            if rule.tier != Tier::Urgent && o.anyone_told {
                continue;
            }
            ask_by = o.ask_until;
            out.push(Decision::SaidAgain { episode: o.id });
            open = None;
        }
        // Only an answered check-in can count towards re-arming.
        if open.is_some() && !d.firing && !history.last().is_some_and(answered) {
            continue;
        }
        let episode = rules::Episode {
            open: open.is_some(),
            clear_streak: clear_before(
                t,
                &rule.params,
                history,
                open.map(|o| o.opened_at),
                e.templates,
            ),
            last_fired: if flagged { None } else { sign.last_fired },
        };
        let (_, step) = rules::advance(episode, d.firing, now, REARM_AFTER, COOLDOWN);
        match (step, open) {
            (rules::Step::Rearm, Some(o)) => out.push(Decision::Rearm { episode: o.id }),
            (rules::Step::Fire, _) => {
                let ask = rule.ask_first && matches!(rule.tier, Tier::Nudge | Tier::Alert);
                let fresh = now + Duration::hours(m.settings.ask_hours.clamp(1, 24));
                let until = ask_by.map_or(fresh, |by| by.min(fresh));
                out.push(Decision::OpenEpisode {
                    rule_id: rule.rule_id.clone(),
                    tier: rule.tier,
                    reason: t.explain(&rule.params),
                    evidence: d.evidence,
                    ask_until: ask.then_some(until),
                });
            }
            _ => {}
        }
    }
    out
}

/// What follows a new episode: the member is asked first, or the people are told.
pub fn opened(
    m: &Who,
    episode: i64,
    tier: Tier,
    ask: bool,
    people: People,
    now: DateTime<Utc>,
) -> Vec<Decision> {
    if !ask {
        return tell(m, episode, tier, 0, people, now);
    }
    vec![Decision::AskFirst {
        episode,
        people: people
            .recipients
            .iter()
            .filter(|r| eligible(r, tier))
            .map(|r| r.name.clone())
            .collect(),
        expires: now + Duration::hours(m.settings.ask_hours.clamp(1, 24) + 1),
    }]
}

/// Whom a rule at `tier` may reach: the right role, a standing consent, reachable.
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
    match r.own_quiet {
        Some((tz, quiet)) => (quiet, tz),
        None => (QuietHours::default(), chrono_tz::Europe::London),
    }
}

fn to(r: &Recipient) -> To {
    To {
        tie: r.tie,
        chat: r.chat,
        user: r.user,
    }
}

/// Tells the people the member chose for `tier` (step 0), or the next supporter (an
/// escalation, step ≥ 1).
pub fn tell(
    m: &Who,
    episode: i64,
    tier: Tier,
    step: i64,
    people: People,
    now: DateTime<Utc>,
) -> Vec<Decision> {
    match tier {
        Tier::SelfHelp => vec![Decision::SelfHelp {
            episode,
            not_before: m.quiet.next_allowed(now, m.tz),
        }],
        // Never in the carer's quiet hours (their own, or UK nights).
        Tier::Nudge => people
            .recipients
            .iter()
            .filter(|r| eligible(r, Tier::Nudge) && !r.away)
            .filter_map(|r| {
                let (quiet, tz) = quiet_of(r);
                Some(Decision::Nudge {
                    episode,
                    to: to(r),
                    consent: r.consent?,
                    not_before: quiet.next_allowed(now, tz),
                })
            })
            .collect(),
        Tier::Alert => {
            // The first available supporter in the member's order; away and unreachable
            // people are skipped at once.
            let next = people
                .recipients
                .iter()
                .find(|r| eligible(r, Tier::Alert) && !r.away && !people.done.contains(&r.tie));
            match next {
                Some(r) => alert(m, r, episode, Tier::Alert, step, now)
                    .into_iter()
                    .collect(),
                // Nobody (else): the member hears the truth, with the crisis card straight
                // after it. After an escalation (the scheduler's) the two are one message:
                // routine messages queued at that moment (a 19:00 check-in) could
                // otherwise arrive between them.
                None if step > 0 => vec![Decision::Nobody {
                    told: people.told.to_vec(),
                    with_card: true,
                }],
                None => vec![
                    Decision::Nobody {
                        told: people.told.to_vec(),
                        with_card: false,
                    },
                    Decision::CrisisCard,
                ],
            }
        }
        Tier::Urgent => {
            // Everyone who can hear, at once; not those who are away (as for alerts). When
            // nobody can, the member is told so, above the card.
            let reach: Vec<&Recipient> = people
                .recipients
                .iter()
                .filter(|r| eligible(r, Tier::Urgent) && !r.away)
                .collect();
            let mut out = Vec::new();
            if reach.is_empty() {
                out.push(Decision::Nobody {
                    told: Vec::new(),
                    with_card: false,
                });
            }
            // The member always gets the crisis card at once.
            out.push(Decision::CrisisCard);
            out.extend(
                reach
                    .into_iter()
                    .filter_map(|r| alert(m, r, episode, Tier::Urgent, 0, now)),
            );
            out
        }
    }
}

/// One alert to one supporter, on its consent; without sound in their quiet hours (their
/// own if they are a member too, else UK nights), unless urgent.
fn alert(
    m: &Who,
    r: &Recipient,
    episode: i64,
    tier: Tier,
    step: i64,
    now: DateTime<Utc>,
) -> Option<Decision> {
    let (quiet, tz) = quiet_of(r);
    Some(Decision::Alert {
        episode,
        to: to(r),
        consent: r.consent?,
        tier,
        step,
        escalate_at: (tier == Tier::Alert)
            .then_some(now + Duration::hours(m.settings.escalate_hours.clamp(1, 72))),
        silent: tier != Tier::Urgent && quiet.contains(now, tz),
    })
}

/// An alert nobody acknowledged in time (marked escalated): the next supporter, at the
/// sign's tier now, one step on — unless the sign was turned off meanwhile or cannot be
/// read (the member is told of that).
pub fn escalation(
    m: &Who,
    due: &DueEscalation,
    plan: &Plan,
    reason: &str,
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let mut out = unreadable(m, &plan.unreadable, now);
    if let Some(rule) = plan.rules.iter().find(|r| r.rule_id == due.rule_id) {
        out.push(Decision::Tell {
            episode: due.episode,
            rule_id: rule.rule_id.clone(),
            tier: rule.tier,
            step: due.step + 1,
            reason: reason.to_string(),
        });
    }
    out
}

/// The member answered an ask-first question (`tell_them`: yes, no, or "not now"), or
/// (`timed_out`) did not answer in time and their advance decision applies.
pub fn answer(q: &Question, tell_them: Option<bool>, timed_out: bool) -> Vec<Decision> {
    let episode = q.episode;
    let Some(rule) = q.rule else {
        // The sign was turned off (its episode cancelled), or its stored settings cannot be
        // read. A question still waiting for its time would stay due for ever: it lapses.
        return match (timed_out, q.in_state(EpisodeState::Asking)) {
            (false, _) => vec![Decision::Reply(Notice::QuestionPassed)],
            (true, true) => vec![Decision::Lapse { episode }],
            (true, false) => Vec::new(),
        };
    };
    let decision = match (tell_them, timed_out) {
        (Some(d), _) => Some(d),
        (None, true) => Some(rule.tell_if_unanswered),
        (None, false) => None, // "not now": wait for the time to run out
    };
    let reply = |n| (!timed_out).then_some(Decision::Reply(n));
    match decision {
        // The question stays open until its time; fresh buttons to answer it later.
        None => vec![match q.ask_until {
            Some(until) => Decision::AskLater {
                episode,
                until,
                tell_if_unanswered: rule.tell_if_unanswered,
            },
            None => Decision::Reply(Notice::QuestionPassed),
        }],
        Some(true) => {
            // A yes is heard while the episode lasts, even after the wait ran out on
            // "don't tell them" (their keyboard stays live an hour past it).
            let from = if q.in_state(EpisodeState::Asking) {
                Some(EpisodeState::Asking)
            } else if !timed_out && q.in_state(EpisodeState::NotTold) {
                Some(EpisodeState::NotTold)
            } else {
                None
            };
            let Some(from) = from else {
                // Told already, or lapsed (the episode ended, or a new one asks now).
                return reply(pressed_again(q.state, true)).into_iter().collect();
            };
            let mut out = vec![
                Decision::Answer {
                    episode,
                    from,
                    to: EpisodeState::Told,
                },
                Decision::Tell {
                    episode,
                    rule_id: rule.rule_id.clone(),
                    tier: rule.tier,
                    step: 0,
                    reason: q.reason.clone(),
                },
            ];
            out.extend(reply(Notice::Told));
            out
        }
        Some(false) if q.in_state(EpisodeState::Asking) => {
            let mut out = vec![Decision::Answer {
                episode,
                from: EpisodeState::Asking,
                to: EpisodeState::NotTold,
            }];
            out.extend(reply(Notice::NotTold));
            out
        }
        Some(false) => reply(Notice::QuestionPassed).into_iter().collect(),
    }
}

/// An ask-first answer pressed when the question is over (a double tap, a tap on the
/// collapsed keyboard, or a question told or lapsed meanwhile): nothing changes; the member
/// hears what became of it. `theirs`: the question was about this member.
pub fn pressed_again(state: Option<EpisodeState>, theirs: bool) -> Notice {
    match state {
        Some(EpisodeState::Told) if theirs => Notice::AlreadyTold,
        _ => Notice::QuestionPassed,
    }
}
