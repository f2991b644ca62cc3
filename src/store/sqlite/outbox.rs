//! The outbox: queueing outgoing calls inside the transaction that caused them, and what
//! delivery reads and writes — the due rows in lane and chat order, claims just before a
//! call, results after it, rows a crash left `sending`, and the counts.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::schedules::{ROWS_PER_STATEMENT, placeholders};
use super::{Store, from_ms, ms};
use crate::domain::{ChatId, Envelope, Lane, OutboxId, Outgoing, UpdateId};
use crate::store::{DeliveryRecord, Interrupted, OutboxCounts, OutboxRow};

/// Callback answers read on their own in one delivery round, beyond the round's due rows.
const ANSWERS_PER_ROUND: i64 = 64;

impl Store {
    /// Queues outgoing calls (inside the caller's transaction).
    pub(in crate::store) async fn enqueue(
        tx: &mut SqliteConnection,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<OutboxId>> {
        Self::enqueue_at(tx, envelopes, cause, now, now).await
    }

    /// Queues outgoing calls not to be sent before `not_before` (quiet hours), in one
    /// statement. Returns their ids, in order.
    pub(in crate::store) async fn enqueue_at(
        tx: &mut SqliteConnection,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> anyhow::Result<Vec<OutboxId>> {
        if envelopes.is_empty() {
            return Ok(Vec::new());
        }
        // A new edit of a message (of its buttons, or of its text and buttons) makes any edit
        // of its buttons still waiting pointless. An edit of its text is never dropped: it
        // carries words (the next question) nothing else will send.
        for env in envelopes {
            if let Outgoing::EditButtons { message_id, .. }
            | Outgoing::EditMessage { message_id, .. } = env.body
            {
                sqlx::query(
                    "UPDATE outbox INDEXED BY outbox_queue
                     SET state = 'cancelled', last_error = 'superseded',
                         payload = json_object('type', 'edit_buttons', 'delivered', 0)
                     WHERE chat_id = ? AND state IN ('pending', 'sending') AND state = 'pending'
                       AND json_extract(payload, '$.type') = 'edit_buttons'
                       AND json_extract(payload, '$.message_id') = ?",
                )
                .bind(env.chat.0)
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        let mut ids = Vec::with_capacity(envelopes.len());
        // SQLite allows 32,766 bound values; chunk well below that.
        for chunk in envelopes.chunks(500) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO outbox (chat_id, lane, payload, not_before, created_at, cause_update_id,
                                     overtakes)
                 VALUES {values} RETURNING id"
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for env in chunk {
                q = q
                    .bind(env.chat.0)
                    .bind(env.lane.as_i64())
                    .bind(serde_json::to_string(&env.body)?)
                    .bind(ms(not_before))
                    .bind(ms(now))
                    .bind(cause.map(|c| c.0))
                    .bind(env.body.overtakes());
            }
            let mut got = q.fetch_all(&mut *tx).await?;
            // Rowids of one INSERT are increasing: sorting restores the envelopes' order.
            got.sort_unstable();
            ids.extend(got.into_iter().map(OutboxId));
        }
        Ok(ids)
    }

    /// Cancels the chat's routine rows still waiting (scheduled prompts and nudges; replies
    /// and urgent rows still go), with `reason` as their error: /stop, a pause.
    pub(in crate::store) async fn cancel_routine(
        tx: &mut SqliteConnection,
        chat: ChatId,
        reason: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE outbox SET state = 'cancelled', last_error = ?
             WHERE chat_id = ? AND state = 'pending' AND lane BETWEEN ? AND ?",
        )
        .bind(reason)
        .bind(chat.0)
        .bind(Lane::Scheduled.as_i64())
        .bind(Lane::Nudge.as_i64())
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The chat's routine rows still waiting (scheduled prompts and nudges): id and the
    /// earliest time each may go.
    pub(in crate::store) async fn routine_waiting(
        tx: &mut SqliteConnection,
        chat: ChatId,
    ) -> anyhow::Result<Vec<(OutboxId, DateTime<Utc>)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, not_before FROM outbox
             WHERE chat_id = ? AND state = 'pending' AND lane BETWEEN ? AND ?",
        )
        .bind(chat.0)
        .bind(Lane::Scheduled.as_i64())
        .bind(Lane::Nudge.as_i64())
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, at)| (OutboxId(id), from_ms(at)))
            .collect())
    }

    /// A waiting row goes no earlier than `at`.
    pub(in crate::store) async fn postpone(
        tx: &mut SqliteConnection,
        id: OutboxId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE outbox SET not_before = ? WHERE id = ?")
            .bind(ms(at))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Rows that may be sent at `now`: pending, due, and first in their chat's queue (no
    /// earlier row of the same or a more urgent lane is still pending or being sent), most
    /// urgent lane first, then oldest first. A more urgent row may overtake a routine one,
    /// and a callback answer (`overtakes`) any of its chat's rows.
    /// Each says whether its chat has another row due now (read by the chat's queue index:
    /// `outbox_chat` would walk every message the chat was ever sent). With them, whether they
    /// are all there are: fewer than `limit`, and none unreadable (an unreadable one is failed
    /// here, and the row behind it may be due at once). Empty only when nothing is due.
    pub(in crate::store) async fn due_outbox(
        store: &Store,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<(Vec<OutboxRow>, bool)> {
        loop {
            // The callback answers due are read on their own too (by their own index): at a
            // peak, more than `limit` older replies can be due ahead of them in lane order.
            let rows = sqlx::query(
                "SELECT * FROM (
                     SELECT o.id, o.chat_id, o.lane, o.payload, o.attempts, o.repeat, o.created_at,
                            EXISTS (SELECT 1 FROM outbox q INDEXED BY outbox_queue
                                    WHERE q.chat_id = o.chat_id AND q.id != o.id
                                      AND q.state IN ('pending', 'sending') AND q.not_before <= ?)
                     FROM outbox o
                     WHERE o.state = 'pending' AND o.not_before <= ?
                       AND (o.overtakes OR NOT EXISTS (
                           SELECT 1 FROM outbox p
                           WHERE p.chat_id = o.chat_id AND p.state IN ('pending', 'sending')
                             AND p.lane <= o.lane AND p.id < o.id AND NOT p.overtakes))
                     ORDER BY o.lane, o.id LIMIT ?)
                 UNION
                 SELECT * FROM (
                     SELECT o.id, o.chat_id, o.lane, o.payload, o.attempts, o.repeat, o.created_at,
                            EXISTS (SELECT 1 FROM outbox q INDEXED BY outbox_queue
                                    WHERE q.chat_id = o.chat_id AND q.id != o.id
                                      AND q.state IN ('pending', 'sending') AND q.not_before <= ?)
                     FROM outbox o INDEXED BY outbox_answers
                     WHERE o.state = 'pending' AND o.overtakes = 1 AND o.not_before <= ?
                     ORDER BY o.id LIMIT ?)
                 ORDER BY 3, 1",
            )
            .bind(ms(now))
            .bind(ms(now))
            .bind(limit)
            .bind(ms(now))
            .bind(ms(now))
            .bind(ANSWERS_PER_ROUND)
            .fetch_all(&store.pool)
            .await?;
            let rows_read = rows.len();
            let mut out = Vec::with_capacity(rows.len());
            let mut broken = Vec::new();
            for r in rows {
                let id = OutboxId(r.get(0));
                let body = serde_json::from_str(r.get::<&str, _>(3));
                let lane = Lane::from_i64(r.get(2));
                match (body, lane) {
                    (Ok(body), Some(lane)) => out.push(OutboxRow {
                        id,
                        chat: ChatId(r.get(1)),
                        lane,
                        body,
                        attempts: r.get(4),
                        repeat: r.get::<i64, _>(5) != 0,
                        created_at: from_ms(r.get(6)),
                        more_for_chat: r.get::<i64, _>(7) != 0,
                    }),
                    _ => broken.push(id),
                }
            }
            let all = (rows_read as i64) < limit && broken.is_empty();
            // A row we cannot read would block its chat forever: fail it loudly instead.
            let failed = !broken.is_empty();
            for id in broken {
                tracing::error!(outbox_id = id.0, "unreadable outbox row marked failed");
                sqlx::query("UPDATE outbox SET state = 'failed', last_error = 'unreadable payload' WHERE id = ?")
                    .bind(id.0)
                    .execute(&store.pool)
                    .await?;
            }
            // A fetch of nothing but unreadable rows (now failed) says nothing of the rows behind
            // them: read again. Each round fails at least one row, so this ends.
            if out.is_empty() && failed {
                continue;
            }
            return Ok((out, all));
        }
    }

    /// Drops keyboard collapses (the tidy lane) queued before `before` and still waiting:
    /// under sustained load they would otherwise grow without bound, and by now a press on
    /// the old keyboard is answered as a stale button. Returns how many were dropped.
    pub(in crate::store) async fn expire_tidy(
        store: &Store,
        before: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let r = sqlx::query(
            "UPDATE outbox SET state = 'cancelled', last_error = 'expired',
                    payload = json_object('type', json_extract(payload, '$.type'), 'delivered', 0)
             WHERE state = 'pending' AND lane = ? AND created_at < ?",
        )
        .bind(Lane::Tidy.as_i64())
        .bind(ms(before))
        .execute(&store.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// When the earliest pending row becomes due (for the delivery loop's sleep).
    pub(in crate::store) async fn next_outbox_due(
        store: &Store,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT min(not_before) FROM outbox WHERE state = 'pending'")
                .fetch_one(&store.pool)
                .await?;
        Ok(v.map(from_ms))
    }

    /// The next moment anything is due in a virtual world (`chat`, `simulate`): a schedule,
    /// a slot, an escalation, a delivery.
    pub(in crate::store) async fn next_event(
        store: &Store,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok([
            store.next_due().await?,
            Store::next_outbox_due(store).await?,
        ]
        .into_iter()
        .flatten()
        .min())
    }

    /// Marks rows as being sent, just before the requests go out. Returns the rows actually
    /// claimed: a row cancelled or claimed elsewhere in the meantime is not among them and
    /// must not be sent.
    pub(in crate::store) async fn claim(
        store: &Store,
        ids: &[OutboxId],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<OutboxId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = store.begin_write().await?;
        let mut claimed = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let list = vec!["?"; chunk.len()].join(", ");
            // A row sent on someone's consent goes only while that consent stands: checked
            // here, at the moment of sending, not only when it was queued.
            let sql = format!(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_at = ?
                 WHERE id IN ({list}) AND state = 'pending'
                   AND (consent_id IS NULL OR EXISTS (
                        SELECT 1 FROM consents c
                        WHERE c.id = outbox.consent_id AND c.revoked_at IS NULL))
                 RETURNING id"
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(ms(now));
            for id in chunk {
                q = q.bind(id.0);
            }
            let won: HashSet<i64> = q.fetch_all(&mut *tx.inner).await?.into_iter().collect();
            for id in chunk {
                if won.contains(&id.0) {
                    claimed.push(*id);
                    continue;
                }
                sqlx::query(
                    "UPDATE outbox SET state = 'cancelled', last_error = 'consent withdrawn'
                     WHERE id = ? AND state = 'pending'",
                )
                .bind(id.0)
                .execute(&mut *tx.inner)
                .await?;
                Self::escalate_now(&mut tx.inner, *id, now).await?;
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// The paced calls (messages, photos, documents, edits: not callback answers) that may
    /// have reached Telegram since `since`, oldest first: what a restarted delivery must
    /// still count. A call leaves after its claim commits and before its result is recorded,
    /// so each is placed late, never early: at its recorded result (`sent_at`), or at `now`
    /// if it was still `sending` (in flight when the process stopped, or its result not yet
    /// recorded), or else at its claim.
    pub(in crate::store) async fn recent_departures(
        store: &Store,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(ChatId, DateTime<Utc>)>> {
        // A claim precedes its call by the claim's commit: look a little further back.
        let claimed_since = since - chrono::Duration::seconds(10);
        let rows = sqlx::query(
            "SELECT chat_id, max(claimed_at, coalesce(sent_at, claimed_at)) AS left_at
             FROM outbox INDEXED BY outbox_claimed
             WHERE claimed_at >= ? AND state <> 'sending' AND left_at >= ?
               AND json_extract(payload, '$.type') <> 'answer_callback'
             UNION ALL
             SELECT chat_id, ? FROM outbox INDEXED BY outbox_sending
             WHERE state = 'sending' AND json_extract(payload, '$.type') <> 'answer_callback'
             ORDER BY 2",
        )
        .bind(ms(claimed_since))
        .bind(ms(since))
        .bind(ms(now))
        .fetch_all(&store.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (ChatId(r.get(0)), from_ms(r.get(1))))
            .collect())
    }

    /// Records a batch of delivery results in one transaction. Each applies only to a row
    /// still `sending` (a row cancelled meanwhile keeps its state).
    pub(in crate::store) async fn record(
        store: &Store,
        records: &[DeliveryRecord],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let mut tx = store.begin_write().await?;
        // Deliveries that went through, the common case: one statement for the lot.
        let sent: Vec<(OutboxId, Option<i32>)> = records
            .iter()
            .filter_map(|r| match r {
                DeliveryRecord::Sent { id, message_id } => Some((*id, *message_id)),
                _ => None,
            })
            .collect();
        for chunk in sent.chunks(ROWS_PER_STATEMENT) {
            let values = placeholders(chunk.len(), 2);
            // Once delivered, what was said is Telegram's to keep, not ours: the row keeps its
            // kind only (no text, no invite link, no exported file).
            let sql = format!(
                "UPDATE outbox SET state = 'sent', sent_at = ?, telegram_message_id = v.column2,
                        last_error = NULL,
                        payload = json_object('type', json_extract(payload, '$.type'), 'delivered', 1)
                 FROM (VALUES {values}) AS v
                 WHERE outbox.id = v.column1 AND outbox.state = 'sending'"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ms(now));
            for (id, message_id) in chunk {
                q = q.bind(id.0).bind(*message_id);
            }
            q.execute(&mut *tx.inner).await?;
        }
        for rec in records {
            match rec {
                DeliveryRecord::Sent { .. } => {}
                DeliveryRecord::Retry {
                    id,
                    not_before,
                    error,
                    repeat,
                    refund,
                } => {
                    sqlx::query(
                        "UPDATE outbox SET state = 'pending', not_before = ?, last_error = ?,
                                repeat = repeat OR ?, attempts = attempts - ?
                         WHERE id = ? AND state = 'sending'",
                    )
                    .bind(ms(*not_before))
                    .bind(error)
                    .bind(*repeat)
                    .bind(if *refund { 1 } else { 0 })
                    .bind(id.0)
                    .execute(&mut *tx.inner)
                    .await?;
                }
                DeliveryRecord::Final { id, state, error } => {
                    sqlx::query(
                        "UPDATE outbox SET state = ?, last_error = ?,
                                payload = json_object('type', json_extract(payload, '$.type'), 'delivered', 0)
                         WHERE id = ? AND state = 'sending'",
                    )
                        .bind(state.as_str())
                        .bind(error)
                        .bind(id.0)
                        .execute(&mut *tx.inner)
                        .await?;
                    Self::escalate_now(&mut tx.inner, *id, now).await?;
                }
                DeliveryRecord::Unreachable { id, chat, reason } => {
                    let r = sqlx::query(
                        "UPDATE outbox SET state = 'unreachable', last_error = ? WHERE id = ? AND state = 'sending'",
                    )
                    .bind(reason)
                    .bind(id.0)
                    .execute(&mut *tx.inner)
                    .await?;
                    if r.rows_affected() == 1 {
                        Self::set_unreachable(&mut tx.inner, *chat, reason, now).await?;
                    }
                    Self::escalate_now(&mut tx.inner, *id, now).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// An alert whose message can no longer reach its supporter (blocked, refused, given up)
    /// goes to the next one at the next tick, not after the usual wait.
    async fn escalate_now(
        tx: &mut SqliteConnection,
        outbox: OutboxId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE alerts SET escalate_at = ?
             WHERE outbox_id = ? AND state = 'sent' AND escalate_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM outbox o WHERE o.id = alerts.outbox_id
                           AND o.state IN ('failed', 'unreachable', 'cancelled'))",
        )
        .bind(ms(now))
        .bind(outbox.0)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Rows left `sending` by a crash: the request may or may not have reached Telegram.
    pub(in crate::store) async fn interrupted(store: &Store) -> anyhow::Result<Vec<Interrupted>> {
        let rows = sqlx::query(
            "SELECT id, lane, attempts, created_at, payload
             FROM outbox WHERE state = 'sending' ORDER BY id",
        )
        .fetch_all(&store.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Interrupted {
                id: OutboxId(r.get(0)),
                lane: Lane::from_i64(r.get(1)).unwrap_or(Lane::Reply),
                attempts: r.get(2),
                created_at: from_ms(r.get(3)),
                body: serde_json::from_str(r.get::<&str, _>(4)).ok(),
            })
            .collect())
    }

    pub(in crate::store) async fn outbox_counts(store: &Store) -> anyhow::Result<OutboxCounts> {
        let rows = sqlx::query("SELECT state, count(*) FROM outbox GROUP BY state")
            .fetch_all(&store.pool)
            .await?;
        let mut c = OutboxCounts::default();
        for r in rows {
            let n: i64 = r.get(1);
            match r.get::<&str, _>(0) {
                "pending" => c.pending = n,
                "sending" => c.sending = n,
                "sent" => c.sent = n,
                "failed" => c.failed = n,
                "ambiguous" => c.ambiguous = n,
                "unreachable" => c.unreachable = n,
                "cancelled" => c.cancelled = n,
                _ => {}
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::prelude::*;
    use chrono::{DateTime, Duration, Utc};

    use super::*;
    use crate::domain::Button;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T19:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn collapse(chat: i64, message_id: i32, label: &str) -> Envelope {
        Envelope {
            chat: ChatId(chat),
            lane: Lane::Tidy,
            body: Outgoing::EditButtons {
                message_id,
                buttons: vec![vec![Button::new(label, "done")]],
            },
        }
    }

    async fn store() -> Store {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn put(store: &Store, envelopes: &[Envelope], at: DateTime<Utc>) -> Vec<OutboxId> {
        let mut tx = store.begin_write().await.unwrap();
        let ids = Store::enqueue(&mut tx.inner, envelopes, None, at)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        ids
    }

    async fn state_of(store: &Store, id: OutboxId) -> String {
        sqlx::query_scalar("SELECT state FROM outbox WHERE id = ?")
            .bind(id.0)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_later_edit_of_the_same_message_drops_the_one_still_waiting() {
        let store = store().await;
        let first = put(&store, &[collapse(1, 10, "a")], t0()).await[0];
        let other_message = put(&store, &[collapse(1, 11, "b")], t0()).await[0];
        let other_chat = put(&store, &[collapse(2, 10, "c")], t0()).await[0];
        let last = put(&store, &[collapse(1, 10, "d")], t0()).await[0];
        assert_eq!(state_of(&store, first).await, "cancelled");
        for id in [other_message, other_chat, last] {
            assert_eq!(state_of(&store, id).await, "pending");
        }
        // A question rewritten in place into the next one also replaces its buttons; a later
        // collapse of the same message does not drop the rewrite (it carries the question).
        let rewrite = Envelope::reply(
            ChatId(1),
            Outgoing::EditMessage {
                message_id: 10,
                text: "✓ 7\n\nnext?".into(),
                buttons: vec![vec![Button::new("1", "q1.2.c1")]],
            },
        );
        let rewritten = put(&store, &[rewrite], t0()).await[0];
        assert_eq!(state_of(&store, last).await, "cancelled");
        assert_eq!(state_of(&store, other_message).await, "pending");
        put(&store, &[collapse(1, 10, "e")], t0()).await;
        assert_eq!(state_of(&store, rewritten).await, "pending");
    }

    #[tokio::test]
    async fn keyboard_collapses_waiting_too_long_expire_and_nothing_else_does() {
        let store = store().await;
        let old = put(&store, &[collapse(1, 10, "a")], t0()).await[0];
        let old_reply = put(
            &store,
            &[Envelope::reply(ChatId(1), Outgoing::text("hello"))],
            t0(),
        )
        .await[0];
        let fresh = put(
            &store,
            &[collapse(1, 12, "b")],
            t0() + Duration::seconds(100),
        )
        .await[0];
        let expired = store
            .expire_tidy(t0() + Duration::seconds(50))
            .await
            .unwrap();
        assert_eq!(expired, 1);
        assert_eq!(state_of(&store, old).await, "cancelled");
        assert_eq!(state_of(&store, old_reply).await, "pending");
        assert_eq!(state_of(&store, fresh).await, "pending");
        let payload: String = sqlx::query_scalar("SELECT payload FROM outbox WHERE id = ?")
            .bind(old.0)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(
            !payload.contains("\"a\""),
            "the chosen label is not kept: {payload}"
        );
    }

    #[tokio::test]
    async fn what_was_handed_to_telegram_in_the_last_window_is_remembered_but_callback_answers_are_not()
     {
        let store = store().await;
        let ids = put(
            &store,
            &[
                Envelope::reply(ChatId(1), Outgoing::text("one")),
                Envelope::reply(
                    ChatId(2),
                    Outgoing::AnswerCallback {
                        query_id: "q".into(),
                        text: None,
                    },
                ),
                Envelope::reply(ChatId(3), Outgoing::text("three")),
            ],
            t0(),
        )
        .await;
        store.claim(&ids[..2], t0()).await.unwrap();
        store
            .claim(&ids[2..], t0() + Duration::seconds(2))
            .await
            .unwrap();
        // Still `sending` (in flight at a crash): placed at the restart, never earlier.
        let restart = t0() + Duration::seconds(3);
        let recent = store
            .recent_departures(t0() + Duration::seconds(1), restart)
            .await
            .unwrap();
        assert_eq!(recent, vec![(ChatId(1), restart), (ChatId(3), restart)]);
        // Once recorded, at its result.
        store
            .record(
                &[DeliveryRecord::Sent {
                    id: ids[2],
                    message_id: Some(5),
                }],
                t0() + Duration::seconds(2) + Duration::milliseconds(300),
            )
            .await
            .unwrap();
        let recent = store
            .recent_departures(t0() + Duration::seconds(1), restart)
            .await
            .unwrap();
        assert_eq!(
            recent,
            vec![
                (
                    ChatId(3),
                    t0() + Duration::seconds(2) + Duration::milliseconds(300)
                ),
                (ChatId(1), restart)
            ]
        );
        let long_after = store
            .recent_departures(t0() + Duration::seconds(20), t0() + Duration::seconds(20))
            .await
            .unwrap();
        assert_eq!(long_after, vec![(ChatId(1), t0() + Duration::seconds(20))]);
        // Left `sending` by a crash: each says what it is and whether it asks something.
        let interrupted = store.interrupted().await.unwrap();
        let kinds: Vec<(&str, bool)> = interrupted
            .iter()
            .filter_map(|r| r.body.as_ref())
            .map(|b| (b.kind(), b.asks()))
            .collect();
        assert_eq!(kinds, vec![("message", false), ("answer_callback", false)]);
    }
}
