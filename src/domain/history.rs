//! A member's history as the store hands it to `/week`: answers (never free text) and their
//! daily check-in slots.

use chrono::{DateTime, NaiveDate, Utc};

use super::SessionId;
use super::answer::AnswerValue;

/// One stored answer, as the store hands it to `/week` (never free text: `value` is `None`
/// for text answers, skipped and not-shown steps).
#[derive(Clone, PartialEq)]
pub struct StoredAnswer {
    pub session: SessionId,
    pub dialog_id: String,
    pub version: i64,
    pub step_id: String,
    /// The step was shown (answered or skipped), not passed over by `show_if`.
    pub shown: bool,
    pub value: Option<AnswerValue>,
    /// The local date of the slot the session was opened for, if it was scheduled.
    pub slot_date: Option<NaiveDate>,
    pub started_at: DateTime<Utc>,
}

/// One daily check-in slot and how it ended (`None` while still open).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSlot {
    pub dialog_id: String,
    pub local_date: NaiveDate,
    pub outcome: Option<String>,
}
