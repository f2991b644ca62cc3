//! `staywell rules backtest`: replays stored history through the current templates and plans
//! (`rules::replay`) and prints which alerts would have fired when, and alerts per member per
//! month — to tune thresholds against alert fatigue before changing them. Reads only; prints
//! ids, dates and rule ids, never answers.

use std::collections::BTreeMap;
use std::process::ExitCode;

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::domain::MemberId;
use crate::early_warning::{COOLDOWN, REARM_AFTER, build_history};
use crate::rules::{Firing, Template, replay};
use crate::store::Store;
use crate::store::prelude::*;

/// What one member's replay found.
pub struct MemberReplay {
    pub member: MemberId,
    pub firings: Vec<Firing>,
    /// Days of history replayed.
    pub days: f64,
}

/// Alerts per member per month over all replays: (mean, max).
pub fn per_month(replays: &[MemberReplay]) -> (f64, f64) {
    let rates: Vec<f64> = replays
        .iter()
        .map(|r| r.firings.len() as f64 / (r.days.max(1.0) / 30.0))
        .collect();
    if rates.is_empty() {
        return (0.0, 0.0);
    }
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let max = rates.iter().copied().fold(0.0, f64::max);
    (mean, max)
}

pub async fn run(
    settings: Settings,
    member: Option<i64>,
    since: Option<String>,
    all_templates: bool,
) -> ExitCode {
    match backtest(settings, member, since, all_templates).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn backtest(
    settings: Settings,
    member: Option<i64>,
    since: Option<String>,
    all_templates: bool,
) -> anyhow::Result<()> {
    let now = SystemClock.now();
    let since = match since {
        Some(s) => {
            let day = NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .map_err(|_| anyhow::anyhow!("--since must look like 2026-03-01"))?;
            Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        }
        None => now - Duration::days(90),
    };
    let Some(store) = Store::connect_existing(&settings.database_url).await? else {
        anyhow::bail!("no database at DATABASE_URL: nothing to replay");
    };
    let dialogs = crate::machinery::load_dialogs_readonly(&settings.dialogs_dir, &store).await?;
    let templates = crate::machinery::load_templates(&settings.dialogs_dir, &dialogs)?;
    let members = match member {
        Some(m) => vec![MemberId(m)],
        None => store.member_ids().await?,
    };
    let mut replays = Vec::new();
    let mut conn = store.begin().await?;
    for m in members {
        let plan: Vec<(&Template, BTreeMap<String, f64>)> = if all_templates {
            templates.values().map(|t| (t, t.defaults())).collect()
        } else {
            conn.member_plan(m)
                .await?
                .into_iter()
                .filter_map(|r| templates.get(&r.rule_id).map(|t| (t, r.params)))
                .collect()
        };
        if plan.is_empty() {
            continue;
        }
        let tz = conn
            .member_basics(m)
            .await?
            .map_or(chrono_tz::Europe::London, |b| b.timezone);
        let raw = conn.raw_history(m, since).await?;
        let history = build_history(&raw, &dialogs, tz);
        let days = history
            .first()
            .map(|c| (now - c.at).num_hours() as f64 / 24.0)
            .unwrap_or(0.0);
        let firings = replay(&plan, &history, &templates, REARM_AFTER, COOLDOWN);
        for f in &firings {
            println!("member {:>6}  {}  {:<18} {}", m.0, f.date, f.rule, f.reason);
        }
        replays.push(MemberReplay {
            member: m,
            firings,
            days,
        });
    }
    drop(conn);
    let total: usize = replays.iter().map(|r| r.firings.len()).sum();
    let (mean, max) = per_month(&replays);
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &replays {
        for f in &r.firings {
            *by_rule.entry(f.rule.as_str()).or_default() += 1;
        }
    }
    println!(
        "\n{} member(s) replayed since {}: {total} alert(s); per member per month: mean {mean:.2}, max {max:.2}",
        replays.len(),
        since.date_naive()
    );
    for (rule, n) in by_rule {
        println!("  {rule:<18} {n}");
    }
    if let Some(r) = replays.iter().max_by_key(|r| r.firings.len())
        && !r.firings.is_empty()
    {
        println!("most alerts: member {} ({})", r.member.0, r.firings.len());
    }
    store.close().await;
    Ok(())
}
