//! The scheduler on a manual clock with the real store: slots, reminders, outcomes, quiet
//! hours, pauses, outages and restarts, counted exactly.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use staywell::clock::{Clock, ManualClock};
use staywell::config::OutboxSettings;
use staywell::content::{Content, shipped_dialogs_dir};
use staywell::conversation::{Change, Onboarding};
use staywell::domain::{ChatId, Envelope, Lane, MemberId, Outgoing, UserId};
use staywell::machinery::{Loops, Options, Parts};
use staywell::schedule::{Days, LocalTime, QuietHours, Recurrence};
use staywell::scheduler::{Scheduler, TickReport};
use staywell::store::Store;
use staywell::store::prelude::*;
use staywell::worker::delivery::{Delivered, Delivery, Messenger};

/// What was delivered: to whom, when (virtual time), what.
type Log = Arc<Mutex<Vec<(ChatId, DateTime<Utc>, String)>>>;

/// A messenger that records what was delivered, when (virtual time), and on which lane-free
/// basis: every call succeeds.
#[derive(Clone)]
struct Recorder {
    clock: ManualClock,
    log: Log,
}

impl Messenger for Recorder {
    async fn deliver(&self, chat: ChatId, body: Outgoing) -> Delivered {
        let text = match &body {
            Outgoing::Message { text, .. } => text.clone(),
            other => format!("{other:?}"),
        };
        self.log
            .lock()
            .unwrap()
            .push((chat, self.clock.now(), text));
        Delivered::Sent {
            message_id: Some(1),
        }
    }
}

