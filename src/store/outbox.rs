//! The outbox: queuing messages (inside a unit of work) and delivering them.

use std::future::Future;

use super::*;

/// Queuing messages inside a unit of work: every message leaves by the outbox, in the transaction
/// that made it.
pub trait Messages {
    /// Queues outgoing calls (inside the caller's transaction).
    fn enqueue(
        &mut self,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<OutboxId>, StoreError>> + Send;
    /// Queues outgoing calls not to be sent before `not_before` (quiet hours), in one
    /// statement. Returns their ids, in order.
    fn enqueue_at(
        &mut self,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<OutboxId>, StoreError>> + Send;
    /// Cancels the chat's routine rows still waiting (scheduled prompts and nudges; replies
    /// and urgent rows still go), with `reason` as their error: /stop, a pause.
    fn cancel_routine(
        &mut self,
        chat: ChatId,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The chat's routine rows still waiting (scheduled prompts and nudges): id and the
    /// earliest time each may go.
    fn routine_waiting(
        &mut self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Vec<(OutboxId, DateTime<Utc>)>, StoreError>> + Send;
    /// A waiting row goes no earlier than `at`.
    fn postpone(
        &mut self,
        id: OutboxId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Delivery's operations on the outbox, each one unit of work: what is due, claiming a
/// round, recording its results, crash recovery. Each takes the writers' turn itself: never
/// call one while holding a [`Work`] (it would wait for that unit of work to end).
pub trait Outbox {
    /// Rows that may be sent at `now`: pending, due, and first in their chat's queue (no
    /// earlier row of the same or a more urgent lane is still pending or being sent), most
    /// urgent lane first, then oldest first. A more urgent row may overtake a routine one,
    /// and a callback answer (`overtakes`) any of its chat's rows.
    /// Each says whether its chat has another row due now (read by the chat's queue index:
    /// `outbox_chat` would walk every message the chat was ever sent). With them, whether they
    /// are all there are: fewer than `limit`, and none unreadable (an unreadable one is failed
    /// here, and the row behind it may be due at once). Empty only when nothing is due.
    fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<(Vec<OutboxRow>, bool), StoreError>> + Send;
    /// Drops keyboard collapses (the tidy lane) queued before `before` and still waiting:
    /// under sustained load they would otherwise grow without bound, and by now a press on
    /// the old keyboard is answered as a stale button. Returns how many were dropped.
    fn expire_tidy(
        &self,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// When the earliest pending row becomes due (for the delivery loop's sleep).
    fn next_outbox_due(
        &self,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
    /// The next moment anything is due in a virtual world (`chat`, `simulate`): a schedule,
    /// a slot, an escalation, a delivery.
    fn next_event(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
    /// Marks rows as being sent, just before the requests go out. Returns the rows actually
    /// claimed: a row cancelled or claimed elsewhere in the meantime is not among them and
    /// must not be sent.
    fn claim(
        &self,
        ids: &[OutboxId],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<OutboxId>, StoreError>> + Send;
    /// The paced calls (messages, photos, documents, edits: not callback answers) that may
    /// have reached Telegram since `since`, oldest first: what a restarted delivery must
    /// still count. A call leaves after its claim commits and before its result is recorded,
    /// so each is placed late, never early: at its recorded result (`sent_at`), or at `now`
    /// if it was still `sending` (in flight when the process stopped, or its result not yet
    /// recorded), or else at its claim.
    fn recent_departures(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(ChatId, DateTime<Utc>)>, StoreError>> + Send;
    /// Records a batch of delivery results in one transaction. Each applies only to a row
    /// still `sending` (a row cancelled meanwhile keeps its state).
    fn record(
        &self,
        records: &[DeliveryRecord],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Rows left `sending` by a crash: the request may or may not have reached Telegram.
    fn interrupted(&self) -> impl Future<Output = Result<Vec<Interrupted>, StoreError>> + Send;
    fn outbox_counts(&self) -> impl Future<Output = Result<OutboxCounts, StoreError>> + Send;
}
