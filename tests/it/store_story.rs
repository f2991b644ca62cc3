//! The storage contract, told as stories: one per group of operations (people, circle,
//! plans, schedules, outbox, inbox), written against the traits and rows alone. Nothing here
//! names SQL or a backend: each story sees the store only through the contract. They run on
//! SQLite today; the same stories run on any backend a URL names (PostgreSQL is coming).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use staywell::domain::answer::AnswerValue::Number;
use staywell::domain::answer::{Answer, AnswerValue, Session, Stored};
use staywell::domain::circle::{InviteLookup, Purpose, Role, TieStatus};
use staywell::domain::member::{Member, Onboarding, QuietHours};
use staywell::domain::plan::Tier;
use staywell::domain::states::{EpisodeState, SessionStatus, SlotOutcome};
use staywell::domain::{ChatId, Envelope, Incoming, Input, Lane, MemberId, OutboxId, Outgoing};
use staywell::domain::{Sender, SessionId, Unreadable, UpdateId, UserId};
use staywell::store::prelude::*;
use staywell::store::{DeliveryRecord, NewSession, NewSlot, Opening, OutboxRow};
use staywell::store::{PendingSlot, Store, Work};
use staywell::store::{PlanRule, PlanSettings, SET_ASIDE_AFTER_FAILURES, Share, SlotOpenings};
use staywell::token::{Tokens, hash};

type Story = anyhow::Result<()>;

/// Where the stories run: SQLite in memory today. The same stories run unchanged on any
/// backend a URL names, once the store picks its backend from the URL (PostgreSQL is next).
const URL: &str = "sqlite::memory:";

/// A fresh store at `url`, its schema in place.
async fn store_at(url: &str) -> Store {
    let store = Store::connect(url).await.expect("the store opens");
    store.migrate().await.expect("the schema is in place");
    store
}

#[tokio::test]
async fn store_story_people() {
    people_story(&store_at(URL).await).await.unwrap();
}

#[tokio::test]
async fn store_story_circle() {
    circle_story(&store_at(URL).await).await.unwrap();
}

#[tokio::test]
async fn store_story_plans() {
    plans_story(&store_at(URL).await).await.unwrap();
}

#[tokio::test]
async fn store_story_schedules() {
    schedules_story(&store_at(URL).await).await.unwrap();
}

#[tokio::test]
async fn store_story_outbox() {
    outbox_story(&store_at(URL).await).await.unwrap();
}

#[tokio::test]
async fn store_story_inbox() {
    inbox_story(&store_at(URL).await).await.unwrap();
}

