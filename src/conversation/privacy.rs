//! What a person has agreed to and what is kept about them: `/consents` (see and withdraw,
//! one tap each), `/mydata` (everything, as a file), `/delete` (erase everything, asked
//! twice).

use chrono::Duration;

use super::circle::{MENU_TTL, date, keyboard};
use super::{Change, Ctx, Outcome, Person};
use crate::content::fill;
use crate::domain::circle::{Action, Purpose};
use crate::domain::{ChatId, Envelope, Lane, Outgoing, Sender, UpdateId};

const ERASE_TTL: Duration = Duration::hours(1);

fn what<'a>(ctx: &'a Ctx, p: Purpose) -> &'a str {
    let t = &ctx.content.texts;
    match p {
        Purpose::Nudges => &t.what_nudges,
        Purpose::Alerts => &t.what_alerts,
        Purpose::StoreAnswers => &t.what_store,
    }
}

fn tie_name(person: &Person, tie: Option<i64>) -> &str {
    tie.and_then(|id| person.circle.iter().find(|t| t.id == id))
        .map(|t| t.name.as_str())
        .unwrap_or("?")
}

/// `/consents`: every consent that stands, in plain language, each with a withdraw button.
pub fn command_consents(o: &mut Outcome, person: &Person, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let Some(m) = &person.member else { return };
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    for c in &person.consents {
        match c.purpose {
            Purpose::StoreAnswers => {
                lines.push(fill(
                    &t.consent_line_store,
                    &[("date", &date(c.granted_at, ctx))],
                ));
                rows.push(vec![(
                    t.revoke_store_button.clone(),
                    Action::Revoke { consent: c.id },
                )]);
            }
            p => {
                let name = tie_name(person, c.tie);
                lines.push(fill(
                    &t.consent_line_person,
                    &[
                        ("name", name),
                        ("what", what(ctx, p)),
                        ("date", &date(c.granted_at, ctx)),
                    ],
                ));
                rows.push(vec![(
                    fill(&t.revoke_button, &[("name", name), ("what", what(ctx, p))]),
                    Action::Revoke { consent: c.id },
                )]);
            }
        }
    }
    if lines.is_empty() {
        o.reply(person.chat, Outgoing::text(&t.consents_none));
        return;
    }
    let buttons = keyboard(o, ctx, m.telegram_user, Some(m.id), MENU_TTL, rows);
    o.reply(
        person.chat,
        Outgoing::with_buttons(
            fill(&t.consents_list, &[("list", &lines.join("\n"))]),
            buttons,
        ),
    );
}

/// `/mydata`: the store assembles the file in the same transaction.
pub fn command_mydata(o: &mut Outcome, person: &Person, ctx: &Ctx) {
    let t = &ctx.content.texts;
    if !person.holds_data {
        o.reply(person.chat, Outgoing::text(&t.mydata_nothing));
        return;
    }
    o.changes.push(Change::Export {
        summary: t.mydata_summary.clone(),
        caption: t.mydata_caption.clone(),
    });
}

/// `/delete`: what will be erased, then the first of two questions.
pub fn command_delete(o: &mut Outcome, person: &Person, sender: &Sender, ctx: &Ctx) {
    let t = &ctx.content.texts;
    if !person.holds_data {
        o.reply(person.chat, Outgoing::text(&t.delete_nothing));
        return;
    }
    ask_erase(
        o,
        person,
        sender,
        &t.delete_explain,
        &t.erase_yes_button,
        Action::EraseAsk,
        ctx,
    );
}

/// One of the two erase questions: `yes` (doing `then`) or keep.
fn ask_erase(
    o: &mut Outcome,
    person: &Person,
    sender: &Sender,
    question: &str,
    yes: &str,
    then: Action,
    ctx: &Ctx,
) {
    let t = &ctx.content.texts;
    let buttons = keyboard(
        o,
        ctx,
        sender.user_id,
        person.member.as_ref().map(|m| m.id),
        ERASE_TTL,
        vec![vec![
            (yes.to_string(), then),
            (t.erase_no_button.clone(), Action::EraseCancel),
        ]],
    );
    o.reply(person.chat, Outgoing::with_buttons(question, buttons));
}

