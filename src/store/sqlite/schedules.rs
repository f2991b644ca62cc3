//! SQL for schedules, slots, pauses and the scheduler's heartbeat.

use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::{PUT_ASIDE, from_ms, ms};
use crate::domain::states::{SessionStatus, SlotOutcome};
use crate::domain::{ChatId, Envelope, MemberId, SessionId};
use crate::store::{
    ClosingSlot, DueReminder, DueSchedule, NewSlot, Opening, PendingSlot, SlotOpenings,
};

/// Rows per multi-row statement: SQLite allows 32,766 bound values; stay well below.
pub(super) const ROWS_PER_STATEMENT: usize = 500;

/// `(?, ?, …), (?, ?, …)`: `rows` groups of `cols` placeholders.
pub(super) fn placeholders(rows: usize, cols: usize) -> String {
    let group = format!("({})", vec!["?"; cols].join(", "));
    vec![group; rows].join(", ")
}

const SCHEDULE_COLUMNS: &str =
    "s.id, s.member_id, m.chat_id, s.dialog_id, s.days, s.local_time, m.timezone,
     m.quiet_start, m.quiet_end, m.paused_until, m.stopped_at, s.next_due_at,
     m.telegram_user_id, m.display_name, m.onboarding,
     EXISTS (SELECT 1 FROM chats c WHERE c.chat_id = m.chat_id AND c.unreachable_at IS NOT NULL)";

fn schedule_row(r: &sqlx::sqlite::SqliteRow) -> DueSchedule {
    DueSchedule {
        id: r.get(0),
        member: MemberId(r.get(1)),
        chat: ChatId(r.get(2)),
        dialog_id: r.get(3),
        days: r.get(4),
        local_time: r.get(5),
        timezone: r.get(6),
        quiet_start: r.get(7),
        quiet_end: r.get(8),
        paused_until: r.get::<Option<i64>, _>(9).map(from_ms),
        stopped: r.get::<Option<i64>, _>(10).is_some(),
        next_due_at: from_ms(r.get(11)),
        telegram_user: r.get(12),
        name: r.get(13),
        onboarding: r.get(14),
        unreachable: r.get::<i64, _>(15) != 0,
    }
}

impl Store {
    /// Schedules due at or before `now`, oldest first (read inside the caller's write
    /// transaction, so a pause or an edit committed meanwhile is seen).
    pub(in crate::store) async fn due_schedules(
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<DueSchedule>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedules s JOIN members m ON m.id = s.member_id
             WHERE s.next_due_at IS NOT NULL AND s.next_due_at <= ? ORDER BY s.next_due_at, s.id LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .bind(limit)
            .fetch_all(conn)
            .await?;
        Ok(rows.iter().map(schedule_row).collect())
    }

