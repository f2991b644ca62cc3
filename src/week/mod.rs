//! `/week`: a member's own trends, as a chart and in words. Pure: stored answers and slot
//! outcomes in, a [`WeekData`] series (what the chart draws) and a summary string out.
//! `render` turns a `WeekData` into PNG bytes.
//!
//! What an answer means is found through its step's **tags** in the dialog version it was
//! given on (`mood`, `anxiety`, `sleep_hours`, `connect`, `give`; see `dialogs/tags.toml`),
//! so renaming a step never breaks the chart. A day is a *check-in day* when a daily
//! check-in session has at least one answer shown that day (answered or skipped). A day
//! without one takes the outcome of its daily check-in slot, if it had one: *missed*,
//! *unknown* (the bot was away) or *paused*; otherwise it is empty. Gaps are never drawn as
//! zero: a line is broken where a day has no value.
//!
//! Free text is never read here (the store drops it before it reaches this module).

pub mod render;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::content::{Texts, fill};
use crate::dialog::{AnswerValue, CHECKIN_DIALOG, Dialog};
use crate::domain::SessionId;

/// `/week` without a number.
pub const DEFAULT_WEEKS: u32 = 4;
/// `/week 26` at most (half a year).
pub const MAX_WEEKS: u32 = 26;
/// How far back the processor reads for `/week`: the longest range plus the week before it
/// (for "up from …"), plus a day of slack for timezones.
pub const HISTORY_DAYS: i64 = (MAX_WEEKS as i64 + 1) * 7 + 1;
/// The `schedules.dialog_id` of the optional weekly `/week` report (off by default; chosen in
/// `/schedule`). Not a dialog: when its slot opens, the scheduler sends the chart and summary.
pub const REPORT_SCHEDULE: &str = "week";
/// Fewer check-in days than this in range: no chart, a kind message instead.
pub const MIN_CHECKINS: usize = 2;

/// One stored answer, as the store hands it to `/week` (never free text: `value` is `None`
/// for text answers, skipped and not-shown steps).
#[derive(Clone, PartialEq)]
pub struct StoredAnswer {
    pub session: SessionId,
    pub dialog_id: String,
    pub version: i64,
    pub step_id: String,
    /// The step was shown (answered or skipped), not passed over by `show_if`.
    pub shown: bool,
    pub value: Option<AnswerValue>,
    /// The local date of the slot the session was opened for, if it was scheduled.
    pub slot_date: Option<NaiveDate>,
    pub started_at: DateTime<Utc>,
}

/// One daily check-in slot and how it ended (`None` while still open).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSlot {
    pub dialog_id: String,
    pub local_date: NaiveDate,
    pub outcome: Option<String>,
}

/// What an answer is about, from its step's tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Mood,
    Anxiety,
    SleepHours,
    Connect,
    Give,
}

impl Measure {
    fn from_tag(tag: &str) -> Option<Measure> {
        Some(match tag {
            "mood" => Measure::Mood,
            "anxiety" => Measure::Anxiety,
            "sleep_hours" => Measure::SleepHours,
            "connect" => Measure::Connect,
            "give" => Measure::Give,
            _ => return None,
        })
    }
}

/// One answer placed on a local date, with its meaning resolved.
#[derive(Clone, PartialEq)]
pub struct Entry {
    pub date: NaiveDate,
    pub session: SessionId,
    /// From a daily check-in, and shown (it makes the day a check-in day).
    pub checkin: bool,
    pub measure: Option<Measure>,
    /// A number (scale, number), an option's score (choice), 1/0 (yes/no); `None` if skipped.
    pub value: Option<f64>,
}

/// Everything `/week` reads about a member, placed on their local dates. Loaded by the
/// processor only when the input is `/week`. (`Debug` prints counts only.)
#[derive(Clone, PartialEq)]
pub struct History {
    /// The member's local date now: the last day of every range.
    pub today: NaiveDate,
    pub entries: Vec<Entry>,
    /// Daily check-in slots by local date (the latest outcome if a date has several).
    pub slots: BTreeMap<NaiveDate, String>,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "History({} entries, {} slots)",
            self.entries.len(),
            self.slots.len()
        )
    }
}

