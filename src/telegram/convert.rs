//! Telegram `Update` → our [`Incoming`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use teloxide::types::{ChatMemberKind, Message, Update, UpdateKind, User};

use crate::domain::{ChatId, Incoming, Input, Sender, UpdateId, UserId};

pub fn incoming(update: &Update) -> Incoming {
    let update_id = UpdateId(update.id.0 as i64);
    let mut sent_at: Option<DateTime<Utc>> = None;
    let (kind, chat, sender, input) = match &update.kind {
        UpdateKind::Message(m) => {
            sent_at = Some(m.date);
            (
                "message",
                Some(m.chat.id.0),
                m.from.as_ref(),
                message_input(m),
            )
        }
        UpdateKind::EditedMessage(m) => {
            let text = m.text().or(m.caption()).map(str::to_string);
            (
                "edited_message",
                Some(m.chat.id.0),
                m.from.as_ref(),
                Input::Edited { text },
            )
        }
        UpdateKind::ChannelPost(m) => ("channel_post", Some(m.chat.id.0), None, Input::Ignored),
        UpdateKind::EditedChannelPost(m) => (
            "edited_channel_post",
            Some(m.chat.id.0),
            None,
            Input::Ignored,
        ),
        UpdateKind::CallbackQuery(q) => {
            let chat = q.message.as_ref().map(|m| m.chat().id.0);
            let input = Input::Callback {
                query_id: q.id.0.clone(),
                data: q.data.clone(),
                message_id: q.message.as_ref().map(|m| m.id().0),
            };
            (
                "callback_query",
                chat.or(Some(q.from.id.0 as i64)),
                Some(&q.from),
                input,
            )
        }
        UpdateKind::MyChatMember(u) => {
            let input = match u.new_chat_member.kind {
                ChatMemberKind::Banned(_) | ChatMemberKind::Left => Input::ChatBlocked,
                ChatMemberKind::Member { .. } if u.chat.is_private() => Input::ChatUnblocked,
                _ => Input::Ignored,
            };
            ("my_chat_member", Some(u.chat.id.0), Some(&u.from), input)
        }
        UpdateKind::Error(raw) => return unparsed(update_id, raw),
        _ => ("other", None, None, Input::Ignored),
    };
    Incoming {
        update_id,
        chat: chat.map(ChatId),
        sender: sender.map(sender_of),
        kind: kind.to_string(),
        input,
        sent_at,
    }
}

/// An update teloxide could not parse (Telegram added something new): we still find the
/// chat and any text in it, so the person gets a reply and crisis language is never missed.
fn unparsed(update_id: UpdateId, raw: &Value) -> Incoming {
    let message = ["message", "edited_message", "business_message"]
        .iter()
        .find_map(|k| raw.get(*k));
    let chat = message.and_then(|m| m["chat"]["id"].as_i64());
    let private = message.is_some_and(|m| m["chat"]["type"] == "private");
    let text = message
        .and_then(|m| m["text"].as_str().or(m["caption"].as_str()))
        .map(str::to_string);
    let sender = message.and_then(|m| {
        Some(Sender {
            user_id: UserId(m["from"]["id"].as_i64()?),
            first_name: m["from"]["first_name"].as_str().unwrap_or("").to_string(),
            username: m["from"]["username"].as_str().map(str::to_string),
        })
    });
    let input = match (message, private) {
        (Some(_), true) => Input::Unsupported {
            what: "unparsed".into(),
            caption: text,
        },
        (Some(_), false) => Input::NotPrivate { text },
        (None, _) => Input::Ignored,
    };
    Incoming {
        update_id,
        chat: chat.map(ChatId),
        sender,
        kind: "unparsed".into(),
        input,
        sent_at: None,
    }
}

fn sender_of(u: &User) -> Sender {
    Sender {
        user_id: UserId(u.id.0 as i64),
        first_name: u.first_name.clone(),
        username: u.username.clone(),
    }
}

fn message_input(m: &Message) -> Input {
    if !m.chat.is_private() {
        return Input::NotPrivate {
            text: m.text().or(m.caption()).map(str::to_string),
        };
    }
    if let Some(text) = m.text() {
        return Input::from_text(text);
    }
    let what = if m.sticker().is_some() {
        "sticker"
    } else if m.photo().is_some() {
        "photo"
    } else if m.voice().is_some() {
        "voice"
    } else if m.video().is_some() || m.video_note().is_some() {
        "video"
    } else if m.animation().is_some() {
        "animation"
    } else if m.document().is_some() {
        "document"
    } else if m.audio().is_some() {
        "audio"
    } else if m.location().is_some() || m.venue().is_some() {
        "location"
    } else if m.contact().is_some() {
        "contact"
    } else if m.poll().is_some() {
        "poll"
    } else {
        "other"
    };
    Input::Unsupported {
        what: what.into(),
        caption: m.caption().map(str::to_string),
    }
}
