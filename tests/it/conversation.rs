//! The first conversations: /start, consent, name, timezone, /help, /stop, the crisis card.

use crate::helpers::*;

const ALEX: i64 = 501;

#[tokio::test]
async fn start_says_who_we_are_shows_crisis_contacts_and_asks_consent_storing_nothing() {
    let app = spawn_app().await;
    let replies = app.say(ALEX, "/start", 3).await;
    let t = texts(&replies);
    assert!(t[0].contains("not a crisis service"), "{}", t[0]);
    assert!(t[0].contains("24/7"), "{}", t[0]);
    for number in ["999", "111", "116 123", "85258", "0800 731 2864"] {
        assert!(
            t[1].contains(number),
            "crisis card lacks {number}: {}",
            t[1]
        );
    }
    assert_eq!(
        button_data(&replies[2]),
        vec!["consent:yes:1", "consent:no"]
    );
    app.settle().await;
    assert_eq!(
        app.store.member_count().await.unwrap(),
        0,
        "nothing stored before consent"
    );
    assert_eq!(app.query_i64("SELECT count(*) FROM consents").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn consent_then_a_name_and_a_timezone_completes_onboarding() {
    let app = spawn_app().await;
    let start = app.say(ALEX, "/start", 3).await;
    let after_consent = app
        .press(ALEX, start[2].message_id, "consent:yes:1", 1)
        .await;
    assert!(
        after_consent[0]
            .text
            .contains("What would you like me to call you")
    );
    assert_eq!(button_data(&after_consent[0]), vec!["name:tg"]);
    // The consent question now shows the answer instead of live buttons.
    app.fake
        .wait_for(WAIT, "the consent keyboard to be replaced", |v| {
            v.requests.iter().any(|r| {
                r.method == "editmessagereplymarkup"
                    && r.body["message_id"] == start[2].message_id
                    && r.body["reply_markup"]["inline_keyboard"][0][0]["text"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("✓"))
            })
        })
        .await;

    let tz = app.say(ALEX, "  Alex 🌻 ", 1).await;
    assert!(
        tz[0].text.contains("Nice to meet you, Alex 🌻"),
        "{}",
        tz[0].text
    );
    assert_eq!(button_data(&tz[0]), vec!["tz:london", "tz:other"]);
    let other = app.press(ALEX, tz[0].message_id, "tz:other", 1).await;
    assert!(other[0].text.contains("Europe/Lisbon"));
    let bad = app.say(ALEX, "Mars/Olympus_Mons", 1).await;
    assert!(bad[0].text.contains("don't recognise"));
    let when = app.say(ALEX, "Africa/Lagos", 1).await;
    assert!(
        when[0]
            .text
            .contains("When would you like your daily check-in?")
    );
    assert_eq!(
        button_data(&when[0]),
        vec!["ct:09:00", "ct:13:00", "ct:19:00", "ct:other", "ct:none"]
    );
    // Times in quiet hours, and things that are not times, get a clear answer.
    let quiet = app.say(ALEX, "23:30", 1).await;
    assert!(quiet[0].text.contains("quiet hours"), "{}", quiet[0].text);
    for bad in ["25:00", "tomorrow"] {
        let r = app.say(ALEX, bad, 1).await;
        assert!(
            r[0].text.contains("couldn't read that as a time"),
            "{bad}: {}",
            r[0].text
        );
    }
    let done = app.say(ALEX, "7.30pm", 1).await;
    assert!(
        done[0].text.contains("All set, Alex 🌻"),
        "{}",
        done[0].text
    );
    assert!(done[0].text.contains("Africa/Lagos"));
    assert!(done[0].text.contains("19:30"), "{}", done[0].text);
    assert_eq!(
        app.query_i64("SELECT count(*) FROM schedules WHERE local_time = '19:30' AND days = '*' AND next_due_at IS NOT NULL").await,
        1
    );

    let person = app
        .store
        .person(staywell::domain::ChatId(ALEX))
        .await
        .unwrap();
    let m = person.member.expect("a member after consent");
    assert_eq!(m.name.as_deref(), Some("Alex 🌻"));
    assert_eq!(m.timezone.name(), "Africa/Lagos");
    assert_eq!(
        app.query_i64("SELECT count(*) FROM consents WHERE purpose = 'store_answers' AND revoked_at IS NULL AND wording LIKE '%store your answers%'")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn declining_consent_stores_nothing_and_says_so() {
    let app = spawn_app().await;
    let start = app.say(ALEX, "/start", 3).await;
    let declined = app.press(ALEX, start[2].message_id, "consent:no", 1).await;
    assert!(declined[0].text.contains("haven't stored anything"));
    app.settle().await;
    assert_eq!(app.store.member_count().await.unwrap(), 0);
    // The old consent button is now stale; pressing it again still changes nothing.
    app.press(ALEX, start[2].message_id, "consent:no", 0).await;
    app.stop().await;
}

#[tokio::test]
async fn crisis_words_from_a_stranger_get_the_card_at_once_on_the_urgent_lane() {
    let app = spawn_app().await;
    let replies = app.say(ALEX, "i just want to END IT ALL", 1).await;
    assert!(replies[0].text.contains("116 123"));
    app.settle().await;
    assert_eq!(
        app.query_i64("SELECT lane FROM outbox WHERE chat_id = 501")
            .await,
        0,
        "urgent lane"
    );
    assert_eq!(app.store.member_count().await.unwrap(), 0);
    let card = app.say(ALEX, "/crisis", 1).await;
    assert!(card[0].text.contains("85258"));
    app.stop().await;
}

#[tokio::test]
async fn crisis_words_mid_onboarding_get_the_card_and_are_not_taken_as_a_name() {
    let app = spawn_app().await;
    let start = app.say(ALEX, "/start", 3).await;
    app.press(ALEX, start[2].message_id, "consent:yes:1", 1)
        .await;
    let replies = app.say(ALEX, "I don't feel safe", 2).await;
    assert!(
        replies[0].text.contains("116 123"),
        "the card comes first: {:?}",
        texts(&replies)
    );
    assert!(
        replies[1]
            .text
            .contains("What would you like me to call you")
    );
    let m = app
        .store
        .person(staywell::domain::ChatId(ALEX))
        .await
        .unwrap()
        .member
        .unwrap();
    assert_eq!(m.name, None);
    app.stop().await;
}

#[tokio::test]
async fn stop_keeps_data_and_start_resumes() {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let stopped = app.say(ALEX, "/stop", 1).await;
    assert!(stopped[0].text.contains("won't send you any more messages"));
    assert!(
        app.store
            .person(staywell::domain::ChatId(ALEX))
            .await
            .unwrap()
            .member
            .unwrap()
            .stopped
    );
    let back = app.say(ALEX, "/start", 1).await;
    assert!(back[0].text.contains("Welcome back, Alex"));
    let m = app
        .store
        .person(staywell::domain::ChatId(ALEX))
        .await
        .unwrap()
        .member
        .unwrap();
    assert!(!m.stopped);
    assert_eq!(m.name.as_deref(), Some("Alex"), "data kept across /stop");
    let help = app.say(ALEX, "/help", 1).await;
    assert!(help[0].text.contains("/crisis"));
    app.stop().await;
}

#[tokio::test]
async fn a_yes_to_older_consent_wording_asks_again_instead_of_recording_consent() {
    let app = spawn_app().await;
    let start = app.say(ALEX, "/start", 3).await;
    let again = app
        .press(ALEX, start[2].message_id, "consent:yes:0", 3)
        .await;
    assert!(
        again[2]
            .text
            .contains("Is it OK for me to store your answers?")
    );
    app.settle().await;
    assert_eq!(app.store.member_count().await.unwrap(), 0);
    app.stop().await;
}

#[tokio::test]
async fn crisis_language_in_a_caption_a_command_or_a_group_still_gets_the_card() {
    let app = spawn_app().await;
    // A photo captioned with crisis words.
    let mut photo = serde_json::json!({
        "message": {
            "message_id": 77,
            "date": crate::fake_telegram::unix_now(),
            "chat": crate::fake_telegram::private_chat_json(ALEX),
            "from": crate::fake_telegram::user_json(ALEX),
            "photo": [{"file_id": "p", "file_unique_id": "pu", "width": 1, "height": 1}],
            "caption": "i want to kill myself"
        }
    });
    app.fake.push_update(photo.take());
    let sent = app.fake.wait_for_sent(ALEX, 2, WAIT).await;
    assert!(
        sent.iter().any(|s| s.text.contains("116 123")),
        "{:?}",
        texts(&sent)
    );
    // A made-up command with crisis words.
    let sent = app.say(ALEX, "/end it all", 2).await;
    assert!(
        sent.iter().any(|s| s.text.contains("116 123")),
        "{:?}",
        texts(&sent)
    );
    // /crisis in a group chat.
    let group = -100_123;
    app.fake.push_update(serde_json::json!({
        "message": {
            "message_id": 78,
            "date": crate::fake_telegram::unix_now(),
            "chat": {"id": group, "type": "group", "title": "Friends"},
            "from": crate::fake_telegram::user_json(ALEX),
            "text": "/crisis"
        }
    }));
    let sent = app.fake.wait_for_sent(group, 1, WAIT).await;
    assert!(sent[0].text.contains("116 123"), "{}", sent[0].text);
    app.stop().await;
}
