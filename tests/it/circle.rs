//! The circle end to end over the fake Telegram server, with several people: a member, a
//! supporter, a carer and a stranger. Invites, joining, confirming, leaving, away, consent
//! withdrawal, forged presses, export and erasure.

use chrono::{Duration, Utc};
use serde_json::Value;
use sqlx::Row;
use staywell::domain::{ChatId, Envelope, Lane, MemberId, Outgoing};
use staywell::store::Store;
use staywell::store::prelude::*;

use crate::helpers::*;

const ALEX: i64 = 701; // the member
const SAM: i64 = 702; // their supporter
const JO: i64 = 703; // their carer
const EVE: i64 = 704; // a stranger

pub(crate) async fn pool(app: &TestApp) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", app.db_path.display()))
        .await
        .unwrap()
}

/// Presses the button labelled `label` on the latest keyboard in `chat`, as user `from`.
pub(crate) async fn press_as(app: &TestApp, chat: i64, from: i64, label: &str) {
    let (message_id, data) = app
        .find_button(chat, label)
        .unwrap_or_else(|| panic!("no button {label:?} in chat {chat}"));
    app.fake.push_callback(chat, from, message_id, &data);
    app.settle().await;
}

pub(crate) async fn press(app: &TestApp, chat: i64, label: &str) {
    press_as(app, chat, chat, label).await
}

pub(crate) async fn say(app: &TestApp, chat: i64, text: &str) -> Vec<String> {
    let before = app.fake.sent_to(chat).len();
    app.fake.push_text(chat, text);
    app.settle().await;
    app.fake.sent_to(chat)[before..]
        .iter()
        .map(|s| s.text.clone())
        .collect()
}

/// The latest message sent to `chat`, as it reads now (a question answered in place reads
/// as its answer and the next question).
pub(crate) fn last_text(app: &TestApp, chat: i64) -> String {
    app.fake
        .sent_to(chat)
        .last()
        .map(|s| {
            app.fake
                .message(chat, s.message_id)
                .map_or_else(|| s.text.clone(), |(text, _)| text)
        })
        .unwrap_or_default()
}

/// The member makes an invite link for `role_button`; returns its token.
pub(crate) async fn invite(app: &TestApp, member: i64, role_button: &str) -> String {
    say(app, member, "/supporters").await;
    press(app, member, "Invite someone").await;
    press(app, member, role_button).await;
    let text = last_text(app, member);
    let at = text.find("?start=").expect("an invite link");
    let token: String = text[at + 7..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(
        text.contains("https://t.me/staywell_test_bot?start="),
        "{text}"
    );
    token
}

/// `who` opens the link and accepts; the member confirms.
pub(crate) async fn join(app: &TestApp, member: i64, who: i64, token: &str) {
    let offer = say(app, who, &format!("/start {token}")).await;
    assert!(offer[0].contains("has invited you"), "{offer:?}");
    press(app, who, "Accept").await;
    press(app, member, "Yes, add").await;
}

async fn circle_with_supporter() -> TestApp {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let token = invite(&app, ALEX, "Supporter: alerts").await;
    join(&app, ALEX, SAM, &token).await;
    app
}

#[tokio::test]
async fn an_accepted_and_confirmed_invite_adds_a_supporter_with_consent_and_an_audit_trail() {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let token = invite(&app, ALEX, "Supporter: alerts").await;
    assert_eq!(token.len(), 43, "32 random bytes, base64url");

    let offer = say(&app, SAM, &format!("/start {token}")).await;
    assert!(offer[0].contains("Alex has invited you to be their supporter"));
    assert!(offer[0].contains("never receive: Alex's answers or notes"));
    press(&app, SAM, "Accept").await;
    assert!(last_text(&app, SAM).contains("asked Alex to confirm"));
    assert!(last_text(&app, ALEX).contains("User702 (@user702) accepted your invite"));
    // Not active until the member confirms: no consent yet.
    let db = pool(&app).await;
    let alerts: i64 = sqlx::query_scalar("SELECT count(*) FROM consents WHERE purpose = 'alerts'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(alerts, 0);

    press(&app, ALEX, "Yes, add").await;
    assert!(last_text(&app, SAM).contains("Alex confirmed: you're now their supporter"));
    let row = sqlx::query(
        "SELECT c.wording, c.wording_version, t.status FROM consents c JOIN circle t ON t.id = c.circle_id
         WHERE c.purpose = 'alerts' AND c.revoked_at IS NULL",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let wording: String = row.get(0);
    assert!(
        wording.contains("accepted your invite to be your supporter"),
        "{wording}"
    );
    assert_eq!(row.get::<String, _>(2), "active");

    // Only the hash of the token is stored; the token appears nowhere in the database.
    let hash: String = sqlx::query_scalar("SELECT token_hash FROM invites")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(hash, staywell::token::hash(&token));
    let dump: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM invites WHERE token_hash = ?1 OR instr(token_hash, ?1) > 0",
    )
    .bind(&token)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(dump, 0);
    let events: Vec<String> = sqlx::query_scalar("SELECT event FROM audit ORDER BY id")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "invite_created",
            "invite_used",
            "pairing_confirmed",
            "consent_granted"
        ]
    );

    // Each side sees the other, and nothing more.
    assert!(say(&app, SAM, "/members").await[0].contains("Alex — their supporter"));
    assert!(say(&app, ALEX, "/supporters").await[0].contains("1. User702 (@user702) — supporter"));
    app.stop().await;
}