impl History {
    /// Places stored answers and slots on the member's local dates. `dialog` finds the
    /// version an answer was given on (its tags say what the answer means); answers on an
    /// unknown version still count towards check-in days but carry no measure.
    pub fn build<'d>(
        answers: &[StoredAnswer],
        slots: &[StoredSlot],
        tz: Tz,
        now: DateTime<Utc>,
        dialog: impl Fn(&str, i64) -> Option<&'d Dialog>,
    ) -> History {
        let entries = answers
            .iter()
            .map(|a| {
                let date = a
                    .slot_date
                    .unwrap_or_else(|| a.started_at.with_timezone(&tz).date_naive());
                let step = dialog(&a.dialog_id, a.version)
                    .and_then(|d| d.steps.iter().find(|s| s.id == a.step_id));
                let measure = step.and_then(|s| s.tags.iter().find_map(|t| Measure::from_tag(t)));
                let value = match (step, &a.value) {
                    (Some(step), Some(v)) => step.kind.score(v),
                    _ => None,
                };
                Entry {
                    date,
                    session: a.session,
                    checkin: a.dialog_id == CHECKIN_DIALOG && a.shown,
                    measure,
                    value,
                }
            })
            .collect();
        let slots = slots
            .iter()
            .filter(|s| s.dialog_id == CHECKIN_DIALOG)
            .filter_map(|s| Some((s.local_date, s.outcome.clone()?)))
            .collect();
        History {
            today: now.with_timezone(&tz).date_naive(),
            entries,
            slots,
        }
    }

    /// The days from `first` to `last`, inclusive.
    pub fn days(&self, first: NaiveDate, last: NaiveDate) -> Vec<Day> {
        let mut days: Vec<Day> = first
            .iter_days()
            .take_while(|d| *d <= last)
            .map(Day::empty)
            .collect();
        // Latest session last, so its value wins when a day has two check-ins.
        let mut entries: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.date >= first && e.date <= last)
            .collect();
        entries.sort_by_key(|e| (e.date, e.session.0));
        for e in entries {
            let day = &mut days[(e.date - first).num_days() as usize];
            if e.checkin {
                day.status = DayStatus::CheckedIn;
            }
            match (e.measure, e.value) {
                (Some(Measure::Mood), Some(v)) => day.mood = Some(v),
                (Some(Measure::Anxiety), Some(v)) => day.anxiety = Some(v),
                (Some(Measure::SleepHours), Some(v)) => day.sleep_hours = Some(v),
                (Some(Measure::Connect), Some(v)) => day.connect = v > 0.0,
                (Some(Measure::Give), Some(v)) => day.give = v > 0.0,
                _ => {}
            }
        }
        for day in &mut days {
            if day.status == DayStatus::Empty {
                day.status = match self.slots.get(&day.date).map(String::as_str) {
                    Some("missed") => DayStatus::Missed,
                    Some("unknown") => DayStatus::Unknown,
                    Some("paused") => DayStatus::Paused,
                    _ => DayStatus::Empty,
                };
            }
        }
        days
    }

    /// The first day of a range of `weeks` weeks ending today.
    pub fn first_day(&self, weeks: u32) -> NaiveDate {
        self.today - Duration::days(7 * i64::from(weeks) - 1)
    }

    /// Weekly connect/give answers in range: (answered, connected, gave).
    fn connect_give(&self, first: NaiveDate) -> (usize, usize, usize) {
        let mut answered = 0;
        let mut connected = 0;
        let mut gave = 0;
        for e in self
            .entries
            .iter()
            .filter(|e| e.date >= first && e.date <= self.today)
        {
            match (e.measure, e.value) {
                (Some(Measure::Connect), Some(v)) => {
                    answered += 1;
                    connected += usize::from(v > 0.0);
                }
                (Some(Measure::Give), Some(v)) => gave += usize::from(v > 0.0),
                _ => {}
            }
        }
        (answered, connected, gave)
    }
}

