//! Schedules, slots and reminders.

use std::future::Future;

use super::*;

/// Schedules and slots inside a unit of work: what is due, opening and closing slots, reminders,
/// the heartbeat.
pub trait Schedules {
    /// Schedules due at or before `now`, oldest first (read inside the caller's write
    /// transaction, so a pause or an edit committed meanwhile is seen).
    fn due_schedules(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DueSchedule>, StoreError>> + Send;
    /// Slots whose opening time has come and that have not been opened, each with its
    /// member's open session and a session of its dialog completed since `done_since`. Of
    /// slots opening at the same time, the one whose window closes first comes first (the
    /// daily check-in before a weekly one due with it: the weekly waits for it, not the
    /// other way round).
    fn pending_slots(
        &mut self,
        now: DateTime<Utc>,
        done_since: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<PendingSlot>, StoreError>> + Send;
    /// Writes what a batch of pending slots comes to: outcomes, deferrals, joins, and new
    /// sessions with their first messages (one multi-row statement each, chunked), then links
    /// every opened slot to its session, its prompt (the last message queued for it) and
    /// its reminder time. Runs inside the caller's write transaction.
    fn open_slots(
        &mut self,
        batch: &SlotOpenings,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Creates or replaces the member's schedule for a dialog. An open slot is not affected.
    fn set_schedule(
        &mut self,
        member: MemberId,
        dialog_id: &str,
        days: &str,
        local_time: &str,
        next_due_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Moves each schedule to its next occurrence (`None`: disabled): (schedule, next due),
    /// one statement per chunk.
    fn set_next_due(
        &mut self,
        next: &[(i64, Option<DateTime<Utc>>)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Inserts slots, each unless its (schedule, local date) already has one (in the
    /// database, or earlier in `slots`), one statement per chunk. Returns the outcome of
    /// every slot this call created (`None`: open): only those may the caller act on.
    fn insert_slots(
        &mut self,
        slots: &[NewSlot<'_>],
    ) -> impl Future<Output = Result<Vec<Option<SlotOutcome>>, StoreError>> + Send;
    fn due_reminders(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DueReminder>, StoreError>> + Send;
    /// A check-in of `session`'s member has just been completed: their slots that were
    /// waiting for it (or for anything else) are looked at again now, so a weekly check-in
    /// due with the daily one follows it at once instead of waiting for the daily's window
    /// to end. The scheduler decides again what each does (quiet hours still hold them).
    /// Read through the member's slots index, over the last two days only (a slot still
    /// open was due at most a day's window plus a night's quiet hours ago).
    fn wake_waiting_slots(
        &mut self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Back from a stop (or a pause that would have outlasted the window): a reminder held
    /// at its window's end by the scheduler is due now, if the window has `margin` left.
    /// (A reminder is otherwise always due before its window closes, so `remind_at >=
    /// closes_at` marks exactly the held ones.)
    fn bring_back_reminders(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Puts a slot's reminder off until `at` (the end of the member's pause, or the
    /// window's end while they are stopped).
    fn postpone_reminder(
        &mut self,
        slot: i64,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks a slot's reminder as done (sent, or decided against): never more than one.
    fn mark_reminded(
        &mut self,
        slot: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn closing_slots(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<ClosingSlot>, StoreError>> + Send;
    /// Records a slot's outcome (once) and closes its session if still open.
    fn close_slot(
        &mut self,
        slot: &ClosingSlot,
        outcome: SlotOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Moves the heartbeat from `last` to `now`. Returns false if someone else moved it
    /// first (so an outage is acted on once, even with a second instance or a retry).
    fn advance_heartbeat(
        &mut self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Members whose sessions were open at some point between `from` and `to` (started
    /// before `to`), with their timezone and quiet hours.
    fn chats_with_sessions_between(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(ChatId, String, String, String)>, StoreError>> + Send;
}
