//! Early-warning plans end to end over the fake Telegram server: a member's plan, check-ins,
//! the alert to the supporter (once per episode), the acknowledgement, the member told; and
//! the consent behind every alert.

use crate::circle::{invite, join, last_text, pool, press, press_as, say};
use crate::helpers::*;

const ALEX: i64 = 801;
const SAM: i64 = 802;
const EVE: i64 = 804;

/// Alex, with Sam as supporter and the low-mood rule telling Sam.
async fn planned() -> TestApp {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let token = invite(&app, ALEX, "Supporter: alerts").await;
    join(&app, ALEX, SAM, &token).await;
    say(&app, ALEX, "/plan").await;
    press(&app, ALEX, "Low mood several days running").await;
    press(&app, ALEX, "mood 3 or lower on 3 check-ins in a row").await;
    press(&app, ALEX, "My supporters (User802): an alert").await;
    press(&app, ALEX, "Just tell them").await;
    assert!(
        last_text(&app, ALEX).starts_with("Done. If mood 3 or lower on 3 check-ins in a row"),
        "{}",
        last_text(&app, ALEX)
    );
    app
}

/// A whole daily check-in with this mood (the low-day branch included).
async fn check_in(app: &TestApp, mood: &str) {
    say(app, ALEX, "/checkin").await;
    for label in [
        mood,
        "5",
        "Fairly good",
        "Skip",
        "None of these",
        "Done",
        "Yes",
    ] {
        press(app, ALEX, label).await;
    }
    if mood.parse::<i64>().unwrap() <= 3 {
        press(app, ALEX, "Yes, I feel safe").await;
        press(app, ALEX, "Carry on with my check-in").await;
    }
    press(app, ALEX, "Skip").await;
    assert!(last_text(app, ALEX).contains("that's today's check-in done") || alerted(app) > 0);
}

fn alerted(app: &TestApp) -> usize {
    app.fake
        .sent_to(SAM)
        .iter()
        .filter(|s| s.text.contains("Alex asked me to tell you"))
        .count()
}

#[tokio::test]
async fn five_check_ins_give_one_alert_the_supporter_acknowledges_and_the_member_is_told() {
    let app = planned().await;
    check_in(&app, "2").await;
    check_in(&app, "3").await;
    assert_eq!(
        alerted(&app),
        0,
        "two low check-ins are not yet a run of three"
    );
    check_in(&app, "2").await;
    assert_eq!(alerted(&app), 1);
    let alert = app
        .fake
        .sent_to(SAM)
        .into_iter()
        .find(|s| s.text.contains("Alex asked me to tell you"))
        .unwrap();
    assert!(
        alert
            .text
            .contains("mood 3 or lower on 3 check-ins in a row")
    );
    assert_eq!(
        alert.body["protect_content"], true,
        "alerts can't be forwarded"
    );
    // Nothing the member typed or answered beyond the consented reason is in it.
    assert!(!alert.text.contains("Fairly good"));
    // The same episode goes on: no second alert.
    check_in(&app, "1").await;
    check_in(&app, "2").await;
    assert_eq!(alerted(&app), 1, "one episode, one alert");
    assert_eq!(app.query_i64("SELECT count(*) FROM alerts").await, 1);
    assert_eq!(app.query_i64("SELECT count(*) FROM episodes").await, 1);

    // A stranger and the member cannot acknowledge it; Sam can, once.
    let (msg, ack) = app.find_button(SAM, "I'll reach out").unwrap();
    app.fake.push_callback(SAM, EVE, msg, &ack);
    app.fake.push_callback(ALEX, ALEX, msg, &ack);
    app.settle().await;
    assert_eq!(
        app.query_i64("SELECT count(*) FROM alerts WHERE state = 'acked'")
            .await,
        0
    );
    press_as(&app, SAM, SAM, "I'll reach out").await;
    assert!(last_text(&app, SAM).contains("Thank you"));
    assert!(app.fake.sent_to(ALEX).iter().any(|s| {
        s.text
            .contains("User802 has seen my message and will reach out")
    }));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM alerts WHERE state = 'acked'")
            .await,
        1
    );
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT event FROM audit WHERE event IN ('alert_sent', 'alert_acknowledged') ORDER BY id",
    )
    .fetch_all(&pool(&app).await)
    .await
    .unwrap();
    assert_eq!(events, ["alert_sent", "alert_acknowledged"]);
    app.stop().await;
}

#[tokio::test]
async fn the_plan_records_a_consent_for_the_rule_and_for_the_person_told() {
    let app = planned().await;
    let db = pool(&app).await;
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT purpose, rule_id, tier FROM consents WHERE rule_id IS NOT NULL AND revoked_at IS NULL ORDER BY id",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            (
                "plan_rule".into(),
                Some("low_mood_run".into()),
                Some("alert".into())
            ),
            (
                "share_rule".into(),
                Some("low_mood_run".into()),
                Some("alert".into())
            ),
        ]
    );
    let wording: String =
        sqlx::query_scalar("SELECT wording FROM consents WHERE purpose = 'share_rule'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(wording.contains("User802 may be told"), "{wording}");
    app.stop().await;
}

#[tokio::test]
async fn withdrawing_the_supporters_consent_means_the_rule_tells_nobody_and_the_member_hears_kindly()
 {
    let app = planned().await;
    say(&app, ALEX, "/consents").await;
    press(&app, ALEX, "Withdraw: User802, alerts").await;
    assert_eq!(
        app.query_i64(
            "SELECT count(*) FROM consents WHERE purpose = 'share_rule' AND revoked_at IS NULL"
        )
        .await,
        0,
        "the plan's consent to tell Sam went with it"
    );
    for mood in ["2", "2", "2"] {
        check_in(&app, mood).await;
    }
    assert_eq!(alerted(&app), 0);
    let told: Vec<String> = app
        .fake
        .sent_to(ALEX)
        .iter()
        .map(|s| s.text.clone())
        .collect();
    assert!(
        told.iter()
            .any(|t| t.contains("nobody is available right now")),
        "{told:#?}"
    );
    assert!(
        told.iter().any(|t| t.contains("116 123")),
        "with the crisis card"
    );
    app.stop().await;
}

#[tokio::test]
async fn turning_a_rule_off_stops_it() {
    let app = planned().await;
    say(&app, ALEX, "/plan").await;
    press(&app, ALEX, "Low mood several days running").await;
    press(&app, ALEX, "Turn it off").await;
    assert!(last_text(&app, ALEX).contains("is off"));
    for mood in ["1", "1", "1"] {
        check_in(&app, mood).await;
    }
    assert_eq!(alerted(&app), 0);
    assert_eq!(app.query_i64("SELECT count(*) FROM episodes").await, 0);
    app.stop().await;
}