/// Robin joins and settles in, starts a check-in, sets it aside, comes back and finishes it.
async fn people_story(store: &Store) -> Story {
    let (robin, sam, now) = (ChatId(101), ChatId(102), monday(9, 0));
    let lisbon = chrono_tz::Europe::Lisbon;
    let quiet = QuietHours::from_stored("23:00", "07:30");
    let mut tx = store.begin_write().await?;
    tx.create_member(robin, UserId(1), CONSENT, 1, now).await?;
    tx.set_name(robin, "Robin").await?;
    tx.set_timezone(robin, "Europe/Lisbon").await?;
    tx.set_quiet_hours(robin, quiet).await?;
    tx.set_onboarding(robin, Onboarding::Done).await?;
    tx.commit().await?;

    let mut tx = store.begin_write().await?;
    let member = member_of(&mut tx, robin).await?;
    assert_eq!(member.name.as_deref(), Some("Robin"));
    assert_eq!((member.timezone, member.quiet), (lisbon, quiet));
    assert_eq!(member.onboarding, Onboarding::Done);
    assert!(member.consented && !member.stopped && member.paused_until.is_none());
    assert_eq!(tx.quiet_of(robin).await?, Some((lisbon, quiet)));
    let read = tx.load_for_update(robin, now).await?;
    assert_eq!(read.person.member.as_ref(), Some(&member));
    assert!(read.session.is_none() && !read.unreachable);
    let id = tx.next_session_id().await?;
    assert_eq!(read.next_session_id, id);

    let (until, mut state) = (now + Duration::hours(2), Session::default());
    let start = tx.insert_session(
        robin,
        id,
        "daily",
        1,
        SessionStatus::Active,
        Some(&state),
        until,
        now,
    );
    start.await?;
    let mood = answered("mood", 3.0);
    state.answers.insert("mood".into(), mood.answer.clone());
    state.current = Some(1);
    tx.save_session(id, SessionStatus::Active, &state, now)
        .await?;
    tx.store_answers(id, member.id, "daily", 1, &[mood], now)
        .await?;
    let open = tx.load_for_update(robin, now).await?.session.expect("open");
    assert_eq!((open.id, open.dialog_id.as_str()), (id, "daily"));
    assert_eq!((open.state, open.expires_at), (state.clone(), until));

    // Another check-in starts: this one waits aside, then comes back and is finished.
    tx.put_open_sessions_aside(robin, now).await?;
    assert_eq!(sessions_of(&mut tx, robin, now).await?, (None, Some(id)));
    tx.resume_session(robin, id, now).await?;
    assert_eq!(sessions_of(&mut tx, robin, now).await?, (Some(id), None));
    state.current = None;
    let done = now + Duration::minutes(5);
    tx.save_session(id, SessionStatus::Completed, &state, done)
        .await?;
    tx.commit().await?;

    let mut tx = store.begin_write().await?;
    assert_eq!(tx.last_completed(member.id, "daily").await?, Some(done));
    let answers = tx.raw_history(member.id, now).await?.answers;
    assert_eq!(answers.len(), 1, "one answer, stored once");
    let value = answers[0].value.as_deref().unwrap_or_default();
    assert_eq!(serde_json::from_str::<AnswerValue>(value)?, Number(3.0));
    // What a savepoint undid is gone; what followed it in the unit of work is kept.
    let mut sp = tx.savepoint().await?;
    sp.set_name(robin, "Not Robin").await?;
    sp.rollback().await?;
    tx.set_paused_until(robin, Some(done)).await?;
    tx.commit().await?;

    let mut tx = store.begin_write().await?;
    tx.create_member(sam, UserId(2), CONSENT, 1, now).await?;
    tx.rollback().await?;
    let mut tx = store.begin_write().await?;
    let undone = tx.load_person(sam).await?.member;
    assert!(undone.is_none(), "Sam's start was undone");
    let member = member_of(&mut tx, robin).await?;
    assert_eq!(member.name.as_deref(), Some("Robin"));
    assert_eq!(member.paused_until, Some(done));
    Ok(())
}

