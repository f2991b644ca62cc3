//! What the bot says and does in reply to one input. Pure: a [`Person`] and an [`Incoming`]
//! in, [`Change`]s and outgoing [`Envelope`]s out. The processor (`worker::inbox`) applies
//! both in one transaction.

pub mod checkin;
pub mod circle;
mod onboarding;
pub mod plan;
pub mod privacy;
pub mod schedules;
pub mod week;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::content::{Content, fill};
use crate::dialog::engine::Stored;
use crate::dialog::{Dialog, Session};
use crate::domain::circle::{
    Action, BUTTON_PREFIX, ConsentView, InviteLookup, Pressed, Role, Supporting, Tie,
};
use crate::domain::states::SessionStatus;
use crate::domain::{
    Button, ChatId, Envelope, Incoming, Input, MemberId, Outgoing, SessionId, UserId,
};
use crate::schedule::{Days, LocalTime, QuietHours};
use crate::token::Tokens;

pub use crate::domain::member::{Member, Onboarding};
pub use onboarding::{parse_timezone, suggest_timezone, validate_name};

/// Everything the conversation needs to know about the chat an update came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub chat: ChatId,
    /// `None` until the person has consented: nothing else about them is stored before.
    pub member: Option<Member>,
    /// The member's open (active or paused, not expired) check-in, if any.
    pub session: Option<OpenSession>,
    /// Their latest check-in put aside by another and still inside its window: `/checkin`
    /// (or `/weekly`, for the weekly one) brings it back.
    pub aside: Option<OpenSession>,
    /// The member's schedules (active or turned off).
    pub schedules: Vec<ScheduleView>,
    /// The member's circle (not ended), in escalation order. Loaded for commands and presses.
    pub circle: Vec<Tie>,
    /// The members this chat is a carer or supporter for (not ended).
    pub supporting: Vec<Supporting>,
    /// The member's consents that stand.
    pub consents: Vec<ConsentView>,
    /// Until when this chat (as a carer or supporter) is away.
    pub away_until: Option<DateTime<Utc>>,
    /// The invite a `/start <token>` or an Accept/Decline press refers to.
    pub invite: Option<InviteLookup>,
    /// The server-side button this update pressed, as the store found it.
    pub pressed: Option<Pressed>,
    /// Some row anywhere refers to this person (loaded for `/mydata` and `/delete`).
    pub holds_data: bool,
    /// The member's early-warning plan (active rules).
    pub plan: Vec<crate::store::PlanRule>,
    /// What helps, in the member's words.
    pub coping_notes: Option<String>,
    /// How the member's plan tells people.
    pub plan_settings: crate::store::PlanSettings,
    /// What `/week` draws: loaded only when the input is `/week`.
    pub history: Option<crate::week::History>,
    /// When the member last completed a daily check-in: loaded only for `/checkin`.
    pub last_checkin: Option<DateTime<Utc>>,
}

impl Person {
    /// A chat with nothing loaded about it yet.
    pub fn new(chat: ChatId, member: Option<Member>) -> Person {
        Person {
            chat,
            member,
            session: None,
            aside: None,
            schedules: Vec::new(),
            circle: Vec::new(),
            supporting: Vec::new(),
            consents: Vec::new(),
            away_until: None,
            invite: None,
            pressed: None,
            holds_data: false,
            plan: Vec::new(),
            coping_notes: None,
            plan_settings: crate::store::PlanSettings::default(),
            history: None,
            last_checkin: None,
        }
    }
}

/// A schedule as the conversation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleView {
    pub dialog_id: String,
    pub days: Days,
    pub time: LocalTime,
    pub active: bool,
}

/// A session still inside its answer window, with the dialog version it started on.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSession {
    pub id: SessionId,
    pub dialog: Arc<Dialog>,
    pub state: Session,
    pub expires_at: DateTime<Utc>,
}

