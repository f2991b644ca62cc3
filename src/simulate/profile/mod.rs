//! How the synthetic cohort behaves: a [`Profile`], read from TOML. The defaults are
//! `dialogs/simulate-profile.toml`, compiled in; `--profile FILE` overrides any of its keys
//! (every key optional, unknown keys refused). Impossible values are reported with the file,
//! line and key, every one of them, before anything runs.
//! `raw` is the file's shape; `check` validates it into a [`Profile`].

mod check;
mod raw;

use std::path::Path;

use chrono_tz::Tz;

use super::people::Rng;
use crate::diagnostic::Diagnostic;

/// The shipped defaults (also the operator's template to copy).
pub const DEFAULT: &str = include_str!("../../../dialogs/simulate-profile.toml");
pub const DEFAULT_NAME: &str = "dialogs/simulate-profile.toml";

/// Check-in times are kept outside the default quiet hours (22:00–08:00).
pub const EARLIEST_MINUTE: u32 = 8 * 60;
pub const LATEST_MINUTE: u32 = 21 * 60 + 45;
/// The largest circle a profile may give a member.
pub const MAX_CIRCLE: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub onboarding: Onboarding,
    pub checkins: Checkins,
    pub mood: Mood,
    pub circle: Circle,
    pub plans: Plans,
    pub asked: Asked,
    pub supporters: Supporters,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Onboarding {
    pub join_spread_hours: f64,
    /// Timezones with their weights, in name order.
    pub timezones: Vec<(Tz, f64)>,
    pub step_delay: Delay,
    pub checkin_times: Vec<(f64, CheckinTime)>,
}

