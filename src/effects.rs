//! The one interpreter of effects: the conversation's [`Change`]s are applied here, in
//! order, through the store, with the product rules that follow from them (a new timezone
//! moves schedules and waiting messages; a pause cancels routine messages; a completed
//! check-in lets a waiting slot open). Every message then leaves by one door:
//! [`enqueue`], into the outbox, in the transaction that made it.

use chrono::{DateTime, Utc};

use crate::conversation::Change;
use crate::domain::member::QuietHours;
use crate::domain::states::SessionStatus;
use crate::domain::{ChatId, Envelope, UpdateId};
use crate::schedule::{Days, LocalTime, Recurrence};
use crate::store::Work;
use crate::store::prelude::*;

/// A check-in held while a member was paused or stopped is asked after all when they come
/// back only if its window has at least this long left.
const REOPEN_MARGIN: chrono::Duration = chrono::Duration::minutes(15);

/// Applies the conversation's changes for `chat`, in order. Returns the messages the
/// changes themselves produce (an export's summary and file), to be queued after the
/// outcome's own.
pub async fn apply(
    tx: &mut Work,
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
                tx.create_member(chat, *user, consent_wording, *consent_version, now)
                    .await?
            }
            Change::Reconsent {
                consent_wording,
                consent_version,
            } => {
                tx.reconsent(chat, consent_wording, *consent_version, now)
                    .await?
            }
            Change::RegisterButtons(buttons) => tx.register_buttons(buttons, now).await?,
            Change::UseButtons { group } => tx.use_buttons(group, now).await?,
            Change::CreateInvite {
                member,
                token_hash,
                role,
                expires_at,
            } => {
                tx.create_invite(chat, *member, token_hash, *role, *expires_at, now)
                    .await?
            }
            Change::InviteFailed => tx.invite_failed(chat, now).await?,
            Change::AcceptInvite {
                invite,
                user,
                name,
                username,
            } => {
                tx.accept_invite(chat, *invite, *user, name, username.as_deref(), now)
                    .await?
            }
            Change::DeclineInvite { invite } => tx.decline_invite(chat, *invite, now).await?,
            Change::ConfirmTie {
                tie,
                role,
                wording,
                version,
            } => {
                tx.confirm_tie(chat, *tie, *role, wording, *version, now)
                    .await?
            }
            Change::EndTie { tie, why } => tx.end_tie(chat, *tie, why, now).await?,
            Change::MoveUp { tie } => tx.move_up(chat, *tie, now).await?,
            Change::SetAway { until } => tx.set_away(chat, *until, now).await?,
            Change::RevokeConsent { consent } => tx.revoke_consent(chat, *consent, now).await?,
            Change::Export { summary, caption } => {
                let (doc, counts) = tx.export(chat, now).await?;
                follow_ups.extend(crate::conversation::privacy::export_messages(
                    chat, &doc, &counts, summary, caption,
                )?);
            }
            Change::Erase { through } => tx.erase(chat, *through, now).await?,
            Change::SetPlanRule {
                rule,
                wording,
                shares,
                version,
            } => {
                tx.set_plan_rule(chat, rule, wording, shares, *version, now)
                    .await?
            }
            Change::TurnOffRule { rule } => tx.turn_off_rule(chat, rule, now).await?,
            Change::SetCopingNotes(notes) => tx.set_coping_notes(chat, notes.as_deref()).await?,
            Change::AckAlert { alert, how } => tx.ack_alert(chat, *alert, how, now).await?,
            Change::ShareChart {
                tie,
                wording,
                version,
                chart,
            } => {
                tx.share_chart(chat, *tie, wording, *version, chart, now)
                    .await?
            }
            Change::SetPlanSettings {
                settings,
                wording,
                version,
            } => {
                tx.set_plan_settings(chat, *settings, wording, *version, now)
                    .await?
            }
            // Answered by `early_warning` after the changes are applied.
            Change::AnswerAsk { .. } | Change::AskPressedAgain { .. } => {}
            Change::SetName(name) => tx.set_name(chat, name).await?,
            Change::SetTimezone(tz) => {
                tx.set_timezone(chat, tz).await?;
                // Schedules are in local time: their next occurrence moves with the zone.
                reschedule_in_timezone(tx, chat, tz, now).await?;
                // So do quiet hours: routine messages already waiting are held by them.
                hold_for_quiet_hours(tx, chat).await?;
            }
            Change::SetOnboarding(step) => tx.set_onboarding(chat, *step).await?,
            Change::Stop => {
                // Nothing routine is sent after /stop; replies and urgent messages still are.
                tx.cancel_routine(chat, "stopped").await?;
                tx.set_stopped(chat, Some(now)).await?;
            }
            Change::Resume => {
                tx.set_stopped(chat, None).await?;
                tx.reopen_held_slots(chat, now, REOPEN_MARGIN).await?;
            }
            Change::MarkUnreachable => tx.set_unreachable(chat, "blocked the bot", now).await?,
            Change::SetSchedule {
                member,
                dialog_id,
                days,
                time,
                next_due,
            } => {
                tx.set_schedule(*member, dialog_id, days, time, *next_due, now)
                    .await?
            }
            Change::SetQuietHours(q) => {
                tx.set_quiet_hours(chat, *q).await?;
                // Routine messages already waiting must respect the new quiet hours.
                hold_for_quiet_hours(tx, chat).await?;
            }
            Change::SetPause { until } => {
                tx.set_paused_until(chat, *until).await?;
                if until.is_some() {
                    // Nothing routine is sent during a pause.
                    tx.cancel_routine(chat, "paused").await?;
                } else {
                    tx.reopen_held_slots(chat, now, REOPEN_MARGIN).await?;
                }
            }
            Change::StartSession {
                id,
                dialog_id,
                version,
                expires_at,
            } => {
                tx.put_open_sessions_aside(chat, now).await?;
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
                    None => (SessionStatus::Active, None),
                };
                tx.insert_session(
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
                tx.put_open_sessions_aside(chat, now).await?;
                tx.resume_session(chat, *id, now).await?;
            }
            Change::SaveSession { id, status, state } => {
                tx.save_session(*id, *status, state, now).await?;
                if *status == SessionStatus::Completed {
                    tx.wake_waiting_slots(*id, now).await?;
                }
            }
            Change::StoreAnswers {
                session,
                member,
                dialog_id,
                version,
                answers,
            } => {
                tx.store_answers(*session, *member, dialog_id, *version, answers, now)
                    .await?
            }
        }
    }
    Ok(follow_ups)
}