/// Robin invites Sam, who accepts; Robin confirms, later withdraws Sam's alerts, exports
/// everything, and asks to be forgotten.
async fn circle_story(store: &Store) -> Story {
    let (robin, sam, now) = (ChatId(201), ChatId(202), monday(10, 0));
    let member = join(store, robin, "Robin", now).await?;
    let token = Tokens::new([7; 32], 1).invite();
    let (link, expires) = (hash(&token), now + Duration::days(7));
    let mut tx = store.begin_write().await?;
    tx.create_invite(robin, member, &link, Role::Supporter, expires, now)
        .await?;
    tx.commit().await?;

    let mut tx = store.begin_write().await?;
    let found = tx.lookup_invite(sam, Some(&link), now).await?;
    let InviteLookup::Valid { invite, role, .. } = found else {
        panic!("Sam's link is valid, not {found:?}");
    };
    assert_eq!(role, Role::Supporter);
    let guess = tx.lookup_invite(sam, Some(&hash("a guess")), now).await?;
    assert_eq!(guess, InviteLookup::Invalid);
    tx.accept_invite(sam, invite, UserId(2), "Sam", None, now)
        .await?;
    let again = tx.lookup_invite(sam, Some(&link), now).await?;
    assert_eq!(again, InviteLookup::Invalid, "an invite is used once");
    let circle = tx.load_circle(robin, Some(member), now).await?.circle;
    assert_eq!(circle.len(), 1);
    assert_eq!((circle[0].name.as_str(), circle[0].chat), ("Sam", sam));
    assert_eq!(circle[0].status, TieStatus::Awaiting);

    let tie = circle[0].id;
    tx.confirm_tie(robin, tie, Role::Supporter, "Sam hears", 1, now)
        .await?;
    let read = tx.load_circle(robin, Some(member), now).await?;
    assert_eq!(read.circle[0].status, TieStatus::Active);
    let consents: Vec<_> = read.consents.iter().map(|c| (c.purpose, c.tie)).collect();
    let alerts = (Purpose::Alerts, Some(tie));
    assert_eq!(consents, [(Purpose::StoreAnswers, None), alerts]);
    let supporting = tx.load_circle(sam, None, now).await?.supporting;
    assert_eq!(supporting.len(), 1);
    assert_eq!(supporting[0].member_name, "Robin");

    tx.revoke_consent(robin, read.consents[1].id, now).await?;
    let read = tx.load_circle(robin, Some(member), now).await?;
    let purposes: Vec<_> = read.consents.iter().map(|c| c.purpose).collect();
    assert_eq!(purposes, [Purpose::StoreAnswers], "Sam's alerts end");
    let not_sams = tx.revoke_consent(sam, read.consents[0].id, now).await;
    assert!(not_sams.is_err(), "only Robin revokes Robin's consents");
    tx.commit().await?;

    let mut tx = store.begin_write().await?;
    assert!(tx.holds_data(robin).await? && tx.holds_data(sam).await?);
    let (doc, counts) = tx.export(robin, now).await?;
    let counts: BTreeMap<_, _> = counts.into_iter().collect();
    assert_eq!(
        [counts["members"], counts["circle"], counts["invites"]],
        [1; 3]
    );
    assert_eq!(counts["consents"], 2, "the revoked one too");
    assert_eq!(doc["tables"]["members"][0]["display_name"], "Robin");
    tx.erase(robin, UpdateId(0), now).await?;
    assert!(!tx.holds_data(robin).await?, "nothing is left about Robin");
    assert!(tx.load_person(robin).await?.member.is_none());
    assert!(tx.load_circle(sam, None, now).await?.supporting.is_empty());
    let sams = tx.holds_data(sam).await?;
    assert!(!sams, "nor about Sam, who was only in Robin's circle");
    tx.commit().await?;
    Ok(())
}

/// Robin's plan alerts Sam when Robin's mood stays low: it fires once, Sam is alerted once
/// and responds, the episode closes and the rule is turned off.
async fn plans_story(store: &Store) -> Story {
    let (robin, sam, now) = (ChatId(301), ChatId(302), monday(11, 0));
    let member = join(store, robin, "Robin", now).await?;
    let tie = add_supporter(store, robin, member, sam, now).await?;
    let (rule, wording) = (low_mood_alert(), "Sam hears".to_string());
    let shares = [Share { tie, wording }];
    let settings = PlanSettings {
        escalate_hours: 6,
        ..PlanSettings::default()
    };
    let mut tx = store.begin_write().await?;
    tx.set_plan_rule(robin, &rule, "Low mood: tell", &shares, 1, now)
        .await?;
    let plan = tx.member_plan(member).await?;
    assert_eq!(plan, std::slice::from_ref(&rule));
    assert!(tx.plan(member).await?.unreadable.is_empty());
    assert_eq!(tx.plan_settings(member).await?, PlanSettings::default());
    tx.set_plan_settings(robin, settings, "6 hours", 1, now)
        .await?;
    assert_eq!(tx.plan_settings(member).await?, settings);
    let heard = tx.recipients(member, LOW, Tier::Alert, now).await?;
    assert_eq!(heard.len(), 1);
    assert_eq!((heard[0].tie, heard[0].name.as_str()), (tie, "Sam"));
    let consent = heard[0].consent;
    assert!(consent.is_some(), "Sam hears on Robin's consent");

    let evidence = "mood 3, 2, 2";
    let first = tx.open_new_episode(member, LOW, evidence, EpisodeState::Told, None, now);
    let episode = first.await?.expect("an episode opens");
    let again = tx.open_new_episode(member, LOW, evidence, EpisodeState::Told, None, now);
    assert_eq!(again.await?, None, "one open episode per rule");
    let open = tx.open_episode(member, LOW).await?;
    assert_eq!(open.map(|e| e.id), Some(episode));
    assert_eq!(tx.last_fired(member, LOW).await?, Some(now));
    assert_eq!(
        tx.episode_state(episode).await?.map(EpisodeState::as_str),
        Some("told")
    );

    let later = now + Duration::hours(6);
    let (tier, to) = (Tier::Alert, Some(tie));
    let first = tx.record_alert(episode, member, to, tier, consent, 1, Some(later), now);
    let alert = first.await?.expect("Sam's alert is recorded");
    let again = tx.record_alert(episode, member, to, tier, consent, 1, Some(later), now);
    assert_eq!(again.await?, None, "Sam is alerted once an episode");
    assert_eq!(tx.told_names(episode).await?, ["Sam"]);
    let due = tx.due_escalations(later).await?;
    assert_eq!(due.iter().map(|d| d.alert).collect::<Vec<_>>(), [alert]);

    tx.ack_alert(robin, alert, "reach_out", now).await?;
    assert_eq!(tx.acked_alert(alert).await?, None, "only Sam acks");
    tx.ack_alert(sam, alert, "reach_out", now).await?;
    let told = Some((robin, "Sam".to_string(), "reach_out".to_string()));
    assert_eq!(tx.acked_alert(alert).await?, told, "Robin hears of it");
    let due = tx.due_escalations(later).await?;
    assert!(due.is_empty(), "nobody else need be alerted");

    tx.close_episode(episode, later).await?;
    assert!(tx.open_episode(member, LOW).await?.is_none());
    tx.turn_off_rule(robin, LOW, later).await?;
    assert!(tx.member_plan(member).await?.is_empty());
    let heard = tx.recipients(member, LOW, Tier::Alert, later).await?;
    assert_eq!(heard[0].consent, None, "Sam's share ends with the rule");
    tx.commit().await?;
    Ok(())
}

