//! The member's circle in conversation: `/supporters` (list, reorder, remove, invite), joining
//! through an invite link (`/start <token>`: accept or decline, then the member confirms),
//! and what carers and supporters can do: `/members`, `/away`, `/leave`.
//!
//! Every button here is server-side (`b:<token>`): the processor looks the token up and the
//! conversation sees only the presser's own live [`Action`]; targets are checked again
//! against the presser's own circle, so a forged, foreign, stale or replayed press changes
//! nothing.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{Change, Ctx, Member, Outcome, Person};
use crate::content::fill;
use crate::domain::circle::{
    Action, BUTTON_PREFIX, CONFIRM_TTL, InviteLookup, NewButton, Role, TieStatus,
};
use crate::domain::{Button, ChatId, Envelope, MemberId, Outgoing, Sender, UpdateId, UserId};

/// Invite links work for this long.
pub const INVITE_TTL: Duration = Duration::hours(72);
/// Menus and questions stay pressable for this long.
pub(super) const MENU_TTL: Duration = Duration::hours(24);

/// Makes a keyboard of server-side buttons for `user` (one group: pressing any of them uses
/// up all of them) and records them.
pub(super) fn keyboard(
    o: &mut Outcome,
    ctx: &Ctx,
    user: UserId,
    member: Option<MemberId>,
    ttl: Duration,
    rows: Vec<Vec<(String, Action)>>,
) -> Vec<Vec<Button>> {
    let (buttons, new) = server_buttons(ctx.tokens, ctx.now + ttl, user, member, rows);
    o.changes.push(Change::RegisterButtons(new));
    buttons
}

/// The buttons of one keyboard for `user`, and what the store must remember about them.
pub fn server_buttons(
    tokens: &crate::token::Tokens,
    expires_at: DateTime<Utc>,
    user: UserId,
    member: Option<MemberId>,
    rows: Vec<Vec<(String, Action)>>,
) -> (Vec<Vec<Button>>, Vec<NewButton>) {
    let group = tokens.button();
    let mut new = Vec::new();
    let buttons = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|(label, action)| {
                    let token = tokens.button();
                    let data = format!("{BUTTON_PREFIX}{token}");
                    new.push(NewButton {
                        token,
                        group: group.clone(),
                        user,
                        member,
                        label: label.clone(),
                        action,
                        expires_at,
                    });
                    Button::new(label, data)
                })
                .collect()
        })
        .collect();
    (buttons, new)
}

pub(super) fn role_label<'a>(ctx: &'a Ctx, role: Role) -> &'a str {
    let t = &ctx.content.texts;
    match role {
        Role::Carer => &t.role_carer,
        Role::Supporter => &t.role_supporter,
        Role::Both => &t.role_both,
    }
}

/// What a person in this role will receive, in the member's name.
pub(super) fn receives(ctx: &Ctx, role: Role, member_name: &str) -> String {
    let t = &ctx.content.texts;
    let one = |s: &str| fill(s, &[("name", member_name)]);
    match role {
        Role::Carer => one(&t.receives_carer),
        Role::Supporter => one(&t.receives_supporter),
        Role::Both => format!("{} {}", one(&t.receives_carer), one(&t.receives_supporter)),
    }
}

fn person_label(name: &str, username: Option<&str>) -> String {
    match username {
        Some(u) => format!("{name} (@{u})"),
        None => name.to_string(),
    }
}

/// A day in UK time (carers and supporters have no timezone of their own here), with the
/// year when it is not this year's.
pub(super) fn date(t: DateTime<Utc>, ctx: &Ctx) -> String {
    let uk = chrono_tz::Europe::London;
    crate::schedule::day_label(
        &t.with_timezone(&uk),
        ctx.now.with_timezone(&uk).date_naive(),
    )
}

fn member_name<'a>(m: &'a Member, ctx: &'a Ctx) -> &'a str {
    m.name_or(&ctx.content.texts.default_name)
}

// ---- /supporters ---------------------------------------------------------------------------

