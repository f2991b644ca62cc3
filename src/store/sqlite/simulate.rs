//! SQL for `staywell simulate`'s report and invariants: read-only summaries of a virtual
//! world's slots, outbox and alerts. Ids, times and counts only.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Store;
use super::{from_ms, ms};
use crate::store::SimAlert;

impl Store {
    /// Daily check-in slots by outcome (`None`: still open or not yet opened), and how many
    /// slots whose window closed by `now` have no outcome.
    pub async fn sim_slot_outcomes(
        &self,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Vec<(Option<String>, i64)>, i64)> {
        let rows = sqlx::query(
            "SELECT outcome, count(*) FROM slots WHERE dialog_id = 'daily_checkin'
             GROUP BY outcome ORDER BY outcome",
        )
        .fetch_all(&self.pool)
        .await?;
        let by = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let unsettled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM slots WHERE outcome IS NULL AND closes_at <= ?",
        )
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok((by, unsettled))
    }

    /// Scheduled-lane rows (prompts, reminders) created in the busiest minute: that minute,
    /// how many, and when the last of them was sent (`None` if some are not sent).
    pub async fn sim_busiest_prompt_minute(
        &self,
    ) -> anyhow::Result<Option<(DateTime<Utc>, i64, Option<DateTime<Utc>>)>> {
        let row = sqlx::query(
            "SELECT created_at / 60000 AS m, count(*) AS n FROM outbox WHERE lane = 2
             GROUP BY m ORDER BY n DESC, m LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let minute: i64 = row.get(0);
        let n: i64 = row.get(1);
        let last = sqlx::query(
            "SELECT max(sent_at), sum(sent_at IS NULL) FROM outbox
             WHERE lane = 2 AND created_at / 60000 = ?",
        )
        .bind(minute)
        .fetch_one(&self.pool)
        .await?;
        let unsent: i64 = last.get::<Option<i64>, _>(1).unwrap_or(0);
        let last_sent = last.get::<Option<i64>, _>(0).map(from_ms);
        Ok(Some((
            from_ms(minute * 60_000),
            n,
            if unsent == 0 { last_sent } else { None },
        )))
    }

    /// Seconds from queueing (or from the end of the quiet hours it waited for) to delivery
    /// of every scheduled-lane row sent (prompts and reminders, queued by the tick at their
    /// slot's time; self-help notes), and how many are still waiting.
    pub async fn sim_prompt_delays(&self) -> anyhow::Result<(Vec<f64>, i64)> {
        let delays = sqlx::query_scalar::<_, i64>(
            // From when it could go: a note held by quiet hours is not late.
            "SELECT sent_at - max(created_at, not_before) FROM outbox WHERE lane = 2 AND state = 'sent'",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|ms| ms as f64 / 1000.0)
        .collect();
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE lane = 2 AND state IN ('pending', 'sending')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((delays, waiting))
    }

    /// Every alert row, oldest first.
    pub async fn sim_alerts(&self) -> anyhow::Result<Vec<SimAlert>> {
        let rows = sqlx::query(
            "SELECT member_id, circle_id, tier, step, state, created_at, acked_at
             FROM alerts ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| SimAlert {
                member_id: r.get(0),
                circle_id: r.get(1),
                tier: r.get(2),
                step: r.get(3),
                state: r.get(4),
                created_at: from_ms(r.get(5)),
                acked_at: r.get::<Option<i64>, _>(6).map(from_ms),
            })
            .collect())
    }

    /// Sent alert and nudge messages to someone other than the member (alerts with a
    /// circle person), and how many of them had no consent standing when they were sent.
    pub async fn sim_alerts_without_consent(&self) -> anyhow::Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT count(*),
                    sum(o.consent_id IS NULL OR NOT EXISTS (
                        SELECT 1 FROM consents c WHERE c.id = o.consent_id
                          AND c.granted_at <= o.sent_at
                          AND (c.revoked_at IS NULL OR c.revoked_at > o.sent_at)))
             FROM alerts a JOIN outbox o ON o.id = a.outbox_id
             WHERE a.circle_id IS NOT NULL AND o.state = 'sent'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.get(0), row.get::<Option<i64>, _>(1).unwrap_or(0)))
    }
}
