//! Scheduler costs at scale, with criterion: a tick over 100,000 member schedules when
//! nothing is due; an ordinary minute (the 100,000 spread over the day, so about 70 check-ins
//! open, 70 reminders go and 70 windows close in each tick); the next-wake-up query; and a
//! tick that opens 6,000 check-ins due in the same minute (each a slot, a session and its
//! prompts, durably committed), each run on a fresh copy of the same database. Then, printed
//! rather than measured by criterion, the same 6,000 in a world of their own while someone
//! keeps writing (as the processor does for people mid-conversation), to see how long they
//! wait for the write lock. Run: `cargo bench --bench schedules`.

#[path = "support/member.rs"]
mod member;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, SamplingMode};
use staywell::clock::ManualClock;
use staywell::config::OutboxSettings;
use staywell::content::{Content, shipped_dialogs_dir};
use staywell::domain::{ChatId, Outgoing};
use staywell::machinery::{Loops, Options, Parts, load_dialogs};
use staywell::scheduler::Scheduler;
use staywell::store::Store;
use staywell::store::prelude::*;
use staywell::worker::delivery::{Delivered, Messenger};
use tokio::runtime::Runtime;

const MEMBERS: i64 = 100_000;
const DUE: i64 = 6_000;

struct World {
    store: Store,
    scheduler: Scheduler,
    clock: ManualClock,
}

/// The scheduler is measured alone: its loops' delivery is never run.
struct Undelivered;

