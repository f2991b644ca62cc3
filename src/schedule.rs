//! When things are due. Pure: recurrences in a person's timezone with an explicit
//! daylight-saving policy, and quiet hours.
//!
//! DST policy (one occurrence per local date, always):
//! - a local time that does not exist that day (clocks go forward) happens at the first valid
//!   minute after it (01:30 on the spring-forward day in London → 02:00 BST);
//! - a local time that happens twice (clocks go back) happens once, at the first.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;

/// Days of the week, as a set. Written like a cron day-of-week field: `*`, `Mon-Fri`,
/// `Mon,Wed,Fri`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Days {
    pub const EVERY_DAY: Days = Days(0b111_1111);
    pub const WEEKDAYS: Days = Days(0b001_1111);
    pub const WEEKENDS: Days = Days(0b110_0000);

    pub fn single(day: Weekday) -> Days {
        Days(1 << day.num_days_from_monday())
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn toggle(self, day: Weekday) -> Days {
        Days(self.0 ^ (1 << day.num_days_from_monday()))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `*`, `Mon-Fri`, `Sat,Sun`, `Mon,Wed,Fri` (case-insensitive; ranges may not wrap).
    pub fn parse(field: &str) -> Option<Days> {
        let field = field.trim();
        if field == "*" {
            return Some(Days::EVERY_DAY);
        }
        let day = |s: &str| {
            NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(s.trim()))
                .map(|i| i as u8)
        };
        let mut bits = 0u8;
        for part in field.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    if a > b {
                        return None;
                    }
                    for d in a..=b {
                        bits |= 1 << d;
                    }
                }
                None => bits |= 1 << day(part)?,
            }
        }
        (bits != 0).then_some(Days(bits))
    }

    /// The cron day-of-week field for this set.
    pub fn to_field(self) -> String {
        match self {
            Days::EVERY_DAY => "*".into(),
            Days::WEEKDAYS => "Mon-Fri".into(),
            _ => (0..7)
                .filter(|d| self.0 & (1 << d) != 0)
                .map(|d| NAMES[d as usize])
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

pub use crate::domain::member::{LocalTime, QuietHours};

impl LocalTime {
    /// "19:30", "7.30pm", "7pm", "07:30".
    pub fn parse(text: &str) -> Option<LocalTime> {
        crate::dialog::engine::parse_time(text).and_then(|m| LocalTime::new(m / 60, m % 60))
    }
}

/// The instant a local date and time happens in `tz`, by the DST policy above.
pub fn resolve(tz: Tz, date: NaiveDate, time: LocalTime) -> DateTime<Utc> {
    let mut local: NaiveDateTime = date.and_time(time.naive());
    // A gap is at most a few hours anywhere; walk forward a minute at a time.
    for _ in 0..(24 * 60) {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => local += Duration::minutes(1),
        }
    }
    // Unreachable for real timezones; fall back to reading the time as UTC.
    Utc.from_utc_datetime(&date.and_time(time.naive()))
}

/// "On these days at this time, in this timezone."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recurrence {
    pub days: Days,
    pub time: LocalTime,
    pub tz: Tz,
}