/// Robin's 19:00 check-in: due, its slot made once, opened with a prompt, reminded once,
/// and closed unanswered when its window ends.
async fn schedules_story(store: &Store) -> Story {
    let (robin, now) = (ChatId(401), monday(9, 0));
    let member = join(store, robin, "Robin", now).await?;
    let due = monday(19, 0); // 19:00 in London, on UTC until the end of March
    let (remind, closes) = (due + Duration::hours(1), due + Duration::hours(3));
    let mut tx = store.begin_write().await?;
    tx.set_schedule(member, "daily", "*", "19:00", Some(due), now)
        .await?;
    let early = tx.due_schedules(due - Duration::minutes(1), 10).await?;
    assert!(early.is_empty());
    let schedules = tx.due_schedules(due, 10).await?;
    assert_eq!(schedules.len(), 1);
    let s = &schedules[0];
    assert_eq!((s.chat, s.next_due_at), (robin, due));
    assert_eq!([&s.dialog_id, &s.local_time], ["daily", "19:00"]);

    let slot = NewSlot {
        schedule: s.id,
        member,
        dialog_id: "daily",
        local_date: NaiveDate::from_ymd_opt(2025, 3, 3).unwrap(),
        due_at: due,
        opens_at: due,
        closes_at: closes,
        remind_at: Some(remind),
        outcome: None,
    };
    let once = tx.insert_slots(std::slice::from_ref(&slot)).await?;
    assert_eq!(once, [None]);
    let twice = tx.insert_slots(&[slot.clone(), slot]).await?;
    assert!(twice.is_empty(), "one slot per schedule and day");
    let tomorrow = due + Duration::days(1);
    tx.set_next_due(&[(s.id, Some(tomorrow))]).await?;
    assert!(tx.due_schedules(due, 10).await?.is_empty());

    let pending = tx.pending_slots(due, now, 10).await?;
    assert_eq!(pending.len(), 1);
    let p = &pending[0];
    assert_eq!((p.schedule.id, p.local_date.as_str()), (s.id, "2025-03-03"));
    assert!(p.open_session.is_none() && p.done_recently.is_none());
    let session = tx.next_session_id().await?;
    let asked = asking(p, session, "How are you?", Some(remind));
    tx.open_slots(&asked, due).await?;
    assert!(tx.pending_slots(due, now, 10).await?.is_empty());
    let open = sessions_of(&mut tx, robin, due).await?;
    assert_eq!(open, (Some(session), None));

    let reminders = tx.due_reminders(remind, 10).await?;
    let reminders: Vec<_> = reminders.iter().map(|r| (r.slot, r.started)).collect();
    assert_eq!(reminders, [(p.slot, false)]);
    assert!(tx.mark_reminded(p.slot, remind).await?);
    assert!(!tx.mark_reminded(p.slot, remind).await?, "never two");
    assert!(tx.due_reminders(remind, 10).await?.is_empty());
    tx.commit().await?;
    let waiting = store.outbox_counts().await?;
    assert_eq!(waiting.pending, 1, "the prompt waits to go");

    let mut tx = store.begin_write().await?;
    let before = closes - Duration::minutes(1);
    assert!(tx.closing_slots(before, 10).await?.is_empty());
    let closing = tx.closing_slots(closes, 10).await?;
    assert_eq!(closing.len(), 1);
    let c = &closing[0];
    assert_eq!((c.slot, c.session), (p.slot, Some(session)));
    assert!(c.prompted && !c.delivered && !c.completed && c.answered == 0);
    tx.close_slot(c, SlotOutcome::Missed, closes).await?;
    assert!(tx.closing_slots(closes, 10).await?.is_empty());
    let history = tx.raw_history(member, now).await?;
    assert_eq!(history.slots[0].outcome.as_deref(), Some("missed"));
    assert_eq!(history.sessions[0].status, "expired");
    tx.commit().await?;
    Ok(())
}

