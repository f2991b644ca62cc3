//! Full-stack throughput and latency: updates go through the fake Telegram Bot API over
//! HTTP, into the durable inbox (SQLite, WAL, synchronous=FULL), through processing, into the
//! outbox, and out again as `sendMessage` calls. Not a test: it measures and prints.
//!
//! Run: `cargo bench --bench throughput` (add `-- --quick` for a shorter run).
//!
//! Telegram's own pacing (30 messages/s) is lifted here: the point is what our stack can do,
//! not what Telegram allows.

#[path = "../tests/it/fake_telegram.rs"]
mod fake_telegram;

mod support;

use std::time::{Duration, Instant};

use support::start;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Everything at once: how many updates per second the stack turns into delivered replies.
async fn throughput(updates: usize, chats: i64) {
    let b = start().await;
    let t0 = Instant::now();
    for i in 0..updates {
        b.fake.push_text(1_000 + (i as i64 % chats), "/help");
    }
    b.fake
        .wait_for(Duration::from_secs(600), "every reply", |v| {
            v.sent.len() >= updates
        })
        .await;
    let elapsed = t0.elapsed();
    println!(
        "throughput: {updates} updates from {chats} chats, all replies delivered in {:.2} s = {:.0} updates/s",
        elapsed.as_secs_f64(),
        updates as f64 / elapsed.as_secs_f64()
    );
    b.finish().await;
}

/// A steady offered load: latency from "update available" to "reply delivered".
async fn latency(rate_per_sec: u64, seconds: u64) {
    let b = start().await;
    let n = (rate_per_sec * seconds) as usize;
    let interval = Duration::from_micros(1_000_000 / rate_per_sec);
    let mut pushed = Vec::with_capacity(n);
    let t0 = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(t0 + interval * i as u32).await;
        let chat = 50_000 + i as i64; // one update per chat: its reply is unambiguous
        pushed.push((chat, Instant::now()));
        b.fake.push_text(chat, "/help");
    }
    b.fake
        .wait_for(Duration::from_secs(120), "every reply", |v| {
            v.sent.len() >= n
        })
        .await;
    let sent = b.fake.sent();
    let mut lat: Vec<Duration> = pushed
        .iter()
        .map(|(chat, at)| {
            let reply = sent.iter().find(|s| s.chat_id == *chat).expect("a reply");
            reply.at.saturating_duration_since(*at)
        })
        .collect();
    lat.sort();
    println!(
        "latency at {rate_per_sec} updates/s for {seconds} s ({n} updates): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
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
        throughput(updates, 500).await;
        latency(100, seconds).await;
        latency(500, seconds).await;
    });
}
