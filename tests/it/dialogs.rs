//! Dialogs end to end: versions, termination on every path, sessions that survive restarts,
//! and buttons that cannot be pressed twice, late, or by someone else.

use staywell::content::{Content, shipped_dialogs_dir};
use staywell::dialog::engine::{self, ButtonAction, Ctx, Event, Reply};
use staywell::dialog::{Dialog, Session, StepKind, load_dir};

use crate::fake_telegram::Fault;
use crate::helpers::*;

/// The same check `staywell check` makes (`dialog::lock::check_lock`): a failure prints the
/// lines to put in `dialogs/dialogs.lock` after a version bump.
#[test]
fn no_dialog_changed_meaning_without_a_version_bump() {
    let catalog = load_dir(&shipped_dialogs_dir())
        .catalog
        .expect("shipped dialogs load");
    let problems = staywell::dialog::lock::check_lock(&shipped_dialogs_dir(), &catalog, true);
    let shown: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
    assert!(shown.is_empty(), "{}", shown.join("\n\n"));
}

/// A tiny deterministic random source (no crate needed for a test's dice).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random but valid-or-invalid input for the question just asked.
fn random_event(dialog: &Dialog, s: &Session, keys: &engine::Keys, dice: &mut Dice) -> Event {
    let step = &dialog.steps[s.current.unwrap()];
    let buttons: Vec<ButtonAction> = keys.iter().flatten().map(|(_, a)| *a).collect();
    match dice.below(10) {
        // Mostly press a button, sometimes type, sometimes say something odd.
        0 => Event::Text("🙂 not sure".into()),
        1 => Event::Text(match &step.kind {
            StepKind::Number { max, .. } => format!("{}", dice.below(*max as usize + 1)),
            StepKind::Time => "7.30pm".into(),
            StepKind::Text { .. } => "a private note".into(),
            StepKind::Scale { min, max, .. } => {
                format!("{}", *min + dice.below((*max - *min) as usize + 1) as i64)
            }
            _ => "yes".into(),
        }),
        2 => Event::Press {
            seq: s.seq.wrapping_sub(1),
            action: ButtonAction::Choose(0),
        },
        _ if !buttons.is_empty() => Event::Press {
            seq: s.seq,
            action: buttons[dice.below(buttons.len())],
        },
        _ => Event::Text("6".into()),
    }
}