/// What the conversation needs besides the person and the input.
pub struct Ctx<'a> {
    pub content: &'a Content,
    /// The dialog `/checkin` starts (its current version).
    pub checkin: Option<&'a Arc<Dialog>>,
    /// The weekly connect/give dialog `/weekly` starts (its current version).
    pub weekly: Option<&'a Arc<Dialog>>,
    /// The id a session started now would get (allocated by the store).
    pub next_session_id: SessionId,
    pub now: DateTime<Utc>,
    /// (dialog id, title) of every current dialog, for schedules.
    pub titles: Vec<(String, String)>,
    /// Fresh unguessable tokens (invite links, button ids).
    pub tokens: &'a Tokens,
    /// The bot's Telegram username, for invite links (`None` until `getMe` answered).
    pub bot_username: Option<&'a str>,
    /// The early-warning rule templates a plan is built from.
    pub rules: &'a std::collections::BTreeMap<String, crate::rules::Template>,
}

/// A state change to persist. Applied in order. (`Debug` names the change only.)
#[derive(Clone, PartialEq)]
pub enum Change {
    /// The person consented to storing their answers: create the member and the consent record
    /// with the exact wording shown.
    CreateMember {
        user: UserId,
        consent_wording: String,
        consent_version: i64,
    },
    /// A member who withdrew consent to storing answers gives it again (with the wording
    /// shown); they are no longer stopped.
    Reconsent {
        consent_wording: String,
        consent_version: i64,
    },
    SetName(String),
    SetTimezone(String),
    SetOnboarding(Onboarding),
    Stop,
    Resume,
    MarkUnreachable,
    /// Create or change a schedule (an open slot is not affected).
    SetSchedule {
        member: MemberId,
        dialog_id: String,
        days: String,
        time: String,
        next_due: Option<DateTime<Utc>>,
    },
    /// Pause scheduled prompts until then (`None`: resume).
    SetPause {
        until: Option<DateTime<Utc>>,
    },
    SetQuietHours(QuietHours),
    /// Open a new session (closing any older open one).
    StartSession {
        id: SessionId,
        dialog_id: String,
        version: i64,
        expires_at: DateTime<Utc>,
    },
    /// Bring back a check-in that was put aside (putting aside the open one, if any).
    ResumeSession {
        id: SessionId,
    },
    /// Persist the session after a step (`status`: active, paused or completed).
    SaveSession {
        id: SessionId,
        status: SessionStatus,
        state: Session,
    },
    StoreAnswers {
        session: SessionId,
        member: MemberId,
        dialog_id: String,
        version: i64,
        answers: Vec<Stored>,
    },
    /// Remember server-side buttons that are being sent.
    RegisterButtons(Vec<crate::domain::circle::NewButton>),
    /// A button of this group was pressed: none of them works again.
    UseButtons {
        group: String,
    },
    CreateInvite {
        member: MemberId,
        token_hash: String,
        role: Role,
        expires_at: DateTime<Utc>,
    },
    /// An unknown, expired, used or malformed invite token was tried from this chat.
    InviteFailed,
    /// This chat accepts the invite: they join the circle, awaiting the member's confirmation.
    AcceptInvite {
        invite: i64,
        user: UserId,
        name: String,
        username: Option<String>,
    },
    DeclineInvite {
        invite: i64,
    },
    /// The member confirms: the tie becomes active and its consents are recorded with the
    /// wording shown.
    ConfirmTie {
        tie: i64,
        role: Role,
        wording: String,
        version: i64,
    },
    /// Removed, left or not confirmed: the tie ends, its consents are revoked and anything
    /// pending on them is cancelled.
    EndTie {
        tie: i64,
        why: &'static str,
    },
    MoveUp {
        tie: i64,
    },
    /// This chat (a carer or supporter) is away until then (`None`: back).
    SetAway {
        until: Option<DateTime<Utc>>,
    },
    /// Revokes one consent and cancels anything pending on it.
    RevokeConsent {
        consent: i64,
    },
    /// Sends everything stored about this chat's person as a file, with `summary` (`{list}`
    /// filled with counts) and `caption`.
    Export {
        summary: String,
        caption: String,
    },
    /// Sets one rule of the member's plan with its consents (the wording is the receipt).
    SetPlanRule {
        rule: crate::store::PlanRule,
        wording: String,
        shares: Vec<crate::store::Share>,
        version: i64,
    },
    TurnOffRule {
        rule: String,
    },
    SetCopingNotes(Option<String>),
    /// How the plan tells people, with the receipt recorded as the consent wording.
    SetPlanSettings {
        settings: crate::store::PlanSettings,
        wording: String,
        version: i64,
    },
    /// A supporter acknowledged an alert addressed to them.
    AckAlert {
        alert: i64,
        how: String,
    },
    /// The member answered an ask-first question.
    AnswerAsk {
        episode: i64,
        tell: Option<bool>,
    },
    /// The member pressed an answer to an ask-first question they had answered already (a
    /// double tap): nothing changes; they hear what became of it.
    AskPressedAgain {
        episode: i64,
    },
    /// The member shares one chart with one person: a consent for this chart (with the
    /// wording shown) and the chart, sent only on it.
    ShareChart {
        tie: i64,
        wording: String,
        version: i64,
        chart: Envelope,
    },
    /// Erases everything about this chat's person (as a member and in anyone's circle), up
    /// to and including update `through` (the one asking).
    Erase {
        through: crate::domain::UpdateId,
    },
}

