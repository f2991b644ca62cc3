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
//! - while a member is paused (or has stopped), occurrences are recorded as `paused`; a
//!   reminder due during a pause waits for its end if that is inside the window, and after
//!   `/stop` (or a pause past the window) it waits at the window's end: not sent, unless
//!   they come back inside the window (then it is sent at once);
//! - every time `Store::next_due` reports is one a tick acts on: after a tick at `now`
//!   nothing is left due at or before `now` (simulate counts any tick that breaks this);
//! - after an outage longer than Telegram keeps updates (24 h), members who had a check-in open
//!   in that time get one message that the bot was away.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::content::{Content, fill};
use crate::conversation::{self, Change, Member, Onboarding, checkin};
use crate::dialog::Registry;
use crate::domain::member::tz_or_london;
use crate::domain::states::SlotOutcome;
use crate::domain::{ChatId, Envelope, Lane, Outgoing, SessionId, UserId};
use crate::early_warning;
use crate::effects;
use crate::rules::Template;
use crate::schedule::{Days, LocalTime, QuietHours, Recurrence};
use crate::store::prelude::*;
use crate::store::{
    ClosingSlot, DueSchedule, NewSession, NewSlot, Opening, PendingSlot, SlotOpenings, Store, Work,
    is_database_error,
};
use crate::week;

/// The default for [`Scheduler::down_after`]: the loop beats every minute.
pub const DOWN_AFTER: Duration = Duration::minutes(3);
/// The loop ticks at least this often; something a tick left due is tried again then.
pub const TICK_EVERY: Duration = Duration::minutes(1);
/// Telegram keeps undelivered updates this long; a longer outage may have lost messages.
const UPDATES_KEPT: Duration = Duration::hours(24);
/// Schedules (or slots) handled per write transaction. A batch is a handful of set-wise
/// statements plus one durable commit, about 10 ms for 500 on a small machine; writers take
/// turns (`Store::begin_write`), so someone mid-conversation waits at most about that long
/// at a peak. Smaller batches wait less but pay more commits (100: about 3 ms, and a peak
/// of 6,000 takes half as long again).
/// Windows closed (and plans evaluated) per write transaction.
const CLOSE_BATCH: i64 = 200;
const BATCH: i64 = 500;
/// A check-in of the same dialog completed this recently satisfies a slot that opens now.
const DONE_RECENTLY: Duration = Duration::hours(6);
/// Another check-in answered this recently is in progress: a slot due meanwhile waits.
const ANSWERING: Duration = Duration::minutes(15);
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
    /// Escalations and answers to ask-first questions that timed out.
    pub warnings: usize,
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
    /// Early-warning rule templates (plans are evaluated when a window closes).
    pub rules: Arc<BTreeMap<String, Template>>,
}

impl Scheduler {
    /// Everything due at `now`. Each phase reads and writes inside one write transaction
    /// (in chunks), so a pause, an edit or an answer committed meanwhile is always seen.
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
        let mut report = TickReport::default();
        // One source of fresh tokens for every server-side button this tick makes (alerts'
        // Acknowledge, ask-first questions).
        let tokens = crate::token::Tokens::new(crate::token::os_key()?, 0);
        let last = self.store.last_tick().await?;
        // Was the bot down at instant `t` (between the last heartbeat and now)?
        let down_at = |t: DateTime<Utc>| last.is_some_and(|l| l < t && now - l > self.down_after);

        // 1. Occurrences that have come: claim their slots (a batch of schedules at a time:
        //    one statement for their slots, one for their next occurrences).
        for _ in 0..10_000 {
            let mut tx = self.store.begin_write().await?;
            let due = tx.due_schedules(now, BATCH).await?;
            let mut slots = Vec::new();
            let next: Vec<_> = due
                .iter()
                .map(|s| (s.id, self.occurrences(s, now, &mut slots)))
                .collect();
            // Only slots this statement created are counted (the rest existed already).
            for outcome in tx.insert_slots(&slots).await? {
                match outcome {
                    Some(SlotOutcome::Paused) => report.paused += 1,
                    Some(_) => report.unknown += 1,
                    None => {}
                }
            }
            tx.set_next_due(&next).await?;
            tx.commit().await?;
            if (due.len() as i64) < BATCH {
                break;
            }
        }

