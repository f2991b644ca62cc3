//! Early warning's decisions in words: each message's text, lane and buttons, as the member
//! and the people they chose see them. Pure: content and fresh tokens in, envelopes (and the
//! buttons the store must remember) out.

use chrono::{DateTime, Duration, Utc};

use super::Who;
use super::decide::{Notice, To};
use crate::content::{Content, and_list, fill};
use crate::conversation::circle::server_buttons;
use crate::domain::circle::{Action, NewButton};
use crate::domain::{Button, ChatId, Envelope, Lane, Outgoing};
use crate::rules::Tier;
use crate::token::Tokens;

/// Acknowledge buttons work for this long.
const ACK_TTL: Duration = Duration::days(7);

/// A message with buttons, and the buttons for the store to remember.
pub type WithButtons = (Envelope, Vec<NewButton>);

/// Words for one member's early warning at `now`.
pub struct Render<'a> {
    pub content: &'a Content,
    pub tokens: &'a Tokens,
    pub member: &'a Who,
    pub now: DateTime<Utc>,
}

impl Render<'_> {
    /// A sign whose stored settings cannot be read: which one, kindly (`title`).
    pub fn unreadable(&self, title: &str) -> Envelope {
        Envelope {
            chat: self.member.chat,
            lane: Lane::Reply,
            body: Outgoing::text(fill(
                &self.content.texts.plan_rule_unreadable,
                &[("title", title)],
            )),
        }
    }

    /// The ask-first question: why, and whom the member is asked about.
    pub fn ask_first(
        &self,
        episode: i64,
        reason: &str,
        people: &[String],
        expires: DateTime<Utc>,
    ) -> WithButtons {
        let t = &self.content.texts;
        let (buttons, new) = self.ask_keyboard(episode, expires, true);
        let text = fill(
            &t.ask_first_question,
            &[("reason", reason), ("people", &and_list(people))],
        );
        (
            Envelope::urgent(self.member.chat, Outgoing::with_buttons(text, buttons)),
            new,
        )
    }

    /// "Not now": when the question runs out and what happens then, with Yes / No buttons.
    pub fn ask_later(
        &self,
        episode: i64,
        until: DateTime<Utc>,
        tell_if_unanswered: bool,
    ) -> WithButtons {
        let t = &self.content.texts;
        let time = until
            .with_timezone(&self.member.tz)
            .format("%H:%M")
            .to_string();
        let then = if tell_if_unanswered {
            &t.ask_then_tell
        } else {
            &t.ask_then_dont
        };
        let (buttons, new) = self.ask_keyboard(episode, until + Duration::hours(1), false);
        (
            Envelope::reply(
                self.member.chat,
                Outgoing::with_buttons(
                    fill(&t.ask_later, &[("time", &time), ("then", then)]),
                    buttons,
                ),
            ),
            new,
        )
    }

    /// The ask-first buttons (Yes / No, and Not now the first time), only the member can
    /// press.
    fn ask_keyboard(
        &self,
        episode: i64,
        expires: DateTime<Utc>,
        with_later: bool,
    ) -> (Vec<Vec<Button>>, Vec<NewButton>) {
        let t = &self.content.texts;
        let answer = |tell| Action::AskAnswer { episode, tell };
        let mut row = vec![
            (t.ask_yes_button.clone(), answer(Some(true))),
            (t.ask_no_button.clone(), answer(Some(false))),
        ];
        if with_later {
            row.push((t.ask_later_button.clone(), answer(None)));
        }
        let m = self.member;
        server_buttons(self.tokens, expires, m.user, Some(m.id), vec![row])
    }

    /// The member's own self-help message, with their coping notes (or the default plan).
    pub fn self_help(&self, reason: &str, notes: Option<String>) -> Envelope {
        let t = &self.content.texts;
        let notes = notes.unwrap_or_else(|| t.coping_plan_default.clone());
        Envelope {
            chat: self.member.chat,
            lane: Lane::Scheduled,
            body: Outgoing::text(fill(&t.self_help, &[("reason", reason), ("notes", &notes)])),
        }
    }

    /// A carer's nudge: the reason only if the member lets nudges say why.
    pub fn nudge(&self, to: To, reason: &str) -> Envelope {
        let t = &self.content.texts;
        let m = self.member;
        Envelope {
            chat: to.chat,
            lane: Lane::Nudge,
            body: Outgoing::text(if m.settings.nudge_reason {
                fill(
                    &t.nudge_with_reason,
                    &[("name", &m.name), ("reason", reason)],
                )
            } else {
                fill(&t.nudge, &[("name", &m.name)])
            }),
        }
    }

    /// One alert (recorded as `alert`) to one supporter, unforwardable, with Acknowledge
    /// buttons only they can press.
    pub fn alert(
        &self,
        to: To,
        alert: i64,
        tier: Tier,
        step: i64,
        silent: bool,
        reason: &str,
    ) -> WithButtons {
        let t = &self.content.texts;
        let m = self.member;
        let ack = |how: &str| Action::Ack {
            alert,
            how: how.into(),
        };
        let (buttons, new) = server_buttons(
            self.tokens,
            self.now + ACK_TTL,
            to.user,
            None,
            vec![vec![
                (t.ack_reach_out_button.clone(), ack("reach_out")),
                (t.ack_in_touch_button.clone(), ack("in_touch")),
            ]],
        );
        // The reason only when the member lets supporters see it (`/plan` → Settings).
        let template = match (tier == Tier::Urgent, m.settings.alert_reason) {
            (true, true) => &t.alert_urgent,
            (true, false) => &t.alert_urgent_no_reason,
            (false, true) => &t.alert,
            (false, false) => &t.alert_no_reason,
        };
        let mut text = fill(template, &[("name", &m.name), ("reason", reason)]);
        if step > 0 {
            text.push_str("\n\n");
            text.push_str(&t.alert_escalated_note);
        }
        let env = Envelope {
            chat: to.chat,
            lane: Lane::Urgent,
            body: Outgoing::Message {
                text,
                buttons,
                protect: true,
                silent,
            },
        };
        (env, new)
    }

    /// Nobody (else) can be told: who was told and that nobody has replied yet, or that
    /// nobody is available; with the crisis card in the same message, or not.
    pub fn nobody(&self, reason: &str, told: &[String], with_card: bool) -> Envelope {
        let t = &self.content.texts;
        let text = if told.is_empty() {
            fill(&t.nobody_available, &[("reason", reason)])
        } else {
            fill(&t.no_reply_yet, &[("people", &and_list(told))])
        };
        let text = if with_card {
            format!("{text}\n\n{}", self.content.crisis.text())
        } else {
            text
        };
        Envelope::urgent(self.member.chat, Outgoing::text(text))
    }

    pub fn crisis_card(&self) -> Envelope {
        Envelope::urgent(self.member.chat, Outgoing::text(self.content.crisis.text()))
    }

    pub fn notice(&self, notice: Notice) -> Envelope {
        let t = &self.content.texts;
        let text = match notice {
            Notice::QuestionPassed => &t.question_passed,
            Notice::Told => &t.ask_told,
            Notice::NotTold => &t.ask_not_told,
            Notice::AlreadyTold => &t.ask_already_told,
        };
        Envelope::reply(self.member.chat, Outgoing::text(text))
    }
}

/// A supporter (`name`) acknowledged an alert: the member hears how they will respond.
pub fn acknowledged(content: &Content, member_chat: ChatId, name: &str, how: &str) -> Envelope {
    let t = &content.texts;
    let template = if how == "in_touch" {
        &t.member_told_in_touch
    } else {
        &t.member_told_reach_out
    };
    Envelope::reply(
        member_chat,
        Outgoing::text(fill(template, &[("name", name)])),
    )
}
