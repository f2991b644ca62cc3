//! Early-warning rules. Pure: a member's rule (a template from `dialogs/rules.toml` with the
//! parameters they chose) is evaluated over their check-in history at a given `now`, giving
//! a decision with the evidence behind it; an episode state machine turns decisions into at
//! most one alert per episode.

pub mod load;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use load::{Known, RULES_FILE, load_rules, load_rules_against, parse_rules};

pub use crate::domain::plan::Tier;

/// Which side of the threshold is the warning side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AtOrBelow,
    AtOrAbove,
}

impl Direction {
    fn beyond(self, value: f64, threshold: f64) -> bool {
        match self {
            Direction::AtOrBelow => value <= threshold,
            Direction::AtOrAbove => value >= threshold,
        }
    }

    /// How far `recent` has moved from `baseline` towards the warning side.
    fn worsening(self, baseline: f64, recent: f64) -> f64 {
        match self {
            Direction::AtOrBelow => baseline - recent,
            Direction::AtOrAbove => recent - baseline,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// At or beyond `threshold` on the last `count` answered check-ins.
    Run,
    /// At or beyond `threshold` on at least `k` of the last `n` answered check-ins.
    KOfN,
    /// The mean of the last `recent` answers is at least `drop` worse than the baseline: the
    /// mean over the `days` before them, which needs `min_answers` answers (calibration).
    BaselineDrop,
    /// The last `count` slots were missed (unknown and paused slots are skipped, never counted).
    MissedRun,
    /// The latest check-in raised `flag`.
    Flagged,
    /// No activity (a value above 0) reported for `days` days.
    Absence,
    /// Every rule in `rules` fires.
    AllOf,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Run => "run",
            Kind::KOfN => "k_of_n",
            Kind::BaselineDrop => "baseline_drop",
            Kind::MissedRun => "missed_run",
            Kind::Flagged => "flagged",
            Kind::Absence => "absence",
            Kind::AllOf => "all_of",
        }
    }

    /// The numeric parameters a template of this kind must declare.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            Kind::Run => &["threshold", "count"],
            Kind::KOfN => &["threshold", "k", "n"],
            Kind::BaselineDrop => &["days", "min_answers", "recent", "drop"],
            Kind::MissedRun => &["count"],
            Kind::Absence => &["days"],
            Kind::Flagged | Kind::AllOf => &[],
        }
    }

    pub fn all() -> [Kind; 7] {
        [
            Kind::Run,
            Kind::KOfN,
            Kind::BaselineDrop,
            Kind::MissedRun,
            Kind::Flagged,
            Kind::Absence,
            Kind::AllOf,
        ]
    }
}

/// A parameter's default and the bounds a member may choose within.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Param {
    pub default: f64,
    pub min: f64,
    pub max: f64,
}

/// A rule as an operator ships it (validated; see `load`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub id: String,
    pub title: String,
    pub description: String,
    pub kind: Kind,
    /// The tag whose values it reads (not for `missed_run`, `flagged`, `all_of`).
    pub reads: Option<String>,
    pub direction: Direction,
    pub params: BTreeMap<String, Param>,
    /// The one parameter a member adjusts in `/plan` (within its bounds).
    pub adjust: Option<String>,
    pub flag: Option<String>,
    pub rules: Vec<String>,
    pub tier: Tier,
    /// The sentence that explains a firing, with `{param}` placeholders.
    pub explains: String,
}

impl Template {
    /// The parameters with their defaults, for a new member's rule.
    pub fn defaults(&self) -> BTreeMap<String, f64> {
        self.params
            .iter()
            .map(|(k, p)| (k.clone(), p.default))
            .collect()
    }

    /// `values` clamped into the template's bounds (missing ones take the default).
    pub fn clamp(&self, values: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        self.params
            .iter()
            .map(|(k, p)| {
                let v = values.get(k).copied().unwrap_or(p.default);
                (k.clone(), v.clamp(p.min, p.max))
            })
            .collect()
    }