pub(super) fn press(
    o: &mut Outcome,
    person: &Person,
    sender: &Sender,
    update: UpdateId,
    action: &Action,
    ctx: &Ctx,
) -> bool {
    let t = &ctx.content.texts;
    let chat = person.chat;
    match action {
        Action::Revoke { consent } => {
            let Some(c) = person.consents.iter().find(|c| c.id == *consent) else {
                return false;
            };
            o.changes.push(Change::RevokeConsent { consent: c.id });
            let receipt = match c.purpose {
                Purpose::StoreAnswers => {
                    o.changes.push(Change::Stop);
                    t.revoked_store.clone()
                }
                p => fill(
                    &t.revoked_person,
                    &[("name", tie_name(person, c.tie)), ("what", what(ctx, p))],
                ),
            };
            o.reply(chat, Outgoing::text(receipt));
            if c.purpose != Purpose::StoreAnswers {
                // The rest, with fresh buttons, so the next withdrawal is one tap too.
                let mut rest = person.clone();
                rest.consents.retain(|x| x.id != c.id);
                command_consents(o, &rest, ctx);
            }
            true
        }
        Action::EraseAsk => {
            let (q, yes) = (&t.delete_sure, &t.erase_now_button);
            ask_erase(o, person, sender, q, yes, Action::EraseNow, ctx);
            true
        }
        Action::EraseCancel => {
            o.reply(chat, Outgoing::text(&t.delete_cancelled));
            true
        }
        Action::EraseNow => {
            o.changes.push(Change::Erase { through: update });
            // Their people learn only that the link has ended.
            if let Some(m) = &person.member {
                let name = m.name_or(&t.default_name);
                for tie in &person.circle {
                    o.out.push(Envelope::reply(
                        tie.chat,
                        Outgoing::text(fill(&t.link_ended, &[("name", name)])),
                    ));
                }
            }
            for s in &person.supporting {
                o.out.push(Envelope::reply(
                    s.member_chat,
                    Outgoing::text(fill(&t.left_told, &[("name", &sender.first_name)])),
                ));
            }
            o.reply(chat, Outgoing::text(&t.delete_done));
            true
        }
        _ => false,
    }
}

/// A plain name for what a table holds, for the `/mydata` summary (the file itself keeps
/// the table names).
fn kind_of(table: &str) -> &str {
    match table {
        "members" => "your profile",
        "answers" => "answers",
        "sessions" => "check-ins",
        "slots" => "scheduled check-ins",
        "schedules" => "schedules",
        "consents" => "consents",
        "circle" => "people in a circle",
        "invites" => "invite links",
        "outbox" => "messages I sent or will send",
        "inbox" => "messages you sent (their content is already erased)",
        "audit" => "audit entries",
        "buttons" => "buttons I showed you",
        other => other,
    }
}

/// What `/mydata` sends once the store has gathered a person's rows: the summary (how many
/// of each kind) and the file itself.
pub fn export_messages(
    chat: ChatId,
    doc: &serde_json::Value,
    counts: &[(String, usize)],
    summary: &str,
    caption: &str,
) -> anyhow::Result<Vec<Envelope>> {
    let list: Vec<String> = counts
        .iter()
        .map(|(table, n)| format!("• {}: {n}", kind_of(table)))
        .collect();
    Ok(vec![
        Envelope {
            chat,
            lane: Lane::Reply,
            body: Outgoing::text(fill(summary, &[("list", &list.join("\n"))])),
        },
        Envelope {
            chat,
            lane: Lane::Reply,
            body: Outgoing::Document {
                filename: "staywell-mydata.json".into(),
                content: serde_json::to_string_pretty(doc)?,
                caption: caption.to_string(),
            },
        },
    ])
}