/// The circle in escalation order, with buttons to invite, move up and remove.
pub fn command_supporters(o: &mut Outcome, person: &Person, m: &Member, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let mut rows = vec![vec![(t.invite_button.clone(), Action::Invite)]];
    let text = if person.circle.is_empty() {
        t.circle_empty.clone()
    } else {
        let mut lines = Vec::new();
        for (i, tie) in person.circle.iter().enumerate() {
            let mut line = fill(
                &t.circle_line,
                &[
                    ("position", &(i + 1).to_string()),
                    ("person", &person_label(&tie.name, tie.username.as_deref())),
                    ("role", role_label(ctx, tie.role)),
                ],
            );
            if tie.status == TieStatus::Awaiting {
                line.push_str(&t.circle_awaiting);
            } else if let Some(until) = tie.away_until.filter(|u| *u > ctx.now) {
                line.push_str(&fill(&t.circle_away, &[("until", &date(until, ctx))]));
            }
            lines.push(line);
            let mut row = Vec::new();
            if i > 0 && tie.status == TieStatus::Active {
                row.push((
                    fill(&t.move_up_button, &[("name", &tie.name)]),
                    Action::MoveUp { tie: tie.id },
                ));
            }
            row.push((
                fill(&t.remove_button, &[("name", &tie.name)]),
                Action::RemoveAsk { tie: tie.id },
            ));
            rows.push(row);
        }
        fill(&t.circle_list, &[("list", &lines.join("\n"))])
    };
    let buttons = keyboard(o, ctx, m.telegram_user, Some(m.id), MENU_TTL, rows);
    o.reply(person.chat, Outgoing::with_buttons(text, buttons));
}

fn ask_role(o: &mut Outcome, person: &Person, m: &Member, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let buttons = keyboard(
        o,
        ctx,
        m.telegram_user,
        Some(m.id),
        MENU_TTL,
        vec![
            vec![(
                t.role_carer_button.clone(),
                Action::InviteRole { role: Role::Carer },
            )],
            vec![(
                t.role_supporter_button.clone(),
                Action::InviteRole {
                    role: Role::Supporter,
                },
            )],
            vec![(
                t.role_both_button.clone(),
                Action::InviteRole { role: Role::Both },
            )],
        ],
    );
    o.reply(
        person.chat,
        Outgoing::with_buttons(&t.ask_invite_role, buttons),
    );
}

fn create_invite(o: &mut Outcome, person: &Person, m: &Member, role: Role, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let Some(bot) = ctx.bot_username else {
        o.reply(person.chat, Outgoing::text(&t.invite_unavailable));
        return;
    };
    let token = ctx.tokens.invite();
    o.changes.push(Change::CreateInvite {
        member: m.id,
        token_hash: crate::token::hash(&token),
        role,
        expires_at: ctx.now + INVITE_TTL,
    });
    let link = format!("https://t.me/{bot}?start={token}");
    o.reply(
        person.chat,
        Outgoing::text(fill(
            &t.invite_link,
            &[("role", role_label(ctx, role)), ("link", &link)],
        )),
    );
}

// ---- joining -------------------------------------------------------------------------------

/// `/start <token>` from anyone: who invited them and what they would receive, or the same
/// neutral reply for every kind of bad token.
pub fn start_with_token(o: &mut Outcome, person: &Person, sender: UserId, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let chat = person.chat;
    match &person.invite {
        Some(InviteLookup::RateLimited) => {
            o.reply(chat, Outgoing::text(&t.invite_rate_limited));
        }
        None | Some(InviteLookup::Invalid) => {
            o.changes.push(Change::InviteFailed);
            o.reply(chat, Outgoing::text(&t.invite_invalid));
        }
        Some(InviteLookup::Valid {
            invite,
            member,
            member_user,
            member_name,
            role,
            expires_at,
            ..
        }) => {
            if *member_user == sender {
                o.reply(chat, Outgoing::text(&t.invite_own));
            } else if person.supporting.iter().any(|s| s.member == *member) {
                o.reply(
                    chat,
                    Outgoing::text(fill(&t.invite_already, &[("name", member_name)])),
                );
            } else {
                let text = fill(
                    &t.invite_offer,
                    &[
                        ("name", member_name),
                        ("role", role_label(ctx, *role)),
                        ("receives", &receives(ctx, *role, member_name)),
                    ],
                );
                let ttl = (*expires_at - ctx.now).max(Duration::minutes(1));
                let buttons = keyboard(
                    o,
                    ctx,
                    sender,
                    None,
                    ttl,
                    vec![vec![
                        (t.accept_button.clone(), Action::Accept { invite: *invite }),
                        (
                            t.decline_button.clone(),
                            Action::Decline { invite: *invite },
                        ),
                    ]],
                );
                o.reply(chat, Outgoing::with_buttons(text, buttons));
            }
        }
    }
}