impl std::fmt::Debug for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Change::CreateMember { .. } => "CreateMember",
            Change::Reconsent { .. } => "Reconsent",
            Change::SetName(_) => "SetName",
            Change::SetTimezone(_) => "SetTimezone",
            Change::SetOnboarding(_) => "SetOnboarding",
            Change::Stop => "Stop",
            Change::Resume => "Resume",
            Change::MarkUnreachable => "MarkUnreachable",
            Change::SetSchedule { .. } => "SetSchedule",
            Change::SetPause { .. } => "SetPause",
            Change::SetQuietHours(_) => "SetQuietHours",
            Change::StartSession { .. } => "StartSession",
            Change::ResumeSession { .. } => "ResumeSession",
            Change::SaveSession { .. } => "SaveSession",
            Change::StoreAnswers { .. } => "StoreAnswers",
            Change::RegisterButtons(_) => "RegisterButtons",
            Change::UseButtons { .. } => "UseButtons",
            Change::CreateInvite { .. } => "CreateInvite",
            Change::InviteFailed => "InviteFailed",
            Change::AcceptInvite { .. } => "AcceptInvite",
            Change::DeclineInvite { .. } => "DeclineInvite",
            Change::ConfirmTie { .. } => "ConfirmTie",
            Change::EndTie { .. } => "EndTie",
            Change::MoveUp { .. } => "MoveUp",
            Change::SetAway { .. } => "SetAway",
            Change::RevokeConsent { .. } => "RevokeConsent",
            Change::Export { .. } => "Export",
            Change::Erase { .. } => "Erase",
            Change::SetPlanRule { .. } => "SetPlanRule",
            Change::TurnOffRule { .. } => "TurnOffRule",
            Change::SetCopingNotes(_) => "SetCopingNotes",
            Change::SetPlanSettings { .. } => "SetPlanSettings",
            Change::AckAlert { .. } => "AckAlert",
            Change::AnswerAsk { .. } => "AnswerAsk",
            Change::AskPressedAgain { .. } => "AskPressedAgain",
            Change::ShareChart { .. } => "ShareChart",
        };
        f.write_str(name)
    }
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
    /// Followed by `:<version of core.toml>`, so a "yes" is recorded against the wording
    /// that was actually shown.
    pub const CONSENT_YES: &str = "consent:yes";
    pub const CONSENT_NO: &str = "consent:no";
    pub const NAME_FROM_TELEGRAM: &str = "name:tg";
    pub const TZ_LONDON: &str = "tz:london";
    pub const TZ_OTHER: &str = "tz:other";
    /// Followed by a zone's IANA name: "did you mean" in onboarding.
    pub const TZ_IS: &str = "tz:is:";
    /// The marker left on an answered question: pressing it does nothing.
    pub const DONE: &str = "done";
}

/// Commands whose reply depends on the person's circle, consents or plan.
const CIRCLE_COMMANDS: &[&str] = &[
    "supporters",
    "consents",
    "members",
    "leave",
    "away",
    "mydata",
    "delete",
    "plan",
    "coping",
    "week",
];