        // 2. Slots whose time has come: open them (or decide they cannot be). A batch is
        //    decided from what was read at its start, then written in a few statements; so
        //    that what was read stays true, a batch holds one slot per member (a member's
        //    second slot waits for the next batch, which sees the first one's session).
        for _ in 0..10_000 {
            let mut tx = self.store.begin_write().await?;
            let pending = tx.pending_slots(now, now - DONE_RECENTLY, BATCH).await?;
            if pending.is_empty() {
                break;
            }
            let mut members = HashSet::new();
            let mine: Vec<_> = pending
                .iter()
                .take_while(|p| members.insert(p.schedule.member))
                .collect();
            let mut next_session = tx.next_session_id().await?;
            let mut batch = Openings::default();
            let mut reports = Vec::new();
            for p in &mine {
                if self.open(p, next_session, now, &tokens, &mut batch, &mut report) {
                    next_session.0 += 1;
                } else if p.schedule.dialog_id == week::REPORT_SCHEDULE
                    && !decided(&batch.slots, p.slot)
                {
                    reports.push(*p);
                }
            }
            // An opening that is not the usual "start, first state" goes through the one
            // interpreter of changes, as a conversation's would.
            for (chat, changes) in &batch.unusual {
                effects::apply(&mut tx, *chat, changes, now).await?;
            }
            tx.open_slots(&batch.slots, now).await?;
            for p in reports {
                self.send_report(&mut tx, p, now, &tokens).await?;
                report.week_reports += 1;
            }
            tx.commit().await?;
            if mine.len() == pending.len() && (pending.len() as i64) < BATCH {
                break;
            }
        }

        // 3. One gentle reminder per slot, never in quiet hours or after the window.
        let mut tx = self.store.begin_write().await?;
        for r in tx.due_reminders(now, 5000).await? {
            // Paused: the reminder waits for the pause to end, if that is inside the window.
            // Stopped (or paused past the window): it waits at the window's end, where it is
            // decided against, unless they come back inside the window first (`/start`,
            // `/resume`: `Store::bring_back_reminders` makes it due then).
            if held(r.stopped, r.paused_until, now) {
                match r.paused_until {
                    _ if r.closes_at <= now => {
                        tx.mark_reminded(r.slot, now).await?;
                    }
                    Some(until) if !r.stopped && until < r.closes_at => {
                        tx.postpone_reminder(r.slot, until).await?
                    }
                    _ => tx.postpone_reminder(r.slot, r.closes_at).await?,
                }
                continue;
            }
            let tz = tz_or_london(&r.timezone);
            let at = QuietHours::from_stored(&r.quiet_start, &r.quiet_end).next_allowed(now, tz);
            if at > now && at < r.closes_at && !r.started {
                // Quiet hours: the reminder itself waits (not a queued message), so one done
                // meanwhile is not reminded about in the morning.
                tx.postpone_reminder(r.slot, at).await?;
                continue;
            }
            if !tx.mark_reminded(r.slot, now).await? || r.started {
                continue;
            }
            if at >= r.closes_at {
                continue;
            }
            let t = &self.content.texts;
            // The closing time, with its day when that is not today (a weekly prompt's).
            let closes = r.closes_at.with_timezone(&tz);
            let until = if closes.date_naive() == now.with_timezone(&tz).date_naive() {
                closes.format("%H:%M").to_string()
            } else {
                closes.format("%A %H:%M").to_string()
            };
            let name = r.name.as_deref().unwrap_or(&t.default_name);
            let text = fill(&t.reminder, &[("name", name), ("until", &until)]);
            let env = Envelope {
                chat: r.chat,
                lane: Lane::Scheduled,
                body: Outgoing::text(text),
            };
            tx.enqueue_at(&[env], None, now, at).await?;
            report.reminders += 1;
        }

        tx.commit().await?;