    /// The explanation with this rule's values filled in.
    pub fn explain(&self, values: &BTreeMap<String, f64>) -> String {
        let vals: Vec<(String, String)> = self
            .clamp(values)
            .into_iter()
            .map(|(k, v)| (k, number(v)))
            .collect();
        let pairs: Vec<(&str, &str)> = vals.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        crate::content::fill(&self.explains, &pairs)
    }
}

/// `3` rather than `3.0`; one decimal otherwise.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// What happened to one scheduled (or spontaneous) check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed,
    Partial,
    Missed,
    /// The bot was down: never read as missed (nor as well).
    Unknown,
    Paused,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "completed" => Some(Outcome::Completed),
            "partial" => Some(Outcome::Partial),
            "missed" => Some(Outcome::Missed),
            "unknown" => Some(Outcome::Unknown),
            "paused" => Some(Outcome::Paused),
            _ => None,
        }
    }
}

/// One check-in in a member's history: its values by tag, and any flags raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckIn {
    pub at: DateTime<Utc>,
    pub date: NaiveDate,
    pub outcome: Outcome,
    pub values: BTreeMap<String, f64>,
    pub flags: Vec<String>,
}

/// Why a rule fired (or would): the values and dates that made it, and the baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evidence {
    /// (local date, value) of the check-ins considered, oldest first.
    pub points: Vec<(NaiveDate, f64)>,
    pub baseline: Option<f64>,
    pub recent: Option<f64>,
    /// Missed check-ins considered (for `missed_run`).
    pub missed: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub firing: bool,
    /// A baseline rule still gathering its calibration answers cannot fire.
    pub calibrating: bool,
    pub evidence: Evidence,
}

impl Decision {
    fn quiet() -> Decision {
        Decision {
            firing: false,
            calibrating: false,
            evidence: Evidence::default(),
        }
    }
}

fn param(values: &BTreeMap<String, f64>, name: &str) -> f64 {
    values.get(name).copied().unwrap_or(0.0)
}

fn count(values: &BTreeMap<String, f64>, name: &str) -> usize {
    param(values, name).max(0.0).round() as usize
}

