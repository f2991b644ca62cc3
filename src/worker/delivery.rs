//! Delivers outbox rows: most urgent lane first, paced within Telegram's limits, one call in
//! flight per chat (so a chat's messages arrive in order), with retries by a stated policy:
//!
//! | result                  | what happens                                                    |
//! |-------------------------|-----------------------------------------------------------------|
//! | sent                    | `sent`, Telegram's `message_id` recorded                        |
//! | 429 `retry_after`       | that chat (or everyone, if several chats are refused) waits     |
//! | 5xx, network (no send)  | retried with exponential backoff and jitter, up to 12 attempts  |
//! | timeout after sending   | ambiguous: routine → `ambiguous`, not re-sent; urgent → re-sent marked as a repeat |
//! | 403 blocked/deactivated | chat marked unreachable, its pending rows end, no retries       |
//! | 400                     | `failed` with the reason, no retries                            |
//!
//! The same policy applies to rows left `sending` by a crash.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::config::OutboxSettings;
use crate::domain::{ChatId, Lane, Outgoing};
use crate::pacing::{Pacer, backoff};
use crate::store::{DeliveryRecord, OutboxRow, Store};

const MAX_ATTEMPTS: i64 = 12;
const FETCH: i64 = 256;

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

impl<M: Messenger> Delivery<M> {
    /// Runs until `stop` turns true, then finishes the calls in flight and returns.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if let Err(e) = self.recover().await {
            tracing::error!(error = %e, "cannot recover interrupted deliveries");
        }
        let mut pacer = Pacer::new(self.settings.clone());
        let mut in_flight: HashSet<ChatId> = HashSet::new();
        let mut tasks: JoinSet<(OutboxRow, Delivered)> = JoinSet::new();
        let mut stopping = *stop.borrow();
        let mut rounds: u64 = 0;
        loop {
            let now = self.clock.now();
            let mut wake: Option<DateTime<Utc>> = None;
            if !stopping && tasks.len() < self.settings.max_in_flight {
                match self
                    .start_due(now, &mut pacer, &mut in_flight, &mut tasks)
                    .await
                {
                    Ok(w) => wake = w,
                    Err(e) => {
                        tracing::error!(error = %e, "outbox read failed");
                        wake = Some(now + chrono::Duration::seconds(1));
                    }
                }
            }
            if stopping && tasks.is_empty() {
                break;
            }
            // A safety net for rows added without a notification (another process, an operator
            // tool): look again at least once a second.
            let backstop = now + chrono::Duration::seconds(1);
            wake = Some(wake.map_or(backstop, |w| w.min(backstop)));
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
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    let mut finished = vec![done];
                    while let Some(more) = tasks.try_join_next() {
                        finished.push(more);
                    }
                    let now = self.clock.now();
                    let mut records = Vec::with_capacity(finished.len());
                    for joined in finished {
                        match joined {
                            Ok((row, result)) => {
                                in_flight.remove(&row.chat);
                                records.push(policy(&row, result, now, &mut pacer));
                            }
                            Err(e) => tracing::error!(error = %e, "delivery task failed"),
                        }
                    }
                    if let Err(e) = self.store.record(&records, now).await {
                        // The rows stay `sending` and are treated as interrupted on restart.
                        tracing::error!(error = %e, "cannot record delivery results");
                    }
                }
                _ = self.outbox_ready.notified(), if !stopping => {}
                _ = sleep, if !stopping => {}
                _ = stop.changed(), if !stopping => { stopping = true; }
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
        in_flight: &mut HashSet<ChatId>,
        tasks: &mut JoinSet<(OutboxRow, Delivered)>,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let rows = self.store.due_outbox(now, FETCH).await?;
        let mut wake: Option<DateTime<Utc>> = None;
        let mut chosen = Vec::new();
        let mut seen = HashSet::new();
        for row in rows {
            if tasks.len() + chosen.len() >= self.settings.max_in_flight {
                break;
            }
            // One call per chat at a time, and only the chat's first due row (order kept).
            if in_flight.contains(&row.chat) || !seen.insert(row.chat) {
                continue;
            }
            match pacer.try_acquire(row.chat, row.body.is_paced_per_chat(), now) {
                Ok(()) => chosen.push(row),
                Err(at) => wake = Some(wake.map_or(at, |w| w.min(at))),
            }
        }
        if !chosen.is_empty() {
            let ids: Vec<_> = chosen.iter().map(|r| r.id).collect();
            self.store.claim(&ids).await?;
            for row in chosen {
                in_flight.insert(row.chat);
                let messenger = self.messenger.clone();
                let body = if row.repeat {
                    mark_repeat(&row.body, &self.repeat_notice)
                } else {
                    row.body.clone()
                };
                tasks.spawn(async move {
                    let result = messenger.deliver(row.chat, body).await;
                    (row, result)
                });
            }
        }
        if let Some(next) = self.store.next_outbox_due().await?
            && next > now
        {
            wake = Some(wake.map_or(next, |w| w.min(next)));
        }
        Ok(wake)
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
            .map(|(id, lane)| ambiguous(*id, *lane, 0, now, "interrupted by a restart".into()))
            .collect();
        tracing::warn!(rows = records.len(), "deliveries interrupted by a restart");
        self.store.record(&records, now).await
    }
}

