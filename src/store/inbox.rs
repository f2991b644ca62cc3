//! The inbox: storing updates and marking them processed.

use std::future::Future;
use std::pin::Pin;

use super::*;

/// Marking updates processed inside a unit of work.
pub trait Updates {
    /// Marks an update processed and erases its payload (which may hold message text).
    /// Returns false if it was already processed (by someone else): the caller must then
    /// undo whatever it did for it.
    fn mark_processed(
        &mut self,
        update: UpdateId,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The id the next session will get (the processor is the only writer of sessions).
    fn next_session_id(&mut self) -> impl Future<Output = Result<SessionId, StoreError>> + Send;
}

/// One step of a caller's work inside the store's unit of work.
pub type Step<'a, T> = Pin<Box<dyn Future<Output = anyhow::Result<T>> + Send + 'a>>;

/// How the processor applies one update; the store runs it inside the batch's unit of work.
pub trait UpdateHandler: Sync {
    /// Applies one update: `Ok(None)` if it turned out to be processed already (its work is
    /// then undone), else whether it changed anything the scheduler must see at once.
    fn apply<'a>(
        &'a self,
        work: &'a mut Work,
        row: &'a InboxRow,
        now: DateTime<Utc>,
    ) -> Step<'a, Option<bool>>;

    /// Gives up on an update that keeps failing (its attempts are used up): whatever the
    /// person must still hear, and the row marked processed with its error.
    fn set_aside<'a>(
        &'a self,
        work: &'a mut Work,
        row: &'a InboxRow,
        now: DateTime<Utc>,
    ) -> Step<'a, ()>;
}

/// What processing a batch came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// Some update changed what the scheduler must see at once.
    pub touched: bool,
    /// Updates that failed on their own and will be tried again.
    pub failed: usize,
}

/// Ingestion's and processing's operations on the inbox, each one unit of work: storing a
/// batch of updates with its offset, reading what waits, processing a batch, sweeping.
/// Like [`Outbox`]'s, never call one while holding a [`Work`].
pub trait Inbox {
    /// The offset the next `getUpdates` must send (0 before the first update).
    fn next_offset(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Stores a `getUpdates` batch and the offset that confirms it, in one transaction.
    /// Already-known update ids are ignored. Returns how many rows were new.
    fn save_updates(
        &self,
        batch: &[Incoming],
        next_offset: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// [`Store::save_updates`], with the updates of the batch that could not be read: each
    /// is stored already set aside (processed, no chat, no payload, error
    /// [`UNREADABLE_UPDATE`]), so the processor never sees it, `staywell check` counts it,
    /// and its offset is confirmed like any other's.
    fn save_batch(
        &self,
        batch: &[Incoming],
        unreadable: &[Unreadable],
        next_offset: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Unprocessed inbox rows, oldest first (so each chat's updates stay in order).
    fn unprocessed(
        &self,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<InboxRow>, StoreError>> + Send;
    /// Forgets what is no longer needed: processed inbox rows after 2 days (Telegram keeps
    /// updates for 24 h, so none can come back) and finished outbox rows after 7 days.
    /// Returns (inbox rows, outbox rows) removed.
    fn sweep(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(u64, u64), StoreError>> + Send;
    /// Records a failed processing attempt (the row stays unprocessed for a retry).
    fn record_processing_failure(
        &self,
        update: UpdateId,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Updates set aside and still in the inbox (processed rows are kept 2 days):
    /// (unreadable ones, ones that failed repeatedly).
    fn set_aside_counts(&self) -> impl Future<Output = Result<(i64, i64), StoreError>> + Send;
    fn unprocessed_count(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;
    /// Processes a batch of updates as one unit of work, each update in its own savepoint
    /// so one bad update cannot undo or block the others:
    /// - the database itself failing fails the whole batch: nothing is kept, nothing is
    ///   held against any update;
    /// - an update failing on its own is undone and counted against it, and after
    ///   `max_attempts` set aside ([`UpdateHandler::set_aside`]);
    /// - while one of a chat's updates is failing, that chat's later updates wait, so each
    ///   chat's updates are always applied in order.
    fn process(
        &self,
        rows: &[InboxRow],
        max_attempts: i64,
        handler: &dyn UpdateHandler,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Processed, StoreError>> + Send;
}
