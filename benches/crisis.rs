//! The cost of crisis-language detection, which runs on every message anyone sends: the
//! shipped `dialogs/crisis.toml` over the labelled corpus in `tests/crisis/` (every crisis and
//! ordinary message in turn), per message; and loading the phrases (once at start-up).
//! Run: `cargo bench --bench crisis`.

use std::hint::black_box;
use std::path::Path;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput};
use staywell::content::{Content, shipped_dialogs_dir};

fn messages() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crisis");
    ["crisis.txt", "ordinary.txt"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .map(|l| l.split_once(": ").map_or(l, |(_, m)| m).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn main() {
    let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let content = Content::load_or_fail(&shipped_dialogs_dir(), today).unwrap();
    let messages = messages();
    // A long message too: Telegram's 4,096 characters of ordinary text.
    let long: String = "went to the shops and saw my sister, the traffic was killing me "
        .repeat(80)
        .chars()
        .take(4096)
        .collect();
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("crisis");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.bench_function("corpus, per message", |b| {
        b.iter(|| {
            messages
                .iter()
                .filter(|m| content.crisis.matches(black_box(m)))
                .count()
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("one 4,096-character message", |b| {
        b.iter(|| content.crisis.matches(black_box(&long)))
    });
    g.bench_function("load crisis.toml", |b| {
        b.iter(|| {
            Content::load(black_box(&shipped_dialogs_dir()), today)
                .content
                .is_some()
        })
    });
    g.finish();
    c.final_summary();
}
