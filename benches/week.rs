//! `/week` costs (criterion): building the series from 26 weeks of answers, the summary, and
//! drawing the PNG (4 and 26 weeks). Run: `cargo bench --bench week`.

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use staywell::content::{Content, shipped_dialogs_dir};
use staywell::dialog::{AnswerValue, load_dir};
use staywell::domain::SessionId;
use staywell::week::{self, ChartLabels, History, StoredAnswer, StoredSlot, WeekData, render};

use criterion::Criterion;

fn main() {
    let dir = shipped_dialogs_dir();
    let catalog = load_dir(&dir).catalog.unwrap();
    let content = Content::load(&dir, Utc::now().date_naive())
        .content
        .unwrap();
    let tz = chrono_tz::Europe::London;
    let now = tz
        .with_ymd_and_hms(2026, 3, 29, 20, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let today = now.with_timezone(&tz).date_naive();

    // 26 weeks (+1 for the comparison): a check-in most days with every answer, a missed,
    // an unknown and a paused day now and then, and a weekly connect/give check-in.
    let mut answers = Vec::new();
    let mut slots = Vec::new();
    for i in 0..(27 * 7) {
        let day = today - chrono::Duration::days(i);
        let started_at = now - chrono::Duration::days(i);
        let answer = |session: i64, dialog: &str, step: &str, value: AnswerValue| StoredAnswer {
            session: SessionId(session),
            dialog_id: dialog.into(),
            version: 1,
            step_id: step.into(),
            shown: true,
            value: Some(value),
            slot_date: Some(day),
            started_at,
        };
        let outcome = match i % 11 {
            3 => "missed",
            7 => "unknown",
            9 => "paused",
            _ => {
                let d = "daily_checkin";
                answers.push(answer(i, d, "happy", AnswerValue::Number((i % 10) as f64)));
                answers.push(answer(
                    i,
                    d,
                    "anxious",
                    AnswerValue::Number(((i * 3) % 11) as f64),
                ));
                answers.push(answer(
                    i,
                    d,
                    "sleep_quality",
                    AnswerValue::Code("fairly_good".into()),
                ));
                answers.push(answer(
                    i,
                    d,
                    "sleep_hours",
                    AnswerValue::Number(4.0 + (i % 7) as f64),
                ));
                answers.push(answer(
                    i,
                    d,
                    "warning_signs",
                    AnswerValue::Codes(vec!["none".into()]),
                ));
                answers.push(answer(i, d, "medication", AnswerValue::Code("yes".into())));
                "completed"
            }
        };
        slots.push(StoredSlot {
            dialog_id: "daily_checkin".into(),
            local_date: day,
            outcome: Some(outcome.into()),
        });
        if i % 7 == 0 {
            let w = "weekly_connect_give";
            answers.push(answer(
                10_000 + i,
                w,
                "connect",
                AnswerValue::Code("few".into()),
            ));
            answers.push(answer(
                10_000 + i,
                w,
                "give",
                AnswerValue::Code("yes".into()),
            ));
        }
    }
    let lookup = |id: &str, v: i64| {
        catalog
            .dialogs
            .get(id)
            .filter(|d| d.version == v)
            .map(|d| d.as_ref())
    };
    let history = History::build(&answers, &slots, tz, now, lookup);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut g = c.benchmark_group("/week");
    g.bench_function(
        format!(
            "history ({} answers, {} slots) to the 26-week series",
            answers.len(),
            slots.len()
        ),
        |b| {
            b.iter(|| {
                let h = History::build(&answers, &slots, tz, now, lookup);
                black_box(WeekData::build(
                    &h,
                    26,
                    ChartLabels::from_texts(&content.texts, 26),
                ))
            })
        },
    );
    g.bench_function("summary in words", |b| {
        b.iter(|| black_box(week::summary(&history, 26, &content.texts)))
    });
    for weeks in [4, 26] {
        let data = WeekData::build(
            &history,
            weeks,
            ChartLabels::from_texts(&content.texts, weeks),
        );
        let size = render::png(&data).unwrap().len();
        g.bench_function(
            format!(
                "render {weeks} weeks to a {}×{} PNG ({} KB)",
                render::WIDTH,
                render::HEIGHT,
                size / 1024
            ),
            |b| b.iter(|| black_box(render::png(&data).unwrap())),
        );
    }
    g.finish();
    c.final_summary();
}