impl Messenger for Undelivered {
    async fn deliver(&self, _: ChatId, _: Outgoing) -> Delivered {
        Delivered::Transient("this bench delivers nothing".into())
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Writes `members` members with a daily schedule each into a new database at `path`;
/// `next(i)` is member `i`'s local time ("HH:MM", London = UTC in early March) and next
/// occurrence.
async fn seed(path: &Path, members: i64, next: impl Fn(i64) -> (String, DateTime<Utc>)) {
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let created = at("2026-03-01T12:00:00Z");
    let mut tx = store.begin_write().await.unwrap();
    for i in 0..members {
        let chat = ChatId(1_000_000 + i);
        let member = member::onboarded(&mut tx, chat, i, vec![], created).await;
        let (local, due) = next(i);
        tx.set_schedule(member, "daily_checkin", "*", &local, Some(due), created)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;
}

/// The scheduler over the database at `path`, its clock at `now` (and a first tick there,
/// which writes the heartbeat).
async fn open(path: &Path, now: DateTime<Utc>) -> World {
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let clock = ManualClock::new(now);
    let dir = shipped_dialogs_dir();
    let content = Arc::new(Content::load_or_fail(&dir, now.date_naive()).unwrap());
    let dialogs = Arc::new(load_dialogs(&dir, &store, now).await.unwrap());
    let parts = Parts {
        store: store.clone(),
        clock: Arc::new(clock.clone()),
        content,
        dialogs,
        // No rule templates: nobody here has a plan.
        rules: Arc::new(std::collections::BTreeMap::new()),
    };
    let options = Options {
        down_after: Duration::days(1),
        ..Options::virtual_time(60, OutboxSettings::default()).unwrap()
    };
    let Loops { scheduler, .. } = Loops::wire(&parts, options, Undelivered);
    scheduler.tick(now).await.unwrap();
    World {
        store,
        scheduler,
        clock,
    }
}

fn hhmm(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A copy of the database at `from` (closed, so its WAL is checkpointed) at `to`.
fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", to.display()));
    }
    std::fs::copy(from, to).unwrap();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let dir = tempfile::tempdir().unwrap();

    ordinary_day(&mut c, &rt, dir.path());
    peak(&mut c, &rt, dir.path());
    c.final_summary();
    rt.block_on(peak_with_a_writer(dir.path()));
}

/// 100,000 schedules spread evenly over the day (about 69 a minute); the day starts at 08:00
/// (the end of the default quiet hours, so nothing is held back to make a peak there).
fn ordinary_day(c: &mut Criterion, rt: &Runtime, dir: &Path) {
    let path = dir.join("day.db");
    let start = at("2026-03-02T08:00:00Z");
    let setup = Instant::now();
    rt.block_on(seed(&path, MEMBERS, |i| {
        let minute = (i * 1440) / MEMBERS;
        let today = at("2026-03-02T00:00:00Z") + Duration::minutes(minute);
        let next = if today < start {
            today + Duration::days(1)
        } else {
            today
        };
        (hhmm(minute), next)
    }));
    println!(
        "setup: {MEMBERS} members with daily schedules spread over the day in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let w = rt.block_on(open(&path, start - Duration::seconds(30)));

    let mut g = c.benchmark_group("scheduler tick, 100,000 schedules");
    // Nothing due: 07:59:30, ticked again and again (the second half of a minute).
    let quiet = start - Duration::seconds(30);
    g.bench_function("nothing due", |b| {
        b.iter(|| rt.block_on(w.scheduler.tick(quiet)).unwrap())
    });
    g.bench_function("next wake-up query", |b| {
        b.iter(|| rt.block_on(w.store.next_due()).unwrap())
    });

    // Three hours and a few minutes of ordinary minutes first (untimed), so that every tick
    // measured opens, reminds and closes: steady state.
    let mut now = start;
    let warm = Instant::now();
    let mut last = Default::default();
    while now < start + Duration::minutes(185) {
        w.clock.set(now);
        last = rt.block_on(w.scheduler.tick(now)).unwrap();
        now += Duration::minutes(1);
    }
    println!(
        "ordinary minutes 08:00–11:05 ticked untimed in {:.1} s; the last: {last:?}",
        warm.elapsed().as_secs_f64()
    );
    // Each iteration is the next minute (there are 10 hours of them before quiet hours).
    g.bench_function(
        "an ordinary minute (~69 open, ~69 remind, ~69 close)",
        |b| {
            b.iter_custom(|iters| {
                let mut took = StdDuration::ZERO;
                for _ in 0..iters {
                    w.clock.set(now);
                    let t0 = Instant::now();
                    rt.block_on(w.scheduler.tick(now)).unwrap();
                    took += t0.elapsed();
                    now += Duration::minutes(1);
                }
                took
            })
        },
    );
    g.finish();
    println!("(the ordinary minutes measured ended at {now})");
    rt.block_on(w.store.close());
}

/// 6,000 of the 100,000 due at 19:00, the rest over the following ten hours; each run ticks
/// 19:00 on a fresh copy of that database.
fn peak(c: &mut Criterion, rt: &Runtime, dir: &Path) {
    let template = dir.join("peak-template.db");
    let t = at("2026-03-02T19:00:00Z");
    let before = t - Duration::hours(1);
    rt.block_on(async {
        seed(&template, MEMBERS, |i| {
            let next = if i < DUE {
                t
            } else {
                t + Duration::minutes(1 + i % 600)
            };
            (
                hhmm((next - at("2026-03-02T00:00:00Z")).num_minutes() % 1440),
                next,
            )
        })
        .await;
        // The heartbeat and the dialog snapshots, once, in the template.
        open(&template, before).await.store.close().await;
    });
    let run = dir.join("peak.db");
    let mut g = c.benchmark_group("scheduler tick, 100,000 schedules");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    g.bench_function("6,000 check-ins due at 19:00 (12,000 prompts)", |b| {
        b.iter_custom(|iters| {
            let mut took = StdDuration::ZERO;
            for _ in 0..iters {
                copy_db(&template, &run);
                let w = rt.block_on(open(&run, before));
                w.clock.set(t);
                let t0 = Instant::now();
                let report = rt.block_on(w.scheduler.tick(t)).unwrap();
                took += t0.elapsed();
                assert_eq!(report.opened, DUE as usize);
                rt.block_on(w.store.close());
            }
            took
        })
    });
    g.finish();
}

/// The same peak while someone mid-conversation writes every 5 ms: how long does each of
/// their write transactions wait for the lock the scheduler's batches hold?
async fn peak_with_a_writer(dir: &Path) {
    let path = dir.join("writer.db");
    let t = at("2026-03-02T19:00:00Z");
    seed(&path, DUE, |_| ("19:00".into(), t)).await;
    let w = open(&path, t - Duration::hours(1)).await;
    w.clock.set(t);
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, done) = (w.store.clone(), done.clone());
        tokio::spawn(async move {
            let mut waits = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let tx = store.begin_write().await.unwrap();
                waits.push(t0.elapsed().as_secs_f64() * 1e3);
                tx.rollback().await.unwrap();
                tokio::time::sleep(StdDuration::from_millis(5)).await;
            }
            waits
        })
    };
    let t0 = Instant::now();
    let report = w.scheduler.tick(t).await.unwrap();
    let took = t0.elapsed().as_secs_f64() * 1e3;
    done.store(true, Ordering::Relaxed);
    let mut waits = writer.await.unwrap();
    waits.sort_by(f64::total_cmp);
    let q = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize];
    println!(
        "the 6,000-check-in peak alone ({} opened, {took:.0} ms) with a writer every 5 ms: its wait for the write lock p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} writes)",
        report.opened,
        q(0.5),
        q(0.99),
        q(1.0),
        waits.len()
    );
}
