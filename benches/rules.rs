//! Early-warning rule costs: evaluating a member's whole plan (every shipped template) over a
//! year of daily history, and each rule alone (criterion); then a backtest replay of 6,000
//! members × 90 days (once, printed). Pure, in memory. Run: `cargo bench --bench rules`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, TimeZone, Utc};
use staywell::content::shipped_dialogs_dir;
use staywell::dialog::load_dir;
use staywell::rules::{CheckIn, Outcome, Template, evaluate, load_rules, replay};

use criterion::Criterion;

/// `days` of daily check-ins with a weekly connect answer, a low spell every few weeks, and
/// a missed day now and then (deterministic).
fn history(days: i64, seed: u64) -> Vec<CheckIn> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 19, 0, 0).unwrap();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as f64 / (1u64 << 31) as f64
    };
    (0..days)
        .map(|d| {
            let at = start + Days::days(d);
            let low = (d / 7) % 5 == 4;
            let missed = next() < 0.08;
            let mood = if low {
                2.0 + next() * 2.0
            } else {
                5.0 + next() * 4.0
            };
            let mut values = BTreeMap::new();
            if !missed {
                values.insert("mood".into(), mood.round());
                values.insert("anxiety".into(), (10.0 - mood).round());
                values.insert("wellbeing".into(), mood);
                values.insert("sleep_quality".into(), (next() * 3.0).round());
                values.insert("early_warning_signs".into(), if low { 2.0 } else { 0.0 });
                if d % 7 == 6 {
                    values.insert("connect".into(), if low { 0.0 } else { 2.0 });
                }
            }
            CheckIn {
                at,
                date: at.date_naive(),
                outcome: if missed {
                    Outcome::Missed
                } else {
                    Outcome::Completed
                },
                values,
                flags: vec![],
            }
        })
        .collect()
}

fn main() {
    let dir = shipped_dialogs_dir();
    let catalog = load_dir(&dir).catalog.unwrap();
    let templates: BTreeMap<String, Template> = load_rules(&dir, &catalog).0.unwrap();
    let plan: Vec<(&Template, BTreeMap<String, f64>)> =
        templates.values().map(|t| (t, t.defaults())).collect();

    let year = history(365, 1);
    let now = year.last().unwrap().at + Days::hours(1);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut g = c.benchmark_group("rules over a year of daily history");
    g.bench_function(format!("a whole plan ({} rules)", plan.len()), |b| {
        b.iter(|| {
            for (t, p) in &plan {
                black_box(evaluate(t, p, &year, now, &templates));
            }
        })
    });
    for (t, p) in &plan {
        g.bench_function(t.id.as_str(), |b| {
            b.iter(|| black_box(evaluate(t, p, &year, now, &templates)))
        });
    }
    g.finish();
    c.final_summary();

    let members: Vec<Vec<CheckIn>> = (0..6_000).map(|m| history(90, m)).collect();
    let t0 = Instant::now();
    let mut fired = 0usize;
    for h in &members {
        fired += replay(&plan, h, &templates, 2, Days::hours(72)).len();
    }
    let took = t0.elapsed();
    println!(
        "backtest replay, 6,000 members × 90 days × {} rules (every check-in re-evaluated): {:.2} s, {} alerts ({:.2} per member per month)",
        plan.len(),
        took.as_secs_f64(),
        fired,
        fired as f64 / 6_000.0 / 3.0
    );
}