#[tokio::test]
async fn a_declined_invite_adds_nobody_and_cannot_be_used_again() {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let token = invite(&app, ALEX, "Carer: gentle nudges").await;
    say(&app, JO, &format!("/start {token}")).await;
    press(&app, JO, "Decline").await;
    assert!(last_text(&app, JO).contains("you haven't been added"));
    assert!(last_text(&app, ALEX).contains("declined"));
    assert_eq!(app.query_i64("SELECT count(*) FROM circle").await, 0);
    let again = say(&app, JO, &format!("/start {token}")).await;
    assert!(again[0].contains("isn't valid"), "{again:?}");
    app.stop().await;
}

#[tokio::test]
async fn unknown_expired_used_and_malformed_tokens_all_get_the_same_neutral_reply() {
    let app = circle_with_supporter().await;
    // Used: Sam's link, opened by someone else.
    let used: String = {
        let token = invite(&app, ALEX, "Supporter: alerts").await;
        join(&app, ALEX, JO, &token).await;
        token
    };
    let expired = invite(&app, ALEX, "Carer: gentle nudges").await;
    sqlx::query("UPDATE invites SET expires_at = 0 WHERE state = 'open'")
        .execute(&pool(&app).await)
        .await
        .unwrap();
    let unknown = "A".repeat(43);
    let mut replies = Vec::new();
    for token in [
        used.as_str(),
        expired.as_str(),
        unknown.as_str(),
        "not-a-token!",
    ] {
        replies.push(say(&app, EVE, &format!("/start {token}")).await);
    }
    for r in &replies {
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0], replies[0][0], "every bad token reads the same");
    }
    assert!(replies[0][0].contains("isn't valid"));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM circle WHERE chat_id = 704")
            .await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn repeated_bad_tokens_from_one_chat_are_rate_limited_even_for_a_good_one() {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let good = invite(&app, ALEX, "Supporter: alerts").await;
    for i in 0..staywell::store::INVITE_FAILURES_ALLOWED {
        say(
            &app,
            EVE,
            &format!("/start {}", format!("{i}").repeat(43).get(..43).unwrap()),
        )
        .await;
    }
    let limited = say(&app, EVE, &format!("/start {good}")).await;
    assert!(limited[0].contains("Too many invite links"), "{limited:?}");
    // Another chat is not affected.
    let offer = say(&app, SAM, &format!("/start {good}")).await;
    assert!(offer[0].contains("has invited you"));
    app.stop().await;
}

