//! Telegram `Update` → our [`Incoming`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use teloxide::types::{ChatMemberKind, Message, Update, UpdateKind, User};

use crate::domain::{ChatId, Incoming, Input, Sender, Unreadable, UpdateId, UserId};

/// One element of a `getUpdates` answer, read on its own.
#[derive(Debug, PartialEq)]
pub enum Read {
    Update(Incoming),
    /// Not readable as an update, but its id is: stored set aside and confirmed.
    Unreadable(Unreadable),
    /// Not even its `update_id` can be read (not an object, no id, an id that is not an
    /// update id): it cannot be stored, and only a readable id after it moves the offset on.
    Nameless {
        kind: String,
    },
}

/// Reads one element of a `getUpdates` answer (its JSON text). Never fails and never
/// recurses deeper than serde_json's limit: an element teloxide's types cannot read (a
/// field nested too deep, a type changed, a kind we do not know) is [`Read::Unreadable`],
/// keeping only its id and kind; one that teloxide reads only as `UpdateKind::Error` is
/// still answered when a chat can be found in it (see [`unparsed`]), and set aside when not.
pub fn read(raw: &str) -> Read {
    match serde_json::from_str::<Update>(raw) {
        Ok(mut update) => {
            if let UpdateKind::Error(value) = &mut update.kind {
                // teloxide leaves the value empty when it reads an update on its own; this
                // parse cannot go deeper than the one that just succeeded.
                if let Ok(full) = serde_json::from_str(raw) {
                    *value = full;
                }
            }
            let incoming = incoming(&update);
            if incoming.kind == "unparsed" && incoming.chat.is_none() {
                return Read::Unreadable(Unreadable {
                    update_id: incoming.update_id,
                    kind: head(raw).kind,
                });
            }
            Read::Update(incoming)
        }
        Err(_) => {
            let head = head(raw);
            match head.update_id {
                Some(id) => Read::Unreadable(Unreadable {
                    update_id: UpdateId(id),
                    kind: head.kind,
                }),
                None => Read::Nameless { kind: head.kind },
            }
        }
    }
}

/// What can be read of an update that teloxide cannot read: its id and its kind.
#[derive(Debug, Default)]
struct Head {
    update_id: Option<i64>,
    kind: String,
}

