//! Delivers outbox rows: most urgent lane first, paced within Telegram's limits, one call in
//! flight per chat (so a chat's messages arrive in order), with retries by a stated policy:
//!
//! | result                  | what happens                                                    |
//! |-------------------------|-----------------------------------------------------------------|
//! | sent                    | `sent`, Telegram's `message_id` recorded                        |
//! | 429 `retry_after`       | that chat (or everyone, if several chats are refused) waits; not counted as a failure |
//! | 5xx, network (no send)  | retried with exponential backoff and jitter: 12 attempts, urgent for 24 h |
//! | timeout after sending   | ambiguous: routine → `ambiguous`, not re-sent; urgent → re-sent marked as a repeat |
//! | `sending` at a crash    | see [`after_interruption`]: answers and edits again; urgent rows and questions again, marked as a repeat; other routine messages `ambiguous` |
//! | 403 blocked/deactivated | chat marked unreachable, its pending rows end, no retries       |
//! | 400                     | `failed` with the reason, no retries                            |
//!

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::OutboxSettings;
use crate::domain::{ChatId, Lane, OutboxId, Outgoing};
use crate::pacing::Pacer;
use crate::store::prelude::*;
use crate::store::{DeliveryRecord, OutboxRow, Store};

mod policy;
use policy::{after_interruption, mark_repeat, policy};

/// Extra calls in flight allowed for the urgent lane, so a flood never holds it back.
const URGENT_RESERVE: usize = 8;
const FETCH: i64 = 256;
/// How often stale keyboard collapses are looked for.
const TIDY_SWEEP: chrono::Duration = chrono::Duration::seconds(5);
/// Rows read beyond the calls that could start, for those the pacer holds back.
const FETCH_MARGIN: usize = 32;

/// How many due rows one round of the delivery loop reads while the pacer holds nothing
/// back: as many calls as could start, plus the rows of chats already in flight (skipped)
/// and a margin. Reading all [`FETCH`] (each parsed) to start the one call a finished call
/// made room for was most of a round's work when the queue was long. After a round in which
/// the pacer held a row back, the next reads all [`FETCH`] again: at a peak the global limit
/// holds back every paced row, and the unpaced ones behind them (a button's answer) must
/// still be found.
fn fetch_size(in_flight: usize, chats_in_flight: usize, max_in_flight: usize) -> i64 {
    let free = (max_in_flight + URGENT_RESERVE).saturating_sub(in_flight);
    ((free + chats_in_flight + FETCH_MARGIN) as i64).min(FETCH)
}

/// The result of one call, in delivery-policy terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Sent {
        message_id: Option<i32>,
    },
    /// 429: wait this many seconds.
    RetryAfter(u32),
    /// Did not reach Telegram, or Telegram failed (5xx): safe to retry.
    Transient(String),
    /// May or may not have been delivered (timeout after the request was sent).
    Ambiguous(String),
    /// 403 and friends: the person blocked the bot or is gone.
    Unreachable(String),
    /// 400: Telegram refused this call; retrying would not help.
    Rejected(String),
}

/// Something that can perform an outgoing call (Telegram in production; a terminal or a
/// simulated network elsewhere).
pub trait Messenger: Send + Sync + 'static {
    fn deliver(&self, chat: ChatId, body: Outgoing) -> impl Future<Output = Delivered> + Send;
}

pub struct Delivery<M: Messenger> {
    pub store: Store,
    pub messenger: Arc<M>,
    pub clock: Arc<dyn Clock>,
    pub settings: OutboxSettings,
    pub outbox_ready: Arc<Notify>,
    /// Put before an urgent message that is re-sent after an ambiguous failure.
    pub repeat_notice: String,
}

/// Calls in flight, and what each is about.
struct InFlight {
    tasks: JoinSet<Delivered>,
    rows: HashMap<tokio::task::Id, OutboxRow>,
    /// Chats with a routine call in flight (one at a time keeps their order).
    chats: HashSet<ChatId>,
    /// The last round's pacer held a row back: the next round reads the whole window, so
    /// rows the pacer lets through (a button's answer, behind paced rows at a peak) are seen.
    held_back: bool,
}