// ---- /members, /leave, /away -----------------------------------------------------------------

pub fn command_members(o: &mut Outcome, person: &Person, ctx: &Ctx) {
    let t = &ctx.content.texts;
    if person.supporting.is_empty() {
        o.reply(person.chat, Outgoing::text(&t.members_none));
        return;
    }
    let lines: Vec<String> = person
        .supporting
        .iter()
        .map(|s| {
            let mut line = fill(
                &t.members_line,
                &[
                    ("name", &s.member_name),
                    ("role", role_label(ctx, s.role)),
                    ("date", &date(s.since, ctx)),
                ],
            );
            if s.status == TieStatus::Awaiting {
                line.push_str(&t.members_awaiting);
            }
            line
        })
        .collect();
    let mut text = fill(&t.members_list, &[("list", &lines.join("\n"))]);
    if let Some(until) = person.away_until.filter(|u| *u > ctx.now) {
        text.push_str("\n\n");
        text.push_str(&fill(&t.away_set, &[("until", &date(until, ctx))]));
    }
    o.reply(person.chat, Outgoing::text(text));
}

pub fn command_leave(o: &mut Outcome, person: &Person, sender: UserId, ctx: &Ctx) {
    let t = &ctx.content.texts;
    if person.supporting.is_empty() {
        o.reply(person.chat, Outgoing::text(&t.members_none));
        return;
    }
    let rows = person
        .supporting
        .iter()
        .map(|s| {
            vec![(
                fill(&t.leave_button, &[("name", &s.member_name)]),
                Action::Leave { tie: s.tie },
            )]
        })
        .collect();
    let buttons = keyboard(o, ctx, sender, None, MENU_TTL, rows);
    o.reply(person.chat, Outgoing::with_buttons(&t.leave_which, buttons));
}

pub fn command_away(o: &mut Outcome, person: &Person, sender: UserId, args: &str, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let chat = person.chat;
    if person.supporting.is_empty() {
        o.reply(chat, Outgoing::text(&t.away_not_in_circle));
        return;
    }
    let args = args.trim();
    if args.is_empty() {
        let rows = vec![
            vec![
                (t.pause_1d.clone(), Action::Away { days: Some(1) }),
                (t.pause_1w.clone(), Action::Away { days: Some(7) }),
                (t.pause_2w.clone(), Action::Away { days: Some(14) }),
            ],
            vec![(t.away_back_button.clone(), Action::Away { days: None })],
        ];
        let buttons = keyboard(o, ctx, sender, None, MENU_TTL, rows);
        o.reply(chat, Outgoing::with_buttons(&t.ask_away, buttons));
        return;
    }
    let today = ctx
        .now
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive();
    match crate::schedule::parse_day(args, today) {
        None => o.reply(chat, Outgoing::text(&t.away_invalid)),
        Some(day) => {
            // Away until the start of that day, UK time (supporters have no timezone of
            // their own here).
            let until = day
                .and_hms_opt(0, 0, 0)
                .and_then(|d| chrono_tz::Europe::London.from_local_datetime(&d).earliest())
                .map(|d| d.with_timezone(&Utc));
            match until {
                Some(u) if u > ctx.now => set_away(o, chat, Some(u), ctx),
                _ => o.reply(chat, Outgoing::text(&t.pause_in_past)),
            }
        }
    }
}

fn set_away(o: &mut Outcome, chat: ChatId, until: Option<DateTime<Utc>>, ctx: &Ctx) {
    let t = &ctx.content.texts;
    o.changes.push(Change::SetAway { until });
    let text = match until {
        Some(u) => fill(&t.away_set, &[("until", &date(u, ctx))]),
        None => t.away_back.clone(),
    };
    o.reply(chat, Outgoing::text(text));
}

