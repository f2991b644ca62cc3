//! Pure pacing policy for outgoing Telegram calls: a global rate, a per-chat burst then an
//! interval, `retry_after` blocks from 429s, and retry backoff. No I/O; `now` is passed in.
//!
//! What counts against the global limit: every call that makes or changes a message —
//! `sendMessage`, photos, documents and edits (Telegram counts them all as the bot's
//! messages). A callback answer does not (it sends no message) but obeys a 429's wait.
//! Telegram counts arrivals over any sliding second, so the pacer holds at most
//! `global_per_second` calls in any window of one second plus `window_margin_ms`, each
//! counted at the moment it leaves ([`Pacer::departed`], after its claim is committed, not
//! when the round began), and a restart begins from what the outbox says left in the last
//! window ([`Pacer::remember`]).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use crate::config::OutboxSettings;
use crate::domain::ChatId;

/// A token bucket measured in milliseconds.
#[derive(Debug, Clone)]
struct Bucket {
    capacity: f64,
    tokens: f64,
    /// Milliseconds to earn one token.
    refill_ms: f64,
    at: DateTime<Utc>,
}

impl Bucket {
    fn new(capacity: u32, refill_ms: f64, now: DateTime<Utc>) -> Self {
        Bucket {
            capacity: capacity as f64,
            tokens: capacity as f64,
            refill_ms,
            at: now,
        }
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        let elapsed = (now - self.at).num_milliseconds().max(0) as f64;
        if self.refill_ms <= 0.0 {
            self.tokens = self.capacity;
        } else {
            self.tokens = (self.tokens + elapsed / self.refill_ms).min(self.capacity);
        }
        self.at = now.max(self.at);
    }

    /// When one token will be available (now if it already is).
    fn ready_at(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::milliseconds(((1.0 - self.tokens) * self.refill_ms).ceil() as i64)
        }
    }

    fn take(&mut self) {
        self.tokens -= 1.0;
    }

    fn is_full(&mut self, now: DateTime<Utc>) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// At most `limit` events in any window of `window_ms`: exact, unlike a token bucket
/// (which lets `capacity + rate` through in the first second).
#[derive(Debug, Clone)]
struct SlidingWindow {
    limit: usize,
    window: Duration,
    recent: VecDeque<DateTime<Utc>>,
}

impl SlidingWindow {
    fn ready_at(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        while let Some(first) = self.recent.front() {
            if now - *first >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() < self.limit {
            now
        } else {
            self.recent[0] + self.window
        }
    }

    fn take(&mut self, now: DateTime<Utc>) {
        // Kept in order: a call counted late (it left after a later one was counted) goes
        // where it belongs.
        let at = self.recent.partition_point(|t| *t <= now);
        self.recent.insert(at, now);
    }
}

/// Decides whether a call may go now, and if not, when to look again.
#[derive(Debug)]
pub struct Pacer {
    settings: OutboxSettings,
    global: SlidingWindow,
    chats: HashMap<ChatId, Bucket>,
    /// Chat → no calls before this instant (from 429 `retry_after`).
    blocked: HashMap<ChatId, DateTime<Utc>>,
    /// Nobody gets anything before this instant (429s from several chats at once).
    global_block: Option<DateTime<Utc>>,
    /// Recent 429s, to tell a per-chat limit from a bot-wide one.
    recent_429s: Vec<(DateTime<Utc>, ChatId)>,
}

impl Pacer {
    pub fn new(settings: OutboxSettings) -> Self {
        Pacer {
            global: SlidingWindow {
                limit: settings.global_per_second as usize,
                window: Self::window_of(&settings),
                recent: VecDeque::new(),
            },
            settings,
            chats: HashMap::new(),
            blocked: HashMap::new(),
            global_block: None,
            recent_429s: Vec::new(),
        }
    }

    /// The chat's bucket, full if it had none.
    fn bucket(&mut self, chat: ChatId, now: DateTime<Utc>) -> &mut Bucket {
        let (burst, interval) = (
            self.settings.per_chat_burst,
            self.settings.per_chat_interval_ms as f64,
        );
        self.chats
            .entry(chat)
            .or_insert_with(|| Bucket::new(burst, interval, now))
    }

    /// The window the global limit is held over: a second and the margin.
    pub fn window_of(settings: &OutboxSettings) -> Duration {
        Duration::milliseconds(1000 + settings.window_margin_ms as i64)
    }

    /// A paced call that left at `at` before this pacer existed (read from the outbox at
    /// start, oldest first): it still counts against the window and its chat's burst.
    pub fn remember(&mut self, chat: ChatId, at: DateTime<Utc>) {
        let bucket = self.bucket(chat, at);
        bucket.refill(at);
        bucket.take();
        self.global.take(at);
    }

