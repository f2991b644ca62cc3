//! `/checkin` and everything typed or pressed while a check-in is open: runs the dialog
//! engine and renders its replies as outgoing calls.

use chrono::{DateTime, Utc};

use super::{Change, Ctx, Member, OpenSession, Outcome, Person};
use crate::content::fill;
use crate::dialog::engine::{self, Advance, ButtonAction, Event, Keys, Reply};
use crate::dialog::{Dialog, Session};
use crate::domain::states::SessionStatus;
use crate::domain::{Button, ChatId, Envelope, Lane, Outgoing, SessionId};

/// Callback data of a check-in button: `q<session>.<seq>.<action>`. The session and seq only
/// locate the question; who may answer is decided by the presser's own open session.
pub fn encode(session: SessionId, seq: u32, action: ButtonAction) -> String {
    format!("q{}.{}.{}", session.0, seq, action.encode())
}

pub fn decode(data: &str) -> Option<(SessionId, u32, ButtonAction)> {
    let rest = data.strip_prefix('q')?;
    let mut parts = rest.splitn(3, '.');
    let session = parts.next()?.parse::<i64>().ok()?;
    let seq = parts.next()?.parse::<u32>().ok()?;
    let action = ButtonAction::decode(parts.next()?)?;
    Some((SessionId(session), seq, action))
}

/// `/checkin`: the daily check-in in progress (open, or put aside by `/weekly`), else
/// whatever check-in is open (a weekly one's reminder says `/checkin` too), else one put
/// aside, else a new daily check-in.
pub fn command(o: &mut Outcome, person: &Person, m: &Member, ctx: &Ctx) {
    let chat = person.chat;
    let daily = |s: &&OpenSession| ctx.checkin.is_some_and(|d| d.id == s.dialog.id);
    let open = person.session.as_ref();
    let aside = person.aside.as_ref();
    if let Some(open) = open.filter(daily) {
        return resume(o, person, m, open, ctx);
    }
    if let Some(aside) = aside.filter(daily).or(aside.filter(|_| open.is_none())) {
        o.changes.push(Change::ResumeSession { id: aside.id });
        return resume(o, person, m, aside, ctx);
    }
    if let Some(open) = open {
        return resume(o, person, m, open, ctx);
    }
    // Today's is done already: say so, and ask whether they want another.
    let tz = super::schedules::tz_of(m);
    let local = |at: DateTime<Utc>| at.with_timezone(&tz);
    if let Some(done) = person
        .last_checkin
        .filter(|at| local(*at).date_naive() == local(ctx.now).date_naive())
    {
        let t = &ctx.content.texts;
        o.reply(
            chat,
            Outgoing::with_buttons(
                fill(
                    &t.checkin_already_done,
                    &[
                        ("name", m.name_or(&t.default_name)),
                        ("time", &local(done).format("%H:%M").to_string()),
                    ],
                ),
                vec![vec![
                    Button::new(&t.checkin_another_button, AGAIN_YES),
                    Button::new(&t.checkin_not_again_button, AGAIN_NO),
                ]],
            ),
        );
        return;
    }
    begin(o, person, m, ctx);
}

/// `/weekly`: the weekly connect/give check-in — the open one, or the one put aside (by the
/// daily check-in, say), or a new one. A daily check-in open meanwhile is put aside, and
/// `/checkin` brings it back.
pub fn command_weekly(o: &mut Outcome, person: &Person, m: &Member, ctx: &Ctx) {
    let Some(dialog) = ctx.weekly else {
        o.reply(
            person.chat,
            Outgoing::text(&ctx.content.texts.unknown_command),
        );
        return;
    };
    let weekly = |s: &&OpenSession| s.dialog.id == dialog.id;
    if let Some(open) = person.session.as_ref().filter(weekly) {
        return resume(o, person, m, open, ctx);
    }
    if let Some(aside) = person.aside.as_ref().filter(weekly) {
        o.changes.push(Change::ResumeSession { id: aside.id });
        return resume(o, person, m, aside, ctx);
    }
    start_now(o, person, m, dialog, ctx);
}

