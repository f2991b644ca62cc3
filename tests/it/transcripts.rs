//! Conversations as data: every `tests/transcripts/*.txt` runs through the real bot, store
//! and fake Telegram server.
//!
//! A transcript is lines of:
//! - text: sent by the person as a message (commands too: `/checkin`);
//! - `:press LABEL`: press the button whose label is (or contains) LABEL on the latest
//!   message with buttons;
//! - `:expect TEXT`: some bot output since the previous action contains TEXT (messages,
//!   their button labels, notices on pressed buttons, and messages rewritten in place);
//! - `:expect-none TEXT`: no bot output since the previous action contains TEXT;
//! - `#` comments and blank lines.
//!
//! `SHOW_TRANSCRIPTS=1 cargo test transcripts -- --nocapture` prints each conversation.
//!
//! The same lines are `staywell chat --script` scripts (typing a bare number there presses a
//! button, so transcripts use `:press` for buttons).

use std::path::Path;

use crate::helpers::*;

const PERSON: i64 = 4242;

async fn run(path: &Path) {
    let script = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let app = spawn_app().await;
    let mut output: Vec<String> = Vec::new();
    let mut seen_msgs = 0usize;
    let mut seen_notices = 0usize;
    let mut seen_edits = 0usize;
    let mut seen_rewrites = 0usize;
    let mut log = String::new();
    for (n, raw) in script.lines().enumerate() {
        let line = raw.trim();
        let at = format!("{name}:{}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(text) = line.strip_prefix(":expect-none ") {
            assert!(
                !output.iter().any(|o| o.contains(text)),
                "{at}: expected no output containing {text:?}, got:\n{}\n--- conversation so far ---\n{log}",
                output.join("\n")
            );
            continue;
        }
        if let Some(text) = line.strip_prefix(":expect ") {
            assert!(
                output.iter().any(|o| o.contains(text)),
                "{at}: expected output containing {text:?}, got:\n{}\n--- conversation so far ---\n{log}",
                output.join("\n")
            );
            continue;
        }
        if let Some(label) = line.strip_prefix(":press ") {
            let (message_id, data) = app.find_button(PERSON, label).unwrap_or_else(|| {
                panic!("{at}: no button matching {label:?}\n--- conversation so far ---\n{log}")
            });
            log.push_str(&format!("  [press {label}]\n"));
            app.fake.push_callback(PERSON, PERSON, message_id, &data);
        } else if line.starts_with(':') {
            panic!("{at}: unknown transcript command {line:?}");
        } else {
            log.push_str(&format!("> {line}\n"));
            app.fake.push_text(PERSON, line);
        }
        app.settle().await;
        output.clear();
        let sent = app.fake.sent_to(PERSON);
        for s in &sent[seen_msgs..] {
            let mut shown = s.text.clone();
            for (label, _) in buttons(s.reply_markup.as_ref()) {
                shown.push_str(&format!(" [{label}]"));
            }
            log.push_str(&format!("< {}\n", shown.replace('\n', "\n  ")));
            output.push(shown);
        }
        seen_msgs = sent.len();
        let notices = app.fake.requests_for("answercallbackquery");
        for r in &notices[seen_notices..] {
            if let Some(t) = r.body["text"].as_str() {
                log.push_str(&format!("< (notice) {t}\n"));
                output.push(t.to_string());
            }
        }
        seen_notices = notices.len();
        let edits = app.fake.requests_for("editmessagereplymarkup");
        for r in &edits[seen_edits..] {
            let shown: Vec<String> = buttons(Some(&r.body["reply_markup"]))
                .into_iter()
                .map(|(l, _)| format!("[{l}]"))
                .collect();
            log.push_str(&format!("< (buttons now) {}\n", shown.join(" ")));
            output.push(shown.join(" "));
        }
        seen_edits = edits.len();
        // A question answered in place: the message now reads as its answer and the next
        // question, with the next question's buttons (a refused edit is sent as a message).
        let rewrites = app.fake.requests_for("editmessagetext");
        for r in &rewrites[seen_rewrites..] {
            if r.status != 200 {
                continue;
            }
            let mut shown = r.body["text"].as_str().unwrap_or("").to_string();
            for (label, _) in buttons(Some(&r.body["reply_markup"])) {
                shown.push_str(&format!(" [{label}]"));
            }
            log.push_str(&format!(
                "< (message now) {}\n",
                shown.replace('\n', "\n  ")
            ));
            output.push(shown);
        }
        seen_rewrites = rewrites.len();
    }
    if std::env::var_os("SHOW_TRANSCRIPTS").is_some() {
        println!("=== {name} ===\n{log}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_transcript_runs_as_written() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "transcripts found: {files:?}");
    for f in files {
        run(&f).await;
    }
}
