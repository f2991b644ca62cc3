//! Rule semantics as tables: a history in a line of symbols, whether the rule fires.

use std::path::Path;

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::*;

fn shipped() -> BTreeMap<String, Template> {
    let dir = crate::content::shipped_dialogs_dir();
    let catalog = crate::dialog::load_dir(&dir)
        .catalog
        .expect("shipped dialogs load");
    let (t, d) = load_rules(&dir, &catalog);
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    t.expect("shipped rules load")
}

fn day(i: i64) -> (DateTime<Utc>, NaiveDate) {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 19, 0, 0).unwrap() + Duration::days(i);
    (at, at.date_naive())
}

/// One check-in a day from the symbols: a number is an answered `tag` value, `m` missed,
/// `u` unknown, `p` paused, `!` answered with the `not_safe` flag, `-` completed without
/// this tag.
fn history(tag: &str, symbols: &str) -> Vec<CheckIn> {
    symbols
        .split_whitespace()
        .enumerate()
        .map(|(i, s)| {
            let (at, date) = day(i as i64);
            let (outcome, values, flags) = match s {
                "m" => (Outcome::Missed, BTreeMap::new(), vec![]),
                "u" => (Outcome::Unknown, BTreeMap::new(), vec![]),
                "p" => (Outcome::Paused, BTreeMap::new(), vec![]),
                "!" => (
                    Outcome::Completed,
                    BTreeMap::new(),
                    vec!["not_safe".to_string()],
                ),
                "-" => (Outcome::Completed, BTreeMap::new(), vec![]),
                v => (
                    Outcome::Completed,
                    BTreeMap::from([(tag.to_string(), v.parse::<f64>().unwrap())]),
                    vec![],
                ),
            };
            CheckIn {
                at,
                date,
                outcome,
                values,
                flags,
            }
        })
        .collect()
}

fn fires(rule: &str, tag: &str, symbols: &str, overrides: &[(&str, f64)]) -> Decision {
    let all = shipped();
    let t = &all[rule];
    let mut values = t.defaults();
    for (k, v) in overrides {
        values.insert(k.to_string(), *v);
    }
    let h = history(tag, symbols);
    let now = h.last().map(|c| c.at).unwrap_or_else(|| day(0).0) + Duration::hours(1);
    evaluate(t, &values, &h, now, &all)
}

#[test]
fn each_kind_fires_exactly_when_its_condition_holds() {
    // (rule, tag, history, parameter overrides, fires)
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, f64)], bool);
    let cases: &[Case] = &[
        // run: mood ≤ 3 on the last 3 answered check-ins
        ("low_mood_run", "mood", "6 3 2 3", &[], true),
        ("low_mood_run", "mood", "3 2 4", &[], false),
        ("low_mood_run", "mood", "3 3", &[], false),
        ("low_mood_run", "mood", "3 m 2 u 1", &[], true), // missed days don't break a run of answers
        ("low_mood_run", "mood", "4 4 4", &[("threshold", 4.0)], true),
        // k of n: poor sleep (score ≤ 1) on 3 of the last 5
        ("poor_sleep", "sleep_quality", "1 3 0 3 1", &[], true),
        ("poor_sleep", "sleep_quality", "1 3 3 3 1", &[], false),
        ("poor_sleep", "sleep_quality", "0 0 0 3 3 3 3 3", &[], false), // old nights fall out
        // early-warning signs on 2 of the last 3
        ("warning_signs", "early_warning_signs", "0 2 0 1", &[], true),
        (
            "warning_signs",
            "early_warning_signs",
            "3 0 0 1",
            &[],
            false,
        ),
        // missed run: 3 missed in a row, unknown and paused skipped
        ("missed_checkins", "", "5 m m m", &[], true),
        ("missed_checkins", "", "5 m u m p m", &[], true),
        ("missed_checkins", "", "m m 5 m", &[], false),
        ("missed_checkins", "", "u u u u", &[], false),
        ("missed_checkins", "", "p p p", &[], false),
        // flagged: the latest answered check-in
        ("not_safe", "", "5 5 !", &[], true),
        ("not_safe", "", "! 5", &[], false),
        ("not_safe", "", "! m", &[], true),
    ];
    for (rule, tag, symbols, overrides, expected) in cases {
        let d = fires(rule, tag, symbols, overrides);
        assert_eq!(d.firing, *expected, "{rule} over `{symbols}` {overrides:?}");
    }
}

