//! Early warning's decisions as a table, with no database: a member's sign, history,
//! episodes and circle in, the exact decisions out. A row's firing is followed, as `apply`
//! follows it, by whom it reaches (`decide::opened`, `decide::tell`).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use super::Who;
use super::decide::*;
use crate::domain::circle::Role;
use crate::domain::states::EpisodeState;
use crate::domain::{ChatId, MemberId, UserId};
use crate::rules::{CheckIn, Evidence, Outcome, Template, Tier};
use crate::schedule::QuietHours;
use crate::store::{DueEscalation, Plan, PlanRule, PlanSettings, Recipient, UnreadableRule};

/// The episode a firing opens, and one already open.
const NEW: i64 = 70;
const OLD: i64 = 60;
const LOW_MOOD: &str = "mood 3 or lower on 3 check-ins in a row";
const NOT_SAFE: &str = "the answer “I don't feel safe”";

fn templates() -> BTreeMap<String, Template> {
    let dir = crate::content::shipped_dialogs_dir();
    let catalog = crate::dialog::load_dir(&dir)
        .catalog
        .expect("shipped dialogs load");
    crate::rules::load_rules(&dir, &catalog)
        .0
        .expect("shipped rules load")
}

/// Day `i` of the history, 19:00 in London (GMT in early March).
fn day(i: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 19, 0, 0).unwrap() + Duration::days(i)
}

fn date(i: i64) -> NaiveDate {
    day(i).date_naive()
}

/// Five minutes after day `i`'s check-in (outside quiet hours), or four hours after (23:00,
/// inside the default 22:00–08:00).
fn soon(i: i64) -> DateTime<Utc> {
    day(i) + Duration::minutes(5)
}
fn late(i: i64) -> DateTime<Utc> {
    day(i) + Duration::hours(4)
}
/// 08:00 the next morning, when the default quiet hours end.
fn morning(i: i64) -> DateTime<Utc> {
    day(i) + Duration::hours(13)
}

/// One check-in a day: a number is a mood answer, `!` "I don't feel safe", `m` missed.
fn history(symbols: &str) -> Vec<CheckIn> {
    symbols
        .split_whitespace()
        .enumerate()
        .map(|(i, s)| {
            let (outcome, values, flags) = match s {
                "m" => (Outcome::Missed, BTreeMap::new(), vec![]),
                "!" => (
                    Outcome::Completed,
                    BTreeMap::new(),
                    vec!["not_safe".to_string()],
                ),
                v => (
                    Outcome::Completed,
                    BTreeMap::from([("mood".to_string(), v.parse::<f64>().unwrap())]),
                    vec![],
                ),
            };
            CheckIn {
                at: day(i as i64),
                date: date(i as i64),
                outcome,
                values,
                flags,
            }
        })
        .collect()
}

fn alex() -> Who {
    Who {
        id: MemberId(1),
        chat: ChatId(101),
        user: UserId(101),
        name: "Alex".into(),
        tz: chrono_tz::Europe::London,
        quiet: QuietHours::default(),
        settings: PlanSettings::default(),
    }
}

fn person(tie: i64, name: &str, role: Role) -> Recipient {
    Recipient {
        tie,
        chat: ChatId(200 + tie),
        user: UserId(200 + tie),
        name: name.into(),
        role,
        away: false,
        unreachable: false,
        consent: Some(100 + tie),
        own_quiet: None,
    }
}
fn sam() -> Recipient {
    person(1, "Sam", Role::Supporter)
}
fn jo() -> Recipient {
    person(2, "Jo", Role::Supporter)
}
fn kim() -> Recipient {
    person(3, "Kim", Role::Carer)
}
fn to(r: &Recipient) -> To {
    To {
        tie: r.tie,
        chat: r.chat,
        user: r.user,
    }
}