    /// Slots whose opening time has come and that have not been opened, each with its
    /// member's open session and a session of its dialog completed since `done_since`. Of
    /// slots opening at the same time, the one whose window closes first comes first (the
    /// daily check-in before a weekly one due with it: the weekly waits for it, not the
    /// other way round).
    pub(in crate::store) async fn pending_slots(
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
        done_since: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<PendingSlot>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS}, sl.id, sl.closes_at, os.id, os.dialog_id, os.expires_at,
                    os.updated_at,
                    dr.id, dr.completed_at, sl.local_date
             FROM slots sl JOIN schedules s ON s.id = sl.schedule_id JOIN members m ON m.id = sl.member_id
             LEFT JOIN sessions os ON os.id = (
                 SELECT o.id FROM sessions o
                 WHERE o.member_id = sl.member_id AND o.status IN ('active', 'paused') AND o.expires_at > ?
                 ORDER BY o.id DESC LIMIT 1)
             LEFT JOIN sessions dr ON dr.id = (
                 SELECT d.id FROM sessions d
                 WHERE d.member_id = s.member_id AND d.dialog_id = s.dialog_id
                   AND d.status = 'completed' AND d.completed_at >= ?
                 ORDER BY d.id DESC LIMIT 1)
             WHERE sl.outcome IS NULL AND sl.session_id IS NULL AND sl.opens_at <= ?
             ORDER BY sl.opens_at, sl.closes_at, sl.id LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .bind(ms(done_since))
            .bind(ms(now))
            .bind(limit)
            .fetch_all(conn)
            .await?;
        Ok(rows
            .iter()
            .map(|r| PendingSlot {
                slot: r.get(16),
                closes_at: from_ms(r.get(17)),
                schedule: schedule_row(r),
                open_session: r.get::<Option<i64>, _>(18).map(|id| {
                    (
                        SessionId(id),
                        r.get(19),
                        from_ms(r.get(20)),
                        from_ms(r.get(21)),
                    )
                }),
                done_recently: r
                    .get::<Option<i64>, _>(22)
                    .map(|id| (SessionId(id), from_ms(r.get(23)))),
                local_date: r.get(24),
            })
            .collect())
    }

    /// Writes what a batch of pending slots comes to: outcomes, deferrals, joins, and new
    /// sessions with their first messages (one multi-row statement each, chunked), then links
    /// every opened slot to its session, its prompt (the last message queued for it) and
    /// its reminder time. Runs inside the caller's write transaction.
    pub(in crate::store) async fn open_slots(
        conn: &mut SqliteConnection,
        batch: &SlotOpenings,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        for chunk in batch.outcomes.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE slots SET outcome = v.column2 FROM (VALUES {}) AS v
                 WHERE slots.id = v.column1 AND slots.outcome IS NULL",
                placeholders(chunk.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (slot, outcome) in chunk {
                q = q.bind(*slot).bind(outcome.as_str());
            }
            q.execute(&mut *conn).await?;
        }
        for chunk in batch.deferred.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE slots SET opens_at = v.column2 FROM (VALUES {}) AS v WHERE slots.id = v.column1",
                placeholders(chunk.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (slot, at) in chunk {
                q = q.bind(*slot).bind(ms(*at));
            }
            q.execute(&mut *conn).await?;
        }
        Self::start_sessions(conn, &batch.started, now).await?;
        let envelopes: Vec<Envelope> = batch
            .started
            .iter()
            .flat_map(|o| o.out.iter().cloned())
            .collect();
        // In the envelopes' order, so each opening's ids are the next `out.len()` of them.
        let mut ids = Self::enqueue_at(conn, &envelopes, None, now, now)
            .await?
            .into_iter();
        // (slot, session, prompt, remind_at)
        let mut links: Vec<(i64, i64, Option<i64>, Option<i64>)> = batch
            .joined
            .iter()
            .map(|(slot, session)| (*slot, session.0, None, None))
            .collect();
        for o in &batch.started {
            let prompt = ids.by_ref().take(o.out.len()).last();
            links.push((
                o.slot,
                o.session.0,
                prompt.map(|p| p.0),
                o.remind_at.map(ms),
            ));
        }
        for chunk in links.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE slots SET session_id = v.column2, prompt_id = v.column3, remind_at = v.column4
                 FROM (VALUES {}) AS v WHERE slots.id = v.column1",
                placeholders(chunk.len(), 4)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (slot, session, prompt, remind_at) in chunk {
                q = q.bind(*slot).bind(*session).bind(*prompt).bind(*remind_at);
            }
            q.execute(&mut *conn).await?;
        }
        // A check-in in progress that a slot joins stays open as long as the slot's window:
        // begun at 16:30 and due to expire at 19:30, it still counts for the 19:00 slot.
        let joined: Vec<i64> = batch.joined.iter().map(|(slot, _)| *slot).collect();
        for chunk in joined.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE sessions SET expires_at = max(sessions.expires_at, s.closes_at)
                 FROM slots s
                 WHERE s.session_id = sessions.id AND s.id IN ({})
                   AND sessions.status IN ('active', 'paused')",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for slot in chunk {
                q = q.bind(*slot);
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// New sessions for a batch of openings, written set-wise: one statement closing the
    /// members' older open sessions, one inserting every new session with its first state.
    /// (An opening without `first` was applied by the caller.) Each member appears at most
    /// once in a batch (the scheduler sees to it).
    async fn start_sessions(
        conn: &mut SqliteConnection,
        openings: &[Opening],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        // (id, member, dialog, version, status, state, expires_at)
        let mut rows: Vec<(i64, i64, &str, i64, SessionStatus, String, i64)> = Vec::new();
        for o in openings {
            if let Some(f) = &o.first {
                rows.push((
                    o.session.0,
                    o.member.0,
                    &f.dialog_id,
                    f.version,
                    f.status,
                    serde_json::to_string(&f.state)?,
                    ms(f.expires_at),
                ));
            }
        }
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            // An older check-in still inside its window is put aside (finished later with
            // `/checkin` or `/weekly`), not lost.
            let sql = format!(
                "UPDATE sessions SET status = {PUT_ASIDE}, updated_at = ?
                 WHERE status IN ('active', 'paused') AND member_id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ms(now))
                .bind(ms(now));
            for row in chunk {
                q = q.bind(row.1);
            }
            q.execute(&mut *conn).await?;
            let sql = format!(
                "INSERT INTO sessions (id, member_id, dialog_id, dialog_version, status, state,
                                       started_at, updated_at, expires_at, completed_at)
                 VALUES {}",
                placeholders(chunk.len(), 10)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, member, dialog, version, status, state, expires_at) in chunk {
                q = q
                    .bind(*id)
                    .bind(*member)
                    .bind(*dialog)
                    .bind(*version)
                    .bind(status.as_str())
                    .bind(state.as_str())
                    .bind(ms(now))
                    .bind(ms(now))
                    .bind(*expires_at)
                    .bind((*status == SessionStatus::Completed).then(|| ms(now)));
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Creates or replaces the member's schedule for a dialog. An open slot is not affected.
    pub(in crate::store) async fn set_schedule(
        conn: &mut SqliteConnection,
        member: MemberId,
        dialog_id: &str,
        days: &str,
        local_time: &str,
        next_due_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO schedules (member_id, dialog_id, days, local_time, next_due_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (member_id, dialog_id) DO UPDATE SET days = excluded.days,
                 local_time = excluded.local_time, next_due_at = excluded.next_due_at,
                 updated_at = excluded.updated_at",
        )
        .bind(member.0)
        .bind(dialog_id)
        .bind(days)
        .bind(local_time)
        .bind(next_due_at.map(ms))
        .bind(ms(now))
        .bind(ms(now))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Moves each schedule to its next occurrence (`None`: disabled): (schedule, next due),
    /// one statement per chunk.
    pub(in crate::store) async fn set_next_due(
        conn: &mut SqliteConnection,
        next: &[(i64, Option<DateTime<Utc>>)],
    ) -> anyhow::Result<()> {
        for chunk in next.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE schedules SET next_due_at = v.column2 FROM (VALUES {}) AS v
                 WHERE schedules.id = v.column1",
                placeholders(chunk.len(), 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (schedule, at) in chunk {
                q = q.bind(*schedule).bind(at.map(ms));
            }
            q.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Inserts slots, each unless its (schedule, local date) already has one (in the
    /// database, or earlier in `slots`), one statement per chunk. Returns the outcome of
    /// every slot this call created (`None`: open): only those may the caller act on.
    pub(in crate::store) async fn insert_slots(
        conn: &mut SqliteConnection,
        slots: &[NewSlot<'_>],
    ) -> anyhow::Result<Vec<Option<SlotOutcome>>> {
        let mut created = Vec::new();
        for chunk in slots.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO slots (schedule_id, member_id, dialog_id, local_date, due_at, opens_at,
                                    closes_at, remind_at, outcome)
                 VALUES {}
                 ON CONFLICT (schedule_id, local_date) DO NOTHING RETURNING outcome",
                placeholders(chunk.len(), 9)
            );
            let mut q = sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql));
            for slot in chunk {
                q = q
                    .bind(slot.schedule)
                    .bind(slot.member.0)
                    .bind(slot.dialog_id)
                    .bind(slot.local_date.to_string())
                    .bind(ms(slot.due_at))
                    .bind(ms(slot.opens_at))
                    .bind(ms(slot.closes_at))
                    .bind(slot.remind_at.map(ms))
                    .bind(slot.outcome.map(SlotOutcome::as_str));
            }
            let rows: Vec<Option<String>> = q.fetch_all(&mut *conn).await?;
            created.extend(
                rows.iter()
                    .map(|o| o.as_deref().and_then(SlotOutcome::parse)),
            );
        }
        Ok(created)
    }

    pub(in crate::store) async fn due_reminders(
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<DueReminder>> {
        let rows = sqlx::query(
            "SELECT sl.id, m.chat_id, m.id, m.timezone, m.quiet_start, m.quiet_end, sl.closes_at,
                    EXISTS (SELECT 1 FROM answers a WHERE a.session_id = sl.session_id AND a.state = 'answered')
                      OR COALESCE(se.status, '') = 'completed',
                    m.display_name, m.stopped_at IS NOT NULL, m.paused_until
             FROM slots sl JOIN members m ON m.id = sl.member_id
             LEFT JOIN sessions se ON se.id = sl.session_id
             WHERE sl.reminded_at IS NULL AND sl.outcome IS NULL AND sl.remind_at <= ?
             ORDER BY sl.remind_at LIMIT ?",
        )
        .bind(ms(now))
        .bind(limit)
        .fetch_all(conn)
        .await?;
        Ok(rows
            .iter()
            .map(|r| DueReminder {
                slot: r.get(0),
                chat: ChatId(r.get(1)),
                member: MemberId(r.get(2)),
                timezone: r.get(3),
                quiet_start: r.get(4),
                quiet_end: r.get(5),
                closes_at: from_ms(r.get(6)),
                started: r.get::<i64, _>(7) != 0,
                name: r.get(8),
                stopped: r.get::<i64, _>(9) != 0,
                paused_until: r.get::<Option<i64>, _>(10).map(from_ms),
            })
            .collect())
    }

    /// A check-in of `session`'s member has just been completed: their slots that were
    /// waiting for it (or for anything else) are looked at again now, so a weekly check-in
    /// due with the daily one follows it at once instead of waiting for the daily's window
    /// to end. The scheduler decides again what each does (quiet hours still hold them).
    /// Read through the member's slots index, over the last two days only (a slot still
    /// open was due at most a day's window plus a night's quiet hours ago).
    pub(in crate::store) async fn wake_waiting_slots(
        conn: &mut SqliteConnection,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE slots SET opens_at = ?1
             WHERE member_id = (SELECT member_id FROM sessions WHERE id = ?2)
               AND due_at > ?3 AND due_at <= ?1
               AND outcome IS NULL AND session_id IS NULL AND opens_at > ?1",
        )
        .bind(ms(now))
        .bind(session.0)
        .bind(ms(now - chrono::Duration::days(2)))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Back from a stop (or a pause that would have outlasted the window): a reminder held
    /// at its window's end by the scheduler is due now, if the window has `margin` left.
    /// (A reminder is otherwise always due before its window closes, so `remind_at >=
    /// closes_at` marks exactly the held ones.)
    pub(in crate::store) async fn bring_back_reminders(
        conn: &mut SqliteConnection,
        chat: ChatId,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE slots SET remind_at = ?1
             WHERE member_id = (SELECT id FROM members WHERE chat_id = ?2)
               AND due_at > ?3 AND outcome IS NULL AND reminded_at IS NULL
               AND remind_at >= closes_at AND closes_at > ?4",
        )
        .bind(ms(now))
        .bind(chat.0)
        .bind(ms(now - chrono::Duration::days(2)))
        .bind(ms(now + margin))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Puts a slot's reminder off until `at` (the end of the member's pause, or the
    /// window's end while they are stopped).
    pub(in crate::store) async fn postpone_reminder(
        conn: &mut SqliteConnection,
        slot: i64,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE slots SET remind_at = ? WHERE id = ? AND reminded_at IS NULL")
            .bind(ms(at))
            .bind(slot)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Marks a slot's reminder as done (sent, or decided against): never more than one.
    pub(in crate::store) async fn mark_reminded(
        conn: &mut SqliteConnection,
        slot: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let r =
            sqlx::query("UPDATE slots SET reminded_at = ? WHERE id = ? AND reminded_at IS NULL")
                .bind(ms(now))
                .bind(slot)
                .execute(conn)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(in crate::store) async fn closing_slots(
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<ClosingSlot>> {
        let rows = sqlx::query(
            "SELECT sl.id, sl.session_id, COALESCE(se.status, '') = 'completed',
                    (SELECT count(*) FROM answers a WHERE a.session_id = sl.session_id AND a.state = 'answered'),
                    COALESCE(o.state, '') = 'sent', sl.closes_at, sl.prompt_id IS NOT NULL,
                    m.stopped_at IS NOT NULL OR COALESCE(m.paused_until, 0) > sl.due_at
             FROM slots sl
             JOIN members m ON m.id = sl.member_id
             LEFT JOIN sessions se ON se.id = sl.session_id
             LEFT JOIN outbox o ON o.id = sl.prompt_id
             WHERE sl.outcome IS NULL AND sl.closes_at <= ?
             ORDER BY sl.closes_at LIMIT ?",
        )
        .bind(ms(now))
        .bind(limit)
        .fetch_all(conn)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ClosingSlot {
                slot: r.get(0),
                session: r.get::<Option<i64>, _>(1).map(SessionId),
                completed: r.get::<i64, _>(2) != 0,
                answered: r.get(3),
                delivered: r.get::<i64, _>(4) != 0,
                closes_at: from_ms(r.get(5)),
                prompted: r.get::<i64, _>(6) != 0,
                held: r.get::<i64, _>(7) != 0,
            })
            .collect())
    }

    /// Records a slot's outcome (once) and closes its session if still open.
    pub(in crate::store) async fn close_slot(
        conn: &mut SqliteConnection,
        slot: &ClosingSlot,
        outcome: SlotOutcome,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let r = sqlx::query("UPDATE slots SET outcome = ? WHERE id = ? AND outcome IS NULL")
            .bind(outcome.as_str())
            .bind(slot.slot)
            .execute(&mut *conn)
            .await?;
        if r.rows_affected() == 1
            && let Some(session) = slot.session
        {
            sqlx::query(
                "UPDATE sessions SET status = 'expired', updated_at = ?
                 WHERE id = ? AND status IN ('active', 'paused', 'aside') AND expires_at <= ?",
            )
            .bind(ms(now))
            .bind(session.0)
            .bind(ms(slot.closes_at))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    pub async fn last_tick(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT last_tick_at FROM scheduler_heartbeat WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.map(from_ms))
    }

    /// Moves the heartbeat from `last` to `now`. Returns false if someone else moved it
    /// first (so an outage is acted on once, even with a second instance or a retry).
    pub(in crate::store) async fn advance_heartbeat(
        conn: &mut SqliteConnection,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let r = match last {
            Some(l) => sqlx::query("UPDATE scheduler_heartbeat SET last_tick_at = ? WHERE id = 1 AND last_tick_at = ?")
                .bind(ms(now))
                .bind(ms(l))
                .execute(conn)
                .await?,
            None => sqlx::query("INSERT INTO scheduler_heartbeat (id, last_tick_at) VALUES (1, ?) ON CONFLICT (id) DO NOTHING")
                .bind(ms(now))
                .execute(conn)
                .await?,
        };
        Ok(r.rows_affected() == 1)
    }

    /// Members whose sessions were open at some point between `from` and `to` (started
    /// before `to`), with their timezone and quiet hours.
    pub(in crate::store) async fn chats_with_sessions_between(
        conn: &mut SqliteConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(ChatId, String, String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT m.chat_id, m.timezone, m.quiet_start, m.quiet_end
             FROM sessions se JOIN members m ON m.id = se.member_id
             WHERE se.expires_at >= ? AND se.started_at < ? AND m.stopped_at IS NULL",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(conn)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (ChatId(r.get(0)), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    /// Counts of slots by outcome (`open` for none yet), for tests and reports.
    pub async fn slot_outcomes(&self) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT COALESCE(outcome, 'open'), count(*) FROM slots GROUP BY 1")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