struct World {
    store: Store,
    clock: ManualClock,
    scheduler: Scheduler,
    delivery: Delivery<Recorder>,
    log: Log,
    _dir: tempfile::TempDir,
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn world(start: DateTime<Utc>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let clock = ManualClock::new(start);
    let content = Content::load_or_fail(&shipped_dialogs_dir(), start.date_naive()).unwrap();
    let parts = Parts::load(
        &shipped_dialogs_dir(),
        store,
        Arc::new(clock.clone()),
        content,
    )
    .await
    .unwrap();
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let options = Options {
        // The test world beats every hour (the real loop: every minute).
        down_after: Duration::minutes(150),
        ..Options::virtual_time(60, OutboxSettings::default()).unwrap()
    };
    let recorder = Recorder {
        clock: clock.clone(),
        log: log.clone(),
    };
    let loops = Loops::wire(&parts, options, recorder);
    World {
        scheduler: loops.scheduler,
        delivery: loops.delivery,
        store: parts.store,
        clock,
        log,
        _dir: dir,
    }
}

impl World {
    /// An onboarded member in `tz` with a daily check-in at `time` on `days`.
    async fn member(&self, chat: i64, tz: Tz, days: Days, time: &str) -> MemberId {
        let now = self.clock.now();
        let mut tx = self.store.begin_write().await.unwrap();
        let changes = [
            Change::CreateMember {
                user: UserId(chat),
                consent_wording: "test".into(),
                consent_version: 1,
            },
            Change::SetName(format!("P{chat}")),
            Change::SetTimezone(tz.name().into()),
            Change::SetOnboarding(Onboarding::Done),
        ];
        staywell::effects::apply(&mut tx, ChatId(chat), &changes, now)
            .await
            .unwrap();
        let person = tx.load_person(ChatId(chat)).await.unwrap();
        let id = person.member.unwrap().id;
        let rec = Recurrence {
            days,
            time: LocalTime::parse(time).unwrap(),
            tz,
        };
        let next = rec.next_after(now).map(|(_, t)| t);
        tx.set_schedule(id, "daily_checkin", &days.to_field(), time, next, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        id
    }

    async fn change(&self, chat: i64, change: Change) {
        let mut tx = self.store.begin_write().await.unwrap();
        staywell::effects::apply(&mut tx, ChatId(chat), &[change], self.clock.now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    /// Moves the clock to `t`, ticks and delivers.
    async fn at(&self, t: DateTime<Utc>) -> TickReport {
        self.clock.set(t);
        let report = self.scheduler.tick(t).await.unwrap();
        self.delivery.drain().await.unwrap();
        report
    }

    /// Runs the world until `end`, stopping at every moment something is due (and delivering
    /// held messages when they become due). Returns the sum of the tick reports.
    async fn run_until(&self, end: DateTime<Utc>) -> TickReport {
        let mut total = TickReport::default();
        loop {
            let next = [
                self.store.next_due().await.unwrap(),
                self.store.next_outbox_due().await.unwrap(),
            ]
            .into_iter()
            .flatten()
            .filter(|t| *t > self.clock.now())
            .min();
            // A heartbeat at least hourly (the real loop beats every minute).
            let beat = self.clock.now() + Duration::minutes(60);
            let t = next.map_or(beat, |n| n.min(beat));
            if t > end {
                break;
            }
            let r = self.at(t).await;
            add(&mut total, &r);
        }
        total
    }

    async fn outcomes(&self) -> std::collections::BTreeMap<String, i64> {
        self.store.slot_outcomes().await.unwrap()
    }
}

fn add(total: &mut TickReport, r: &TickReport) {
    total.opened += r.opened;
    total.joined += r.joined;
    total.paused += r.paused;
    total.unknown += r.unknown;
    total.reminders += r.reminders;
    total.completed += r.completed;
    total.partial += r.partial;
    total.missed += r.missed;
    total.closed_unknown += r.closed_unknown;
    total.away_notices += r.away_notices;
}

#[tokio::test]
async fn a_hundred_and_twenty_days_in_three_timezones_give_exact_counts() {
    for (tz, time) in [
        (chrono_tz::Europe::London, "19:00"),
        (chrono_tz::Europe::London, "01:30"),
        (chrono_tz::America::New_York, "02:30"),
        (chrono_tz::Asia::Kolkata, "09:00"),
    ] {
        let start = utc("2026-02-01T00:00:00Z");
        let w = world(start).await;
        w.at(start).await;
        w.member(1, tz, Days::EVERY_DAY, time).await;
        let total = w.run_until(start + Duration::days(120)).await;
        // Every local date from the day after the start gets exactly one slot; nobody answers.
        let outcomes = w.outcomes().await;
        let slots: i64 = outcomes.values().sum();
        assert!(
            (119..=120).contains(&slots),
            "{tz} {time}: {slots} slots, {outcomes:?}"
        );
        assert_eq!(total.opened as i64, slots, "{tz} {time}");
        assert_eq!(
            total.reminders as i64, slots,
            "{tz} {time}: one reminder per slot"
        );
        let open = outcomes.get("open").copied().unwrap_or(0);
        assert_eq!(
            outcomes.get("missed").copied().unwrap_or(0) + open,
            slots,
            "{tz} {time}: {outcomes:?}"
        );
        assert!(open <= 1);
        // Nothing scheduled was delivered in quiet hours (22:00–08:00 local).
        let quiet = QuietHours::default();
        for (_, at, text) in w.log.lock().unwrap().iter() {
            assert!(
                !quiet.contains(*at, tz),
                "{tz} {time}: delivered at {at} in quiet hours: {text}"
            );
        }
        // One slot per local date, none twice.
        let dates: i64 = staywell_count(&w, "SELECT count(DISTINCT local_date) FROM slots").await;
        assert_eq!(dates, slots);
    }
}

async fn staywell_count(w: &World, sql: &'static str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        w._dir.path().join("s.db").display()
    ))
    .await
    .unwrap();
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
    pool.close().await;
    v
}

#[tokio::test]
async fn ticking_twice_at_the_same_instant_creates_nothing_new() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    let t = utc("2026-03-02T19:00:00Z");
    let first = w.at(t).await;
    assert_eq!(first.opened, 1);
    let second = w.at(t).await;
    assert_eq!(second, TickReport::default());
    // A second scheduler (a restart, or another instance) at the same moment: nothing either.
    let again = w.scheduler.tick(t).await.unwrap();
    assert_eq!(again, TickReport::default());
    assert_eq!(staywell_count(&w, "SELECT count(*) FROM slots").await, 1);
    assert_eq!(staywell_count(&w, "SELECT count(*) FROM sessions").await, 1);
}

#[tokio::test]
async fn a_restart_mid_window_neither_repeats_the_prompt_nor_loses_the_reminder() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    w.at(utc("2026-03-02T19:00:00Z")).await;
    let prompts = w.log.lock().unwrap().len();
    assert!(prompts >= 2, "intro and first question");
    // Down from 19:10 to 19:40 (shorter than the heartbeat gap that means an outage).
    let r = w.at(utc("2026-03-02T19:40:00Z")).await;
    assert_eq!(r, TickReport::default());
    assert_eq!(w.log.lock().unwrap().len(), prompts, "no second prompt");
    let r = w.at(utc("2026-03-02T20:00:00Z")).await;
    assert_eq!(r.reminders, 1);
    let r = w.at(utc("2026-03-02T20:30:00Z")).await;
    assert_eq!(r.reminders, 0, "never more than one reminder per slot");
}

