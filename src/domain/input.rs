//! What arrives from a person, in our own terms.
//!
//! `Debug` never prints message text: these values travel near logs.

use serde::{Deserialize, Serialize};

use super::{ChatId, UpdateId, UserId};

/// Who sent an update, as Telegram describes them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub user_id: UserId,
    pub first_name: String,
    pub username: Option<String>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sender({})", self.user_id)
    }
}

/// One thing a person did.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// A plain text message.
    Text { text: String },
    /// `/name args` (the `@botname` suffix removed, name lower-cased).
    Command { name: String, args: String },
    /// An inline button press. `data` is whatever the client sent: untrusted.
    Callback {
        query_id: String,
        data: Option<String>,
        message_id: Option<i32>,
    },
    /// Something we cannot read (sticker, photo, voice, …); `what` names the kind. A caption
    /// is kept only so crisis language in it is never missed.
    Unsupported {
        what: String,
        #[serde(default)]
        caption: Option<String>,
    },
    /// A message in a group or channel: staywell only works in private chats (but the crisis
    /// card is shown wherever it is asked for).
    NotPrivate {
        #[serde(default)]
        text: Option<String>,
    },
    /// A message the person edited: not an answer, but checked for crisis language.
    Edited {
        #[serde(default)]
        text: Option<String>,
    },
    /// The person blocked the bot.
    ChatBlocked,
    /// The person unblocked the bot.
    ChatUnblocked,
    /// An update we record but do not act on (channel posts, …).
    Ignored,
}

impl Input {
    /// Interprets a text message: a command if it starts with `/name`, otherwise text.
    pub fn from_text(text: &str) -> Input {
        let trimmed = text.trim_start();
        if let Some(rest) = trimmed.strip_prefix('/') {
            let (head, args) = match rest.find(char::is_whitespace) {
                Some(i) => (&rest[..i], rest[i..].trim()),
                None => (rest, ""),
            };
            let name = head.split('@').next().unwrap_or("");
            if !name.is_empty()
                && name.len() <= 32
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Input::Command {
                    name: name.to_ascii_lowercase(),
                    args: args.to_string(),
                };
            }
        }
        Input::Text {
            text: text.to_string(),
        }
    }

    /// All the text a person wrote in this input (message, command and its arguments, a
    /// caption), for crisis-language detection.
    pub fn written_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            Input::Text { text } => Some(Cow::Borrowed(text)),
            Input::Command { name, args } => Some(Cow::Owned(format!("{name} {args}"))),
            Input::Unsupported { caption, .. } => caption.as_deref().map(Cow::Borrowed),
            Input::NotPrivate { text } | Input::Edited { text } => {
                text.as_deref().map(Cow::Borrowed)
            }
            _ => None,
        }
    }

    /// A short label for logs and the inbox's `kind` column; never content.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Text { .. } => "text",
            Input::Command { .. } => "command",
            Input::Callback { .. } => "callback",
            Input::Unsupported { .. } => "unsupported",
            Input::NotPrivate { .. } => "not_private",
            Input::Edited { .. } => "edited",
            Input::ChatBlocked => "chat_blocked",
            Input::ChatUnblocked => "chat_unblocked",
            Input::Ignored => "ignored",
        }
    }
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Text { text } => write!(f, "Text(<{} chars>)", text.chars().count()),
            Input::Command { name, .. } => write!(f, "Command(/{name})"),
            Input::Callback { message_id, .. } => write!(f, "Callback(message {message_id:?})"),
            Input::Unsupported { what, .. } => write!(f, "Unsupported({what})"),
            other => f.write_str(other.kind()),
        }
    }
}

/// An update as stored in the inbox: who, where, and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    pub update_id: UpdateId,
    pub chat: Option<ChatId>,
    pub sender: Option<Sender>,
    /// Telegram's update kind (`message`, `callback_query`, `edited_message`, …).
    pub kind: String,
    pub input: Input,
    /// When the person sent it (Telegram's message date), if Telegram says.
    #[serde(default)]
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An update from Telegram that could not be read (a field too deeply nested, a type the Bot
/// API types don't know): only its id and its kind (the first key beside `update_id`, such
/// as `message`) are kept, never its content. It is stored already set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub update_id: UpdateId,
    pub kind: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_with_and_without_the_bot_name() {
        assert_eq!(
            Input::from_text("/start abc"),
            Input::Command {
                name: "start".into(),
                args: "abc".into()
            }
        );
        assert_eq!(
            Input::from_text("/Help@staywell_bot"),
            Input::Command {
                name: "help".into(),
                args: "".into()
            }
        );
        assert!(matches!(Input::from_text("/ hello"), Input::Text { .. }));
        assert!(matches!(Input::from_text("/😀"), Input::Text { .. }));
        assert!(matches!(Input::from_text("hi /start"), Input::Text { .. }));
    }

    #[test]
    fn debug_output_never_contains_message_text() {
        let input = Input::Text {
            text: "my secret".into(),
        };
        assert!(!format!("{input:?}").contains("secret"));
        let sender = Sender {
            user_id: UserId(5),
            first_name: "Alex".into(),
            username: Some("alex".into()),
        };
        assert!(!format!("{sender:?}").contains("Alex"));
    }
}
