//! Dialog costs: loading every shipped dialog and one engine step (criterion), and a whole
//! check-in through the full stack (fake Bot API over HTTP, durable SQLite, processing,
//! delivery; the mean of 20, printed). Run: `cargo bench --bench dialogs`.

#[path = "../tests/it/fake_telegram.rs"]
mod fake_telegram;

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use fake_telegram::FakeTelegram;
use staywell::content::{Content, shipped_dialogs_dir};
use staywell::dialog::engine::{self, ButtonAction, Ctx, Event};
use staywell::dialog::{Session, load_dir};

use criterion::Criterion;

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let dir = shipped_dialogs_dir();
    c.bench_function("load and validate every shipped dialog", |b| {
        b.iter(|| black_box(load_dir(&dir).catalog.unwrap()))
    });

    let catalog = load_dir(&dir).catalog.unwrap();
    let dialog = catalog.get("daily_checkin").unwrap().clone();
    let content = Content::load(&dir, chrono::Utc::now().date_naive())
        .content
        .unwrap();
    let ctx = Ctx {
        texts: &content.texts,
        name: "Alex",
        until: "21:00",
    };
    // One step: answering the first scale question of a fresh session.
    let mut started = Session::new();
    engine::advance(&dialog, &mut started, Event::Start, &ctx);
    c.bench_function("engine step (answer a scale question, ask the next)", |b| {
        b.iter_batched_ref(
            || started.clone(),
            |s| {
                let seq = s.seq;
                black_box(engine::advance(
                    &dialog,
                    s,
                    Event::Press {
                        seq,
                        action: ButtonAction::Choose(6),
                    },
                    &ctx,
                ))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.final_summary();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(full_checkin());
}

/// A whole daily check-in, button by button, through the real stack; time per check-in.
async fn full_checkin() {
    let bench = support::start().await;
    let fake = &bench.fake;
    let chat = 77;
    let say = |text: &str| {
        let before = fake.sent_to(chat).len();
        fake.push_text(chat, text);
        before
    };
    let wait = |n: usize| fake.wait_for_sent(chat, n, Duration::from_secs(30));
    let press = |label: &str| {
        let (message_id, data) = button(fake, chat, label);
        let before = fake.sent_to(chat).len();
        fake.push_callback(chat, chat, message_id, &data);
        before
    };
    let n = say("/start");
    wait(n + 3).await;
    let n = press("Yes, store my answers");
    wait(n + 1).await;
    let n = say("Alex");
    wait(n + 1).await;
    let n = press("UK time (Europe/London)");
    wait(n + 1).await;
    let n = press("Not now");
    wait(n + 1).await;

    let rounds = 20;
    let t0 = Instant::now();
    for _ in 0..rounds {
        let n = say("/checkin");
        wait(n + 2).await;
        for (label, replies) in [
            ("7", 1),
            ("3", 1),
            ("Fairly good", 1),
            ("Skip", 1),
            ("None of these", 0),
            ("Done", 1),
            ("Yes", 1),
            ("Skip", 1),
        ] {
            let edits = fake.requests_for("editmessagereplymarkup").len();
            let n = press(label);
            if replies == 0 {
                // A toggle answers by editing the buttons in place.
                fake.wait_for(Duration::from_secs(30), "the toggle", |v| {
                    v.count("editmessagereplymarkup", 200) > edits
                })
                .await;
            } else {
                wait(n + replies).await;
            }
        }
    }
    let per = t0.elapsed() / rounds;
    println!(
        "a whole daily check-in through the stack (10 inputs, durable): {:.1} ms",
        per.as_secs_f64() * 1e3
    );
    bench.finish().await;
}

fn button(fake: &FakeTelegram, chat: i64, label: &str) -> (i64, String) {
    for sent in fake.sent_to(chat).iter().rev() {
        if let Some((_, Some(markup))) = fake.message(chat, sent.message_id) {
            let hit = markup["inline_keyboard"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r.as_array().cloned().unwrap_or_default())
                .find(|b| b["text"].as_str() == Some(label));
            if let Some(b) = hit {
                return (
                    sent.message_id,
                    b["callback_data"].as_str().unwrap().to_string(),
                );
            }
            if markup["inline_keyboard"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                continue;
            }
        }
    }
    panic!("no button {label}");
}