/// Two replies, queued with what caused them, go out in order; a prompt waits out the night;
/// a chat that blocked us ends everything queued for it.
async fn outbox_story(store: &Store) -> Story {
    let (robin, kim, now) = (ChatId(501), ChatId(502), monday(12, 0));
    let outbox = store;
    let replies = [reply(robin, "Thanks, Robin"), reply(robin, "See you")];
    let mut tx = store.begin_write().await?;
    let ids = tx.enqueue(&replies, Some(UpdateId(1)), now).await?;
    tx.commit().await?;
    let mut tx = store.begin_write().await?;
    tx.enqueue(&[reply(robin, "Never sent")], None, now).await?;
    tx.rollback().await?;
    let counts = outbox.outbox_counts().await?;
    assert_eq!((counts.pending, counts.sending, counts.sent), (2, 0, 0));

    let (due, all) = outbox.due_outbox(now, 10).await?;
    assert_eq!(ids_of(&due), [ids[0]], "the second waits behind the first");
    assert!(all && due[0].more_for_chat && due[0].body == replies[0].body);
    assert_eq!(outbox.claim(&ids[..1], now).await?, [ids[0]]);
    let twice = outbox.claim(&ids[..1], now).await?;
    assert!(twice.is_empty(), "claimed once");
    let in_flight: Vec<_> = outbox.interrupted().await?.iter().map(|i| i.id).collect();
    assert_eq!(in_flight, [ids[0]], "what a crash now would leave in doubt");
    outbox.record(&[sent(ids[0])], now).await?;
    assert_eq!(ids_of(&outbox.due_outbox(now, 10).await?.0), [ids[1]]);
    outbox.claim(&ids[1..], now).await?;
    outbox.record(&[sent(ids[1])], now).await?;
    let counts = outbox.outbox_counts().await?;
    assert_eq!((counts.pending, counts.sending, counts.sent), (0, 0, 2));

    let morning = now + Duration::hours(8);
    let mut prompt = reply(robin, "How are you?");
    prompt.lane = Lane::Scheduled;
    let mut tx = store.begin_write().await?;
    let queued = tx.enqueue_at(&[prompt], None, now, morning).await?;
    assert_eq!(tx.routine_waiting(robin).await?, [(queued[0], morning)]);
    tx.commit().await?;
    let (due, _) = outbox.due_outbox(now, 10).await?;
    assert!(due.is_empty(), "not before the morning");
    assert_eq!(outbox.next_outbox_due().await?, Some(morning));

    let mut tx = store.begin_write().await?;
    let to_kim = [reply(kim, "Hello"), reply(kim, "Still there?")];
    let to_kim = tx.enqueue(&to_kim, None, now).await?;
    tx.commit().await?;
    outbox.claim(&to_kim[..1], now).await?;
    let reason = "blocked".to_string();
    let (id, chat) = (to_kim[0], kim);
    let blocked = DeliveryRecord::Unreachable { id, chat, reason };
    outbox.record(&[blocked], now).await?;
    let counts = outbox.outbox_counts().await?;
    assert_eq!(
        (counts.unreachable, counts.pending),
        (2, 1),
        "both of Kim's"
    );
    let mut tx = store.begin_write().await?;
    let marked = tx.load_for_update(kim, now).await?.unreachable;
    assert!(marked, "Kim's chat is marked");
    tx.set_reachable(kim).await?;
    let marked = tx.load_for_update(kim, now).await?.unreachable;
    assert!(!marked, "until Kim writes again");
    tx.commit().await?;
    Ok(())
}