#[tokio::test]
async fn a_slot_due_during_a_short_outage_is_delivered_once_when_the_bot_returns() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    w.at(utc("2026-03-02T18:00:00Z")).await;
    // Down 18:00–19:30: the 19:00 slot's window (until 22:00) is still open.
    let r = w.at(utc("2026-03-02T19:30:00Z")).await;
    assert_eq!((r.opened, r.unknown), (1, 0));
}

#[tokio::test]
async fn a_thirty_hour_outage_records_unknown_sends_one_notice_and_does_not_flood() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    w.at(utc("2026-03-02T19:00:00Z")).await; // opened, prompt delivered
    w.at(utc("2026-03-02T19:05:00Z")).await; // last heartbeat before the outage
    let before = w.log.lock().unwrap().len();
    // Back 30 hours later, Wednesday 01:05.
    let r = w.at(utc("2026-03-04T01:05:00Z")).await;
    assert_eq!(r.unknown, 1, "Tuesday's slot passed entirely while down");
    assert_eq!(
        r.closed_unknown, 1,
        "Monday's window closed while down: unknown, not missed"
    );
    assert_eq!((r.missed, r.opened), (0, 0));
    assert_eq!(r.away_notices, 1);
    assert_eq!(
        w.log.lock().unwrap().len(),
        before,
        "01:05 is in quiet hours: the notice waits"
    );
    let r = w.at(utc("2026-03-04T08:00:00Z")).await;
    assert_eq!(r.away_notices, 0, "once only");
    let sent: Vec<String> = w.log.lock().unwrap()[before..]
        .iter()
        .map(|l| l.2.clone())
        .collect();
    assert_eq!(sent.len(), 1, "one notice, no flood: {sent:?}");
    assert!(sent[0].contains("I was away"));
    let outcomes = w.outcomes().await;
    assert_eq!(outcomes.get("unknown"), Some(&2), "{outcomes:?}");
    assert_eq!(outcomes.get("missed"), None);
}

#[tokio::test]
async fn prompts_in_quiet_hours_wait_for_them_to_end_and_urgent_messages_do_not() {
    let start = utc("2026-06-01T00:00:00Z");
    let w = world(start).await;
    w.at(start).await;
    // 07:00 BST is inside the default quiet hours (22:00–08:00).
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "07:00")
        .await;
    let r = w.at(utc("2026-06-01T06:00:00Z")).await;
    assert_eq!(r.opened, 0, "claimed now, opened when quiet hours end");
    assert!(
        w.log.lock().unwrap().is_empty(),
        "held until quiet hours end"
    );
    // An urgent message for the same person goes at once.
    let mut tx = w.store.begin_write().await.unwrap();
    tx.enqueue(
        &[Envelope::urgent(ChatId(1), Outgoing::text("crisis card"))],
        None,
        w.clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    w.at(utc("2026-06-01T06:01:00Z")).await;
    assert_eq!(w.log.lock().unwrap().len(), 1);
    let r = w.at(utc("2026-06-01T07:00:00Z")).await; // 08:00 BST
    assert_eq!(r.opened, 1);
    let log = w.log.lock().unwrap().clone();
    assert!(log.len() >= 3, "{log:?}");
    assert!(
        log[1..]
            .iter()
            .all(|(_, at, _)| *at == utc("2026-06-01T07:00:00Z"))
    );
}