// ---- presses -------------------------------------------------------------------------------

/// A live press of one of this person's own server-side buttons. Returns false if its
/// target is no longer theirs to act on (then nothing changes).
pub(super) fn press(
    o: &mut Outcome,
    person: &Person,
    s: &Sender,
    update: UpdateId,
    action: &Action,
    ctx: &Ctx,
) -> bool {
    let sender = s.user_id;
    let t = &ctx.content.texts;
    let chat = person.chat;
    let me = person.member.as_ref();
    match action {
        Action::Invite => match me {
            Some(m) => {
                ask_role(o, person, m, ctx);
                true
            }
            None => false,
        },
        Action::InviteRole { role } => match me {
            Some(m) => {
                create_invite(o, person, m, *role, ctx);
                true
            }
            None => false,
        },
        Action::Accept { invite } | Action::Decline { invite } => {
            let Some(InviteLookup::Valid {
                invite: found,
                member_chat,
                member_user,
                member,
                member_name,
                role,
                ..
            }) = &person.invite
            else {
                o.reply(chat, Outgoing::text(&t.invite_invalid));
                return true;
            };
            if found != invite || *member_user == sender {
                return false;
            }
            if person.supporting.iter().any(|x| x.member == *member) {
                o.reply(
                    chat,
                    Outgoing::text(fill(&t.invite_already, &[("name", member_name)])),
                );
                return true;
            }
            if matches!(action, Action::Decline { .. }) {
                o.changes.push(Change::DeclineInvite { invite: *invite });
                o.reply(chat, Outgoing::text(&t.invite_declined));
                o.out.push(Envelope::reply(
                    *member_chat,
                    Outgoing::text(&t.member_told_declined),
                ));
                return true;
            }
            o.changes.push(Change::AcceptInvite {
                invite: *invite,
                user: sender,
                name: s.first_name.clone(),
                username: s.username.clone(),
            });
            o.reply(
                chat,
                Outgoing::text(fill(&t.invite_accepted, &[("name", member_name)])),
            );
            let question = fill(
                &t.confirm_ask,
                &[
                    (
                        "person",
                        &person_label(&s.first_name, s.username.as_deref()),
                    ),
                    ("role", role_label(ctx, *role)),
                    ("receives", &receives(ctx, *role, member_name)),
                ],
            );
            let mut member_side = Outcome::default();
            let buttons = keyboard(
                &mut member_side,
                ctx,
                *member_user,
                Some(*member),
                CONFIRM_TTL,
                vec![vec![
                    (
                        fill(&t.confirm_yes_button, &[("name", &s.first_name)]),
                        Action::Confirm {
                            invite: *invite,
                            wording: question.clone(),
                            version: ctx.content.texts_version,
                        },
                    ),
                    (
                        t.confirm_no_button.clone(),
                        Action::Reject { invite: *invite },
                    ),
                ]],
            );
            o.changes.extend(member_side.changes);
            o.out.push(Envelope::reply(
                *member_chat,
                Outgoing::with_buttons(question, buttons),
            ));
            true
        }
        Action::Confirm { invite, .. } | Action::Reject { invite } => {
            let Some(m) = me else { return false };
            let Some(tie) = person
                .circle
                .iter()
                .find(|t| t.invite_id == Some(*invite) && t.status == TieStatus::Awaiting)
            else {
                return false;
            };
            let name = member_name(m, ctx);
            if matches!(action, Action::Reject { .. }) {
                o.changes.push(Change::EndTie {
                    tie: tie.id,
                    why: "not confirmed",
                });
                o.reply(
                    chat,
                    Outgoing::text(fill(&t.reject_done, &[("name", &tie.name)])),
                );
                o.out.push(Envelope::reply(
                    tie.chat,
                    Outgoing::text(fill(&t.reject_told, &[("name", name)])),
                ));
                return true;
            }
            // The consent is recorded against exactly what the member was shown.
            let Action::Confirm {
                wording, version, ..
            } = action
            else {
                return false;
            };
            o.changes.push(Change::ConfirmTie {
                tie: tie.id,
                role: tie.role,
                wording: wording.clone(),
                version: *version,
            });
            o.reply(
                chat,
                Outgoing::text(fill(
                    &t.confirm_done,
                    &[("name", &tie.name), ("role", role_label(ctx, tie.role))],
                )),
            );
            o.out.push(Envelope::reply(
                tie.chat,
                Outgoing::text(fill(
                    &t.confirm_told,
                    &[("name", name), ("role", role_label(ctx, tie.role))],
                )),
            ));
            true
        }
        Action::MoveUp { tie } => {
            let Some(m) = me else { return false };
            let Some(i) = person.circle.iter().position(|t| t.id == *tie) else {
                return false;
            };
            if i == 0 {
                return false;
            }
            o.changes.push(Change::MoveUp { tie: *tie });
            o.reply(
                chat,
                Outgoing::text(fill(
                    &t.moved_up,
                    &[
                        ("name", &person.circle[i].name),
                        ("position", &i.to_string()),
                    ],
                )),
            );
            // Show the list again in its new order.
            let mut moved = person.clone();
            moved.circle.swap(i - 1, i);
            command_supporters(o, &moved, m, ctx);
            true
        }
        Action::RemoveAsk { tie } => {
            let Some(m) = me else { return false };
            let Some(found) = person.circle.iter().find(|t| t.id == *tie) else {
                return false;
            };
            let name = [("name", found.name.as_str())];
            let buttons = keyboard(
                o,
                ctx,
                m.telegram_user,
                Some(m.id),
                MENU_TTL,
                vec![vec![
                    (
                        fill(&t.remove_yes_button, &name),
                        Action::Remove { tie: *tie },
                    ),
                    (
                        fill(&t.remove_no_button, &name),
                        Action::RemoveKeep { tie: *tie },
                    ),
                ]],
            );
            o.reply(
                chat,
                Outgoing::with_buttons(fill(&t.remove_confirm, &name), buttons),
            );
            true
        }
        Action::RemoveKeep { tie } => {
            let Some(found) = person.circle.iter().find(|t| t.id == *tie) else {
                return false;
            };
            o.reply(
                chat,
                Outgoing::text(fill(&t.remove_kept, &[("name", &found.name)])),
            );
            true
        }
        Action::Remove { tie } => {
            let Some(m) = me else { return false };
            let Some(found) = person.circle.iter().find(|t| t.id == *tie) else {
                return false;
            };
            o.changes.push(Change::EndTie {
                tie: *tie,
                why: "removed",
            });
            o.reply(
                chat,
                Outgoing::text(fill(&t.removed, &[("name", &found.name)])),
            );
            o.out.push(Envelope::reply(
                found.chat,
                Outgoing::text(fill(&t.link_ended, &[("name", member_name(m, ctx))])),
            ));
            true
        }
        Action::Leave { tie } => {
            let Some(found) = person.supporting.iter().find(|s| s.tie == *tie) else {
                return false;
            };
            let name = s.first_name.clone();
            o.changes.push(Change::EndTie {
                tie: *tie,
                why: "left",
            });
            o.reply(
                chat,
                Outgoing::text(fill(&t.left, &[("name", &found.member_name)])),
            );
            o.out.push(Envelope::reply(
                found.member_chat,
                Outgoing::text(fill(&t.left_told, &[("name", &name)])),
            ));
            true
        }
        Action::Away { days } => {
            if person.supporting.is_empty() {
                return false;
            }
            set_away(
                o,
                chat,
                days.map(|d| ctx.now + Duration::days(d as i64)),
                ctx,
            );
            true
        }
        Action::Ack { .. }
        | Action::AskAnswer { .. }
        | Action::PlanRule { .. }
        | Action::PlanValue { .. }
        | Action::PlanWho { .. }
        | Action::PlanAsk { .. }
        | Action::PlanOff { .. }
        | Action::PlanCoping
        | Action::PlanSettings
        | Action::PlanSet { .. } => super::plan::press(o, person, action, ctx),
        Action::ShareWeek { .. } | Action::ShareWeekYes { .. } | Action::ShareWeekNo => {
            super::week::press(o, person, action, ctx)
        }
        Action::Revoke { .. } | Action::EraseAsk | Action::EraseNow | Action::EraseCancel => {
            super::privacy::press(o, person, s, update, action, ctx)
        }
    }
}