/// The one door out: queues `out` in the outbox, in the caller's transaction.
pub async fn enqueue(
    tx: &mut Work,
    out: &[Envelope],
    update: Option<UpdateId>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    tx.enqueue(out, update, now).await?;
    Ok(())
}

/// Recomputes the next occurrence of each of the chat's active schedules in `tz` (a name
/// that cannot be read changes nothing).
async fn reschedule_in_timezone(
    tx: &mut Work,
    chat: ChatId,
    tz: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Ok(tz) = tz.parse::<chrono_tz::Tz>() else {
        return Ok(());
    };
    for (id, days, time) in tx.active_schedules_of(chat).await? {
        let next = match (Days::parse(&days), LocalTime::parse(&time)) {
            (Some(days), Some(time)) => Recurrence { days, time, tz }
                .next_after(now)
                .map(|(_, t)| t),
            _ => None,
        };
        tx.set_next_due_of(id, next).await?;
    }
    Ok(())
}

/// Moves the chat's waiting routine messages (scheduled, nudges) out of the member's quiet
/// hours, as stored now (after a change of the hours or of the timezone).
async fn hold_for_quiet_hours(tx: &mut Work, chat: ChatId) -> anyhow::Result<()> {
    let Some((tz, quiet)) = tx.quiet_of(chat).await? else {
        return Ok(());
    };
    let quiet: QuietHours = quiet;
    for (id, at) in tx.routine_waiting(chat).await? {
        let allowed = quiet.next_allowed(at, tz);
        if allowed != at {
            tx.postpone(id, allowed).await?;
        }
    }
    Ok(())
}