/// Updates arrive in batches, survive a repeated batch, are processed once each, and are
/// forgotten two days later.
async fn inbox_story(store: &Store) -> Story {
    let (robin, kim, now) = (ChatId(601), ChatId(602), monday(13, 0));
    let inbox = store;
    assert_eq!(inbox.next_offset().await?, 0);
    let hello = said(11, robin, "hi");
    let batch = [
        hello.clone(),
        said(12, robin, "/checkin"),
        said(13, kim, "hi"),
    ];
    assert_eq!(inbox.save_updates(&batch, 14, now).await?, 3);
    assert_eq!(inbox.next_offset().await?, 14);
    let waiting = inbox.unprocessed(10).await?;
    let ids: Vec<_> = waiting.iter().map(|r| (r.update_id.0, r.chat)).collect();
    assert_eq!(ids, [(11, Some(robin)), (12, Some(robin)), (13, Some(kim))]);
    let payload = waiting[0].payload.as_deref().unwrap_or_default();
    assert_eq!(serde_json::from_str::<Incoming>(payload)?, hello);

    // Telegram sends the batch again (our confirmation was lost): nothing doubles.
    assert_eq!(inbox.save_updates(&batch, 14, now).await?, 0);
    assert_eq!(inbox.unprocessed_count().await?, 3);
    // One update of the next batch cannot be read: set aside at once, its offset confirmed.
    let (update_id, kind) = (UpdateId(14), "message".to_string());
    let (next, unreadable) = ([said(15, robin, "ok")], [Unreadable { update_id, kind }]);
    assert_eq!(inbox.save_batch(&next, &unreadable, 16, now).await?, 2);
    assert_eq!(inbox.next_offset().await?, 16);
    assert_eq!(inbox.unprocessed_count().await?, 4);
    assert_eq!(inbox.set_aside_counts().await?, (1, 0));

    inbox
        .record_processing_failure(hello.update_id, "oops")
        .await?;
    let retry = &inbox.unprocessed(1).await?[0];
    assert_eq!((retry.update_id, retry.attempts), (hello.update_id, 1));
    let mut tx = store.begin_write().await?;
    assert!(tx.mark_processed(UpdateId(11), now, None).await?);
    let twice = tx.mark_processed(UpdateId(11), now, None).await?;
    assert!(!twice, "processed once");
    let given_up = Some(SET_ASIDE_AFTER_FAILURES);
    assert!(tx.mark_processed(UpdateId(13), now, given_up).await?);
    tx.commit().await?;
    let mut tx = store.begin_write().await?;
    assert!(tx.mark_processed(UpdateId(12), now, None).await?);
    tx.rollback().await?;
    let left = inbox.unprocessed(10).await?;
    let left: Vec<_> = left.iter().map(|r| r.update_id.0).collect();
    assert_eq!(left, [12, 15], "an undone unit of work leaves it waiting");
    assert_eq!(inbox.set_aside_counts().await?, (1, 1));

    let (tomorrow, later) = (now + Duration::days(1), now + Duration::days(3));
    assert_eq!(inbox.sweep(tomorrow).await?, (0, 0), "kept for two days");
    assert_eq!(inbox.sweep(later).await?, (3, 0), "then forgotten");
    assert_eq!(inbox.set_aside_counts().await?, (0, 0));
    let waiting = inbox.unprocessed_count().await?;
    assert_eq!(waiting, 2, "what waits is never swept");
    Ok(())
}

// ---- the cast and their props --------------------------------------------------------------

const CONSENT: &str = "staywell may store my answers";
const LOW: &str = "low_mood_run";

/// 2025-03-03, a Monday, at `h:m` UTC.
fn monday(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, h, m, 0).unwrap()
}