#[test]
fn the_threshold_a_member_sets_is_kept_within_the_templates_bounds() {
    // A forged or stale value of 9 is clamped to the maximum of 5.
    let d = fires("low_mood_run", "mood", "6 6 6", &[("threshold", 9.0)]);
    assert!(!d.firing, "6 is above the clamped threshold of 5");
    let d = fires("low_mood_run", "mood", "5 5 5", &[("threshold", 9.0)]);
    assert!(d.firing);
}

#[test]
fn a_baseline_rule_cannot_fire_while_calibrating_then_fires_on_a_drop() {
    // Six answers then a drop: not enough for a baseline (needs 7).
    let d = fires("wellbeing_drop", "wellbeing", "7 7 7 7 7 7 3 3 3", &[]);
    assert!(!d.firing && d.calibrating);
    // Seven answers of 7, then three of 4: a drop of 3 ≥ 2.
    let d = fires("wellbeing_drop", "wellbeing", "7 7 7 7 7 7 7 4 4 4", &[]);
    assert!(d.firing && !d.calibrating, "{d:?}");
    assert_eq!(d.evidence.baseline, Some(7.0));
    assert_eq!(d.evidence.recent, Some(4.0));
    assert_eq!(d.evidence.points.len(), 3);
    // A drop of 1 is within the member's usual range.
    let d = fires("wellbeing_drop", "wellbeing", "7 7 7 7 7 7 7 6 6 6", &[]);
    assert!(!d.firing);
    // The member asked for a smaller drop to count.
    let d = fires(
        "wellbeing_drop",
        "wellbeing",
        "7 7 7 7 7 7 7 6 6 6",
        &[("drop", 1.0)],
    );
    assert!(d.firing);
}

#[test]
fn absence_needs_long_enough_history_and_any_activity_clears_it() {
    let all = shipped();
    let t = &all["no_connection"];
    let week = |i: i64, v: f64| CheckIn {
        at: day(i * 7).0,
        date: day(i * 7).1,
        outcome: Outcome::Completed,
        values: BTreeMap::from([("connect".to_string(), v)]),
        flags: vec![],
    };
    let h = vec![week(0, 2.0), week(1, 0.0), week(2, 0.0), week(3, 0.0)];
    let now = day(21).0 + Duration::hours(1);
    assert!(evaluate(t, &t.defaults(), &h, now, &all).firing);
    let h = vec![week(0, 2.0), week(1, 0.0), week(2, 1.0), week(3, 0.0)];
    assert!(!evaluate(t, &t.defaults(), &h, now, &all).firing);
    // Only a week of history: too new to tell.
    let h = vec![week(0, 0.0), week(1, 0.0)];
    let d = evaluate(t, &t.defaults(), &h, day(7).0, &all);
    assert!(!d.firing && d.calibrating);
    // Daily check-ins that never ask about connection are silence, not "no connection".
    let daily = |i: i64| CheckIn {
        at: day(i).0,
        date: day(i).1,
        outcome: Outcome::Completed,
        values: BTreeMap::from([("mood".to_string(), 7.0)]),
        flags: vec![],
    };
    let h: Vec<CheckIn> = (0..21).map(daily).collect();
    let d = evaluate(t, &t.defaults(), &h, now, &all);
    assert!(!d.firing && d.calibrating);
    // Reports that stopped (the weekly prompt was turned off) are silence too.
    let mut h = vec![week(0, 2.0)];
    h.extend((8..22).map(daily));
    assert!(!evaluate(t, &t.defaults(), &h, now, &all).firing);
}

