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

use crate::domain::{ChatId, Incoming, SessionId, Unreadable, UpdateId};
use crate::store::{InboxRow, StoreError};

/// The `error` of an inbox row stored set aside because Telegram's update could not be read.
pub const UNREADABLE_UPDATE: &str = "unreadable update";
/// The `error` of an inbox row the processor set aside after failing on it repeatedly.
pub const SET_ASIDE_AFTER_FAILURES: &str = "set aside after repeated failures";

pub(super) mod circle;
mod consents;
mod contract;
pub(super) mod invites;
pub(super) mod outbox;
pub(super) mod people;
pub(super) mod plans;
mod privacy;
pub(super) mod schedules;
pub(super) mod simulate;
mod week;

/// The status an open session (`active`, `paused`) takes when another check-in starts: still
/// inside its window (the first `?`, now), it is put `aside` and can be finished later;
/// otherwise it has `expired`. (`aside` sessions are never the open one: they come back
/// only when the member asks, `Change::ResumeSession`.)
const PUT_ASIDE: &str = "CASE WHEN expires_at > ? THEN 'aside' ELSE 'expired' END";

/// Times are stored as milliseconds since the Unix epoch.
fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A transaction. One from [`Store::begin_write`] also holds this process's turn to write
/// until it commits, rolls back or is dropped.
pub struct Tx {
    inner: sqlx::Transaction<'static, Sqlite>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Held while a `serve` process owns a database file: a second process on the same file
/// is refused (its processor and delivery worker would double-send, and the 30/s pacing
/// would no longer be global). Released by the OS when the process ends, however it ends.
#[derive(Debug)]
pub struct InstanceLock {
    _file: Option<std::fs::File>,
}

#[derive(Clone, Debug)]
pub struct Store {
    pub(super) pool: SqlitePool,
    /// Turns to write, first come first served (see [`Store::begin_write`]).
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.inner.commit().await.map_err(anyhow::Error::from)?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.inner.rollback().await.map_err(anyhow::Error::from)?)
    }
}

impl Deref for Tx {
    type Target = Work;
    fn deref(&self) -> &Work {
        Work::of(&self.inner)
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Work {
        Work::of_mut(&mut self.inner)
    }
}

/// A unit of work in progress: what the contract's in-transaction operations run on. Opaque
/// outside the store (it is SQLite's connection inside a transaction).
#[repr(transparent)]
pub struct Work(SqliteConnection);

impl Work {
    fn of(c: &SqliteConnection) -> &Work {
        // SAFETY: `Work` is `repr(transparent)` over `SqliteConnection`.
        unsafe { &*(c as *const SqliteConnection as *const Work) }
    }

    fn of_mut(c: &mut SqliteConnection) -> &mut Work {
        // SAFETY: `Work` is `repr(transparent)` over `SqliteConnection`.
        unsafe { &mut *(c as *mut SqliteConnection as *mut Work) }
    }

    /// A savepoint: rolled back alone if what happens inside it fails.
    pub async fn savepoint(&mut self) -> Result<Savepoint<'_>, StoreError> {
        Ok(Savepoint(
            sqlx::Connection::begin(&mut self.0)
                .await
                .map_err(anyhow::Error::from)?,
        ))
    }
}

/// A savepoint inside a unit of work.
pub struct Savepoint<'c>(sqlx::Transaction<'c, Sqlite>);

impl Savepoint<'_> {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.0.commit().await.map_err(anyhow::Error::from)?)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        Ok(self.0.rollback().await.map_err(anyhow::Error::from)?)
    }
}

impl Deref for Savepoint<'_> {
    type Target = Work;
    fn deref(&self) -> &Work {
        Work::of(&self.0)
    }
}

impl DerefMut for Savepoint<'_> {
    fn deref_mut(&mut self) -> &mut Work {
        Work::of_mut(&mut self.0)
    }
}

/// How SQLite's errors map onto the contract's: the database itself failing (busy, locked,
/// I/O, a full disk, a pool timeout) is `Busy`; a broken constraint (unique, foreign key,
/// not null, check) is `Constraint`; anything else (unreadable data) is `Other`.
pub(crate) fn classify(e: anyhow::Error) -> StoreError {
    let e = match e.downcast::<StoreError>() {
        Ok(already) => return already,
        Err(e) => e,
    };
    match database_failed(&e) {
        Some(true) => StoreError::Busy(e),
        Some(false) => StoreError::Constraint(e),
        None => StoreError::Other(e),
    }
}

