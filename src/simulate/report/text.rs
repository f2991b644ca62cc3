//! The report as the operator reads it in a terminal: first what a service manager asks,
//! then the engineering figures.

use chrono::{DateTime, Utc};

use super::{PerRecipient, Report};
use crate::simulate::TZ;

fn t(v: &Option<(DateTime<Utc>, u32)>) -> String {
    match v {
        Some((at, n)) => format!("{n} at {}", at.with_timezone(&TZ).format("%a %-d %b %H:%M")),
        None => "none".into(),
    }
}

/// "  alerts per supporter a month: mean 0.27, p95 1.07, max 3.21 (140 in all)".
fn per_month(name: &str, r: &PerRecipient) -> String {
    let month = 30.44 / 7.0;
    format!(
        "  {name} a month: mean {:.2}, p95 {:.2}, max {:.2} ({} in all, {} recipients)\n",
        r.mean_per_week * month,
        r.p95_per_week * month,
        r.max_per_week * month,
        r.total,
        r.recipients
    )
}

/// "45 min", "8.2 h", "none".
fn minutes(m: f64) -> String {
    if m <= 0.0 {
        "none".into()
    } else if m < 90.0 {
        format!("{m:.0} min")
    } else {
        format!("{:.1} h", m / 60.0)
    }
}

fn line(name: &str, r: &PerRecipient) -> String {
    format!(
        "{name:<11} {:>6} sent; per recipient per week ({} recipients): mean {:.3}, p95 {:.2}, max {:.2}\n",
        r.total, r.recipients, r.mean_per_week, r.p95_per_week, r.max_per_week
    )
}

