//! Processes stored updates: for each, the state it changes, the messages it causes and
//! marking it processed commit together. A batch shares one transaction (one fsync) with a
//! savepoint per update, so one bad update cannot undo or block the others.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::CrashPoint;
use crate::content::Content;
use crate::conversation::{self, OpenSession};
use crate::dialog::{CHECKIN_DIALOG, Registry};
use crate::domain::{Incoming, Input};
use crate::store::{InboxRow, Store};

/// After this many failed attempts an update is set aside (marked processed with its error)
/// so it cannot block the inbox.
const MAX_ATTEMPTS: i64 = 3;
const BATCH: i64 = 200;

pub struct Processor {
    pub store: Store,
    pub content: Arc<Content>,
    pub dialogs: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub inbox_ready: Arc<Notify>,
    pub outbox_ready: Arc<Notify>,
    pub crash_at: Option<CrashPoint>,
}

impl Processor {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            loop {
                match self.process_batch().await {
                    Ok(0) => break,
                    Ok(_) => {
                        if *stop.borrow() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "inbox batch failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        break;
                    }
                }
            }
            if *stop.borrow() {
                break;
            }
            tokio::select! {
                _ = self.inbox_ready.notified() => {}
                // A safety net only; the poller wakes us.
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!("inbox processor stopped");
    }

    /// Processes up to one batch of unprocessed updates. Returns how many were handled.
    pub async fn process_batch(&self) -> anyhow::Result<usize> {
        let rows = self.store.unprocessed(BATCH).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let mut failed = Vec::new();
        for row in &rows {
            let mut sp = Connection::begin(&mut *tx).await?;
            match self.handle(&mut sp, row, now).await {
                Ok(()) => sp.commit().await?,
                Err(e) => {
                    sp.rollback().await?;
                    failed.push((row, e));
                }
            }
        }
        for (row, e) in &failed {
            // Errors carry ids and kinds only, never content (see `handle`).
            tracing::error!(update_id = row.update_id.0, attempts = row.attempts + 1, error = %e, "update failed");
            if row.attempts + 1 >= MAX_ATTEMPTS {
                Store::mark_processed(
                    &mut tx,
                    row.update_id,
                    now,
                    Some("gave up after repeated failures"),
                )
                .await?;
            }
        }
        tx.commit().await?;
        for (row, _) in &failed {
            if row.attempts + 1 < MAX_ATTEMPTS {
                self.store
                    .record_processing_failure(row.update_id, "processing failed")
                    .await?;
            }
        }
        if self.crash_at == Some(CrashPoint::AfterProcessingCommit) {
            tracing::warn!("STAYWELL_CRASH_AT=after_processing_commit: aborting");
            std::process::abort();
        }
        self.outbox_ready.notify_one();
        Ok(rows.len())
    }

    async fn handle(
        &self,
        conn: &mut SqliteConnection,
        row: &InboxRow,
        now: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        let Some(payload) = &row.payload else {
            Store::mark_processed(conn, row.update_id, now, Some("no payload")).await?;
            return Ok(());
        };
        let incoming: Incoming =
            serde_json::from_str(payload).context("unreadable inbox payload")?;
        let mut replies = 0;
        if let Some(chat) = incoming.chat {
            if !matches!(incoming.input, Input::Ignored | Input::ChatBlocked) {
                Store::set_reachable(conn, chat).await?;
            }
            let mut person = Store::load_person(conn, chat).await?;
            if let Some(m) = &person.member
                && let Some(row) = Store::open_session(conn, m.id, now).await?
            {
                match self.dialogs.get(&row.dialog_id, row.version) {
                    Some(dialog) => {
                        person.session = Some(OpenSession {
                            id: row.id,
                            dialog: dialog.clone(),
                            state: row.state,
                            expires_at: row.expires_at,
                        })
                    }
                    None => tracing::error!(
                        session = row.id.0,
                        dialog = %row.dialog_id,
                        version = row.version,
                        "open session on an unknown dialog version; ignored"
                    ),
                }
            }
            let ctx = conversation::Ctx {
                content: &self.content,
                checkin: self.dialogs.current(CHECKIN_DIALOG),
                next_session_id: Store::next_session_id(conn).await?,
                now,
            };
            let outcome = conversation::respond(&person, &incoming, &ctx);
            Store::apply_changes(conn, chat, &outcome.changes, now).await?;
            Store::enqueue(conn, &outcome.out, Some(incoming.update_id), now).await?;
            replies = outcome.out.len();
        }
        Store::mark_processed(conn, row.update_id, now, None).await?;
        tracing::debug!(
            update_id = incoming.update_id.0,
            chat = incoming.chat.map(|c| c.0),
            input = incoming.input.kind(),
            replies,
            "update processed"
        );
        Ok(())
    }
}
