//! People: who a chat is, their sessions, answers and settings.

use std::future::Future;

use super::*;

/// What a chat is and does, inside a unit of work: the member, their sessions and answers,
/// onboarding and settings.
pub trait People {
    fn load_person(
        &mut self,
        chat: ChatId,
    ) -> impl Future<Output = Result<StoredPerson, StoreError>> + Send;
    /// Everything the processor reads about a chat before it decides, in one statement: the
    /// person (with their coping notes while a check-in is open), their open session, their
    /// schedules (by dialog id), whether the chat is
    /// marked unreachable, and the id the next session will get. One statement, not five:
    /// each is a hand-off to SQLite's worker thread and back, and this runs for every update.
    fn load_for_update(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<UpdateRead, StoreError>> + Send;
    /// When the member last completed a session of `dialog`.
    fn last_completed(
        &mut self,
        member: MemberId,
        dialog: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
    /// A new member, with their consent to store answers: onboarding starts at their name.
    fn create_member(
        &mut self,
        chat: ChatId,
        user: UserId,
        consent_wording: &str,
        consent_version: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A member consents again to store answers (after withdrawing it): they are no longer
    /// stopped.
    fn reconsent(
        &mut self,
        chat: ChatId,
        consent_wording: &str,
        consent_version: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_name(
        &mut self,
        chat: ChatId,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_timezone(
        &mut self,
        chat: ChatId,
        tz: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_onboarding(
        &mut self,
        chat: ChatId,
        step: Onboarding,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Marks the member stopped from `at` (kept if already stopped), or not stopped (`None`).
    fn set_stopped(
        &mut self,
        chat: ChatId,
        at: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_quiet_hours(
        &mut self,
        chat: ChatId,
        quiet: QuietHours,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_paused_until(
        &mut self,
        chat: ChatId,
        until: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A new session for the chat's member, with its first status and state (if it has one
    /// yet).
    #[allow(clippy::too_many_arguments)]
    fn insert_session(
        &mut self,
        chat: ChatId,
        id: SessionId,
        dialog_id: &str,
        version: i64,
        status: SessionStatus,
        state: Option<&Session>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A check-in put aside becomes the chat's open one again.
    fn resume_session(
        &mut self,
        chat: ChatId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn save_session(
        &mut self,
        id: SessionId,
        status: SessionStatus,
        state: &Session,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A session's answers (a later answer to the same step replaces the earlier).
    fn store_answers(
        &mut self,
        session: SessionId,
        member: MemberId,
        dialog_id: &str,
        version: i64,
        answers: &[Stored],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Another check-in starts (or comes back): the chat's open one is put aside if still
    /// inside its window, to be finished later, and has expired otherwise.
    fn put_open_sessions_aside(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The chat's active schedules: (schedule id, days, local time) as stored.
    fn active_schedules_of(
        &mut self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Vec<(i64, String, String)>, StoreError>> + Send;
    /// Sets one schedule's next occurrence (`None`: it has none).
    fn set_next_due_of(
        &mut self,
        schedule: i64,
        next: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Back from a pause or a stop: a check-in that came due while they were away, and
    /// whose window still has a while to run, is asked after all (the next tick opens it),
    /// and a reminder held meanwhile comes after all.
    fn reopen_held_slots(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The chat's member's timezone and quiet hours, as stored now.
    fn quiet_of(
        &mut self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Option<(Tz, QuietHours)>, StoreError>> + Send;
    fn set_unreachable(
        &mut self,
        chat: ChatId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The person wrote to us: whatever blocked the chat before is over.
    fn set_reachable(
        &mut self,
        chat: ChatId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
