//! The profile file as written: every key optional, unknown keys refused.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    #[serde(default)]
    pub(super) onboarding: RawOnboarding,
    #[serde(default)]
    pub(super) checkins: RawCheckins,
    #[serde(default)]
    pub(super) mood: RawMood,
    #[serde(default)]
    pub(super) circle: RawCircle,
    #[serde(default)]
    pub(super) plans: RawPlans,
    #[serde(default)]
    pub(super) asked: RawAsked,
    #[serde(default)]
    pub(super) supporters: RawSupporters,
}

pub(super) type Num = Option<Spanned<f64>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOnboarding {
    pub(super) join_spread_hours: Num,
    pub(super) timezones: Option<Spanned<BTreeMap<Spanned<String>, Spanned<f64>>>>,
    #[serde(default)]
    pub(super) step_delay: RawDelay,
    pub(super) checkin_times: Option<Spanned<Vec<Spanned<RawTime>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTime {
    pub(super) weight: Spanned<f64>,
    pub(super) at: Option<Spanned<String>>,
    pub(super) spread_minutes: Num,
    pub(super) from: Option<Spanned<String>>,
    pub(super) to: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheckins {
    pub(super) full: Num,
    pub(super) partial: Num,
    #[serde(default)]
    pub(super) first_answer: RawDelay,
    #[serde(default)]
    pub(super) next_answer: RawDelay,
    pub(super) unsure: Num,
    pub(super) not_safe: Num,
    pub(super) poor_sleep_at_mood: Num,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMood {
    pub(super) base: Option<Spanned<Vec<f64>>>,
    pub(super) daily_noise: Num,
    pub(super) other_scales_noise: Num,
    #[serde(default)]
    pub(super) declines: RawDeclines,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeclines {
    pub(super) first_day: Option<Spanned<Vec<f64>>>,
    pub(super) every_days: Option<Spanned<Vec<f64>>>,
    pub(super) chance: Num,
    pub(super) length_days: Option<Spanned<Vec<f64>>>,
    pub(super) depth: Option<Spanned<Vec<f64>>>,
    pub(super) recovery_days: Num,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCircle {
    pub(super) sizes: Option<Spanned<Vec<f64>>>,
    pub(super) carers: Num,
    pub(super) plan: Num,
    #[serde(default)]
    pub(super) invite_accept: RawDelay,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlans {
    pub(super) ask_first: Num,
    pub(super) urgent: Num,
    pub(super) self_help: Num,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAsked {
    pub(super) tell: Num,
    pub(super) dont: Num,
    #[serde(default)]
    pub(super) answer_delay: RawDelay,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSupporters {
    pub(super) acknowledge: Num,
    #[serde(default)]
    pub(super) acknowledge_delay: RawDelay,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelay {
    pub(super) median_seconds: Num,
    pub(super) spread: Num,
    pub(super) min_seconds: Num,
    pub(super) max_seconds: Num,
}
