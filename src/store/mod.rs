//! The storage contract: traits in domain terms, grouped by noun (people, circle, plans,
//! schedules, outbox, inbox), the rows they take and give (`rows.rs`) and [`StoreError`].
//! Transactions live inside the store: callers hold a [`Work`] (a unit of work in progress)
//! or call the [`Store`]'s own operations, never a connection. `sqlite/` is the backend used
//! today (the only code with SQL); another joins behind the same traits.

mod circle;
mod inbox;
mod outbox;
mod people;
mod plans;
mod rows;
mod schedules;
mod sqlite;

pub use circle::Circle;
pub use inbox::{Inbox, Processed, Step, UpdateHandler, Updates};
pub use outbox::{Messages, Outbox};
pub use people::People;
pub use plans::Plans;
pub use schedules::Schedules;

pub use crate::domain::plan::{Plan, PlanRule, PlanSettings, Recipient, Share, UnreadableRule};
pub use rows::*;
pub use sqlite::invites::INVITE_FAILURES_ALLOWED;
pub use sqlite::{
    InstanceLock, SET_ASIDE_AFTER_FAILURES, Savepoint, Store, Tx, UNREADABLE_UPDATE, Work,
};

/// Every contract trait, for callers to bring the operations into scope at once.
pub mod prelude {
    pub use super::{Circle, Inbox, Messages, Outbox, People, Plans, Schedules, Updates};
}

/// What can go wrong in a store operation. (Messages carry ids and kinds, never content.)
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not do it now (busy, locked, I/O, full, unreachable): nothing of
    /// the unit of work is kept; try the whole of it again later.
    #[error("the database is unavailable: {0:#}")]
    Busy(anyhow::Error),
    /// A rule of the schema was broken (unique, foreign key, not null, check): the same
    /// input would break it every time.
    #[error("a stored rule was broken: {0:#}")]
    Constraint(anyhow::Error),
    /// What the operation names does not exist (or is not the caller's).
    #[error("not found: {0}")]
    NotFound(String),
    /// Anything else (stored data that cannot be read).
    #[error("{0:#}")]
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StoreError {
    fn from(e: anyhow::Error) -> StoreError {
        sqlite::classify(e)
    }
}

impl StoreError {
    /// The database itself failed, rather than the data: retried as a whole, never held
    /// against an update.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }
}

/// Whether an error came from the database itself (busy, I/O, full disk) rather than from
/// the data: such errors are retried as a whole, never held against an update. A broken
/// constraint is the update's own problem: it would fail the same way every time, so it
/// counts against that update (and is set aside after a few tries) instead of holding up
/// every chat.
pub fn is_database_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_unavailable)
    }) || sqlite::database_failed(e) == Some(true)
}

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use serde_json::Value;

use crate::domain::answer::{Session, Stored};
use crate::domain::circle::{InviteLookup, NewButton, Pressed, Role};
use crate::domain::history::{StoredAnswer, StoredSlot};
use crate::domain::member::{Onboarding, QuietHours};
use crate::domain::plan::Tier;
use crate::domain::states::{EpisodeState, OutboxState, SessionStatus, SlotOutcome};
use crate::domain::{
    ChatId, Envelope, Lane, MemberId, OutboxId, Outgoing, SessionId, UpdateId, UserId,
};
use crate::domain::{Incoming, Unreadable};

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
        state: OutboxState,
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