/// Whether an error's chain holds one of SQLite's: `Some(true)` if the database itself
/// failed, `Some(false)` if a constraint broke, `None` if there is none.
pub(crate) fn database_failed(e: &anyhow::Error) -> Option<bool> {
    e.chain()
        .find_map(|c| match c.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Database(db)) => {
                Some(matches!(db.kind(), sqlx::error::ErrorKind::Other))
            }
            Some(_) => Some(true),
            None => None,
        })
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

    // ---- ingestion ----------------------------------------------------------------------

    /// The offset the next `getUpdates` must send (0 before the first update).
    pub(in crate::store) async fn next_offset(store: &Store) -> anyhow::Result<i64> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT next_offset FROM telegram_cursor WHERE id = 1")
                .fetch_optional(&store.pool)
                .await?;
        Ok(v.unwrap_or(0))
    }

    /// Stores a `getUpdates` batch and the offset that confirms it, in one transaction.
    /// Already-known update ids are ignored. Returns how many rows were new.
    pub(in crate::store) async fn save_updates(
        store: &Store,
        batch: &[Incoming],
        next_offset: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        Store::save_batch(store, batch, &[], next_offset, now).await
    }

    /// [`Store::save_updates`], with the updates of the batch that could not be read: each
    /// is stored already set aside (processed, no chat, no payload, error
    /// [`UNREADABLE_UPDATE`]), so the processor never sees it, `staywell check` counts it,
    /// and its offset is confirmed like any other's.
    pub(in crate::store) async fn save_batch(
        store: &Store,
        batch: &[Incoming],
        unreadable: &[Unreadable],
        next_offset: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let mut tx = store.begin_write().await?;
        let mut inserted = 0;
        for u in unreadable {
            let r = sqlx::query(
                "INSERT INTO inbox (update_id, chat_id, kind, payload, received_at, processed_at, error)
                 VALUES (?, NULL, ?, NULL, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
            )
            .bind(u.update_id.0)
            .bind(&u.kind)
            .bind(ms(now))
            .bind(ms(now))
            .bind(UNREADABLE_UPDATE)
            .execute(&mut *tx.inner)
            .await?;
            inserted += r.rows_affected();
        }
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
            .execute(&mut *tx.inner)
            .await?;
            inserted += r.rows_affected();
        }
        sqlx::query(
            "INSERT INTO telegram_cursor (id, next_offset) VALUES (1, ?)
             ON CONFLICT (id) DO UPDATE SET next_offset = excluded.next_offset",
        )
        .bind(next_offset)
        .execute(&mut *tx.inner)
        .await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Unprocessed inbox rows, oldest first (so each chat's updates stay in order).
    pub(in crate::store) async fn unprocessed(
        store: &Store,
        limit: i64,
    ) -> anyhow::Result<Vec<InboxRow>> {
        let rows = sqlx::query(
            "SELECT update_id, chat_id, attempts, payload FROM inbox
             WHERE processed_at IS NULL ORDER BY update_id LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&store.pool)
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
    pub(in crate::store) async fn mark_processed(
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
    pub(in crate::store) async fn sweep(
        store: &Store,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(u64, u64)> {
        let inbox =
            sqlx::query("DELETE FROM inbox WHERE processed_at IS NOT NULL AND processed_at < ?")
                .bind(ms(now - chrono::Duration::days(2)))
                .execute(&store.pool)
                .await?
                .rows_affected();
        let outbox = sqlx::query(
            "DELETE FROM outbox
             WHERE state IN ('sent', 'failed', 'ambiguous', 'unreachable', 'cancelled') AND created_at < ?",
        )
        .bind(ms(now - chrono::Duration::days(7)))
        .execute(&store.pool)
        .await?
        .rows_affected();
        let mut tx = store.begin_write().await?;
        Self::expire_invites(&mut tx.inner, now).await?;
        tx.commit().await?;
        Ok((inbox, outbox))
    }

    /// Records a failed processing attempt (the row stays unprocessed for a retry).
    pub(in crate::store) async fn record_processing_failure(
        store: &Store,
        update: UpdateId,
        error: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE inbox SET attempts = attempts + 1, error = ? WHERE update_id = ?")
            .bind(error)
            .bind(update.0)
            .execute(&store.pool)
            .await?;
        Ok(())
    }

    /// Updates set aside and still in the inbox (processed rows are kept 2 days):
    /// (unreadable ones, ones that failed repeatedly).
    pub(in crate::store) async fn set_aside_counts(store: &Store) -> anyhow::Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT coalesce(sum(error = ?), 0), coalesce(sum(error = ?), 0)
             FROM inbox WHERE processed_at IS NOT NULL AND error IS NOT NULL",
        )
        .bind(UNREADABLE_UPDATE)
        .bind(SET_ASIDE_AFTER_FAILURES)
        .fetch_one(&store.pool)
        .await?;
        Ok((row.get(0), row.get(1)))
    }

    pub(in crate::store) async fn unprocessed_count(store: &Store) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM inbox WHERE processed_at IS NULL")
                .fetch_one(&store.pool)
                .await?,
        )
    }

    /// The id the next session will get (the processor is the only writer of sessions).
    pub(in crate::store) async fn next_session_id(
        tx: &mut SqliteConnection,
    ) -> anyhow::Result<SessionId> {
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
        use super::plans::{HISTORY_ANSWERS, HISTORY_SESSIONS, HISTORY_SLOTS};
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