impl Report {
    /// The report for the operator's terminal: first what a service manager asks (check-in
    /// rates, alerts per supporter and nudges per carer a month, time to acknowledge), then
    /// the engineering figures.
    pub fn text(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "staywell simulate: {} members, {} days, seed {}{}\n",
            self.members,
            self.days,
            self.seed,
            if self.partial {
                format!(
                    " — PARTIAL (interrupted at {})",
                    self.simulated_until
                        .with_timezone(&TZ)
                        .format("%a %-d %b %H:%M")
                )
            } else {
                String::new()
            }
        ));
        s.push_str(&format!(
            "in their circles: {} supporters and {} carers\n",
            self.supporters.saturating_sub(self.carers),
            self.carers
        ));
        s.push_str("\nFor the service\n");
        let count = |k: &str| self.checkins.get(k).copied().unwrap_or(0);
        let due = count("completed") + count("partial") + count("missed");
        let pct = |n: i64| 100.0 * n as f64 / due.max(1) as f64;
        s.push_str(&format!(
            "  check-ins due {due}: completed {:.1} %, partial {:.1} %, missed {:.1} % (bot away: {}, paused: {})\n",
            pct(count("completed")),
            pct(count("partial")),
            pct(count("missed")),
            count("unknown"),
            count("paused")
        ));
        s.push_str(&per_month("alerts per supporter", &self.alerts));
        s.push_str(&per_month("urgent alerts per supporter", &self.urgent));
        s.push_str(&per_month("nudges per carer", &self.nudges));
        s.push_str(&per_month("notes to self per member", &self.self_help));
        let ack = &self.time_to_acknowledge_min;
        s.push_str(&format!(
            "  acknowledged {} of {} alerts: time to acknowledge p50 {}, p95 {}, max {}; passed on to the next supporter {}\n",
            self.acknowledged,
            self.alerts.total + self.urgent.total,
            minutes(ack.p50),
            minutes(ack.p95),
            minutes(ack.max),
            self.escalations
        ));
        s.push_str(&format!(
            "  asked first {}: told at their word {}; not told at their word {}; no answer in time {}\n",
            self.asked_first,
            self.asked_first_told,
            self.asked_first_not_told,
            self.asked_first_unanswered
        ));
        s.push_str(&format!(
            "  feel safe? not sure {}, not safe {}; crisis contacts shown to members {} (at /start, and at every answer not sure or not safe)\n",
            self.unsure_answers, self.not_safe_answers, self.crisis_cards_seen
        ));
        s.push_str(&format!(
            "  alerts sent to the circle {}, without a standing consent {}\n",
            self.alerts_sent_to_circle, self.alerts_without_standing_consent
        ));
        s.push_str("\nEngineering\n");
        s.push_str(&format!(
            "profile {} (sha256 {})\n",
            self.profile.name,
            self.profile.sha256.get(..12).unwrap_or("")
        ));
        s.push_str(&format!(
            "inputs {}; calls to Telegram {} ({:.0} per hour on average)\n",
            self.inputs, self.calls, self.mean_calls_per_hour
        ));
        s.push_str(&format!(
            "peak hour {}; peak minute {}\n",
            t(&self.peak_hour),
            t(&self.peak_minute)
        ));
        if let Some((m, n, drain)) = &self.busiest_prompt_minute {
            s.push_str(&format!(
                "busiest minute for prompts: {n} queued at {}; all delivered after {}\n",
                m.with_timezone(&TZ).format("%a %-d %b %H:%M"),
                drain.map_or("(not all delivered)".into(), |d| format!("{d:.1} s"))
            ));
        }
        let hours: Vec<String> = self.peak_hours.iter().map(|h| format!("{h:02}")).collect();
        let peak = format!(
            "reply latency mid-check-in, peak hours ({})",
            hours.join(", ")
        );
        for (name, l) in [
            (
                "prompts and reminders, queued to delivered",
                &self.prompt_delay_s,
            ),
            (peak.as_str(), &self.reply_latency_peak_s),
            ("reply latency mid-check-in, all", &self.reply_latency_all_s),
        ] {
            s.push_str(&format!(
                "{name}: {}, p50 {:.1} s, p95 {:.1} s, p99 {:.1} s, max {:.1} s\n",
                l.count, l.p50, l.p95, l.p99, l.max
            ));
        }
        if self.prompts_waiting > 0 {
            s.push_str(&format!(
                "prompts and reminders still waiting at the end: {}\n",
                self.prompts_waiting
            ));
        }
        s.push_str(&format!(
            "429s received {}; limit violations {}\n",
            self.retry_afters, self.limit_violations
        ));
        s.push_str(&format!(
            "check-ins: {}; closed without an outcome: {}\n",
            self.checkins
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.slots_closed_without_outcome
        ));
        s.push_str(&line("alerts", &self.alerts));
        s.push_str(&line("urgent", &self.urgent));
        s.push_str(&line("nudges", &self.nudges));
        s.push_str(&line("self-help", &self.self_help));
        if self.answered_with_a_notice > 0 {
            s.push_str(&format!(
                "answers met with a notice and no next message (stale or early presses): {}\n",
                self.answered_with_a_notice
            ));
        }
        if self.unrecognised_keyboards > 0 {
            s.push_str(&format!(
                "keyboards the synthetic people did not know how to answer: {}\n",
                self.unrecognised_keyboards
            ));
        }
        if self.setups_unfinished > 0 {
            s.push_str(&format!(
                "people whose setup did not finish: {}\n",
                self.setups_unfinished
            ));
        }
        if self.ticks_left_due > 0 {
            s.push_str(&format!(
                "scheduler ticks that left something due: {}\n",
                self.ticks_left_due
            ));
        }
        if let Some(w) = self.wall_seconds {
            s.push_str(&format!("wall time {w:.1} s ({} steps)", self.steps));
            if let Some(split) = &self.wall_split_seconds {
                let parts: Vec<String> =
                    split.iter().map(|(k, v)| format!("{k} {v:.1} s")).collect();
                s.push_str(&format!(": {}", parts.join(", ")));
            }
            s.push('\n');
        }
        if let Some(m) = self.peak_memory_mib {
            s.push_str(&format!("peak memory {m:.0} MiB\n"));
        }
        s
    }
}