impl<M: Messenger> Delivery<M> {
    /// Runs until `stop` turns true, then finishes the calls in flight and returns.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        // Rows left `sending` by a crash must be settled before anything else is sent, and
        // what left in the last window still counts against Telegram's limit.
        let mut wait = Duration::from_millis(200);
        // The pacer first: rows still `sending` are counted as leaving at the restart.
        let mut pacer = loop {
            match self.pacer().await {
                Ok(pacer) => match self.recover().await {
                    Ok(()) => break pacer,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot recover interrupted deliveries; retrying")
                    }
                },
                Err(e) => tracing::error!(error = %e, "cannot read recent deliveries; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        };
        let mut flight = InFlight {
            tasks: JoinSet::new(),
            rows: HashMap::new(),
            chats: HashSet::new(),
            held_back: false,
        };
        // Results not yet recorded (the database was unavailable): kept and retried.
        let mut unrecorded: Vec<DeliveryRecord> = Vec::new();
        let mut stopping = *stop.borrow();
        let mut rounds: u64 = 0;
        let mut next_expiry = self.clock.now();
        let tidy_ttl = chrono::Duration::seconds(self.settings.tidy_expires_secs as i64);
        loop {
            let now = self.clock.now();
            let mut wake: Option<DateTime<Utc>> = None;
            if now >= next_expiry {
                next_expiry = now + TIDY_SWEEP;
                match self.store.expire_tidy(now - tidy_ttl).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "keyboard collapses expired unsent"),
                    Err(e) => tracing::error!(error = %e, "cannot expire keyboard collapses"),
                }
            }
            if !unrecorded.is_empty() {
                match self.store.record(&unrecorded, now).await {
                    Ok(()) => unrecorded.clear(),
                    Err(e) => {
                        tracing::error!(error = %e, rows = unrecorded.len(), "cannot record delivery results; will retry");
                        wake = Some(now + chrono::Duration::seconds(1));
                    }
                }
            }
            if !stopping && unrecorded.is_empty() {
                match self.start_due(now, &mut pacer, &mut flight).await {
                    Ok(w) => wake = earliest(wake, w),
                    Err(e) => {
                        tracing::error!(error = %e, "outbox read failed");
                        wake = Some(now + chrono::Duration::seconds(1));
                    }
                }
            }
            if stopping && flight.tasks.is_empty() && unrecorded.is_empty() {
                break;
            }
            // A safety net for rows added without a notification (another process, an
            // operator tool): look again at least once a second.
            wake = earliest(wake, Some(now + chrono::Duration::seconds(1)));
            rounds += 1;
            if rounds.is_multiple_of(1000) {
                pacer.forget_idle(now);
            }
            let sleep = async {
                match wake {
                    Some(t) => self.clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                Some(done) = flight.tasks.join_next_with_id(), if !flight.tasks.is_empty() => {
                    let mut finished = vec![done];
                    while let Some(more) = flight.tasks.try_join_next_with_id() {
                        finished.push(more);
                    }
                    let now = self.clock.now();
                    for joined in finished {
                        let (id, result) = match joined {
                            Ok((id, result)) => (id, result),
                            Err(e) => {
                                // A panic in a send: treat it like a lost response.
                                tracing::error!(error = %e, "delivery task failed");
                                (e.id(), Delivered::Ambiguous("delivery task failed".into()))
                            }
                        };
                        if let Some(row) = flight.rows.remove(&id) {
                            // Only the routine call that holds its chat's place frees it.
                            if holds_place(&row) {
                                flight.chats.remove(&row.chat);
                            }
                            unrecorded.push(policy(&row, result, now, &mut pacer));
                        }
                    }
                }
                _ = self.outbox_ready.notified(), if !stopping => {}
                _ = sleep => {}
                res = stop.changed(), if !stopping => { let _ = res; stopping = true; }
            }
        }
        tracing::info!("delivery stopped");
    }

