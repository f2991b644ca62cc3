//! Nothing lost, nothing doubled: re-delivered updates, hard crashes at each stage, restarts.

use std::time::Duration;

use crate::fake_telegram::{FakeTelegram, Fault, Recorded};
use crate::helpers::*;

const LEE: i64 = 801;
const ROB: i64 = 802;

fn welcome_count(fake: &FakeTelegram, chat: i64) -> usize {
    fake.sent_to(chat)
        .iter()
        .filter(|s| s.text.contains("I'm staywell"))
        .count()
}

#[tokio::test]
async fn a_redelivered_update_id_is_applied_once() {
    let app = spawn_app().await;
    let start = app.say(LEE, "/start", 3).await;
    let press = app
        .fake
        .push_callback(LEE, LEE, start[2].message_id, "consent:yes:1");
    app.fake.wait_for_sent(LEE, 4, WAIT).await;
    app.settle().await;
    app.fake.redeliver(press);
    app.fake
        .wait_for(
            WAIT,
            "the re-delivered update to be fetched and confirmed",
            |v| v.undelivered == 0,
        )
        .await;
    app.say(LEE, "/help", 1).await;
    app.settle().await;
    assert_eq!(app.store.member_count().await.unwrap(), 1);
    assert_eq!(app.query_i64("SELECT count(*) FROM consents").await, 1);
    let name_questions = app
        .fake
        .sent_to(LEE)
        .iter()
        .filter(|s| s.text.contains("call you"))
        .count();
    assert_eq!(
        name_questions, 1,
        "the re-delivered press caused no second reply"
    );
    app.stop().await;
}

#[tokio::test]
async fn sigterm_finishes_work_in_flight_and_exits_zero() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut bot = spawn_process(&fake, dir.path(), None);
    fake.push_text(LEE, "/start");
    fake.wait_for_sent(LEE, 3, WAIT).await;
    let status = bot.terminate().await;
    assert!(status.success(), "exit status {status:?}");
    let db = dir.path().join("staywell.db");
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM outbox WHERE state <> 'sent'").await,
        0
    );
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM inbox WHERE processed_at IS NULL").await,
        0
    );
}

#[tokio::test]
async fn a_crash_after_the_inbox_commit_loses_nothing_and_applies_nothing_twice() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staywell.db");

    // Get to the consent question normally.
    let mut bot = spawn_process(&fake, dir.path(), None);
    fake.push_text(LEE, "/start");
    let start = fake.wait_for_sent(LEE, 3, WAIT).await;
    assert!(bot.terminate().await.success());

    // The consent press is stored, then the process dies before processing it.
    let mut bot = spawn_process(&fake, dir.path(), Some("after_inbox_commit"));
    fake.push_callback(LEE, LEE, start[2].message_id, "consent:yes:1");
    let status = bot.wait_exit().await;
    assert!(!status.success(), "the process aborted");
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM inbox WHERE processed_at IS NULL").await,
        1
    );
    assert_eq!(query_i64(&db, "SELECT count(*) FROM members").await, 0);
    assert_eq!(fake.sent_to(LEE).len(), 3);

    // On restart the stored press is applied exactly once, even though Telegram also
    // re-delivers it (the offset was never confirmed).
    let _bot = spawn_process(&fake, dir.path(), None);
    let sent = fake.wait_for_sent(LEE, 4, WAIT).await;
    assert!(sent[3].text.contains("call you"));
    fake.push_text(LEE, "/help");
    fake.wait_for_sent(LEE, 5, WAIT).await;
    assert_eq!(query_i64(&db, "SELECT count(*) FROM members").await, 1);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM consents").await, 1);
    assert_eq!(
        fake.sent_to(LEE)
            .iter()
            .filter(|s| s.text.contains("call you"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_crash_after_processing_delivers_each_message_once_on_restart() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staywell.db");

    let mut bot = spawn_process(&fake, dir.path(), Some("after_processing_commit"));
    fake.push_text(LEE, "/start");
    assert!(!bot.wait_exit().await.success());
    assert_eq!(fake.sent_to(LEE).len(), 0, "died before delivering");
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM outbox WHERE state = 'pending'").await,
        3
    );

    let _bot = spawn_process(&fake, dir.path(), None);
    fake.wait_for_sent(LEE, 3, WAIT).await;
    fake.push_text(LEE, "/help");
    fake.wait_for_sent(LEE, 4, WAIT).await;
    assert_eq!(
        welcome_count(&fake, LEE),
        1,
        "the update was not processed twice"
    );
    assert_eq!(fake.sent_to(LEE).len(), 4);
}

#[tokio::test]
async fn a_kill_mid_send_does_not_repeat_routine_messages_but_repeats_urgent_ones_marked() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staywell.db");
    fake.inject("sendMessage", Some(LEE), Fault::Hang);
    fake.inject("sendMessage", Some(ROB), Fault::Hang);

    let mut bot = spawn_process(&fake, dir.path(), None);
    fake.push_text(LEE, "hello"); // a routine reply
    fake.push_text(ROB, "I want to kill myself"); // the crisis card, urgent
    fake.wait_for(WAIT, "both sends to be in flight", |v| {
        v.requests
            .iter()
            .filter(|r| r.method == "sendmessage" && r.status == 0)
            .count()
            == 2
    })
    .await;
    bot.kill_hard().await;
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM outbox WHERE state = 'sending'").await,
        2
    );

    let _bot = spawn_process(&fake, dir.path(), None);
    let card = fake.wait_for_sent(ROB, 1, WAIT).await;
    assert!(card[0].text.starts_with("(Sent again"), "{}", card[0].text);
    assert!(card[0].text.contains("116 123"));
    fake.push_text(LEE, "/help");
    let lee = fake.wait_for_sent(LEE, 1, WAIT).await;
    assert!(
        lee[0].text.contains("/crisis"),
        "only the help reply: {:?}",
        texts(&lee)
    );
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM outbox WHERE state = 'ambiguous'").await,
        1
    );
    assert_eq!(
        fake.sent_to(LEE).len(),
        1,
        "the routine reply was not risked twice"
    );
}

