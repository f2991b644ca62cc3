//! The scheduler: turns schedules into slots, reminds once, closes windows with an outcome,
//! and notices when the bot was down. Its work is `tick(now)`, callable directly with any
//! `now`; `run` only decides when to call it.
//!
//! Policies:
//! - a slot is (schedule, local date) and is inserted at most once (unique in the database);
//!   only the call that inserted it acts on it, so repeated ticks, restarts and instances
//!   create nothing twice;
//! - a prompt due in the member's quiet hours is held until they end (the window starts then);
//!   a reminder that would fall in quiet hours, or after the window, is not sent;
//! - an occurrence whose window passed while the bot was down is `unknown`, never `missed`;
//!   after an outage each schedule opens at most its latest occurrence (no flood);
//! - a window that closed while the bot was down is `unknown` unless answered;
//! - while a member is paused (or has stopped), occurrences are recorded as `paused`;
//! - after an outage longer than Telegram keeps updates (24 h), members who had a check-in open
//!   in that time get one message that the bot was away.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::content::{Content, fill};
use crate::conversation::{self, Member, Onboarding, checkin};
use crate::dialog::Registry;
use crate::domain::{Envelope, Lane, Outgoing, SessionId, UserId};
use crate::schedule::{Days, LocalTime, QuietHours, Recurrence};
use crate::store::{ClosingSlot, Conn, DueSchedule, NewSlot, Store};

/// The default for [`Scheduler::down_after`]: the loop beats every minute.
pub const DOWN_AFTER: Duration = Duration::minutes(3);
/// Telegram keeps undelivered updates this long; a longer outage may have lost messages.
const UPDATES_KEPT: Duration = Duration::hours(24);
/// Schedules handled per write transaction: small, so the write lock is never held long
/// while people mid-conversation are waiting for replies.
const BATCH: i64 = 100;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub opened: usize,
    pub joined: usize,
    pub paused: usize,
    pub unknown: usize,
    pub reminders: usize,
    pub completed: usize,
    pub partial: usize,
    pub missed: usize,
    pub closed_unknown: usize,
    pub away_notices: usize,
}

pub struct Scheduler {
    pub store: Store,
    pub content: Arc<Content>,
    pub dialogs: Arc<Registry>,
    pub clock: Arc<dyn Clock>,
    pub outbox_ready: Arc<Notify>,
    /// Woken when a schedule changes.
    pub wake: Arc<Notify>,
    /// A reminder goes this long after a slot opens, if nothing was answered.
    pub reminder_delay: Duration,
    /// A gap between ticks longer than this means the bot was not running.
    pub down_after: Duration,
}

fn quiet_of(start: &str, end: &str) -> QuietHours {
    let d = QuietHours::default();
    QuietHours {
        start: LocalTime::parse(start).unwrap_or(d.start),
        end: LocalTime::parse(end).unwrap_or(d.end),
    }
}

impl Scheduler {
    /// Everything due at `now`.
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        let last = self.store.last_tick().await?;
        // Was the bot down at instant `t` (between the last heartbeat and now)?
        let down_at = |t: DateTime<Utc>| last.is_some_and(|l| l < t && now - l > self.down_after);

        loop {
            let due = self.store.due_schedules(now, BATCH).await?;
            if due.is_empty() {
                break;
            }
            let mut tx = self.store.begin_write().await?;
            // Session ids for this transaction (it holds the write lock: nobody else inserts).
            let mut next_session = Store::next_session_id(&mut tx).await?;
            for s in &due {
                self.fire(&mut tx, s, now, &mut next_session, &mut report)
                    .await?;
            }
            tx.commit().await?;
            if (due.len() as i64) < BATCH {
                break;
            }
        }

