//! People: who a chat is (member or not), everything the processor reads for an update,
//! and the conversation's changes applied to the store in order.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::{PUT_ASIDE, Store, from_ms, ms};
use crate::store::SessionRow;
use chrono_tz::Tz;

use crate::domain::answer::{Answer, Session, Stored};
use crate::domain::member::{Member, Onboarding, QuietHours, tz_or_london};
use crate::domain::states::SessionStatus;
use crate::domain::{ChatId, MemberId, SessionId, UserId};
use crate::store::StoredPerson;
use crate::store::UpdateRead;

/// A member's columns as [`member_from`] reads them (the members table as `m`), as a
/// literal for `concat!`.
macro_rules! member_columns {
    () => {
        "m.id, m.telegram_user_id, m.display_name, m.timezone, m.onboarding,
    m.stopped_at, m.quiet_start, m.quiet_end, m.paused_until,
    EXISTS (SELECT 1 FROM consents c WHERE c.member_id = m.id
            AND c.purpose = 'store_answers' AND c.revoked_at IS NULL)"
    };
}

/// The member in a row that starts with [`member_columns`]; `None` if there is none (the
/// columns are NULL).
fn member_from(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<Option<Member>> {
    let Some(id) = r.get::<Option<i64>, _>(0) else {
        return Ok(None);
    };
    let onboarding: String = r.get(4);
    Ok(Some(Member {
        id: MemberId(id),
        telegram_user: UserId(r.get(1)),
        name: r.get(2),
        timezone: tz_or_london(r.get(3)),
        onboarding: Onboarding::parse(&onboarding)
            .with_context(|| format!("member {id} has unknown onboarding state"))?,
        stopped: r.get::<Option<i64>, _>(5).is_some(),
        quiet: QuietHours::from_stored(r.get(6), r.get(7)),
        paused_until: r.get::<Option<i64>, _>(8).map(from_ms),
        consented: r.get::<bool, _>(9),
    }))
}

/// A session put aside is looked for among those begun this recently (read through the
/// member's sessions index): a window is at most a day, which a slot it joins may extend by
/// a day and a night's quiet hours.
const ASIDE_AT_MOST: chrono::Duration = chrono::Duration::days(3);

impl Store {
    pub(in crate::store) async fn load_person(
        tx: &mut SqliteConnection,
        chat: ChatId,
    ) -> anyhow::Result<StoredPerson> {
        let row = sqlx::query(concat!(
            "SELECT ",
            member_columns!(),
            " FROM members m WHERE m.chat_id = ?"
        ))
        .bind(chat.0)
        .fetch_optional(tx)
        .await?;
        let member = match row {
            Some(r) => member_from(&r)?,
            None => None,
        };
        Ok(StoredPerson {
            chat,
            member,
            coping_notes: None,
        })
    }

    /// Everything the processor reads about a chat before it decides, in one statement: the
    /// person (with their coping notes while a check-in is open), their open session, their
    /// schedules (by dialog id), whether the chat is
    /// marked unreachable, and the id the next session will get. One statement, not five:
    /// each is a hand-off to SQLite's worker thread and back, and this runs for every update.
    pub(in crate::store) async fn load_for_update(
        tx: &mut SqliteConnection,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<UpdateRead> {
        let r = sqlx::query(concat!(
            "SELECT ",
            member_columns!(),
            ",
                    (SELECT unreachable_at IS NOT NULL FROM chats WHERE chat_id = ?1),
                    (SELECT max(id) FROM sessions),
                    s.id, s.dialog_id, s.dialog_version, s.state, s.expires_at,
                    (SELECT json_group_array(json_array(dialog_id, days, local_time,
                                                        next_due_at IS NOT NULL))
                     FROM schedules WHERE member_id = m.id),
                    CASE WHEN s.id IS NOT NULL THEN m.coping_notes END,
                    (SELECT json_array(a.id, a.dialog_id, a.dialog_version, a.state, a.expires_at)
                     FROM sessions a
                     WHERE a.member_id = m.id AND a.started_at > ?3 AND a.status = 'aside'
                       AND a.expires_at > ?2
                     ORDER BY a.id DESC LIMIT 1)
             FROM (SELECT ?1 AS chat_id) AS one
             LEFT JOIN members m ON m.chat_id = one.chat_id
             LEFT JOIN sessions s ON s.id = (
                 SELECT id FROM sessions
                 WHERE member_id = m.id AND status IN ('active', 'paused') AND expires_at > ?2
                 ORDER BY id DESC LIMIT 1)"
        ))
        .bind(chat.0)
        .bind(ms(now))
        .bind(ms(now - ASIDE_AT_MOST))
        .fetch_one(tx)
        .await?;
        let member = member_from(&r)?;
        let aside = match r.get::<Option<&str>, _>(19) {
            Some(json) => {
                let (id, dialog_id, version, state, expires_at): (i64, String, i64, String, i64) =
                    serde_json::from_str(json).context("unreadable set-aside session")?;
                Some(SessionRow {
                    id: SessionId(id),
                    dialog_id,
                    version,
                    state: serde_json::from_str(&state).context("unreadable session state")?,
                    expires_at: from_ms(expires_at),
                })
            }
            None => None,
        };
        let session = match r.get::<Option<i64>, _>(12) {
            Some(id) => Some(SessionRow {
                id: SessionId(id),
                dialog_id: r.get(13),
                version: r.get(14),
                state: serde_json::from_str(r.get::<&str, _>(15))
                    .context("unreadable session state")?,
                expires_at: from_ms(r.get(16)),
            }),
            None => None,
        };
        let mut schedules: Vec<(String, String, String, i64)> = match r.get::<Option<&str>, _>(17) {
            Some(json) => serde_json::from_str(json).context("unreadable schedules")?,
            None => Vec::new(),
        };
        schedules.sort();
        // What helps, in their words: a low day's "Look at my coping plan" shows it.
        let person = StoredPerson {
            chat,
            member,
            coping_notes: r.get(18),
        };
        Ok(UpdateRead {
            person,
            session,
            aside,
            schedules: schedules
                .into_iter()
                .map(|(dialog, days, time, active)| (dialog, days, time, active != 0))
                .collect(),
            unreachable: r.get::<Option<bool>, _>(10).unwrap_or(false),
            next_session_id: SessionId(r.get::<Option<i64>, _>(11).unwrap_or(0) + 1),
        })
    }

    /// When the member last completed a session of `dialog`.
    pub(in crate::store) async fn last_completed(
        conn: &mut SqliteConnection,
        member: MemberId,
        dialog: &str,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT max(completed_at) FROM sessions
             WHERE member_id = ? AND dialog_id = ? AND status = 'completed'",
        )
        .bind(member.0)
        .bind(dialog)
        .fetch_one(&mut *conn)
        .await?;
        Ok(at.map(from_ms))
    }

    /// A new member, with their consent to store answers: onboarding starts at their name.
    pub(in crate::store) async fn create_member(
        tx: &mut SqliteConnection,
        chat: ChatId,
        user: UserId,
        consent_wording: &str,
        consent_version: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO members (chat_id, telegram_user_id, onboarding, created_at)
             VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(chat.0)
        .bind(user.0)
        .bind(Onboarding::Name.as_str())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO consents (member_id, purpose, wording, wording_version, granted_at)
             VALUES (?, 'store_answers', ?, ?, ?)",
        )
        .bind(id)
        .bind(consent_wording)
        .bind(consent_version)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// A member consents again to store answers (after withdrawing it): they are no longer
    /// stopped.
    pub(in crate::store) async fn reconsent(
        tx: &mut SqliteConnection,
        chat: ChatId,
        consent_wording: &str,
        consent_version: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO consents (member_id, purpose, wording, wording_version, granted_at)
             SELECT id, 'store_answers', ?, ?, ? FROM members WHERE chat_id = ?",
        )
        .bind(consent_wording)
        .bind(consent_version)
        .bind(ms(now))
        .bind(chat.0)
        .execute(&mut *tx)
        .await?;
        Self::set_stopped(tx, chat, None).await
    }

    pub(in crate::store) async fn set_name(
        tx: &mut SqliteConnection,
        chat: ChatId,
        name: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE members SET display_name = ? WHERE chat_id = ?")
            .bind(name)
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn set_timezone(
        tx: &mut SqliteConnection,
        chat: ChatId,
        tz: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE members SET timezone = ? WHERE chat_id = ?")
            .bind(tz)
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn set_onboarding(
        tx: &mut SqliteConnection,
        chat: ChatId,
        step: Onboarding,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE members SET onboarding = ? WHERE chat_id = ?")
            .bind(step.as_str())
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Marks the member stopped from `at` (kept if already stopped), or not stopped (`None`).
    pub(in crate::store) async fn set_stopped(
        tx: &mut SqliteConnection,
        chat: ChatId,
        at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        match at {
            Some(at) => sqlx::query(
                "UPDATE members SET stopped_at = ? WHERE chat_id = ? AND stopped_at IS NULL",
            )
            .bind(ms(at)),
            None => sqlx::query("UPDATE members SET stopped_at = NULL WHERE chat_id = ?"),
        }
        .bind(chat.0)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn set_quiet_hours(
        tx: &mut SqliteConnection,
        chat: ChatId,
        quiet: QuietHours,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE members SET quiet_start = ?, quiet_end = ? WHERE chat_id = ?")
            .bind(quiet.start.to_string())
            .bind(quiet.end.to_string())
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn set_paused_until(
        tx: &mut SqliteConnection,
        chat: ChatId,
        until: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE members SET paused_until = ? WHERE chat_id = ?")
            .bind(until.map(ms))
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// A new session for the chat's member, with its first status and state (if it has one
    /// yet).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::store) async fn insert_session(
        tx: &mut SqliteConnection,
        chat: ChatId,
        id: SessionId,
        dialog_id: &str,
        version: i64,
        status: SessionStatus,
        state: Option<&Session>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, member_id, dialog_id, dialog_version, status, state,
                                   started_at, updated_at, expires_at, completed_at)
             SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? = 'completed' THEN ? END
             FROM members WHERE chat_id = ?",
        )
        .bind(id.0)
        .bind(dialog_id)
        .bind(version)
        .bind(status.as_str())
        .bind(match state {
            Some(s) => serde_json::to_string(s)?,
            None => "{}".to_string(),
        })
        .bind(ms(now))
        .bind(ms(now))
        .bind(ms(expires_at))
        .bind(status.as_str())
        .bind(ms(now))
        .bind(chat.0)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// A check-in put aside becomes the chat's open one again.
    pub(in crate::store) async fn resume_session(
        tx: &mut SqliteConnection,
        chat: ChatId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE sessions SET status = 'active', updated_at = ?
             WHERE id = ? AND status = 'aside'
               AND member_id = (SELECT id FROM members WHERE chat_id = ?)",
        )
        .bind(ms(now))
        .bind(id.0)
        .bind(chat.0)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    pub(in crate::store) async fn save_session(
        tx: &mut SqliteConnection,
        id: SessionId,
        status: SessionStatus,
        state: &Session,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE sessions SET status = ?, state = ?, updated_at = ?,
                    completed_at = CASE WHEN ? = 'completed' THEN ? ELSE completed_at END
             WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(serde_json::to_string(state)?)
        .bind(ms(now))
        .bind(status.as_str())
        .bind(ms(now))
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// A session's answers (a later answer to the same step replaces the earlier).
    pub(in crate::store) async fn store_answers(
        tx: &mut SqliteConnection,
        session: SessionId,
        member: MemberId,
        dialog_id: &str,
        version: i64,
        answers: &[Stored],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        for a in answers {
            let value = match &a.answer {
                Answer::Answered(v) => Some(serde_json::to_string(v)?),
                _ => None,
            };
            let flags = (!a.flags.is_empty()).then(|| a.flags.join(","));
            sqlx::query(
                "INSERT INTO answers (session_id, member_id, dialog_id, dialog_version, step_id,
                                      state, value, flags, answered_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (session_id, step_id) DO UPDATE SET
                     state = excluded.state, value = excluded.value,
                     flags = excluded.flags, answered_at = excluded.answered_at",
            )
            .bind(session.0)
            .bind(member.0)
            .bind(dialog_id)
            .bind(version)
            .bind(&a.step_id)
            .bind(a.answer.state())
            .bind(value)
            .bind(flags)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    /// Another check-in starts (or comes back): the chat's open one is put aside if still
    /// inside its window, to be finished later, and has expired otherwise.
    pub(in crate::store) async fn put_open_sessions_aside(
        tx: &mut SqliteConnection,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let sql = format!(
            "UPDATE sessions SET status = {PUT_ASIDE}, updated_at = ?
             WHERE member_id = (SELECT id FROM members WHERE chat_id = ?)
               AND status IN ('active', 'paused')"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .bind(ms(now))
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// The chat's active schedules: (schedule id, days, local time) as stored.
    pub(in crate::store) async fn active_schedules_of(
        tx: &mut SqliteConnection,
        chat: ChatId,
    ) -> anyhow::Result<Vec<(i64, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT s.id, s.days, s.local_time FROM schedules s JOIN members m ON m.id = s.member_id
             WHERE m.chat_id = ? AND s.next_due_at IS NOT NULL",
        )
        .bind(chat.0)
        .fetch_all(&mut *tx)
        .await?)
    }

    /// Sets one schedule's next occurrence (`None`: it has none).
    pub(in crate::store) async fn set_next_due_of(
        tx: &mut SqliteConnection,
        schedule: i64,
        next: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE schedules SET next_due_at = ? WHERE id = ?")
            .bind(next.map(ms))
            .bind(schedule)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Back from a pause or a stop: a check-in that came due while they were away, and
    /// whose window still has a while to run, is asked after all (the next tick opens it),
    /// and a reminder held meanwhile comes after all.
    pub(in crate::store) async fn reopen_held_slots(
        tx: &mut SqliteConnection,
        chat: ChatId,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE slots SET outcome = NULL, opens_at = max(opens_at, ?)
             WHERE member_id = (SELECT id FROM members WHERE chat_id = ?)
               AND outcome = 'paused' AND session_id IS NULL AND closes_at > ?",
        )
        .bind(ms(now))
        .bind(chat.0)
        .bind(ms(now + margin))
        .execute(&mut *tx)
        .await?;
        Self::bring_back_reminders(&mut *tx, chat, now, margin).await
    }

    /// The chat's member's timezone and quiet hours, as stored now.
    pub(in crate::store) async fn quiet_of(
        tx: &mut SqliteConnection,
        chat: ChatId,
    ) -> anyhow::Result<Option<(Tz, QuietHours)>> {
        let member: Option<(String, String, String)> = sqlx::query_as(
            "SELECT timezone, quiet_start, quiet_end FROM members WHERE chat_id = ?",
        )
        .bind(chat.0)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(member.map(|(tz, qs, qe)| (tz_or_london(&tz), QuietHours::from_stored(&qs, &qe))))
    }

    pub(in crate::store) async fn set_unreachable(
        tx: &mut SqliteConnection,
        chat: ChatId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO chats (chat_id, unreachable_at, unreachable_reason) VALUES (?, ?, ?)
             ON CONFLICT (chat_id) DO UPDATE SET unreachable_at = excluded.unreachable_at,
                                                  unreachable_reason = excluded.unreachable_reason",
        )
        .bind(chat.0)
        .bind(ms(now))
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE outbox SET state = 'unreachable', last_error = ? WHERE chat_id = ? AND state = 'pending'")
            .bind(reason)
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// The person wrote to us: whatever blocked the chat before is over.
    pub(in crate::store) async fn set_reachable(
        tx: &mut SqliteConnection,
        chat: ChatId,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE chats SET unreachable_at = NULL, unreachable_reason = NULL WHERE chat_id = ? AND unreachable_at IS NOT NULL")
            .bind(chat.0)
            .execute(tx)
            .await?;
        Ok(())
    }

    pub async fn is_unreachable(&self, chat: ChatId) -> anyhow::Result<bool> {
        let v: Option<Option<i64>> =
            sqlx::query_scalar("SELECT unreachable_at FROM chats WHERE chat_id = ?")
                .bind(chat.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(matches!(v, Some(Some(_))))
    }

    pub async fn member_count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM members")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn person(&self, chat: ChatId) -> anyhow::Result<StoredPerson> {
        let mut conn = self.pool.acquire().await?;
        Self::load_person(&mut conn, chat).await
    }
}