/// One way of choosing a daily check-in time (minutes after local midnight).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckinTime {
    At(u32),
    Around { at: u32, spread_minutes: f64 },
    Between { from: u32, to: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Checkins {
    pub full: f64,
    pub partial: f64,
    pub first_answer: Delay,
    pub next_answer: Delay,
    /// On a low day, the shares of "Do you feel safe right now?" answered "I'm not sure" and
    /// "I don't feel safe".
    pub unsure: f64,
    pub not_safe: f64,
    /// A day whose mood answer is at or below this has a fairly bad night's sleep.
    pub poor_sleep_at_mood: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mood {
    pub base: (f64, f64),
    pub daily_noise: f64,
    pub other_scales_noise: f64,
    pub declines: Declines,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Declines {
    pub first_day: (f64, f64),
    pub every_days: (f64, f64),
    pub chance: f64,
    pub length_days: (f64, f64),
    pub depth: (f64, f64),
    pub recovery_days: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Circle {
    /// Weights for 0, 1, 2, … people in a member's circle.
    pub sizes: Vec<f64>,
    /// The share of them invited as carers (gentle nudges) rather than supporters (alerts).
    pub carers: f64,
    pub plan: f64,
    pub invite_accept: Delay,
}

/// What goes into a member's early-warning plan beyond low mood.
#[derive(Debug, Clone, PartialEq)]
pub struct Plans {
    /// Of the plan makers, those whose low-mood sign asks them first.
    pub ask_first: f64,
    /// Of the plan makers with a supporter, those who add "I don't feel safe" (urgent).
    pub urgent: f64,
    /// Of all members, those who add "poor sleep" as a note to themselves, with coping notes.
    pub self_help: f64,
}

/// How a member answers an ask-first question.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub tell: f64,
    pub dont: f64,
    pub answer_delay: Delay,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Supporters {
    pub acknowledge: f64,
    pub acknowledge_delay: Delay,
}

/// A log-normal delay in seconds, kept between `min` and `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delay {
    pub median: f64,
    pub spread: f64,
    pub min: f64,
    pub max: f64,
}

impl Delay {
    pub fn draw(&self, rng: &mut Rng) -> f64 {
        rng.lognormal(self.median, self.spread)
            .clamp(self.min, self.max)
    }
}

/// The index a uniform `r` in [0, 1) picks from these weights (their sum is positive).
pub fn pick(weights: impl Iterator<Item = f64> + Clone, r: f64) -> usize {
    let total: f64 = weights.clone().sum();
    let x = r * total;
    let mut cum = 0.0;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if w > 0.0 {
            last = i;
        }
        cum += w;
        if x < cum {
            return i;
        }
    }
    last
}

impl Profile {
    /// The shipped defaults.
    pub fn builtin() -> Result<Profile, Vec<Diagnostic>> {
        Profile::parse(Path::new(DEFAULT_NAME), DEFAULT, Profile::blank(0.0))
    }

    /// Reads a profile file over the defaults.
    pub fn load(file: &Path, src: &str) -> Result<Profile, Vec<Diagnostic>> {
        Profile::parse(file, src, Profile::builtin()?)
    }

    /// Every number `v`, every list empty: what the defaults are written over.
    fn blank(v: f64) -> Profile {
        let delay = Delay {
            median: v,
            spread: v,
            min: v,
            max: v,
        };
        Profile {
            onboarding: Onboarding {
                join_spread_hours: v,
                timezones: Vec::new(),
                step_delay: delay,
                checkin_times: Vec::new(),
            },
            checkins: Checkins {
                full: v,
                partial: v,
                first_answer: delay,
                next_answer: delay,
                unsure: v,
                not_safe: v,
                poor_sleep_at_mood: v,
            },
            mood: Mood {
                base: (v, v),
                daily_noise: v,
                other_scales_noise: v,
                declines: Declines {
                    first_day: (v, v),
                    every_days: (v, v),
                    chance: v,
                    length_days: (v, v),
                    depth: (v, v),
                    recovery_days: v,
                },
            },
            circle: Circle {
                sizes: Vec::new(),
                carers: v,
                plan: v,
                invite_accept: delay,
            },
            plans: Plans {
                ask_first: v,
                urgent: v,
                self_help: v,
            },
            asked: Asked {
                tell: v,
                dont: v,
                answer_delay: delay,
            },
            supporters: Supporters {
                acknowledge: v,
                acknowledge_delay: delay,
            },
        }
    }

    /// A member's daily check-in time, minutes after local midnight.
    pub fn checkin_minute(&self, rng: &mut Rng) -> u32 {
        let times = &self.onboarding.checkin_times;
        let i = pick(times.iter().map(|t| t.0), rng.f64());
        let m = match times.get(i).map(|t| t.1) {
            Some(CheckinTime::At(at)) => f64::from(at),
            Some(CheckinTime::Around { at, spread_minutes }) => {
                f64::from(at) + rng.normal() * spread_minutes
            }
            Some(CheckinTime::Between { from, to }) => rng.range(f64::from(from), f64::from(to)),
            None => f64::from(EARLIEST_MINUTE),
        };
        m.round()
            .clamp(f64::from(EARLIEST_MINUTE), f64::from(LATEST_MINUTE)) as u32
    }

    /// A member's timezone (drawn only when the profile has more than one).
    pub fn timezone(&self, rng: &mut Rng) -> Tz {
        let zones = &self.onboarding.timezones;
        match zones.len() {
            0 => chrono_tz::Europe::London,
            1 => zones[0].0,
            _ => zones[pick(zones.iter().map(|z| z.1), rng.f64())].0,
        }
    }

    /// How many supporters a member invites.
    pub fn circle_size(&self, rng: &mut Rng) -> usize {
        pick(self.circle.sizes.iter().copied(), rng.f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str) -> Result<Profile, Vec<String>> {
        Profile::load(Path::new("p.toml"), src)
            .map_err(|d| d.iter().map(|d| d.to_string()).collect())
    }

    /// The first problem's first line.
    fn error(src: &str) -> String {
        let errs = load(src).expect_err("should be refused");
        errs[0].lines().next().unwrap_or("").to_string()
    }

    #[test]
    fn the_defaults_load_and_set_every_key() {
        let a = Profile::parse(Path::new("d"), DEFAULT, Profile::blank(0.0)).unwrap();
        let b = Profile::parse(Path::new("d"), DEFAULT, Profile::blank(99.0)).unwrap();
        assert_eq!(a, b, "a value is missing from the default profile");
        assert_eq!(a.checkins.full, 0.75);
        assert_eq!(a.circle.sizes, vec![0.30, 0.35, 0.23, 0.12]);
        assert_eq!(
            a.onboarding.timezones,
            vec![(chrono_tz::Europe::London, 1.0)]
        );
        assert_eq!(a.onboarding.checkin_times.len(), 5);
        assert_eq!(
            a.onboarding.checkin_times[0],
            (0.20, CheckinTime::At(9 * 60))
        );
        assert_eq!(
            a.onboarding.checkin_times[4],
            (
                0.15,
                CheckinTime::Between {
                    from: 8 * 60,
                    to: 21 * 60 + 45
                }
            )
        );
    }

    #[test]
    fn an_empty_profile_is_the_defaults() {
        assert_eq!(load("").unwrap(), Profile::builtin().unwrap());
    }

    #[test]
    fn a_partial_profile_changes_only_its_keys() {
        let p = load(
            "[checkins]\nfull = 0\npartial = 0\n[checkins.first_answer]\nmedian_seconds = 60\n",
        )
        .unwrap();
        let d = Profile::builtin().unwrap();
        assert_eq!((p.checkins.full, p.checkins.partial), (0.0, 0.0));
        assert_eq!(p.checkins.first_answer.median, 60.0);
        assert_eq!(p.checkins.first_answer.max, d.checkins.first_answer.max);
        assert_eq!(p.mood, d.mood);
        assert_eq!(p.onboarding, d.onboarding);
    }

    #[test]
    fn impossible_values_name_the_key_and_the_line() {
        let mut wrong = Vec::new();
        for (src, expected) in [
            (
                "[checkins]\n\nfull = -0.2\n",
                "p.toml:3:8: error: checkins.full = -0.2: must be between 0 and 1",
            ),
            (
                "[checkins]\nfull = 0.9\npartial = 0.2\n",
                "p.toml:3:11: error: checkins.partial = 0.2: checkins.full + checkins.partial = 1.100",
            ),
            (
                "[supporters]\nacknowledge = 1.5\n",
                "p.toml:2:15: error: supporters.acknowledge = 1.5: must be between 0 and 1",
            ),
            (
                "[asked]\ntell = 0.8\ndont = 0.5\n",
                "p.toml:3:8: error: asked.dont = 0.5: asked.tell + asked.dont = 1.300",
            ),
            (
                "[checkins]\nnot_safe = 0.96\n",
                "p.toml:2:12: error: checkins.not_safe = 0.96: checkins.unsure + checkins.not_safe = 1.010",
            ),
            (
                "[plans]\nurgent = -1\n",
                "p.toml:2:10: error: plans.urgent = -1: must be between 0 and 1",
            ),
            (
                "[checkins.first_answer]\nmedian_seconds = -5\n",
                "p.toml:2:18: error: checkins.first_answer.median_seconds = -5: must be 0 or more",
            ),
            (
                "[circle]\ninvite_accept = { min_seconds = 100, max_seconds = 10 }\n",
                "p.toml:2:52: error: circle.invite_accept.max_seconds = 10: min_seconds (100) must not be more than max_seconds (10)",
            ),
            (
                "[circle]\nsizes = [0, 0, 0]\n",
                "p.toml:2:9: error: circle.sizes = [0, 0, 0]: the weights add up to 0",
            ),
            (
                "[circle]\nsizes = [1, -1]\n",
                "p.toml:2:9: error: circle.sizes = [1, -1]: each weight must be a number 0 or more",
            ),
            (
                "[circle]\nsizes = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n",
                "p.toml:2:9: error: circle.sizes = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]: weights for circles of 0 to 11 supporters, but a circle holds at most 10: give at most 11 weights",
            ),
            (
                "[onboarding]\ntimezones = { \"Europe/London\" = 1, \"Mars/Olympus\" = 1 }\n",
                "p.toml:2:36: error: onboarding.timezones.\"Mars/Olympus\" = \"Mars/Olympus\": not a timezone",
            ),
            (
                "[onboarding]\ntimezones = { \"Europe/London\" = 0 }\n",
                "p.toml:2:13: error: onboarding.timezones = { \"Europe/London\" = 0 }: the weights add up to 0",
            ),
            (
                "[[onboarding.checkin_times]]\nweight = 1\nat = \"23:30\"\n",
                "p.toml:3:6: error: onboarding.checkin_times.at = \"23:30\": must be between 08:00 and 21:45",
            ),
            (
                "[[onboarding.checkin_times]]\nweight = 1\nat = \"9 o'clock\"\n",
                "p.toml:3:6: error: onboarding.checkin_times.at = \"9 o'clock\": must be a time like \"09:00\"",
            ),
            (
                "[[onboarding.checkin_times]]\nweight = 1\n",
                "p.toml:1:1: error: onboarding.checkin_times: each entry needs either `at`",
            ),
            (
                "[mood]\nbase = [8, 3]\n",
                "p.toml:2:8: error: mood.base = [8, 3]: the first number must not be larger than the second",
            ),
            (
                "[mood]\nbase = [3, 12]\n",
                "p.toml:2:8: error: mood.base = [3, 12]: both numbers must be between 0 and 10",
            ),
            (
                "[mood.declines]\nevery_days = [0, 3]\n",
                "p.toml:2:14: error: mood.declines.every_days = [0, 3]: both numbers must be 1 or more",
            ),
            (
                "[mood]\ndaily_noise = nan\n",
                "p.toml:2:15: error: mood.daily_noise = nan: must be a finite number",
            ),
        ] {
            let got = error(src);
            if !got.starts_with(expected) {
                wrong.push(format!("{src}\n got: {got}\nwant: {expected}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    }

    #[test]
    fn unknown_keys_and_bad_syntax_are_refused_with_their_position() {
        let got = error("[checkins]\nful = 0.5\n");
        assert!(
            got.starts_with("p.toml:2:1: error: unknown key `ful`"),
            "{got}"
        );
        let got = error("[moods]\n");
        assert!(got.starts_with("p.toml:1:"), "{got}");
        assert!(got.contains("unknown key `moods`"), "{got}");
        let got = error("[checkins]\nfull = \n");
        assert!(got.starts_with("p.toml:2:"), "{got}");
        let got = error("[checkins]\nfull = \"lots\"\n");
        assert!(got.starts_with("p.toml:2:8:"), "{got}");
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let errs = load("[checkins]\nfull = 2\n[supporters]\nacknowledge = -1\n").unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
    }

    #[test]
    fn the_default_check_in_times_peak_at_nine_and_seven() {
        let p = Profile::builtin().unwrap();
        let mut rng = Rng::new(7);
        let minutes: Vec<u32> = (0..2000).map(|_| p.checkin_minute(&mut rng)).collect();
        let at = |m: u32| minutes.iter().filter(|&&x| x == m).count();
        assert!(
            at(9 * 60) > 300 && at(19 * 60) > 220,
            "{} {}",
            at(540),
            at(1140)
        );
        assert!(
            minutes
                .iter()
                .all(|&m| (EARLIEST_MINUTE..=LATEST_MINUTE).contains(&m))
        );
    }

    #[test]
    fn pick_follows_the_weights_and_skips_zero_weights() {
        assert_eq!(pick([0.3, 0.35, 0.23, 0.12].into_iter(), 0.0), 0);
        assert_eq!(pick([0.3, 0.35, 0.23, 0.12].into_iter(), 0.64), 1);
        assert_eq!(pick([0.3, 0.35, 0.23, 0.12].into_iter(), 0.999), 3);
        assert_eq!(pick([0.0, 2.0, 0.0].into_iter(), 0.999_999), 1);
        assert_eq!(pick([1.0, 3.0].into_iter(), 0.5), 1);
    }
}
