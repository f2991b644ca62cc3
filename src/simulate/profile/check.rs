//! Validation of a profile file into the checked [`Profile`], every problem with its position.

use std::path::Path;

use chrono_tz::Tz;
use toml::Spanned;

use super::raw::{Num, Raw, RawDelay, RawTime};
use super::{CheckinTime, Delay, EARLIEST_MINUTE, LATEST_MINUTE, MAX_CIRCLE, Profile};
use crate::diagnostic::Diagnostic;
use crate::schedule::LocalTime;

impl Profile {
    /// `src` (the text of `file`) over `base`: each key present replaces its value. Every
    /// problem is collected.
    pub fn parse(file: &Path, src: &str, base: Profile) -> Result<Profile, Vec<Diagnostic>> {
        let raw: Raw =
            toml::from_str(src).map_err(|e| vec![Diagnostic::from_toml(file, src, &e)])?;
        let mut p = base;
        let mut c = Check {
            file,
            src,
            diags: Vec::new(),
        };

        let o = &raw.onboarding;
        c.number(
            "onboarding.join_spread_hours",
            &o.join_spread_hours,
            0.0,
            24.0,
            &mut p.onboarding.join_spread_hours,
        );
        if let Some(zones) = &o.timezones {
            let mut out = Vec::new();
            let mut ok = true;
            for (name, w) in zones.get_ref() {
                let key = format!("onboarding.timezones.\"{}\"", name.get_ref());
                let mut weight = 0.0;
                ok &= c.number(&key, &Some(w.clone()), 0.0, f64::INFINITY, &mut weight);
                match name.get_ref().parse::<Tz>() {
                    Ok(tz) => out.push((tz, weight)),
                    Err(_) => {
                        ok = false;
                        c.bad(
                            &key,
                            name,
                            "not a timezone (names look like Europe/London, Africa/Lagos, America/New_York)",
                        );
                    }
                }
            }
            if ok && c.weights_ok("onboarding.timezones", zones, out.iter().map(|z| z.1)) {
                p.onboarding.timezones = out;
            }
        }
        c.delay(
            "onboarding.step_delay",
            &o.step_delay,
            &mut p.onboarding.step_delay,
        );
        if let Some(times) = &o.checkin_times {
            let mut out = Vec::new();
            for t in times.get_ref() {
                if let Some(choice) = c.checkin_time(t) {
                    out.push(choice);
                }
            }
            if out.len() == times.get_ref().len()
                && c.weights_ok("onboarding.checkin_times", times, out.iter().map(|t| t.0))
            {
                p.onboarding.checkin_times = out;
            }
        }

        let k = &raw.checkins;
        c.number("checkins.full", &k.full, 0.0, 1.0, &mut p.checkins.full);
        c.number(
            "checkins.partial",
            &k.partial,
            0.0,
            1.0,
            &mut p.checkins.partial,
        );
        c.shares(
            [("checkins.full", &k.full), ("checkins.partial", &k.partial)],
            p.checkins.full + p.checkins.partial,
            "the rest ignore the day's check-in",
        );
        c.delay(
            "checkins.first_answer",
            &k.first_answer,
            &mut p.checkins.first_answer,
        );
        c.delay(
            "checkins.next_answer",
            &k.next_answer,
            &mut p.checkins.next_answer,
        );
        c.number(
            "checkins.unsure",
            &k.unsure,
            0.0,
            1.0,
            &mut p.checkins.unsure,
        );
        c.number(
            "checkins.not_safe",
            &k.not_safe,
            0.0,
            1.0,
            &mut p.checkins.not_safe,
        );
        c.shares(
            [
                ("checkins.unsure", &k.unsure),
                ("checkins.not_safe", &k.not_safe),
            ],
            p.checkins.unsure + p.checkins.not_safe,
            "the rest feel safe",
        );
        c.number(
            "checkins.poor_sleep_at_mood",
            &k.poor_sleep_at_mood,
            -1.0,
            10.0,
            &mut p.checkins.poor_sleep_at_mood,
        );

        let m = &raw.mood;
        c.range("mood.base", &m.base, 0.0, 10.0, &mut p.mood.base);
        c.number(
            "mood.daily_noise",
            &m.daily_noise,
            0.0,
            10.0,
            &mut p.mood.daily_noise,
        );
        c.number(
            "mood.other_scales_noise",
            &m.other_scales_noise,
            0.0,
            10.0,
            &mut p.mood.other_scales_noise,
        );
        let d = &m.declines;
        let out = &mut p.mood.declines;
        c.range(
            "mood.declines.first_day",
            &d.first_day,
            0.0,
            f64::INFINITY,
            &mut out.first_day,
        );
        c.range(
            "mood.declines.every_days",
            &d.every_days,
            1.0,
            f64::INFINITY,
            &mut out.every_days,
        );
        c.number("mood.declines.chance", &d.chance, 0.0, 1.0, &mut out.chance);
        c.range(
            "mood.declines.length_days",
            &d.length_days,
            0.0,
            f64::INFINITY,
            &mut out.length_days,
        );
        c.range("mood.declines.depth", &d.depth, 0.0, 10.0, &mut out.depth);
        c.number(
            "mood.declines.recovery_days",
            &d.recovery_days,
            0.0,
            f64::INFINITY,
            &mut out.recovery_days,
        );

        let ci = &raw.circle;
        if let Some(sizes) = &ci.sizes {
            let n = sizes.get_ref().len();
            if n > MAX_CIRCLE + 1 {
                c.bad(
                    "circle.sizes",
                    sizes,
                    &format!(
                        "weights for circles of 0 to {} supporters, but a circle holds at most {MAX_CIRCLE}: give at most {} weights (for 0 to {MAX_CIRCLE})",
                        n - 1,
                        MAX_CIRCLE + 1
                    ),
                );
            } else {
                let mut ok = true;
                for w in sizes.get_ref() {
                    if !w.is_finite() || *w < 0.0 {
                        c.bad(
                            "circle.sizes",
                            sizes,
                            "each weight must be a number 0 or more",
                        );
                        ok = false;
                        break;
                    }
                }
                if ok && c.weights_ok("circle.sizes", sizes, sizes.get_ref().iter().copied()) {
                    p.circle.sizes = sizes.get_ref().clone();
                }
            }
        }
        c.number("circle.carers", &ci.carers, 0.0, 1.0, &mut p.circle.carers);
        c.number("circle.plan", &ci.plan, 0.0, 1.0, &mut p.circle.plan);
        c.delay(
            "circle.invite_accept",
            &ci.invite_accept,
            &mut p.circle.invite_accept,
        );

        let pl = &raw.plans;
        c.number(
            "plans.ask_first",
            &pl.ask_first,
            0.0,
            1.0,
            &mut p.plans.ask_first,
        );
        c.number("plans.urgent", &pl.urgent, 0.0, 1.0, &mut p.plans.urgent);
        c.number(
            "plans.self_help",
            &pl.self_help,
            0.0,
            1.0,
            &mut p.plans.self_help,
        );

        let a = &raw.asked;
        c.number("asked.tell", &a.tell, 0.0, 1.0, &mut p.asked.tell);
        c.number("asked.dont", &a.dont, 0.0, 1.0, &mut p.asked.dont);
        c.shares(
            [("asked.tell", &a.tell), ("asked.dont", &a.dont)],
            p.asked.tell + p.asked.dont,
            "the rest don't answer",
        );
        c.delay(
            "asked.answer_delay",
            &a.answer_delay,
            &mut p.asked.answer_delay,
        );

        let s = &raw.supporters;
        c.number(
            "supporters.acknowledge",
            &s.acknowledge,
            0.0,
            1.0,
            &mut p.supporters.acknowledge,
        );
        c.delay(
            "supporters.acknowledge_delay",
            &s.acknowledge_delay,
            &mut p.supporters.acknowledge_delay,
        );

        if c.diags.is_empty() {
            Ok(p)
        } else {
            Err(c.diags)
        }
    }
}