#[tokio::test]
async fn a_pause_records_paused_slots_and_resume_brings_prompts_back() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    // Paused until Thursday 00:00: Mon, Tue, Wed are paused.
    w.change(
        1,
        Change::SetPause {
            until: Some(utc("2026-03-05T00:00:00Z")),
        },
    )
    .await;
    let total = w.run_until(utc("2026-03-06T23:00:00Z")).await;
    assert_eq!(total.paused, 3);
    assert_eq!(total.opened, 2, "Thursday and Friday");
    let outcomes = w.outcomes().await;
    assert_eq!(outcomes.get("paused"), Some(&3));
    assert_eq!(outcomes.get("missed"), Some(&2));
    // Pausing "until I resume", then resuming.
    w.change(
        1,
        Change::SetPause {
            until: Some(utc("9999-12-31T00:00:00Z")),
        },
    )
    .await;
    let r = w.run_until(utc("2026-03-07T23:00:00Z")).await;
    assert_eq!((r.paused, r.opened), (1, 0));
    w.change(1, Change::SetPause { until: None }).await;
    let r = w.run_until(utc("2026-03-08T23:00:00Z")).await;
    assert_eq!((r.paused, r.opened), (0, 1));
}

#[tokio::test]
async fn peak_prompts_never_queue_ahead_of_a_reply_to_someone_mid_check_in() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    for chat in 0..1000 {
        w.member(
            10_000 + chat,
            chrono_tz::Europe::London,
            Days::EVERY_DAY,
            "19:00",
        )
        .await;
    }
    let t = utc("2026-03-02T19:00:00Z");
    w.clock.set(t);
    let r = w.scheduler.tick(t).await.unwrap();
    assert_eq!(r.opened, 1000);
    // Someone mid-check-in gets their next question now.
    let mut tx = w.store.begin_write().await.unwrap();
    tx.enqueue(
        &[Envelope::reply(ChatId(7), Outgoing::text("next question"))],
        None,
        t,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (first, _) = w.store.due_outbox(t, 1).await.unwrap();
    assert_eq!(
        first[0].chat,
        ChatId(7),
        "the reply is first in line, ahead of 2,000 prompts"
    );
    assert_eq!(first[0].lane, Lane::Reply);
    let scheduled = staywell_count(&w, "SELECT count(*) FROM outbox WHERE lane = 2").await;
    assert_eq!(
        scheduled, 2000,
        "intro and first question for each of the 1,000"
    );
}

#[test]
fn schedules_round_trip_their_days_field() {
    let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let r = Recurrence {
        days: Days::parse("Mon,Wed").unwrap(),
        time: LocalTime::parse("7pm").unwrap(),
        tz: chrono_tz::Europe::London,
    };
    assert_eq!(
        r.on(d),
        Some(
            chrono_tz::Europe::London
                .with_ymd_and_hms(2026, 3, 2, 19, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        )
    );
}

#[tokio::test]
async fn changing_a_schedule_while_a_slot_is_open_does_not_cancel_that_slot() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    let member = w
        .member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    let r = w.at(utc("2026-03-02T19:00:00Z")).await;
    assert_eq!(r.opened, 1);
    // Moved to 20:30 on weekdays, while Monday's 19:00 check-in is open.
    let mut tx = w.store.begin_write().await.unwrap();
    let now = w.clock.now();
    let next = Recurrence {
        days: Days::WEEKDAYS,
        time: LocalTime::parse("20:30").unwrap(),
        tz: chrono_tz::Europe::London,
    }
    .next_after(now)
    .map(|(_, t)| t);
    tx.set_schedule(member, "daily_checkin", "Mon-Fri", "20:30", next, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Monday already has its slot: no second one at 20:30 the same day.
    let r = w.run_until(utc("2026-03-02T23:00:00Z")).await;
    assert_eq!((r.opened, r.reminders, r.missed), (0, 1, 1), "{r:?}");
    let r = w.run_until(utc("2026-03-03T23:59:00Z")).await;
    assert_eq!(r.opened, 1, "Tuesday at 20:30");
    assert_eq!(staywell_count(&w, "SELECT count(*) FROM slots").await, 2);
}

#[tokio::test]
async fn stopping_or_pausing_during_an_open_check_in_means_no_reminder_and_a_paused_outcome() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    w.member(2, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    assert_eq!(w.at(utc("2026-03-02T19:00:00Z")).await.opened, 2);
    w.change(1, Change::Stop).await;
    w.change(
        2,
        Change::SetPause {
            until: Some(utc("2026-03-09T00:00:00Z")),
        },
    )
    .await;
    let r = w.run_until(utc("2026-03-02T23:00:00Z")).await;
    assert_eq!((r.reminders, r.missed, r.paused), (0, 0, 2), "{r:?}");
}

#[tokio::test]
async fn a_reminder_due_during_a_short_pause_waits_for_its_end() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    assert_eq!(w.at(utc("2026-03-02T19:00:00Z")).await.opened, 1);
    // Paused until 20:30: the 20:00 reminder waits; the window runs to 22:00.
    w.change(
        1,
        Change::SetPause {
            until: Some(utc("2026-03-02T20:30:00Z")),
        },
    )
    .await;
    let r = w.run_until(utc("2026-03-02T20:29:00Z")).await;
    assert_eq!(r.reminders, 0, "not during the pause: {r:?}");
    let r = w.run_until(utc("2026-03-02T21:00:00Z")).await;
    assert_eq!(r.reminders, 1, "when it ends, inside the window: {r:?}");
}