/// Opens a new check-in of `dialog` now, for its whole answer window.
fn start_now(o: &mut Outcome, person: &Person, m: &Member, dialog: &Dialog, ctx: &Ctx) {
    let expires_at = ctx.now + chrono::Duration::minutes(dialog.answer_window_minutes);
    start(
        o,
        person.chat,
        m,
        dialog,
        ctx.next_session_id,
        expires_at,
        ctx,
    );
}

/// Picks up `open` where it was: "welcome back" and the current question again.
fn resume(o: &mut Outcome, person: &Person, m: &Member, open: &OpenSession, ctx: &Ctx) {
    let chat = person.chat;
    {
        let mut state = open.state.clone();
        o.reply(
            chat,
            Outgoing::text(fill(
                &ctx.content.texts.checkin_resumed,
                &[("name", m.name_or(&ctx.content.texts.default_name))],
            )),
        );
        let adv = run(
            &open.dialog,
            &mut state,
            Event::Resume,
            m,
            open.expires_at,
            ctx,
        );
        apply(
            o,
            chat,
            person.coping_notes.as_deref(),
            open.id,
            &open.dialog,
            m,
            state,
            &adv,
            None,
            ctx,
        );
    }
}

/// Callback data of "another check-in?" after today's was done.
pub const AGAIN_YES: &str = "ck:again";
pub const AGAIN_NO: &str = "ck:no";

/// "Yes, another one" or "No, that's all" after `/checkin` said today's is done. Returns
/// false if there is nothing to act on (a check-in opened meanwhile: the press is stale).
pub fn again_press(
    o: &mut Outcome,
    person: &Person,
    m: &Member,
    data: &str,
    query_id: &str,
    message_id: Option<i32>,
    ctx: &Ctx,
) -> bool {
    let t = &ctx.content.texts;
    let (label, yes) = match data {
        AGAIN_YES => (&t.checkin_another_button, true),
        AGAIN_NO => (&t.checkin_not_again_button, false),
        _ => return false,
    };
    if person.session.is_some() {
        return false;
    }
    o.reply(
        person.chat,
        Outgoing::AnswerCallback {
            query_id: query_id.to_string(),
            text: None,
        },
    );
    if let Some(id) = message_id {
        o.reply(
            person.chat,
            Outgoing::EditButtons {
                message_id: id,
                buttons: super::used_keyboard(label, t),
            },
        );
    }
    if yes {
        begin(o, person, m, ctx);
    } else {
        o.reply(person.chat, Outgoing::text(&t.checkin_not_again));
    }
    true
}

/// Starts a new daily check-in now.
fn begin(o: &mut Outcome, person: &Person, m: &Member, ctx: &Ctx) {
    match ctx.checkin {
        Some(dialog) => start_now(o, person, m, dialog, ctx),
        None => o.reply(
            person.chat,
            Outgoing::text(&ctx.content.texts.unknown_command),
        ),
    }
}

/// After a check-in is completed: if another one was put aside and is still open, say how
/// to finish it (it is not lost, and nothing else will ask for it).
fn aside_waiting(o: &mut Outcome, person: &Person, done: SessionId, m: &Member, ctx: &Ctx) {
    let Some(aside) = person.aside.as_ref().filter(|a| a.id != done) else {
        return;
    };
    if aside.expires_at <= ctx.now {
        return;
    }
    let t = &ctx.content.texts;
    let text = if ctx.weekly.is_some_and(|w| w.id == aside.dialog.id) {
        &t.aside_weekly
    } else {
        &t.aside_checkin
    };
    let until = local_time(aside.expires_at, m.timezone, ctx.now);
    o.reply(
        person.chat,
        Outgoing::text(fill(text, &[("until", &until)])),
    );
}