/// What [`respond`] needs read about a person for one input, beyond who they are, their
/// sessions and schedules (always read). Plain text and everyday commands need nothing
/// more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Their circle, consents, whom they support and whether they are away.
    pub circle: bool,
    /// A member's plan, coping notes and plan settings.
    pub plan: bool,
    /// Whether any row refers to them (`/mydata`, `/delete`).
    pub holds_data: bool,
    /// The invite a `/start <token>` names.
    pub invite_token: Option<String>,
    /// The server-side button pressed (its token); what it does may need more (see
    /// [`Needs::after_press`]).
    pub pressed_token: Option<String>,
    /// When a member last completed a daily check-in (`/checkin` says so when today's is
    /// done).
    pub last_checkin: bool,
    /// A member's history, as `/week` draws it.
    pub week: bool,
}

/// What an input needs read before [`respond`] can answer it. `member`: the chat is a
/// member's.
pub fn needs(incoming: &Incoming, member: bool) -> Needs {
    let mut n = Needs::default();
    match &incoming.input {
        // Only the commands that show or change the circle or the plan read them.
        Input::Command { name, args }
            if CIRCLE_COMMANDS.contains(&name.as_str())
                || (name == "start" && !args.is_empty()) =>
        {
            n.circle = true;
            n.plan = member;
            n.holds_data = name == "mydata" || name == "delete";
            if name == "start" && !args.is_empty() {
                n.invite_token = Some(args.split_whitespace().next().unwrap_or("").to_string());
            }
            // `/week` draws from the member's history.
            n.week = member && name == "week";
        }
        Input::Callback {
            data: Some(data), ..
        } => {
            if let Some(token) = data.strip_prefix(BUTTON_PREFIX) {
                n.circle = true;
                n.plan = member;
                n.pressed_token = Some(token.to_string());
            }
        }
        // `/checkin` says so when today's is already done.
        Input::Command { name, .. } if name == "checkin" => n.last_checkin = member,
        // Someone who is not a member may be in others' circles: their "hello" and `/help`
        // are answered as a carer's or supporter's.
        Input::Text { .. } | Input::Command { .. } if !member => n.circle = true,
        _ => {}
    }
    n
}

impl Needs {
    /// What a live press needs besides: the invite an Accept or Decline refers to (its id),
    /// and the history sharing a `/week` chart draws from.
    pub fn after_press(pressed: &Pressed, member: bool) -> (Option<i64>, bool) {
        match pressed {
            Pressed::Live {
                action: Action::Accept { invite } | Action::Decline { invite },
                ..
            } => (Some(*invite), false),
            Pressed::Live {
                action: Action::ShareWeekYes { .. },
                ..
            } => (None, member),
            _ => (None, false),
        }
    }
}

