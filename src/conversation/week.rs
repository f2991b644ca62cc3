//! `/week`: the member's own trends as a chart and in words. The processor loads the
//! member's history (`Person::history`) only for this command; this module decides what
//! to say, and hands the chart over as data ([`Outgoing::Chart`]), drawn at delivery.

use chrono::Duration;

use super::circle::{MENU_TTL, keyboard};
use super::{Change, Ctx, Member, Outcome, Person};
use crate::content::{Texts, fill};
use crate::domain::circle::{Action, TieStatus};
use crate::domain::{ChatId, Envelope, Lane, Outgoing};
use crate::week::{self, ChartLabels, DEFAULT_WEEKS, History, MIN_CHECKINS, WeekData};

pub fn command(o: &mut Outcome, person: &Person, m: &Member, args: &str, ctx: &Ctx) {
    let chat = person.chat;
    let t = &ctx.content.texts;
    let Some(weeks) = week::parse_weeks(args) else {
        o.reply(chat, Outgoing::text(&t.week_bad_args));
        return;
    };
    let none;
    let history = match &person.history {
        Some(h) => h,
        None => {
            // Not loaded: nothing to show (the processor always loads it for /week).
            let tz = m.timezone;
            none = History::build(&[], &[], tz, ctx.now, |_, _| None);
            &none
        }
    };
    if report(o, chat, history, weeks, t) {
        offer_sharing(o, person, m, weeks, ctx);
    }
}