/// Opens a new session of `dialog` and asks its first question.
fn start(
    o: &mut Outcome,
    chat: ChatId,
    m: &Member,
    dialog: &Dialog,
    id: SessionId,
    expires_at: DateTime<Utc>,
    ctx: &Ctx,
) {
    let mut state = Session::new();
    let adv = run(dialog, &mut state, Event::Start, m, expires_at, ctx);
    o.changes.push(Change::StartSession {
        id,
        dialog_id: dialog.id.clone(),
        version: dialog.version,
        expires_at,
    });
    apply(o, chat, None, id, dialog, m, state, &adv, None, ctx);
}

/// A scheduled slot opens: a new session whose first messages go on the scheduled lane
/// (paced behind replies to people mid-conversation, and held out of quiet hours).
pub fn open_scheduled(
    chat: ChatId,
    m: &Member,
    dialog: &Dialog,
    id: SessionId,
    expires_at: DateTime<Utc>,
    ctx: &Ctx,
) -> Outcome {
    let mut o = Outcome::default();
    start(&mut o, chat, m, dialog, id, expires_at, ctx);
    for env in &mut o.out {
        if env.lane == Lane::Reply {
            env.lane = Lane::Scheduled;
        }
    }
    o
}

/// Typed text while a session is open and not paused.
pub fn text(
    o: &mut Outcome,
    person: &Person,
    m: &Member,
    open: &OpenSession,
    text: &str,
    ctx: &Ctx,
) {
    let mut state = open.state.clone();
    let adv = run(
        &open.dialog,
        &mut state,
        Event::Text(text.to_string()),
        m,
        open.expires_at,
        ctx,
    );
    apply(
        o,
        person.chat,
        person.coping_notes.as_deref(),
        open.id,
        &open.dialog,
        m,
        state,
        &adv,
        None,
        ctx,
    );
    if adv.completed {
        aside_waiting(o, person, open.id, m, ctx);
    }
}

/// A check-in button. Returns false if the press is not for the presser's open session
/// (stale, foreign or forged): the caller answers it and changes nothing.
pub fn press(
    o: &mut Outcome,
    person: &Person,
    m: &Member,
    data: &str,
    query_id: &str,
    message_id: Option<i32>,
    ctx: &Ctx,
) -> bool {
    let Some((session_id, seq, action)) = decode(data) else {
        return false;
    };
    let Some(open) = person.session.as_ref().filter(|s| s.id == session_id) else {
        return false;
    };
    let mut state = open.state.clone();
    let until = local_time(open.expires_at, m.timezone, ctx.now);
    let asked = engine::asked(&open.dialog, &state, &engine_ctx(m, &until, ctx));
    let adv = run(
        &open.dialog,
        &mut state,
        Event::Press { seq, action },
        m,
        open.expires_at,
        ctx,
    );
    apply(
        o,
        person.chat,
        person.coping_notes.as_deref(),
        open.id,
        &open.dialog,
        m,
        state,
        &adv,
        Some(Pressed {
            query_id,
            message_id,
            asked: asked.as_deref(),
        }),
        ctx,
    );
    if adv.completed {
        aside_waiting(o, person, open.id, m, ctx);
    }
    true
}

fn run(
    dialog: &Dialog,
    state: &mut Session,
    event: Event,
    m: &Member,
    expires_at: DateTime<Utc>,
    ctx: &Ctx,
) -> Advance {
    let until = local_time(expires_at, m.timezone, ctx.now);
    engine::advance(dialog, state, event, &engine_ctx(m, &until, ctx))
}

fn engine_ctx<'a>(m: &'a Member, until: &'a str, ctx: &'a Ctx) -> engine::Ctx<'a> {
    engine::Ctx {
        texts: &ctx.content.texts,
        name: m.name_or(&ctx.content.texts.default_name),
        until,
    }
}