/// Decides the reply to one update.
pub fn respond(person: &Person, incoming: &Incoming, ctx: &Ctx) -> Outcome {
    let mut o = Outcome::default();
    let chat = person.chat;
    let content = ctx.content;
    let t = &content.texts;
    let member = person
        .member
        .as_ref()
        .filter(|m| m.onboarding == Onboarding::Done);
    let active = person.session.as_ref().filter(|s| !s.state.paused);

    // Crisis first, always: before consent, mid-onboarding, whatever the state.
    // Any text the person wrote counts: a message, a command's words, a caption, an edit.
    let is_crisis_command =
        |input: &Input| matches!(input, Input::Command { name, .. } if name == "crisis");
    let asked = match &incoming.input {
        Input::NotPrivate { text: Some(text) } => is_crisis_command(&Input::from_text(text)),
        other => is_crisis_command(other),
    };
    let crisis = asked
        || incoming
            .input
            .written_text()
            .is_some_and(|text| content.crisis.matches(&text));
    if crisis {
        o.out.push(Envelope::urgent(
            chat,
            Outgoing::text(content.crisis.text()),
        ));
    }

    match &incoming.input {
        Input::ChatBlocked => o.changes.push(Change::MarkUnreachable),
        Input::ChatUnblocked | Input::Ignored | Input::Edited { .. } => {}
        // In a group, the card (if asked for) is the only thing we say besides the pointer.
        Input::NotPrivate { .. } if crisis => {}
        Input::NotPrivate { .. } => o.reply(chat, Outgoing::text(&t.not_private)),
        Input::Unsupported { .. } => o.reply(chat, Outgoing::text(&t.unsupported_media)),
        Input::Command { name, args } => command(&mut o, person, incoming, name, args, ctx),
        Input::Callback {
            query_id,
            data,
            message_id,
        } => {
            let presser_is_member = matches!(
                (member, &incoming.sender),
                (Some(m), Some(s)) if m.telegram_user == s.user_id
            );
            let is_checkin = data.as_deref().is_some_and(|d| d.starts_with('q'));
            let is_again = data
                .as_deref()
                .is_some_and(|d| d == checkin::AGAIN_YES || d == checkin::AGAIN_NO);
            let is_schedule = data.as_deref().is_some_and(|d| {
                [
                    "ct:", "ow:", "sd:", "sx:", "sy:", "sh:", "sm:", "so:", "pz:",
                ]
                .iter()
                .any(|p| d.starts_with(p))
            });
            let own = person.member.as_ref().filter(|m| {
                incoming
                    .sender
                    .as_ref()
                    .is_some_and(|s| s.user_id == m.telegram_user)
            });
            let is_server_side = data
                .as_deref()
                .is_some_and(|d| d.starts_with(BUTTON_PREFIX));
            let handled = match (member, data.as_deref()) {
                _ if is_server_side => {
                    let pressed = ButtonPress {
                        query_id,
                        data: data.as_deref().unwrap_or_default(),
                        message_id: *message_id,
                    };
                    server_side_press(&mut o, person, incoming, pressed, ctx)
                }
                (Some(m), Some(d)) if is_checkin && presser_is_member => {
                    checkin::press(&mut o, person, m, d, query_id, *message_id, ctx)
                }
                _ if is_checkin => false,
                (Some(m), Some(d)) if is_again && presser_is_member => {
                    checkin::again_press(&mut o, person, m, d, query_id, *message_id, ctx)
                }
                _ if is_again => false,
                (_, Some(d)) if is_schedule => match own {
                    Some(m) => {
                        let mut edit = None;
                        let ok = schedules::press(&mut o, person, m, d, &mut edit, ctx);
                        if ok {
                            o.out.insert(
                                0,
                                Envelope::reply(
                                    chat,
                                    Outgoing::AnswerCallback {
                                        query_id: query_id.clone(),
                                        text: None,
                                    },
                                ),
                            );
                            if let (Some(buttons), Some(id)) = (edit, message_id) {
                                o.reply(
                                    chat,
                                    Outgoing::EditButtons {
                                        message_id: *id,
                                        buttons,
                                    },
                                );
                            }
                        }
                        ok
                    }
                    None => false,
                },
                _ => {
                    onboarding::callback(
                        &mut o,
                        person,
                        incoming,
                        query_id,
                        data.as_deref(),
                        *message_id,
                        content,
                    );
                    true
                }
            };
            if !handled {
                // Stale, foreign or forged: answer kindly, change nothing.
                o.reply(
                    chat,
                    Outgoing::AnswerCallback {
                        query_id: query_id.clone(),
                        text: Some(t.question_passed.clone()),
                    },
                );
            }
        }
        Input::Text { text } => {
            if let (Some(m), Some(open)) = (member, active) {
                // An answer, as it would be without crisis language: the card has gone first,
                // and a false alarm ("the traffic is killing me") must not cost the person
                // their answer. Text that is no answer to this question is asked again.
                checkin::text(&mut o, person, m, open, text, ctx);
            } else if crisis
                && let Some(m) = person.member.as_ref()
                && m.onboarding != Onboarding::Done
            {
                // Crisis language is never taken as a name or a time: the card has been sent;
                // gently pick up where we were.
                onboarding::ask_current(&mut o, chat, m, incoming, content);
            } else if crisis && member.is_some() && person.session.is_none() {
                // The card is the reply: "I'm a simple bot… /crisis" after it says nothing more.
            } else {
                match &person.member {
                    Some(m) if m.onboarding == Onboarding::CheckinTime => {
                        schedules::first_time_text(&mut o, chat, m, text, ctx)
                    }
                    Some(m) if m.onboarding != Onboarding::Done => {
                        onboarding::text(&mut o, chat, m, text, content)
                    }
                    Some(_) if person.session.is_some() => {
                        o.reply(chat, Outgoing::text(&t.paused_reminder))
                    }
                    Some(_) => o.reply(chat, Outgoing::text(&t.free_text)),
                    None if let Some(yes) = crate::dialog::engine::yes_no(text) => {
                        onboarding::typed_consent(&mut o, chat, yes, content)
                    }
                    None if !person.supporting.is_empty() => {
                        o.reply(chat, Outgoing::text(supporter_hello(person, t)))
                    }
                    None => o.reply(chat, Outgoing::text(&t.not_member_yet)),
                }
            }
        }
    }
    o
}

