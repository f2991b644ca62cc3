//! Anything unexpected gets a short, kind, useful reply; nothing changes that shouldn't; the
//! bot keeps running.

use crate::helpers::*;

const SAM: i64 = 601;

#[tokio::test]
async fn stickers_photos_voice_and_unknown_commands_get_a_kind_pointer_to_help() {
    let app = spawn_app().await;
    app.onboard(SAM, "Sam").await;
    for push in [
        |a: &TestApp| a.fake.push_sticker(SAM),
        |a: &TestApp| a.fake.push_photo(SAM),
        |a: &TestApp| a.fake.push_voice(SAM),
    ] {
        let before = app.fake.sent_to(SAM).len();
        push(&app);
        let sent = app.fake.wait_for_sent(SAM, before + 1, WAIT).await;
        assert!(sent[before].text.contains("/help"), "{}", sent[before].text);
    }
    let reply = app.say(SAM, "/frobnicate now", 1).await;
    assert!(reply[0].text.contains("don't know that command"));
    assert!(reply[0].text.contains("/help"));
    app.stop().await;
}

#[tokio::test]
async fn very_long_text_and_odd_unicode_get_a_kind_reply_and_change_nothing() {
    let app = spawn_app().await;
    let start = app.say(SAM, "/start", 3).await;
    app.press(SAM, start[2].message_id, "consent:yes:1", 1)
        .await;
    let long = "a".repeat(5000);
    let reply = app.say(SAM, &long, 1).await;
    assert!(reply[0].text.contains("shorter name"), "{}", reply[0].text);
    for odd in [
        "\u{202e}\u{0000}",
        "Z\u{0351}\u{0360}\u{036b}a\u{0352}l\u{0314}g\u{0300}o\u{0301}\u{0302}\u{0303}\u{0304}\u{0305}\u{0306}\u{0307}\u{0308}\u{0309}\u{030a}\u{030b}\u{030c}\u{030d}\u{030e}\u{030f}\u{0310}\u{0311}\u{0312}\u{0313}\u{0314}\u{0315}\u{0316}\u{0317}\u{0318}\u{0319}\u{031a}\u{031b}\u{031c}\u{031d}\u{031e}\u{031f}\u{0320}\u{0321}\u{0322}",
    ] {
        let reply = app.say(SAM, odd, 1).await;
        assert!(reply[0].text.contains("shorter name"), "{}", reply[0].text);
    }
    let m = app
        .store
        .person(staywell::domain::ChatId(SAM))
        .await
        .unwrap()
        .member
        .unwrap();
    assert_eq!(m.name, None);
    // Still running, still kind.
    let tz = app.say(SAM, "Sam", 1).await;
    assert!(tz[0].text.contains("Sam"));
    let free = {
        let when = app.press(SAM, tz[0].message_id, "tz:london", 1).await;
        app.press(SAM, when[0].message_id, "ct:none", 2).await;
        app.say(SAM, &"ž🙂".repeat(3000), 1).await
    };
    assert!(free[0].text.contains("/help"));
    app.stop().await;
}

#[tokio::test]
async fn forged_stale_and_empty_callbacks_are_answered_and_change_nothing() {
    let app = spawn_app().await;
    let start = app.say(SAM, "/start", 3).await;
    for forged in [
        "admin:delete_all",
        "tz:london",
        "name:tg",
        &"x".repeat(64),
        "💥",
    ] {
        let before = app.fake.requests_for("answercallbackquery").len();
        app.fake
            .push_callback(SAM, SAM, start[2].message_id, forged);
        app.fake
            .wait_for(WAIT, "the forged press to be answered", |v| {
                v.count("answercallbackquery", 200) > before
            })
            .await;
        let answer = app.fake.requests_for("answercallbackquery").pop().unwrap();
        assert!(
            answer.body["text"]
                .as_str()
                .unwrap_or("")
                .contains("isn't active"),
            "{:?}",
            answer.body
        );
    }
    // A callback with no data at all (as from a game button) is answered too.
    let before = app.fake.requests_for("answercallbackquery").len();
    let mut update = serde_json::json!({
        "callback_query": {
            "id": "no-data",
            "from": crate::fake_telegram::user_json(SAM),
            "chat_instance": "1",
            "message": crate::fake_telegram::bot_message_json(SAM, start[2].message_id, "x", None),
        }
    });
    update["callback_query"]["from"]["id"] = SAM.into();
    app.fake.push_update(update);
    app.fake
        .wait_for(WAIT, "the empty press to be answered", |v| {
            v.count("answercallbackquery", 200) > before
        })
        .await;
    app.settle().await;
    assert_eq!(
        app.store.member_count().await.unwrap(),
        0,
        "no forged press created anything"
    );
    // A press from someone else in a chat that has a member changes nothing.
    app.press(SAM, start[2].message_id, "consent:yes:1", 1)
        .await;
    let name_q = app.fake.sent_to(SAM).last().unwrap().clone();
    let before = app.fake.requests_for("answercallbackquery").len();
    app.fake
        .push_callback(SAM, 999_999, name_q.message_id, "name:tg");
    app.fake
        .wait_for(WAIT, "the foreign press to be answered", |v| {
            v.count("answercallbackquery", 200) > before
        })
        .await;
    app.settle().await;
    let m = app
        .store
        .person(staywell::domain::ChatId(SAM))
        .await
        .unwrap()
        .member
        .unwrap();
    assert_eq!(
        m.name, None,
        "a press by another user did not choose a name"
    );
    app.stop().await;
}