#[test]
fn every_shipped_dialog_ends_on_every_path_and_every_step_can_be_shown() {
    let catalog = load_dir(&shipped_dialogs_dir()).catalog.unwrap();
    let content = Content::load(
        &shipped_dialogs_dir(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
    )
    .content
    .unwrap();
    let ctx = Ctx {
        texts: &content.texts,
        name: "Alex",
        until: "19:00",
    };
    for dialog in catalog.dialogs.values() {
        let mut shown = vec![false; dialog.steps.len()];
        let mut dice = Dice(0x5eed_u64 ^ dialog.id.len() as u64);
        for run in 0..3000 {
            let mut s = Session::new();
            let mut adv = engine::advance(dialog, &mut s, Event::Start, &ctx);
            let mut inputs = 0;
            while !s.is_finished() {
                inputs += 1;
                assert!(
                    inputs < 500,
                    "{} run {run}: no end after 500 inputs",
                    dialog.id
                );
                shown[s.current.unwrap()] = true;
                if s.paused {
                    adv = engine::advance(dialog, &mut s, Event::Resume, &ctx);
                    continue;
                }
                let keys = adv
                    .replies
                    .iter()
                    .rev()
                    .find_map(|r| match r {
                        Reply::Ask { keys, .. } => Some(keys.clone()),
                        Reply::Rekey { keys: Some(k), .. } => Some(k.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let event = random_event(dialog, &s, &keys, &mut dice);
                let next = engine::advance(dialog, &mut s, event, &ctx);
                if next
                    .replies
                    .iter()
                    .any(|r| matches!(r, Reply::Ask { .. } | Reply::Rekey { keys: Some(_), .. }))
                {
                    adv = next;
                }
            }
        }
        for (i, step) in dialog.steps.iter().enumerate() {
            if !matches!(step.kind, StepKind::Message) {
                assert!(
                    shown[i],
                    "{}: step `{}` was never shown in 3000 random runs",
                    dialog.id, step.id
                );
            }
        }
    }
}

const ALEX: i64 = 9001;

async fn onboarded() -> TestApp {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    app
}

async fn press(app: &TestApp, label: &str) {
    let (message_id, data) = app
        .find_button(ALEX, label)
        .unwrap_or_else(|| panic!("no button {label}"));
    app.fake.push_callback(ALEX, ALEX, message_id, &data);
    app.settle().await;
}

#[tokio::test]
async fn a_restart_mid_check_in_resumes_exactly_where_the_person_was() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    press(&app, "7").await;
    let app = app.restart().await;
    // The anxious question is still the live one: pressing its button carries on.
    press(&app, "3").await;
    let last = app.latest_text(ALEX);
    assert!(last.contains("How was your sleep"), "{last}");
    let resumed = app.say(ALEX, "/checkin", 2).await;
    assert!(
        resumed[1].text.contains("How was your sleep"),
        "{:?}",
        texts(&resumed)
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM answers WHERE state = 'answered' AND step_id IN ('happy', 'anxious')").await,
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn the_next_question_rewrites_the_answered_one_as_a_reply_and_a_last_collapse_is_tidying() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    let (happy_msg, _) = app.find_button(ALEX, "7").unwrap();
    press(&app, "7").await;
    // What the press caused, by kind and lane: lane 1 is a reply, 4 is tidying (see `Lane`).
    // The answered question becomes "✓ 7" and the next question, in one reply: at the
    // evening peak a person waits for one call per answer, not two.
    let caused = |sql: &'static str| app.query_i64(sql);
    assert_eq!(
        caused("SELECT count(*) FROM outbox WHERE cause_update_id = (SELECT max(cause_update_id) FROM outbox) AND state = 'sent' AND lane = 1 AND json_extract(payload, '$.type') = 'edit_message'").await,
        1,
        "the next question, in place"
    );
    assert_eq!(
        caused("SELECT count(*) FROM outbox WHERE cause_update_id = (SELECT max(cause_update_id) FROM outbox) AND json_extract(payload, '$.type') NOT IN ('edit_message', 'answer_callback')").await,
        0,
        "no new message, no separate collapse"
    );
    let (text, markup) = app.fake.message(ALEX, happy_msg).unwrap();
    assert!(
        text.contains("how happy did you feel yesterday?\n✓ 7\n\nOverall, how anxious"),
        "{text}"
    );
    assert_eq!(
        buttons(markup.as_ref()).len(),
        11,
        "the anxious question's 0–10"
    );
    // The last answer has no next question to ask in its place: its keyboard is collapsed
    // as tidying, and the closing words are a reply.
    for label in [
        "3",
        "Very good",
        "Skip",
        "None of these",
        "Done",
        "Yes",
        "Skip",
    ] {
        press(&app, label).await;
    }
    assert_eq!(
        caused("SELECT count(*) FROM outbox WHERE cause_update_id = (SELECT max(cause_update_id) FROM outbox) AND state = 'sent' AND lane = 4 AND json_extract(payload, '$.type') = 'edit_buttons'").await,
        1,
        "the answered keyboard collapsed, and delivered"
    );
    assert_eq!(
        caused("SELECT count(*) FROM outbox WHERE cause_update_id = (SELECT max(cause_update_id) FROM outbox) AND state = 'sent' AND lane = 1 AND json_extract(payload, '$.type') = 'message'").await,
        1,
        "the closing words"
    );
    assert_eq!(
        caused("SELECT count(*) FROM outbox WHERE cause_update_id = (SELECT max(cause_update_id) FROM outbox) AND lane NOT IN (1, 4)").await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stale_press_a_replayed_press_and_a_strangers_press_change_nothing() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    let (happy_msg, seven) = app.find_button(ALEX, "7").unwrap();
    press(&app, "7").await;
    let answers = || app.query_i64("SELECT count(*) FROM answers");
    let before = answers().await;
    let state_before = app.query_i64("SELECT length(state) FROM sessions").await;

    // The same button again (a double tap, or a replay).
    app.fake.push_callback(ALEX, ALEX, happy_msg, &seven);
    app.settle().await;
    // A stranger forging a press on Alex's live question.
    let (anxious_msg, two) = app.find_button(ALEX, "2").unwrap();
    app.fake.push_callback(ALEX, 31337, anxious_msg, &two);
    app.settle().await;
    // Forged data for a session that does not exist.
    app.fake.push_callback(ALEX, ALEX, anxious_msg, "q999.1.c0");
    app.settle().await;

    assert_eq!(answers().await, before);
    assert_eq!(
        app.query_i64("SELECT length(state) FROM sessions").await,
        state_before
    );
    let notices: Vec<String> = app
        .fake
        .requests_for("answercallbackquery")
        .iter()
        .rev()
        .take(3)
        .map(|r| r.body["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(notices.iter().all(|n| n.contains("passed")), "{notices:?}");
    app.stop().await;
}

#[tokio::test]
async fn crisis_words_mid_check_in_show_the_card_and_the_check_in_carries_on() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    // On a scale question the words are not an answer: the card, and nothing stored.
    let replies = app.say(ALEX, "I want to kill myself", 1).await;
    assert!(replies[0].text.contains("116 123"));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM answers WHERE step_id = 'happy'")
            .await,
        0
    );
    press(&app, "2").await;
    press(&app, "8").await;
    let last = app.latest_question(ALEX).unwrap();
    assert!(
        last.contains("How was your sleep"),
        "the check-in carried on: {last}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_answer_records_dialog_version_step_and_state() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    for label in ["8", "2", "Very good"] {
        press(&app, label).await;
    }
    press(&app, "Skip").await; // sleep hours
    press(&app, "None of these").await;
    press(&app, "Done").await;
    press(&app, "Yes").await; // medication: an ordinary day skips the low-day steps
    app.say(ALEX, "A calm day, walked by the river.", 1).await;
    app.settle().await;
    let count = |sql: &'static str| app.query_i64(sql);
    assert_eq!(
        count(
            "SELECT count(*) FROM answers WHERE dialog_id <> 'daily_checkin' OR dialog_version <> 2"
        )
        .await,
        0
    );
    assert_eq!(count("SELECT count(*) FROM answers WHERE step_id = 'sleep_hours' AND state = 'skipped' AND value IS NULL").await, 1);
    assert!(
        count("SELECT count(*) FROM answers WHERE state = 'not_shown'").await >= 1,
        "low-day steps recorded as not shown"
    );
    assert_eq!(
        count("SELECT count(*) FROM answers WHERE step_id = 'wellbeing' AND state = 'answered'")
            .await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM sessions WHERE status = 'completed'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM answers WHERE step_id = 'note' AND value LIKE '%river%'").await,
        1,
        "the note is stored"
    );
    assert_eq!(
        count("SELECT count(*) FROM sessions WHERE state LIKE '%river%'").await,
        0,
        "but not copied into the session"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_dialog_changed_without_a_version_bump_stops_the_bot_from_starting() {
    let app = spawn_app().await;
    let settings = app.settings.clone();
    app.stop().await;
    // Same version, different wording.
    let dir = copy_of_shipped_dialogs();
    let f = dir.path().join("daily_checkin.toml");
    let changed = std::fs::read_to_string(&f)
        .unwrap()
        .replace("How was your sleep last night?", "How did you sleep?");
    std::fs::write(&f, changed).unwrap();
    let mut s = settings;
    s.dialogs_dir = dir.path().to_path_buf();
    // A database that already knows version 2 as shipped.
    s.database_url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let clock: std::sync::Arc<dyn staywell::clock::Clock> =
        std::sync::Arc::new(staywell::clock::SystemClock);
    let mut shipped = s.clone();
    shipped.dialogs_dir = shipped_dialogs_dir();
    drop(
        staywell::app::Application::build(shipped, clock.clone())
            .await
            .expect("builds as shipped"),
    );
    let err = staywell::app::Application::build(s, clock)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("`daily_checkin` version 2"),
        "{err}"
    );
}

#[tokio::test]
async fn a_session_in_progress_finishes_on_the_version_it_started_with() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    press(&app, "7").await;
    // A new version of the check-in is deployed mid-session: the sleep question is reworded.
    let dir = copy_of_shipped_dialogs();
    let f = dir.path().join("daily_checkin.toml");
    let v2 = std::fs::read_to_string(&f)
        .unwrap()
        .replace("version = 2", "version = 3")
        .replace("How was your sleep last night?", "How did you sleep?");
    std::fs::write(&f, v2).unwrap();
    let mut app = app;
    app.settings.dialogs_dir = dir.path().to_path_buf();
    let app = app.restart().await;
    press(&app, "3").await;
    let last = app.latest_text(ALEX);
    assert!(
        last.contains("How was your sleep last night?"),
        "still version 2: {last}"
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM answers WHERE dialog_version <> 2")
            .await,
        0
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM dialog_versions WHERE dialog_id = 'daily_checkin'")
            .await,
        2
    );
    app.stop().await;
}

/// Paced calls (messages and edits: what Telegram counts against its limits) that reached
/// `chat` so far.
fn paced_calls(app: &TestApp, chat: i64) -> usize {
    app.fake
        .requests()
        .iter()
        .filter(|r| r.chat_id == Some(chat))
        .filter(|r| {
            matches!(
                r.method.as_str(),
                "sendmessage" | "editmessagetext" | "editmessagereplymarkup"
            )
        })
        .count()
}

#[tokio::test]
async fn a_daily_check_in_answered_by_buttons_costs_one_paced_call_per_answer() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    app.settle().await;
    let start = paced_calls(&app, ALEX);
    // (button, whether it answers the question: a tick in a multi-choice only re-keys it)
    let presses = [
        ("7", true),
        ("3", true),
        ("Very good", true),
        ("Skip", true), // hours slept
        ("None of these", false),
        ("Done", true),
        ("Yes", true), // medication: an ordinary day skips the low-day steps
    ];
    let mut per_press = Vec::new();
    for (label, _) in presses {
        let before = paced_calls(&app, ALEX);
        press(&app, label).await;
        per_press.push(paced_calls(&app, ALEX) - before);
    }
    // The note, the last question: skipped, which ends the check-in.
    let before_last = paced_calls(&app, ALEX);
    press(&app, "Skip").await;
    let closing = paced_calls(&app, ALEX) - before_last;
    let whole = paced_calls(&app, ALEX) - start;
    eprintln!(
        "paced calls per press {per_press:?}, closing {closing}, whole check-in after the first question {whole}"
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM sessions WHERE status = 'completed'")
            .await,
        1
    );
    // Each answer that leads to another question, and each tick: one call.
    assert_eq!(per_press, vec![1; presses.len()], "{per_press:?}");
    // The last answer: its keyboard collapsed, and the closing words.
    assert_eq!(closing, 2, "closing");
    let last = app.fake.sent_to(ALEX).last().unwrap().text.clone();
    assert!(last.contains("today's check-in done"), "{last}");
    app.stop().await;
}

#[tokio::test]
async fn an_answered_question_that_can_no_longer_be_edited_still_brings_the_next_question() {
    let app = onboarded().await;
    app.say(ALEX, "/checkin", 2).await;
    let (happy_msg, _) = app.find_button(ALEX, "7").unwrap();
    // The person deleted the question meanwhile (or it is too old to edit): Telegram refuses.
    app.fake.inject(
        "editMessageText",
        Some(ALEX),
        Fault::BadRequest("Bad Request: message to edit not found".into()),
    );
    let before = app.fake.sent_to(ALEX).len();
    press(&app, "7").await;
    let edits = app.fake.requests_for("editMessageText");
    assert_eq!(
        edits.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![400],
        "the edit was tried, and refused"
    );
    let new = &app.fake.sent_to(ALEX)[before..];
    assert_eq!(new.len(), 1, "{:?}", texts(new));
    assert!(
        new[0].text.contains("how anxious did you feel yesterday"),
        "the next question, as a new message: {}",
        new[0].text
    );
    assert!(new[0].text.contains("✓ 7"), "{}", new[0].text);
    assert_ne!(new[0].message_id, happy_msg);
    // Its buttons work.
    press(&app, "3").await;
    assert_eq!(
        app.query_i64("SELECT count(*) FROM answers WHERE state = 'answered' AND step_id IN ('happy', 'anxious')").await,
        2
    );
    let last = app.latest_text(ALEX);
    assert!(last.contains("How was your sleep"), "{last}");
    app.stop().await;
}