#[tokio::test]
async fn back_from_an_outage_inside_quiet_hours_the_check_in_is_not_sent_at_night() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    // 21:00 is allowed (quiet hours start at 22:00); the window runs to 00:00.
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "21:00")
        .await;
    w.at(utc("2026-03-02T20:00:00Z")).await;
    // Down from 20:00 to 23:00: the window is still open, but it is night.
    let r = w.at(utc("2026-03-02T23:00:00Z")).await;
    assert_eq!((r.opened, r.unknown), (0, 1), "{r:?}");
    assert!(w.log.lock().unwrap().is_empty(), "nothing sent at 23:00");
}

#[tokio::test]
async fn answered_check_ins_are_completed_or_partial() {
    use staywell::dialog::engine::{Answer, AnswerValue, Stored};
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    let member = w
        .member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    for (day, finish) in [("2026-03-02", true), ("2026-03-03", false)] {
        let t = utc(&format!("{day}T19:00:00Z"));
        assert_eq!(w.at(t).await.opened, 1);
        let session =
            staywell::domain::SessionId(staywell_count(&w, "SELECT max(id) FROM sessions").await);
        let mut changes = vec![Change::StoreAnswers {
            session,
            member,
            dialog_id: "daily_checkin".into(),
            version: 1,
            answers: vec![Stored {
                step_id: "happy".into(),
                answer: Answer::Answered(AnswerValue::Number(7.0)),
                flags: vec![],
            }],
        }];
        if finish {
            let mut state = staywell::dialog::Session::new();
            state.current = None;
            changes.push(Change::SaveSession {
                id: session,
                status: staywell::domain::states::SessionStatus::Completed,
                state,
            });
        }
        for c in changes {
            w.change(1, c).await;
        }
        let r = w.run_until(utc(&format!("{day}T23:00:00Z"))).await;
        if finish {
            assert_eq!((r.completed, r.reminders), (1, 0), "{r:?}");
        } else {
            assert_eq!(
                (r.partial, r.reminders),
                (1, 0),
                "started: no reminder; {r:?}"
            );
        }
    }
}

#[tokio::test]
async fn autumn_clock_changes_still_give_one_check_in_a_day() {
    for (tz, time) in [
        (chrono_tz::Europe::London, "01:30"),
        (chrono_tz::America::New_York, "01:30"),
    ] {
        let start = utc("2026-10-15T00:00:00Z");
        let w = world(start).await;
        w.at(start).await;
        w.member(1, tz, Days::EVERY_DAY, time).await;
        w.run_until(utc("2026-11-10T00:00:00Z")).await;
        let slots = staywell_count(&w, "SELECT count(*) FROM slots").await;
        let dates = staywell_count(&w, "SELECT count(DISTINCT local_date) FROM slots").await;
        assert_eq!((slots, dates), (26, 26), "{tz}: Oct 15 … Nov 9, one each");
    }
}