/// Collects the problems of one file.
struct Check<'a> {
    file: &'a Path,
    src: &'a str,
    diags: Vec<Diagnostic>,
}

impl Check<'_> {
    /// `key = <the value as written>: problem`, at the value.
    fn bad<T>(&mut self, key: &str, v: &Spanned<T>, problem: &str) {
        let span = v.span();
        let written = self
            .src
            .get(span.clone())
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let shown = if written.chars().count() > 60 {
            format!("{}…", written.chars().take(60).collect::<String>())
        } else {
            written
        };
        self.diags.push(Diagnostic::at(
            self.file,
            self.src,
            Some(span),
            format!("{key} = {shown}: {problem}"),
        ));
    }

    /// A number between `lo` and `hi` (inclusive), written into `out` if present and valid.
    fn number(&mut self, key: &str, v: &Num, lo: f64, hi: f64, out: &mut f64) -> bool {
        let Some(v) = v else { return true };
        let x = *v.get_ref();
        if !x.is_finite() {
            self.bad(key, v, "must be a finite number");
            return false;
        }
        if x < lo || x > hi {
            let problem = match (lo, hi) {
                (0.0, 1.0) => "must be between 0 and 1".to_string(),
                (lo, hi) if hi.is_infinite() => format!("must be {lo} or more"),
                (lo, hi) => format!("must be between {lo} and {hi}"),
            };
            self.bad(key, v, &problem);
            return false;
        }
        *out = x;
        true
    }

    /// Two shares of one whole (`total`, already read) that must not pass 1; the problem is
    /// put at the second key written (the first if only it is).
    fn shares(&mut self, keys: [(&str, &Num); 2], total: f64, rest: &str) {
        if total <= 1.0 + 1e-9 {
            return;
        }
        let written = keys
            .iter()
            .rev()
            .find_map(|(key, v)| v.as_ref().map(|v| (*key, v)));
        if let Some((key, v)) = written {
            let (a, b) = (keys[0].0, keys[1].0);
            self.bad(
                key,
                v,
                &format!("{a} + {b} = {total:.3}: they must add up to at most 1 ({rest})"),
            );
        }
    }

    /// `[from, to]` with `lo <= from <= to <= hi`.
    fn range(
        &mut self,
        key: &str,
        v: &Option<Spanned<Vec<f64>>>,
        lo: f64,
        hi: f64,
        out: &mut (f64, f64),
    ) {
        let Some(v) = v else { return };
        let &[a, b] = v.get_ref().as_slice() else {
            self.bad(key, v, "must be two numbers, [from, to]");
            return;
        };
        let bounds = if hi.is_infinite() {
            format!("{lo} or more")
        } else {
            format!("between {lo} and {hi}")
        };
        if !(a.is_finite() && b.is_finite()) || a < lo || b > hi {
            self.bad(key, v, &format!("both numbers must be {bounds}"));
        } else if a > b {
            self.bad(
                key,
                v,
                "the first number must not be larger than the second",
            );
        } else {
            *out = (a, b);
        }
    }

    /// Weights whose sum is positive (each was already checked to be 0 or more).
    fn weights_ok<T>(&mut self, key: &str, v: &Spanned<T>, w: impl Iterator<Item = f64>) -> bool {
        let mut n = 0;
        let mut sum = 0.0;
        for x in w {
            n += 1;
            sum += x;
        }
        if n == 0 {
            self.bad(key, v, "needs at least one entry");
            false
        } else if sum.is_finite() && sum > 0.0 {
            true
        } else {
            self.bad(
                key,
                v,
                "the weights add up to 0: at least one must be more than 0",
            );
            false
        }
    }

    fn delay(&mut self, key: &str, raw: &RawDelay, out: &mut Delay) {
        let mut d = *out;
        let mut ok = true;
        for (name, v, field) in [
            ("median_seconds", &raw.median_seconds, &mut d.median),
            ("spread", &raw.spread, &mut d.spread),
            ("min_seconds", &raw.min_seconds, &mut d.min),
            ("max_seconds", &raw.max_seconds, &mut d.max),
        ] {
            ok &= self.number(&format!("{key}.{name}"), v, 0.0, f64::INFINITY, field);
        }
        if !ok {
            return;
        }
        if d.min > d.max {
            let at = [
                ("max_seconds", &raw.max_seconds),
                ("min_seconds", &raw.min_seconds),
            ]
            .into_iter()
            .find_map(|(name, v)| v.as_ref().map(|v| (name, v)));
            if let Some((name, v)) = at {
                self.bad(
                    &format!("{key}.{name}"),
                    v,
                    &format!(
                        "min_seconds ({}) must not be more than max_seconds ({})",
                        d.min, d.max
                    ),
                );
            }
            return;
        }
        *out = d;
    }

    fn time(&mut self, key: &str, v: &Spanned<String>) -> Option<u32> {
        let Some(t) = LocalTime::parse(v.get_ref()) else {
            self.bad(key, v, "must be a time like \"09:00\"");
            return None;
        };
        let m = t.hour * 60 + t.minute;
        if !(EARLIEST_MINUTE..=LATEST_MINUTE).contains(&m) {
            self.bad(
                key,
                v,
                "must be between 08:00 and 21:45 (outside the default quiet hours, 22:00-08:00)",
            );
            return None;
        }
        Some(m)
    }

    fn checkin_time(&mut self, t: &Spanned<RawTime>) -> Option<(f64, CheckinTime)> {
        let key = "onboarding.checkin_times";
        let r = t.get_ref();
        let mut weight = 0.0;
        let mut ok = self.number(
            &format!("{key}.weight"),
            &Some(r.weight.clone()),
            0.0,
            f64::INFINITY,
            &mut weight,
        );
        let choice = match (&r.at, &r.from, &r.to) {
            (Some(at), None, None) => {
                let at = self.time(&format!("{key}.at"), at);
                let mut spread = 0.0;
                ok &= self.number(
                    &format!("{key}.spread_minutes"),
                    &r.spread_minutes,
                    0.0,
                    f64::INFINITY,
                    &mut spread,
                );
                at.map(|at| {
                    if r.spread_minutes.is_some() {
                        CheckinTime::Around {
                            at,
                            spread_minutes: spread,
                        }
                    } else {
                        CheckinTime::At(at)
                    }
                })
            }
            (None, Some(from), Some(to)) => {
                if let Some(s) = &r.spread_minutes {
                    self.bad(
                        &format!("{key}.spread_minutes"),
                        s,
                        "goes with `at`, not with `from` and `to`",
                    );
                    ok = false;
                }
                let from_m = self.time(&format!("{key}.from"), from);
                let to_m = self.time(&format!("{key}.to"), to);
                match (from_m, to_m) {
                    (Some(a), Some(b)) if a > b => {
                        self.bad(&format!("{key}.to"), to, "must not be earlier than `from`");
                        None
                    }
                    (Some(a), Some(b)) => Some(CheckinTime::Between { from: a, to: b }),
                    _ => None,
                }
            }
            _ => {
                self.diags.push(Diagnostic::at(
                    self.file,
                    self.src,
                    Some(t.span()),
                    format!(
                        "{key}: each entry needs either `at` (with or without `spread_minutes`) or both `from` and `to`"
                    ),
                ));
                None
            }
        };
        match choice {
            Some(choice) if ok => Some((weight, choice)),
            _ => None,
        }
    }
}