fn rule(id: &str, tier: Tier, ask_first: bool, tell_if_unanswered: bool) -> PlanRule {
    PlanRule {
        rule_id: id.into(),
        params: templates()[id].defaults(),
        tier,
        ask_first,
        tell_if_unanswered,
    }
}
fn low_mood(tier: Tier) -> PlanRule {
    rule("low_mood_run", tier, false, true)
}
fn not_safe(tier: Tier) -> PlanRule {
    rule("not_safe", tier, false, true)
}

fn open(id: i64, opened_at: DateTime<Utc>) -> Open {
    Open {
        id,
        opened_at,
        anyone_told: false,
        ask_until: None,
    }
}

/// What a row asks decide.
enum Ask {
    /// The member's history changed.
    History(Hist),
    /// An alert of episode `OLD` at `step` was not acknowledged in time.
    Escalation { rule: Option<PlanRule>, step: i64 },
    /// The member answered (or did not) an ask-first question of episode `OLD`.
    Answer(Asked),
}

/// One sign, its history and episodes.
struct Hist {
    rule: PlanRule,
    history: &'static str,
    open: Option<Open>,
    last_fired: Option<DateTime<Utc>>,
    unreadable: Vec<UnreadableRule>,
}

/// An ask-first question of episode `OLD`, and the answer.
struct Asked {
    rule: Option<PlanRule>,
    state: EpisodeState,
    open: bool,
    ask_until: Option<DateTime<Utc>>,
    tell_them: Option<bool>,
    timed_out: bool,
}

struct Row {
    name: &'static str,
    ask: Ask,
    now: DateTime<Utc>,
    /// The sign's recipients at its tier, in the member's order.
    circle: Vec<Recipient>,
    /// Ties already sent something in the episode, and the names of those told.
    done: Vec<i64>,
    told: Vec<&'static str>,
    want: Vec<Decision>,
}

impl Default for Row {
    fn default() -> Self {
        Row {
            name: "",
            ask: Ask::Escalation {
                rule: None,
                step: 0,
            },
            now: soon(3),
            circle: vec![sam(), jo()],
            done: vec![],
            told: vec![],
            want: vec![],
        }
    }
}

/// What `apply` would do, without the store: every decision, each episode opened or told
/// followed by whom it reaches.
fn run(row: &Row, templates: &BTreeMap<String, Template>) -> Vec<Decision> {
    let m = alex();
    let now = row.now;
    let first = match &row.ask {
        Ask::History(Hist {
            rule,
            history: symbols,
            open,
            last_fired,
            unreadable,
        }) => {
            let h = history(symbols);
            let signs = [Sign {
                rule,
                open: open.clone(),
                last_fired: *last_fired,
            }];
            after_history(&Evaluation {
                member: &m,
                unreadable,
                signs: &signs,
                history: &h,
                templates,
                now,
            })
        }
        Ask::Escalation { rule, step } => {
            let due = DueEscalation {
                alert: 5,
                episode: OLD,
                member: m.id,
                rule_id: "low_mood_run".into(),
                tier: Tier::Alert,
                step: *step,
                evidence: String::new(),
            };
            let plan = Plan {
                rules: rule.iter().cloned().collect(),
                unreadable: vec![],
            };
            escalation(&m, &due, &plan, LOW_MOOD, now)
        }
        Ask::Answer(Asked {
            rule,
            state,
            open,
            ask_until,
            tell_them,
            timed_out,
        }) => {
            let q = Question {
                episode: OLD,
                rule: rule.as_ref(),
                reason: LOW_MOOD.into(),
                state: Some(*state),
                open: *open,
                ask_until: *ask_until,
            };
            answer(&q, *tell_them, *timed_out)
        }
    };
    let told: Vec<String> = row.told.iter().map(|s| s.to_string()).collect();
    let people = People {
        recipients: &row.circle,
        done: &row.done,
        told: &told,
    };
    let mut out = Vec::new();
    for d in first {
        let next = match &d {
            Decision::OpenEpisode {
                tier, ask_until, ..
            } => opened(&m, NEW, *tier, ask_until.is_some(), people, now),
            Decision::Tell {
                episode,
                tier,
                step,
                ..
            } => tell(&m, *episode, *tier, *step, people, now),
            _ => Vec::new(),
        };
        out.push(d);
        out.extend(next);
    }
    out
}