/// Evaluates one rule over `history` (oldest first). `templates` resolves `all_of`.
pub fn evaluate(
    t: &Template,
    values: &BTreeMap<String, f64>,
    history: &[CheckIn],
    now: DateTime<Utc>,
    templates: &BTreeMap<String, Template>,
) -> Decision {
    let values = t.clamp(values);
    let answered = || -> Vec<(NaiveDate, f64)> {
        let tag = t.reads.as_deref().unwrap_or("");
        history
            .iter()
            .filter(|c| c.at <= now)
            .filter_map(|c| c.values.get(tag).map(|v| (c.date, *v)))
            .collect()
    };
    match t.kind {
        Kind::Run => {
            let n = count(&values, "count").max(1);
            let threshold = param(&values, "threshold");
            let all = answered();
            let last: Vec<_> = all.iter().rev().take(n).rev().copied().collect();
            let firing =
                last.len() == n && last.iter().all(|(_, v)| t.direction.beyond(*v, threshold));
            Decision {
                firing,
                calibrating: false,
                evidence: Evidence {
                    points: last,
                    ..Evidence::default()
                },
            }
        }
        Kind::KOfN => {
            let n = count(&values, "n").max(1);
            let k = count(&values, "k").max(1);
            let threshold = param(&values, "threshold");
            let all = answered();
            let last: Vec<_> = all.iter().rev().take(n).rev().copied().collect();
            let beyond: Vec<_> = last
                .iter()
                .filter(|(_, v)| t.direction.beyond(*v, threshold))
                .copied()
                .collect();
            Decision {
                firing: beyond.len() >= k,
                calibrating: false,
                evidence: Evidence {
                    points: last,
                    ..Evidence::default()
                },
            }
        }
        Kind::BaselineDrop => {
            let recent_n = count(&values, "recent").max(1);
            let min_answers = count(&values, "min_answers").max(1);
            let days = Duration::days(count(&values, "days") as i64);
            let drop = param(&values, "drop");
            let all = answered();
            if all.len() < recent_n {
                return Decision {
                    calibrating: true,
                    ..Decision::quiet()
                };
            }
            let (before, recent) = all.split_at(all.len() - recent_n);
            let since = (now - days).date_naive();
            let base: Vec<f64> = before
                .iter()
                .filter(|(d, _)| *d >= since)
                .map(|(_, v)| *v)
                .collect();
            let recent_mean = mean(recent.iter().map(|(_, v)| *v));
            if base.len() < min_answers {
                return Decision {
                    calibrating: true,
                    firing: false,
                    evidence: Evidence {
                        points: recent.to_vec(),
                        recent: recent_mean,
                        ..Evidence::default()
                    },
                };
            }
            let baseline = mean(base.iter().copied());
            let firing = match (baseline, recent_mean) {
                (Some(b), Some(r)) => t.direction.worsening(b, r) >= drop,
                _ => false,
            };
            Decision {
                firing,
                calibrating: false,
                evidence: Evidence {
                    points: recent.to_vec(),
                    baseline,
                    recent: recent_mean,
                    missed: Vec::new(),
                },
            }
        }
        Kind::MissedRun => {
            let n = count(&values, "count").max(1);
            let counted: Vec<&CheckIn> = history
                .iter()
                .filter(|c| c.at <= now)
                .filter(|c| !matches!(c.outcome, Outcome::Unknown | Outcome::Paused))
                .collect();
            let last: Vec<_> = counted.iter().rev().take(n).collect();
            let firing = last.len() == n && last.iter().all(|c| c.outcome == Outcome::Missed);
            Decision {
                firing,
                calibrating: false,
                evidence: Evidence {
                    missed: last
                        .iter()
                        .rev()
                        .filter(|c| c.outcome == Outcome::Missed)
                        .map(|c| c.date)
                        .collect(),
                    ..Evidence::default()
                },
            }
        }
        Kind::Flagged => {
            let flag = t.flag.as_deref().unwrap_or("");
            let latest = history
                .iter()
                .filter(|c| c.at <= now)
                .rfind(|c| matches!(c.outcome, Outcome::Completed | Outcome::Partial));
            let firing = latest.is_some_and(|c| c.flags.iter().any(|f| f == flag));
            Decision {
                firing,
                calibrating: false,
                evidence: Evidence {
                    points: latest.map(|c| vec![(c.date, 0.0)]).unwrap_or_default(),
                    ..Evidence::default()
                },
            }
        }
        Kind::Absence => {
            let days = Duration::days(count(&values, "days") as i64);
            let tag = t.reads.as_deref().unwrap_or("");
            let past: Vec<&CheckIn> = history.iter().filter(|c| c.at <= now).collect();
            // Too new to tell: the first report must be at least `days` ago. Check-ins that
            // never report it (the weekly prompt is off) are silence, and silence is not a
            // signal.
            let Some(first) = past.iter().find(|c| c.values.contains_key(tag)) else {
                return Decision {
                    calibrating: true,
                    ..Decision::quiet()
                };
            };
            if now - first.at < days {
                return Decision {
                    calibrating: true,
                    ..Decision::quiet()
                };
            }
            // A pause or an outage in the window: we cannot tell absence from silence.
            if past.iter().any(|c| {
                c.at > now - days && matches!(c.outcome, Outcome::Unknown | Outcome::Paused)
            }) {
                return Decision {
                    calibrating: true,
                    ..Decision::quiet()
                };
            }
            let recent_activity = past
                .iter()
                .any(|c| c.at > now - days && c.values.get(tag).is_some_and(|v| *v > 0.0));
            let reported: Vec<(NaiveDate, f64)> = past
                .iter()
                .filter(|c| c.at > now - days)
                .filter_map(|c| c.values.get(tag).map(|v| (c.date, *v)))
                .collect();
            Decision {
                // Reports in the window, none of them a connection; no report at all is
                // silence, not a report of none.
                firing: !reported.is_empty() && !recent_activity,
                calibrating: false,
                evidence: Evidence {
                    points: reported,
                    ..Evidence::default()
                },
            }
        }
        Kind::AllOf => {
            let mut evidence = Evidence::default();
            let mut firing = !t.rules.is_empty();
            let mut calibrating = false;
            for id in &t.rules {
                let Some(inner) = templates.get(id) else {
                    firing = false;
                    continue;
                };
                // A combination uses each part's defaults (its own parameters are the parts').
                let d = evaluate(inner, &inner.defaults(), history, now, templates);
                firing &= d.firing;
                calibrating |= d.calibrating;
                evidence.points.extend(d.evidence.points);
                evidence.missed.extend(d.evidence.missed);
            }
            Decision {
                firing,
                calibrating,
                evidence,
            }
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Where one member's rule is in its episode cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// It fired and has not re-armed yet.
    pub open: bool,
    /// Check-ins in a row since it fired on which the condition was clear.
    pub clear_streak: u32,
    pub last_fired: Option<DateTime<Utc>>,
}

/// What an evaluation means for the episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A new episode: tell the people the member chose (once).
    Fire,
    /// Nothing to send.
    Hold,
    /// The condition has been clear long enough: the rule re-arms.
    Rearm,
}

/// Advances an episode by one evaluation. One episode, one alert: a rule that fired does not
/// fire again until it has been clear for `rearm_after` check-ins, and never within
/// `cooldown` of its last firing.
pub fn advance(
    e: Episode,
    firing: bool,
    now: DateTime<Utc>,
    rearm_after: u32,
    cooldown: Duration,
) -> (Episode, Step) {
    if e.open {
        if firing {
            return (
                Episode {
                    clear_streak: 0,
                    ..e
                },
                Step::Hold,
            );
        }
        let streak = e.clear_streak + 1;
        if streak >= rearm_after {
            return (
                Episode {
                    open: false,
                    clear_streak: 0,
                    ..e
                },
                Step::Rearm,
            );
        }
        return (
            Episode {
                clear_streak: streak,
                ..e
            },
            Step::Hold,
        );
    }
    let cooled = e.last_fired.is_none_or(|t| now - t >= cooldown);
    if firing && cooled {
        (
            Episode {
                open: true,
                clear_streak: 0,
                last_fired: Some(now),
            },
            Step::Fire,
        )
    } else {
        (e, Step::Hold)
    }
}

/// One firing found by [`replay`].
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    pub at: DateTime<Utc>,
    pub date: NaiveDate,
    pub rule: String,
    pub reason: String,
}