        let reminders = self.store.due_reminders(now, 5000).await?;
        if !reminders.is_empty() {
            let mut tx = self.store.begin_write().await?;
            for r in &reminders {
                if !Store::mark_reminded(&mut tx, r.slot, now).await? || r.started {
                    continue;
                }
                let tz: Tz = r.timezone.parse().unwrap_or(chrono_tz::Europe::London);
                let at = quiet_of(&r.quiet_start, &r.quiet_end).next_allowed(now, tz);
                if at >= r.closes_at {
                    continue; // it would only arrive in quiet hours or after the window
                }
                let t = &self.content.texts;
                let until = r.closes_at.with_timezone(&tz).format("%H:%M").to_string();
                let name = r.name.as_deref().unwrap_or(&t.default_name);
                let text = fill(&t.reminder, &[("name", name), ("until", &until)]);
                let env = Envelope {
                    chat: r.chat,
                    lane: Lane::Scheduled,
                    body: Outgoing::text(text),
                };
                Store::enqueue_at(&mut tx, &[env], None, now, at).await?;
                report.reminders += 1;
            }
            tx.commit().await?;
        }

        let closing = self.store.closing_slots(now, 5000).await?;
        if !closing.is_empty() {
            let mut tx = self.store.begin_write().await?;
            for c in &closing {
                let outcome = outcome(c, down_at(c.closes_at));
                match outcome {
                    "completed" => report.completed += 1,
                    "partial" => report.partial += 1,
                    "missed" => report.missed += 1,
                    _ => report.closed_unknown += 1,
                }
                Store::close_slot(&mut tx, c, outcome, now).await?;
            }
            tx.commit().await?;
        }

        if let Some(l) = last
            && now - l > UPDATES_KEPT
        {
            let chats = self.store.chats_with_sessions_between(l, now).await?;
            if !chats.is_empty() {
                let mut tx = self.store.begin_write().await?;
                let envs: Vec<Envelope> = chats
                    .iter()
                    .map(|c| Envelope::reply(*c, Outgoing::text(&self.content.texts.away_notice)))
                    .collect();
                Store::enqueue(&mut tx, &envs, None, now).await?;
                tx.commit().await?;
                report.away_notices = envs.len();
            }
        }