        let ew = early_warning::Ctx {
            content: &self.content,
            dialogs: &self.dialogs,
            templates: &self.rules,
            tokens: &tokens,
            now,
        };
        // 4. Windows that have closed: an outcome each, in batches (so people
        //    mid-conversation wait at most for one). A slot's outcome is history: the member's
        //    plan is evaluated in the transaction that records it (a completed check-in was
        //    evaluated when it completed). One member's failing evaluation is logged and
        //    skipped; it never holds up anyone's outcome.
        for _ in 0..10_000 {
            let mut tx = self.store.begin_write().await?;
            let closing = tx.closing_slots(now, CLOSE_BATCH).await?;
            for c in &closing {
                let outcome = outcome(c, down_at(c.closes_at));
                match outcome {
                    SlotOutcome::Completed => report.completed += 1,
                    SlotOutcome::Partial => report.partial += 1,
                    SlotOutcome::Missed => report.missed += 1,
                    SlotOutcome::Paused => report.paused += 1,
                    SlotOutcome::Unknown | SlotOutcome::Sent => report.closed_unknown += 1,
                }
                tx.close_slot(c, outcome, now).await?;
                if matches!(outcome, SlotOutcome::Partial | SlotOutcome::Missed)
                    && let Some(member) = tx.slot_member(c.slot).await?
                {
                    let mut sp = tx.savepoint().await?;
                    match early_warning::after_history_change(&mut sp, member, &ew).await {
                        Ok(out) => {
                            sp.enqueue(&out, None, now).await?;
                            sp.commit().await?;
                        }
                        Err(e) if is_database_error(&e) => return Err(e),
                        Err(e) => {
                            sp.rollback().await?;
                            tracing::error!(member = member.0, error = %e, "early warning evaluation failed; skipped");
                        }
                    }
                }
            }
            tx.commit().await?;
            if (closing.len() as i64) < CLOSE_BATCH {
                break;
            }
        }

        let mut tx = self.store.begin_write().await?;
        // 4b. Alerts nobody acknowledged, ask-first questions nobody answered.
        let mut sp = tx.savepoint().await?;
        match early_warning::tick(&mut sp, &ew).await {
            Ok(out) => {
                report.warnings += out.len();
                sp.enqueue(&out, None, now).await?;
                sp.commit().await?;
            }
            Err(e) if is_database_error(&e) => return Err(e),
            Err(e) => {
                sp.rollback().await?;
                tracing::error!(error = %e, "escalations failed; will retry");
            }
        }

        // 5. The heartbeat; after a long outage, one notice (moving the heartbeat decides who
        //    sends it, so it goes once).
        if tx.advance_heartbeat(last, now).await?
            && let Some(l) = last
            && now - l > UPDATES_KEPT
        {
            for (chat, tz, qs, qe) in tx.chats_with_sessions_between(l, now).await? {
                let tz = tz_or_london(&tz);
                let at = QuietHours::from_stored(&qs, &qe).next_allowed(now, tz);
                let env = Envelope {
                    chat,
                    lane: Lane::Scheduled,
                    body: Outgoing::text(&self.content.texts.away_notice),
                };
                tx.enqueue_at(&[env], None, now, at).await?;
                report.away_notices += 1;
            }
        }
        tx.commit().await?;

