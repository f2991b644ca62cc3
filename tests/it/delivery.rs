//! Outbox delivery against Telegram's behaviour: 429, 5xx, 403, pacing and lanes.

use std::time::Duration;

use staywell::domain::{ChatId, Envelope, Lane, Outgoing};
use staywell::store::prelude::*;

use crate::fake_telegram::{BLOCKED, Fault};
use crate::helpers::*;

const KIM: i64 = 701;

#[tokio::test]
async fn after_a_429_the_next_attempt_to_that_chat_waits_for_retry_after() {
    let app = spawn_app().await;
    app.fake
        .inject("sendMessage", Some(KIM), Fault::RetryAfter(2));
    app.say(KIM, "/help", 1).await;
    let attempts: Vec<_> = app
        .fake
        .requests_for("sendmessage")
        .into_iter()
        .filter(|r| r.chat_id == Some(KIM))
        .collect();
    assert_eq!(attempts.len(), 2, "one refused, one delivered");
    assert_eq!((attempts[0].status, attempts[1].status), (429, 200));
    let gap = attempts[1].at - attempts[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "retried after {gap:?}, before retry_after"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_403_marks_the_chat_unreachable_and_is_never_retried() {
    let app = spawn_app().await;
    app.fake
        .inject("sendMessage", Some(KIM), Fault::Forbidden(BLOCKED.into()));
    app.fake.push_text(KIM, "/start");
    app.fake
        .wait_for(WAIT, "a refused send", |v| v.count("sendmessage", 403) == 1)
        .await;
    app.settle().await;
    let attempts = app
        .fake
        .requests_for("sendmessage")
        .into_iter()
        .filter(|r| r.chat_id == Some(KIM))
        .count();
    assert_eq!(
        attempts, 1,
        "no retries, and the rest of that chat's queue was not tried"
    );
    assert!(app.store.is_unreachable(ChatId(KIM)).await.unwrap());
    let counts = app.store.outbox_counts().await.unwrap();
    assert_eq!((counts.unreachable, counts.sent), (3, 0), "{counts:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_server_error_is_retried_with_backoff_until_delivered() {
    let app = spawn_app().await;
    // teloxide itself waits 10 s before reading a 5xx body; this test is slow on purpose.
    app.fake
        .inject("sendMessage", Some(KIM), Fault::ServerError);
    app.fake.push_text(KIM, "/help");
    let sent = app
        .fake
        .wait_for_sent(KIM, 1, Duration::from_secs(40))
        .await;
    assert!(sent[0].text.contains("/crisis"));
    let statuses: Vec<u16> = app
        .fake
        .requests_for("sendmessage")
        .iter()
        .filter(|r| r.chat_id == Some(KIM))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![500, 200]);
    app.stop().await;
}

#[tokio::test]
async fn a_400_is_recorded_and_not_retried() {
    let app = spawn_app().await;
    app.fake.inject(
        "sendMessage",
        Some(KIM),
        Fault::BadRequest("Bad Request: something odd".into()),
    );
    app.fake.push_text(KIM, "/help");
    app.fake
        .wait_for(WAIT, "a rejected send", |v| {
            v.count("sendmessage", 400) == 1
        })
        .await;
    app.settle().await;
    assert_eq!(app.fake.requests_for("sendmessage").len(), 1);
    assert_eq!(
        app.query_i64(
            "SELECT count(*) FROM outbox WHERE state = 'failed' AND last_error LIKE 'Bad Request%'"
        )
        .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn every_delivered_message_records_its_telegram_message_id() {
    let app = spawn_app().await;
    let start = app.say(KIM, "/start", 3).await;
    app.settle().await;
    let ids: Vec<i64> = start.iter().map(|s| s.message_id).collect();
    let stored = app
        .query_i64(
            "SELECT count(*) FROM outbox WHERE state = 'sent' AND telegram_message_id IS NOT NULL",
        )
        .await;
    assert_eq!(stored, 3);
    let sum: i64 = ids.iter().sum();
    assert_eq!(
        app.query_i64("SELECT sum(telegram_message_id) FROM outbox WHERE state = 'sent'")
            .await,
        sum
    );
    app.stop().await;
}

#[tokio::test]
async fn telegram_pacing_holds_a_burst_of_three_then_one_per_second_per_chat() {
    let app = spawn_app_with(|s| s.outbox = Default::default()).await;
    // /start causes three messages; the fourth and fifth must wait for the per-chat interval.
    let start = app.say(KIM, "/start", 3).await;
    let pressed = app
        .press(KIM, start[2].message_id, "consent:yes:1", 1)
        .await;
    let sends: Vec<_> = app
        .fake
        .requests()
        .into_iter()
        .filter(|r| {
            r.chat_id == Some(KIM) && r.method != "answercallbackquery" && r.method != "getupdates"
        })
        .collect();
    assert_eq!(
        sends.len(),
        5,
        "welcome, card, consent, edited consent, name question"
    );
    for w in sends.windows(4) {
        let span = w[3].at - w[0].at;
        assert!(
            span >= Duration::from_millis(990),
            "four calls to one chat within {span:?}"
        );
    }
    assert!(pressed[0].text.contains("call you"));
    app.stop().await;
}

/// Queues `n` messages on `lane` to chats `first`, `first + 1`, …, and waits until the first
/// 30 (a second's worth at Telegram's limit) have gone out.
async fn flood(app: &TestApp, first: i64, n: i64, lane: Lane, text: &str) {
    let mut tx = app.store.begin().await.unwrap();
    let messages: Vec<Envelope> = (0..n)
        .map(|i| Envelope {
            chat: ChatId(first + i),
            lane,
            body: Outgoing::text(text),
        })
        .collect();
    tx.enqueue(&messages, None, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.fake
        .wait_for(WAIT, "the flood to start flowing", |v| v.sent.len() >= 30)
        .await;
}

#[tokio::test]
async fn an_urgent_message_overtakes_a_flood_of_nudges() {
    let app = spawn_app_with(|s| s.outbox = Default::default()).await;
    // 300 nudges to 300 carers take ten seconds at Telegram's 30 messages a second.
    flood(
        &app,
        10_000,
        300,
        Lane::Nudge,
        "It might be a good week to say hello.",
    )
    .await;
    let card = app.say(KIM, "suicide", 1).await;
    assert!(card[0].text.contains("116 123"));
    let nudges_sent = app
        .fake
        .sent()
        .iter()
        .filter(|s| s.chat_id >= 10_000)
        .count();
    assert!(
        nudges_sent < 150,
        "the card waited behind {nudges_sent} nudges"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_buttons_answer_is_not_kept_waiting_behind_replies_the_global_limit_holds_back() {
    let app = spawn_app_with(|s| s.outbox = Default::default()).await;
    // 600 replies to 600 chats take about 22 seconds at 30 messages a second: more than a
    // delivery round reads. A button's answer is not a message (not paced) and is newer than
    // all of them on the same lane.
    flood(&app, 20_000, 600, Lane::Reply, "Thank you.").await;
    app.fake.push_callback(KIM, KIM, 1, "nothing:here");
    app.fake
        .wait_for(WAIT, "the press answered", |v| {
            v.count("answercallbackquery", 200) == 1
        })
        .await;
    let replies_sent = app
        .fake
        .sent()
        .iter()
        .filter(|s| s.chat_id >= 20_000)
        .count();
    assert!(
        replies_sent < 100,
        "the button's answer waited behind {replies_sent} replies"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_press_is_answered_at_once_even_while_its_own_chat_has_replies_waiting() {
    let app = spawn_app_with(|s| s.outbox = Default::default()).await;
    // Kim's chat has 20 replies queued: at one a second after a burst of three, most of them
    // wait for Telegram's per-chat limit. A press's answer is not one of them.
    let mut tx = app.store.begin().await.unwrap();
    let replies: Vec<Envelope> = (0..20)
        .map(|i| Envelope {
            chat: ChatId(KIM),
            lane: Lane::Reply,
            body: Outgoing::text(format!("Reply {i}")),
        })
        .collect();
    tx.enqueue(&replies, None, chrono::Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.fake.push_callback(KIM, KIM, 1, "nothing:here");
    app.fake
        .wait_for(WAIT, "the press answered", |v| {
            v.count("answercallbackquery", 200) == 1
        })
        .await;
    let replies_sent = app.fake.sent_to(KIM).len();
    assert!(
        replies_sent < 10,
        "the press's answer waited behind {replies_sent} of its chat's replies"
    );
    // And the chat's own messages still arrive in order.
    app.fake.wait_for_sent(KIM, 20, WAIT).await;
    let order: Vec<String> = app
        .fake
        .sent_to(KIM)
        .iter()
        .map(|s| s.text.clone())
        .filter(|t| t.starts_with("Reply "))
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("Reply {i}")).collect();
    assert_eq!(order, expected);
    app.stop().await;
}

#[tokio::test]
async fn a_send_that_times_out_is_not_repeated_if_routine_but_is_repeated_marked_if_urgent() {
    let app = spawn_app_with(|s| s.send_timeout_secs = 1).await;
    const ROUTINE: i64 = 702;
    const URGENT: i64 = 703;
    app.fake.inject("sendMessage", Some(ROUTINE), Fault::Hang);
    app.fake.inject("sendMessage", Some(URGENT), Fault::Hang);
    app.fake.push_text(ROUTINE, "/help");
    app.fake.push_text(URGENT, "self harm");
    let card = app.fake.wait_for_sent(URGENT, 1, WAIT).await;
    assert!(card[0].text.starts_with("(Sent again"), "{}", card[0].text);
    assert!(card[0].text.contains("116 123"));
    // The routine reply timed out once and is left as ambiguous; the next one goes through.
    let next = app.say(ROUTINE, "/crisis", 1).await;
    assert!(next[0].text.contains("116 123"));
    app.settle().await;
    assert_eq!(
        app.fake.sent_to(ROUTINE).len(),
        1,
        "the timed-out help reply was not re-sent"
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM outbox WHERE state = 'ambiguous'")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn a_chats_messages_keep_their_order_when_the_first_must_wait() {
    let app = spawn_app().await;
    app.fake
        .inject("sendMessage", Some(KIM), Fault::RetryAfter(1));
    let sent = app.say(KIM, "/start", 3).await;
    let order: Vec<bool> = vec![
        sent[0].text.contains("I'm staywell"),
        sent[1].text.contains("116 123"),
        sent[2].text.contains("store your answers"),
    ];
    assert_eq!(order, vec![true, true, true], "{:?}", texts(&sent));
    app.stop().await;
}
