//! The outbox: queueing outgoing calls inside the transaction that caused them, and what
//! delivery reads and writes — the due rows in lane and chat order, claims just before a
//! call, results after it, rows a crash left `sending`, and the counts.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::schedules::{ROWS_PER_STATEMENT, placeholders};
use super::{DeliveryRecord, Interrupted, OutboxCounts, OutboxRow, Store, from_ms, ms};
use crate::domain::{ChatId, Envelope, Lane, OutboxId, UpdateId};

impl Store {
    /// Queues outgoing calls (inside the caller's transaction).
    pub async fn enqueue(
        tx: &mut SqliteConnection,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<OutboxId>> {
        Self::enqueue_at(tx, envelopes, cause, now, now).await
    }

    /// Queues outgoing calls not to be sent before `not_before` (quiet hours), in one
    /// statement. Returns their ids, in order.
    pub async fn enqueue_at(
        tx: &mut SqliteConnection,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> anyhow::Result<Vec<OutboxId>> {
        if envelopes.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(envelopes.len());
        // SQLite allows 32,766 bound values; chunk well below that.
        for chunk in envelopes.chunks(500) {
            let values = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO outbox (chat_id, lane, payload, not_before, created_at, cause_update_id)
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
                    .bind(cause.map(|c| c.0));
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
    pub(super) async fn cancel_routine(
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

    /// Rows that may be sent at `now`: pending, due, and first in their chat's queue (no
    /// earlier row of the same or a more urgent lane is still pending or being sent), most
    /// urgent lane first, then oldest first. A more urgent row may overtake a routine one.
    /// Each says whether its chat has another row due now (read by the chat's queue index:
    /// `outbox_chat` would walk every message the chat was ever sent). With them, whether they
    /// are all there are: fewer than `limit`, and none unreadable (an unreadable one is failed
    /// here, and the row behind it may be due at once). Empty only when nothing is due.
    pub async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<(Vec<OutboxRow>, bool)> {
        loop {
            let rows = sqlx::query(
                "SELECT o.id, o.chat_id, o.lane, o.payload, o.attempts, o.repeat, o.created_at,
                        EXISTS (SELECT 1 FROM outbox q INDEXED BY outbox_queue
                                WHERE q.chat_id = o.chat_id AND q.id != o.id
                                  AND q.state IN ('pending', 'sending') AND q.not_before <= ?)
                 FROM outbox o
                 WHERE o.state = 'pending' AND o.not_before <= ?
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox p
                       WHERE p.chat_id = o.chat_id AND p.state IN ('pending', 'sending')
                         AND p.lane <= o.lane AND p.id < o.id)
                 ORDER BY o.lane, o.id LIMIT ?",
            )
            .bind(ms(now))
            .bind(ms(now))
            .bind(limit)
            .fetch_all(&self.pool)
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
                    .execute(&self.pool)
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

    /// When the earliest pending row becomes due (for the delivery loop's sleep).
    pub async fn next_outbox_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT min(not_before) FROM outbox WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(v.map(from_ms))
    }

    /// The next moment anything is due in a virtual world (`chat`, `simulate`): a schedule,
    /// a slot, an escalation, a delivery.
    pub async fn next_event(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok([self.next_due().await?, self.next_outbox_due().await?]
            .into_iter()
            .flatten()
            .min())
    }

    /// Marks rows as being sent, just before the requests go out. Returns the rows actually
    /// claimed: a row cancelled or claimed elsewhere in the meantime is not among them and
    /// must not be sent.
    pub async fn claim(
        &self,
        ids: &[OutboxId],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<OutboxId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut claimed = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let list = vec!["?"; chunk.len()].join(", ");
            // A row sent on someone's consent goes only while that consent stands: checked
            // here, at the moment of sending, not only when it was queued.
            let sql = format!(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1
                 WHERE id IN ({list}) AND state = 'pending'
                   AND (consent_id IS NULL OR EXISTS (
                        SELECT 1 FROM consents c
                        WHERE c.id = outbox.consent_id AND c.revoked_at IS NULL))
                 RETURNING id"
            );
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.0);
            }
            let won: HashSet<i64> = q.fetch_all(&mut *tx).await?.into_iter().collect();
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
                .execute(&mut *tx)
                .await?;
                Self::escalate_now(&mut tx, *id, now).await?;
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records a batch of delivery results in one transaction. Each applies only to a row
    /// still `sending` (a row cancelled meanwhile keeps its state).
    pub async fn record(
        &self,
        records: &[DeliveryRecord],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let mut tx = self.begin_write().await?;
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
            q.execute(&mut *tx).await?;
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
                    .execute(&mut *tx)
                    .await?;
                }
                DeliveryRecord::Final { id, state, error } => {
                    sqlx::query(
                        "UPDATE outbox SET state = ?, last_error = ?,
                                payload = json_object('type', json_extract(payload, '$.type'), 'delivered', 0)
                         WHERE id = ? AND state = 'sending'",
                    )
                        .bind(*state)
                        .bind(error)
                        .bind(id.0)
                        .execute(&mut *tx)
                        .await?;
                    Self::escalate_now(&mut tx, *id, now).await?;
                }
                DeliveryRecord::Unreachable { id, chat, reason } => {
                    let r = sqlx::query(
                        "UPDATE outbox SET state = 'unreachable', last_error = ? WHERE id = ? AND state = 'sending'",
                    )
                    .bind(reason)
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                    if r.rows_affected() == 1 {
                        Self::set_unreachable(&mut tx, *chat, reason, now).await?;
                    }
                    Self::escalate_now(&mut tx, *id, now).await?;
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
    pub async fn interrupted(&self) -> anyhow::Result<Vec<Interrupted>> {
        let rows = sqlx::query(
            "SELECT id, lane, attempts, created_at FROM outbox WHERE state = 'sending' ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Interrupted {
                id: OutboxId(r.get(0)),
                lane: Lane::from_i64(r.get(1)).unwrap_or(Lane::Reply),
                attempts: r.get(2),
                created_at: from_ms(r.get(3)),
            })
            .collect())
    }

    pub async fn outbox_counts(&self) -> anyhow::Result<OutboxCounts> {
        let rows = sqlx::query("SELECT state, count(*) FROM outbox GROUP BY state")
            .fetch_all(&self.pool)
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
