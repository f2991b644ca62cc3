//! Scheduler costs at scale: a tick over 100,000 member schedules when nothing is due, the
//! next-wake-up query, and a tick that opens 6,000 check-ins due in the same minute (each a
//! slot, a session and its prompts, durably committed); then the same 6,000 again in a
//! smaller world while someone keeps writing (as the processor does for people
//! mid-conversation), to see how long they wait for the write lock. Not a test: it measures
//! and prints. Run: `cargo bench --bench schedules`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use staywell::app::load_dialogs;
use staywell::clock::{Clock, ManualClock};
use staywell::content::{Content, shipped_dialogs_dir};
use staywell::conversation::{Change, Onboarding};
use staywell::domain::{ChatId, UserId};
use staywell::scheduler::Scheduler;
use staywell::store::Store;
use tokio::sync::Notify;

const MEMBERS: i64 = 100_000;
const DUE: i64 = 6_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

struct World {
    store: Store,
    scheduler: Scheduler,
    clock: ManualClock,
    /// 19:00, when `due` check-ins are due at once.
    t: DateTime<Utc>,
    _dir: tempfile::TempDir,
}

/// `members` members with daily schedules: `due` of them due at 19:00 (UTC = London in
/// March), the rest spread over later minutes.
async fn world(members: i64, due: i64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let t = DateTime::parse_from_rfc3339("2026-03-02T19:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let before = t - Duration::hours(1);

    let mut tx = store.begin_write().await.unwrap();
    for i in 0..members {
        let chat = ChatId(1_000_000 + i);
        let changes = [
            Change::CreateMember {
                user: UserId(chat.0),
                consent_wording: "bench".into(),
                consent_version: 1,
            },
            Change::SetName(format!("M{i}")),
            Change::SetOnboarding(Onboarding::Done),
        ];
        Store::apply_changes(&mut tx, chat, &changes, before)
            .await
            .unwrap();
        let member = Store::load_person(&mut tx, chat)
            .await
            .unwrap()
            .member
            .unwrap()
            .id;
        let next = if i < due {
            t
        } else {
            t + Duration::minutes(1 + i % 600)
        };
        Store::set_schedule(
            &mut tx,
            member,
            "daily_checkin",
            "*",
            "19:00",
            Some(next),
            before,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let clock = ManualClock::new(before);
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let content = Arc::new(Content::load_or_fail(&shipped_dialogs_dir(), t.date_naive()).unwrap());
    let dialogs = Arc::new(
        load_dialogs(&shipped_dialogs_dir(), &store, t)
            .await
            .unwrap(),
    );
    let scheduler = Scheduler {
        store: store.clone(),
        content,
        dialogs,
        clock: shared,
        outbox_ready: Arc::new(Notify::new()),
        wake: Arc::new(Notify::new()),
        reminder_delay: Duration::minutes(60),
        down_after: Duration::days(1),
        rules: Arc::new(std::collections::BTreeMap::new()),
    };
    scheduler.tick(before).await.unwrap();
    World {
        store,
        scheduler,
        clock,
        t,
        _dir: dir,
    }
}

async fn run() {
    let setup = Instant::now();
    let w = world(MEMBERS, DUE).await;
    println!(
        "setup: {MEMBERS} members with schedules in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let (t, before) = (w.t, w.t - Duration::hours(1));

    // Nothing due: the common case, every minute.
    let n = 20;
    let t0 = Instant::now();
    for k in 0..n {
        w.scheduler
            .tick(before + Duration::seconds(k))
            .await
            .unwrap();
    }
    println!(
        "tick over {MEMBERS} schedules, nothing due: {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let t0 = Instant::now();
    for _ in 0..n {
        w.store.next_schedule_due().await.unwrap();
    }
    println!(
        "next wake-up (earliest slot, reminder or window close): {:.3} ms",
        t0.elapsed().as_secs_f64() * 1e3 / n as f64
    );

    // 19:00: 6,000 check-ins open at once.
    w.clock.set(t);
    let t0 = Instant::now();
    let report = w.scheduler.tick(t).await.unwrap();
    println!(
        "tick opening {} check-ins due in the same minute (slots, sessions, {} prompts queued): {:.0} ms",
        report.opened,
        report.opened * 2,
        t0.elapsed().as_secs_f64() * 1e3
    );
    drop(w);

    // The same peak while someone mid-conversation writes every 5 ms: how long does each of
    // their write transactions wait for the lock the scheduler's batches hold?
    let w = world(DUE, DUE).await;
    w.clock.set(w.t);
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
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            waits
        })
    };
    let t0 = Instant::now();
    let report = w.scheduler.tick(w.t).await.unwrap();
    let took = t0.elapsed().as_secs_f64() * 1e3;
    done.store(true, Ordering::Relaxed);
    let mut waits = writer.await.unwrap();
    waits.sort_by(f64::total_cmp);
    let q = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize];
    println!(
        "the same peak ({} opened, {took:.0} ms) with a writer every 5 ms: its wait for the write lock p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} writes)",
        report.opened,
        q(0.5),
        q(0.99),
        q(1.0),
        waits.len()
    );
}
