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
use crate::dialog::{CHECKIN_DIALOG, Dialog};
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

pub use crate::domain::history::{StoredAnswer, StoredSlot};

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
    /// Something was due that a shared chart does not show (a paused day, the bot away):
    /// the lines break there, and nothing is drawn.
    NotShown,
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

/// The words drawn on the chart, from `core.toml`. An empty label leaves its entry out of
/// the legend (a shared chart's, for what it does not show).
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

    /// The chart as it is shared with someone in the member's circle: exactly what the
    /// sharing question lists (mood, anxiety, sleep and missed days), under `title` (the
    /// member's name, not "Your …"). Connect and give, paused days and days the bot was away
    /// are left out: neither drawn nor in the legend.
    pub fn for_sharing(mut self, title: String) -> WeekData {
        for day in &mut self.days {
            day.connect = false;
            day.give = false;
            if matches!(day.status, DayStatus::Paused | DayStatus::Unknown) {
                day.status = DayStatus::NotShown;
            }
        }
        self.labels.title = title;
        for label in [
            &mut self.labels.unknown,
            &mut self.labels.paused,
            &mut self.labels.connect,
            &mut self.labels.give,
        ] {
            label.clear();
        }
        self
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

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests;

/// Reads a member's `/week` history through the store and places it on their local dates
/// (for `/week`, sharing a chart, and the weekly picture). The one read; the rest is pure.
pub async fn load(
    conn: &mut crate::store::Work,
    member: crate::domain::MemberId,
    tz: Tz,
    now: DateTime<Utc>,
    dialogs: &crate::dialog::Registry,
) -> anyhow::Result<History> {
    use crate::store::Plans;
    let since = now - Duration::days(HISTORY_DAYS);
    let (answers, slots) = conn.week_history(member, since).await?;
    Ok(History::build(&answers, &slots, tz, now, |d, v| {
        dialogs.get(d, v).map(|d| d.as_ref())
    }))
}
