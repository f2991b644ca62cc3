//! SQLite backend: WAL with `synchronous=FULL` (a committed answer survives power loss),
//! foreign keys on, a busy timeout so concurrent writers wait instead of failing.

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection};

use super::SessionRow;
use super::{InboxRow, from_ms, ms};
use crate::conversation::{Change, Member, Onboarding, Person};
use crate::domain::{ChatId, Envelope, Incoming, Lane, MemberId, SessionId, UpdateId, UserId};
use crate::schedule::{LocalTime, QuietHours};

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
        timezone: r.get(3),
        onboarding: Onboarding::parse(&onboarding)
            .with_context(|| format!("member {id} has unknown onboarding state"))?,
        stopped: r.get::<Option<i64>, _>(5).is_some(),
        quiet: QuietHours::from_stored(r.get(6), r.get(7)),
        paused_until: r.get::<Option<i64>, _>(8).map(from_ms),
        consented: r.get::<bool, _>(9),
    }))
}

/// What [`Store::load_for_update`] reads.
pub struct UpdateRead {
    pub person: Person,
    pub session: Option<SessionRow>,
    /// (dialog id, days, local time, active), by dialog id.
    pub schedules: Vec<(String, String, String, bool)>,
    pub unreachable: bool,
    pub next_session_id: SessionId,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A transaction. One from [`Store::begin_write`] also holds this process's turn to write
/// until it commits, rolls back or is dropped.
pub struct Tx {
    inner: sqlx::Transaction<'static, Sqlite>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.inner.rollback().await
    }
}

impl Deref for Tx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.inner
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.inner
    }
}
/// A connection inside a transaction, as the store's functions take it.
pub type Conn = SqliteConnection;
/// A savepoint inside a transaction.
pub type Savepoint<'c> = sqlx::Transaction<'c, Sqlite>;

/// Whether an error came from the database itself (busy, I/O, full disk) rather than from
/// the data: such errors are retried as a whole, never held against an update. A broken
/// constraint (unique, foreign key, not null, check) is the update's own problem: it would
/// fail the same way every time, so it counts against that update (and is set aside after
/// a few tries) instead of holding up every chat.
pub fn is_database_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| match c.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(db)) => matches!(db.kind(), sqlx::error::ErrorKind::Other),
        Some(_) => true,
        None => false,
    })
}

/// Held while a `serve` process owns a database file: a second process on the same file
/// is refused (its processor and delivery worker would double-send, and the 30/s pacing
/// would no longer be global). Released by the OS when the process ends, however it ends.
#[derive(Debug)]
pub struct InstanceLock {
    _file: Option<std::fs::File>,
}

impl InstanceLock {
    pub fn acquire(url: &str) -> anyhow::Result<InstanceLock> {
        let Some(path) = file_path(url) else {
            return Ok(InstanceLock { _file: None }); // in memory: nothing to share
        };
        let lock_path = format!("{path}.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open the lock file {lock_path}"))?;
        match file.try_lock() {
            Ok(()) => Ok(InstanceLock { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another staywell process is already serving this database ({path}); only one may run"
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(anyhow::Error::new(e).context(format!("cannot lock {lock_path}")))
            }
        }
    }
}

/// The file behind a `sqlite:` URL (`None` for in-memory databases).
fn file_path(url: &str) -> Option<String> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| path.to_string())
}

