//! Performs one outbox call through teloxide and classifies the result.

use teloxide::prelude::*;
use teloxide::types::{
    CallbackQueryId, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, MessageId,
};
use teloxide::{ApiError, RequestError};

use crate::domain::{Button, ChatId as OurChatId, Outgoing};
use crate::worker::delivery::{Delivered, Messenger};

#[derive(Clone)]
pub struct TelegramMessenger {
    bot: Bot,
}

impl TelegramMessenger {
    pub fn new(bot: Bot) -> Self {
        TelegramMessenger { bot }
    }
}

fn keyboard(rows: &[Vec<Button>]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(rows.iter().map(|row| {
        row.iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.data.clone()))
            .collect::<Vec<_>>()
    }))
}

/// Telegram's limit is 4096 characters; cut at a character boundary rather than be refused.
fn fit(text: &str) -> String {
    const LIMIT: usize = 4096;
    if text.chars().count() <= LIMIT {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(LIMIT - 1).collect();
        s.push('…');
        s
    }
}

/// A photo caption is at most 1024 characters.
fn fit_caption(text: &str) -> String {
    const LIMIT: usize = 1024;
    if text.chars().count() <= LIMIT {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(LIMIT - 1).collect();
        s.push('…');
        s
    }
}

impl Messenger for TelegramMessenger {
    async fn deliver(&self, chat: OurChatId, body: Outgoing) -> Delivered {
        let chat_id = ChatId(chat.0);
        let is_message = matches!(body, Outgoing::Message { .. } | Outgoing::Chart { .. });
        let result = match body {
            Outgoing::Message {
                text,
                buttons,
                protect,
                silent,
            } => {
                let mut req = self.bot.send_message(chat_id, fit(&text));
                if !buttons.is_empty() {
                    req = req.reply_markup(keyboard(&buttons));
                }
                if protect {
                    req = req.protect_content(true);
                }
                if silent {
                    req = req.disable_notification(true);
                }
                req.await.map(|m| Some(m.id.0))
            }
            Outgoing::AnswerCallback { query_id, text } => {
                let mut req = self.bot.answer_callback_query(CallbackQueryId(query_id));
                if let Some(t) = text {
                    req = req.text(t);
                }
                req.await.map(|_| None)
            }
            Outgoing::EditButtons {
                message_id,
                buttons,
            } => {
                let mut req = self
                    .bot
                    .edit_message_reply_markup(chat_id, MessageId(message_id));
                if !buttons.is_empty() {
                    req = req.reply_markup(keyboard(&buttons));
                }
                req.await.map(|m| Some(m.id.0))
            }
            Outgoing::EditMessage {
                message_id,
                text,
                buttons,
            } => return self.edit_message(chat_id, message_id, text, buttons).await,
            Outgoing::Document {
                filename,
                content,
                caption,
            } => self
                .bot
                .send_document(
                    chat_id,
                    InputFile::memory(content.into_bytes()).file_name(filename),
                )
                .caption(caption)
                .protect_content(true)
                .await
                .map(|m| Some(m.id.0)),
            Outgoing::Chart { chart, caption } => {
                // Drawing takes milliseconds of CPU: off the async threads.
                let png =
                    tokio::task::spawn_blocking(move || crate::week::render::png(&chart)).await;
                let Ok(Ok(png)) = png else {
                    return Delivered::Rejected("the chart could not be drawn".into());
                };
                self.bot
                    .send_photo(chat_id, InputFile::memory(png).file_name("week.png"))
                    .caption(fit_caption(&caption))
                    .await
                    .map(|m| Some(m.id.0))
            }
        };
        match result {
            Ok(message_id) => Delivered::Sent { message_id },
            // A sendMessage whose answer we could not read was most likely delivered.
            Err(RequestError::InvalidJson { .. }) if is_message => {
                Delivered::Ambiguous("unreadable response to sendMessage".into())
            }
            Err(e) => classify(&e),
        }
    }
}

impl TelegramMessenger {
    /// Rewrites a message's text and buttons. A message Telegram can no longer edit (deleted
    /// by the person, too old, or unknown) is sent again as a new message with the same text
    /// and buttons, so what it carries (the next question) is never lost.
    async fn edit_message(
        &self,
        chat_id: ChatId,
        message_id: i32,
        text: String,
        buttons: Vec<Vec<Button>>,
    ) -> Delivered {
        let text = fit(&text);
        let mut req = self
            .bot
            .edit_message_text(chat_id, MessageId(message_id), text.clone());
        if !buttons.is_empty() {
            req = req.reply_markup(keyboard(&buttons));
        }
        let e = match req.await {
            Ok(m) => {
                return Delivered::Sent {
                    message_id: Some(m.id.0),
                };
            }
            Err(e) if !cannot_edit(&e) => return classify(&e),
            Err(e) => e,
        };
        tracing::info!(error = %describe(&e), "message cannot be edited; sent as a new one");
        let mut req = self.bot.send_message(chat_id, text);
        if !buttons.is_empty() {
            req = req.reply_markup(keyboard(&buttons));
        }
        match req.await {
            Ok(m) => Delivered::Sent {
                message_id: Some(m.id.0),
            },
            Err(RequestError::InvalidJson { .. }) => {
                Delivered::Ambiguous("unreadable response to sendMessage".into())
            }
            Err(e) => classify(&e),
        }
    }
}

