//! What the storage contract's operations take and give: rows as the domain reads them.
//! (Each backend under `store/` reads and writes them its own way.)

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::{SessionRow, StoredPerson};
use crate::domain::answer::Session;
use crate::domain::member::QuietHours;
use crate::domain::plan::{PlanSettings, Tier};
use crate::domain::states::{SessionStatus, SlotOutcome};
use crate::domain::{ChatId, Envelope, MemberId, SessionId, UserId};

// ---- circle.rs
/// Who a whole-person operation is about: their chat and user, and their member id if
/// they are a member.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    pub chat: ChatId,
    pub user: Option<UserId>,
    pub member: Option<MemberId>,
}

// ---- people.rs
/// What [`Store::load_for_update`] reads.
pub struct UpdateRead {
    pub person: StoredPerson,
    pub session: Option<SessionRow>,
    /// The member's latest check-in put aside by another and still inside its window.
    pub aside: Option<SessionRow>,
    /// (dialog id, days, local time, active), by dialog id.
    pub schedules: Vec<(String, String, String, bool)>,
    pub unreachable: bool,
    pub next_session_id: SessionId,
}

// ---- plans.rs
/// Raw history: slots and sessions with their answers, for `early_warning` to read.
#[derive(Debug, Clone, Default)]
pub struct RawHistory {
    pub slots: Vec<HistorySlot>,
    pub sessions: Vec<HistorySession>,
    pub answers: Vec<HistoryAnswer>,
}

#[derive(Debug, Clone)]
pub struct HistorySlot {
    pub due: DateTime<Utc>,
    pub local_date: String,
    /// `None` while the window is open.
    pub outcome: Option<String>,
    pub session: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct HistorySession {
    pub id: i64,
    pub dialog_id: String,
    pub version: i64,
    pub started: DateTime<Utc>,
    pub status: String,
}

/// (`Debug` leaves out the value.)
#[derive(Clone)]
pub struct HistoryAnswer {
    pub session: i64,
    pub step_id: String,
    pub value: Option<String>,
    pub flags: Option<String>,
}

/// What early warning needs to know about a member to write to them.
#[derive(Clone)]
pub struct MemberBasics {
    pub chat: ChatId,
    pub user: UserId,
    pub name: Option<String>,
    /// Parsed once, here: London's if the stored name cannot be read.
    pub timezone: Tz,
    pub quiet: QuietHours,
    pub settings: PlanSettings,
}

#[derive(Debug, Clone)]
pub struct OpenEpisode {
    pub id: i64,
    pub clear_streak: u32,
    pub opened_at: DateTime<Utc>,
}

/// An alert whose time to be acknowledged has passed.
#[derive(Debug, Clone)]
pub struct DueEscalation {
    pub alert: i64,
    pub episode: i64,
    pub member: MemberId,
    pub rule_id: String,
    pub tier: Tier,
    pub step: i64,
    pub evidence: String,
}

/// An episode whose ask-first question went unanswered.
#[derive(Debug, Clone)]
pub struct DueAsk {
    pub episode: i64,
    pub member: MemberId,
    pub rule_id: String,
}

impl std::fmt::Debug for HistoryAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HistoryAnswer({}, {})", self.session, self.step_id)
    }
}

// ---- schedules.rs
/// A schedule whose next occurrence is due, with what the scheduler needs about its member.
#[derive(Debug, Clone)]
pub struct DueSchedule {
    pub id: i64,
    pub member: MemberId,
    pub chat: ChatId,
    pub dialog_id: String,
    pub days: String,
    pub local_time: String,
    pub timezone: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub paused_until: Option<DateTime<Utc>>,
    pub stopped: bool,
    pub next_due_at: DateTime<Utc>,
    pub telegram_user: i64,
    pub name: Option<String>,
    pub onboarding: String,
    /// The person blocked the bot.
    pub unreachable: bool,
}

