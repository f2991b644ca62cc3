//! The simulation's report: what the cohort did to the bot and what the bot did back.
//! Counts, ids and virtual times only; never message text.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::telegram::SimTelegram;
use super::{Sim, SimOptions, TZ};
use crate::store::Store;

mod text;

/// What the simulation itself noticed while running.
#[derive(Debug, Default)]
pub struct Observed {
    pub inputs: u64,
    /// (when the person answered mid-check-in, in their timezone; ms until the bot's next
    /// message reached them)
    pub reply_latency: Vec<(DateTime<Tz>, i64)>,
    pub unrecognised_keyboards: u64,
    /// Answers the bot met with a notice and no next message (a stale or early press).
    pub answered_with_a_notice: u64,
    pub alerts_seen: u64,
    pub acks_pressed: u64,
    /// A low day's "Do you feel safe right now?" answered "I'm not sure" / "I don't feel safe".
    pub unsure_answers: u64,
    pub not_safe_answers: u64,
    /// Ask-first questions that reached members, and how many they answered each way (the
    /// rest went unanswered).
    pub asks_seen: u64,
    pub asks_told: u64,
    pub asks_not_told: u64,
    /// Messages to members that carried the crisis contacts.
    pub crisis_cards_seen: u64,
    /// Scheduler ticks after which the store still reported something due at or before the
    /// tick's time: work the tick could not settle, or a due time it would never act on.
    pub ticks_left_due: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Spread {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PerRecipient {
    /// How many messages of this tier were sent in all.
    pub total: usize,
    /// Recipients counted (everyone who could hear, including those who heard nothing).
    pub recipients: usize,
    pub mean_per_week: f64,
    pub p95_per_week: f64,
    pub max_per_week: f64,
}

/// Alert rows created in one week of the run (week 1 starts with the run), by tier.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WeekCounts {
    pub week: u32,
    pub starts: DateTime<Utc>,
    pub alerts: usize,
    pub urgent: usize,
    pub nudges: usize,
    pub self_help: usize,
}

/// Calls to Telegram across the day (London time), in buckets of `bucket_minutes`, as calls
/// per minute: the mean over the simulated days, and the busiest day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayLoad {
    pub bucket_minutes: u32,
    pub mean: Vec<f64>,
    /// The day with the most calls, its calls, and its buckets.
    pub peak_day: Option<(NaiveDate, u64, Vec<f64>)>,
}

/// Buckets of five minutes over the day.
const LOAD_BUCKET_MINUTES: u32 = 5;

fn day_load(per_minute: &BTreeMap<i64, u32>, days: f64) -> DayLoad {
    let n = (24 * 60 / LOAD_BUCKET_MINUTES) as usize;
    let mut total = vec![0.0; n];
    let mut by_day: BTreeMap<NaiveDate, Vec<f64>> = BTreeMap::new();
    for (m, c) in per_minute {
        let Some(t) = DateTime::from_timestamp(m * 60, 0) else {
            continue;
        };
        let local = t.with_timezone(&TZ);
        let b = ((local.hour() * 60 + local.minute()) / LOAD_BUCKET_MINUTES) as usize;
        let c = f64::from(*c) / f64::from(LOAD_BUCKET_MINUTES);
        total[b] += c;
        by_day
            .entry(local.date_naive())
            .or_insert_with(|| vec![0.0; n])[b] += c;
    }
    let peak_day = by_day
        .into_iter()
        .map(|(d, v)| {
            let calls = (v.iter().sum::<f64>() * f64::from(LOAD_BUCKET_MINUTES)).round() as u64;
            (d, calls, v)
        })
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
    DayLoad {
        bucket_minutes: LOAD_BUCKET_MINUTES,
        mean: total.iter().map(|t| t / days.max(1.0 / 24.0)).collect(),
        peak_day,
    }
}