/// A text message from a person in their private chat.
fn said(update: i64, chat: ChatId, text: &str) -> Incoming {
    let sender = Sender {
        user_id: UserId(chat.0),
        first_name: "Someone".into(),
        username: None,
    };
    Incoming {
        update_id: UpdateId(update),
        chat: Some(chat),
        sender: Some(sender),
        kind: "message".into(),
        input: Input::from_text(text),
        sent_at: None,
    }
}

fn reply(chat: ChatId, text: &str) -> Envelope {
    Envelope::reply(chat, Outgoing::text(text))
}

fn sent(id: OutboxId) -> DeliveryRecord {
    DeliveryRecord::Sent {
        id,
        message_id: Some(id.0 as i32),
    }
}

fn ids_of(rows: &[OutboxRow]) -> Vec<OutboxId> {
    rows.iter().map(|r| r.id).collect()
}

fn answered(step: &str, value: f64) -> Stored {
    Stored {
        step_id: step.into(),
        answer: Answer::Answered(Number(value)),
        flags: vec![],
    }
}

/// Tell the member's supporters when their mood is low three days running.
fn low_mood_alert() -> PlanRule {
    PlanRule {
        rule_id: LOW.into(),
        params: BTreeMap::from([("threshold".into(), 3.0)]),
        tier: Tier::Alert,
        ask_first: false,
        tell_if_unanswered: false,
    }
}

/// A pending slot opens a session of its own, asking `question`.
fn asking(
    p: &PendingSlot,
    session: SessionId,
    question: &str,
    remind_at: Option<DateTime<Utc>>,
) -> SlotOpenings {
    let first = NewSession {
        dialog_id: p.schedule.dialog_id.clone(),
        version: 1,
        status: SessionStatus::Active,
        state: Session::default(),
        expires_at: p.closes_at,
    };
    let mut prompt = reply(p.schedule.chat, question);
    prompt.lane = Lane::Scheduled;
    let opening = Opening {
        slot: p.slot,
        chat: p.schedule.chat,
        member: p.schedule.member,
        session,
        first: Some(first),
        out: vec![prompt],
        remind_at,
    };
    SlotOpenings {
        started: vec![opening],
        ..SlotOpenings::default()
    }
}

async fn member_of(work: &mut Work, chat: ChatId) -> anyhow::Result<Member> {
    let person = work.load_person(chat).await?;
    Ok(person.member.expect("a member"))
}

/// The chat's open check-in and the one set aside, if any.
async fn sessions_of(
    work: &mut Work,
    chat: ChatId,
    now: DateTime<Utc>,
) -> anyhow::Result<(Option<SessionId>, Option<SessionId>)> {
    let read = work.load_for_update(chat, now).await?;
    Ok((read.session.map(|s| s.id), read.aside.map(|s| s.id)))
}

/// `name` becomes a member, onboarded, in London.
async fn join(
    store: &Store,
    chat: ChatId,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<MemberId> {
    let mut tx = store.begin_write().await?;
    tx.create_member(chat, UserId(chat.0), CONSENT, 1, now)
        .await?;
    tx.set_name(chat, name).await?;
    tx.set_timezone(chat, "Europe/London").await?;
    tx.set_onboarding(chat, Onboarding::Done).await?;
    let member = member_of(&mut tx, chat).await?.id;
    tx.commit().await?;
    Ok(member)
}

/// Sam (at `chat`) joins the member's circle as a supporter, confirmed. Returns the tie.
async fn add_supporter(
    store: &Store,
    member_chat: ChatId,
    member: MemberId,
    chat: ChatId,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let token = hash(&Tokens::new([chat.0 as u8; 32], 1).invite());
    let mut tx = store.begin_write().await?;
    let expires = now + Duration::days(7);
    tx.create_invite(member_chat, member, &token, Role::Supporter, expires, now)
        .await?;
    let found = tx.lookup_invite(chat, Some(&token), now).await?;
    let InviteLookup::Valid { invite, .. } = found else {
        panic!("a fresh invite is valid, not {found:?}");
    };
    tx.accept_invite(chat, invite, UserId(chat.0), "Sam", None, now)
        .await?;
    let tie = tx.load_circle(member_chat, Some(member), now).await?.circle[0].id;
    tx.confirm_tie(member_chat, tie, Role::Supporter, "Sam hears", 1, now)
        .await?;
    tx.commit().await?;
    Ok(tie)
}