fn opens(rule_id: &str, tier: Tier, reason: &str, evidence: Evidence) -> Decision {
    opens_asking(rule_id, tier, reason, evidence, None)
}
fn opens_asking(
    rule_id: &str,
    tier: Tier,
    reason: &str,
    evidence: Evidence,
    ask_until: Option<DateTime<Utc>>,
) -> Decision {
    Decision::OpenEpisode {
        rule_id: rule_id.into(),
        tier,
        reason: reason.into(),
        evidence,
        ask_until,
    }
}
/// The low-mood sign opening an episode on moods `points` (days 1–3).
fn low_mood_opens(tier: Tier, ask_until: Option<DateTime<Utc>>) -> Decision {
    let evidence = moods(&[(1, 2.0), (2, 3.0), (3, 2.0)]);
    opens_asking("low_mood_run", tier, LOW_MOOD, evidence, ask_until)
}
fn moods(points: &[(i64, f64)]) -> Evidence {
    Evidence {
        points: points.iter().map(|(i, v)| (date(*i), *v)).collect(),
        ..Evidence::default()
    }
}
/// "I don't feel safe" on day `i`.
fn flagged_on(i: i64) -> Evidence {
    moods(&[(i, 0.0)])
}
fn alert(
    episode: i64,
    r: &Recipient,
    tier: Tier,
    step: i64,
    now: DateTime<Utc>,
    silent: bool,
) -> Decision {
    Decision::Alert {
        episode,
        to: to(r),
        consent: r.consent.unwrap(),
        tier,
        step,
        escalate_at: (tier == Tier::Alert).then_some(now + Duration::hours(12)),
        silent,
    }
}
fn nobody_available() -> Vec<Decision> {
    vec![
        Decision::Nobody {
            told: vec![],
            with_card: false,
        },
        Decision::CrisisCard,
    ]
}
fn told(step: i64, tier: Tier) -> Decision {
    Decision::Tell {
        episode: OLD,
        rule_id: "low_mood_run".into(),
        tier,
        step,
        reason: LOW_MOOD.into(),
    }
}
fn answered_state(from: EpisodeState, to: EpisodeState) -> Decision {
    Decision::Answer {
        episode: OLD,
        from,
        to,
    }
}

fn history_of(rule: PlanRule, symbols: &'static str) -> Hist {
    Hist {
        rule,
        history: symbols,
        open: None,
        last_fired: None,
        unreadable: vec![],
    }
}