/// The profile a run used: `built-in` or the file's name, and the SHA-256 of its text (the
/// same file gives the same hash wherever it lies).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ProfileUsed {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub members: u32,
    /// Everyone in the members' circles, carers included.
    pub supporters: usize,
    /// Of them, carers.
    pub carers: usize,
    pub days: u32,
    pub seed: u64,
    pub profile: ProfileUsed,
    /// Stopped by Ctrl-C: everything below is up to `simulated_until`.
    pub partial: bool,
    pub simulated_until: DateTime<Utc>,
    pub inputs: u64,
    pub calls: u64,
    pub peak_hour: Option<(DateTime<Utc>, u32)>,
    pub peak_minute: Option<(DateTime<Utc>, u32)>,
    pub mean_calls_per_hour: f64,
    /// Scheduled prompts and reminders queued in one minute: that minute, how many, and the
    /// virtual seconds from its start until the last was delivered.
    pub busiest_prompt_minute: Option<(DateTime<Utc>, i64, Option<f64>)>,
    /// Seconds from queueing to delivery of scheduled prompts and reminders (queued at their
    /// slot's time), and how many were still waiting at the end.
    pub prompt_delay_s: Spread,
    pub prompts_waiting: i64,
    /// The busiest hours of the local day: those with at least half the calls of the
    /// busiest one (09 and 19 with the built-in profile).
    pub peak_hours: Vec<u32>,
    /// Seconds from an answer mid-check-in to the bot's next message, for answers sent in
    /// the peak hours, and for all.
    pub reply_latency_peak_s: Spread,
    pub reply_latency_all_s: Spread,
    pub retry_afters: u64,
    pub limit_violations: u64,
    pub checkins: BTreeMap<String, i64>,
    pub slots_closed_without_outcome: i64,
    pub alerts: PerRecipient,
    pub nudges: PerRecipient,
    pub self_help: PerRecipient,
    pub urgent: PerRecipient,
    pub acknowledged: usize,
    /// Minutes from an alert (or urgent alert) being created to its acknowledgement.
    pub time_to_acknowledge_min: Spread,
    pub escalations: usize,
    /// "Do you feel safe right now?" answered "I'm not sure" / "I don't feel safe", and the
    /// messages with the crisis contacts that reached members.
    pub unsure_answers: u64,
    pub not_safe_answers: u64,
    pub crisis_cards_seen: u64,
    /// Ask-first questions that reached members; told at their word ("Yes, tell them", in
    /// time or after a "don't tell" wait), not told at their word ("No, I'm OK" in time), and
    /// the rest (no answer in time: their advance decision applied).
    pub asked_first: u64,
    pub asked_first_told: u64,
    pub asked_first_not_told: u64,
    pub asked_first_unanswered: u64,
    /// Alerts, urgent alerts, nudges and self-help messages created in each week.
    pub per_week: Vec<WeekCounts>,
    pub alerts_sent_to_circle: i64,
    pub alerts_without_standing_consent: i64,
    pub unrecognised_keyboards: u64,
    /// Answers met with a notice and no next message (stale or early presses).
    pub answered_with_a_notice: u64,
    /// People whose setup (onboarding, invites, plan) did not finish.
    pub setups_unfinished: usize,
    /// Scheduler ticks that left something due at or before their own time (0 when what
    /// `Store::next_due` reports is exactly what a tick acts on).
    pub ticks_left_due: u64,
    pub steps: u64,
    /// Calls across the day, for the chart (not part of the JSON).
    #[serde(skip)]
    pub load: DayLoad,
    /// The simulation's own wall time (not part of the deterministic report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
    /// Where that wall time went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wall_split_seconds: Option<BTreeMap<String, f64>>,
    /// The process's peak resident memory so far, in MiB (Linux's `VmHWM`; not part of the
    /// deterministic report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_mib: Option<f64>,
}

/// The process's peak resident set size in MiB, where the system tells it.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn spread(mut v: Vec<f64>) -> Spread {
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    };
    Spread {
        count: v.len(),
        p50: q(0.50),
        p95: q(0.95),
        p99: q(0.99),
        max: v.last().copied().unwrap_or(0.0),
    }
}

