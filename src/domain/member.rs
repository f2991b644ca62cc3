//! A member as stored: who they are, where they are in onboarding, their timezone (parsed
//! once, here) and their quiet hours.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{MemberId, UserId};

/// The timezone a member's stored name gives, or London's if it cannot be read (it is
/// always written from a parsed one).
pub fn tz_or_london(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Europe::London)
}

/// (`Debug` leaves out the name.)
#[derive(Clone, PartialEq)]
pub struct Member {
    pub id: MemberId,
    pub telegram_user: UserId,
    pub name: Option<String>,
    pub timezone: Tz,
    pub onboarding: Onboarding,
    pub stopped: bool,
    pub quiet: QuietHours,
    /// Scheduled prompts are paused until then.
    pub paused_until: Option<DateTime<Utc>>,
    /// Their consent to store answers stands (they may have withdrawn it with `/consents`).
    pub consented: bool,
}

impl Member {
    /// The chosen name, or `fallback` (from the content files) before one is chosen.
    pub fn name_or<'a>(&'a self, fallback: &'a str) -> &'a str {
        self.name.as_deref().unwrap_or(fallback)
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Member({}, {:?})", self.id, self.onboarding)
    }
}

/// Where a member is in onboarding. Stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Onboarding {
    Name,
    Timezone,
    TimezoneOther,
    /// Choosing the first daily check-in time.
    CheckinTime,
    Done,
}

impl Onboarding {
    pub fn as_str(self) -> &'static str {
        match self {
            Onboarding::Name => "name",
            Onboarding::Timezone => "timezone",
            Onboarding::TimezoneOther => "timezone_other",
            Onboarding::CheckinTime => "checkin_time",
            Onboarding::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Onboarding> {
        [
            Onboarding::Name,
            Onboarding::Timezone,
            Onboarding::TimezoneOther,
            Onboarding::CheckinTime,
            Onboarding::Done,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A time of day, to the minute. (People's ways of writing one are read by
/// `schedule`'s `LocalTime::parse`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTime {
    pub hour: u32,
    pub minute: u32,
}

impl LocalTime {
    pub fn new(hour: u32, minute: u32) -> Option<LocalTime> {
        (hour < 24 && minute < 60).then_some(LocalTime { hour, minute })
    }

    /// A time as stored: "HH:MM" (or "H:MM").
    pub fn from_stored(text: &str) -> Option<LocalTime> {
        let (h, m) = text.trim().split_once(':')?;
        LocalTime::new(h.parse().ok()?, m.parse().ok()?)
    }

    pub fn naive(self) -> NaiveTime {
        NaiveTime::from_hms_opt(self.hour, self.minute, 0).unwrap_or(NaiveTime::MIN)
    }

    pub fn minutes(self) -> u32 {
        self.hour * 60 + self.minute
    }
}

impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// Hours in which nothing routine is delivered. `start == end` means none. May wrap midnight
/// (22:00–08:00). (When they hold is `schedule`'s to say.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: LocalTime,
    pub end: LocalTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            start: LocalTime {
                hour: 22,
                minute: 0,
            },
            end: LocalTime { hour: 8, minute: 0 },
        }
    }
}

impl QuietHours {
    /// Quiet hours as stored ("22:00", "08:00"); an unreadable end takes the default's.
    pub fn from_stored(start: &str, end: &str) -> QuietHours {
        let d = QuietHours::default();
        QuietHours {
            start: LocalTime::from_stored(start).unwrap_or(d.start),
            end: LocalTime::from_stored(end).unwrap_or(d.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_read_back_and_unreadable_ones_take_the_default() {
        assert_eq!(LocalTime::from_stored("07:05"), LocalTime::new(7, 5));
        assert_eq!(LocalTime::from_stored("24:00"), None);
        let q = QuietHours::from_stored("23:30", "nonsense");
        assert_eq!(q.start, LocalTime::new(23, 30).unwrap());
        assert_eq!(q.end, QuietHours::default().end);
        assert_eq!(tz_or_london("Nowhere/Else"), chrono_tz::Europe::London);
        assert_eq!(tz_or_london("Europe/Lisbon"), chrono_tz::Europe::Lisbon);
    }
}