#[tokio::test]
async fn a_second_process_on_the_same_database_is_refused() {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let _first = spawn_process(&fake, dir.path(), None);
    fake.push_text(LEE, "/help");
    fake.wait_for_sent(LEE, 1, WAIT).await;
    let mut second = spawn_process(&fake, dir.path(), None);
    let status = second.wait_exit().await;
    assert!(!status.success());
    let log: String = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("stderr-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(log.contains("already serving this database"), "{log}");
}

#[tokio::test]
async fn an_update_that_keeps_failing_is_set_aside_with_an_apology_and_the_chat_carries_on() {
    let app = spawn_app().await;
    // A stored update nobody can read (as if written by a future version).
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO inbox (update_id, chat_id, kind, payload, received_at) VALUES (1000000000, ?, 'message', 'not json', 0)")
        .bind(ROB)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let sent = app.fake.wait_for_sent(ROB, 1, WAIT).await;
    assert!(
        sent[0].text.contains("something went wrong"),
        "{}",
        sent[0].text
    );
    let next = app.say(ROB, "/help", 1).await;
    assert!(next[0].text.contains("/crisis"));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM inbox WHERE update_id = 1000000000 AND processed_at IS NOT NULL AND error LIKE 'set aside%'").await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn the_real_process_logs_no_message_text_names_answers_or_tokens() {
    // The real binary at debug level: whatever people write, their names and invite tokens
    // must not reach its log (ids and kinds only).
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut bot = spawn_process(&fake, dir.path(), None);
    let chat = 931;
    let press = |n: usize, data: &str| {
        let sent = fake.sent_to(chat);
        let id = sent[n].message_id;
        fake.push_callback(chat, chat, id, data);
    };
    fake.push_text(chat, "/start");
    let sent = fake.wait_for_sent(chat, 3, WAIT).await;
    let consent = button_data(&sent[2])[0].clone();
    press(2, &consent);
    fake.wait_for_sent(chat, 4, WAIT).await;
    fake.push_text(chat, "Zephyrine");
    fake.wait_for_sent(chat, 5, WAIT).await;
    press(4, "tz:london");
    fake.wait_for_sent(chat, 6, WAIT).await;
    press(5, "ct:none");
    // "All set", then the optional weekly check-in.
    fake.wait_for_sent(chat, 8, WAIT).await;
    fake.push_text(chat, "my private words QUOKKA-7731 about today");
    fake.wait_for_sent(chat, 9, WAIT).await;
    let token = "Zq".repeat(21) + "x";
    fake.push_text(chat, &format!("/start {token}"));
    fake.wait_for_sent(chat, 10, WAIT).await;
    // An update the Bot API types cannot read is logged by id and kind only.
    fake.push_raw(r#"{"message":{"message_id":"x","text":"OCELOT-4420"}}"#.into());
    fake.push_text(chat, "I want to end it all PELICAN-5512");
    fake.wait_for_sent(chat, 11, WAIT).await;
    bot.terminate().await;
    let mut logs = String::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("stderr-")
        {
            logs.push_str(&std::fs::read_to_string(p).unwrap());
        }
    }
    assert!(
        logs.contains("update processed"),
        "debug logs were written:\n{logs}"
    );
    assert!(
        logs.contains("an update could not be read"),
        "the unreadable update was logged:\n{logs}"
    );
    for secret in [
        "OCELOT-4420",
        "Zephyrine",
        "QUOKKA-7731",
        "PELICAN-5512",
        "end it all",
        token.as_str(),
    ] {
        assert!(!logs.contains(secret), "the log holds {secret:?}:\n{logs}");
    }
}

#[tokio::test]
async fn a_kill_mid_send_asks_the_question_again_and_answers_the_press() {
    const SAM: i64 = 803;
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staywell.db");

    // Sam's /start: the first two messages go, the consent question (with buttons) hangs.
    fake.inject("sendMessage", Some(SAM), Fault::Delay(Duration::ZERO));
    fake.inject("sendMessage", Some(SAM), Fault::Delay(Duration::ZERO));
    fake.inject("sendMessage", Some(SAM), Fault::Hang);
    // Rob presses a button on nothing of ours: the answer to the press hangs.
    fake.inject("answerCallbackQuery", None, Fault::Hang);

    let mut bot = spawn_process(&fake, dir.path(), None);
    fake.push_text(SAM, "/start");
    let press = fake.push_callback(ROB, ROB, 4242, "consent:yes:1");
    fake.wait_for(WAIT, "the question and the answer to be in flight", |v| {
        let to_sam = |r: &&Recorded| r.method == "sendmessage" && r.chat_id == Some(SAM);
        v.requests.iter().filter(to_sam).count() == 3
            && v.requests
                .iter()
                .any(|r| r.method == "answercallbackquery" && r.status == 0)
    })
    .await;
    // The first two were answered; the question is the one still open.
    fake.wait_for(WAIT, "the first two messages to be answered", |v| {
        v.requests
            .iter()
            .filter(|r| r.method == "sendmessage" && r.chat_id == Some(SAM) && r.status == 200)
            .count()
            == 2
    })
    .await;
    bot.kill_hard().await;
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM outbox WHERE state = 'sending' AND (chat_id = 803 OR json_extract(payload, '$.type') = 'answer_callback')").await,
        2
    );

    let _bot = spawn_process(&fake, dir.path(), None);
    let sam = fake.wait_for_sent(SAM, 3, WAIT).await;
    assert!(
        sam[2].text.starts_with("(Sent again"),
        "the question comes again, marked: {:?}",
        texts(&sam)
    );
    assert!(
        !button_data(&sam[2]).is_empty(),
        "with its buttons, ready to answer"
    );
    let query_id = format!("cq{press}");
    fake.wait_for(WAIT, "the press to be answered after the restart", |v| {
        v.requests.iter().any(|r| {
            r.method == "answercallbackquery"
                && r.status == 200
                && r.body.get("callback_query_id").and_then(|q| q.as_str())
                    == Some(query_id.as_str())
        })
    })
    .await;
    // Sam answers the question that came again, and the conversation goes on.
    fake.push_callback(SAM, SAM, sam[2].message_id, "consent:yes:1");
    let sam = fake.wait_for_sent(SAM, 4, WAIT).await;
    assert!(sam[3].text.contains("call you"), "{:?}", texts(&sam));
}

#[tokio::test]
async fn the_poller_waits_out_a_429_and_a_409_from_get_updates_and_loses_nothing() {
    let app = spawn_app().await;
    app.say(LEE, "/help", 1).await;
    app.fake.inject("getUpdates", None, Fault::RetryAfter(1));
    app.fake.inject(
        "getUpdates",
        None,
        Fault::Status(409, crate::fake_telegram::CONFLICT.into()),
    );
    app.fake.push_text(LEE, "/help");
    app.fake.push_text(ROB, "/help");
    app.fake.wait_for_sent(LEE, 2, WAIT).await;
    app.fake.wait_for_sent(ROB, 1, WAIT).await;
    app.fake
        .wait_for(WAIT, "both faults to be met", |v| {
            v.count("getupdates", 429) == 1 && v.count("getupdates", 409) == 1
        })
        .await;
    app.settle().await;
    assert_eq!(app.fake.sent_to(LEE).len(), 2, "nothing was answered twice");
    app.stop().await;
}
