//! Resident memory of the real `staywell serve` process with 100,000 members, through a
//! peak. Seeds a SQLite file (members with consent, a daily schedule each, quiet hours off,
//! 10,000 of them with an early-warning plan, and two weeks of answered check-ins for
//! everyone), starts the release binary against the fake Bot API (Telegram's pacing lifted
//! in a `staywell.toml`), and drives it through a peak: 6,000 check-ins due in the same
//! minute, each person pressing through three questions as their buttons arrive, and 2,000
//! other members sending `/help` meanwhile. Reads `VmRSS` (sampled) and `VmHWM` (the kernel's
//! own peak) from `/proc/<pid>/status`. Linux only. Not a criterion bench: the figure is one
//! process's peak, not the mean of a repeated operation.
//!
//! Run: `cargo bench --bench memory`.

#[path = "../tests/it/fake_telegram.rs"]
mod fake_telegram;

#[path = "support/member.rs"]
mod member;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Timelike, Utc};
use fake_telegram::{BOT_TOKEN, FakeTelegram, Sent};
use staywell::content::shipped_dialogs_dir;
use staywell::conversation::Change;
use staywell::domain::ChatId;
use staywell::rules::Tier;
use staywell::schedule::{LocalTime, QuietHours};
use staywell::store::prelude::*;
use staywell::store::{PlanRule, Store};

const MEMBERS: i64 = 100_000;
const DUE: i64 = 6_000;
const WITH_PLAN: i64 = 10_000;
const HISTORY_DAYS: i64 = 14;
const HELP_SENDERS: i64 = 2_000;
const PRESSES: usize = 3;
const CHAT0: i64 = 1_000_000;

/// London is UTC in winter and one hour ahead in summer.
fn london_hhmm(t: DateTime<Utc>) -> String {
    let l = t.with_timezone(&chrono_tz::Europe::London);
    format!("{:02}:{:02}", l.hour(), l.minute())
}