impl Recurrence {
    /// The first occurrence strictly after `after`: its local date and instant.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<(NaiveDate, DateTime<Utc>)> {
        if self.days.is_empty() {
            return None;
        }
        let mut date = after.with_timezone(&self.tz).date_naive() - Duration::days(1);
        for _ in 0..16 {
            if self.days.contains(date.weekday()) {
                let at = resolve(self.tz, date, self.time);
                if at > after {
                    return Some((date, at));
                }
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The occurrence on a given local date (if the date is one of the days).
    pub fn on(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        self.days
            .contains(date.weekday())
            .then(|| resolve(self.tz, date, self.time))
    }
}

impl QuietHours {
    /// Whether `t` falls in quiet hours in `tz` (start inclusive, end exclusive).
    pub fn contains(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        let local = t.with_timezone(&tz).time();
        let m = local.hour_minute();
        let (s, e) = (self.start.minutes(), self.end.minutes());
        if s == e {
            false
        } else if s < e {
            (s..e).contains(&m)
        } else {
            m >= s || m < e
        }
    }

    /// `t` if it is outside quiet hours, else the instant they end.
    pub fn next_allowed(&self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        if !self.contains(t, tz) {
            return t;
        }
        let local = t.with_timezone(&tz);
        let today = local.date_naive();
        let end_today = resolve(tz, today, self.end);
        if end_today > t {
            end_today
        } else {
            resolve(tz, today + Duration::days(1), self.end)
        }
    }
}

trait HourMinute {
    fn hour_minute(&self) -> u32;
}

impl HourMinute for NaiveTime {
    fn hour_minute(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

/// A day as shown to people: "Fri 20 Mar", with the year when it is not `today`'s.
pub fn day_label<T: TimeZone>(at: &DateTime<T>, today: NaiveDate) -> String
where
    T::Offset: std::fmt::Display,
{
    if at.year() == today.year() {
        at.format("%a %-d %b").to_string()
    } else {
        at.format("%a %-d %b %Y").to_string()
    }
}

/// A day as people in the UK type it, on or after `today`: "2026-03-20", "20/03/2026",
/// "20/03/26", "20/03", "20 March", "20th Mar 2026", "March 20", "Friday", "tomorrow".
/// Without a year, the next such date from `today` (this year's if still to come); a weekday
/// is the next one after today.
pub fn parse_day(text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let t = text.trim().to_lowercase();
    let t = t.trim_end_matches('.');
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d);
    }
    match t {
        "today" => return Some(today),
        "tomorrow" => return today.succ_opt(),
        _ => {}
    }
    if let Ok(day) = t.trim_start_matches("next ").parse::<Weekday>() {
        let ahead = (day.num_days_from_monday() + 7 - today.weekday().num_days_from_monday()) % 7;
        return Some(today + Duration::days(if ahead == 0 { 7 } else { ahead as i64 }));
    }
    let parts: Vec<&str> = t
        .split(['/', ' ', ',', '-'])
        .filter(|p| !p.is_empty())
        .collect();
    let day_number = |p: &str| -> Option<u32> {
        p.trim_end_matches(|c: char| c.is_alphabetic())
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=31).contains(d))
            .filter(|_| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
    };
    let month = |p: &str| -> Option<u32> {
        p.parse::<u32>()
            .ok()
            .filter(|m| (1..=12).contains(m))
            .or_else(|| {
                p.parse::<chrono::Month>()
                    .ok()
                    .map(|m| m.number_from_month())
            })
    };
    let year = |p: &str| -> Option<i32> {
        let y = p.parse::<i32>().ok()?;
        match p.len() {
            2 => Some(2000 + y),
            4 => Some(y),
            _ => None,
        }
    };
    let (d, m, y) = match parts.as_slice() {
        [a, b] => match (day_number(a), month(b)) {
            (Some(d), Some(m)) => (d, m, None),
            _ => (
                day_number(b)?,
                month(a).filter(|_| a.parse::<u32>().is_err())?,
                None,
            ),
        },
        [a, b, c] => match (day_number(a), month(b)) {
            (Some(d), Some(m)) => (d, m, Some(year(c)?)),
            _ => (
                day_number(b)?,
                month(a).filter(|_| a.parse::<u32>().is_err())?,
                Some(year(c)?),
            ),
        },
        _ => return None,
    };
    match y {
        Some(y) => NaiveDate::from_ymd_opt(y, m, d),
        None => NaiveDate::from_ymd_opt(today.year(), m, d)
            .filter(|date| *date >= today)
            .or_else(|| NaiveDate::from_ymd_opt(today.year() + 1, m, d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn daily(h: u32, m: u32, tz: Tz) -> Recurrence {
        Recurrence {
            days: Days::EVERY_DAY,
            time: LocalTime::new(h, m).unwrap(),
            tz,
        }
    }

    /// Every occurrence from `from` for `days` days.
    fn occurrences(
        r: &Recurrence,
        from: DateTime<Utc>,
        days: i64,
    ) -> Vec<(NaiveDate, DateTime<Utc>)> {
        let end = from + Duration::days(days);
        let mut out = Vec::new();
        let mut t = from;
        while let Some((d, at)) = r.next_after(t) {
            if at >= end {
                break;
            }
            out.push((d, at));
            t = at;
        }
        out
    }

    #[test]
    fn days_parse_and_print_like_cron_fields() {
        assert_eq!(Days::parse("*"), Some(Days::EVERY_DAY));
        assert_eq!(Days::parse("mon-fri"), Some(Days::WEEKDAYS));
        assert_eq!(Days::parse("Sat,Sun"), Some(Days::WEEKENDS));
        let mwf = Days::parse("Mon,Wed,Fri").unwrap();
        assert_eq!(mwf.to_field(), "Mon,Wed,Fri");
        assert!(mwf.contains(Weekday::Wed) && !mwf.contains(Weekday::Tue));
        for bad in ["", "Fri-Mon", "Moon", "Mon,,Tue", "1-5"] {
            assert_eq!(Days::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn london_spring_forward_fires_once_at_the_first_valid_minute() {
        // 2026-03-29: 01:00 GMT → 02:00 BST. 01:30 does not exist.
        let r = daily(1, 30, chrono_tz::Europe::London);
        let occ = occurrences(&r, utc("2026-03-27T12:00:00Z"), 4);
        let dates: Vec<String> = occ
            .iter()
            .map(|(d, at)| format!("{d} {}", at.format("%H:%M")))
            .collect();
        assert_eq!(
            dates,
            vec![
                "2026-03-28 01:30",
                "2026-03-29 01:00",
                "2026-03-30 00:30",
                "2026-03-31 00:30"
            ],
            "01:30 GMT, then 02:00 BST (= 01:00 UTC), then 01:30 BST (= 00:30 UTC)"
        );
    }

    #[test]
    fn london_fall_back_fires_once_at_the_first_of_the_two() {
        // 2026-10-25: 02:00 BST → 01:00 GMT. 01:30 happens twice.
        let r = daily(1, 30, chrono_tz::Europe::London);
        let occ = occurrences(&r, utc("2026-10-23T12:00:00Z"), 4);
        let on_the_day: Vec<_> = occ
            .iter()
            .filter(|(d, _)| d.to_string() == "2026-10-25")
            .collect();
        assert_eq!(on_the_day.len(), 1);
        assert_eq!(
            on_the_day[0].1,
            utc("2026-10-25T00:30:00Z"),
            "the first 01:30 (BST)"
        );
    }

    #[test]
    fn new_york_changes_follow_the_same_policy() {
        // 2026-03-08 02:00 EST → 03:00 EDT; 2026-11-01 02:00 EDT → 01:00 EST.
        let r = daily(2, 30, chrono_tz::America::New_York);
        let spring = r.on(NaiveDate::from_ymd_opt(2026, 3, 8).unwrap()).unwrap();
        assert_eq!(spring, utc("2026-03-08T07:00:00Z"), "03:00 EDT");
        let r = daily(1, 30, chrono_tz::America::New_York);
        let fall = r.on(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()).unwrap();
        assert_eq!(fall, utc("2026-11-01T05:30:00Z"), "the first 01:30 (EDT)");
    }

    #[test]
    fn a_hundred_and_twenty_days_give_exactly_one_occurrence_per_chosen_date() {
        for tz in [
            chrono_tz::Europe::London,
            chrono_tz::America::New_York,
            chrono_tz::Asia::Kolkata,
        ] {
            for (h, m) in [(1, 30), (2, 30), (9, 0), (19, 0), (23, 45)] {
                let from = utc("2026-02-01T00:00:00Z");
                let every = occurrences(&daily(h, m, tz), from, 300);
                let mut dates: Vec<NaiveDate> = every.iter().map(|(d, _)| *d).collect();
                dates.dedup();
                assert_eq!(dates.len(), every.len(), "{tz} {h}:{m}: one per date");
                let window: Vec<_> = every
                    .iter()
                    .filter(|(_, at)| *at < from + Duration::days(120))
                    .collect();
                assert!(
                    (119..=121).contains(&window.len()),
                    "{tz} {h}:{m}: {}",
                    window.len()
                );
                let weekdays = Recurrence {
                    days: Days::WEEKDAYS,
                    ..daily(h, m, tz)
                };
                for (d, _) in occurrences(&weekdays, from, 120) {
                    assert!(!matches!(d.weekday(), Weekday::Sat | Weekday::Sun));
                }
            }
        }
        // Kolkata has no DST: every 09:00 IST is 03:30 UTC.
        let k = occurrences(
            &daily(9, 0, chrono_tz::Asia::Kolkata),
            utc("2026-01-01T00:00:00Z"),
            365,
        );
        assert_eq!(k.len(), 365);
        assert!(
            k.iter()
                .all(|(_, at)| at.format("%H:%M").to_string() == "03:30")
        );
    }

    #[test]
    fn quiet_hours_wrap_midnight_and_end_at_their_end() {
        let q = QuietHours::default();
        let tz = chrono_tz::Europe::London;
        assert!(q.contains(utc("2026-06-01T21:30:00Z"), tz), "22:30 BST");
        assert!(!q.contains(utc("2026-06-01T20:59:00Z"), tz), "21:59 BST");
        assert!(q.contains(utc("2026-06-02T06:59:00Z"), tz), "07:59 BST");
        assert!(!q.contains(utc("2026-06-02T07:00:00Z"), tz), "08:00 BST");
        assert_eq!(
            q.next_allowed(utc("2026-06-01T21:30:00Z"), tz),
            utc("2026-06-02T07:00:00Z")
        );
        assert_eq!(
            q.next_allowed(utc("2026-06-02T05:00:00Z"), tz),
            utc("2026-06-02T07:00:00Z")
        );
        assert_eq!(
            q.next_allowed(utc("2026-06-02T12:00:00Z"), tz),
            utc("2026-06-02T12:00:00Z")
        );
        let none = QuietHours {
            start: LocalTime::new(0, 0).unwrap(),
            end: LocalTime::new(0, 0).unwrap(),
        };
        assert!(!none.contains(utc("2026-06-02T01:00:00Z"), tz));
    }

    #[test]
    fn days_are_read_as_people_in_the_uk_type_them() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap(); // a Wednesday
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d);
        for (text, want) in [
            ("2026-03-20", d(2026, 3, 20)),
            ("20/03/2026", d(2026, 3, 20)),
            ("20/03/26", d(2026, 3, 20)),
            ("20/03", d(2026, 3, 20)),
            ("20/3", d(2026, 3, 20)),
            ("20 March", d(2026, 3, 20)),
            ("20th march 2027", d(2027, 3, 20)),
            ("March 20", d(2026, 3, 20)),
            ("3 Jan", d(2027, 1, 3)),
            ("Friday", d(2026, 3, 6)),
            ("wednesday", d(2026, 3, 11)),
            ("next monday", d(2026, 3, 9)),
            ("tomorrow", d(2026, 3, 5)),
            ("31/02", None),
            ("13/13", None),
            ("soon", None),
            ("20", None),
            ("2026/03", None),
        ] {
            assert_eq!(parse_day(text, today), want, "{text}");
        }
    }
}
