//! Processes stored updates: for each, the state it changes, the messages it causes and
//! marking it processed commit together. The store runs a batch as one unit of work
//! (`Inbox::process`: one fsync, a savepoint per update, a failing update retried and each
//! chat kept in order); this module decides what each update does:
//! - reads what the input needs (`conversation::needs`), asks the pure conversation, and
//!   applies its changes and early warning's through the one interpreter (`effects`);
//! - a database error (busy, I/O, full disk) fails the whole batch, tried again after a
//!   pause;
//! - an update that fails on its own 3 times is set aside: the person gets an apology (and
//!   the crisis card if they used crisis language), its payload is erased like any
//!   processed update, and the error is kept on the row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::CrashPoint;
use crate::content::Content;
use crate::conversation::{self, Change, OpenSession, ScheduleView};
use crate::dialog::{CHECKIN_DIALOG, Registry, WEEKLY_DIALOG};
use crate::domain::states::SessionStatus;
use crate::domain::{Envelope, Incoming, Input, Outgoing};
use crate::early_warning;
use crate::effects;
use crate::rules::Template;
use crate::schedule::{Days, LocalTime};
use crate::store::prelude::*;
use crate::store::{InboxRow, Step, Store, UpdateHandler, Work};
use crate::token::Tokens;

/// After this many failed attempts an update is set aside so it cannot block its chat.
const MAX_ATTEMPTS: i64 = 3;
/// Updates processed per write transaction.
pub const BATCH: usize = 200;
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
pub struct Processor {
    pub store: Store,
    pub content: Arc<Content>,
    pub dialogs: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub inbox_ready: Arc<Notify>,
    pub outbox_ready: Arc<Notify>,
    /// Woken after every batch, so a changed schedule is seen at once.
    pub schedules_changed: Arc<Notify>,
    pub crash_at: Option<CrashPoint>,
    /// Key for invite and button tokens (from the OS random source, read at start-up).
    pub token_key: [u8; 32],
    /// The bot's Telegram username, for invite links (filled in once `getMe` answers).
    pub bot_username: Arc<std::sync::RwLock<Option<String>>>,
    /// Early-warning rule templates.
    pub rules: Arc<BTreeMap<String, Template>>,
}

impl UpdateHandler for Processor {
    fn apply<'a>(
        &'a self,
        work: &'a mut Work,
        row: &'a InboxRow,
        now: DateTime<Utc>,
    ) -> Step<'a, Option<bool>> {
        Box::pin(async move {
            let (fresh, touched) = self.handle(work, row, now).await?;
            Ok(fresh.then_some(touched))
        })
    }

    fn set_aside<'a>(
        &'a self,
        work: &'a mut Work,
        row: &'a InboxRow,
        now: DateTime<Utc>,
    ) -> Step<'a, ()> {
        Box::pin(self.give_up(work, row, now))
    }
}