    /// Claims and starts every due row the pacer allows. Returns when to look again if some
    /// rows must wait (`None`: wait for a notification or a finished call).
    async fn start_due(
        &self,
        now: DateTime<Utc>,
        pacer: &mut Pacer,
        flight: &mut InFlight,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let max = self.settings.max_in_flight;
        if flight.tasks.len() >= max + URGENT_RESERVE {
            return Ok(None);
        }
        let limit = if std::mem::take(&mut flight.held_back) {
            FETCH
        } else {
            fetch_size(flight.tasks.len(), flight.chats.len(), max)
        };
        let (rows, _) = self.store.due_outbox(now, limit).await?;
        let mut wake: Option<DateTime<Utc>> = None;
        let mut chosen: Vec<OutboxRow> = Vec::new();
        let mut seen = HashSet::new();
        for row in rows {
            let urgent = row.lane == Lane::Urgent;
            let busy = flight.tasks.len() + chosen.len();
            if busy >= max + URGENT_RESERVE || (!urgent && busy >= max) {
                if urgent {
                    break;
                }
                continue;
            }
            // One routine call per chat at a time (the query already keeps each chat's
            // queue in order); an urgent one may overtake.
            // A callback answer overtakes its chat's queue, and holds no place in it.
            if holds_place(&row) && (flight.chats.contains(&row.chat) || !seen.insert(row.chat)) {
                continue;
            }
            match pacer.try_acquire(row.chat, row.body.is_paced(), now) {
                Ok(()) => chosen.push(row),
                Err(at) => {
                    flight.held_back = true;
                    wake = earliest(wake, Some(at));
                }
            }
        }
        if !chosen.is_empty() {
            let ids: Vec<_> = chosen.iter().map(|r| r.id).collect();
            let claimed: HashSet<OutboxId> =
                self.store.claim(&ids, now).await?.into_iter().collect();
            // Counted again at the moment they leave, which is after the claim's commit.
            let paced = |rows: &mut dyn Iterator<Item = &OutboxRow>| {
                rows.filter(|r| r.body.is_paced()).count()
            };
            pacer.departed(
                paced(&mut chosen.iter()),
                paced(&mut chosen.iter().filter(|r| claimed.contains(&r.id))),
                self.clock.now(),
            );
            for row in chosen.into_iter().filter(|r| claimed.contains(&r.id)) {
                if holds_place(&row) {
                    flight.chats.insert(row.chat);
                }
                let messenger = self.messenger.clone();
                let body = if row.repeat {
                    mark_repeat(&row.body, &self.repeat_notice)
                } else {
                    row.body.clone()
                };
                let chat = row.chat;
                let handle = flight
                    .tasks
                    .spawn(async move { messenger.deliver(chat, body).await });
                flight.rows.insert(handle.id(), row);
            }
        }
        if let Some(next) = self.store.next_outbox_due().await?
            && next > now
        {
            wake = earliest(wake, Some(next));
        }
        Ok(wake)
    }

