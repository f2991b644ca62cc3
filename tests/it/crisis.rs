//! Crisis language however it is typed: the shipped `dialogs/crisis.toml` against the
//! labelled corpus in `tests/crisis/` (messages that must bring up the card, and ordinary
//! messages that share their words). Prints recall and the false-positive rate, by kind.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use staywell::content::{Content, shipped_dialogs_dir};

/// Below this share of crisis messages found, the test fails.
const MIN_RECALL: f64 = 0.98;
/// Above this share of ordinary messages flagged, the test fails.
const MAX_FALSE_POSITIVES: f64 = 0.05;

/// `(kind, message)` for every line of a corpus file.
fn corpus(name: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/crisis")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let (kind, msg) = l
                .split_once(": ")
                .unwrap_or_else(|| panic!("{}:{}: not `kind: message`", path.display(), i + 1));
            (kind.to_string(), msg.to_string())
        })
        .collect()
}

fn content() -> Content {
    let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    Content::load_or_fail(&shipped_dialogs_dir(), today).unwrap()
}

/// Per kind: (found, total).
fn tally(messages: &[(String, String)], content: &Content) -> BTreeMap<String, (usize, usize)> {
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (kind, msg) in messages {
        let e = by_kind.entry(kind.clone()).or_default();
        e.1 += 1;
        if content.crisis.matches(msg) {
            e.0 += 1;
        }
    }
    by_kind
}

fn share(by_kind: &BTreeMap<String, (usize, usize)>) -> (usize, usize) {
    by_kind
        .values()
        .fold((0, 0), |(f, t), (kf, kt)| (f + kf, t + kt))
}

/// The corpus files: `crisis.txt` and `ordinary.txt` (written first, and the phrases tuned
/// on them), `holdout-*.txt` (written afterwards by someone who had not seen the phrases;
/// their first measurement is in the README).
const CRISIS_FILES: &[&str] = &["crisis.txt", "holdout-crisis.txt"];
const ORDINARY_FILES: &[&str] = &["ordinary.txt", "holdout-ordinary.txt"];

fn report(
    what: &str,
    crisis: &[(String, String)],
    ordinary: &[(String, String)],
    content: &Content,
) -> (f64, f64) {
    let found = tally(crisis, content);
    let flagged = tally(ordinary, content);
    let (hit, total) = share(&found);
    let (fp, normal) = share(&flagged);
    let recall = hit as f64 / total as f64;
    let fp_rate = fp as f64 / normal as f64;
    println!(
        "{what}: recall {:.1} % ({hit} of {total}); false positives {:.1} % ({fp} of {normal})",
        recall * 100.0,
        fp_rate * 100.0
    );
    (recall, fp_rate)
}

#[test]
fn crisis_language_is_found_however_it_is_typed_and_ordinary_messages_rarely_bring_up_the_card() {
    let content = content();
    let read = |files: &[&str]| files.iter().flat_map(|f| corpus(f)).collect::<Vec<_>>();
    let crisis = read(CRISIS_FILES);
    let ordinary = read(ORDINARY_FILES);
    assert!(crisis.len() >= 300, "{} crisis messages", crisis.len());
    assert!(
        ordinary.len() >= 200,
        "{} ordinary messages",
        ordinary.len()
    );

    println!("crisis messages found, by kind:");
    for (kind, (f, t)) in &tally(&crisis, &content) {
        println!("  {kind:<16} {f:>3} of {t:>3}");
    }
    println!("ordinary messages that brought up the card, by kind:");
    for (kind, (f, t)) in &tally(&ordinary, &content) {
        println!("  {kind:<24} {f:>3} of {t:>3}");
    }
    for (kind, msg) in crisis.iter().filter(|(_, m)| !content.crisis.matches(m)) {
        println!("  missed ({kind}): {msg}");
    }
    for (kind, msg) in &ordinary {
        if let Some(phrase) = content.crisis.language().find(msg) {
            println!("  false positive ({kind}): {msg}   ← \"{phrase}\"");
        }
    }
    for (c, o) in CRISIS_FILES.iter().zip(ORDINARY_FILES) {
        report(&format!("{c} / {o}"), &corpus(c), &corpus(o), &content);
    }
    let language = content.crisis.language();
    println!(
        "{} crisis patterns once alternatives are expanded; compiled, {:.1} MiB",
        language.pattern_count(),
        language.memory_usage() as f64 / 1048576.0
    );
    let (recall, fp_rate) = report("all", &crisis, &ordinary, &content);
    assert!(
        recall >= MIN_RECALL,
        "recall {recall:.3} below {MIN_RECALL}"
    );
    assert!(
        fp_rate <= MAX_FALSE_POSITIVES,
        "false positives {fp_rate:.3} above {MAX_FALSE_POSITIVES}"
    );
}

#[test]
fn every_phrase_the_issue_named_brings_up_the_card() {
    let content = content();
    for msg in [
        "killmyself",
        "kill my self",
        "kms",
        "unalive",
        "sucidal",
        "I don't want to be here anymore",
        "I can't go on",
        "no point living",
        "everyone would be better off without me",
        "I want to stop existing",
        "I cut myself again",
        "took too many pills",
        "I have a rope",
        "jump off the bridge",
        "goodbye everyone, this is the end",
        "i want 2 die",
    ] {
        assert!(content.crisis.matches(msg), "{msg}");
    }
    for msg in [
        "my phone died",
        "I cut my hair",
        "the traffic is killing me",
        "I took my pills",
    ] {
        assert!(!content.crisis.matches(msg), "{msg}");
    }
}
