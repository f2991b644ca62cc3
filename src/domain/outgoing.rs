//! What we send, in our own terms. Rendered to Telegram calls by `telegram::messenger`.

use serde::{Deserialize, Serialize};

use super::ChatId;

/// Delivery priority. Lower value = delivered first; a flood of a lower lane never delays a
/// higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Lane {
    /// Crisis card, alerts.
    Urgent = 0,
    /// Replies to something the person just did.
    Reply = 1,
    /// Scheduled prompts and reminders.
    Scheduled = 2,
    /// Carer nudges and other low-priority messages.
    Nudge = 3,
    /// Cosmetic edits: an answered question's keyboard collapsed to what was chosen, where
    /// the next question is not asked in its place (see `Outgoing::EditMessage`). A reply
    /// overtakes them; a press on a keyboard not yet collapsed is handled as a stale button.
    Tidy = 4,
}

impl Lane {
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    pub fn from_i64(v: i64) -> Option<Lane> {
        match v {
            0 => Some(Lane::Urgent),
            1 => Some(Lane::Reply),
            2 => Some(Lane::Scheduled),
            3 => Some(Lane::Nudge),
            4 => Some(Lane::Tidy),
            _ => None,
        }
    }
}

/// An inline keyboard button. `data` is at most 64 bytes (Telegram's limit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    pub data: String,
}

impl Button {
    pub fn new(label: impl Into<String>, data: impl Into<String>) -> Self {
        Button {
            label: label.into(),
            data: data.into(),
        }
    }
}

/// One Telegram call we want made.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outgoing {
    Message {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        buttons: Vec<Vec<Button>>,
        /// Forbid forwarding and saving (alerts).
        #[serde(default)]
        protect: bool,
        /// Deliver without sound (an alert arriving in the recipient's quiet hours).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        silent: bool,
    },
    /// Stops the client's spinner; `text` shows as a small notice.
    AnswerCallback {
        query_id: String,
        text: Option<String>,
    },
    /// Replaces the buttons under one of our earlier messages (empty = remove them).
    EditButtons {
        message_id: i32,
        buttons: Vec<Vec<Button>>,
    },
    /// Rewrites one of our earlier messages: its text and its buttons (empty = none). A
    /// check-in answer turns the question pressed into "✓ the answer" and the next question,
    /// one call instead of a keyboard collapse and a new message. If Telegram can no longer
    /// edit it (deleted, too old), the messenger sends the same as a new message.
    EditMessage {
        message_id: i32,
        text: String,
        buttons: Vec<Vec<Button>>,
    },
    /// A file (`/mydata`'s export), with a short caption.
    Document {
        filename: String,
        content: String,
        caption: String,
    },
    /// A `/week` chart, sent as a photo with a short caption. It travels as data and is drawn
    /// at delivery (`week::render`), outside the processor's write transaction.
    Chart {
        chart: Box<crate::week::WeekData>,
        caption: String,
    },
}

impl Outgoing {
    pub fn text(text: impl Into<String>) -> Self {
        Outgoing::Message {
            text: text.into(),
            buttons: Vec::new(),
            protect: false,
            silent: false,
        }
    }

    pub fn with_buttons(text: impl Into<String>, buttons: Vec<Vec<Button>>) -> Self {
        Outgoing::Message {
            text: text.into(),
            buttons,
            protect: false,
            silent: false,
        }
    }

    /// Short label for logs; never content.
    pub fn kind(&self) -> &'static str {
        match self {
            Outgoing::Message { .. } => "message",
            Outgoing::AnswerCallback { .. } => "answer_callback",
            Outgoing::EditButtons { .. } => "edit_buttons",
            Outgoing::EditMessage { .. } => "edit_message",
            Outgoing::Document { .. } => "document",
            Outgoing::Chart { .. } => "chart",
        }
    }

    /// Whether this call is a message for Telegram's limits (30 a second overall; per chat
    /// a burst, then one a second): messages, files, photos and edits. Answering a callback query sends no message, so it is
    /// not counted; a 429 on one is still obeyed.
    /// Whether this call goes ahead of its chat's waiting messages: a callback answer only
    /// stops the spinner of a press (and may show a short notice); it is not part of the
    /// conversation's order, and a press must be answered at once, even at a peak when the
    /// chat's replies wait for Telegram's limit.
    pub fn overtakes(&self) -> bool {
        matches!(self, Outgoing::AnswerCallback { .. })
    }

    /// A message with buttons: a question the person is asked to answer (every question has
    /// buttons, a free-text one at least "skip" or "use my Telegram name").
    pub fn asks(&self) -> bool {
        matches!(self, Outgoing::Message { buttons, .. } if !buttons.is_empty())
    }

    /// Whether making this call twice does no harm (a second callback answer is refused, an
    /// edit to what is already there changes nothing): one that may not have arrived is
    /// simply made again.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Outgoing::AnswerCallback { .. }
                | Outgoing::EditButtons { .. }
                | Outgoing::EditMessage { .. }
        )
    }

    pub fn is_paced(&self) -> bool {
        !matches!(self, Outgoing::AnswerCallback { .. })
    }
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

/// An outgoing call addressed to a chat on a lane: what becomes one outbox row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub chat: ChatId,
    pub lane: Lane,
    pub body: Outgoing,
}

impl Envelope {
    pub fn reply(chat: ChatId, body: Outgoing) -> Self {
        Envelope {
            chat,
            lane: Lane::Reply,
            body,
        }
    }

    pub fn urgent(chat: ChatId, body: Outgoing) -> Self {
        Envelope {
            chat,
            lane: Lane::Urgent,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_question_is_paced_like_a_message_and_never_shows_its_text_in_logs() {
        let edit = Outgoing::EditMessage {
            message_id: 7,
            text: "✓ 3\n\nHow was your sleep last night?".into(),
            buttons: vec![vec![Button::new("Very good", "q1.3.c0")]],
        };
        assert_eq!(edit.kind(), "edit_message");
        assert!(edit.is_paced());
        assert_eq!(format!("{edit:?}"), "edit_message");
        let json = serde_json::to_string(&edit).unwrap();
        assert!(json.contains("\"type\":\"edit_message\""), "{json}");
        assert_eq!(serde_json::from_str::<Outgoing>(&json).unwrap(), edit);
    }
}
