//! What a person answers, and where they are in a dialog: stored as JSON in the sessions
//! table and as values in the answers table. (The engine that moves a session on is
//! `dialog::engine`.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a person gave for one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum Answer {
    Answered(AnswerValue),
    Skipped,
    NotShown,
}

impl Answer {
    pub fn state(&self) -> &'static str {
        match self {
            Answer::Answered(_) => "answered",
            Answer::Skipped => "skipped",
            Answer::NotShown => "not_shown",
        }
    }
}

/// (`Debug` never prints free text.)
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerValue {
    Number(f64),
    Code(String),
    Codes(Vec<String>),
    /// A time of day: "HH:MM" and minutes since midnight.
    Time {
        hhmm: String,
        minutes: u32,
    },
    /// Free text. Kept in the answers table only; the session keeps an empty marker.
    Text(String),
}

impl std::fmt::Debug for AnswerValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnswerValue::Number(v) => write!(f, "Number({v})"),
            AnswerValue::Code(c) => write!(f, "Code({c})"),
            AnswerValue::Codes(c) => write!(f, "Codes({c:?})"),
            AnswerValue::Time { hhmm, .. } => write!(f, "Time({hhmm})"),
            AnswerValue::Text(t) => write!(f, "Text(<{} chars>)", t.chars().count()),
        }
    }
}

/// Where a person is in one dialog. Serialized into the sessions table after every step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The step waiting for an answer (`None`: finished).
    pub current: Option<usize>,
    /// Increases with every question asked; buttons carry it, so older buttons are stale.
    pub seq: u32,
    /// Answers so far, by step or compute id (free text replaced by an empty marker).
    pub answers: BTreeMap<String, Answer>,
    /// Ticked options of the current multi step.
    pub selection: Vec<String>,
    /// Answers not understood on the current step.
    pub tries: u8,
    pub paused: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            current: Some(0),
            seq: 0,
            answers: BTreeMap::new(),
            selection: Vec::new(),
            tries: 0,
            paused: false,
        }
    }
}

/// An answer to store, with any flags its option raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub step_id: String,
    pub answer: Answer,
    pub flags: Vec<String>,
}