/// A keyboard once used: only the choice made, ticked; pressing it does nothing.
pub(super) fn used_keyboard(label: &str, t: &crate::content::Texts) -> Vec<Vec<Button>> {
    vec![vec![Button::new(
        fill(&t.chosen, &[("label", label)]),
        data::DONE,
    )]]
}

/// "Hello" from someone who is only in others' circles: who they support, and their help.
fn supporter_hello(person: &Person, t: &crate::content::Texts) -> String {
    let names: Vec<&str> = person
        .supporting
        .iter()
        .map(|s| s.member_name.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    let people = if names.is_empty() {
        t.default_name.clone()
    } else {
        names.join(", ")
    };
    fill(&t.supporter_hello, &[("people", &people)])
}

/// Where a server-side button was pressed: the callback to answer, the button's own data,
/// and the message it is on.
struct ButtonPress<'a> {
    query_id: &'a str,
    data: &'a str,
    message_id: Option<i32>,
}

/// A press on a server-side button: acts only if the store found it live and the presser's
/// own, and its target is still theirs. Then the whole keyboard is used up and shows the
/// choice (the chosen label keeps the button's data, so a second tap on it is that button
/// pressed again). A press of one's own used button changes nothing; for an ask-first
/// answer it hears what became of the question.
fn server_side_press(
    o: &mut Outcome,
    person: &Person,
    incoming: &Incoming,
    press: ButtonPress,
    ctx: &Ctx,
) -> bool {
    let answer = |o: &mut Outcome| {
        o.reply(
            person.chat,
            Outgoing::AnswerCallback {
                query_id: press.query_id.to_string(),
                text: None,
            },
        )
    };
    if let Some(Pressed::Used {
        action: crate::domain::circle::Action::AskAnswer { episode, .. },
    }) = &person.pressed
    {
        if person.member.is_none() {
            return false;
        }
        answer(o);
        o.changes
            .push(Change::AskPressedAgain { episode: *episode });
        return true;
    }
    let (
        Some(Pressed::Live {
            group,
            label,
            action,
        }),
        Some(sender),
    ) = (&person.pressed, &incoming.sender)
    else {
        return false;
    };
    let mut inner = Outcome::default();
    if !circle::press(&mut inner, person, sender, incoming.update_id, action, ctx) {
        return false;
    }
    let chat = person.chat;
    o.changes.push(Change::UseButtons {
        group: group.clone(),
    });
    answer(o);
    if let Some(id) = press.message_id {
        o.reply(
            chat,
            Outgoing::EditButtons {
                message_id: id,
                buttons: vec![vec![crate::domain::Button::new(
                    fill(&ctx.content.texts.chosen, &[("label", label)]),
                    press.data,
                )]],
            },
        );
    }
    o.changes.extend(inner.changes);
    o.out.extend(inner.out);
    true
}