/// What a day shows besides its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayStatus {
    /// No check-in was due and none was done: nothing is drawn.
    Empty,
    CheckedIn,
    /// A check-in was due and not answered.
    Missed,
    /// The bot was away when it was due: not the person's doing.
    Unknown,
    /// Check-ins were paused (or stopped).
    Paused,
}

/// One day of the chart.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    pub date: NaiveDate,
    pub status: DayStatus,
    pub mood: Option<f64>,
    pub anxiety: Option<f64>,
    pub sleep_hours: Option<f64>,
    /// A weekly answer that day said they connected with someone.
    pub connect: bool,
    /// A weekly answer that day said they gave time or kindness.
    pub give: bool,
}

impl Day {
    fn empty(date: NaiveDate) -> Day {
        Day {
            date,
            status: DayStatus::Empty,
            mood: None,
            anxiety: None,
            sleep_hours: None,
            connect: false,
            give: false,
        }
    }
}

/// The words drawn on the chart, from `core.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartLabels {
    pub title: String,
    pub mood: String,
    pub anxiety: String,
    pub sleep: String,
    pub missed: String,
    pub unknown: String,
    pub paused: String,
    pub connect: String,
    pub give: String,
}

impl ChartLabels {
    pub fn from_texts(t: &Texts, weeks: u32) -> ChartLabels {
        ChartLabels {
            title: fill(&t.week_chart_title, &[("weeks", &weeks_phrase(t, weeks))]),
            mood: t.week_label_mood.clone(),
            anxiety: t.week_label_anxiety.clone(),
            sleep: t.week_label_sleep.clone(),
            missed: t.week_label_missed.clone(),
            unknown: t.week_label_unknown.clone(),
            paused: t.week_label_paused.clone(),
            connect: t.week_label_connect.clone(),
            give: t.week_label_give.clone(),
        }
    }
}

/// What the chart draws: one entry per calendar day of the range, oldest first.
/// (`Debug` prints the number of days only: the values are health data.)
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekData {
    pub days: Vec<Day>,
    pub labels: ChartLabels,
}

/// Every value is finite (the engine refuses NaN and infinities), so equality is total;
/// `Outgoing`, which carries a `WeekData`, needs `Eq`.
impl Eq for WeekData {}

impl std::fmt::Debug for WeekData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeekData({} days)", self.days.len())
    }
}

impl WeekData {
    pub fn build(history: &History, weeks: u32, labels: ChartLabels) -> WeekData {
        WeekData {
            days: history.days(history.first_day(weeks), history.today),
            labels,
        }
    }

    /// Days that had a check-in.
    pub fn checkins(&self) -> usize {
        self.days
            .iter()
            .filter(|d| d.status == DayStatus::CheckedIn)
            .count()
    }

    /// (day index, value) of every day that has a value, for one line.
    pub fn series(&self, value: impl Fn(&Day) -> Option<f64>) -> Vec<(usize, f64)> {
        self.days
            .iter()
            .enumerate()
            .filter_map(|(i, d)| value(d).map(|v| (i, v)))
            .collect()
    }

    pub fn mood(&self) -> Vec<(usize, f64)> {
        self.series(|d| d.mood)
    }

    pub fn anxiety(&self) -> Vec<(usize, f64)> {
        self.series(|d| d.anxiety)
    }

    pub fn sleep_hours(&self) -> Vec<(usize, f64)> {
        self.series(|d| d.sleep_hours)
    }

    /// Day indexes with this status.
    pub fn with_status(&self, status: DayStatus) -> Vec<usize> {
        self.days
            .iter()
            .enumerate()
            .filter(|(_, d)| d.status == status)
            .map(|(i, _)| i)
            .collect()
    }
}

/// "week" or "8 weeks", for `{weeks}` in the texts.
pub fn weeks_phrase(t: &Texts, weeks: u32) -> String {
    if weeks == 1 {
        t.week_weeks_one.clone()
    } else {
        fill(&t.week_weeks_many, &[("count", &weeks.to_string())])
    }
}