fn ambiguous(
    id: crate::domain::OutboxId,
    lane: Lane,
    attempts: i64,
    now: DateTime<Utc>,
    error: String,
) -> DeliveryRecord {
    if lane == Lane::Urgent && attempts < MAX_ATTEMPTS {
        // Better twice than never for a crisis card or an alert.
        DeliveryRecord::Retry {
            id,
            not_before: now,
            error,
            repeat: true,
        }
    } else {
        // Telegram has no idempotency key: a routine message is not risked twice.
        DeliveryRecord::Final {
            id,
            state: "ambiguous",
            error,
        }
    }
}

/// The delivery policy (see the module docs).
fn policy(
    row: &OutboxRow,
    result: Delivered,
    now: DateTime<Utc>,
    pacer: &mut Pacer,
) -> DeliveryRecord {
    let attempts = row.attempts + 1;
    let id = row.id;
    match result {
        Delivered::Sent { message_id } => DeliveryRecord::Sent { id, message_id },
        Delivered::RetryAfter(secs) => {
            pacer.retry_after(row.chat, secs, now);
            tracing::warn!(
                outbox_id = id.0,
                chat = row.chat.0,
                secs,
                "rate limited by Telegram"
            );
            DeliveryRecord::Retry {
                id,
                not_before: now + chrono::Duration::seconds(secs.max(1) as i64),
                error: format!("429 retry after {secs}s"),
                repeat: false,
            }
        }
        Delivered::Transient(error) if attempts < MAX_ATTEMPTS => {
            tracing::warn!(outbox_id = id.0, attempts, %error, "delivery will be retried");
            DeliveryRecord::Retry {
                id,
                not_before: now + backoff(attempts, id.0),
                error,
                repeat: false,
            }
        }
        Delivered::Transient(error) => {
            tracing::error!(outbox_id = id.0, attempts, %error, "delivery failed for good");
            DeliveryRecord::Final {
                id,
                state: "failed",
                error,
            }
        }
        Delivered::Ambiguous(error) => {
            tracing::warn!(outbox_id = id.0, lane = ?row.lane, %error, "delivery ambiguous");
            ambiguous(id, row.lane, attempts, now, error)
        }
        Delivered::Unreachable(reason) => {
            tracing::info!(outbox_id = id.0, chat = row.chat.0, "chat unreachable");
            DeliveryRecord::Unreachable {
                id,
                chat: row.chat,
                reason,
            }
        }
        Delivered::Rejected(error) => {
            tracing::warn!(outbox_id = id.0, %error, "delivery rejected by Telegram");
            DeliveryRecord::Final {
                id,
                state: "failed",
                error,
            }
        }
    }
}

fn mark_repeat(body: &Outgoing, notice: &str) -> Outgoing {
    match body {
        Outgoing::Message {
            text,
            buttons,
            protect,
        } => Outgoing::Message {
            text: format!("{notice}\n\n{text}"),
            buttons: buttons.clone(),
            protect: *protect,
        },
        other => other.clone(),
    }
}

/// How long `serve` waits for calls in flight when asked to stop.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);