#[tokio::test]
async fn moving_timezone_moves_the_next_check_in_to_the_new_local_time() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    w.member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    w.change(1, Change::SetTimezone("Asia/Kolkata".into()))
        .await;
    let r = w.run_until(utc("2026-03-03T12:00:00Z")).await;
    assert_eq!(r.opened, 1);
    // 19:00 in Kolkata is 13:30 UTC, on local date 2 March.
    assert_eq!(
        staywell_count(
            &w,
            "SELECT count(*) FROM slots WHERE local_date = '2026-03-02' AND due_at = 1772458200000"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_check_in_done_earlier_of_their_own_accord_counts_and_is_not_asked_again() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    let member = w
        .member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    // At 18:30 the person does /checkin and finishes it.
    w.clock.set(utc("2026-03-02T18:30:00Z"));
    let session = staywell::domain::SessionId(1);
    let mut state = staywell::dialog::Session::new();
    state.current = None;
    for change in [
        Change::StartSession {
            id: session,
            dialog_id: "daily_checkin".into(),
            version: 1,
            expires_at: utc("2026-03-02T21:30:00Z"),
        },
        Change::SaveSession {
            id: session,
            status: staywell::domain::states::SessionStatus::Completed,
            state,
        },
    ] {
        w.change(1, change).await;
    }
    let _ = member;
    let r = w.run_until(utc("2026-03-02T23:00:00Z")).await;
    assert_eq!(
        (r.opened, r.joined, r.reminders, r.completed),
        (0, 1, 0, 1),
        "{r:?}"
    );
    assert!(
        w.log.lock().unwrap().is_empty(),
        "no prompt 30 minutes after finishing"
    );
}

#[tokio::test]
async fn two_check_ins_due_at_once_for_one_person_open_one_after_the_other() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    let member = w
        .member(1, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
        .await;
    let t = utc("2026-03-02T19:00:00Z");
    w.change(
        1,
        Change::SetSchedule {
            member,
            dialog_id: "weekly_connect_give".into(),
            days: Days::EVERY_DAY.to_field(),
            time: "19:00".into(),
            next_due: Some(t),
        },
    )
    .await;
    // Both slots are claimed in the same tick; the second sees the first's session and
    // waits for it to end (22:00, then quiet hours until 08:00).
    let r = w.at(t).await;
    assert_eq!((r.opened, r.joined), (1, 0), "{r:?}");
    assert_eq!(staywell_count(&w, "SELECT count(*) FROM slots").await, 2);
    assert_eq!(staywell_count(&w, "SELECT count(*) FROM sessions").await, 1);
    let r = w.run_until(utc("2026-03-03T09:00:00Z")).await;
    assert_eq!((r.opened, r.missed), (1, 1), "{r:?}");
    let weekly = "SELECT count(*) FROM sessions WHERE dialog_id = 'weekly_connect_give' AND started_at = 1772524800000";
    assert_eq!(staywell_count(&w, weekly).await, 1, "opened at 08:00");
}

#[tokio::test]
async fn many_check_ins_due_in_the_same_minute_each_get_their_own_session_and_prompt() {
    let start = utc("2026-03-02T08:00:00Z");
    let w = world(start).await;
    // More than one write batch (of 500), and more than one statement's worth of prompts.
    let n = 600;
    for chat in 1..=n {
        w.member(chat, chrono_tz::Europe::London, Days::EVERY_DAY, "19:00")
            .await;
    }
    w.change(
        1,
        Change::SetPause {
            until: Some(utc("2026-03-03T00:00:00Z")),
        },
    )
    .await;
    let t = utc("2026-03-02T19:00:00Z");
    w.clock.set(t);
    let r = w.scheduler.tick(t).await.unwrap();
    assert_eq!((r.opened, r.paused), (n as usize - 1, 1), "{r:?}");
    let own = "SELECT count(*) FROM slots sl
               JOIN members m ON m.id = sl.member_id
               JOIN sessions se ON se.id = sl.session_id AND se.member_id = sl.member_id
               JOIN outbox o ON o.id = sl.prompt_id AND o.chat_id = m.chat_id
               WHERE o.id = (SELECT max(id) FROM outbox WHERE chat_id = m.chat_id)
                 AND sl.remind_at IS NOT NULL";
    assert_eq!(staywell_count(&w, own).await, n - 1);
    let prompts = "SELECT count(*) FROM outbox WHERE state = 'pending'";
    assert_eq!(staywell_count(&w, prompts).await, 2 * (n - 1));
    assert_eq!(w.scheduler.tick(t).await.unwrap(), TickReport::default());
}

#[tokio::test]
async fn a_reply_waiting_to_write_goes_before_the_schedulers_next_batch() {
    let w = world(utc("2026-03-02T08:00:00Z")).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    // A scheduler batch holds the write lock; a reply asks for it meanwhile.
    let batch = w.store.begin_write().await.unwrap();
    let reply = {
        let (store, order) = (w.store.clone(), order.clone());
        tokio::spawn(async move {
            let tx = store.begin_write().await.unwrap();
            order.lock().unwrap().push("reply");
            tx.commit().await.unwrap();
        })
    };
    tokio::task::yield_now().await; // the reply is now waiting for its turn
    batch.commit().await.unwrap();
    // The next batch, asked for at once, comes after the reply that was waiting.
    let next = w.store.begin_write().await.unwrap();
    order.lock().unwrap().push("next batch");
    next.commit().await.unwrap();
    reply.await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["reply", "next batch"]);
}

