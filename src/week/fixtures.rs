//! Histories built from the shipped dialogs, for tests here, in `render` and in
//! `conversation::week`.

use std::sync::OnceLock;

use crate::domain::answer::AnswerValue;

use chrono::TimeZone;

use super::*;
use crate::content::{Content, shipped_dialogs_dir};
use crate::dialog::{Catalog, load_dir};

pub fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| load_dir(&shipped_dialogs_dir()).catalog.unwrap())
}

pub fn content() -> &'static Content {
    static C: OnceLock<Content> = OnceLock::new();
    C.get_or_init(|| {
        Content::load(&shipped_dialogs_dir(), date(2026, 11, 26))
            .content
            .unwrap()
    })
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// Sunday 29 March 2026, 20:00 London (after the clocks went forward).
pub fn now() -> DateTime<Utc> {
    chrono_tz::Europe::London
        .with_ymd_and_hms(2026, 3, 29, 20, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn answer(
    session: i64,
    dialog: &str,
    day: NaiveDate,
    step: &str,
    value: Option<AnswerValue>,
) -> StoredAnswer {
    StoredAnswer {
        session: SessionId(session),
        dialog_id: dialog.into(),
        // Recorded on the shipped version, whatever it is now.
        version: catalog().dialogs.get(dialog).map_or(1, |d| d.version),
        step_id: step.into(),
        shown: true,
        value,
        slot_date: Some(day),
        started_at: chrono_tz::Europe::London
            .from_local_datetime(&day.and_hms_opt(19, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc),
    }
}

/// A daily check-in on `day`: mood, anxiety and hours of sleep (`None` = skipped).
pub fn checkin(
    session: i64,
    day: NaiveDate,
    mood: Option<f64>,
    anxiety: Option<f64>,
    sleep: Option<f64>,
) -> Vec<StoredAnswer> {
    let d = "daily_checkin";
    vec![
        answer(session, d, day, "happy", mood.map(AnswerValue::Number)),
        answer(session, d, day, "anxious", anxiety.map(AnswerValue::Number)),
        answer(
            session,
            d,
            day,
            "sleep_quality",
            Some(AnswerValue::Code("fairly_good".into())),
        ),
        answer(
            session,
            d,
            day,
            "sleep_hours",
            sleep.map(AnswerValue::Number),
        ),
        answer(session, d, day, "note", None),
    ]
}

/// A weekly connect/give check-in on `day`.
pub fn weekly(session: i64, day: NaiveDate, connect: &str, give: &str) -> Vec<StoredAnswer> {
    let d = "weekly_connect_give";
    vec![
        answer(
            session,
            d,
            day,
            "connect",
            Some(AnswerValue::Code(connect.into())),
        ),
        answer(
            session,
            d,
            day,
            "give",
            Some(AnswerValue::Code(give.into())),
        ),
    ]
}

pub fn slot(day: NaiveDate, outcome: &str) -> StoredSlot {
    StoredSlot {
        dialog_id: "daily_checkin".into(),
        local_date: day,
        outcome: Some(outcome.into()),
    }
}

pub fn history(answers: &[StoredAnswer], slots: &[StoredSlot]) -> History {
    History::build(
        answers,
        slots,
        chrono_tz::Europe::London,
        now(),
        |id, version| {
            catalog()
                .dialogs
                .get(id)
                .filter(|d| d.version == version)
                .map(|d| d.as_ref())
        },
    )
}

pub fn labels(weeks: u32) -> ChartLabels {
    ChartLabels::from_texts(&content().texts, weeks)
}

/// Every day of `weeks` weeks ending today, with values that vary.
pub fn full(weeks: u32) -> History {
    let today = now().with_timezone(&chrono_tz::Europe::London).date_naive();
    let mut answers = Vec::new();
    let mut slots = Vec::new();
    for i in 0..(7 * weeks as i64) {
        let day = today - Duration::days(i);
        match i % 11 {
            3 => slots.push(slot(day, "missed")),
            7 => slots.push(slot(day, "unknown")),
            9 => slots.push(slot(day, "paused")),
            _ => answers.extend(checkin(
                i + 1,
                day,
                Some((i % 10) as f64),
                Some(((i * 3) % 11) as f64),
                Some(4.0 + (i % 7) as f64),
            )),
        }
        if i % 7 == 0 {
            answers.extend(weekly(
                10_000 + i,
                day,
                if i % 14 == 0 { "few" } else { "none" },
                if i % 21 == 0 { "yes" } else { "no" },
            ));
        }
    }
    history(&answers, &slots)
}
