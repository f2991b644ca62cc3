//! The circle: invites, ties, consents, away, buttons, export and erasure.

use std::future::Future;

use super::*;

/// The member's circle inside a unit of work: invites, ties, consents, away, server-side buttons,
/// export and erasure.
pub trait Circle {
    /// The circle side of a chat: the member's circle and consents (if `member` is given),
    /// whom the chat supports, and whether it is away.
    fn load_circle(
        &mut self,
        chat: ChatId,
        member: Option<MemberId>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CircleRead, StoreError>> + Send;
    /// Looks up an invite token from `chat`. Every kind of bad token gives `Invalid`; a chat
    /// with too many recent failures gets `RateLimited` without any lookup.
    fn lookup_invite(
        &mut self,
        chat: ChatId,
        token_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<InviteLookup, StoreError>> + Send;
    /// An invite by id, if it is still open and unexpired.
    fn invite_by_id(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<InviteLookup, StoreError>> + Send;
    /// What a press on server-side button `token` by `user` may do: live only if it was
    /// made for that user, is unexpired and unused; used if it is theirs, unexpired, and
    /// was pressed already.
    fn pressed(
        &mut self,
        token: &str,
        user: Option<UserId>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Pressed, StoreError>> + Send;
    fn register_buttons(
        &mut self,
        buttons: &[NewButton],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn use_buttons(
        &mut self,
        group: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn create_invite(
        &mut self,
        chat: ChatId,
        member: MemberId,
        token_hash: &str,
        role: Role,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn invite_failed(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The invitee accepts: the invite is used up and they join the circle, awaiting the
    /// member's confirmation. Applies only to an invite still open.
    fn accept_invite(
        &mut self,
        chat: ChatId,
        invite: i64,
        user: UserId,
        name: &str,
        username: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn decline_invite(
        &mut self,
        chat: ChatId,
        invite: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The member confirms: the tie is active, with one consent per purpose of its role.
    fn confirm_tie(
        &mut self,
        chat: ChatId,
        tie: i64,
        role: Role,
        wording: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Ends a tie from `chat` (the member removing, or the person leaving or the member not
    /// confirming): see [`Self::close_tie`]. Only those two may end it.
    fn end_tie(
        &mut self,
        chat: ChatId,
        tie: i64,
        why: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Revokes one of the member's (this chat's) consents.
    fn revoke_consent(
        &mut self,
        chat: ChatId,
        consent: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn move_up(
        &mut self,
        chat: ChatId,
        tie: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn set_away(
        &mut self,
        chat: ChatId,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The member shares one chart with one person in their circle: a consent for exactly
    /// this (the wording they confirmed), then the chart, sent only on that consent.
    fn share_chart(
        &mut self,
        chat: ChatId,
        tie: i64,
        wording: &str,
        version: i64,
        chart: &Envelope,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Queues a message (not before `not_before`) that may only go out while `consent`
    /// stands: it is cancelled when the consent is revoked, and checked again when it is
    /// about to be sent.
    fn enqueue_consented(
        &mut self,
        envelope: &Envelope,
        consent: i64,
        about: MemberId,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> impl Future<Output = Result<OutboxId, StoreError>> + Send;
    /// Whom this chat is, for export and erasure.
    fn subject_of(
        &mut self,
        chat: ChatId,
    ) -> impl Future<Output = Result<Subject, StoreError>> + Send;
    /// Every table with a column that can point at a person, and the condition that finds
    /// this subject's rows in it (with its values). Derived from the schema itself, so a new
    /// table is covered by export and erasure without anyone remembering to add it.
    fn personal_tables(
        &mut self,
        who: Subject,
    ) -> impl Future<Output = Result<Vec<(String, String, Vec<i64>)>, StoreError>> + Send;
    /// Whether any row refers to this chat's person, beyond the [`OPERATIONAL`] rows that
    /// only carry messages to and from their chat.
    fn holds_data(&mut self, chat: ChatId)
    -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Everything stored about this chat's person, table by table, plus counts for the
    /// summary. Earlier exports waiting in the outbox are not repeated inside the new one.
    fn export(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(Value, Vec<(String, usize)>), StoreError>> + Send;
    /// Erases every row about this chat's person — as a member (answers, sessions, slots,
    /// schedules, consents, circle, invites, buttons, outbox, audit) and in anyone's circle —
    /// and leaves one audit entry without identity. Inbox rows (already without content)
    /// lose their chat. Messages queued after this (the goodbye, the notices) still go.
    fn erase(
        &mut self,
        chat: ChatId,
        through: UpdateId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
