//! A simulated Telegram for `staywell simulate`: enforces Telegram's limits on the virtual
//! clock (30 messages a second overall; per chat a burst of 3, then one a second; answering
//! a callback query is not a message),
//! answers a call over them with 429 `retry_after` (and counts it as a violation: our pacer
//! should never let one through), and records every delivery with its virtual time.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::clock::{Clock, ManualClock};
use crate::domain::{ChatId, Outgoing};
use crate::worker::delivery::{Delivered, Messenger};

/// Telegram's allowance (the limits the pacer is configured for by default).
const GLOBAL_PER_SECOND: usize = 30;
const CHAT_BURST: f64 = 3.0;
const CHAT_INTERVAL_MS: f64 = 1000.0;

/// One call that reached the simulated Telegram.
pub struct Seen {
    pub at: DateTime<Utc>,
    pub chat: ChatId,
    pub message_id: i32,
    pub body: Outgoing,
}

#[derive(Default)]
pub struct Net {
    recent: VecDeque<DateTime<Utc>>,
    /// Per chat: tokens and when they were counted.
    chats: HashMap<ChatId, (f64, DateTime<Utc>)>,
    next_message_id: i32,
    pub retry_afters: u64,
    pub violations: u64,
    /// Calls not yet looked at by the simulation (taken with [`SimTelegram::take`]).
    pub log: Vec<Seen>,
    /// Calls per virtual minute (minutes since the epoch).
    pub per_minute: BTreeMap<i64, u32>,
    pub calls: u64,
}

pub struct SimTelegram {
    pub clock: ManualClock,
    pub net: Mutex<Net>,
}

impl SimTelegram {
    pub fn new(clock: ManualClock) -> Self {
        SimTelegram {
            clock,
            net: Mutex::new(Net::default()),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Net> {
        self.net.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut self.lock().log)
    }
}

impl Net {
    /// Whether Telegram would accept this call now; counts it if so.
    fn admit(&mut self, chat: ChatId, paced: bool, now: DateTime<Utc>) -> bool {
        if !paced {
            return true;
        }
        while let Some(first) = self.recent.front() {
            if now - *first >= chrono::Duration::seconds(1) {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() >= GLOBAL_PER_SECOND {
            return false;
        }
        let (tokens, at) = self.chats.entry(chat).or_insert((CHAT_BURST, now));
        let elapsed = (now - *at).num_milliseconds().max(0) as f64;
        *tokens = (*tokens + elapsed / CHAT_INTERVAL_MS).min(CHAT_BURST);
        *at = now.max(*at);
        if *tokens < 1.0 {
            return false;
        }
        *tokens -= 1.0;
        self.recent.push_back(now);
        true
    }
}

impl Messenger for SimTelegram {
    async fn deliver(&self, chat: ChatId, body: Outgoing) -> Delivered {
        let now = self.clock.now();
        let mut net = self.lock();
        if !net.admit(chat, body.is_paced(), now) {
            net.retry_afters += 1;
            net.violations += 1;
            return Delivered::RetryAfter(1);
        }
        net.next_message_id += 1;
        let message_id = net.next_message_id;
        net.calls += 1;
        *net.per_minute.entry(now.timestamp() / 60).or_insert(0) += 1;
        net.log.push(Seen {
            at: now,
            chat,
            message_id,
            body,
        });
        Delivered::Sent {
            message_id: Some(message_id),
        }
    }
}