#[tokio::test]
async fn what_the_processor_reads_for_an_update_is_read_in_one_statement_and_is_complete() {
    let w = world(utc("2026-03-02T08:00:00Z")).await;
    let london = chrono_tz::Europe::London;
    let id = w.member(1, london, Days::EVERY_DAY, "09:00").await;
    w.member(2, london, Days::WEEKDAYS, "19:30").await;
    w.at(utc("2026-03-02T09:00:00Z")).await;
    let now = w.clock.now();
    let mut tx = w.store.begin_write().await.unwrap();
    let read = tx.load_for_update(ChatId(1), now).await.unwrap();
    let member = read.person.member.as_ref().expect("a member");
    assert_eq!(member.id, id);
    let session = read.session.expect("the 09:00 check-in is open");
    assert_eq!(session.dialog_id, "daily_checkin");
    assert_eq!(
        read.schedules,
        vec![("daily_checkin".into(), "*".into(), "09:00".into(), true)]
    );
    assert!(!read.unreachable);
    assert_eq!(read.next_session_id.0, session.id.0 + 1);
    // Member 2 has no open session; a chat that is no one's has nothing but the next id.
    let two = tx.load_for_update(ChatId(2), now).await.unwrap();
    assert!(two.session.is_none());
    assert_eq!(two.schedules[0].1, "Mon-Fri");
    let stranger = tx.load_for_update(ChatId(99), now).await.unwrap();
    assert!(stranger.person.member.is_none() && stranger.session.is_none());
    assert!(stranger.schedules.is_empty() && !stranger.unreachable);
    assert_eq!(stranger.next_session_id, read.next_session_id);
    // Once the session has expired it is no longer read as open.
    let later = tx
        .load_for_update(ChatId(1), session.expires_at)
        .await
        .unwrap();
    assert!(later.session.is_none());
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_whole_fetch_of_unreadable_outbox_rows_is_failed_and_the_rows_behind_it_still_go() {
    let w = world(utc("2026-06-01T10:00:00Z")).await;
    // More unreadable rows (one per chat, so each is first in its queue) than one fetch
    // reads, then an ordinary message behind them.
    let broken: Vec<Envelope> = (1000..1300)
        .map(|chat| Envelope::reply(ChatId(chat), Outgoing::text("to be corrupted")))
        .collect();
    let mut tx = w.store.begin_write().await.unwrap();
    tx.enqueue(&broken, None, w.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    let db = w._dir.path().join("s.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE outbox SET payload = '{not json' WHERE chat_id >= 1000")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let mut tx = w.store.begin_write().await.unwrap();
    tx.enqueue(
        &[Envelope::reply(
            ChatId(7),
            Outgoing::text("still delivered"),
        )],
        None,
        w.clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let calls = w.delivery.drain().await.unwrap();

    assert_eq!(calls, 1);
    let log = w.log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].0, log[0].2.as_str()),
        (ChatId(7), "still delivered")
    );
    let counts = w.store.outbox_counts().await.unwrap();
    assert_eq!((counts.failed, counts.sent), (300, 1), "{counts:?}");
}
