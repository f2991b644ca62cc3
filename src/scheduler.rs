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
use crate::store::{ClosingSlot, Conn, DueSchedule, NewSlot, PendingSlot, Store};
use crate::week;

/// The default for [`Scheduler::down_after`]: the loop beats every minute.
pub const DOWN_AFTER: Duration = Duration::minutes(3);
/// Telegram keeps undelivered updates this long; a longer outage may have lost messages.
const UPDATES_KEPT: Duration = Duration::hours(24);
/// Schedules handled per write transaction: small, so the write lock is never held long
/// while people mid-conversation are waiting for replies.
const BATCH: i64 = 100;
/// A check-in of the same dialog completed this recently satisfies a slot that opens now.
const DONE_RECENTLY: Duration = Duration::hours(6);
/// A weekly `/week` report held by quiet hours or an outage is still sent within a day.
const REPORT_WINDOW_MINUTES: i64 = 24 * 60;

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
    /// Weekly `/week` reports sent.
    pub week_reports: usize,
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
    /// Everything due at `now`. Each phase reads and writes inside one write transaction
    /// (in chunks), so a pause, an edit or an answer committed meanwhile is always seen.
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        let last = self.store.last_tick().await?;
        // Was the bot down at instant `t` (between the last heartbeat and now)?
        let down_at = |t: DateTime<Utc>| last.is_some_and(|l| l < t && now - l > self.down_after);

        // 1. Occurrences that have come: claim their slots.
        for _ in 0..10_000 {
            let mut tx = self.store.begin_write().await?;
            let due = Store::due_schedules(&mut tx, now, BATCH).await?;
            for s in &due {
                self.fire(&mut tx, s, now, &mut report).await?;
            }
            tx.commit().await?;
            if (due.len() as i64) < BATCH {
                break;
            }
        }

        // 2. Slots whose time has come: open them (or decide they cannot be).
        for _ in 0..10_000 {
            let mut tx = self.store.begin_write().await?;
            let pending = Store::pending_slots(&mut tx, now, BATCH).await?;
            let mut next_session = Store::next_session_id(&mut tx).await?;
            for p in &pending {
                if self
                    .open(&mut tx, p, next_session, now, &mut report)
                    .await?
                {
                    next_session.0 += 1;
                }
            }
            tx.commit().await?;
            if (pending.len() as i64) < BATCH {
                break;
            }
        }

        // 3. One gentle reminder per slot, never in quiet hours or after the window.
        let mut tx = self.store.begin_write().await?;
        for r in Store::due_reminders(&mut tx, now, 5000).await? {
            if !Store::mark_reminded(&mut tx, r.slot, now).await? || r.started {
                continue;
            }
            let tz: Tz = r.timezone.parse().unwrap_or(chrono_tz::Europe::London);
            let at = quiet_of(&r.quiet_start, &r.quiet_end).next_allowed(now, tz);
            if at >= r.closes_at {
                continue;
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

        // 4. Windows that have closed: an outcome each.
        for c in Store::closing_slots(&mut tx, now, 5000).await? {
            let outcome = outcome(&c, down_at(c.closes_at));
            match outcome {
                "completed" => report.completed += 1,
                "partial" => report.partial += 1,
                "missed" => report.missed += 1,
                "paused" => report.paused += 1,
                _ => report.closed_unknown += 1,
            }
            Store::close_slot(&mut tx, &c, outcome, now).await?;
        }

        // 5. The heartbeat; after a long outage, one notice (moving the heartbeat decides who
        //    sends it, so it goes once).
        if Store::advance_heartbeat(&mut tx, last, now).await?
            && let Some(l) = last
            && now - l > UPDATES_KEPT
        {
            for (chat, tz, qs, qe) in Store::chats_with_sessions_between(&mut tx, l, now).await? {
                let tz: Tz = tz.parse().unwrap_or(chrono_tz::Europe::London);
                let at = quiet_of(&qs, &qe).next_allowed(now, tz);
                let env = Envelope {
                    chat,
                    lane: Lane::Scheduled,
                    body: Outgoing::text(&self.content.texts.away_notice),
                };
                Store::enqueue_at(&mut tx, &[env], None, now, at).await?;
                report.away_notices += 1;
            }
        }
        tx.commit().await?;

        if report != TickReport::default() {
            self.outbox_ready.notify_one();
        }
        Ok(report)
    }

    /// Claims a slot for every occurrence of `s` due by `now`, and moves it to its next one.
    /// A slot opens later (phase 2): at its time, after quiet hours.
    async fn fire(
        &self,
        tx: &mut Conn,
        s: &DueSchedule,
        now: DateTime<Utc>,
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
        let rec = Recurrence { days, time, tz };
        let window_minutes = match self.dialogs.current(&s.dialog_id) {
            Some(dialog) => dialog.answer_window_minutes,
            None if s.dialog_id == week::REPORT_SCHEDULE => REPORT_WINDOW_MINUTES,
            None => {
                // The dialog is gone (perhaps for a while): skip this occurrence, keep the schedule.
                tracing::error!(schedule = s.id, dialog = %s.dialog_id, "schedule for a dialog that does not exist; skipped");
                return Store::set_next_due(tx, s.id, rec.next_after(now).map(|(_, t)| t)).await;
            }
        };
        let quiet = quiet_of(&s.quiet_start, &s.quiet_end);
        let window = Duration::minutes(window_minutes);
        let mut due_at = s.next_due_at;
        for _ in 0..1000 {
            let local_date = due_at.with_timezone(&tz).date_naive();
            let opens_at = quiet.next_allowed(due_at, tz);
            let closes_at = opens_at + window;
            let paused = s.stopped || s.paused_until.is_some_and(|p| p > due_at);
            let outcome = if paused {
                Some("paused")
            } else if closes_at <= now || s.unreachable {
                Some("unknown")
            } else {
                None
            };
            let slot = NewSlot {
                schedule: s.id,
                member: s.member,
                dialog_id: &s.dialog_id,
                local_date,
                due_at,
                opens_at,
                closes_at,
                remind_at: None,
                outcome,
            };
            if Store::insert_slot(tx, &slot).await?.is_some() {
                match outcome {
                    Some("paused") => report.paused += 1,
                    Some(_) => report.unknown += 1,
                    None => {}
                }
            }
            match rec.next_after(due_at) {
                Some((_, next)) if next <= now => due_at = next,
                next => return Store::set_next_due(tx, s.id, next.map(|(_, t)| t)).await,
            }
        }
        // Over a thousand occurrences behind (restored from an old backup?): jump to now.
        Store::set_next_due(tx, s.id, rec.next_after(now).map(|(_, t)| t)).await
    }

    /// Opens a slot whose time has come: a new session and its first question on the
    /// scheduled lane. A slot of the same dialog as a check-in in progress joins it; one of
    /// another dialog waits for it to end. Returns whether the session id was used.
    async fn open(
        &self,
        tx: &mut Conn,
        p: &PendingSlot,
        id: SessionId,
        now: DateTime<Utc>,
        report: &mut TickReport,
    ) -> anyhow::Result<bool> {
        let s = &p.schedule;
        let tz: Tz = s.timezone.parse().unwrap_or(chrono_tz::Europe::London);
        let quiet = quiet_of(&s.quiet_start, &s.quiet_end);
        if s.stopped || s.paused_until.is_some_and(|t| t > now) {
            Store::set_slot_outcome(tx, p.slot, "paused").await?;
            report.paused += 1;
            return Ok(false);
        }
        let send_at = quiet.next_allowed(now, tz);
        if s.unreachable || send_at >= p.closes_at {
            // Blocked, or back from an outage too late to ask before the window ends.
            Store::set_slot_outcome(tx, p.slot, "unknown").await?;
            report.unknown += 1;
            return Ok(false);
        }
        if send_at > now {
            // Quiet hours changed since the slot was claimed.
            Store::defer_slot(tx, p.slot, send_at).await?;
            return Ok(false);
        }
        let remind_at = Some(now + self.reminder_delay).filter(|r| *r < p.closes_at);
        match Store::open_session_of(tx, s.member, now).await? {
            Some((session, dialog, _)) if dialog == s.dialog_id => {
                Store::attach_slot(tx, p.slot, session, None, None).await?;
                report.joined += 1;
                return Ok(false);
            }
            Some((_, _, ends)) => {
                // Another check-in is in progress: ask when it ends (if still in time).
                Store::defer_slot(tx, p.slot, ends.min(p.closes_at)).await?;
                return Ok(false);
            }
            None => {}
        }
        // Already done today of their own accord (/checkin): count it, don't ask again.
        let since = now - DONE_RECENTLY;
        if let Some(session) =
            Store::completed_session_since(tx, s.member, &s.dialog_id, since).await?
        {
            Store::attach_slot(tx, p.slot, session, None, None).await?;
            report.joined += 1;
            return Ok(false);
        }
        if s.dialog_id == week::REPORT_SCHEDULE {
            self.send_report(tx, p, now).await?;
            report.week_reports += 1;
            return Ok(false);
        }
        let Some(dialog) = self.dialogs.current(&s.dialog_id) else {
            Store::set_slot_outcome(tx, p.slot, "unknown").await?;
            return Ok(false);
        };
        let member = Member {
            id: s.member,
            telegram_user: UserId(s.telegram_user),
            name: s.name.clone(),
            timezone: s.timezone.clone(),
            onboarding: Onboarding::parse(&s.onboarding).unwrap_or(Onboarding::Done),
            stopped: s.stopped,
            quiet,
            paused_until: s.paused_until,
        };
        let ctx = conversation::Ctx {
            content: &self.content,
            checkin: None,
            next_session_id: id,
            now,
            titles: Vec::new(),
        };
        let o = checkin::open_scheduled(s.chat, &member, dialog, id, p.closes_at, &ctx);
        Store::apply_changes(tx, s.chat, &o.changes, now).await?;
        let ids = Store::enqueue_at(tx, &o.out, None, now, now).await?;
        Store::attach_slot(tx, p.slot, id, ids.last().copied(), remind_at).await?;
        report.opened += 1;
        Ok(true)
    }

    /// The weekly `/week` report a member scheduled: the chart and summary (or the kind
    /// "not enough yet") on the scheduled lane; its slot ends as `sent`.
    async fn send_report(
        &self,
        tx: &mut Conn,
        p: &PendingSlot,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let s = &p.schedule;
        let tz: Tz = s.timezone.parse().unwrap_or(chrono_tz::Europe::London);
        let since = now - Duration::days(week::HISTORY_DAYS);
        let (answers, slots) = Store::week_history(tx, s.member, since).await?;
        let history = week::History::build(&answers, &slots, tz, now, |d, v| {
            self.dialogs.get(d, v).map(|d| d.as_ref())
        });
        let ctx = conversation::Ctx {
            content: &self.content,
            checkin: None,
            next_session_id: SessionId(0),
            now,
            titles: Vec::new(),
        };
        let o = conversation::week::scheduled(s.chat, &history, &ctx);
        Store::enqueue_at(tx, &o.out, None, now, now).await?;
        Store::set_slot_outcome(tx, p.slot, "sent").await
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
    } else if c.held {
        // Paused or stopped since it was due: not a missed check-in.
        "paused"
    } else if c.session.is_none() || (c.prompted && !c.delivered) {
        // The person was never asked (the bot was down, or Telegram did not deliver).
        // The prompt never reached the person (Telegram or the bot was down).
        "unknown"
    } else if down_when_it_closed {
        "unknown"
    } else {
        "missed"
    }
}