    /// Delivers every due row at once, one after another, without pacing: for transports
    /// with no rate limits (the terminal of `staywell chat`). Same claims, same policy, same
    /// records as the loop. Returns how many calls were made.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut pacer = Pacer::new(OutboxSettings {
            global_per_second: u32::MAX,
            per_chat_burst: u32::MAX,
            per_chat_interval_ms: 0,
            max_in_flight: 1,
            ..OutboxSettings::default()
        });
        let mut calls = 0;
        // Bounded: a transport that kept asking for urgent re-sends cannot spin forever.
        for _ in 0..10_000 {
            let now = self.clock.now();
            let (rows, _) = self.store.due_outbox(now, FETCH).await?;
            if rows.is_empty() {
                break;
            }
            let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
            let claimed: HashSet<OutboxId> =
                self.store.claim(&ids, now).await?.into_iter().collect();
            let mut records = Vec::new();
            for row in rows.into_iter().filter(|r| claimed.contains(&r.id)) {
                let body = if row.repeat {
                    mark_repeat(&row.body, &self.repeat_notice)
                } else {
                    row.body.clone()
                };
                let result = self.messenger.deliver(row.chat, body).await;
                records.push(policy(&row, result, now, &mut pacer));
                calls += 1;
            }
            self.store.record(&records, now).await?;
        }
        Ok(calls)
    }

    /// Delivers every due row the pacer allows at the clock's current time, one call after
    /// another (calls take no time: a virtual world's transport), with the loop's rules: most
    /// urgent lane first, a chat's routine rows in order, the same claims, policy and
    /// records. Returns how many calls were made and when the pacer next allows one of the
    /// rows still due (or the next row becomes due). For `staywell simulate`.
    pub async fn deliver_paced(
        &self,
        pacer: &mut Pacer,
    ) -> anyhow::Result<(usize, Option<DateTime<Utc>>)> {
        let now = self.clock.now();
        let mut calls = 0;
        let mut wake: Option<DateTime<Utc>> = None;
        // Bounded, like `drain`.
        for _ in 0..10_000 {
            let (rows, all) = self.store.due_outbox(now, FETCH).await?;
            // This round may be the last: every due row was fetched and sent, none had
            // another of its chat behind it and none is to be retried (then the next fetch
            // would find nothing, so it is not made).
            let mut last = all;
            let mut chosen: Vec<OutboxRow> = Vec::new();
            let mut seen = HashSet::new();
            for row in rows {
                let urgent = row.lane == Lane::Urgent;
                last &= !row.more_for_chat;
                // One row per chat per round keeps each chat's queue in order (a callback
                // answer is not in it).
                if !row.body.overtakes() && !seen.insert(row.chat) && !urgent {
                    last = false;
                    continue;
                }
                match pacer.try_acquire(row.chat, row.body.is_paced(), now) {
                    Ok(()) => chosen.push(row),
                    Err(at) => {
                        last = false;
                        wake = earliest(wake, Some(at));
                    }
                }
            }
            if chosen.is_empty() {
                break;
            }
            let ids: Vec<_> = chosen.iter().map(|r| r.id).collect();
            let claimed: HashSet<OutboxId> =
                self.store.claim(&ids, now).await?.into_iter().collect();
            let mut records = Vec::new();
            for row in chosen.into_iter().filter(|r| claimed.contains(&r.id)) {
                let body = if row.repeat {
                    mark_repeat(&row.body, &self.repeat_notice)
                } else {
                    row.body.clone()
                };
                let result = self.messenger.deliver(row.chat, body).await;
                records.push(policy(&row, result, now, pacer));
                calls += 1;
            }
            last &= !records
                .iter()
                .any(|r| matches!(r, DeliveryRecord::Retry { .. }));
            self.store.record(&records, now).await?;
            if last {
                break;
            }
        }
        if let Some(next) = self.store.next_outbox_due().await?
            && next > now
        {
            wake = earliest(wake, Some(next));
        }
        Ok((calls, wake))
    }

    /// A pacer that knows the paced calls an earlier process made in the last window.
    async fn pacer(&self) -> anyhow::Result<Pacer> {
        let mut pacer = Pacer::new(self.settings.clone());
        let now = self.clock.now();
        let since = now - Pacer::window_of(&self.settings);
        for (chat, at) in self.store.recent_departures(since, now).await? {
            pacer.remember(chat, at);
        }
        Ok(pacer)
    }

    /// Rows left `sending` by a crash may or may not have reached Telegram.
    async fn recover(&self) -> anyhow::Result<()> {
        let interrupted = self.store.interrupted().await?;
        if interrupted.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let records: Vec<_> = interrupted
            .iter()
            .map(|r| after_interruption(r, now))
            .collect();
        let again = records
            .iter()
            .filter(|r| matches!(r, DeliveryRecord::Retry { .. }))
            .count();
        tracing::warn!(
            rows = records.len(),
            sent_again = again,
            "deliveries interrupted by a restart"
        );
        Ok(self.store.record(&records, now).await?)
    }
}

/// A routine call (not urgent, not a callback answer) holds its chat's place while in flight:
/// one at a time keeps the chat's messages in order.
fn holds_place(row: &OutboxRow) -> bool {
    row.lane != Lane::Urgent && !row.body.overtakes()
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How long `serve` waits for calls in flight when asked to stop.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_reads_the_rows_that_could_start_and_a_margin_never_more_than_fetch() {
        // Nothing in flight, 32 allowed: 32 routine + 8 urgent could start.
        assert_eq!(fetch_size(0, 0, 32), 40 + FETCH_MARGIN as i64);
        // One slot free: the chats in flight are read past (skipped), plus the margin.
        assert_eq!(fetch_size(39, 30, 32), (1 + 30 + FETCH_MARGIN) as i64);
        // Everything taken: the margin still looks for what the pacer would let through.
        assert_eq!(fetch_size(50, 32, 32), (32 + FETCH_MARGIN) as i64);
        assert_eq!(fetch_size(0, 0, 10_000), FETCH);
    }
}