fn command(
    o: &mut Outcome,
    person: &Person,
    incoming: &Incoming,
    name: &str,
    _args: &str,
    ctx: &Ctx,
) {
    let chat = person.chat;
    let content = ctx.content;
    let t = &content.texts;
    let done = |m: &Member| m.onboarding == Onboarding::Done;
    // Commands for anyone with a Telegram account: carers and supporters need not be members.
    if let Some(sender) = &incoming.sender {
        match name {
            "start" if !_args.is_empty() => {
                return circle::start_with_token(o, person, sender.user_id, ctx);
            }
            "members" => return circle::command_members(o, person, ctx),
            "leave" => return circle::command_leave(o, person, sender.user_id, ctx),
            "away" => return circle::command_away(o, person, sender.user_id, _args, ctx),
            "mydata" => return privacy::command_mydata(o, person, ctx),
            "delete" => return privacy::command_delete(o, person, sender, ctx),
            _ => {}
        }
    }
    match (name, &person.member) {
        // After "stop storing my answers" (`/consents`): what needs stored answers says, in
        // one message, how to start again (`/start` asks for consent again).
        (
            "checkin" | "weekly" | "schedule" | "pause" | "resume" | "week" | "plan" | "coping",
            Some(m),
        ) if !m.consented => o.reply(chat, Outgoing::text(&t.not_storing)),
        ("supporters", Some(m)) if done(m) => circle::command_supporters(o, person, m, ctx),
        ("plan", Some(m)) if done(m) => plan::command_plan(o, person, m, ctx),
        ("coping", Some(m)) if done(m) => plan::command_coping(o, person, _args, ctx),
        ("plan" | "coping", Some(m)) => {
            o.reply(chat, Outgoing::text(&t.continue_onboarding));
            onboarding::ask_current(o, chat, m, incoming, content);
        }
        ("plan" | "coping", None) => o.reply(chat, Outgoing::text(&t.not_member_yet)),
        ("consents", Some(m)) if done(m) => privacy::command_consents(o, person, ctx),
        ("supporters" | "consents", Some(m)) => {
            o.reply(chat, Outgoing::text(&t.continue_onboarding));
            onboarding::ask_current(o, chat, m, incoming, content);
        }
        ("supporters" | "consents", None) => o.reply(chat, Outgoing::text(&t.not_member_yet)),
        ("start", Some(m)) if !m.consented => onboarding::welcome(o, chat, content),
        ("schedule", Some(m)) if m.onboarding == Onboarding::Done => {
            schedules::command(o, person, m, _args, ctx)
        }
        ("pause", Some(m)) if m.onboarding == Onboarding::Done => {
            schedules::command_pause(o, chat, m, _args, ctx)
        }
        ("resume", Some(m)) if m.onboarding == Onboarding::Done => {
            schedules::command_resume(o, chat, m, ctx)
        }
        ("schedule" | "pause" | "resume", Some(m)) => {
            o.reply(chat, Outgoing::text(&t.continue_onboarding));
            onboarding::ask_current(o, chat, m, incoming, content);
        }
        ("schedule" | "pause" | "resume", None) => o.reply(chat, Outgoing::text(&t.not_member_yet)),
        ("checkin", Some(m)) if m.onboarding == Onboarding::Done => {
            checkin::command(o, person, m, ctx)
        }
        ("weekly", Some(m)) if m.onboarding == Onboarding::Done => {
            checkin::command_weekly(o, person, m, ctx)
        }
        ("checkin" | "weekly", Some(m)) => {
            o.reply(chat, Outgoing::text(&t.continue_onboarding));
            onboarding::ask_current(o, chat, m, incoming, content);
        }
        ("checkin" | "weekly", None) => o.reply(chat, Outgoing::text(&t.not_member_yet)),
        ("crisis", _) => {} // the card is already on its way
        // Someone who is only in others' circles gets their own help, not a member's.
        ("help", _) if person.member.is_none() && !person.supporting.is_empty() => {
            o.reply(chat, Outgoing::text(&t.help_supporter))
        }
        ("help", _) => o.reply(chat, Outgoing::text(&t.help)),
        ("start", None) => onboarding::welcome(o, chat, content),
        ("start", Some(m)) if m.stopped => {
            o.changes.push(Change::Resume);
            o.reply(
                chat,
                Outgoing::text(fill(&t.resumed, &[("name", m.name_or(&t.default_name))])),
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
            Outgoing::text(fill(
                &t.welcome_back,
                &[("name", m.name_or(&t.default_name))],
            )),
        ),
        ("stop", Some(m)) => {
            if !m.stopped {
                o.changes.push(Change::Stop);
            }
            o.reply(
                chat,
                Outgoing::text(fill(&t.stopped, &[("name", m.name_or(&t.default_name))])),
            );
        }
        ("stop", None) => o.reply(chat, Outgoing::text(&t.stopped_not_member)),
        ("week", Some(m)) if m.onboarding == Onboarding::Done => {
            week::command(o, person, m, _args, ctx)
        }
        ("week", Some(m)) => {
            o.reply(chat, Outgoing::text(&t.continue_onboarding));
            onboarding::ask_current(o, chat, m, incoming, content);
        }
        ("week", None) => o.reply(chat, Outgoing::text(&t.not_member_yet)),
        _ => o.reply(chat, Outgoing::text(&t.unknown_command)),
    }
}