/// Telegram refused an edit because the message is gone or can no longer be edited: what
/// it was to say must be sent as a new message instead.
fn cannot_edit(e: &RequestError) -> bool {
    matches!(
        e,
        RequestError::Api(
            ApiError::MessageToEditNotFound
                | ApiError::MessageCantBeEdited
                | ApiError::MessageIdInvalid
                | ApiError::MessageIdentifierNotSpecified
        )
    ) || matches!(e, RequestError::Api(ApiError::Unknown(d))
        if d.starts_with("Bad Request: message to edit not found")
            || d.starts_with("Bad Request: message can't be edited"))
}

/// Maps a teloxide error onto what the delivery worker should do.
pub fn classify(e: &RequestError) -> Delivered {
    match e {
        RequestError::RetryAfter(s) => Delivered::RetryAfter(s.seconds()),
        RequestError::Api(api) => match api {
            ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::CantInitiateConversation
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup
            | ApiError::BotKickedFromChannel
            | ApiError::CantTalkWithBots
            | ApiError::ChatNotFound
            | ApiError::UserNotFound
            | ApiError::GroupDeactivated => Delivered::Unreachable(format!("{api:?}")),
            // An edit that changes nothing has the effect we wanted.
            ApiError::MessageNotModified => Delivered::Sent { message_id: None },
            ApiError::Unknown(desc) => {
                if desc.starts_with("Forbidden") {
                    Delivered::Unreachable(short(desc))
                } else if desc.starts_with("Bad Request") {
                    Delivered::Rejected(short(desc))
                } else {
                    // 5xx and anything unrecognised: try again later, a bounded number of times.
                    Delivered::Transient(short(desc))
                }
            }
            other => Delivered::Rejected(format!("{other:?}")),
        },
        RequestError::Network(n) => {
            if n.is_connect() {
                // Never reached Telegram: safe to retry.
                Delivered::Transient("network: connect".into())
            } else if n.is_timeout() {
                Delivered::Ambiguous("network: timeout".into())
            } else {
                Delivered::Ambiguous("network: interrupted".into())
            }
        }
        RequestError::InvalidJson { .. } => {
            Delivered::Transient("invalid response from the Bot API".into())
        }
        RequestError::Io(_) => Delivered::Transient("i/o".into()),
        RequestError::MigrateToChatId(_) => Delivered::Rejected("chat migrated".into()),
    }
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

/// A description of an error that is safe to log: no raw response bodies (which can hold
/// message text), no token.
pub fn describe(e: &RequestError) -> String {
    match e {
        RequestError::InvalidJson { .. } => "invalid JSON from the Bot API".into(),
        RequestError::Network(n) if n.is_timeout() => "network timeout".into(),
        RequestError::Network(n) if n.is_connect() => "cannot connect to the Bot API".into(),
        RequestError::Network(_) => "network error".into(),
        RequestError::Api(api) => format!("api: {api:?}"),
        RequestError::RetryAfter(s) => format!("retry after {}s", s.seconds()),
        RequestError::MigrateToChatId(_) => "chat migrated".into(),
        RequestError::Io(_) => "i/o error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_of_a_message_that_is_gone_is_sent_anew_and_an_edit_changing_nothing_is_done() {
        for gone in [
            ApiError::MessageToEditNotFound,
            ApiError::MessageCantBeEdited,
            ApiError::MessageIdInvalid,
            ApiError::Unknown("Bad Request: message to edit not found".into()),
        ] {
            assert!(cannot_edit(&RequestError::Api(gone.clone())), "{gone:?}");
        }
        for other in [
            ApiError::MessageNotModified,
            ApiError::BotBlocked,
            ApiError::Unknown("Bad Request: BUTTON_DATA_INVALID".into()),
        ] {
            assert!(!cannot_edit(&RequestError::Api(other.clone())), "{other:?}");
        }
        assert_eq!(
            classify(&RequestError::Api(ApiError::MessageNotModified)),
            Delivered::Sent { message_id: None }
        );
    }
}