fn per_recipient(counts: Vec<usize>, recipients: usize, weeks: f64) -> PerRecipient {
    let total: usize = counts.iter().sum();
    let mut v: Vec<f64> = counts.iter().map(|c| *c as f64 / weeks).collect();
    v.resize(recipients.max(v.len()), 0.0);
    let s = spread(v.clone());
    PerRecipient {
        total,
        recipients: v.len(),
        mean_per_week: if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        },
        p95_per_week: s.p95,
        max_per_week: s.max,
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn build(
    store: &Store,
    net: &SimTelegram,
    sim: &Sim,
    opts: &SimOptions,
    start: DateTime<Utc>,
    at: DateTime<Utc>,
    partial: bool,
    steps: u64,
    wall: std::time::Instant,
    spent: [f64; 5],
) -> anyhow::Result<Report> {
    let (per_minute, calls, retry_afters, violations) = {
        let n = net.lock();
        (n.per_minute.clone(), n.calls, n.retry_afters, n.violations)
    };
    let mut per_hour: BTreeMap<i64, u32> = BTreeMap::new();
    for (m, c) in &per_minute {
        *per_hour.entry(m / 60).or_insert(0) += c;
    }
    let top = |map: &BTreeMap<i64, u32>, unit: i64| {
        map.iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .and_then(|(k, v)| DateTime::from_timestamp(k * unit, 0).map(|t| (t, *v)))
    };
    let hours = ((at - start).num_seconds() as f64 / 3600.0).max(1.0);
    let mut by_hour_of_day = [0u64; 24];
    for (m, c) in &per_minute {
        if let Some(t) = DateTime::from_timestamp(m * 60, 0) {
            by_hour_of_day[t.with_timezone(&TZ).hour() as usize] += u64::from(*c);
        }
    }
    let busiest_hour = by_hour_of_day.iter().copied().max().unwrap_or(0);
    let busy: Vec<u32> = (0..24u32)
        .filter(|h| busiest_hour > 0 && by_hour_of_day[*h as usize] * 2 >= busiest_hour)
        .collect();
    let peak_hours = |t: &DateTime<Tz>| busy.contains(&t.hour());
    let lat_peak = sim
        .obs
        .reply_latency
        .iter()
        .filter(|(t, _)| peak_hours(t))
        .map(|(_, ms)| *ms as f64 / 1000.0)
        .collect();
    let lat_all = sim
        .obs
        .reply_latency
        .iter()
        .map(|(_, ms)| *ms as f64 / 1000.0)
        .collect();
    let busiest = store
        .sim_busiest_prompt_minute()
        .await?
        .map(|(m, n, last)| {
            (
                m,
                n,
                last.map(|l| (l - m).num_milliseconds() as f64 / 1000.0),
            )
        });
    let (prompt_delays, prompts_waiting) = store.sim_prompt_delays().await?;
    let (outcomes, unsettled) = store.sim_slot_outcomes(at).await?;
    let checkins = outcomes
        .into_iter()
        .map(|(o, n)| (o.unwrap_or_else(|| "open".into()), n))
        .collect();
    let alerts = store.sim_alerts().await?;
    let weeks = ((at - start).num_seconds() as f64 / (7.0 * 86_400.0)).max(1.0 / 7.0);
    let supporters = sim
        .people
        .iter()
        .filter(|p| p.role != super::people::Role::Member)
        .count();
    let carers = sim
        .people
        .iter()
        .filter(|p| matches!(p.role, super::people::Role::Supporter { carer: true, .. }))
        .count();
    let tier_counts = |tier: &str, by_member: bool| -> Vec<usize> {
        let mut m: HashMap<i64, usize> = HashMap::new();
        for a in alerts.iter().filter(|a| a.tier == tier) {
            let key = if by_member {
                a.member_id
            } else {
                a.circle_id.unwrap_or(-1)
            };
            *m.entry(key).or_insert(0) += 1;
        }
        let mut v: Vec<usize> = m.into_values().collect();
        v.sort();
        v
    };
    let weeks_run = ((at - start).num_seconds().max(1) as f64 / (7.0 * 86_400.0)).ceil() as u32;
    let mut per_week: Vec<WeekCounts> = (0..weeks_run)
        .map(|w| WeekCounts {
            week: w + 1,
            starts: start + chrono::Duration::days(7 * i64::from(w)),
            alerts: 0,
            urgent: 0,
            nudges: 0,
            self_help: 0,
        })
        .collect();
    for a in &alerts {
        let w = ((a.created_at - start).num_days() / 7).max(0) as usize;
        let Some(week) = per_week.get_mut(w) else {
            continue;
        };
        match a.tier.as_str() {
            "alert" => week.alerts += 1,
            "urgent" => week.urgent += 1,
            "nudge" => week.nudges += 1,
            "self_help" => week.self_help += 1,
            _ => {}
        }
    }
    let (to_circle, without) = store.sim_alerts_without_consent().await?;
    if std::env::var_os("SIM_DEBUG").is_some() {
        for p in sim.people.iter().filter(|p| !p.script.is_empty()) {
            let labels: Vec<_> = p
                .keyboard
                .iter()
                .flat_map(|k| k.1.iter().map(|b| b.label.as_str()))
                .collect();
            eprintln!(
                "{} stalled at {:?} with {:?}",
                p.name,
                p.script.front(),
                labels
            );
        }
    }
    Ok(Report {
        members: opts.members,
        supporters,
        carers,
        days: opts.days,
        seed: opts.seed,
        profile: ProfileUsed::default(),
        partial,
        simulated_until: at,
        inputs: sim.obs.inputs,
        calls,
        peak_hour: top(&per_hour, 3600),
        peak_minute: top(&per_minute, 60),
        mean_calls_per_hour: calls as f64 / hours,
        busiest_prompt_minute: busiest,
        prompt_delay_s: spread(prompt_delays),
        prompts_waiting,
        peak_hours: busy.clone(),
        reply_latency_peak_s: spread(lat_peak),
        reply_latency_all_s: spread(lat_all),
        retry_afters,
        limit_violations: violations,
        checkins,
        slots_closed_without_outcome: unsettled,
        alerts: per_recipient(tier_counts("alert", false), supporters - carers, weeks),
        nudges: per_recipient(tier_counts("nudge", false), carers, weeks),
        self_help: per_recipient(tier_counts("self_help", true), opts.members as usize, weeks),
        urgent: per_recipient(tier_counts("urgent", false), supporters - carers, weeks),
        acknowledged: alerts.iter().filter(|a| a.acked_at.is_some()).count(),
        time_to_acknowledge_min: spread(
            alerts
                .iter()
                .filter_map(|a| {
                    a.acked_at
                        .map(|at| (at - a.created_at).num_seconds() as f64 / 60.0)
                })
                .collect(),
        ),
        escalations: alerts.iter().filter(|a| a.step > 0).count(),
        unsure_answers: sim.obs.unsure_answers,
        not_safe_answers: sim.obs.not_safe_answers,
        crisis_cards_seen: sim.obs.crisis_cards_seen,
        asked_first: sim.obs.asks_seen,
        asked_first_told: sim.obs.asks_told,
        asked_first_not_told: sim.obs.asks_not_told,
        asked_first_unanswered: sim
            .obs
            .asks_seen
            .saturating_sub(sim.obs.asks_told + sim.obs.asks_not_told),
        per_week,
        alerts_sent_to_circle: to_circle,
        alerts_without_standing_consent: without,
        unrecognised_keyboards: sim.obs.unrecognised_keyboards,
        answered_with_a_notice: sim.obs.answered_with_a_notice,
        setups_unfinished: sim.people.iter().filter(|p| !p.script.is_empty()).count(),
        ticks_left_due: sim.obs.ticks_left_due,
        steps,
        load: day_load(&per_minute, hours / 24.0),
        wall_seconds: Some(wall.elapsed().as_secs_f64()),
        peak_memory_mib: peak_memory_mib(),
        wall_split_seconds: Some(
            [
                "storing inputs",
                "processing",
                "scheduler",
                "delivery",
                "people and next due",
            ]
            .iter()
            .zip(spent)
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        ),
    })
}