#[tokio::test]
async fn a_third_user_forging_or_replaying_any_press_changes_nothing() {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let token = invite(&app, ALEX, "Supporter: alerts").await;
    say(&app, SAM, &format!("/start {token}")).await;
    // Eve presses Sam's Accept (in Sam's chat and in her own).
    let (accept_msg, accept) = app.find_button(SAM, "Accept").unwrap();
    app.fake.push_callback(SAM, EVE, accept_msg, &accept);
    app.fake.push_callback(EVE, EVE, accept_msg, &accept);
    app.settle().await;
    assert_eq!(app.query_i64("SELECT count(*) FROM circle").await, 0);

    press(&app, SAM, "Accept").await;
    let (confirm_msg, confirm) = app.find_button(ALEX, "Yes, add").unwrap();
    // Eve and Sam both try to confirm on Alex's behalf.
    app.fake.push_callback(ALEX, EVE, confirm_msg, &confirm);
    app.fake.push_callback(SAM, SAM, confirm_msg, &confirm);
    app.settle().await;
    assert_eq!(
        app.query_i64("SELECT count(*) FROM circle WHERE status = 'active'")
            .await,
        0
    );
    // Alex confirms; a replay of the same press, and the No beside it, change nothing.
    app.fake.push_callback(ALEX, ALEX, confirm_msg, &confirm);
    app.settle().await;
    let (_, no) = (confirm_msg, confirm.clone());
    app.fake.push_callback(ALEX, ALEX, confirm_msg, &no);
    app.settle().await;
    assert_eq!(
        app.query_i64("SELECT count(*) FROM consents WHERE purpose = 'alerts'")
            .await,
        1
    );
    // Forged data that was never issued.
    app.fake
        .push_callback(ALEX, ALEX, confirm_msg, "b:AAAAAAAAAAAAAAAA");
    app.settle().await;
    // Eve presses Alex's "Remove" from /supporters.
    say(&app, ALEX, "/supporters").await;
    let (list_msg, remove) = app.find_button(ALEX, "Remove").unwrap();
    app.fake.push_callback(ALEX, EVE, list_msg, &remove);
    app.fake.push_callback(EVE, EVE, list_msg, &remove);
    app.settle().await;
    assert_eq!(
        app.query_i64("SELECT count(*) FROM circle WHERE status = 'active'")
            .await,
        1
    );
    // Every refused press was answered, with the same notice.
    let notices: Vec<String> = app
        .fake
        .requests_for("answercallbackquery")
        .iter()
        .filter_map(|r| r.body["text"].as_str().map(str::to_string))
        .collect();
    assert!(notices.len() >= 7, "{notices:?}");
    assert!(
        notices.iter().all(|n| n == "That question has passed."),
        "{notices:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_supporter_cannot_act_on_the_members_data_by_any_command() {
    let app = circle_with_supporter().await;
    for cmd in [
        "/supporters",
        "/consents",
        "/checkin",
        "/schedule",
        "/pause",
    ] {
        let r = say(&app, SAM, cmd).await;
        assert!(r[0].contains("Let's get you set up first"), "{cmd}: {r:?}");
    }
    // Sam's /mydata holds Sam's tie, not Alex's answers or consents.
    say(&app, SAM, "/mydata").await;
    let doc = exported(&app, SAM);
    let tables = doc["tables"].as_object().unwrap();
    let rows = |t: &str| tables.get(t).and_then(Value::as_array).map_or(0, Vec::len);
    assert_eq!(rows("members"), 0);
    assert_eq!(rows("consents"), 0);
    assert_eq!(rows("answers"), 0);
    assert_eq!(tables["circle"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn away_leave_and_remove_take_effect_at_once_and_tell_the_other_side() {
    let app = circle_with_supporter().await;
    let token = invite(&app, ALEX, "Both").await;
    join(&app, ALEX, JO, &token).await;

    say(&app, SAM, "/away").await;
    press(&app, SAM, "1 week").await;
    assert!(last_text(&app, SAM).contains("you're away until"));
    let list = say(&app, ALEX, "/supporters").await;
    assert!(list[0].contains("(away until"), "{list:?}");
    // Jo moves to the top of the escalation order.
    press(&app, ALEX, "↑ User703").await;
    assert!(say(&app, ALEX, "/supporters").await[0].contains("1. User703"));

    say(&app, SAM, "/leave").await;
    press(&app, SAM, "Leave Alex's circle").await;
    assert!(last_text(&app, ALEX).contains("User702 has left your circle"));
    say(&app, ALEX, "/supporters").await;
    press(&app, ALEX, "Remove User703").await;
    assert!(last_text(&app, ALEX).contains("Remove User703 from your circle?"));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM circle WHERE status != 'ended'")
            .await,
        1,
        "nothing is removed before the member confirms"
    );
    press(&app, ALEX, "Yes, remove User703").await;
    assert!(last_text(&app, JO).contains("Your link with Alex on staywell has ended"));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM circle WHERE status != 'ended'")
            .await,
        0
    );
    assert_eq!(
        app.query_i64(
            "SELECT count(*) FROM consents WHERE circle_id IS NOT NULL AND revoked_at IS NULL"
        )
        .await,
        0
    );
    assert!(say(&app, SAM, "/members").await[0].contains("not in anyone's circle"));
    app.stop().await;
}

async fn alerts_consent(app: &TestApp) -> i64 {
    app.query_i64("SELECT id FROM consents WHERE purpose = 'alerts' AND revoked_at IS NULL")
        .await
}

async fn queue_alert(app: &TestApp, consent: i64, text: &str, delay: Duration) {
    let mut tx = app.store.begin_write().await.unwrap();
    let now = Utc::now();
    tx.enqueue_consented(
        &Envelope {
            chat: ChatId(SAM),
            lane: Lane::Urgent,
            body: Outgoing::text(text),
        },
        consent,
        MemberId(1),
        now,
        now + delay,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn withdrawing_consent_with_an_alert_pending_means_it_is_never_delivered() {
    let app = circle_with_supporter().await;
    let consent = alerts_consent(&app).await;
    say(&app, ALEX, "/consents").await;
    // Held (as for quiet hours) so that it is still pending when the member withdraws.
    queue_alert(&app, consent, "PENDING-ALERT", Duration::hours(1)).await;
    press(&app, ALEX, "Withdraw: User702, alerts").await;
    let recent: Vec<String> = app
        .fake
        .sent_to(ALEX)
        .iter()
        .rev()
        .take(2)
        .map(|s| s.text.clone())
        .collect();
    assert!(
        recent
            .iter()
            .any(|t| t.contains("User702 will no longer receive alerts")),
        "{recent:?}"
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM outbox WHERE state = 'cancelled' AND last_error = 'consent withdrawn'")
            .await,
        1
    );
    app.settle().await;
    assert!(
        !app.fake
            .sent_to(SAM)
            .iter()
            .any(|s| s.text.contains("PENDING-ALERT"))
    );
    app.stop().await;
}

#[tokio::test]
async fn consent_is_checked_again_at_the_moment_of_sending() {
    let app = circle_with_supporter().await;
    let consent = alerts_consent(&app).await;
    // Revoked behind the outbox's back (as if in a race): the row is still pending.
    sqlx::query("UPDATE consents SET revoked_at = 1 WHERE id = ?")
        .bind(consent)
        .execute(&pool(&app).await)
        .await
        .unwrap();
    queue_alert(&app, consent, "RACED-ALERT", Duration::zero()).await;
    app.settle().await;
    assert!(
        !app.fake
            .sent_to(SAM)
            .iter()
            .any(|s| s.text.contains("RACED-ALERT"))
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM outbox WHERE last_error = 'consent withdrawn'")
            .await,
        1
    );
    app.stop().await;
}

fn exported(app: &TestApp, chat: i64) -> Value {
    let docs = app.fake.requests_for("senddocument");
    let last = docs
        .iter()
        .rev()
        .find(|r| r.chat_id == Some(chat))
        .expect("a document");
    let file = last.files.first().expect("a file part");
    assert_eq!(file.file_name, "staywell-mydata.json");
    serde_json::from_slice(&file.bytes).expect("valid JSON")
}

/// Every (table, condition) that can refer to `chat`'s person, with how many rows match.
async fn rows_about(app: &TestApp, chat: i64) -> Vec<(String, i64)> {
    let mut conn = app.store.begin().await.unwrap();
    let who = conn.subject_of(ChatId(chat)).await.unwrap();
    // A person (not a member) is still found by their chat and user.
    let tables = conn.personal_tables(who).await.unwrap();
    drop(conn);
    let db = pool(app).await;
    let mut out = Vec::new();
    for (table, condition, values) in tables {
        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM \"{table}\" WHERE {condition}"
        )));
        for v in values {
            q = q.bind(v);
        }
        out.push((table, q.fetch_one(&db).await.unwrap()));
    }
    out
}

/// A member with a bit of everything: answers, a schedule, a circle, consents, an invite.
async fn busy_member() -> TestApp {
    let app = circle_with_supporter().await;
    let token = invite(&app, ALEX, "Carer: gentle nudges").await;
    join(&app, ALEX, JO, &token).await;
    invite(&app, ALEX, "Both").await; // left open
    say(&app, ALEX, "/schedule 19:30").await;
    say(&app, ALEX, "/checkin").await;
    say(&app, ALEX, "7").await;
    say(&app, ALEX, "3").await;
    app
}

#[tokio::test]
async fn mydata_exports_every_row_of_every_table_that_refers_to_the_member() {
    let app = busy_member().await;
    say(&app, ALEX, "/mydata").await;
    let doc = exported(&app, ALEX);
    let tables = doc["tables"].as_object().unwrap();
    let about = rows_about(&app, ALEX).await;
    assert!(about.len() >= 10, "{about:?}");
    for (table, count) in &about {
        let shown = tables
            .get(table)
            .unwrap_or_else(|| panic!("{table} missing from the export"));
        // The export itself and its summary were queued after it was made.
        let extra = if table == "outbox" || table == "audit" || table == "inbox" {
            shown.as_array().unwrap().len() as i64
        } else {
            *count
        };
        assert!(
            shown.as_array().unwrap().len() as i64 == extra && extra <= *count,
            "{table}: exported {} of {count}",
            shown.as_array().unwrap().len()
        );
    }
    for must in [
        "answers",
        "sessions",
        "schedules",
        "consents",
        "circle",
        "invites",
        "members",
    ] {
        assert!(
            !tables[must].as_array().unwrap().is_empty(),
            "{must} should have rows"
        );
    }
    // The summary message came first, in words.
    let texts = app.fake.sent_to(ALEX);
    assert!(texts.iter().any(|s| s.text.contains("• answers:")));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM audit WHERE event = 'export'")
            .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn delete_asks_twice_then_erases_every_row_about_the_member_and_tells_the_circle() {
    let app = busy_member().await;
    say(&app, ALEX, "/delete").await;
    press(&app, ALEX, "No, keep it").await;
    assert!(last_text(&app, ALEX).contains("nothing has been erased"));
    assert!(app.store.member_count().await.unwrap() == 1);

    say(&app, ALEX, "/delete").await;
    press(&app, ALEX, "Yes, erase everything").await;
    assert!(last_text(&app, ALEX).contains("Are you sure"));
    assert_eq!(app.store.member_count().await.unwrap(), 1, "not yet");
    press(&app, ALEX, "Erase now").await;
    assert!(last_text(&app, ALEX).contains("has been erased"));
    for who in [SAM, JO] {
        let told = last_text(&app, who);
        assert_eq!(
            told,
            "Your link with Alex on staywell has ended. You won't receive anything more about them."
        );
    }
    // Nothing refers to Alex any more, except the replies to the erasing press itself
    // (its notice, its ✓ and the goodbye), which hold no data and are swept with the outbox.
    let db = pool(&app).await;
    let erase_update: i64 =
        sqlx::query_scalar("SELECT max(cause_update_id) FROM outbox WHERE chat_id = ?")
            .bind(ALEX)
            .fetch_one(&db)
            .await
            .unwrap();
    for (table, count) in rows_about(&app, ALEX).await {
        if table == "outbox" {
            let left: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM outbox WHERE chat_id = ? AND cause_update_id != ?",
            )
            .bind(ALEX)
            .bind(erase_update)
            .fetch_one(&db)
            .await
            .unwrap();
            assert_eq!(left, 0, "outbox rows from before the erasure");
        } else {
            assert_eq!(count, 0, "{table} still refers to the member");
        }
    }
    // The user id may also sit in another column of the same value (Telegram user = chat).
    assert_eq!(app.query_i64("SELECT count(*) FROM members").await, 0);
    assert_eq!(app.query_i64("SELECT count(*) FROM answers").await, 0);
    assert_eq!(app.query_i64("SELECT count(*) FROM circle").await, 0);
    assert_eq!(
        app.query_i64("SELECT count(*) FROM audit WHERE event = 'erasure' AND member_id IS NULL AND actor_chat IS NULL")
            .await,
        1
    );
    assert_eq!(app.query_i64("SELECT count(*) FROM audit").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_supporter_who_deletes_themselves_leaves_every_circle_and_the_members_are_told() {
    let app = circle_with_supporter().await;
    say(&app, SAM, "/delete").await;
    press(&app, SAM, "Yes, erase everything").await;
    press(&app, SAM, "Erase now").await;
    assert!(last_text(&app, ALEX).contains("User702 has left your circle"));
    // Alex keeps that someone was in the circle and that the consent was withdrawn — not who.
    assert_eq!(
        app.query_i64(
            "SELECT count(*) FROM circle WHERE status = 'ended' AND chat_id = 0 AND name = ''"
        )
        .await,
        1
    );
    assert_eq!(
        app.query_i64(
            "SELECT count(*) FROM consents WHERE purpose = 'alerts' AND revoked_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.query_i64("SELECT count(*) FROM audit WHERE event = 'consent_revoked'")
            .await,
        1
    );
    for (table, count) in rows_about(&app, SAM).await {
        if table != "outbox" {
            assert_eq!(count, 0, "{table} still refers to Sam");
        }
    }
    assert_eq!(
        app.store.member_count().await.unwrap(),
        1,
        "Alex is untouched"
    );
    app.stop().await;
}

#[tokio::test]
async fn withdrawing_consent_to_store_answers_stops_check_ins_until_it_is_given_again() {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    say(&app, ALEX, "/checkin").await;
    say(&app, ALEX, "/consents").await;
    press(&app, ALEX, "Stop storing my answers").await;
    assert!(last_text(&app, ALEX).contains("I won't store any more answers"));
    assert_eq!(
        app.query_i64("SELECT count(*) FROM sessions WHERE status IN ('active', 'paused')")
            .await,
        0,
        "the open check-in ended"
    );
    // Nothing is asked or stored until consent is given again: /checkin says, in one
    // message, how to start again; /start asks.
    let again = say(&app, ALEX, "/checkin").await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(again[0].contains("send /start"), "{again:?}");
    say(&app, ALEX, "7").await;
    assert_eq!(app.query_i64("SELECT count(*) FROM answers").await, 0);
    let start = say(&app, ALEX, "/start").await;
    assert!(
        start
            .iter()
            .any(|t| t.contains("Is it OK for me to store your answers?"))
    );
    press(&app, ALEX, "Yes, store my answers").await;
    assert_eq!(
        app.query_i64(
            "SELECT count(*) FROM consents WHERE purpose = 'store_answers' AND revoked_at IS NULL"
        )
        .await,
        1
    );
    let back = say(&app, ALEX, "/checkin").await;
    assert!(
        back.iter()
            .any(|t| t.contains("how happy did you feel yesterday")),
        "{back:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn every_table_is_either_about_someone_or_declared_impersonal() {
    // Export and erasure find a person's rows by their columns: a new table with none of
    // them, and not declared impersonal, would be missed by both. This catches it.
    let app = spawn_app().await;
    let db = pool(&app).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%'",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let person_columns = [
        "member_id",
        "chat_id",
        "actor_chat",
        "used_by_chat",
        "user_id",
        "telegram_user_id",
    ];
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}')"
        )))
        .fetch_all(&db)
        .await
        .unwrap();
        let personal =
            table == "members" || columns.iter().any(|c| person_columns.contains(&c.as_str()));
        let declared = Store::impersonal_tables().contains(&table.as_str());
        assert!(
            personal ^ declared,
            "{table}: {} (columns {columns:?})",
            if personal {
                "declared impersonal but refers to people"
            } else {
                "refers to nobody: add a person column or declare it impersonal"
            }
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn accepting_two_links_from_the_same_member_adds_the_person_once_and_the_bot_carries_on() {
    let app = spawn_app().await;
    app.onboard(ALEX, "Alex").await;
    let first = invite(&app, ALEX, "Supporter: alerts").await;
    let second = invite(&app, ALEX, "Carer: gentle nudges").await;
    say(&app, SAM, &format!("/start {first}")).await;
    let (m1, accept1) = app.find_button(SAM, "Accept").unwrap();
    say(&app, SAM, &format!("/start {second}")).await;
    let (m2, accept2) = app.find_button(SAM, "Accept").unwrap();
    app.fake.push_callback(SAM, SAM, m1, &accept1);
    app.settle().await;
    app.fake.push_callback(SAM, SAM, m2, &accept2);
    app.settle().await;
    assert!(
        last_text(&app, SAM).contains("already in Alex's circle"),
        "{}",
        last_text(&app, SAM)
    );
    assert_eq!(app.query_i64("SELECT count(*) FROM circle").await, 1);
    // Everyone else is still answered.
    assert!(say(&app, JO, "/help").await[0].contains("/crisis"));
    app.stop().await;
}