/// A slot whose time has come but which has not been opened yet, with the member's
/// sessions as they were when it was read.
#[derive(Debug, Clone)]
pub struct PendingSlot {
    pub slot: i64,
    pub closes_at: DateTime<Utc>,
    pub schedule: DueSchedule,
    /// The member's open session (active or paused, not expired): id, dialog, end, and when
    /// it last changed (an answer, or its start).
    pub open_session: Option<(SessionId, String, DateTime<Utc>, DateTime<Utc>)>,
    /// A session of the schedule's dialog the member completed recently (since the time
    /// given to [`Store::pending_slots`]), and when.
    pub done_recently: Option<(SessionId, DateTime<Utc>)>,
    /// The slot's own local date (`YYYY-MM-DD`, the member's timezone).
    pub local_date: String,
}

/// What one batch of pending slots comes to; [`Store::open_slots`] writes it in a few
/// statements, whatever its size.
#[derive(Debug, Default)]
pub struct SlotOpenings {
    /// Slots that never open: (slot, outcome).
    pub outcomes: Vec<(i64, SlotOutcome)>,
    /// Slots that open later (quiet hours, another check-in in progress): (slot, opens at).
    pub deferred: Vec<(i64, DateTime<Utc>)>,
    /// Slots counted against a session that exists already: (slot, session).
    pub joined: Vec<(i64, SessionId)>,
    /// Slots that open a session of their own.
    pub started: Vec<Opening>,
}

/// A slot opening a new session: the session's changes and the messages that ask its first
/// question, as the conversation module made them.
#[derive(Debug)]
pub struct Opening {
    pub slot: i64,
    pub chat: ChatId,
    pub member: MemberId,
    pub session: SessionId,
    /// The session as it starts; `None` if the caller applied its changes itself.
    pub first: Option<NewSession>,
    pub out: Vec<Envelope>,
    pub remind_at: Option<DateTime<Utc>>,
}

/// A session a slot opens, with its first status and state.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub dialog_id: String,
    pub version: i64,
    pub status: SessionStatus,
    pub state: Session,
    pub expires_at: DateTime<Utc>,
}

/// A slot to insert. `outcome` is set at once for slots that never open (paused, unknown).
#[derive(Debug, Clone)]
pub struct NewSlot<'a> {
    pub schedule: i64,
    pub member: MemberId,
    pub dialog_id: &'a str,
    pub local_date: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub remind_at: Option<DateTime<Utc>>,
    pub outcome: Option<SlotOutcome>,
}

/// An open slot whose reminder time has come.
#[derive(Debug, Clone)]
pub struct DueReminder {
    pub slot: i64,
    pub chat: ChatId,
    pub member: MemberId,
    pub timezone: String,
    pub quiet_start: String,
    pub quiet_end: String,
    pub closes_at: DateTime<Utc>,
    /// The person has started (answered something) or finished.
    pub started: bool,
    /// The member has stopped, or is paused until then (perhaps already past).
    pub stopped: bool,
    pub paused_until: Option<DateTime<Utc>>,
    pub name: Option<String>,
}

/// An open slot whose window has closed.
#[derive(Debug, Clone)]
pub struct ClosingSlot {
    pub slot: i64,
    pub session: Option<SessionId>,
    pub completed: bool,
    pub answered: i64,
    /// The slot sent a prompt of its own (it did not join a check-in already in progress).
    pub prompted: bool,
    /// That prompt reached Telegram (or the terminal).
    pub delivered: bool,
    /// The member paused or stopped since the slot was due.
    pub held: bool,
    pub closes_at: DateTime<Utc>,
}

// ---- simulate.rs
/// One alert row (any tier), as the report needs it.
#[derive(Debug, Clone)]
pub struct SimAlert {
    pub member_id: i64,
    pub circle_id: Option<i64>,
    pub tier: String,
    pub step: i64,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub acked_at: Option<DateTime<Utc>>,
}