#[derive(Clone, Debug)]
pub struct Store {
    pub(super) pool: SqlitePool,
    /// Turns to write, first come first served (see [`Store::begin_write`]).
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`).
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Self::open(url, true).await
    }

    /// Opens an existing database; `Ok(None)` if the file does not exist yet.
    pub async fn connect_existing(url: &str) -> anyhow::Result<Option<Store>> {
        if let Some(path) = file_path(url)
            && !std::path::Path::new(&path).exists()
        {
            return Ok(None);
        }
        Self::open(url, false).await.map(Some)
    }

    async fn open(url: &str, create: bool) -> anyhow::Result<Store> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| "DATABASE_URL is not a valid sqlite URL")?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool = SqlitePoolOptions::new().max_connections(if in_memory { 1 } else { 4 });
        if in_memory {
            // The one connection *is* the database: never let the pool retire it (by default
            // after 10 idle minutes or 30 minutes of life), or a long `chat` or `simulate`
            // run would go on with an empty database ("no such table").
            pool = pool
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .context("cannot open the database")?;
        Ok(Store {
            pool,
            writers: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("database migration failed")?;
        Ok(())
    }

    /// Reachability and migration state, for `staywell check`.
    pub async fn pending_migrations(&self) -> anyhow::Result<usize> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("database is not reachable")?;
        // No migrations table yet means nothing is applied.
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = 1")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        Ok(MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn begin(&self) -> anyhow::Result<Tx> {
        Ok(Tx {
            inner: self.pool.begin().await?,
            _turn: None,
        })
    }

    /// A write transaction that takes SQLite's write lock at once (so it can never fail
    /// half-way with a stale snapshot, and two writers queue instead of racing).
    ///
    /// Writers in this process first wait for their turn, in the order they asked. SQLite
    /// alone is not fair: a writer kept waiting by its busy handler retries after sleeps
    /// growing to 100 ms, so one that commits and begins again at once (the scheduler's
    /// batches at a peak) would win every time and keep a reply waiting for the whole run.
    /// With turns, a reply waits for at most the batch in progress.
    pub async fn begin_write(&self) -> anyhow::Result<Tx> {
        let turn = self.writers.clone().lock_owned().await;
        Ok(Tx {
            inner: self.pool.begin_with("BEGIN IMMEDIATE").await?,
            _turn: Some(turn),
        })
    }

    /// The cheapest statement there is, for measuring what one statement costs on its way
    /// to SQLite and back (`cargo bench --bench store`).
    pub async fn round_trip(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT 1").fetch_one(&self.pool).await?)
    }

    /// An empty write transaction (`BEGIN IMMEDIATE`, `COMMIT`) with the writers' turn.
    pub async fn empty_write(&self) -> anyhow::Result<()> {
        Ok(self.begin_write().await?.commit().await?)
    }

    /// A savepoint: rolled back alone if what happens inside it fails.
    pub async fn savepoint(tx: &mut Conn) -> anyhow::Result<Savepoint<'_>> {
        Ok(sqlx::Connection::begin(tx).await?)
    }

    // ---- ingestion ----------------------------------------------------------------------

    /// The offset the next `getUpdates` must send (0 before the first update).
    pub async fn next_offset(&self) -> anyhow::Result<i64> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT next_offset FROM telegram_cursor WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    /// Stores a `getUpdates` batch and the offset that confirms it, in one transaction.
    /// Already-known update ids are ignored. Returns how many rows were new.
    pub async fn save_updates(
        &self,
        batch: &[Incoming],
        next_offset: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let mut tx = self.begin_write().await?;
        let mut inserted = 0;
        for inc in batch {
            let payload = serde_json::to_string(inc)?;
            let r = sqlx::query(
                "INSERT INTO inbox (update_id, chat_id, kind, payload, received_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
            )
            .bind(inc.update_id.0)
            .bind(inc.chat.map(|c| c.0))
            .bind(&inc.kind)
            .bind(payload)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            inserted += r.rows_affected();
        }
        sqlx::query(
            "INSERT INTO telegram_cursor (id, next_offset) VALUES (1, ?)
             ON CONFLICT (id) DO UPDATE SET next_offset = excluded.next_offset",
        )
        .bind(next_offset)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Unprocessed inbox rows, oldest first (so each chat's updates stay in order).
    pub async fn unprocessed(&self, limit: i64) -> anyhow::Result<Vec<InboxRow>> {
        let rows = sqlx::query(
            "SELECT update_id, chat_id, attempts, payload FROM inbox
             WHERE processed_at IS NULL ORDER BY update_id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| InboxRow {
                update_id: UpdateId(r.get(0)),
                chat: r.get::<Option<i64>, _>(1).map(ChatId),
                attempts: r.get(2),
                payload: r.get(3),
            })
            .collect())
    }

    /// Marks an update processed and erases its payload (which may hold message text).
    /// Returns false if it was already processed (by someone else): the caller must then
    /// undo whatever it did for it.
    pub async fn mark_processed(
        tx: &mut SqliteConnection,
        update: UpdateId,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> anyhow::Result<bool> {
        let r = sqlx::query(
            "UPDATE inbox SET processed_at = ?, payload = NULL, error = ?
             WHERE update_id = ? AND processed_at IS NULL",
        )
        .bind(ms(now))
        .bind(error)
        .bind(update.0)
        .execute(tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Forgets what is no longer needed: processed inbox rows after 2 days (Telegram keeps
    /// updates for 24 h, so none can come back) and finished outbox rows after 7 days.
    /// Returns (inbox rows, outbox rows) removed.
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<(u64, u64)> {
        let inbox =
            sqlx::query("DELETE FROM inbox WHERE processed_at IS NOT NULL AND processed_at < ?")
                .bind(ms(now - chrono::Duration::days(2)))
                .execute(&self.pool)
                .await?
                .rows_affected();
        let outbox = sqlx::query(
            "DELETE FROM outbox
             WHERE state IN ('sent', 'failed', 'ambiguous', 'unreachable', 'cancelled') AND created_at < ?",
        )
        .bind(ms(now - chrono::Duration::days(7)))
        .execute(&self.pool)
        .await?
        .rows_affected();
        let mut tx = self.begin_write().await?;
        Self::expire_invites(&mut tx, now).await?;
        tx.commit().await?;
        Ok((inbox, outbox))
    }

    /// Records a failed processing attempt (the row stays unprocessed for a retry).
    pub async fn record_processing_failure(
        &self,
        update: UpdateId,
        error: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE inbox SET attempts = attempts + 1, error = ? WHERE update_id = ?")
            .bind(error)
            .bind(update.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn unprocessed_count(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE processed_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    // ---- people -------------------------------------------------------------------------

    pub async fn load_person(tx: &mut SqliteConnection, chat: ChatId) -> anyhow::Result<Person> {
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
        Ok(Person::new(chat, member))
    }

    /// Everything the processor reads about a chat before it decides, in one statement: the
    /// person, their open session, their schedules (by dialog id), whether the chat is
    /// marked unreachable, and the id the next session will get. One statement, not five:
    /// each is a hand-off to SQLite's worker thread and back, and this runs for every update.
    pub async fn load_for_update(
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
                     FROM schedules WHERE member_id = m.id)
             FROM (SELECT ?1 AS chat_id) AS one
             LEFT JOIN members m ON m.chat_id = one.chat_id
             LEFT JOIN sessions s ON s.id = (
                 SELECT id FROM sessions
                 WHERE member_id = m.id AND status IN ('active', 'paused') AND expires_at > ?2
                 ORDER BY id DESC LIMIT 1)"
        ))
        .bind(chat.0)
        .bind(ms(now))
        .fetch_one(tx)
        .await?;
        let member = member_from(&r)?;
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
        Ok(UpdateRead {
            person: Person::new(chat, member),
            session,
            schedules: schedules
                .into_iter()
                .map(|(dialog, days, time, active)| (dialog, days, time, active != 0))
                .collect(),
            unreachable: r.get::<Option<bool>, _>(10).unwrap_or(false),
            next_session_id: SessionId(r.get::<Option<i64>, _>(11).unwrap_or(0) + 1),
        })
    }

    /// Applies the conversation's changes for `chat`, in order. Returns messages the
    /// changes themselves produce (an export's file), to be queued after the outcome's own.
    pub async fn apply_changes(
        tx: &mut SqliteConnection,
        chat: ChatId,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Envelope>> {
        let mut follow_ups = Vec::new();
        let mut skip_next = false;
        for (i, change) in changes.iter().enumerate() {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            match change {
                Change::CreateMember {
                    user,
                    consent_wording,
                    consent_version,
                } => {
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
                }
                Change::Reconsent {
                    consent_wording,
                    consent_version,
                } => {
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
                    sqlx::query("UPDATE members SET stopped_at = NULL WHERE chat_id = ?")
                        .bind(chat.0)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::RegisterButtons(buttons) => {
                    Self::register_buttons(&mut *tx, buttons, now).await?
                }
                Change::UseButtons { group } => Self::use_buttons(&mut *tx, group, now).await?,
                Change::CreateInvite {
                    member,
                    token_hash,
                    role,
                    expires_at,
                } => {
                    Self::create_invite(
                        &mut *tx,
                        chat,
                        *member,
                        token_hash,
                        *role,
                        *expires_at,
                        now,
                    )
                    .await?
                }
                Change::InviteFailed => Self::invite_failed(&mut *tx, chat, now).await?,
                Change::AcceptInvite {
                    invite,
                    user,
                    name,
                    username,
                } => {
                    Self::accept_invite(
                        &mut *tx,
                        chat,
                        *invite,
                        *user,
                        name,
                        username.as_deref(),
                        now,
                    )
                    .await?
                }
                Change::DeclineInvite { invite } => {
                    Self::decline_invite(&mut *tx, chat, *invite, now).await?
                }
                Change::ConfirmTie {
                    tie,
                    role,
                    wording,
                    version,
                } => Self::confirm_tie(&mut *tx, chat, *tie, *role, wording, *version, now).await?,
                Change::EndTie { tie, why } => {
                    Self::end_tie(&mut *tx, chat, *tie, why, now).await?
                }
                Change::MoveUp { tie } => Self::move_up(&mut *tx, chat, *tie, now).await?,
                Change::SetAway { until } => Self::set_away(&mut *tx, chat, *until, now).await?,
                Change::RevokeConsent { consent } => {
                    Self::revoke_consent(&mut *tx, chat, *consent, now).await?
                }
                Change::Export { summary, caption } => follow_ups
                    .extend(Self::export_messages(&mut *tx, chat, summary, caption, now).await?),
                Change::Erase { through } => Self::erase(&mut *tx, chat, *through, now).await?,
                Change::SetPlanRule {
                    rule,
                    wording,
                    shares,
                    version,
                } => {
                    Self::set_plan_rule(&mut *tx, chat, rule, wording, shares, *version, now)
                        .await?
                }
                Change::TurnOffRule { rule } => {
                    Self::turn_off_rule(&mut *tx, chat, rule, now).await?
                }
                Change::SetCopingNotes(notes) => {
                    Self::set_coping_notes(&mut *tx, chat, notes.as_deref()).await?
                }
                Change::AckAlert { alert, how } => {
                    Self::ack_alert(&mut *tx, chat, *alert, how, now).await?
                }
                Change::ShareChart {
                    tie,
                    wording,
                    version,
                    chart,
                } => Self::share_chart(&mut *tx, chat, *tie, wording, *version, chart, now).await?,
                Change::SetPlanSettings {
                    settings,
                    wording,
                    version,
                } => {
                    Self::set_plan_settings(&mut *tx, chat, *settings, wording, *version, now)
                        .await?
                }
                // Answered by `early_warning` after the changes are applied.
                Change::AnswerAsk { .. } => {}
                Change::SetName(name) => {
                    sqlx::query("UPDATE members SET display_name = ? WHERE chat_id = ?")
                        .bind(name)
                        .bind(chat.0)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::SetTimezone(tz) => {
                    sqlx::query("UPDATE members SET timezone = ? WHERE chat_id = ?")
                        .bind(tz)
                        .bind(chat.0)
                        .execute(&mut *tx)
                        .await?;
                    // Schedules are in local time: their next occurrence moves with the zone.
                    Self::reschedule_in_timezone(&mut *tx, chat, tz, now).await?;
                }
                Change::SetOnboarding(step) => {
                    sqlx::query("UPDATE members SET onboarding = ? WHERE chat_id = ?")
                        .bind(step.as_str())
                        .bind(chat.0)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::Stop => {
                    // Nothing routine is sent after /stop; replies and urgent messages still are.
                    sqlx::query(
                        "UPDATE outbox SET state = 'cancelled', last_error = 'stopped'
                         WHERE chat_id = ? AND state = 'pending' AND lane BETWEEN ? AND ?",
                    )
                    .bind(chat.0)
                    .bind(Lane::Scheduled.as_i64())
                    .bind(Lane::Nudge.as_i64())
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE members SET stopped_at = ? WHERE chat_id = ? AND stopped_at IS NULL")
                        .bind(ms(now))
                        .bind(chat.0)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::Resume => {
                    sqlx::query("UPDATE members SET stopped_at = NULL WHERE chat_id = ?")
                        .bind(chat.0)
                        .execute(&mut *tx)
                        .await?;
                }
                Change::MarkUnreachable => {
                    Self::set_unreachable(&mut *tx, chat, "blocked the bot", now).await?;
                }
                Change::SetSchedule {
                    member,
                    dialog_id,
                    days,
                    time,
                    next_due,
                } => {
                    Self::set_schedule(&mut *tx, *member, dialog_id, days, time, *next_due, now)
                        .await?;
                }
                Change::SetQuietHours(q) => {
                    sqlx::query(
                        "UPDATE members SET quiet_start = ?, quiet_end = ? WHERE chat_id = ?",
                    )
                    .bind(q.start.to_string())
                    .bind(q.end.to_string())
                    .bind(chat.0)
                    .execute(&mut *tx)
                    .await?;
                    // Routine messages already waiting must respect the new quiet hours.
                    Self::hold_for_quiet_hours(&mut *tx, chat, *q).await?;
                }
                Change::SetPause { until } => {
                    sqlx::query("UPDATE members SET paused_until = ? WHERE chat_id = ?")
                        .bind(until.map(ms))
                        .bind(chat.0)
                        .execute(&mut *tx)
                        .await?;
                    if until.is_some() {
                        // Nothing routine is sent during a pause.
                        sqlx::query(
                            "UPDATE outbox SET state = 'cancelled', last_error = 'paused'
                             WHERE chat_id = ? AND state = 'pending' AND lane BETWEEN ? AND ?",
                        )
                        .bind(chat.0)
                        .bind(Lane::Scheduled.as_i64())
                        .bind(Lane::Nudge.as_i64())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                Change::StartSession {
                    id,
                    dialog_id,
                    version,
                    expires_at,
                } => {
                    sqlx::query(
                        "UPDATE sessions SET status = 'expired', updated_at = ?
                         WHERE member_id = (SELECT id FROM members WHERE chat_id = ?)
                           AND status IN ('active', 'paused')",
                    )
                    .bind(ms(now))
                    .bind(chat.0)
                    .execute(&mut *tx)
                    .await?;
                    // The session's first state usually follows at once: write it with the row.
                    let (status, state) = match changes.get(i + 1) {
                        Some(Change::SaveSession {
                            id: next,
                            status,
                            state,
                        }) if next == id => {
                            skip_next = true;
                            (*status, serde_json::to_string(state)?)
                        }
                        _ => ("active", "{}".to_string()),
                    };
                    sqlx::query(
                        "INSERT INTO sessions (id, member_id, dialog_id, dialog_version, status, state,
                                               started_at, updated_at, expires_at, completed_at)
                         SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? = 'completed' THEN ? END
                         FROM members WHERE chat_id = ?",
                    )
                    .bind(id.0)
                    .bind(dialog_id)
                    .bind(version)
                    .bind(status)
                    .bind(state)
                    .bind(ms(now))
                    .bind(ms(now))
                    .bind(ms(*expires_at))
                    .bind(status)
                    .bind(ms(now))
                    .bind(chat.0)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::SaveSession { id, status, state } => {
                    sqlx::query(
                        "UPDATE sessions SET status = ?, state = ?, updated_at = ?,
                                completed_at = CASE WHEN ? = 'completed' THEN ? ELSE completed_at END
                         WHERE id = ?",
                    )
                    .bind(*status)
                    .bind(serde_json::to_string(state)?)
                    .bind(ms(now))
                    .bind(*status)
                    .bind(ms(now))
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::StoreAnswers {
                    session,
                    member,
                    dialog_id,
                    version,
                    answers,
                } => {
                    for a in answers {
                        let value = match &a.answer {
                            crate::dialog::Answer::Answered(v) => Some(serde_json::to_string(v)?),
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
                }
            }
        }
        Ok(follow_ups)
    }

    /// The id the next session will get (the processor is the only writer of sessions).
    pub async fn next_session_id(tx: &mut SqliteConnection) -> anyhow::Result<SessionId> {
        let max: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM sessions")
            .fetch_one(tx)
            .await?;
        Ok(SessionId(max.unwrap_or(0) + 1))
    }

    /// Records each current dialog version (never replacing one). Returns the ids whose
    /// stored hash differs from the file's: their meaning changed without a version bump.
    pub async fn snapshot_dialogs(
        &self,
        dialogs: &[(String, i64, String, String)],
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<(String, i64, String)>> {
        let mut tx = self.pool.begin().await?;
        let mut conflicts = Vec::new();
        for (id, version, hash, source) in dialogs {
            sqlx::query(
                "INSERT INTO dialog_versions (dialog_id, version, hash, source, first_seen_at)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (dialog_id, version) DO NOTHING",
            )
            .bind(id)
            .bind(version)
            .bind(hash)
            .bind(source)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            let stored: String = sqlx::query_scalar(
                "SELECT hash FROM dialog_versions WHERE dialog_id = ? AND version = ?",
            )
            .bind(id)
            .bind(version)
            .fetch_one(&mut *tx)
            .await?;
            if &stored != hash {
                conflicts.push((id.clone(), *version, stored));
            }
        }
        tx.commit().await?;
        Ok(conflicts)
    }

    /// The stored content hash of a dialog version, if this database has seen it (read-only:
    /// a database from before dialogs existed simply has none).
    pub async fn dialog_hash(&self, id: &str, version: i64) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT hash FROM dialog_versions WHERE dialog_id = ? AND version = ?",
        )
        .bind(id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .unwrap_or(None))
    }

    /// Every snapshotted dialog version: (id, version, source).
    pub async fn dialog_snapshots(&self) -> anyhow::Result<Vec<(String, i64, String)>> {
        let rows = sqlx::query(
            "SELECT dialog_id, version, source FROM dialog_versions ORDER BY dialog_id, version",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Recomputes the next occurrence of each of the chat's active schedules in `tz`.
    async fn reschedule_in_timezone(
        tx: &mut SqliteConnection,
        chat: ChatId,
        tz: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let Ok(tz) = tz.parse::<chrono_tz::Tz>() else {
            return Ok(());
        };
        let rows = sqlx::query(
            "SELECT s.id, s.days, s.local_time FROM schedules s JOIN members m ON m.id = s.member_id
             WHERE m.chat_id = ? AND s.next_due_at IS NOT NULL",
        )
        .bind(chat.0)
        .fetch_all(&mut *tx)
        .await?;
        for r in rows {
            let (id, days, time): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
            let next = match (crate::schedule::Days::parse(&days), LocalTime::parse(&time)) {
                (Some(days), Some(time)) => crate::schedule::Recurrence { days, time, tz }
                    .next_after(now)
                    .map(|(_, t)| t),
                _ => None,
            };
            sqlx::query("UPDATE schedules SET next_due_at = ? WHERE id = ?")
                .bind(next.map(ms))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// Moves the chat's waiting routine messages (scheduled, nudges) out of quiet hours.
    async fn hold_for_quiet_hours(
        tx: &mut SqliteConnection,
        chat: ChatId,
        quiet: QuietHours,
    ) -> anyhow::Result<()> {
        let tz: Option<String> =
            sqlx::query_scalar("SELECT timezone FROM members WHERE chat_id = ?")
                .bind(chat.0)
                .fetch_optional(&mut *tx)
                .await?;
        let tz: chrono_tz::Tz = tz
            .and_then(|t| t.parse().ok())
            .unwrap_or(chrono_tz::Europe::London);
        let rows = sqlx::query("SELECT id, not_before FROM outbox WHERE chat_id = ? AND state = 'pending' AND lane BETWEEN ? AND ?")
            .bind(chat.0)
            .bind(Lane::Scheduled.as_i64())
            .bind(Lane::Nudge.as_i64())
            .fetch_all(&mut *tx)
            .await?;
        for r in rows {
            let (id, at): (i64, i64) = (r.get(0), r.get(1));
            let allowed = quiet.next_allowed(from_ms(at), tz);
            if ms(allowed) != at {
                sqlx::query("UPDATE outbox SET not_before = ? WHERE id = ?")
                    .bind(ms(allowed))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn set_unreachable(
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
    pub async fn set_reachable(tx: &mut SqliteConnection, chat: ChatId) -> anyhow::Result<()> {
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

    pub async fn person(&self, chat: ChatId) -> anyhow::Result<Person> {
        let mut conn = self.pool.acquire().await?;
        Self::load_person(&mut conn, chat).await
    }
}

#[cfg(test)]
mod tests {
    use super::Store;

    #[tokio::test]
    async fn an_in_memory_database_keeps_its_one_connection_for_as_long_as_it_runs() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let options = store.pool.options();
        assert_eq!(options.get_max_connections(), 1);
        assert_eq!(options.get_min_connections(), 1);
        assert_eq!(
            options.get_max_lifetime(),
            None,
            "retiring it empties the database"
        );
        assert_eq!(
            options.get_idle_timeout(),
            None,
            "closing it empties the database"
        );
    }

    #[tokio::test]
    async fn a_members_history_is_read_by_index() {
        use super::super::plans::{HISTORY_ANSWERS, HISTORY_SESSIONS, HISTORY_SLOTS};
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        for sql in [HISTORY_SLOTS, HISTORY_SESSIONS, HISTORY_ANSWERS] {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
            for _ in 0..sql.matches('?').count() {
                q = q.bind(0);
            }
            let plan: Vec<String> = q
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| sqlx::Row::get(r, 3))
                .collect();
            assert!(!plan.is_empty(), "no plan for {sql}");
            for step in &plan {
                assert!(!step.starts_with("SCAN"), "{step} in the plan of {sql}");
            }
        }
    }
}