    /// The last `counted` paced calls were counted at the round's start; `left` of them were
    /// claimed and leave at `at` (the others were not claimed and are given back). Counting
    /// a call when it leaves keeps a slow claim (the database busy) from bunching one round's
    /// calls against the next round's at the window's edge.
    pub fn departed(&mut self, counted: usize, left: usize, at: DateTime<Utc>) {
        for _ in 0..counted.min(self.global.recent.len()) {
            self.global.recent.pop_back();
        }
        for _ in 0..left {
            self.global.take(at);
        }
    }

    /// `Ok(())` and the call is counted, or `Err(t)`: not before `t`.
    /// `paced`: whether this kind of call counts against the limits at all (a message does;
    /// a callback answer only obeys 429 blocks).
    pub fn try_acquire(
        &mut self,
        chat: ChatId,
        paced: bool,
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        if let Some(until) = self.global_block {
            if now < until {
                return Err(until);
            }
            self.global_block = None;
        }
        if let Some(until) = self.blocked.get(&chat).copied() {
            if now < until {
                return Err(until);
            }
            self.blocked.remove(&chat);
        }
        if !paced {
            return Ok(());
        }
        let global_at = self.global.ready_at(now);
        let bucket = self.bucket(chat, now);
        let at = global_at.max(bucket.ready_at(now));
        if at > now {
            return Err(at);
        }
        bucket.take();
        self.global.take(now);
        Ok(())
    }

    /// Telegram said 429 with `retry_after` seconds for a call to `chat`. If several chats
    /// were refused within a second, the limit is bot-wide: everybody waits.
    pub fn retry_after(&mut self, chat: ChatId, seconds: u32, now: DateTime<Utc>) {
        let until = now + Duration::seconds(seconds.max(1) as i64);
        let entry = self.blocked.entry(chat).or_insert(until);
        *entry = (*entry).max(until);
        self.recent_429s
            .retain(|(t, _)| now - *t < Duration::seconds(1));
        self.recent_429s.push((now, chat));
        let mut chats: Vec<ChatId> = self.recent_429s.iter().map(|(_, c)| *c).collect();
        chats.sort();
        chats.dedup();
        if chats.len() >= 2 {
            self.global_block = Some(self.global_block.map_or(until, |g| g.max(until)));
        }
    }

