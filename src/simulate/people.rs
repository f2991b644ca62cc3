//! Synthetic people for `staywell simulate`, deterministic from a seed: members with a daily
//! check-in time, a timezone, mood with occasional multi-day declines, supporters and maybe a
//! low-mood plan; supporters who acknowledge alerts. How they behave comes from the
//! [`Profile`](super::profile::Profile).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::profile::Mood;
use crate::domain::{Button, ChatId};

/// xorshift64*: small, fast, deterministic; plenty for a synthetic cohort.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.f64().max(1e-12);
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Log-normal seconds with this median and spread (sigma of the log).
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

/// Something a person does next, from a script.
#[derive(Debug, Clone)]
pub enum Step {
    Say(String),
    /// Press the button whose label contains this.
    Press(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Member,
    /// Someone in member `of`'s circle: a supporter, or a carer when `carer`.
    Supporter {
        of: usize,
        carer: bool,
    },
}

/// How a member takes today's check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Full,
    /// Answer this many questions, then stop.
    Partial(u32),
    Ignore,
}

pub struct Person {
    pub chat: ChatId,
    pub name: String,
    pub role: Role,
    pub script: VecDeque<Step>,
    /// The latest keyboard shown to them: message id and buttons.
    pub keyboard: Option<(i32, Vec<Button>)>,
    /// A fingerprint of the keyboard they last acted on.
    pub acted: u64,
    /// The last few keyboards shown (newest last) and those already acted on: a scripted
    /// press finds its button even if a check-in prompt arrived in between.
    pub recent: std::collections::VecDeque<(i32, Vec<Button>)>,
    pub acted_on: Vec<u64>,
    pub wake_pending: bool,
    /// An input they sent mid-check-in, waiting for the bot's next message.
    pub awaiting: Option<DateTime<Utc>>,
    // Members:
    pub tz: Tz,
    pub checkin_minute: u32,
    pub base_mood: f64,
    /// Declines: (first day, days, depth).
    pub declines: Vec<(i64, i64, f64)>,
    /// The people in this member's circle (supporters and carers), in invite order.
    pub supporters: Vec<usize>,
    pub has_carers: bool,
    pub has_supporters: bool,
    pub plan: bool,
    /// Their low-mood sign asks them first.
    pub ask_first: bool,
    /// They add "I don't feel safe" for their supporters, at once.
    pub urgent: bool,
    /// They add poor sleep as a note to themselves.
    pub self_help: bool,
    /// Invites still to hand to a supporter (their index), in order.
    pub invites_for: VecDeque<usize>,
    pub take: Take,
    pub take_day: i64,
    pub answered_today: u32,
    pub scales_today: u32,
    /// Today's mood answer (the day's first scale).
    pub mood_today: i64,
    pub in_checkin: bool,
    /// Members: the answer to an ask-first question (message id, button data, when).
    pub ask_answer: Option<(i32, String, DateTime<Utc>)>,
    // Supporters: the alert to acknowledge, at wake.
    pub ack: Option<(i32, String)>,
}

impl Person {
    pub fn new(chat: ChatId, name: String, role: Role) -> Person {
        Person {
            chat,
            name,
            role,
            script: VecDeque::new(),
            keyboard: None,
            acted: 0,
            recent: std::collections::VecDeque::new(),
            acted_on: Vec::new(),
            wake_pending: false,
            awaiting: None,
            tz: chrono_tz::Europe::London,
            checkin_minute: 0,
            base_mood: 6.0,
            declines: Vec::new(),
            supporters: Vec::new(),
            has_carers: false,
            has_supporters: false,
            plan: false,
            ask_first: false,
            urgent: false,
            self_help: false,
            invites_for: VecDeque::new(),
            take: Take::Ignore,
            take_day: -1,
            answered_today: 0,
            scales_today: 0,
            mood_today: 0,
            in_checkin: false,
            ask_answer: None,
            ack: None,
        }
    }

    /// Today's mood (0–10) on simulation day `day`: the base, the day's noise, minus any
    /// decline (fading over the recovery days after it).
    pub fn mood(&self, day: i64, rng: &mut Rng, profile: &Mood) -> i64 {
        let mut m = self.base_mood + rng.normal() * profile.daily_noise;
        let recovery = profile.declines.recovery_days;
        for (first, days, depth) in &self.declines {
            let end = first + days;
            if day >= *first && day < end {
                m -= depth;
            } else if day >= end && recovery > 0.0 {
                let since = (day - end + 1) as f64;
                if since <= recovery {
                    m -= depth * (1.0 - since / (recovery + 1.0));
                }
            }
        }
        m.round().clamp(0.0, 10.0) as i64
    }
}

/// A name of letters only (names are shown back to people): Ab, Ac, …, then longer.
pub fn name(i: usize, prefix: &str) -> String {
    let mut n = i;
    let mut s = String::from(prefix);
    loop {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    s
}

/// A keyboard's fingerprint (message id, labels and data).
pub fn fingerprint(message_id: i32, buttons: &[Button]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    message_id.hash(&mut h);
    for b in buttons {
        b.label.hash(&mut h);
        b.data.hash(&mut h);
    }
    h.finish().max(1)
}