/// "19:30", or "Tue 19:30" if not today, in the member's timezone.
fn local_time(t: DateTime<Utc>, tz: chrono_tz::Tz, now: DateTime<Utc>) -> String {
    let local = t.with_timezone(&tz);
    if local.date_naive() == now.with_timezone(&tz).date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%a %H:%M").to_string()
    }
}

/// A button press being applied: the callback to answer, the message pressed (if Telegram
/// said which), and the text of the question it was on.
struct Pressed<'a> {
    query_id: &'a str,
    message_id: Option<i32>,
    asked: Option<&'a str>,
}

/// The press answered a question and the next one follows with nothing said between: the
/// message pressed is rewritten into "the question, ✓ the answer" and the next question,
/// with its buttons — one call instead of a keyboard collapse and a new message. Anything
/// else (words between the two, a crisis card, the last answer, a typed answer) is `None`.
fn in_place(
    session: SessionId,
    replies: &[Reply],
    press: Option<&Pressed>,
    t: &crate::content::Texts,
) -> Option<Outgoing> {
    let press = press?;
    let (message_id, asked) = (press.message_id?, press.asked?);
    let [
        Reply::Rekey {
            keys: None,
            chosen: Some(label),
            ..
        },
        Reply::Ask { text, keys, seq },
    ] = replies
    else {
        return None;
    };
    Some(Outgoing::EditMessage {
        message_id,
        text: fill(
            &t.answered_then_next,
            &[("asked", asked), ("label", label), ("question", text)],
        ),
        buttons: render(session, *seq, keys),
    })
}

/// Turns the engine's replies into outgoing calls and its results into changes. `coping` is
/// what the member wrote with `/coping` (shown by "Look at my coping plan"), if anything.
#[allow(clippy::too_many_arguments)]
fn apply(
    o: &mut Outcome,
    chat: ChatId,
    coping: Option<&str>,
    session: SessionId,
    dialog: &Dialog,
    m: &Member,
    state: Session,
    adv: &Advance,
    press: Option<Pressed>,
    ctx: &Ctx,
) {
    let mut notice: Option<String> = None;
    let message_id = press.as_ref().and_then(|p| p.message_id);
    let replies: &[Reply] =
        match in_place(session, &adv.replies, press.as_ref(), &ctx.content.texts) {
            Some(edit) => {
                o.reply(chat, edit);
                &[]
            }
            None => &adv.replies,
        };
    for reply in replies {
        match reply {
            Reply::Say(text) => o.reply(chat, Outgoing::text(text)),
            Reply::Ask { text, keys, seq } => o.reply(
                chat,
                Outgoing::with_buttons(text, render(session, *seq, keys)),
            ),
            Reply::Rekey { keys, chosen, seq } => {
                if let Some(id) = message_id {
                    // A new keyboard (a choice ticked) is the answer to the press; collapsing
                    // an answered question's keyboard is tidying, which the next question
                    // overtakes.
                    let (buttons, lane) = match (keys, chosen) {
                        (Some(keys), _) => (render(session, *seq, keys), Lane::Reply),
                        (None, Some(label)) => {
                            (super::used_keyboard(label, &ctx.content.texts), Lane::Tidy)
                        }
                        (None, None) => (vec![], Lane::Tidy),
                    };
                    o.out.push(Envelope {
                        chat,
                        lane,
                        body: Outgoing::EditButtons {
                            message_id: id,
                            buttons,
                        },
                    });
                }
            }
            Reply::Notice(text) => notice = Some(text.clone()),
            Reply::CrisisCard => o.out.push(Envelope::urgent(
                chat,
                Outgoing::text(ctx.content.crisis.text()),
            )),
            Reply::CopingPlan => {
                let t = &ctx.content.texts;
                let text = match coping {
                    Some(notes) => fill(&t.coping_plan_own, &[("notes", notes)]),
                    None => t.coping_plan_default.clone(),
                };
                o.reply(chat, Outgoing::text(text))
            }
        }
    }
    if let Some(p) = &press {
        // Answer the press first, so the spinner stops before anything else arrives.
        o.out.insert(
            0,
            Envelope::reply(
                chat,
                Outgoing::AnswerCallback {
                    query_id: p.query_id.to_string(),
                    text: notice,
                },
            ),
        );
    }
    if !adv.stored.is_empty() {
        o.changes.push(Change::StoreAnswers {
            session,
            member: m.id,
            dialog_id: dialog.id.clone(),
            version: dialog.version,
            answers: adv.stored.clone(),
        });
    }
    let status = if state.is_finished() {
        SessionStatus::Completed
    } else if state.paused {
        SessionStatus::Paused
    } else {
        SessionStatus::Active
    };
    o.changes.push(Change::SaveSession {
        id: session,
        status,
        state,
    });
}