#[tokio::test]
async fn edits_are_recorded_without_a_reply_and_a_kicked_chat_is_marked_unreachable() {
    let app = spawn_app().await;
    app.onboard(SAM, "Sam").await;
    let before = app.fake.sent_to(SAM).len();
    app.fake.push_edited_text(SAM, "edited");
    app.fake.push_kicked(SAM);
    app.settle().await;
    assert_eq!(
        app.fake.sent_to(SAM).len(),
        before,
        "no reply to an edit or a block"
    );
    assert!(
        app.store
            .is_unreachable(staywell::domain::ChatId(SAM))
            .await
            .unwrap()
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM inbox WHERE processed_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM inbox WHERE payload IS NOT NULL")
            .await,
        0,
        "processed updates keep no message content"
    );
    // Writing again makes the chat reachable again.
    app.say(SAM, "/help", 1).await;
    assert!(
        !app.store
            .is_unreachable(staywell::domain::ChatId(SAM))
            .await
            .unwrap()
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unreadable_update_between_good_ones_is_set_aside_and_the_good_ones_are_answered() {
    use crate::fake_telegram::{private_chat_json, unix_now, user_json};
    const ANN: i64 = 611;
    const BEN: i64 = 612;
    const CAL: i64 = 613;
    let app = spawn_app().await;

    // A message from Cal carrying an unknown field nested 200 deep: beyond serde_json's
    // recursion limit (128), which used to make the whole getUpdates answer unreadable.
    let mut deep = String::from("1");
    for _ in 0..200 {
        deep = format!("{{\"future\":{deep}}}");
    }
    let message = serde_json::json!({
        "message_id": 1,
        "from": user_json(CAL),
        "chat": private_chat_json(CAL),
        "date": unix_now(),
        "text": "private words that must not be stored",
    })
    .to_string();
    let message = format!(
        "{},\"future_field\":{deep}}}",
        &message[..message.len() - 1]
    );

    let first = app.fake.push_text(ANN, "/help");
    let too_deep = app.fake.push_raw(format!("{{\"message\":{message}}}"));
    // Valid JSON, but a known field of the wrong type.
    let wrong_type = app
        .fake
        .push_raw(r#"{"message":{"message_id":"x","text":"also private"}}"#.into());
    let last = app.fake.push_text(BEN, "/help");
    assert_eq!(
        (too_deep, wrong_type, last),
        (first + 1, first + 2, first + 3)
    );

    app.fake.wait_for_sent(ANN, 1, WAIT).await;
    app.fake.wait_for_sent(BEN, 1, WAIT).await;
    app.fake
        .wait_for(WAIT, "all four updates to be confirmed", |v| {
            v.confirmed_offset > last
        })
        .await;
    app.settle().await;

    // The bad ones are in the inbox, set aside, with their id and kind and nothing else.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap();
    // (id, kind, whether it holds no chat and no content and is already handled)
    let rows: Vec<(i64, String, bool)> = sqlx::query_as(
        "SELECT update_id, kind, chat_id IS NULL AND payload IS NULL AND processed_at IS NOT NULL
         FROM inbox WHERE error = 'unreadable update' ORDER BY update_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(
        rows,
        vec![
            (too_deep, "message".to_string(), true),
            (wrong_type, "message".to_string(), true),
        ]
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM inbox WHERE processed_at IS NULL")
            .await,
        0
    );
    assert!(app.fake.sent_to(CAL).is_empty());
    let (ok, report) = app.check();
    assert!(ok, "{report}");
    assert!(
        report.contains("2 update(s) from Telegram could not be read"),
        "{report}"
    );

    // And the bot keeps serving.
    let before = app.fake.sent_to(ANN).len();
    app.fake.push_text(ANN, "/help");
    app.fake.wait_for_sent(ANN, before + 1, WAIT).await;
    app.stop().await;
}