        if report != TickReport::default() {
            self.outbox_ready.notify_one();
        }
        Ok(report)
    }

    /// The slots for every occurrence of `s` due by `now` (pushed onto `slots`, to be
    /// claimed by inserting them), and the schedule's next occurrence after them. A slot
    /// opens later (phase 2): at its time, after quiet hours.
    fn occurrences<'a>(
        &self,
        s: &'a DueSchedule,
        now: DateTime<Utc>,
        slots: &mut Vec<NewSlot<'a>>,
    ) -> Option<DateTime<Utc>> {
        let parts = (
            s.timezone.parse::<Tz>(),
            Days::parse(&s.days),
            LocalTime::parse(&s.local_time),
        );
        let (Ok(tz), Some(days), Some(time)) = parts else {
            tracing::error!(schedule = s.id, "unreadable schedule; disabled");
            return None;
        };
        let rec = Recurrence { days, time, tz };
        let window_minutes = match self.dialogs.current(&s.dialog_id) {
            Some(dialog) => dialog.answer_window_minutes,
            None if s.dialog_id == week::REPORT_SCHEDULE => REPORT_WINDOW_MINUTES,
            None => {
                // The dialog is gone (perhaps for a while): skip this occurrence, keep the schedule.
                tracing::error!(schedule = s.id, dialog = %s.dialog_id, "schedule for a dialog that does not exist; skipped");
                return rec.next_after(now).map(|(_, t)| t);
            }
        };
        let quiet = QuietHours::from_stored(&s.quiet_start, &s.quiet_end);
        let window = Duration::minutes(window_minutes);
        let mut due_at = s.next_due_at;
        for _ in 0..1000 {
            let local_date = due_at.with_timezone(&tz).date_naive();
            let opens_at = quiet.next_allowed(due_at, tz);
            let closes_at = opens_at + window;
            let paused = held(s.stopped, s.paused_until, due_at);
            let outcome = if paused {
                Some(SlotOutcome::Paused)
            } else if closes_at <= now || s.unreachable {
                Some(SlotOutcome::Unknown)
            } else {
                None
            };
            slots.push(NewSlot {
                schedule: s.id,
                member: s.member,
                dialog_id: &s.dialog_id,
                local_date,
                due_at,
                opens_at,
                closes_at,
                remind_at: None,
                outcome,
            });
            match rec.next_after(due_at) {
                Some((_, next)) if next <= now => due_at = next,
                next => return next.map(|(_, t)| t),
            }
        }
        // Over a thousand occurrences behind (restored from an old backup?): jump to now.
        rec.next_after(now).map(|(_, t)| t)
    }

    /// Decides what a slot whose time has come does, adding it to `batch`: a new session
    /// and its first question on the scheduled lane. A slot of the same dialog as a check-in
    /// in progress joins it; one of another dialog waits for it to end. Pure: it reads the
    /// member's sessions as `p` carries them. Returns whether the session id was used.
    fn open(
        &self,
        p: &PendingSlot,
        id: SessionId,
        now: DateTime<Utc>,
        tokens: &crate::token::Tokens,
        batch: &mut Openings,
        report: &mut TickReport,
    ) -> bool {
        let s = &p.schedule;
        let tz = tz_or_london(&s.timezone);
        let quiet = QuietHours::from_stored(&s.quiet_start, &s.quiet_end);
        if held(s.stopped, s.paused_until, now) {
            batch.slots.outcomes.push((p.slot, SlotOutcome::Paused));
            report.paused += 1;
            return false;
        }
        let send_at = quiet.next_allowed(now, tz);
        if s.unreachable || send_at >= p.closes_at {
            // Blocked, or back from an outage too late to ask before the window ends.
            batch.slots.outcomes.push((p.slot, SlotOutcome::Unknown));
            report.unknown += 1;
            return false;
        }
        if send_at > now {
            // Quiet hours changed since the slot was claimed.
            batch.slots.deferred.push((p.slot, send_at));
            return false;
        }
        let remind_at = Some(now + self.reminder_delay).filter(|r| *r < p.closes_at);
        match &p.open_session {
            Some((session, dialog, _, _)) if *dialog == s.dialog_id => {
                batch.slots.joined.push((p.slot, *session));
                report.joined += 1;
                return false;
            }
            Some((_, _, ends, _)) if *ends < p.closes_at => {
                // Another check-in is in progress: ask when it ends (still in time).
                batch.slots.deferred.push((p.slot, *ends));
                return false;
            }
            Some((_, _, _, touched)) if now - *touched < ANSWERING => {
                // Another check-in that would outlast this one's window, and they are
                // answering it now: look again shortly.
                batch
                    .slots
                    .deferred
                    .push((p.slot, (now + ANSWERING).min(p.closes_at)));
                return false;
            }
            // Another check-in, left for a while, that would outlast this one's whole window
            // (a weekly prompt open for a day): this one is asked now, and starting it puts
            // the other aside. Waiting for it would lose today's check-in.
            Some(_) | None => {}
        }
        // Already done today of their own accord (/checkin): count it, don't ask again. Only
        // on the slot's own local day: one done at 23:30 is not tomorrow's 01:00 check-in.
        let done_today = p.done_recently.filter(|(_, at)| {
            at.with_timezone(&tz)
                .date_naive()
                .format("%Y-%m-%d")
                .to_string()
                == p.local_date
        });
        if let Some((session, _)) = done_today {
            batch.slots.joined.push((p.slot, session));
            report.joined += 1;
            return false;
        }
        if s.dialog_id == week::REPORT_SCHEDULE {
            return false; // sent by the tick (it reads the member's history)
        }
        let Some(dialog) = self.dialogs.current(&s.dialog_id) else {
            batch.slots.outcomes.push((p.slot, SlotOutcome::Unknown));
            return false;
        };
        let member = Member {
            id: s.member,
            telegram_user: UserId(s.telegram_user),
            name: s.name.clone(),
            timezone: tz,
            onboarding: Onboarding::parse(&s.onboarding).unwrap_or(Onboarding::Done),
            stopped: s.stopped,
            quiet,
            paused_until: s.paused_until,
            consented: true, // withdrawing consent stops the member: no slot opens then
        };
        let ctx = conversation::Ctx {
            content: &self.content,
            checkin: None,
            weekly: None,
            next_session_id: id,
            now,
            titles: Vec::new(),
            tokens,
            bot_username: None,
            rules: &self.rules,
        };
        let o = checkin::open_scheduled(s.chat, &member, dialog, id, p.closes_at, &ctx);
        let first = match o.changes.as_slice() {
            [
                Change::StartSession {
                    id,
                    dialog_id,
                    version,
                    expires_at,
                },
                Change::SaveSession {
                    id: saved,
                    status,
                    state,
                },
            ] if saved == id => Some(NewSession {
                dialog_id: dialog_id.clone(),
                version: *version,
                status: *status,
                state: state.clone(),
                expires_at: *expires_at,
            }),
            _ => None,
        };
        if first.is_none() {
            batch.unusual.push((s.chat, o.changes));
        }
        batch.slots.started.push(Opening {
            slot: p.slot,
            chat: s.chat,
            member: s.member,
            session: id,
            first,
            out: o.out,
            remind_at,
        });
        report.opened += 1;
        true
    }

    /// The weekly `/week` report a member scheduled: the chart and summary (or the kind
    /// "not enough yet") on the scheduled lane; its slot ends as `sent`.
    async fn send_report(
        &self,
        tx: &mut Work,
        p: &PendingSlot,
        now: DateTime<Utc>,
        tokens: &crate::token::Tokens,
    ) -> anyhow::Result<()> {
        let s = &p.schedule;
        let tz = tz_or_london(&s.timezone);
        let history = week::load(tx, s.member, tz, now, &self.dialogs).await?;
        let ctx = conversation::Ctx {
            content: &self.content,
            checkin: None,
            weekly: None,
            next_session_id: SessionId(0),
            now,
            titles: Vec::new(),
            tokens,
            bot_username: None,
            rules: &self.rules,
        };
        let o = conversation::week::scheduled(s.chat, &history, &ctx);
        tx.enqueue_at(&o.out, None, now, now).await?;
        let sent = SlotOpenings {
            outcomes: vec![(p.slot, SlotOutcome::Sent)],
            ..SlotOpenings::default()
        };
        Ok(tx.open_slots(&sent, now).await?)
    }

    /// Ticks whenever something is due, when a schedule changes, and at least every minute
    /// (the heartbeat that tells an outage from silence).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            let now = self.clock.now();
            if let Err(e) = self.tick(now).await {
                tracing::error!(error = %e, "scheduler tick failed; will retry");
            }
            let mut wake = now + TICK_EVERY;
            match self.store.next_due().await {
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

/// Whether a member who has stopped, or is paused until `paused_until`, is held at `at`.
fn held(stopped: bool, paused_until: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    stopped || paused_until.is_some_and(|p| p > at)
}

/// Whether `open` already decided what `slot` does (an outcome, a deferral, a join).
/// What one batch of pending slots comes to: the store's openings, and the changes of any
/// opening that is not the usual "start a session with its first state".
#[derive(Default)]
struct Openings {
    slots: SlotOpenings,
    unusual: Vec<(ChatId, Vec<Change>)>,
}

fn decided(b: &SlotOpenings, slot: i64) -> bool {
    b.outcomes.iter().any(|(s, _)| *s == slot)
        || b.deferred.iter().any(|(s, _)| *s == slot)
        || b.joined.iter().any(|(s, _)| *s == slot)
}

/// The outcome of a slot whose window has closed.
fn outcome(c: &ClosingSlot, down_when_it_closed: bool) -> SlotOutcome {
    if c.completed {
        SlotOutcome::Completed
    } else if c.answered > 0 {
        SlotOutcome::Partial
    } else if c.held {
        // Paused or stopped since it was due: not a missed check-in.
        SlotOutcome::Paused
    } else if c.session.is_none() || (c.prompted && !c.delivered) {
        // The person was never asked (the bot was down, or Telegram did not deliver).
        // The prompt never reached the person (Telegram or the bot was down).
        SlotOutcome::Unknown
    } else if down_when_it_closed {
        SlotOutcome::Unknown
    } else {
        SlotOutcome::Missed
    }
}