/// Replays a member's history check-in by check-in, as the bot would have seen it, and says
/// when each rule would have fired (episodes, re-arming and cooldown included). Pure: the
/// operator's backtest and its benchmark run this.
pub fn replay(
    rules: &[(&Template, BTreeMap<String, f64>)],
    history: &[CheckIn],
    templates: &BTreeMap<String, Template>,
    rearm_after: u32,
    cooldown: Duration,
) -> Vec<Firing> {
    let mut out = Vec::new();
    for (t, params) in rules {
        if t.kind == Kind::Flagged {
            // Every "I don't feel safe" is heard, as the bot does: no episodes, no cooldown.
            let flag = t.flag.as_deref().unwrap_or("");
            for c in history.iter().filter(|c| c.flags.iter().any(|f| f == flag)) {
                out.push(Firing {
                    at: c.at,
                    date: c.date,
                    rule: t.id.clone(),
                    reason: t.explain(params),
                });
            }
            continue;
        }
        let mut episode = Episode::default();
        let mut clear = 0u32;
        for end in 1..=history.len() {
            let seen = &history[..end];
            let at = seen[end - 1].at;
            let d = evaluate(t, params, seen, at, templates);
            let answered = matches!(seen[end - 1].outcome, Outcome::Completed | Outcome::Partial);
            if episode.open && !d.firing && !answered {
                continue; // silence never counts towards re-arming
            }
            let e = Episode {
                clear_streak: clear,
                ..episode
            };
            let (next, step) = advance(e, d.firing, at, rearm_after, cooldown);
            clear = if d.firing { 0 } else { clear + 1 };
            episode = next;
            if step == Step::Fire {
                out.push(Firing {
                    at,
                    date: seen[end - 1].date,
                    rule: t.id.clone(),
                    reason: t.explain(params),
                });
            }
        }
    }
    out.sort_by_key(|f| f.at);
    out
}

#[cfg(test)]
mod tests;