    /// Forgets chats whose buckets are full and unblocked, so memory stays bounded.
    pub fn forget_idle(&mut self, now: DateTime<Utc>) {
        self.chats.retain(|_, b| !b.is_full(now));
        self.blocked.retain(|_, until| *until > now);
    }
}

/// Delay before retry number `attempt` (1-based) after a transient failure: exponential from
/// 1 s, capped at 5 minutes, with ±25% jitter derived from `salt` (e.g. the row id) so that
/// many rows failing together do not retry together.
pub fn backoff(attempt: i64, salt: i64) -> Duration {
    let base_ms = 1000i64
        .saturating_mul(1i64 << attempt.clamp(1, 20).saturating_sub(1))
        .min(300_000);
    // A cheap deterministic spread in [-25%, +25%].
    let h = (salt as u64 ^ (attempt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let spread = (h % 501) as i64 - 250; // per mille
    Duration::milliseconds(base_ms + base_ms * spread / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-02T19:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn pacer() -> Pacer {
        Pacer::new(OutboxSettings::default())
    }

    #[test]
    fn a_chat_gets_a_burst_of_three_then_one_per_second() {
        let mut p = pacer();
        let c = ChatId(1);
        for _ in 0..3 {
            assert_eq!(p.try_acquire(c, true, t0()), Ok(()));
        }
        let next = p.try_acquire(c, true, t0()).unwrap_err();
        assert_eq!(next, t0() + Duration::seconds(1));
        assert_eq!(p.try_acquire(c, true, next), Ok(()));
        assert!(p.try_acquire(c, true, next).is_err());
    }

    #[test]
    fn no_more_than_thirty_calls_go_out_in_any_second() {
        let mut p = pacer();
        let mut sent = Vec::new();
        let mut now = t0();
        let mut chat = 0;
        while now < t0() + Duration::seconds(10) {
            chat += 1;
            match p.try_acquire(ChatId(chat), true, now) {
                Ok(()) => sent.push(now),
                Err(at) => now = at,
            }
        }
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..]
                .iter()
                .take_while(|u| **u - *t < Duration::seconds(1))
                .count();
            assert!(in_window <= 30, "{in_window} calls within a second of {t}");
        }
        assert!(
            sent.len() >= 290,
            "the rate is used, not wasted: {}",
            sent.len()
        );
    }

    /// Every window of 1 s + margin over `stamps` holds at most `limit`.
    fn worst_window(stamps: &[DateTime<Utc>], window: Duration) -> usize {
        let mut sorted = stamps.to_vec();
        sorted.sort();
        (0..sorted.len())
            .map(|i| {
                sorted[i..]
                    .iter()
                    .take_while(|u| **u - sorted[i] < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_call_counts_when_it_leaves_not_when_its_round_began() {
        let mut p = pacer();
        for chat in 0..30 {
            assert_eq!(p.try_acquire(ChatId(chat), true, t0()), Ok(()));
        }
        // The claim took 400 ms (the database was busy): they left then.
        let left = t0() + Duration::milliseconds(400);
        p.departed(30, 30, left);
        let window = Pacer::window_of(&OutboxSettings::default());
        let next = t0() + window;
        assert_eq!(
            p.try_acquire(ChatId(99), true, next),
            Err(left + window),
            "a window counted from the round's start would have let this through"
        );
    }

    #[test]
    fn calls_not_claimed_are_given_back() {
        let mut p = pacer();
        for chat in 0..30 {
            assert_eq!(p.try_acquire(ChatId(chat), true, t0()), Ok(()));
        }
        p.departed(30, 20, t0());
        for chat in 100..110 {
            assert_eq!(p.try_acquire(ChatId(chat), true, t0()), Ok(()));
        }
        assert!(p.try_acquire(ChatId(200), true, t0()).is_err());
    }

    #[test]
    fn a_restarted_pacer_counts_what_left_before_it() {
        let mut p = pacer();
        let before = t0() - Duration::milliseconds(200);
        for chat in 0..30 {
            p.remember(ChatId(chat), before);
        }
        let window = Pacer::window_of(&OutboxSettings::default());
        assert_eq!(p.try_acquire(ChatId(99), true, t0()), Err(before + window));
        // A chat that had its burst just before the restart waits for its interval.
        let mut p = pacer();
        for _ in 0..3 {
            p.remember(ChatId(1), before);
        }
        assert_eq!(
            p.try_acquire(ChatId(1), true, t0()),
            Err(before + Duration::seconds(1))
        );
    }

    #[test]
    fn rounds_with_slow_claims_never_put_more_than_the_limit_in_any_window() {
        let settings = OutboxSettings::default();
        let window = Pacer::window_of(&settings);
        let mut p = Pacer::new(settings);
        let mut now = t0();
        let mut left = Vec::new();
        let mut chat = 0;
        let mut salt = 7u64;
        for _ in 0..2000 {
            // Each round tries 40 calls, then its claim takes 0–600 ms.
            let mut counted = 0;
            let mut wake = None;
            for _ in 0..40 {
                chat += 1;
                match p.try_acquire(ChatId(chat), true, now) {
                    Ok(()) => counted += 1,
                    Err(at) => wake = Some(at),
                }
            }
            salt = salt
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let claim = Duration::milliseconds((salt >> 33) as i64 % 600);
            let at = now + claim;
            p.departed(counted, counted, at);
            left.extend(std::iter::repeat_n(at, counted));
            now = wake.map_or(at, |w| w.max(at));
        }
        assert!(left.len() > 10_000, "the rate is used: {}", left.len());
        assert!(worst_window(&left, window) <= 30);
        // And so Telegram's one second sees at most 30 too.
        assert!(worst_window(&left, Duration::seconds(1)) <= 30);
    }

    #[test]
    fn callback_answers_are_not_messages_but_obey_a_block() {
        let mut p = pacer();
        for chat in 0..30 {
            assert_eq!(p.try_acquire(ChatId(chat), true, t0()), Ok(()));
        }
        assert!(p.try_acquire(ChatId(99), true, t0()).is_err());
        for _ in 0..100 {
            assert_eq!(p.try_acquire(ChatId(99), false, t0()), Ok(()));
        }
        p.retry_after(ChatId(99), 3, t0());
        assert_eq!(
            p.try_acquire(ChatId(99), false, t0()),
            Err(t0() + Duration::seconds(3))
        );
    }

    #[test]
    fn retry_after_blocks_that_chat_only_unless_several_chats_are_refused() {
        let mut p = pacer();
        p.retry_after(ChatId(1), 5, t0());
        assert_eq!(
            p.try_acquire(ChatId(1), true, t0()),
            Err(t0() + Duration::seconds(5))
        );
        assert_eq!(p.try_acquire(ChatId(2), true, t0()), Ok(()));
        p.retry_after(ChatId(3), 7, t0());
        assert_eq!(
            p.try_acquire(ChatId(4), true, t0()),
            Err(t0() + Duration::seconds(7))
        );
        assert_eq!(
            p.try_acquire(ChatId(4), true, t0() + Duration::seconds(7)),
            Ok(())
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_a_quarter() {
        for attempt in 1..30 {
            let nominal = (1000i64 << (attempt.min(20) - 1)).min(300_000);
            for salt in 0..50 {
                let d = backoff(attempt, salt).num_milliseconds();
                assert!(
                    d >= nominal * 3 / 4 && d <= nominal * 5 / 4,
                    "attempt {attempt}: {d}"
                );
            }
        }
        let spread: std::collections::HashSet<i64> =
            (0..50).map(|s| backoff(3, s).num_milliseconds()).collect();
        assert!(spread.len() > 10);
    }
}
