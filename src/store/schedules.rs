//! SQL for schedules, slots, pauses and the scheduler's heartbeat.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row, SqliteConnection};

use super::sqlite::Store;
use super::{from_ms, ms};
use crate::domain::{ChatId, MemberId, OutboxId, SessionId};

/// A schedule whose next occurrence is due, with what the scheduler needs about its member.
#[derive(Debug, Clone)]
pub struct DueSchedule {
    pub id: i64,
    pub member: MemberId,
    pub chat: ChatId,
    pub dialog_id: String,
    pub days: String,
    pub local_time: String,
    pub timezone: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub paused_until: Option<DateTime<Utc>>,
    pub stopped: bool,
    pub next_due_at: DateTime<Utc>,
    pub telegram_user: i64,
    pub name: Option<String>,
    pub onboarding: String,
    /// The person blocked the bot.
    pub unreachable: bool,
}

/// A slot whose time has come but which has not been opened yet.
#[derive(Debug, Clone)]
pub struct PendingSlot {
    pub slot: i64,
    pub closes_at: DateTime<Utc>,
    pub schedule: DueSchedule,
}

/// A slot to insert. `outcome` is set at once for slots that never open (paused, unknown).
#[derive(Debug, Clone)]
pub struct NewSlot<'a> {
    pub schedule: i64,
    pub member: MemberId,
    pub dialog_id: &'a str,
    pub local_date: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub remind_at: Option<DateTime<Utc>>,
    pub outcome: Option<&'static str>,
}

/// An open slot whose reminder time has come.
#[derive(Debug, Clone)]
pub struct DueReminder {
    pub slot: i64,
    pub chat: ChatId,
    pub member: MemberId,
    pub timezone: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub closes_at: DateTime<Utc>,
    /// The person has started (answered something) or finished.
    pub started: bool,
    pub name: Option<String>,
}

/// An open slot whose window has closed.
#[derive(Debug, Clone)]
pub struct ClosingSlot {
    pub slot: i64,
    pub session: Option<SessionId>,
    pub completed: bool,
    pub answered: i64,
    /// The slot sent a prompt of its own (it did not join a check-in already in progress).
    pub prompted: bool,
    /// That prompt reached Telegram (or the terminal).
    pub delivered: bool,
    /// The member paused or stopped since the slot was due.
    pub held: bool,
    pub closes_at: DateTime<Utc>,
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
    pub async fn due_schedules(
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

    /// Slots whose opening time has come and that have not been opened.
    pub async fn pending_slots(
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<PendingSlot>> {
        let sql = format!(
            "SELECT {SCHEDULE_COLUMNS}, sl.id, sl.closes_at
             FROM slots sl JOIN schedules s ON s.id = sl.schedule_id JOIN members m ON m.id = sl.member_id
             WHERE sl.outcome IS NULL AND sl.session_id IS NULL AND sl.opens_at <= ?
             ORDER BY sl.opens_at, sl.id LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
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
            })
            .collect())
    }

