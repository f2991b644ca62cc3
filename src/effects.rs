//! The one interpreter of effects: the conversation's [`Change`]s are applied here, in
//! order, through the store, with the product rules that follow from them (a new timezone
//! moves schedules and waiting messages; a pause cancels routine messages; a completed
//! check-in lets a waiting slot open). Every message then leaves by one door:
//! [`enqueue`], into the outbox, in the transaction that made it.

use chrono::{DateTime, Utc};

use crate::conversation::Change;
use crate::domain::member::QuietHours;
use crate::domain::{ChatId, Envelope, UpdateId};
use crate::schedule::{Days, LocalTime, Recurrence};
use crate::store::{Conn, Store};

/// A check-in held while a member was paused or stopped is asked after all when they come
/// back only if its window has at least this long left.
const REOPEN_MARGIN: chrono::Duration = chrono::Duration::minutes(15);

/// Applies the conversation's changes for `chat`, in order. Returns the messages the
/// changes themselves produce (an export's summary and file), to be queued after the
/// outcome's own.
pub async fn apply(
    tx: &mut Conn,
    chat: ChatId,
    changes: &[Change],
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Envelope>> {
    let mut follow_ups = Vec::new();
    let mut skip_next = false;
    for (i, change) in changes.iter().enumerate() {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        match change {
            Change::CreateMember {
                user,
                consent_wording,
                consent_version,
            } => {
                Store::create_member(tx, chat, *user, consent_wording, *consent_version, now)
                    .await?
            }
            Change::Reconsent {
                consent_wording,
                consent_version,
            } => Store::reconsent(tx, chat, consent_wording, *consent_version, now).await?,
            Change::RegisterButtons(buttons) => Store::register_buttons(tx, buttons, now).await?,
            Change::UseButtons { group } => Store::use_buttons(tx, group, now).await?,
            Change::CreateInvite {
                member,
                token_hash,
                role,
                expires_at,
            } => {
                Store::create_invite(tx, chat, *member, token_hash, *role, *expires_at, now).await?
            }
            Change::InviteFailed => Store::invite_failed(tx, chat, now).await?,
            Change::AcceptInvite {
                invite,
                user,
                name,
                username,
            } => {
                Store::accept_invite(tx, chat, *invite, *user, name, username.as_deref(), now)
                    .await?
            }
            Change::DeclineInvite { invite } => {
                Store::decline_invite(tx, chat, *invite, now).await?
            }
            Change::ConfirmTie {
                tie,
                role,
                wording,
                version,
            } => Store::confirm_tie(tx, chat, *tie, *role, wording, *version, now).await?,
            Change::EndTie { tie, why } => Store::end_tie(tx, chat, *tie, why, now).await?,
            Change::MoveUp { tie } => Store::move_up(tx, chat, *tie, now).await?,
            Change::SetAway { until } => Store::set_away(tx, chat, *until, now).await?,
            Change::RevokeConsent { consent } => {
                Store::revoke_consent(tx, chat, *consent, now).await?
            }
            Change::Export { summary, caption } => {
                let (doc, counts) = Store::export(tx, chat, now).await?;
                follow_ups.extend(crate::conversation::privacy::export_messages(
                    chat, &doc, &counts, summary, caption,
                )?);
            }
            Change::Erase { through } => Store::erase(tx, chat, *through, now).await?,
            Change::SetPlanRule {
                rule,
                wording,
                shares,
                version,
            } => Store::set_plan_rule(tx, chat, rule, wording, shares, *version, now).await?,
            Change::TurnOffRule { rule } => Store::turn_off_rule(tx, chat, rule, now).await?,
            Change::SetCopingNotes(notes) => {
                Store::set_coping_notes(tx, chat, notes.as_deref()).await?
            }
            Change::AckAlert { alert, how } => Store::ack_alert(tx, chat, *alert, how, now).await?,
            Change::ShareChart {
                tie,
                wording,
                version,
                chart,
            } => Store::share_chart(tx, chat, *tie, wording, *version, chart, now).await?,
            Change::SetPlanSettings {
                settings,
                wording,
                version,
            } => Store::set_plan_settings(tx, chat, *settings, wording, *version, now).await?,
            // Answered by `early_warning` after the changes are applied.
            Change::AnswerAsk { .. } | Change::AskPressedAgain { .. } => {}
            Change::SetName(name) => Store::set_name(tx, chat, name).await?,
            Change::SetTimezone(tz) => {
                Store::set_timezone(tx, chat, tz).await?;
                // Schedules are in local time: their next occurrence moves with the zone.
                reschedule_in_timezone(tx, chat, tz, now).await?;
                // So do quiet hours: routine messages already waiting are held by them.
                hold_for_quiet_hours(tx, chat).await?;
            }
            Change::SetOnboarding(step) => Store::set_onboarding(tx, chat, *step).await?,
            Change::Stop => {
                // Nothing routine is sent after /stop; replies and urgent messages still are.
                Store::cancel_routine(tx, chat, "stopped").await?;
                Store::set_stopped(tx, chat, Some(now)).await?;
            }
            Change::Resume => {
                Store::set_stopped(tx, chat, None).await?;
                Store::reopen_held_slots(tx, chat, now, REOPEN_MARGIN).await?;
            }
            Change::MarkUnreachable => {
                Store::set_unreachable(tx, chat, "blocked the bot", now).await?
            }
            Change::SetSchedule {
                member,
                dialog_id,
                days,
                time,
                next_due,
            } => Store::set_schedule(tx, *member, dialog_id, days, time, *next_due, now).await?,
            Change::SetQuietHours(q) => {
                Store::set_quiet_hours(tx, chat, *q).await?;
                // Routine messages already waiting must respect the new quiet hours.
                hold_for_quiet_hours(tx, chat).await?;
            }
            Change::SetPause { until } => {
                Store::set_paused_until(tx, chat, *until).await?;
                if until.is_some() {
                    // Nothing routine is sent during a pause.
                    Store::cancel_routine(tx, chat, "paused").await?;
                } else {
                    Store::reopen_held_slots(tx, chat, now, REOPEN_MARGIN).await?;
                }
            }
            Change::StartSession {
                id,
                dialog_id,
                version,
                expires_at,
            } => {
                Store::put_open_sessions_aside(tx, chat, now).await?;
                // The session's first state usually follows at once: write it with the row.
                let first = match changes.get(i + 1) {
                    Some(Change::SaveSession {
                        id: next,
                        status,
                        state,
                    }) if next == id => {
                        skip_next = true;
                        Some((*status, state))
                    }
                    _ => None,
                };
                let (status, state) = match first {
                    Some((status, state)) => (status, Some(state)),
                    None => ("active", None),
                };
                Store::insert_session(
                    tx,
                    chat,
                    *id,
                    dialog_id,
                    *version,
                    status,
                    state,
                    *expires_at,
                    now,
                )
                .await?;
            }
            Change::ResumeSession { id } => {
                Store::put_open_sessions_aside(tx, chat, now).await?;
                Store::resume_session(tx, chat, *id, now).await?;
            }
            Change::SaveSession { id, status, state } => {
                Store::save_session(tx, *id, status, state, now).await?;
                if *status == "completed" {
                    Store::wake_waiting_slots(tx, *id, now).await?;
                }
            }
            Change::StoreAnswers {
                session,
                member,
                dialog_id,
                version,
                answers,
            } => {
                Store::store_answers(tx, *session, *member, dialog_id, *version, answers, now)
                    .await?
            }
        }
    }
    Ok(follow_ups)
}

/// The one door out: queues `out` in the outbox, in the caller's transaction.
pub async fn enqueue(
    tx: &mut Conn,
    out: &[Envelope],
    update: Option<UpdateId>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    Store::enqueue(tx, out, update, now).await?;
    Ok(())
}

/// Recomputes the next occurrence of each of the chat's active schedules in `tz` (a name
/// that cannot be read changes nothing).
async fn reschedule_in_timezone(
    tx: &mut Conn,
    chat: ChatId,
    tz: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Ok(tz) = tz.parse::<chrono_tz::Tz>() else {
        return Ok(());
    };
    for (id, days, time) in Store::active_schedules_of(tx, chat).await? {
        let next = match (Days::parse(&days), LocalTime::parse(&time)) {
            (Some(days), Some(time)) => Recurrence { days, time, tz }
                .next_after(now)
                .map(|(_, t)| t),
            _ => None,
        };
        Store::set_next_due_of(tx, id, next).await?;
    }
    Ok(())
}

/// Moves the chat's waiting routine messages (scheduled, nudges) out of the member's quiet
/// hours, as stored now (after a change of the hours or of the timezone).
async fn hold_for_quiet_hours(tx: &mut Conn, chat: ChatId) -> anyhow::Result<()> {
    let Some((tz, quiet)) = Store::quiet_of(tx, chat).await? else {
        return Ok(());
    };
    let quiet: QuietHours = quiet;
    for (id, at) in Store::routine_waiting(tx, chat).await? {
        let allowed = quiet.next_allowed(at, tz);
        if allowed != at {
            Store::postpone(tx, id, allowed).await?;
        }
    }
    Ok(())
}