impl Processor {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pause = Duration::from_millis(200);
        let mut last_sweep: Option<tokio::time::Instant> = None;
        loop {
            let mut failed = false;
            loop {
                match self.process_batch().await {
                    Ok(0) => break,
                    Ok(_) => {
                        pause = Duration::from_millis(200);
                        if *stop.borrow() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "inbox batch failed; nothing was committed, will retry");
                        failed = true;
                        break;
                    }
                }
            }
            if *stop.borrow() {
                break;
            }
            if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                match self.store.sweep(self.clock.now()).await {
                    Ok((inbox, outbox)) => tracing::debug!(inbox, outbox, "swept old rows"),
                    Err(e) => tracing::warn!(error = %e, "sweep failed"),
                }
                last_sweep = Some(tokio::time::Instant::now());
            }
            let wait = if failed {
                pause = (pause * 2).min(Duration::from_secs(10));
                pause
            } else {
                // A safety net only; the poller wakes us.
                Duration::from_secs(5)
            };
            tokio::select! {
                _ = self.inbox_ready.notified(), if !failed => {}
                _ = tokio::time::sleep(wait) => {}
                res = stop.changed() => if res.is_err() { break },
            }
        }
        tracing::info!("inbox processor stopped");
    }

    /// Processes up to one batch of unprocessed updates. Returns how many were looked at.
    pub async fn process_batch(&self) -> anyhow::Result<usize> {
        let rows = self.store.unprocessed(BATCH as i64).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let done = self.store.process(&rows, MAX_ATTEMPTS, self, now).await?;
        if self.crash_at == Some(CrashPoint::AfterProcessingCommit) {
            tracing::warn!("STAYWELL_CRASH_AT=after_processing_commit: aborting");
            std::process::abort();
        }
        self.outbox_ready.notify_one();
        if done.touched {
            self.schedules_changed.notify_one();
        }
        Ok(rows.len())
    }

    /// Gives up on an update that keeps failing: an apology (and the crisis card if the
    /// person used crisis language), and the row marked processed with its error.
    async fn give_up(
        &self,
        conn: &mut Work,
        row: &InboxRow,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let incoming: Option<Incoming> = row
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        if let Some(chat) = row.chat {
            let input = incoming.as_ref().map(|i| &i.input);
            let mut out = Vec::new();
            if input
                .and_then(|i| i.written_text())
                .is_some_and(|t| self.content.crisis.matches(&t))
            {
                out.push(Envelope::urgent(
                    chat,
                    Outgoing::text(self.content.crisis.text()),
                ));
            }
            let silent = matches!(
                input,
                Some(Input::Ignored | Input::ChatBlocked | Input::ChatUnblocked)
            );
            if !silent {
                out.push(Envelope::reply(
                    chat,
                    Outgoing::text(&self.content.texts.something_went_wrong),
                ));
            }
            effects::enqueue(conn, &out, Some(row.update_id), now).await?;
        }
        conn.mark_processed(
            row.update_id,
            now,
            Some(crate::store::SET_ASIDE_AFTER_FAILURES),
        )
        .await?;
        Ok(())
    }

    /// Reads what this input needs beyond the person (`conversation::needs`): for the
    /// commands and presses that use them, the circle and plan, the invite a `/start <token>`
    /// names, the server-side button pressed, and `/week`'s history.
    async fn load_for_input(
        &self,
        conn: &mut Work,
        person: &mut conversation::Person,
        incoming: &Incoming,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let member = person.member.as_ref().map(|m| m.id);
        let needs = conversation::needs(incoming, member.is_some());
        if needs.circle {
            let read = conn.load_circle(person.chat, member, now).await?;
            person.circle = read.circle;
            person.supporting = read.supporting;
            person.consents = read.consents;
            person.away_until = read.away_until;
        }
        if let Some(m) = member
            && needs.plan
        {
            person.plan = conn.member_plan(m).await?;
            person.coping_notes = conn.coping_notes(m).await?;
            person.plan_settings = conn.plan_settings(m).await?;
        }
        if needs.holds_data {
            person.holds_data = conn.holds_data(person.chat).await?;
        }
        if let Some(token) = &needs.invite_token {
            // Compared by hash: the token itself is never stored (nor one that cannot be ours).
            let hash = crate::token::looks_like_invite(token).then(|| crate::token::hash(token));
            person.invite = Some(
                conn.lookup_invite(person.chat, hash.as_deref(), now)
                    .await?,
            );
        }
        let mut week = needs.week;
        if let Some(token) = &needs.pressed_token {
            let user = incoming.sender.as_ref().map(|s| s.user_id);
            let pressed = conn.pressed(token, user, now).await?;
            let (invite, share_week) = conversation::Needs::after_press(&pressed, member.is_some());
            if let Some(invite) = invite {
                person.invite = Some(conn.invite_by_id(invite, now).await?);
            }
            week |= share_week;
            person.pressed = Some(pressed);
        }
        if let Some(m) = member
            && needs.last_checkin
        {
            person.last_checkin = conn.last_completed(m, CHECKIN_DIALOG).await?;
        }
        if let Some(m) = &person.member
            && week
        {
            person.history =
                Some(crate::week::load(conn, m.id, m.timezone, now, &self.dialogs).await?);
        }
        Ok(())
    }

    /// Applies one update. Returns (false, _) if it turned out to be processed already, and
    /// whether it changed anything the scheduler must see at once.
    async fn handle(
        &self,
        conn: &mut Work,
        row: &InboxRow,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(bool, bool)> {
        let Some(payload) = &row.payload else {
            let fresh = conn
                .mark_processed(row.update_id, now, Some("no payload"))
                .await?;
            return Ok((fresh, false));
        };
        let mut touched = false;
        let incoming: Incoming =
            serde_json::from_str(payload).context("unreadable inbox payload")?;
        let mut replies = 0;
        if let Some(chat) = incoming.chat {
            let read = conn.load_for_update(chat, now).await?;
            if read.unreachable && !matches!(incoming.input, Input::Ignored | Input::ChatBlocked) {
                conn.set_reachable(chat).await?;
            }
            let stored = read.person;
            let mut person = conversation::Person {
                coping_notes: stored.coping_notes,
                ..conversation::Person::new(chat, stored.member)
            };
            if let Some(row) = read.session {
                match self.dialogs.get(&row.dialog_id, row.version) {
                    Some(dialog) => {
                        person.session = Some(OpenSession {
                            id: row.id,
                            dialog: dialog.clone(),
                            state: row.state,
                            expires_at: row.expires_at,
                        })
                    }
                    None => tracing::error!(
                        session = row.id.0,
                        dialog = %row.dialog_id,
                        version = row.version,
                        "open session on an unknown dialog version; ignored"
                    ),
                }
            }
            // A check-in put aside, on the version it began with.
            person.aside = read.aside.and_then(|row| {
                let dialog = self.dialogs.get(&row.dialog_id, row.version)?;
                Some(OpenSession {
                    id: row.id,
                    dialog: dialog.clone(),
                    state: row.state,
                    expires_at: row.expires_at,
                })
            });
            person.schedules = read
                .schedules
                .into_iter()
                .filter_map(|(dialog_id, days, time, active)| {
                    Some(ScheduleView {
                        dialog_id,
                        days: Days::parse(&days)?,
                        time: LocalTime::parse(&time)?,
                        active,
                    })
                })
                .collect();
            self.load_for_input(conn, &mut person, &incoming, now)
                .await?;
            let tokens = Tokens::new(self.token_key, incoming.update_id.0 as u64);
            let bot_username = self
                .bot_username
                .read()
                .map(|u| u.clone())
                .unwrap_or_default();
            let ctx = conversation::Ctx {
                content: &self.content,
                checkin: self.dialogs.current(CHECKIN_DIALOG),
                weekly: self.dialogs.current(WEEKLY_DIALOG),
                next_session_id: read.next_session_id,
                now,
                titles: self.dialogs.titles(),
                tokens: &tokens,
                bot_username: bot_username.as_deref(),
                rules: &self.rules,
            };
            let outcome = conversation::respond(&person, &incoming, &ctx);
            let mut follow_ups = effects::apply(conn, chat, &outcome.changes, now).await?;
            let ew = early_warning::Ctx {
                content: &self.content,
                dialogs: &self.dialogs,
                templates: &self.rules,
                tokens: &tokens,
                now,
            };
            follow_ups.extend(
                early_warning::after_changes(
                    conn,
                    person.member.as_ref().map(|m| m.id),
                    &outcome.changes,
                    &ew,
                )
                .await?,
            );
            // Each message once per update: crisis words typed as an answer, the answer's
            // own card and an urgent sign's card are one crisis card. It goes where it was
            // last asked for: an urgent sign puts "nobody is available right now — the
            // contacts below…" above its card. (Its lane still sends it before routine
            // replies.)
            let mut out: Vec<Envelope> = Vec::with_capacity(outcome.out.len() + follow_ups.len());
            for e in outcome.out.iter().cloned().chain(follow_ups) {
                out.retain(|earlier| *earlier != e);
                out.push(e);
            }
            effects::enqueue(conn, &out, Some(incoming.update_id), now).await?;
            replies = out.len();
            touched = outcome.changes.iter().any(|c| {
                matches!(
                    c,
                    Change::SetSchedule { .. }
                        | Change::SetPause { .. }
                        | Change::SetQuietHours(_)
                        | Change::SetTimezone(_)
                        | Change::Stop
                        | Change::Resume
                        // An alert whose supporter can no longer respond escalates at once.
                        | Change::EndTie { .. }
                        | Change::SetAway { .. }
                        | Change::RevokeConsent { .. }
                        | Change::Erase { .. }
                        // A slot waiting for this check-in to end may open now.
                        | Change::SaveSession {
                            status: SessionStatus::Completed,
                            ..
                        }
                )
            });
        }
        let fresh = conn.mark_processed(row.update_id, now, None).await?;
        tracing::debug!(
            update_id = incoming.update_id.0,
            chat = incoming.chat.map(|c| c.0),
            input = incoming.input.kind(),
            replies,
            "update processed"
        );
        Ok((fresh, touched))
    }
}