fn render(session: SessionId, seq: u32, keys: &Keys) -> Vec<Vec<Button>> {
    keys.iter()
        .map(|row| {
            row.iter()
                .map(|(label, action)| Button::new(label.clone(), encode(session, seq, *action)))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data_round_trips_and_stays_within_telegrams_64_bytes() {
        let data = encode(SessionId(i64::MAX), u32::MAX, ButtonAction::Toggle(999));
        assert!(data.len() <= 64, "{}", data.len());
        assert_eq!(
            decode(&data),
            Some((SessionId(i64::MAX), u32::MAX, ButtonAction::Toggle(999)))
        );
        for bad in [
            "q",
            "q1",
            "q1.2",
            "q1.2.x",
            "qa.2.c1",
            "x1.2.c1",
            "q1.2.c1.extra",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_an_answer_followed_by_the_next_question_and_nothing_else_is_rewritten_in_place() {
        let content = crate::content::Content::load(
            &crate::content::shipped_dialogs_dir(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        )
        .content
        .unwrap();
        let t = &content.texts;
        let collapse = Reply::Rekey {
            keys: None,
            chosen: Some("7".into()),
            seq: 1,
        };
        let ask = Reply::Ask {
            text: "How was your sleep last night?".into(),
            keys: vec![vec![("Very good".into(), ButtonAction::Choose(0))]],
            seq: 2,
        };
        let press = |message_id| Pressed {
            query_id: "q",
            message_id,
            asked: Some("Overall, how happy did you feel yesterday?"),
        };
        let s = SessionId(5);
        let edit = in_place(
            s,
            &[collapse.clone(), ask.clone()],
            Some(&press(Some(40))),
            t,
        );
        assert_eq!(
            edit,
            Some(Outgoing::EditMessage {
                message_id: 40,
                text: "Overall, how happy did you feel yesterday?\n✓ 7\n\nHow was your sleep last night?".into(),
                buttons: vec![vec![Button::new("Very good", "q5.2.c0")]],
            })
        );
        let said = Reply::Say("Thanks".into());
        let toggled = Reply::Rekey {
            keys: Some(vec![]),
            chosen: None,
            seq: 1,
        };
        for (replies, press) in [
            // Words, a card or a notice between the answer and the next question.
            (
                vec![collapse.clone(), said.clone(), ask.clone()],
                press(Some(40)),
            ),
            (
                vec![collapse.clone(), Reply::CrisisCard, ask.clone()],
                press(Some(40)),
            ),
            (
                vec![collapse.clone(), ask.clone(), Reply::Notice("n".into())],
                press(Some(40)),
            ),
            // The last answer: no next question.
            (vec![collapse.clone(), said], press(Some(40))),
            // A tick in a multi-choice question.
            (vec![toggled], press(Some(40))),
            // Telegram did not say which message was pressed.
            (vec![collapse.clone(), ask.clone()], press(None)),
        ] {
            assert_eq!(in_place(s, &replies, Some(&press), t), None, "{replies:?}");
        }
        assert_eq!(
            in_place(s, &[collapse, ask], None, t),
            None,
            "typed, not pressed"
        );
    }
}