/// After the chart: who it could be shared with (never automatically; each chart asks).
fn offer_sharing(o: &mut Outcome, person: &Person, m: &Member, weeks: u32, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let rows: Vec<Vec<(String, Action)>> = person
        .circle
        .iter()
        .filter(|tie| tie.status == TieStatus::Active)
        .map(|tie| {
            vec![(
                fill(&t.week_share_button, &[("name", &tie.name)]),
                Action::ShareWeek { tie: tie.id, weeks },
            )]
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let buttons = keyboard(o, ctx, m.telegram_user, Some(m.id), MENU_TTL, rows);
    o.reply(
        person.chat,
        Outgoing::with_buttons(&t.week_share_offer, buttons),
    );
}

/// A press on a sharing button: false if it no longer applies.
pub(super) fn press(o: &mut Outcome, person: &Person, action: &Action, ctx: &Ctx) -> bool {
    let t = &ctx.content.texts;
    let Some(m) = &person.member else {
        return false;
    };
    let chat = person.chat;
    match action {
        Action::ShareWeekNo => {
            o.reply(chat, Outgoing::text(&t.week_share_not_now));
            true
        }
        Action::ShareWeek { tie, weeks } => {
            let Some(tie) = active(person, *tie) else {
                return false;
            };
            let n = week::weeks_phrase(t, *weeks);
            let wording = fill(&t.week_share_confirm, &[("name", &tie.name), ("weeks", &n)]);
            let buttons = keyboard(
                o,
                ctx,
                m.telegram_user,
                Some(m.id),
                Duration::hours(1),
                vec![vec![
                    (
                        fill(&t.week_share_yes_button, &[("name", &tie.name)]),
                        Action::ShareWeekYes {
                            tie: tie.id,
                            weeks: *weeks,
                            wording: wording.clone(),
                            version: ctx.content.texts_version,
                        },
                    ),
                    (t.week_share_no_button.clone(), Action::ShareWeekNo),
                ]],
            );
            o.reply(chat, Outgoing::with_buttons(wording, buttons));
            true
        }
        Action::ShareWeekYes {
            tie,
            weeks,
            wording,
            version,
        } => {
            let (Some(tie), Some(history)) = (active(person, *tie), &person.history) else {
                return false;
            };
            let n = week::weeks_phrase(t, *weeks);
            let name = m.name_or(&t.default_name);
            // Only what the question they said yes to lists, titled with their name.
            let title = fill(&t.week_share_chart_title, &[("name", name), ("weeks", &n)]);
            let chart = WeekData::build(history, *weeks, ChartLabels::from_texts(t, *weeks))
                .for_sharing(title);
            if chart.checkins() < MIN_CHECKINS {
                return false;
            }
            o.changes.push(Change::ShareChart {
                tie: tie.id,
                wording: wording.clone(),
                version: *version,
                chart: Envelope {
                    chat: tie.chat,
                    lane: Lane::Reply,
                    body: Outgoing::Chart {
                        chart: Box::new(chart),
                        caption: fill(&t.week_share_caption, &[("name", name), ("weeks", &n)]),
                    },
                },
            });
            o.reply(
                chat,
                Outgoing::text(fill(&t.week_shared, &[("name", &tie.name)])),
            );
            true
        }
        _ => false,
    }
}

fn active(person: &Person, tie: i64) -> Option<&crate::domain::circle::Tie> {
    person
        .circle
        .iter()
        .find(|t| t.id == tie && t.status == TieStatus::Active)
}

/// The weekly report a member scheduled in `/schedule` (`week::REPORT_SCHEDULE`): the same as
/// `/week`, on the scheduled lane.
pub fn scheduled(chat: ChatId, history: &History, ctx: &Ctx) -> Outcome {
    let mut o = Outcome::default();
    report(&mut o, chat, history, DEFAULT_WEEKS, &ctx.content.texts);
    for e in &mut o.out {
        e.lane = Lane::Scheduled;
    }
    o
}

/// The chart and the summary, or a kind message when there are too few check-ins. Returns
/// whether a chart was sent.
fn report(o: &mut Outcome, chat: ChatId, history: &History, weeks: u32, t: &Texts) -> bool {
    let n = week::weeks_phrase(t, weeks);
    let chart = WeekData::build(history, weeks, ChartLabels::from_texts(t, weeks));
    if chart.checkins() < MIN_CHECKINS {
        o.reply(
            chat,
            Outgoing::text(fill(&t.week_too_few, &[("weeks", &n)])),
        );
        return false;
    }
    o.reply(
        chat,
        Outgoing::Chart {
            chart: Box::new(chart),
            caption: fill(&t.week_caption, &[("weeks", &n)]),
        },
    );
    o.reply(chat, Outgoing::text(week::summary(history, weeks, t)));
    true
}

#[cfg(test)]
mod tests {
    use super::super::{Onboarding, respond};
    use super::*;
    use crate::domain::{ChatId, Incoming, Input, MemberId, SessionId, UpdateId, UserId};
    use crate::schedule::QuietHours;
    use crate::week::fixtures::*;

    static TOKENS: std::sync::LazyLock<crate::token::Tokens> =
        std::sync::LazyLock::new(|| crate::token::Tokens::new([1; 32], 1));
    static RULES: std::sync::LazyLock<std::collections::BTreeMap<String, crate::rules::Template>> =
        std::sync::LazyLock::new(std::collections::BTreeMap::new);

    fn person(onboarding: Onboarding, history: Option<History>) -> Person {
        Person {
            member: Some(Member {
                id: MemberId(1),
                telegram_user: UserId(7),
                name: Some("Alex".into()),
                timezone: chrono_tz::Europe::London,
                onboarding,
                stopped: false,
                quiet: QuietHours::default(),
                paused_until: None,
                consented: true,
            }),
            history,
            ..Person::new(ChatId(7), None)
        }
    }

    fn week(person: &Person, text: &str) -> Vec<Outgoing> {
        let incoming = Incoming {
            update_id: UpdateId(1),
            chat: Some(person.chat),
            sender: None,
            kind: "message".into(),
            input: Input::from_text(text),
            sent_at: None,
        };
        let ctx = test_ctx();
        let o = respond(person, &incoming, &ctx);
        assert!(o.changes.is_empty(), "/week changes nothing");
        o.out.into_iter().map(|e| e.body).collect()
    }

    fn test_ctx() -> Ctx<'static> {
        Ctx {
            content: content(),
            checkin: None,
            weekly: None,
            next_session_id: SessionId(1),
            now: now(),
            titles: Vec::new(),
            tokens: &TOKENS,
            bot_username: None,
            rules: &RULES,
        }
    }

    fn text(o: &Outgoing) -> &str {
        match o {
            Outgoing::Message { text, .. } => text,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn week_sends_the_chart_then_the_summary_in_words() {
        let p = person(Onboarding::Done, Some(full(26)));
        let out = week(&p, "/week 8");
        assert_eq!(out.len(), 2);
        match &out[0] {
            Outgoing::Chart { chart, caption } => {
                assert_eq!(chart.days.len(), 56);
                assert_eq!(chart.labels.title, "Your last 8 weeks");
                let json = serde_json::to_string(&out[0]).unwrap();
                let back: Outgoing = serde_json::from_str(&json).unwrap();
                assert_eq!(back, out[0], "the chart survives the outbox");
                assert!(caption.starts_with("Your last 8 weeks"), "{caption}");
            }
            other => panic!("expected a chart, got {other:?}"),
        }
        assert!(text(&out[1]).starts_with("This week: mood mostly"));
        assert_eq!(week(&p, "/week").len(), 2);
    }

    #[test]
    fn fewer_than_two_check_ins_get_a_kind_message_and_no_chart() {
        let one = checkin(1, date(2026, 3, 28), Some(6.0), Some(3.0), Some(7.0));
        for h in [None, Some(history(&[], &[])), Some(history(&one, &[]))] {
            let out = week(&person(Onboarding::Done, h), "/week");
            assert_eq!(out.len(), 1);
            assert!(text(&out[0]).contains("aren't enough check-ins in the last 4 weeks"));
        }
    }

    #[test]
    fn bad_week_numbers_get_a_kind_reply() {
        let p = person(Onboarding::Done, Some(full(4)));
        for bad in ["/week 0", "/week 27", "/week lots", "/week -2"] {
            let out = week(&p, bad);
            assert_eq!(out.len(), 1, "{bad}");
            assert!(text(&out[0]).contains("from 1 to 26"), "{bad}");
        }
    }

    #[test]
    fn the_weekly_picture_is_the_same_as_week_on_the_scheduled_lane() {
        let ctx = test_ctx();
        let o = scheduled(ChatId(7), &full(4), &ctx);
        assert!(o.changes.is_empty());
        assert_eq!(o.out.len(), 2);
        assert!(o.out.iter().all(|e| e.lane == Lane::Scheduled));
        let bodies: Vec<Outgoing> = o.out.into_iter().map(|e| e.body).collect();
        let p = person(Onboarding::Done, Some(full(4)));
        assert_eq!(bodies, week(&p, "/week"));
    }

    /// What a supporter is sent when Alex says yes to sharing a chart of `weeks` weeks.
    fn shared(history: History, weeks: u32) -> (WeekData, String) {
        let mut p = person(Onboarding::Done, Some(history));
        p.circle = vec![crate::domain::circle::Tie {
            id: 3,
            invite_id: None,
            chat: ChatId(8),
            user: UserId(8),
            name: "Sam".into(),
            username: None,
            role: crate::domain::circle::Role::Supporter,
            status: TieStatus::Active,
            position: 1,
            away_until: None,
            since: now(),
        }];
        let ctx = test_ctx();
        let mut o = Outcome::default();
        let yes = Action::ShareWeekYes {
            tie: 3,
            weeks,
            wording: "the question".into(),
            version: 1,
        };
        assert!(press(&mut o, &p, &yes, &ctx));
        match o.changes.as_slice() {
            [
                Change::ShareChart {
                    chart:
                        Envelope {
                            chat: ChatId(8),
                            body: Outgoing::Chart { chart, caption },
                            ..
                        },
                    ..
                },
            ] => ((**chart).clone(), caption.clone()),
            other => panic!("expected one shared chart, got {other:?}"),
        }
    }

    #[test]
    fn a_shared_chart_draws_only_what_the_sharing_question_lists_under_the_members_name() {
        let t = &content().texts;
        let history = full(4);
        let own = WeekData::build(&history, 4, ChartLabels::from_texts(t, 4));
        // The fixture has every kind of day, so leaving one out shows.
        assert!(own.days.iter().any(|d| d.connect) && own.days.iter().any(|d| d.give));
        assert!(!own.with_status(week::DayStatus::Paused).is_empty());
        assert!(!own.with_status(week::DayStatus::Unknown).is_empty());

        let (chart, caption) = shared(history, 4);
        assert!(
            t.week_share_confirm
                .contains("mood, anxiety, sleep and missed days"),
            "the question lists what the chart draws: {}",
            t.week_share_confirm
        );
        // Listed: mood, anxiety, sleep and missed days, exactly as on the member's own chart.
        assert_eq!(chart.mood(), own.mood());
        assert_eq!(chart.anxiety(), own.anxiety());
        assert_eq!(chart.sleep_hours(), own.sleep_hours());
        assert_eq!(
            chart.with_status(week::DayStatus::Missed),
            own.with_status(week::DayStatus::Missed)
        );
        // Not listed: connect and give, paused days and days the bot was away — not drawn,
        // not in the legend.
        assert!(chart.days.iter().all(|d| !d.connect && !d.give));
        assert!(chart.with_status(week::DayStatus::Paused).is_empty());
        assert!(chart.with_status(week::DayStatus::Unknown).is_empty());
        let l = &chart.labels;
        assert!(l.connect.is_empty() && l.give.is_empty());
        assert!(l.paused.is_empty() && l.unknown.is_empty());
        assert_eq!((&l.mood, &l.missed), (&own.labels.mood, &own.labels.missed));
        // Titled with the member's name, not "Your last 4 weeks".
        assert_eq!(l.title, "Alex's last 4 weeks");
        assert!(caption.starts_with("Alex chose to share"), "{caption}");
        let png = crate::week::render::png(&chart).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn week_before_onboarding_is_finished_carries_on_onboarding() {
        let out = week(&person(Onboarding::Name, Some(full(4))), "/week");
        assert!(text(&out[0]).contains("carry on setting up"));
        assert!(!out.iter().any(|o| matches!(o, Outgoing::Chart { .. })));
    }
}