/// `/week`, `/week 8`: the number of weeks, or `None` for anything else.
pub fn parse_weeks(args: &str) -> Option<u32> {
    let args = args.trim();
    if args.is_empty() {
        return Some(DEFAULT_WEEKS);
    }
    let n: u32 = args
        .trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace())
        .parse()
        .ok()?;
    let unit = args.trim_start_matches(|c: char| c.is_ascii_digit()).trim();
    let unit_ok = unit.is_empty() || ["w", "wk", "wks", "week", "weeks"].contains(&unit);
    (unit_ok && (1..=MAX_WEEKS).contains(&n)).then_some(n)
}

/// "6–7", or "6" when most values are the same: the middle half of the values, rounded.
fn mostly(values: &[f64]) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let last = (v.len() - 1) as f64;
    let low = v[(last * 0.25).floor() as usize].round();
    let high = v[(last * 0.75).ceil() as usize].round();
    Some(if low == high {
        format!("{low}")
    } else {
        format!("{low}–{high}")
    })
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// "7" or "6.5": hours to the nearest half.
fn hours(h: f64) -> String {
    let h = (h * 2.0).round() / 2.0;
    if h.fract() == 0.0 {
        format!("{h:.0}")
    } else {
        format!("{h:.1}")
    }
}

fn values(days: &[Day], value: impl Fn(&Day) -> Option<f64>) -> Vec<f64> {
    days.iter().filter_map(value).collect()
}

/// The plain-text summary sent after the chart (for screen readers, and for people who
/// would rather read): this week (the last 7 days) against the week before, and the weekly
/// connect/give answers over the whole range.
pub fn summary(history: &History, weeks: u32, t: &Texts) -> String {
    let today = history.today;
    let this = history.days(today - Duration::days(6), today);
    let before = history.days(today - Duration::days(13), today - Duration::days(7));
    let mut parts: Vec<String> = Vec::new();

    let trend = |now: &[f64], then: &[f64]| -> String {
        match (median(now), median(then)) {
            (Some(a), Some(b)) if a.round() > b.round() => {
                format!(
                    " {}",
                    fill(&t.week_up_from, &[("from", &b.round().to_string())])
                )
            }
            (Some(a), Some(b)) if a.round() < b.round() => format!(
                " {}",
                fill(&t.week_down_from, &[("from", &b.round().to_string())])
            ),
            (Some(_), Some(_)) => format!(" {}", t.week_same_as_before),
            _ => String::new(),
        }
    };
    let mood = values(&this, |d| d.mood);
    if let Some(range) = mostly(&mood) {
        let trend = trend(&mood, &values(&before, |d| d.mood));
        parts.push(fill(&t.week_mood, &[("range", &range)]) + &trend);
    }
    let anxiety = values(&this, |d| d.anxiety);
    if let Some(range) = mostly(&anxiety) {
        let trend = trend(&anxiety, &values(&before, |d| d.anxiety));
        parts.push(fill(&t.week_anxiety, &[("range", &range)]) + &trend);
    }
    let sleep = values(&this, |d| d.sleep_hours);
    if !sleep.is_empty() {
        let mean = sleep.iter().sum::<f64>() / sleep.len() as f64;
        parts.push(fill(&t.week_sleep, &[("hours", &hours(mean))]));
    }
    if !this.iter().any(|d| d.status == DayStatus::CheckedIn) {
        parts.push(t.week_no_checkins_this_week.clone());
    } else if parts.is_empty() {
        parts.push(t.week_all_skipped.clone());
    }
    let missed = this
        .iter()
        .filter(|d| d.status == DayStatus::Missed)
        .count();
    match missed {
        0 => {}
        1 => parts.push(t.week_missed_one.clone()),
        n => parts.push(fill(&t.week_missed_many, &[("count", &n.to_string())])),
    }
    let mut text = fill(&t.week_summary, &[("list", &parts.join(", "))]);
    let (answered, connected, gave) = history.connect_give(history.first_day(weeks));
    if answered > 0 {
        text.push(' ');
        text.push_str(&fill(
            &t.week_connect_give,
            &[
                ("weeks", &weeks_phrase(t, weeks)),
                ("count", &connected.to_string()),
                ("total", &answered.to_string()),
                ("give", &gave.to_string()),
            ],
        ));
    }
    text
}

