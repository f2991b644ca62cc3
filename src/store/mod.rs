//! The only module with SQL. One storage contract; `sqlite.rs` is the backend used today
//! (PostgreSQL joins later behind the same methods).
//!
//! Times are stored as milliseconds since the Unix epoch.

mod rows;
mod sqlite;

pub use crate::domain::plan::{Plan, PlanRule, PlanSettings, Recipient, Share, UnreadableRule};
pub use rows::*;
pub use sqlite::circle::INVITE_FAILURES_ALLOWED;
pub use sqlite::{
    Conn, InstanceLock, SET_ASIDE_AFTER_FAILURES, Savepoint, Store, Tx, UNREADABLE_UPDATE,
    is_database_error,
};

use chrono::{DateTime, Utc};

use crate::domain::answer::Session;
use crate::domain::{ChatId, Lane, OutboxId, Outgoing, SessionId, UpdateId};

/// A chat as stored: its member, if it has one (and, while a check-in is open, their
/// coping notes).
#[derive(Debug, Clone)]
pub struct StoredPerson {
    pub chat: ChatId,
    pub member: Option<crate::domain::member::Member>,
    pub coping_notes: Option<String>,
}

/// The circle side of a chat, as stored.
#[derive(Debug, Clone, Default)]
pub struct CircleRead {
    /// The member's circle (not ended), in escalation order.
    pub circle: Vec<crate::domain::circle::Tie>,
    /// The members this chat is a carer or supporter for (not ended).
    pub supporting: Vec<crate::domain::circle::Supporting>,
    /// The member's consents that stand.
    pub consents: Vec<crate::domain::circle::ConsentView>,
    /// Until when this chat is away.
    pub away_until: Option<DateTime<Utc>>,
}

/// An open session as stored; the processor pairs it with its dialog version.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: SessionId,
    pub dialog_id: String,
    pub version: i64,
    pub state: Session,
    pub expires_at: DateTime<Utc>,
}

/// An unprocessed inbox row. (`Debug` leaves out the payload, which may hold message text.)
#[derive(Clone)]
pub struct InboxRow {
    pub update_id: UpdateId,
    pub chat: Option<ChatId>,
    pub attempts: i64,
    /// JSON of [`crate::domain::Incoming`]; `None` if it could not be stored.
    pub payload: Option<String>,
}

impl std::fmt::Debug for InboxRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InboxRow({}, attempts {})",
            self.update_id, self.attempts
        )
    }
}

/// A pending outbox row.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: OutboxId,
    pub chat: ChatId,
    pub lane: Lane,
    pub body: Outgoing,
    pub attempts: i64,
    /// This is a re-send after an ambiguous failure.
    pub repeat: bool,
    pub created_at: DateTime<Utc>,
    /// Another row of this chat is due now too (queued behind this one, or in another lane).
    pub more_for_chat: bool,
}

/// What happened to one delivery attempt, to be recorded.
#[derive(Debug, Clone)]
pub enum DeliveryRecord {
    Sent {
        id: OutboxId,
        message_id: Option<i32>,
    },
    /// Try again (back to pending) no earlier than `not_before`.
    Retry {
        id: OutboxId,
        not_before: DateTime<Utc>,
        error: String,
        repeat: bool,
        /// Don't count this attempt (Telegram asked us to wait; nothing failed).
        refund: bool,
    },
    /// No more attempts: `state` is `failed`, `ambiguous` or `cancelled`.
    Final {
        id: OutboxId,
        state: &'static str,
        error: String,
    },
    /// The chat blocked us: this row and every other pending row for the chat end as
    /// `unreachable`, and the chat is marked.
    Unreachable {
        id: OutboxId,
        chat: ChatId,
        reason: String,
    },
}

/// A row left `sending` by a crash.
#[derive(Debug, Clone)]
pub struct Interrupted {
    pub id: OutboxId,
    pub lane: Lane,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    /// The call, as queued (a `sending` row's payload is not erased yet); `None` if it
    /// cannot be read.
    pub body: Option<Outgoing>,
}

/// Counts of outbox rows by state (for tests, `check` and metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub ambiguous: i64,
    pub unreachable: i64,
    pub cancelled: i64,
}