        self.store.set_last_tick(now).await?;
        if report != TickReport::default() {
            self.outbox_ready.notify_one();
        }
        Ok(report)
    }

    /// Handles every occurrence of `s` due by `now`, and moves it to its next one.
    async fn fire(
        &self,
        tx: &mut Conn,
        s: &DueSchedule,
        now: DateTime<Utc>,
        next_session: &mut SessionId,
        report: &mut TickReport,
    ) -> anyhow::Result<()> {
        let parts = (
            s.timezone.parse::<Tz>(),
            Days::parse(&s.days),
            LocalTime::parse(&s.local_time),
        );
        let (Ok(tz), Some(days), Some(time)) = parts else {
            tracing::error!(schedule = s.id, "unreadable schedule; disabled");
            return Store::set_next_due(tx, s.id, None).await;
        };
        let Some(dialog) = self.dialogs.current(&s.dialog_id) else {
            tracing::error!(schedule = s.id, dialog = %s.dialog_id, "schedule for a dialog that no longer exists; disabled");
            return Store::set_next_due(tx, s.id, None).await;
        };
        let rec = Recurrence { days, time, tz };
        let quiet = quiet_of(&s.quiet_start, &s.quiet_end);
        let window = Duration::minutes(dialog.answer_window_minutes);
        let mut due_at = s.next_due_at;
        // Bounded: after a very long outage, each passed occurrence is recorded `unknown`.
        for _ in 0..1000 {
            let local_date = due_at.with_timezone(&tz).date_naive();
            let opens_at = quiet.next_allowed(due_at, tz);
            let closes_at = opens_at + window;
            let paused = s.stopped || s.paused_until.is_some_and(|p| p > due_at);
            let outcome = if paused {
                Some("paused")
            } else if closes_at <= now {
                Some("unknown")
            } else {
                None
            };
            let remind_at = Some(opens_at + self.reminder_delay)
                .filter(|r| outcome.is_none() && *r < closes_at);
            let slot = NewSlot {
                schedule: s.id,
                member: s.member,
                dialog_id: &s.dialog_id,
                local_date,
                due_at,
                opens_at,
                closes_at,
                remind_at,
                outcome,
            };
            if let Some(slot_id) = Store::insert_slot(tx, &slot).await? {
                match outcome {
                    Some("paused") => report.paused += 1,
                    Some(_) => report.unknown += 1,
                    None => {
                        let ids = (slot_id, *next_session);
                        if self
                            .open(tx, s, ids, dialog, (opens_at, closes_at), now, report)
                            .await?
                        {
                            next_session.0 += 1;
                        }
                    }
                }
            }
            match rec.next_after(due_at) {
                Some((_, next)) if next <= now => due_at = next,
                next => return Store::set_next_due(tx, s.id, next.map(|(_, t)| t)).await,
            }
        }
        Ok(())
    }

    /// Opens a slot: a new session and its first question on the scheduled lane, held until
    /// quiet hours end. If a check-in is already in progress, the slot joins it instead.
    /// Returns whether the session id was used.
    #[allow(clippy::too_many_arguments)]
    async fn open(
        &self,
        tx: &mut Conn,
        s: &DueSchedule,
        (slot, id): (i64, SessionId),
        dialog: &crate::dialog::Dialog,
        (opens_at, closes_at): (DateTime<Utc>, DateTime<Utc>),
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> anyhow::Result<bool> {
        if let Some(session) = Store::open_session_id(tx, s.member, now).await? {
            Store::attach_slot(tx, slot, session, None).await?;
            report.joined += 1;
            return Ok(false);
        }
        let member = Member {
            id: s.member,
            telegram_user: UserId(s.telegram_user),
            name: s.name.clone(),
            timezone: s.timezone.clone(),
            onboarding: Onboarding::parse(&s.onboarding).unwrap_or(Onboarding::Done),
            stopped: s.stopped,
            quiet: quiet_of(&s.quiet_start, &s.quiet_end),
            paused_until: s.paused_until,
        };
        let ctx = conversation::Ctx {
            content: &self.content,
            checkin: None,
            next_session_id: id,
            now,
            titles: Vec::new(),
        };
        let o = checkin::open_scheduled(s.chat, &member, dialog, id, closes_at, &ctx);
        Store::apply_changes(tx, s.chat, &o.changes, now).await?;
        let ids = Store::enqueue_at(tx, &o.out, None, now, opens_at.max(now)).await?;
        Store::attach_slot(tx, slot, id, ids.last().copied()).await?;
        report.opened += 1;
        Ok(true)
    }

    /// Ticks whenever something is due, when a schedule changes, and at least every minute
    /// (the heartbeat that tells an outage from silence).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let now = self.clock.now();
            if let Err(e) = self.tick(now).await {
                tracing::error!(error = %e, "scheduler tick failed; will retry");
            }
            let mut wake = now + Duration::seconds(60);
            match self.store.next_schedule_due().await {
                Ok(Some(t)) if t > now => wake = wake.min(t),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot read the next due time"),
            }
            tokio::select! {
                _ = self.clock.sleep_until(wake) => {}
                _ = self.wake.notified() => {}
                res = stop.changed() => if res.is_err() || *stop.borrow() { break },
                // Guard against a clock that never wakes (a manual clock nobody advances).
                _ = tokio::time::sleep(StdDuration::from_secs(60)) => {}
            }
        }
        tracing::info!("scheduler stopped");
    }
}

/// The outcome of a slot whose window has closed.
fn outcome(c: &ClosingSlot, down_when_it_closed: bool) -> &'static str {
    if c.completed {
        "completed"
    } else if c.answered > 0 {
        "partial"
    } else if c.prompted && !c.delivered {
        // The prompt never reached the person (Telegram or the bot was down).
        "unknown"
    } else if down_when_it_closed {
        "unknown"
    } else {
        "missed"
    }
}