/// Histories built from the shipped dialogs, for tests here, in `render` and in
/// `conversation::week`.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::sync::OnceLock;

    use chrono::TimeZone;

    use super::*;
    use crate::content::{Content, shipped_dialogs_dir};
    use crate::dialog::{Catalog, load_dir};

    pub fn catalog() -> &'static Catalog {
        static C: OnceLock<Catalog> = OnceLock::new();
        C.get_or_init(|| load_dir(&shipped_dialogs_dir()).catalog.unwrap())
    }

    pub fn content() -> &'static Content {
        static C: OnceLock<Content> = OnceLock::new();
        C.get_or_init(|| {
            Content::load(&shipped_dialogs_dir(), date(2026, 11, 26))
                .content
                .unwrap()
        })
    }

    pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Sunday 29 March 2026, 20:00 London (after the clocks went forward).
    pub fn now() -> DateTime<Utc> {
        chrono_tz::Europe::London
            .with_ymd_and_hms(2026, 3, 29, 20, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn answer(
        session: i64,
        dialog: &str,
        day: NaiveDate,
        step: &str,
        value: Option<AnswerValue>,
    ) -> StoredAnswer {
        StoredAnswer {
            session: SessionId(session),
            dialog_id: dialog.into(),
            version: 1,
            step_id: step.into(),
            shown: true,
            value,
            slot_date: Some(day),
            started_at: chrono_tz::Europe::London
                .from_local_datetime(&day.and_hms_opt(19, 0, 0).unwrap())
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    /// A daily check-in on `day`: mood, anxiety and hours of sleep (`None` = skipped).
    pub fn checkin(
        session: i64,
        day: NaiveDate,
        mood: Option<f64>,
        anxiety: Option<f64>,
        sleep: Option<f64>,
    ) -> Vec<StoredAnswer> {
        let d = "daily_checkin";
        vec![
            answer(session, d, day, "happy", mood.map(AnswerValue::Number)),
            answer(session, d, day, "anxious", anxiety.map(AnswerValue::Number)),
            answer(
                session,
                d,
                day,
                "sleep_quality",
                Some(AnswerValue::Code("fairly_good".into())),
            ),
            answer(
                session,
                d,
                day,
                "sleep_hours",
                sleep.map(AnswerValue::Number),
            ),
            answer(session, d, day, "note", None),
        ]
    }

    /// A weekly connect/give check-in on `day`.
    pub fn weekly(session: i64, day: NaiveDate, connect: &str, give: &str) -> Vec<StoredAnswer> {
        let d = "weekly_connect_give";
        vec![
            answer(
                session,
                d,
                day,
                "connect",
                Some(AnswerValue::Code(connect.into())),
            ),
            answer(
                session,
                d,
                day,
                "give",
                Some(AnswerValue::Code(give.into())),
            ),
        ]
    }

    pub fn slot(day: NaiveDate, outcome: &str) -> StoredSlot {
        StoredSlot {
            dialog_id: "daily_checkin".into(),
            local_date: day,
            outcome: Some(outcome.into()),
        }
    }

    pub fn history(answers: &[StoredAnswer], slots: &[StoredSlot]) -> History {
        History::build(
            answers,
            slots,
            chrono_tz::Europe::London,
            now(),
            |id, version| {
                catalog()
                    .dialogs
                    .get(id)
                    .filter(|d| d.version == version)
                    .map(|d| d.as_ref())
            },
        )
    }

    pub fn labels(weeks: u32) -> ChartLabels {
        ChartLabels::from_texts(&content().texts, weeks)
    }

    /// Every day of `weeks` weeks ending today, with values that vary.
    pub fn full(weeks: u32) -> History {
        let today = now().with_timezone(&chrono_tz::Europe::London).date_naive();
        let mut answers = Vec::new();
        let mut slots = Vec::new();
        for i in 0..(7 * weeks as i64) {
            let day = today - Duration::days(i);
            match i % 11 {
                3 => slots.push(slot(day, "missed")),
                7 => slots.push(slot(day, "unknown")),
                9 => slots.push(slot(day, "paused")),
                _ => answers.extend(checkin(
                    i + 1,
                    day,
                    Some((i % 10) as f64),
                    Some(((i * 3) % 11) as f64),
                    Some(4.0 + (i % 7) as f64),
                )),
            }
            if i % 7 == 0 {
                answers.extend(weekly(
                    10_000 + i,
                    day,
                    if i % 14 == 0 { "few" } else { "none" },
                    if i % 21 == 0 { "yes" } else { "no" },
                ));
            }
        }
        history(&answers, &slots)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn weeks_are_four_by_default_and_one_to_twenty_six_when_given() {
        assert_eq!(parse_weeks(""), Some(4));
        assert_eq!(parse_weeks(" 8 "), Some(8));
        assert_eq!(parse_weeks("8 weeks"), Some(8));
        assert_eq!(parse_weeks("1w"), Some(1));
        assert_eq!(parse_weeks("26"), Some(26));
        for bad in ["0", "27", "-3", "abc", "8 days", "4.5", "99999999999"] {
            assert_eq!(parse_weeks(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_plotted_series_equal_the_stored_answers() {
        let mut answers = Vec::new();
        answers.extend(checkin(
            1,
            date(2026, 3, 2),
            Some(5.0),
            Some(4.0),
            Some(6.5),
        ));
        answers.extend(checkin(2, date(2026, 3, 3), Some(6.0), None, None));
        answers.extend(checkin(3, date(2026, 3, 20), None, Some(8.0), Some(9.0)));
        answers.extend(weekly(4, date(2026, 3, 8), "few", "no"));
        answers.extend(weekly(5, date(2026, 3, 15), "none", "yes"));
        // Before the range: not drawn.
        answers.extend(checkin(
            6,
            date(2026, 3, 1),
            Some(9.0),
            Some(9.0),
            Some(9.0),
        ));
        let data = WeekData::build(&history(&answers, &[]), 4, labels(4));
        assert_eq!(data.days.len(), 28);
        assert_eq!(data.days[0].date, date(2026, 3, 2));
        assert_eq!(data.days[27].date, date(2026, 3, 29));
        assert_eq!(data.mood(), vec![(0, 5.0), (1, 6.0)]);
        assert_eq!(data.anxiety(), vec![(0, 4.0), (18, 8.0)]);
        assert_eq!(data.sleep_hours(), vec![(0, 6.5), (18, 9.0)]);
        let connect: Vec<usize> = data
            .series(|d| d.connect.then_some(1.0))
            .iter()
            .map(|p| p.0)
            .collect();
        let give: Vec<usize> = data
            .series(|d| d.give.then_some(1.0))
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(connect, vec![6]);
        assert_eq!(give, vec![13]);
        assert_eq!(data.with_status(DayStatus::CheckedIn), vec![0, 1, 18]);
        assert_eq!(data.checkins(), 3);
    }

    #[test]
    fn missed_unknown_and_paused_days_are_marked_and_have_no_values() {
        let mut answers = checkin(1, date(2026, 3, 23), Some(5.0), Some(4.0), Some(7.0));
        answers.extend(checkin(
            2,
            date(2026, 3, 27),
            Some(6.0),
            Some(3.0),
            Some(8.0),
        ));
        let slots = [
            slot(date(2026, 3, 23), "completed"),
            slot(date(2026, 3, 24), "missed"),
            slot(date(2026, 3, 25), "unknown"),
            slot(date(2026, 3, 26), "paused"),
            // A partial check-in is a check-in, whatever the slot says.
            slot(date(2026, 3, 27), "partial"),
        ];
        let data = WeekData::build(&history(&answers, &slots), 1, labels(1));
        let status: Vec<DayStatus> = data.days.iter().map(|d| d.status).collect();
        use DayStatus::*;
        assert_eq!(
            status,
            vec![CheckedIn, Missed, Unknown, Paused, CheckedIn, Empty, Empty]
        );
        assert_eq!(data.mood(), vec![(0, 5.0), (4, 6.0)]);
    }

    #[test]
    fn the_later_of_two_check_ins_on_one_day_is_drawn() {
        let mut answers = checkin(7, date(2026, 3, 28), Some(2.0), Some(8.0), Some(4.0));
        answers.extend(checkin(
            3,
            date(2026, 3, 28),
            Some(6.0),
            Some(3.0),
            Some(7.0),
        ));
        let data = WeekData::build(&history(&answers, &[]), 1, labels(1));
        assert_eq!(data.mood(), vec![(5, 2.0)]);
        assert_eq!(data.checkins(), 1);
    }

    #[test]
    fn an_unscheduled_check_in_falls_on_its_local_date() {
        use chrono::TimeZone;
        // 02:00 UTC on 28 March is 22:00 on the 27th in New York.
        let mut a = checkin(1, date(2026, 3, 28), Some(5.0), None, None);
        for x in &mut a {
            x.slot_date = None;
            x.started_at = Utc.with_ymd_and_hms(2026, 3, 28, 2, 0, 0).unwrap();
        }
        let h = History::build(&a, &[], chrono_tz::America::New_York, now(), |id, _| {
            catalog().dialogs.get(id).map(|d| d.as_ref())
        });
        let data = WeekData::build(&h, 1, labels(1));
        assert_eq!(data.days[4].date, date(2026, 3, 27));
        assert_eq!(data.mood(), vec![(4, 5.0)]);
    }

    #[test]
    fn the_summary_reads_the_week_in_words() {
        let mut answers = Vec::new();
        // The week before: mood around 5.
        for (s, d) in [(1, 16), (2, 17), (3, 18)] {
            answers.extend(checkin(
                s,
                date(2026, 3, d),
                Some(5.0),
                Some(6.0),
                Some(6.0),
            ));
        }
        // This week (23–29 March): mood 6–7, sleep 7 h on average, one missed day.
        for (s, d, mood, sleep) in [
            (10, 23, 6.0, 6.5),
            (11, 24, 7.0, 7.5),
            (12, 25, 6.0, 7.0),
            (13, 27, 7.0, 7.0),
        ] {
            answers.extend(checkin(
                s,
                date(2026, 3, d),
                Some(mood),
                Some(4.0),
                Some(sleep),
            ));
        }
        answers.extend(weekly(20, date(2026, 3, 8), "few", "yes"));
        answers.extend(weekly(21, date(2026, 3, 15), "none", "no"));
        answers.extend(weekly(22, date(2026, 3, 22), "once", "no"));
        answers.extend(weekly(23, date(2026, 3, 29), "most_days", "yes"));
        let slots = [slot(date(2026, 3, 26), "missed")];
        let text = summary(&history(&answers, &slots), 4, &content().texts);
        assert_eq!(
            text,
            "This week: mood mostly 6–7 (up from 5), anxiety mostly 4 (down from 6), \
             sleep 7 h on average, missed 1 check-in. Over the last 4 weeks, your weekly \
             check-ins said you connected with someone in 3 of 4 weeks and gave time or \
             kindness in 2."
        );
    }

    #[test]
    fn the_summary_is_kind_about_an_empty_or_skipped_week() {
        let old = checkin(1, date(2026, 3, 10), Some(5.0), Some(5.0), None);
        let slots = [
            slot(date(2026, 3, 27), "missed"),
            slot(date(2026, 3, 28), "missed"),
        ];
        let text = summary(&history(&old, &slots), 4, &content().texts);
        assert_eq!(text, "This week: no check-ins yet, missed 2 check-ins.");
        let skipped = checkin(2, date(2026, 3, 28), None, None, None);
        let text = summary(&history(&skipped, &[]), 1, &content().texts);
        assert_eq!(text, "This week: questions skipped, which is fine.");
    }

    #[test]
    fn week_data_debug_shows_no_values() {
        let data = WeekData::build(&full(4), 4, labels(4));
        assert_eq!(format!("{data:?}"), "WeekData(28 days)");
        assert!(format!("{:?}", full(1)).starts_with("History("));
    }
}
