//! What the bot says and does in reply to one input. Pure: a [`Person`] and an [`Incoming`]
//! in, [`Change`]s and outgoing [`Envelope`]s out. The processor (`worker::inbox`) applies
//! both in one transaction.

mod onboarding;

use crate::content::{Content, fill};
use crate::domain::{ChatId, Envelope, Incoming, Input, MemberId, Outgoing, UserId};

pub use onboarding::{Onboarding, parse_timezone, validate_name};

/// Everything the conversation needs to know about the chat an update came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub chat: ChatId,
    /// `None` until the person has consented: nothing else about them is stored before.
    pub member: Option<Member>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: MemberId,
    pub telegram_user: UserId,
    pub name: Option<String>,
    pub timezone: String,
    pub onboarding: Onboarding,
    pub stopped: bool,
}

impl Member {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or("friend")
    }
}

/// A state change to persist. Applied in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The person consented to storing their answers: create the member and the consent record
    /// with the exact wording shown.
    CreateMember {
        user: UserId,
        consent_wording: String,
        consent_version: i64,
    },
    SetName(String),
    SetTimezone(String),
    SetOnboarding(Onboarding),
    Stop,
    Resume,
    MarkUnreachable,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub out: Vec<Envelope>,
}

impl Outcome {
    fn reply(&mut self, chat: ChatId, body: Outgoing) {
        self.out.push(Envelope::reply(chat, body));
    }
}

/// Callback data the core conversation understands. Short, opaque to the person, and
/// interpreted only against the presser's own current state (never as authority).
pub mod data {
    pub const CONSENT_YES: &str = "consent:yes";
    pub const CONSENT_NO: &str = "consent:no";
    pub const NAME_FROM_TELEGRAM: &str = "name:tg";
    pub const TZ_LONDON: &str = "tz:london";
    pub const TZ_OTHER: &str = "tz:other";
    /// The marker left on an answered question: pressing it does nothing.
    pub const DONE: &str = "done";
}

/// Decides the reply to one update.
pub fn respond(person: &Person, incoming: &Incoming, content: &Content) -> Outcome {
    let mut o = Outcome::default();
    let chat = person.chat;
    let t = &content.texts;

    // Crisis first, always: before consent, mid-onboarding, whatever the state.
    let crisis = match &incoming.input {
        Input::Text { text } => content.crisis.matches(text),
        Input::Command { name, .. } => name == "crisis",
        _ => false,
    };
    if crisis {
        o.out.push(Envelope::urgent(
            chat,
            Outgoing::text(content.crisis.text()),
        ));
    }

    match &incoming.input {
        Input::ChatBlocked => o.changes.push(Change::MarkUnreachable),
        Input::Ignored => {}
        Input::NotPrivate => o.reply(chat, Outgoing::text(&t.not_private)),
        Input::Unsupported { .. } => o.reply(chat, Outgoing::text(&t.unsupported_media)),
        Input::Command { name, args } => command(&mut o, person, incoming, name, args, content),
        Input::Callback {
            query_id,
            data,
            message_id,
        } => onboarding::callback(
            &mut o,
            person,
            incoming,
            query_id,
            data.as_deref(),
            *message_id,
            content,
        ),
        Input::Text { text } => {
            if crisis {
                // The card has been sent; gently pick up where we were without using the text
                // as an answer.
                if let Some(m) = &person.member
                    && m.onboarding != Onboarding::Done
                {
                    onboarding::ask_current(&mut o, chat, m, incoming, content);
                }
            } else {
                match &person.member {
                    Some(m) if m.onboarding != Onboarding::Done => {
                        onboarding::text(&mut o, chat, m, text, content)
                    }
                    Some(_) => o.reply(chat, Outgoing::text(&t.free_text)),
                    None => o.reply(chat, Outgoing::text(&t.not_member_yet)),
                }
            }
        }
    }
    o
}

fn command(
    o: &mut Outcome,
    person: &Person,
    incoming: &Incoming,
    name: &str,
    _args: &str,
    content: &Content,
) {
    let chat = person.chat;
    let t = &content.texts;
    match (name, &person.member) {
        ("crisis", _) => {} // the card is already on its way
        ("help", _) => o.reply(chat, Outgoing::text(&t.help)),
        ("start", None) => onboarding::welcome(o, chat, content),
        ("start", Some(m)) if m.stopped => {
            o.changes.push(Change::Resume);
            o.reply(
                chat,
                Outgoing::text(fill(&t.resumed, &[("name", m.display_name())])),
            );
            if m.onboarding != Onboarding::Done {
                onboarding::ask_current(o, chat, m, incoming, content);
            }
        }
        ("start", Some(m)) if m.onboarding != Onboarding::Done => {
            o.reply(chat, Outgoing::text(&t.continue_onboarding));
            onboarding::ask_current(o, chat, m, incoming, content);
        }
        ("start", Some(m)) => o.reply(
            chat,
            Outgoing::text(fill(&t.welcome_back, &[("name", m.display_name())])),
        ),
        ("stop", Some(m)) => {
            if !m.stopped {
                o.changes.push(Change::Stop);
            }
            o.reply(
                chat,
                Outgoing::text(fill(&t.stopped, &[("name", m.display_name())])),
            );
        }
        ("stop", None) => o.reply(chat, Outgoing::text(&t.stopped_not_member)),
        _ => o.reply(chat, Outgoing::text(&t.unknown_command)),
    }
}
