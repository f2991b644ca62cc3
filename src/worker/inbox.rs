//! Processes stored updates: for each, the state it changes, the messages it causes and
//! marking it processed commit together. A batch shares one write transaction (one fsync)
//! with a savepoint per update, so one bad update cannot undo or block the others.
//!
//! Failures:
//! - a database error (busy, I/O, full disk) fails the whole batch: nothing is committed,
//!   nothing is held against any update, and the batch is tried again after a pause;
//! - an update that fails on its own (its data) is retried, and after 3 attempts set aside:
//!   the person gets an apology (and the crisis card if they used crisis language), its
//!   payload is erased like any processed update, and the error is kept on the row;
//! - while one of a chat's updates is failing, that chat's later updates wait, so each
//!   chat's updates are always applied in order.

use std::collections::{BTreeMap, HashSet};
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
use crate::domain::circle::{Action, BUTTON_PREFIX, Pressed};
use crate::domain::{ChatId, Envelope, Incoming, Input, Outgoing};
use crate::early_warning;
use crate::rules::Template;
use crate::schedule::{Days, LocalTime};
use crate::store::{Conn, InboxRow, Store, is_database_error};
use crate::token::Tokens;

/// After this many failed attempts an update is set aside so it cannot block its chat.
const MAX_ATTEMPTS: i64 = 3;
/// Updates processed per write transaction.
pub const BATCH: usize = 200;
const SWEEP_EVERY: Duration = Duration::from_secs(3600);
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
        let mut tx = self.store.begin_write().await?;
        let mut blocked: HashSet<ChatId> = HashSet::new();
        let mut touched_schedules = false;
        let mut failed = Vec::new();
        for row in &rows {
            if let Some(chat) = row.chat
                && blocked.contains(&chat)
            {
                continue; // an earlier update of this chat failed: keep the order
            }
            let mut sp = Store::savepoint(&mut tx).await?;
            match self.handle(&mut sp, row, now).await {
                Ok((true, touched)) => {
                    sp.commit().await?;
                    touched_schedules |= touched;
                }
                Ok((false, _)) => sp.rollback().await?, // someone else processed it first
                Err(e) if is_database_error(&e) => return Err(e), // whole batch rolls back
                Err(e) => {
                    sp.rollback().await?;
                    if let Some(chat) = row.chat {
                        blocked.insert(chat);
                    }
                    // Errors carry ids and kinds only, never content.
                    tracing::error!(update_id = row.update_id.0, attempts = row.attempts + 1, error = %e, "update failed");
                    if row.attempts + 1 >= MAX_ATTEMPTS {
                        self.set_aside(&mut tx, row, now).await?;
                    } else {
                        failed.push(row.update_id);
                    }
                }
            }
        }
        tx.commit().await?;
        for update in failed {
            self.store
                .record_processing_failure(update, "processing failed")
                .await?;
        }
        if self.crash_at == Some(CrashPoint::AfterProcessingCommit) {
            tracing::warn!("STAYWELL_CRASH_AT=after_processing_commit: aborting");
            std::process::abort();
        }
        self.outbox_ready.notify_one();
        if touched_schedules {
            self.schedules_changed.notify_one();
        }
        Ok(rows.len())
    }

    /// Gives up on an update that keeps failing: an apology (and the crisis card if the
    /// person used crisis language), and the row marked processed with its error.
    async fn set_aside(
        &self,
        conn: &mut Conn,
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
            Store::enqueue(conn, &out, Some(row.update_id), now).await?;
        }
        Store::mark_processed(
            conn,
            row.update_id,
            now,
            Some(crate::store::SET_ASIDE_AFTER_FAILURES),
        )
        .await?;
        Ok(())
    }

    async fn load_plan(conn: &mut Conn, person: &mut conversation::Person) -> anyhow::Result<()> {
        if let Some(m) = &person.member {
            person.plan = Store::member_plan(conn, m.id).await?;
            person.coping_notes = Store::coping_notes(conn, m.id).await?;
            person.plan_settings = Store::plan_settings(conn, m.id).await?;
        }
        Ok(())
    }

    /// Loads what this input needs beyond the person: for the commands and presses that use
    /// them, the circle and plan, the invite a `/start <token>` names, the server-side button
    /// pressed, and `/week`'s history. (Plain text and everyday commands skip all of it.)
    async fn load_for_input(
        &self,
        conn: &mut Conn,
        person: &mut conversation::Person,
        incoming: &Incoming,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        match &incoming.input {
            // Only the commands that show or change the circle or the plan read them.
            Input::Command { name, args }
                if CIRCLE_COMMANDS.contains(&name.as_str())
                    || (name == "start" && !args.is_empty()) =>
            {
                Store::load_circle(conn, person, now).await?;
                Self::load_plan(conn, person).await?;
                if name == "mydata" || name == "delete" {
                    person.holds_data = Store::holds_data(conn, person.chat).await?;
                }
                if name == "start" && !args.is_empty() {
                    let token = args.split_whitespace().next().unwrap_or("");
                    person.invite =
                        Some(Store::lookup_invite(conn, person.chat, token, now).await?);
                }
            }
            Input::Callback {
                data: Some(data), ..
            } => {
                if let Some(token) = data.strip_prefix(BUTTON_PREFIX) {
                    Store::load_circle(conn, person, now).await?;
                    Self::load_plan(conn, person).await?;
                    let user = incoming.sender.as_ref().map(|s| s.user_id);
                    let pressed = Store::pressed(conn, token, user, now).await?;
                    if let Pressed::Live {
                        action: Action::Accept { invite } | Action::Decline { invite },
                        ..
                    } = &pressed
                    {
                        person.invite = Some(Store::invite_by_id(conn, *invite, now).await?);
                    }
                    person.pressed = Some(pressed);
                }
            }
            // `/checkin` says so when today's is already done.
            Input::Command { name, .. } if name == "checkin" => {
                if let Some(m) = &person.member {
                    person.last_checkin =
                        Store::last_completed(conn, m.id, crate::dialog::CHECKIN_DIALOG).await?;
                }
            }
            // Someone who is not a member may be in others' circles: their "hello" and
            // `/help` are answered as a carer's or supporter's.
            Input::Text { .. } | Input::Command { .. } if person.member.is_none() => {
                Store::load_circle(conn, person, now).await?;
            }
            _ => {}
        }
        // `/week`, and sharing one of its charts, draw from the member's history.
        let week = matches!(&incoming.input, Input::Command { name, .. } if name == "week")
            || matches!(
                &person.pressed,
                Some(Pressed::Live {
                    action: Action::ShareWeekYes { .. },
                    ..
                })
            );
        if let Some(m) = &person.member
            && week
        {
            let tz = m.timezone;
            person.history = Some(Store::week(conn, m.id, tz, now, &self.dialogs).await?);
        }
        Ok(())
    }

    /// Applies one update. Returns (false, _) if it turned out to be processed already, and
    /// whether it changed anything the scheduler must see at once.
    async fn handle(
        &self,
        conn: &mut Conn,
        row: &InboxRow,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(bool, bool)> {
        let Some(payload) = &row.payload else {
            let fresh = Store::mark_processed(conn, row.update_id, now, Some("no payload")).await?;
            return Ok((fresh, false));
        };
        let mut touched = false;
        let incoming: Incoming =
            serde_json::from_str(payload).context("unreadable inbox payload")?;
        let mut replies = 0;
        if let Some(chat) = incoming.chat {
            let read = Store::load_for_update(conn, chat, now).await?;
            if read.unreachable && !matches!(incoming.input, Input::Ignored | Input::ChatBlocked) {
                Store::set_reachable(conn, chat).await?;
            }
            let mut person = read.person;
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
            let mut follow_ups = Store::apply_changes(conn, chat, &outcome.changes, now).await?;
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
            Store::enqueue(conn, &out, Some(incoming.update_id), now).await?;
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
                            status: "completed",
                            ..
                        }
                )
            });
        }
        let fresh = Store::mark_processed(conn, row.update_id, now, None).await?;
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