fn rows() -> Vec<Row> {
    let away = |mut r: Recipient| {
        r.away = true;
        r
    };
    let withdrawn = |mut r: Recipient| {
        r.consent = None;
        r
    };
    let asking = |state, tell_them, timed_out, tell_if_unanswered| Asked {
        rule: Some(rule("low_mood_run", Tier::Alert, true, tell_if_unanswered)),
        state,
        open: true,
        ask_until: (state == EpisodeState::Asking).then_some(soon(3) + Duration::hours(2)),
        tell_them,
        timed_out,
    };
    vec![
        Row {
            name: "two low check-ins are not yet a run of three: nothing",
            ask: Ask::History(history_of(low_mood(Tier::Alert), "6 2 3")),
            now: soon(2),
            ..Row::default()
        },
        Row {
            name: "a sign firing for the first time opens an episode and alerts the first supporter in order",
            ask: Ask::History(history_of(low_mood(Tier::Alert), "6 2 3 2")),
            want: vec![
                low_mood_opens(Tier::Alert, None),
                alert(NEW, &sam(), Tier::Alert, 0, soon(3), false),
            ],
            ..Row::default()
        },
        Row {
            name: "the same episode goes on: no second alert",
            ask: Ask::History(Hist {
                open: Some(open(OLD, soon(3))),
                ..history_of(low_mood(Tier::Alert), "6 2 3 2 1")
            }),
            now: soon(4),
            ..Row::default()
        },
        Row {
            name: "one clear check-in does not re-arm",
            ask: Ask::History(Hist {
                open: Some(open(OLD, soon(3))),
                ..history_of(low_mood(Tier::Alert), "6 2 3 2 7")
            }),
            now: soon(4),
            ..Row::default()
        },
        Row {
            name: "REARM_AFTER clear check-ins re-arm: the episode closes",
            ask: Ask::History(Hist {
                open: Some(open(OLD, soon(3))),
                ..history_of(low_mood(Tier::Alert), "6 2 3 2 7 8")
            }),
            now: soon(5),
            want: vec![Decision::Rearm { episode: OLD }],
            ..Row::default()
        },
        Row {
            name: "a missed check-in never counts towards re-arming",
            ask: Ask::History(Hist {
                open: Some(open(OLD, soon(3))),
                ..history_of(low_mood(Tier::Alert), "6 2 3 2 7 m")
            }),
            now: soon(5),
            ..Row::default()
        },
        Row {
            name: "re-armed but within the cooldown of its last firing: nothing",
            ask: Ask::History(Hist {
                last_fired: Some(soon(3) - COOLDOWN + Duration::hours(1)),
                ..history_of(low_mood(Tier::Alert), "6 2 3 2")
            }),
            ..Row::default()
        },
        Row {
            name: "re-armed and past the cooldown: it fires again",
            ask: Ask::History(Hist {
                last_fired: Some(soon(3) - COOLDOWN),
                ..history_of(low_mood(Tier::Alert), "6 2 3 2")
            }),
            want: vec![
                low_mood_opens(Tier::Alert, None),
                alert(NEW, &sam(), Tier::Alert, 0, soon(3), false),
            ],
            ..Row::default()
        },
        Row {
            name: "a supporter whose consent was withdrawn is not told; nobody else: the member hears so, with the card",
            ask: Ask::History(history_of(low_mood(Tier::Alert), "6 2 3 2")),
            circle: vec![withdrawn(sam())],
            want: [vec![low_mood_opens(Tier::Alert, None)], nobody_available()].concat(),
            ..Row::default()
        },
        Row {
            name: "an alert skips a carer, even one first in the member's order",
            ask: Ask::History(history_of(low_mood(Tier::Alert), "6 2 3 2")),
            circle: vec![kim(), sam()],
            want: vec![
                low_mood_opens(Tier::Alert, None),
                alert(NEW, &sam(), Tier::Alert, 0, soon(3), false),
            ],
            ..Row::default()
        },
        Row {
            name: "a nudge goes to every carer who can hear, never to a supporter",
            ask: Ask::History(history_of(low_mood(Tier::Nudge), "6 2 3 2")),
            circle: vec![sam(), kim()],
            want: vec![
                low_mood_opens(Tier::Nudge, None),
                Decision::Nudge {
                    episode: NEW,
                    to: to(&kim()),
                    consent: 103,
                    not_before: soon(3),
                },
            ],
            ..Row::default()
        },
        Row {
            name: "a nudge in the carer's quiet hours (UK nights) is held until they end",
            ask: Ask::History(history_of(low_mood(Tier::Nudge), "6 2 3 2")),
            now: late(3),
            circle: vec![kim()],
            want: vec![
                low_mood_opens(Tier::Nudge, None),
                Decision::Nudge {
                    episode: NEW,
                    to: to(&kim()),
                    consent: 103,
                    not_before: morning(3),
                },
            ],
            ..Row::default()
        },
        Row {
            name: "a carer who is a member too is held to the end of their own quiet hours",
            ask: Ask::History(history_of(low_mood(Tier::Nudge), "6 2 3 2")),
            now: late(3),
            circle: vec![Recipient {
                own_quiet: Some((
                    chrono_tz::Europe::London,
                    QuietHours::from_stored("21:00", "06:30"),
                )),
                ..kim()
            }],
            want: vec![
                low_mood_opens(Tier::Nudge, None),
                Decision::Nudge {
                    episode: NEW,
                    to: to(&kim()),
                    consent: 103,
                    not_before: morning(3) - Duration::minutes(90),
                },
            ],
            ..Row::default()
        },
        Row {
            name: "an alert in the supporter's quiet hours goes at once, without sound",
            ask: Ask::History(history_of(low_mood(Tier::Alert), "6 2 3 2")),
            now: late(3),
            want: vec![
                low_mood_opens(Tier::Alert, None),
                alert(NEW, &sam(), Tier::Alert, 0, late(3), true),
            ],
            ..Row::default()
        },
        Row {
            name: "self-help in the member's quiet hours is held until they end",
            ask: Ask::History(history_of(low_mood(Tier::SelfHelp), "6 2 3 2")),
            now: late(3),
            want: vec![
                low_mood_opens(Tier::SelfHelp, None),
                Decision::SelfHelp {
                    episode: NEW,
                    not_before: morning(3),
                },
            ],
            ..Row::default()
        },
        Row {
            name: "away and unreachable supporters are skipped: the next one is alerted",
            ask: Ask::History(history_of(low_mood(Tier::Alert), "6 2 3 2")),
            circle: vec![
                away(sam()),
                Recipient {
                    unreachable: true,
                    ..person(4, "Ali", Role::Both)
                },
                jo(),
            ],
            want: vec![
                low_mood_opens(Tier::Alert, None),
                alert(NEW, &jo(), Tier::Alert, 0, soon(3), false),
            ],
            ..Row::default()
        },
        Row {
            name: "urgent: every supporter who can hear, at once and with sound, after the member's card",
            ask: Ask::History(history_of(not_safe(Tier::Urgent), "6 !")),
            now: late(1),
            circle: vec![sam(), away(person(4, "Ali", Role::Supporter)), jo()],
            want: vec![
                opens("not_safe", Tier::Urgent, NOT_SAFE, flagged_on(1)),
                Decision::CrisisCard,
                alert(NEW, &sam(), Tier::Urgent, 0, late(1), false),
                alert(NEW, &jo(), Tier::Urgent, 0, late(1), false),
            ],
            ..Row::default()
        },
        Row {
            name: "urgent with everyone away: nobody is available, above the crisis card",
            ask: Ask::History(history_of(not_safe(Tier::Urgent), "6 !")),
            now: soon(1),
            circle: vec![away(sam())],
            want: [
                vec![opens("not_safe", Tier::Urgent, NOT_SAFE, flagged_on(1))],
                nobody_available(),
            ]
            .concat(),
            ..Row::default()
        },
        Row {
            name: "urgent said again in a later check-in: a new episode, heard again at once",
            ask: Ask::History(Hist {
                open: Some(Open {
                    anyone_told: true,
                    ..open(OLD, soon(0))
                }),
                ..history_of(not_safe(Tier::Urgent), "! !")
            }),
            now: soon(1),
            circle: vec![sam()],
            want: vec![
                Decision::SaidAgain { episode: OLD },
                opens("not_safe", Tier::Urgent, NOT_SAFE, flagged_on(1)),
                Decision::CrisisCard,
                alert(NEW, &sam(), Tier::Urgent, 0, soon(1), false),
            ],
            ..Row::default()
        },
        Row {
            name: "said again at the alert tier while its alert stands: nobody is told twice",
            ask: Ask::History(Hist {
                open: Some(Open {
                    anyone_told: true,
                    ..open(OLD, soon(0))
                }),
                ..history_of(not_safe(Tier::Alert), "! !")
            }),
            now: soon(1),
            ..Row::default()
        },
        Row {
            name: "ask first: the member is asked (about everyone eligible) before anyone is told",
            ask: Ask::History(history_of(
                rule("low_mood_run", Tier::Alert, true, true),
                "6 2 3 2",
            )),
            circle: vec![sam(), away(jo()), kim()],
            want: vec![
                low_mood_opens(Tier::Alert, Some(soon(3) + Duration::hours(2))),
                Decision::AskFirst {
                    episode: NEW,
                    people: vec!["Sam".into(), "Jo".into()],
                    expires: soon(3) + Duration::hours(3),
                },
            ],
            ..Row::default()
        },
        Row {
            name: "ask first does not apply to urgent signs: told at once",
            ask: Ask::History(history_of(
                rule("not_safe", Tier::Urgent, true, true),
                "6 !",
            )),
            now: soon(1),
            circle: vec![sam()],
            want: vec![
                opens("not_safe", Tier::Urgent, NOT_SAFE, flagged_on(1)),
                Decision::CrisisCard,
                alert(NEW, &sam(), Tier::Urgent, 0, soon(1), false),
            ],
            ..Row::default()
        },
        Row {
            name: "said again while still being asked: a new question that keeps the first one's time",
            ask: Ask::History(Hist {
                open: Some(Open {
                    ask_until: Some(soon(1) + Duration::hours(1)),
                    ..open(OLD, soon(0))
                }),
                ..history_of(rule("not_safe", Tier::Alert, true, true), "! !")
            }),
            now: soon(1),
            circle: vec![sam()],
            want: vec![
                Decision::SaidAgain { episode: OLD },
                opens_asking(
                    "not_safe",
                    Tier::Alert,
                    NOT_SAFE,
                    flagged_on(1),
                    Some(soon(1) + Duration::hours(1)),
                ),
                Decision::AskFirst {
                    episode: NEW,
                    people: vec!["Sam".into()],
                    expires: soon(1) + Duration::hours(3),
                },
            ],
            ..Row::default()
        },
        Row {
            name: "a sign whose settings cannot be read: the member is told, after their quiet hours",
            ask: Ask::History(Hist {
                unreadable: vec![UnreadableRule {
                    id: 9,
                    member: MemberId(1),
                    rule_id: "poor_sleep".into(),
                    consent: Some(8),
                }],
                ..history_of(low_mood(Tier::Alert), "6 7")
            }),
            now: late(1),
            want: vec![Decision::Unreadable {
                rule: UnreadableRule {
                    id: 9,
                    member: MemberId(1),
                    rule_id: "poor_sleep".into(),
                    consent: Some(8),
                },
                not_before: morning(1),
            }],
            ..Row::default()
        },
        Row {
            name: "an ask nobody answers, \"tell them if I don't answer\": the supporter is told",
            ask: Ask::Answer(asking(EpisodeState::Asking, None, true, true)),
            want: vec![
                answered_state(EpisodeState::Asking, EpisodeState::Told),
                told(0, Tier::Alert),
                alert(OLD, &sam(), Tier::Alert, 0, soon(3), false),
            ],
            ..Row::default()
        },
        Row {
            name: "an ask nobody answers, \"don't tell them\": nobody is told, nothing is said",
            ask: Ask::Answer(asking(EpisodeState::Asking, None, true, false)),
            want: vec![answered_state(EpisodeState::Asking, EpisodeState::NotTold)],
            ..Row::default()
        },
        Row {
            name: "yes: the supporter is told and the member hears so",
            ask: Ask::Answer(asking(EpisodeState::Asking, Some(true), false, true)),
            want: vec![
                answered_state(EpisodeState::Asking, EpisodeState::Told),
                told(0, Tier::Alert),
                alert(OLD, &sam(), Tier::Alert, 0, soon(3), false),
                Decision::Reply(Notice::Told),
            ],
            ..Row::default()
        },
        Row {
            name: "no: nobody is told",
            ask: Ask::Answer(asking(EpisodeState::Asking, Some(false), false, true)),
            want: vec![
                answered_state(EpisodeState::Asking, EpisodeState::NotTold),
                Decision::Reply(Notice::NotTold),
            ],
            ..Row::default()
        },
        Row {
            name: "not now: the question waits for its time, with fresh buttons",
            ask: Ask::Answer(asking(EpisodeState::Asking, None, false, true)),
            want: vec![Decision::AskLater {
                episode: OLD,
                until: soon(3) + Duration::hours(2),
                tell_if_unanswered: true,
            }],
            ..Row::default()
        },
        Row {
            name: "a late yes after the wait ran out on \"don't tell them\" is still heard",
            ask: Ask::Answer(asking(EpisodeState::NotTold, Some(true), false, false)),
            want: vec![
                answered_state(EpisodeState::NotTold, EpisodeState::Told),
                told(0, Tier::Alert),
                alert(OLD, &sam(), Tier::Alert, 0, soon(3), false),
                Decision::Reply(Notice::Told),
            ],
            ..Row::default()
        },
        Row {
            name: "a second yes: already told, nobody is told twice",
            ask: Ask::Answer(asking(EpisodeState::Told, Some(true), false, true)),
            want: vec![Decision::Reply(Notice::AlreadyTold)],
            ..Row::default()
        },
        Row {
            name: "a yes on a question whose episode closed: it has passed",
            ask: Ask::Answer(Asked {
                open: false,
                ..asking(EpisodeState::Lapsed, Some(true), false, true)
            }),
            want: vec![Decision::Reply(Notice::QuestionPassed)],
            ..Row::default()
        },
        Row {
            name: "a press on a question whose sign was turned off: it has passed",
            ask: Ask::Answer(Asked {
                rule: None,
                ..asking(EpisodeState::Asking, Some(true), false, true)
            }),
            want: vec![Decision::Reply(Notice::QuestionPassed)],
            ..Row::default()
        },
        Row {
            name: "a question whose sign was turned off: its time lapses it, nobody is told",
            ask: Ask::Answer(Asked {
                rule: None,
                ..asking(EpisodeState::Asking, None, true, true)
            }),
            want: vec![Decision::Lapse { episode: OLD }],
            ..Row::default()
        },
        Row {
            name: "no acknowledgement in time: the next supporter, marked as an escalation",
            ask: Ask::Escalation {
                rule: Some(low_mood(Tier::Alert)),
                step: 0,
            },
            now: soon(4),
            done: vec![1],
            told: vec!["Sam"],
            want: vec![
                told(1, Tier::Alert),
                alert(OLD, &jo(), Tier::Alert, 1, soon(4), false),
            ],
            ..Row::default()
        },
        Row {
            name: "no acknowledgement and nobody left: the member hears who was told, card in the same message",
            ask: Ask::Escalation {
                rule: Some(low_mood(Tier::Alert)),
                step: 1,
            },
            now: soon(4),
            done: vec![1, 2],
            told: vec!["Sam", "Jo"],
            want: vec![
                told(2, Tier::Alert),
                Decision::Nobody {
                    told: vec!["Sam".into(), "Jo".into()],
                    with_card: true,
                },
            ],
            ..Row::default()
        },
        Row {
            name: "an escalation whose sign was turned off meanwhile: nothing",
            ask: Ask::Escalation {
                rule: None,
                step: 0,
            },
            now: soon(4),
            ..Row::default()
        },
    ]
}

#[test]
fn each_row_decides_exactly_what_it_says() {
    let templates = templates();
    let rows = rows();
    assert!(rows.len() >= 15);
    for row in &rows {
        assert_eq!(run(row, &templates), row.want, "{}", row.name);
    }
}

#[test]
fn a_press_on_a_question_that_is_over_says_what_became_of_it() {
    assert_eq!(
        pressed_again(Some(EpisodeState::Told), true),
        Notice::AlreadyTold
    );
    assert_eq!(
        pressed_again(Some(EpisodeState::Told), false),
        Notice::QuestionPassed
    );
    assert_eq!(
        pressed_again(Some(EpisodeState::Lapsed), true),
        Notice::QuestionPassed
    );
    assert_eq!(pressed_again(None, true), Notice::QuestionPassed);
}