/// Reads only the top-level keys of an element: `update_id` (an integer that fits an update
/// id, or nothing) and the first other key as the kind. Every other value is skipped with
/// `IgnoredAny`, which serde_json skips iteratively (no recursion, no depth limit), so a
/// value nested thousands deep is passed over without touching the stack. A kind that is
/// not a plain lower-case name is recorded as `unknown`, so no content reaches a log or
/// the database through it.
fn head(raw: &str) -> Head {
    struct HeadVisitor;
    impl<'de> Visitor<'de> for HeadVisitor {
        type Value = Head;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an update object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Head, A::Error> {
            let mut head = Head::default();
            let mut kind: Option<String> = None;
            while let Some(key) = map.next_key::<String>()? {
                if key == "update_id" && head.update_id.is_none() {
                    let value: &RawValue = map.next_value()?;
                    head.update_id = serde_json::from_str::<u32>(value.get()).ok().map(i64::from);
                } else {
                    map.next_value::<IgnoredAny>()?;
                    if kind.is_none() && key != "update_id" {
                        kind = Some(key);
                    }
                }
            }
            head.kind = safe_kind(kind.as_deref());
            Ok(head)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    match de.deserialize_map(HeadVisitor) {
        Ok(head) => head,
        // Not an object, or broken part-way: whatever was read is lost with the error, so
        // the element is nameless.
        Err(_) => Head {
            update_id: None,
            kind: safe_kind(None),
        },
    }
}

fn safe_kind(key: Option<&str>) -> String {
    match key {
        Some(k)
            if (1..=64).contains(&k.len())
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            k.to_string()
        }
        _ => "unknown".to_string(),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A private text message, as the JSON of a `Message`.
    fn message_body(chat: i64, text: &str) -> String {
        serde_json::json!({
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": { "id": chat, "type": "private", "first_name": "A" },
            "from": { "id": chat, "is_bot": false, "first_name": "A" },
            "text": text,
        })
        .to_string()
    }

    fn message(id: i64, chat: i64, text: &str) -> String {
        format!(
            r#"{{"update_id":{id},"message":{}}}"#,
            message_body(chat, text)
        )
    }

    /// `{"f":{"f":…1…}}`, `depth` objects deep, built without recursion.
    fn nested(depth: usize) -> String {
        let mut s = String::with_capacity(depth * 6 + 1);
        s.extend(std::iter::repeat_n("{\"f\":", depth));
        s.push('1');
        s.extend(std::iter::repeat_n('}', depth));
        s
    }

    fn unreadable(id: i64, kind: &str) -> Read {
        Read::Unreadable(Unreadable {
            update_id: UpdateId(id),
            kind: kind.into(),
        })
    }

    #[test]
    fn a_good_update_is_read() {
        let Read::Update(inc) = read(&message(5, 7, "/help")) else {
            panic!("not read");
        };
        assert_eq!(inc.update_id, UpdateId(5));
        assert_eq!(inc.chat, Some(ChatId(7)));
        assert_eq!(inc.kind, "message");
    }

    #[test]
    fn an_update_with_a_field_nested_too_deep_keeps_only_its_id_and_kind() {
        let body = message_body(7, "words");
        let body = &body[..body.len() - 1];
        for depth in [200, 100_000] {
            // An unknown field inside the message, and one beside it.
            let deep = nested(depth);
            let inside = format!(r#"{{"update_id":9,"message":{body},"future":{deep}}}}}"#);
            assert_eq!(read(&inside), unreadable(9, "message"), "depth {depth}");
            let beside = format!(r#"{{"update_id":9,"message":{body}}},"future":{deep}}}"#);
            assert_eq!(read(&beside), unreadable(9, "message"), "depth {depth}");
        }
    }

    #[test]
    fn an_update_with_a_known_field_of_the_wrong_type_is_set_aside_unless_a_chat_is_found() {
        assert_eq!(
            read(r#"{"update_id":3,"message":{"message_id":"x","text":"private"}}"#),
            unreadable(3, "message")
        );
        // A private chat can still be found: the person is answered, as before.
        let mut v: Value = serde_json::from_str(&message(4, 7, "hello")).unwrap();
        v["message"]["date"] = "yesterday".into();
        let Read::Update(inc) = read(&v.to_string()) else {
            panic!("not read");
        };
        assert_eq!((inc.kind.as_str(), inc.chat), ("unparsed", Some(ChatId(7))));
        assert!(matches!(inc.input, Input::Unsupported { .. }));
    }

    #[test]
    fn an_unknown_kind_is_named_only_when_it_is_a_plain_name() {
        assert_eq!(
            read(r#"{"update_id":6,"future_kind":{"a":1}}"#),
            unreadable(6, "future_kind")
        );
        assert_eq!(
            read(r#"{"Some private words":{"a":1},"update_id":6}"#),
            unreadable(6, "unknown")
        );
    }

    #[test]
    fn an_update_without_a_readable_id_is_nameless() {
        for raw in [
            "5",
            "[]",
            "\"text\"",
            r#"{"message":{}}"#,
            r#"{"update_id":"7","message":{}}"#,
            r#"{"update_id":-7,"message":{}}"#,
            r#"{"update_id":7.5,"message":{}}"#,
        ] {
            let expected = if raw.contains("message") {
                "message"
            } else {
                "unknown"
            };
            assert_eq!(
                read(raw),
                Read::Nameless {
                    kind: expected.into()
                },
                "{raw}"
            );
        }
        // Even with the id itself nested deep.
        let raw = format!("{{\"update_id\":{},\"message\":{{}}}}", nested(100_000));
        assert_eq!(
            read(&raw),
            Read::Nameless {
                kind: "message".into()
            }
        );
    }
}
