//! Full-stack throughput and latency, against a baseline measured in the same run: a bare
//! teloxide echo bot. Updates go through the fake Telegram Bot API over HTTP, into the
//! durable inbox (SQLite, WAL, synchronous=FULL), through processing, into the outbox, and
//! out again as `sendMessage` calls; the echo bot (teloxide's own polling and `Dispatcher`,
//! one handler that sends each text back) gets the same updates from the same chats over
//! the same fake server and stores nothing. Each rate is the better of two runs, taken in
//! turn (echo, ours, echo, ours), so that both see the same machine.
//!
//! Not a criterion bench: one run is thousands of updates through a whole process, whose
//! figure is a rate and a latency distribution, not the mean of a repeated small operation;
//! criterion's statistics over a handful of 7-second samples would add time, not honesty.
//!
//! Run: `cargo bench --bench throughput` (add `-- --quick` for a shorter run).
//!
//! Telegram's own pacing (30 messages/s) is lifted here: the point is what our stack can do,
//! not what Telegram allows.

#[path = "../tests/it/fake_telegram.rs"]
mod fake_telegram;

mod support;

use std::time::{Duration, Instant};

use fake_telegram::{BOT_TOKEN, FakeTelegram};
use teloxide::dispatching::ShutdownToken;
use teloxide::prelude::*;

/// Which bot answers.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Staywell,
    Echo,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Staywell => "staywell (durable, full stack)",
            Kind::Echo => "echo bot (teloxide, no storage)",
        }
    }
}

/// A running bot of either kind, with its fake Telegram.
enum Running {
    Staywell(support::Bench),
    Echo {
        fake: FakeTelegram,
        shutdown: ShutdownToken,
        handle: tokio::task::JoinHandle<()>,
    },
}

impl Running {
    async fn start(kind: Kind) -> Running {
        match kind {
            Kind::Staywell => Running::Staywell(support::start().await),
            Kind::Echo => {
                let fake = FakeTelegram::start().await;
                let bot = Bot::new(BOT_TOKEN).set_api_url(fake.api_url().parse().unwrap());
                let handler =
                    Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
                        if let Some(text) = msg.text() {
                            bot.send_message(msg.chat.id, text).await?;
                        }
                        Ok::<(), teloxide::RequestError>(())
                    });
                let mut dispatcher = Dispatcher::builder(bot, handler).build();
                let shutdown = dispatcher.shutdown_token();
                let handle = tokio::spawn(async move { dispatcher.dispatch().await });
                Running::Echo {
                    fake,
                    shutdown,
                    handle,
                }
            }
        }
    }

    fn fake(&self) -> &FakeTelegram {
        match self {
            Running::Staywell(b) => &b.fake,
            Running::Echo { fake, .. } => fake,
        }
    }

    async fn finish(self) {
        match self {
            Running::Staywell(b) => b.finish().await,
            Running::Echo {
                shutdown, handle, ..
            } => {
                // The dispatcher may still be starting its first poll; retry until it stops.
                loop {
                    match shutdown.shutdown() {
                        Ok(done) => {
                            done.await;
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                handle.await.unwrap();
            }
        }
    }
}

/// When the inbox held every update, and when every one was processed (read-only, every
/// 20 ms, on a connection of its own).
async fn stages(url: String, updates: usize, t0: Instant) -> (Duration, Duration) {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let (mut stored, mut processed) = (None, None);
    while processed.is_none() {
        let (all, done): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(processed_at) FROM inbox")
                .fetch_one(&pool)
                .await
                .unwrap();
        if stored.is_none() && all as usize >= updates {
            stored = Some(t0.elapsed());
        }
        if done as usize >= updates {
            processed = Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pool.close().await;
    (stored.unwrap_or_default(), processed.unwrap_or_default())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Everything at once: how many updates per second the bot turns into delivered replies.
async fn throughput(kind: Kind, updates: usize, chats: i64) -> f64 {
    let b = Running::start(kind).await;
    // Let it connect and make its first poll before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    // Our stack's stages, seen from its database: when every update was stored, processed.
    let stages = match &b {
        Running::Staywell(bench) => Some(tokio::spawn(stages(bench.database_url(), updates, t0))),
        Running::Echo { .. } => None,
    };
    for i in 0..updates {
        b.fake().push_text(1_000 + (i as i64 % chats), "/help");
    }
    b.fake()
        .wait_for(Duration::from_secs(600), "every reply", |v| {
            v.sent.len() >= updates
        })
        .await;
    let elapsed = t0.elapsed();
    if let Some(stages) = stages {
        let (stored, processed) = stages.await.unwrap();
        println!(
            "  stages: every update stored in the inbox after {:.2} s, processed (replies in the outbox) after {:.2} s, delivered after {:.2} s",
            stored.as_secs_f64(),
            processed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }
    let rate = updates as f64 / elapsed.as_secs_f64();
    println!(
        "throughput, {}: {updates} updates from {chats} chats, all replies delivered in {:.2} s = {rate:.0} updates/s",
        kind.name(),
        elapsed.as_secs_f64(),
    );
    b.finish().await;
    rate
}

/// A steady offered load: latency from "update available" to "reply delivered".
async fn latency(kind: Kind, rate_per_sec: u64, seconds: u64) {
    let b = Running::start(kind).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let n = (rate_per_sec * seconds) as usize;
    let interval = Duration::from_micros(1_000_000 / rate_per_sec);
    let mut pushed = Vec::with_capacity(n);
    let t0 = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(t0 + interval * i as u32).await;
        let chat = 50_000 + i as i64; // one update per chat: its reply is unambiguous
        pushed.push((chat, Instant::now()));
        b.fake().push_text(chat, "/help");
    }
    b.fake()
        .wait_for(Duration::from_secs(120), "every reply", |v| {
            v.sent.len() >= n
        })
        .await;
    let sent = b.fake().sent();
    let first: std::collections::HashMap<i64, Instant> =
        sent.iter().rev().map(|s| (s.chat_id, s.at)).collect();
    let mut lat: Vec<Duration> = pushed
        .iter()
        .map(|(chat, at)| first[chat].saturating_duration_since(*at))
        .collect();
    lat.sort();
    println!(
        "latency, {}, at {rate_per_sec} updates/s for {seconds} s ({n} updates): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        kind.name(),
        percentile(&lat, 0.50).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3
    );
    b.finish().await;
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (updates, seconds) = if quick { (2_000, 3) } else { (20_000, 10) };
        let chats = 500;
        let (mut echo, mut ours) = (0f64, 0f64);
        for _ in 0..2 {
            echo = echo.max(throughput(Kind::Echo, updates, chats).await);
            ours = ours.max(throughput(Kind::Staywell, updates, chats).await);
        }
        println!(
            "RESULT: staywell {ours:.0} updates/s, echo bot {echo:.0} updates/s (better of two runs each): staywell reaches {:.0}% of the bare echo bot",
            100.0 * ours / echo
        );
        for rate in [100, 500] {
            latency(Kind::Echo, rate, seconds).await;
            latency(Kind::Staywell, rate, seconds).await;
        }
    });
}
