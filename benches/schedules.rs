//! Scheduler costs at scale: a tick over 100,000 member schedules when nothing is due, the
//! next-wake-up query, and a tick that opens 6,000 check-ins due in the same minute (each a
//! slot, a session and its prompts, durably committed). Not a test: it measures and prints.
//! Run: `cargo bench --bench schedules`.

use std::sync::Arc;
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

async fn run() {
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

    let setup = Instant::now();
    let mut tx = store.begin_write().await.unwrap();
    for i in 0..MEMBERS {
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
        // 6,000 due at 19:00 (UTC = London in March); the rest spread over later minutes.
        let next = if i < DUE {
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
    println!(
        "setup: {MEMBERS} members with schedules in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

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

    // Nothing due: the common case, every minute.
    scheduler.tick(before).await.unwrap();
    let n = 20;
    let t0 = Instant::now();
    for k in 0..n {
        scheduler.tick(before + Duration::seconds(k)).await.unwrap();
    }
    println!(
        "tick over {MEMBERS} schedules, nothing due: {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let t0 = Instant::now();
    for _ in 0..n {
        store.next_schedule_due().await.unwrap();
    }
    println!(
        "next wake-up (earliest slot, reminder or window close): {:.3} ms",
        t0.elapsed().as_secs_f64() * 1e3 / n as f64
    );

    // 19:00: 6,000 check-ins open at once.
    clock.set(t);
    let t0 = Instant::now();
    let report = scheduler.tick(t).await.unwrap();
    println!(
        "tick opening {} check-ins due in the same minute (slots, sessions, {} prompts queued): {:.0} ms",
        report.opened,
        report.opened * 2,
        t0.elapsed().as_secs_f64() * 1e3
    );
}