/// Members, schedules and plans through the store's own changes; history by SQL matching
/// `migrations/sqlite` (completed daily check-ins with their slots and two answers each).
async fn seed(path: &Path, peak: DateTime<Utc>) {
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let created = Utc::now() - Duration::days(HISTORY_DAYS + 1);
    let no_quiet = QuietHours {
        start: LocalTime::parse("00:00").unwrap(),
        end: LocalTime::parse("00:00").unwrap(),
    };
    let mut tx = store.begin_write().await.unwrap();
    for i in 0..MEMBERS {
        let chat = ChatId(CHAT0 + i);
        let mut changes = vec![
            // Quiet hours off, so the peak happens whenever this bench runs.
            Change::SetQuietHours(no_quiet),
        ];
        if i % (MEMBERS / WITH_PLAN) == 0 {
            changes.push(Change::SetPlanRule {
                rule: PlanRule {
                    rule_id: "low_mood_run".into(),
                    params: Default::default(),
                    tier: Tier::SelfHelp,
                    ask_first: false,
                    tell_if_unanswered: true,
                },
                wording: "bench plan".into(),
                shares: vec![],
                version: 1,
            });
        }
        let member = member::onboarded(&mut tx, chat, i, changes, created).await;
        // 6,000 due at the peak, the rest spread over the next ten hours.
        let due = if i < DUE {
            peak
        } else {
            peak + Duration::minutes(1 + i % 600)
        };
        tx.set_schedule(
            member,
            "daily_checkin",
            "*",
            &london_hhmm(due),
            Some(due),
            created,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;

    // Two weeks of completed check-ins for everyone: a session, a slot and two answers a day.
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let day_ms = 86_400_000i64;
    let today = (Utc::now() - Duration::days(1)).timestamp_millis();
    let mut tx = pool.begin().await.unwrap();
    for d in 1..=HISTORY_DAYS {
        let t = today - d * day_ms;
        let date = DateTime::from_timestamp_millis(t)
            .unwrap()
            .date_naive()
            .to_string();
        sqlx::query(
            "INSERT INTO sessions (member_id, dialog_id, dialog_version, status, state,
                                   started_at, updated_at, expires_at, completed_at)
             SELECT id, 'daily_checkin', 1, 'completed', '{}', ?1, ?1 + 300000, ?1 + 10800000, ?1 + 300000
             FROM members",
        )
        .bind(t)
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO slots (schedule_id, member_id, dialog_id, local_date, due_at, opens_at,
                                closes_at, session_id, outcome)
             SELECT sc.id, se.member_id, 'daily_checkin', ?2, ?1, ?1, ?1 + 10800000, se.id, 'completed'
             FROM sessions se JOIN schedules sc ON sc.member_id = se.member_id
             WHERE se.started_at = ?1",
        )
        .bind(t)
        .bind(&date)
        .execute(&mut *tx)
        .await
        .unwrap();
        for (step, value) in [
            ("happy", "(se.member_id + ?2) % 11"),
            ("anxious", "(se.member_id * 3 + ?2) % 11"),
        ] {
            let sql = format!(
                "INSERT INTO answers (session_id, member_id, dialog_id, dialog_version, step_id,
                                      state, value, answered_at)
                 SELECT se.id, se.member_id, 'daily_checkin', 1, '{step}', 'answered',
                        CAST({value} AS TEXT), ?1 + 60000
                 FROM sessions se WHERE se.started_at = ?1"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(t)
                .bind(d)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The first button of a message's inline keyboard, if it has one.
fn first_button(sent: &Sent) -> Option<String> {
    sent.reply_markup.as_ref()?["inline_keyboard"]
        .as_array()?
        .first()?
        .as_array()?
        .first()?["callback_data"]
        .as_str()
        .map(str::to_string)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staywell.db");
    let t0 = Instant::now();
    // The peak's minute: far enough ahead for seeding and start-up (if it is reached
    // earlier, the first tick opens them all the same).
    let peak = (Utc::now() + Duration::seconds(90))
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    seed(&db, peak).await;
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "seeded {MEMBERS} members ({WITH_PLAN} with a plan, {HISTORY_DAYS} days of history each; database {:.0} MB) in {:.1} s; {DUE} check-ins due at {peak}",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    let fake = FakeTelegram::start().await;
    std::fs::write(
        dir.path().join("staywell.toml"),
        "[outbox]\nglobal_per_second = 1000000\nper_chat_burst = 1000000\nper_chat_interval_ms = 0\nmax_in_flight = 64\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_staywell"))
        .arg("serve")
        .current_dir(dir.path())
        .env("TELOXIDE_TOKEN", BOT_TOKEN)
        .env("TELOXIDE_API_URL", fake.api_url())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir())
        .env("RUST_LOG", "warn")
        .env_remove("STAYWELL_CRASH_AT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("the staywell binary starts");
    let pid = child.id();

    // Idle: started, polling, nothing due yet (if the peak has not come already).
    fake.wait_for(StdDuration::from_secs(60), "the first getUpdates", |v| {
        v.count("getupdates", 200) > 0
    })
    .await;
    tokio::time::sleep(StdDuration::from_secs(2)).await;
    let (idle, _) = memory(pid).expect("the process is running");
    println!("idle after start-up: VmRSS {:.1} MiB", mib(idle));

    // The peak: press through the questions as they come, and 2,000 others ask for help.
    let started = Instant::now();
    let mut max_rss = idle;
    let mut pressed: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut helped = 0;
    let deadline = Instant::now() + StdDuration::from_secs(180);
    let mut last_progress = (0usize, Instant::now());
    loop {
        let sent = fake.sent();
        // Each due person's latest message with buttons: pressed once, if not yet.
        let mut latest: HashMap<i64, &Sent> = HashMap::new();
        for s in &sent {
            if (CHAT0..CHAT0 + DUE).contains(&s.chat_id) && first_button(s).is_some() {
                latest.insert(s.chat_id, s);
            }
        }
        for (chat, s) in latest {
            let done = pressed.entry(chat).or_default();
            if done.len() < PRESSES && !done.contains(&s.message_id) {
                let data = first_button(s).unwrap_or_default();
                fake.push_callback(chat, chat, s.message_id, &data);
                done.push(s.message_id);
            }
        }
        if !sent.is_empty() && helped < HELP_SENDERS {
            for chat in CHAT0 + DUE + helped..CHAT0 + DUE + (helped + 200).min(HELP_SENDERS) {
                fake.push_text(chat, "/help");
            }
            helped = (helped + 200).min(HELP_SENDERS);
        }
        if let Some((rss, _)) = memory(pid) {
            max_rss = max_rss.max(rss);
        }
        let presses: usize = pressed.values().map(Vec::len).sum();
        if sent.len() > last_progress.0 {
            last_progress = (sent.len(), Instant::now());
        }
        let all_pressed = presses >= PRESSES * DUE as usize;
        let quiet = !sent.is_empty() && last_progress.1.elapsed() > StdDuration::from_secs(5);
        if (all_pressed || quiet) && fake.undelivered() == 0 {
            // Let the last replies go out.
            tokio::time::sleep(StdDuration::from_secs(2)).await;
            break;
        }
        if Instant::now() > deadline {
            println!("(stopped driving after 180 s: {presses} presses made)");
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
    }
    let (rss, hwm) = memory(pid).expect("the process is still running");
    let sent = fake.sent().len();
    let presses: usize = pressed.values().map(Vec::len).sum();
    println!(
        "peak driven in {:.1} s: {sent} messages sent, {presses} button presses, {helped} /help",
        started.elapsed().as_secs_f64()
    );
    println!(
        "RESULT: resident memory with {MEMBERS} members: idle {:.1} MiB; through the peak VmRSS sampled max {:.1} MiB, now {:.1} MiB; VmHWM (peak RSS) {:.1} MiB",
        mib(idle),
        mib(max_rss.max(rss)),
        mib(rss),
        mib(hwm)
    );
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = child.wait().unwrap();
    if !status.success() {
        let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
        println!("serve exited with {status}; its log:\n{log}");
    }
}