#[test]
fn one_episode_gives_one_alert_then_rearms_after_clear_check_ins_and_a_cooldown() {
    let cooldown = Duration::hours(72);
    let t0 = day(0).0;
    let mut e = Episode::default();
    let mut fired = Vec::new();
    // firing on days 0–3, clear on 4–5 (re-arm after 2), firing again on day 6 (cooldown
    // passed) and day 7.
    for (i, firing) in [true, true, true, true, false, false, true, true]
        .iter()
        .enumerate()
    {
        let now = t0 + Duration::days(i as i64);
        let (next, step) = advance(e, *firing, now, 2, cooldown);
        if step == Step::Fire {
            fired.push(i);
        }
        e = next;
    }
    assert_eq!(fired, vec![0, 6]);
    // Re-armed but inside the cooldown: no second alert.
    let e = Episode {
        open: false,
        clear_streak: 0,
        last_fired: Some(t0),
    };
    assert_eq!(
        advance(e, true, t0 + Duration::hours(10), 2, cooldown).1,
        Step::Hold
    );
}

#[test]
fn the_explanation_uses_the_members_own_values() {
    let all = shipped();
    let t = &all["low_mood_run"];
    let mut v = t.defaults();
    v.insert("threshold".into(), 2.0);
    assert_eq!(t.explain(&v), "mood 2 or lower on 3 check-ins in a row");
}

#[test]
fn rule_file_problems_are_reported_with_their_positions() {
    let dir = crate::content::shipped_dialogs_dir();
    let catalog = crate::dialog::load_dir(&dir).catalog.unwrap();
    let path = Path::new("rules.toml");
    let src = r#"format = 1

[[rule]]
id = "a"
title = "A"
description = "d"
kind = "run"
reads = "moood"
tier = "alert"
explains = "mood {treshold}"
params.threshold = { default = 9, min = 1, max = 5 }

[[rule]]
id = "b"
title = "B"
description = "d"
kind = "flagged"
flag = "not_saef"
tier = "loud"
explains = "x"
"#;
    let (templates, diags) = parse_rules(path, src, &catalog);
    assert!(templates.is_none());
    let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let has = |needle: &str| {
        assert!(
            shown.iter().any(|s| s.contains(needle)),
            "no diagnostic with {needle:?} in {shown:#?}"
        )
    };
    has("rules.toml:8:9: error: `reads` names tag `moood`");
    has("rules.toml:11:20: error: `threshold`: the default 9 must lie between min 1 and max 5");
    has("rules.toml:4:6: error: rule `a` needs parameter `count`");
    has("`explains` uses {treshold}");
    has("rules.toml:18:8: error: no dialog option raises flag `not_saef`");
    has("rules.toml:19:8: error: unknown tier `loud`");
    // Syntax and unknown keys stop at the first, with its position.
    let (_, d) = parse_rules(
        path,
        "format = 1\n[[rule]]\nid = \"a\"\ncolour = 1\n",
        &catalog,
    );
    assert!(d[0].to_string().contains("rules.toml:"), "{}", d[0]);
}

#[test]
fn the_replay_gives_one_firing_per_episode_and_hears_every_not_safe() {
    let all = shipped();
    let low = &all["low_mood_run"];
    let safe = &all["not_safe"];
    let plan = vec![(low, low.defaults()), (safe, safe.defaults())];
    // Low run (fires once), recovery (re-arms), low run again after the cooldown; two
    // "not safe" answers two days apart.
    let mut h = history("mood", "2 2 2 2 7 7 2 2 2");
    h.extend(history("", "! - !").into_iter().map(|mut c| {
        c.at += Duration::days(20);
        c.date = c.at.date_naive();
        c
    }));
    let fired = replay(&plan, &h, &all, 2, Duration::hours(72));
    let rules: Vec<&str> = fired.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["low_mood_run", "low_mood_run", "not_safe", "not_safe"],
        "{fired:?}"
    );
}