    /// Sets a slot's outcome directly (one that never opened: paused, unknown).
    pub async fn set_slot_outcome(
        conn: &mut SqliteConnection,
        slot: i64,
        outcome: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE slots SET outcome = ? WHERE id = ? AND outcome IS NULL")
            .bind(outcome)
            .bind(slot)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Moves a pending slot's opening (quiet hours, or another check-in in progress).
    pub async fn defer_slot(
        conn: &mut SqliteConnection,
        slot: i64,
        opens_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE slots SET opens_at = ? WHERE id = ?")
            .bind(ms(opens_at))
            .bind(slot)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// A member's schedules (for `/schedule`): (dialog id, days field, HH:MM, active).
    pub async fn member_schedules(
        conn: &mut SqliteConnection,
        member: MemberId,
    ) -> anyhow::Result<Vec<(String, String, String, bool)>> {
        let rows = sqlx::query(
            "SELECT dialog_id, days, local_time, next_due_at IS NOT NULL FROM schedules
             WHERE member_id = ? ORDER BY dialog_id",
        )
        .bind(member.0)
        .fetch_all(conn)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get::<i64, _>(3) != 0))
            .collect())
    }

    /// When the next schedule is due (for the scheduler's sleep).
    pub async fn next_schedule_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT min(t) FROM (
                 SELECT min(next_due_at) AS t FROM schedules WHERE next_due_at IS NOT NULL
                 UNION ALL SELECT min(opens_at) FROM slots WHERE outcome IS NULL AND session_id IS NULL
                 UNION ALL SELECT min(remind_at) FROM slots WHERE reminded_at IS NULL AND outcome IS NULL
                 UNION ALL SELECT min(closes_at) FROM slots WHERE outcome IS NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(v.map(from_ms))
    }

    /// Creates or replaces the member's schedule for a dialog. An open slot is not affected.
    pub async fn set_schedule(
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

    pub async fn set_next_due(
        conn: &mut SqliteConnection,
        schedule: i64,
        next: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE schedules SET next_due_at = ? WHERE id = ?")
            .bind(next.map(ms))
            .bind(schedule)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Inserts a slot unless that (schedule, local date) already has one. Returns its id if
    /// this call created it: only then may the caller act on it.
    pub async fn insert_slot(
        conn: &mut SqliteConnection,
        slot: &NewSlot<'_>,
    ) -> anyhow::Result<Option<i64>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO slots (schedule_id, member_id, dialog_id, local_date, due_at, opens_at, closes_at,
                                remind_at, outcome)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (schedule_id, local_date) DO NOTHING RETURNING id",
        )
        .bind(slot.schedule)
        .bind(slot.member.0)
        .bind(slot.dialog_id)
        .bind(slot.local_date.to_string())
        .bind(ms(slot.due_at))
        .bind(ms(slot.opens_at))
        .bind(ms(slot.closes_at))
        .bind(slot.remind_at.map(ms))
        .bind(slot.outcome)
        .fetch_optional(conn)
        .await?;
        Ok(id)
    }

    /// Links an opened slot to its session and the prompt that announced it.
    pub async fn attach_slot(
        conn: &mut SqliteConnection,
        slot: i64,
        session: SessionId,
        prompt: Option<OutboxId>,
        remind_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE slots SET session_id = ?, prompt_id = ?, remind_at = ? WHERE id = ?")
            .bind(session.0)
            .bind(prompt.map(|p| p.0))
            .bind(remind_at.map(ms))
            .bind(slot)
            .execute(conn)
            .await?;
        Ok(())
    }

    pub async fn due_reminders(
        conn: &mut SqliteConnection,
        now: DateTime<Utc>,
        limit: i64,
    ) -> anyhow::Result<Vec<DueReminder>> {
        let rows = sqlx::query(
            "SELECT sl.id, m.chat_id, m.id, m.timezone, m.quiet_start, m.quiet_end, sl.closes_at,
                    EXISTS (SELECT 1 FROM answers a WHERE a.session_id = sl.session_id AND a.state = 'answered')
                      OR COALESCE(se.status, '') = 'completed',
                    m.display_name
             FROM slots sl JOIN members m ON m.id = sl.member_id
             LEFT JOIN sessions se ON se.id = sl.session_id
             WHERE sl.reminded_at IS NULL AND sl.outcome IS NULL AND sl.remind_at <= ?
               AND m.stopped_at IS NULL AND (m.paused_until IS NULL OR m.paused_until <= ?)
             ORDER BY sl.remind_at LIMIT ?",
        )
        .bind(ms(now))
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
            })
            .collect())
    }

    /// Marks a slot's reminder as done (sent, or decided against): never more than one.
    pub async fn mark_reminded(
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

    pub async fn closing_slots(
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
    pub async fn close_slot(
        conn: &mut SqliteConnection,
        slot: &ClosingSlot,
        outcome: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let r = sqlx::query("UPDATE slots SET outcome = ? WHERE id = ? AND outcome IS NULL")
            .bind(outcome)
            .bind(slot.slot)
            .execute(&mut *conn)
            .await?;
        if r.rows_affected() == 1
            && let Some(session) = slot.session
        {
            sqlx::query(
                "UPDATE sessions SET status = 'expired', updated_at = ?
                 WHERE id = ? AND status IN ('active', 'paused') AND expires_at <= ?",
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
    pub async fn advance_heartbeat(
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
    pub async fn chats_with_sessions_between(
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

    /// The member's open session, if any: its id, dialog and end.
    pub async fn open_session_of(
        conn: &mut SqliteConnection,
        member: MemberId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<(SessionId, String, DateTime<Utc>)>> {
        let row = sqlx::query(
            "SELECT id, dialog_id, expires_at FROM sessions
             WHERE member_id = ? AND status IN ('active', 'paused') AND expires_at > ?
             ORDER BY id DESC LIMIT 1",
        )
        .bind(member.0)
        .bind(ms(now))
        .fetch_optional(conn)
        .await?;
        Ok(row.map(|r| (SessionId(r.get(0)), r.get(1), from_ms(r.get(2)))))
    }

    /// A session of `dialog` the member completed since `since`, if any.
    pub async fn completed_session_since(
        conn: &mut SqliteConnection,
        member: MemberId,
        dialog: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Option<SessionId>> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM sessions
             WHERE member_id = ? AND dialog_id = ? AND status = 'completed' AND completed_at >= ?
             ORDER BY id DESC LIMIT 1",
        )
        .bind(member.0)
        .bind(dialog)
        .bind(ms(since))
        .fetch_optional(conn)
        .await?;
        Ok(v.map(SessionId))
    }

    /// Counts of slots by outcome (`open` for none yet), for tests and reports.
    pub async fn slot_outcomes(&self) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
        let rows = sqlx::query("SELECT COALESCE(outcome, 'open'), count(*) FROM slots GROUP BY 1")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
