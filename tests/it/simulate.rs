//! `staywell simulate` through the real binary: a small cohort, checked for invariants (not
//! timings).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use staywell::content::shipped_dialogs_dir;

/// An alert's consent id, sent time, and that consent's grant and revocation times.
type SentOnConsent = (Option<i64>, Option<i64>, Option<i64>, Option<i64>);

fn simulate(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_staywell"));
    cmd.arg("simulate")
        .args(args)
        .current_dir(dir)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("DATABASE_URL")
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir());
    cmd
}

fn ok(out: &Output) -> String {
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    shown
}

/// Runs 40 members for 7 days (seed 9), the report as JSON without the wall time.
fn small_run(dir: &Path, db: Option<&Path>) -> serde_json::Value {
    let json = dir.join("report.json");
    let mut args = vec![
        "--members".to_string(),
        "40".into(),
        "--days".into(),
        "7".into(),
        "--seed".into(),
        // A seed whose small cohort has nudges as well as alerts (at 40 members both are
        // a handful; seed 7 happens to give no carer three missed days in a row).
        "9".into(),
        "--json".into(),
        json.display().to_string(),
    ];
    if let Some(db) = db {
        args.push("--db".into());
        args.push(db.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let shown = ok(&simulate(dir, &args).output().unwrap());
    assert!(shown.contains("limit violations 0"), "{shown}");
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    report.as_object_mut().unwrap().remove("wall_seconds");
    report.as_object_mut().unwrap().remove("peak_memory_mib");
    report.as_object_mut().unwrap().remove("wall_split_seconds");
    report
}

#[test]
fn a_small_simulation_keeps_the_limits_settles_every_slot_and_alerts_only_on_consent() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let db = a.path().join("world.db");
    // The same seed twice (once kept in a file, once in memory), side by side.
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| small_run(a.path(), Some(&db)));
        let second = s.spawn(|| small_run(b.path(), None));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_eq!(first, second, "the same seed must give the same report");
    let r = &first;
    assert_eq!(r["profile"]["name"], "built-in");
    assert_eq!(r["partial"], false);
    assert_eq!(r["limit_violations"], 0, "{r:#}");
    assert_eq!(r["slots_closed_without_outcome"], 0, "{r:#}");
    assert_eq!(r["alerts_without_standing_consent"], 0, "{r:#}");
    assert_eq!(r["setups_unfinished"], 0, "{r:#}");
    assert_eq!(r["ticks_left_due"], 0, "{r:#}");
    assert!(r["checkins"]["completed"].as_i64().unwrap() > 100, "{r:#}");
    assert!(r["checkins"]["missed"].as_i64().unwrap() > 0, "{r:#}");
    assert!(r["alerts"]["total"].as_u64().unwrap() > 0, "{r:#}");
    // Carers are invited as carers and get nudges (counted per carer), never alerts.
    assert!(r["carers"].as_u64().unwrap() > 0, "{r:#}");
    assert!(r["nudges"]["total"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["nudges"]["recipients"], r["carers"], "{r:#}");

    // The same invariants straight from the kept database.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        // Every slot whose window has closed has an outcome (the run ends on 8 March, 08:00).
        let end = chrono::DateTime::parse_from_rfc3339("2026-03-08T08:00:00Z")
            .unwrap()
            .timestamp_millis();
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM slots WHERE outcome IS NULL AND closes_at <= ?",
        )
        .bind(end)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(open, 0);
        // A carer hears only nudges: no alert about the member's health ever reaches one.
        let (to_carers, nudged): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(a.tier != 'nudge'), 0), coalesce(sum(a.tier = 'nudge'), 0)
             FROM alerts a JOIN circle c ON c.id = a.circle_id WHERE c.role = 'carer'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(to_carers, 0);
        assert!(nudged > 0);
        let due: i64 = sqlx::query_scalar("SELECT count(*) FROM slots WHERE due_at <= ?")
            .bind(end)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(due > 200, "{due} slots");
        // Every alert or nudge sent to someone in a circle carries a consent that stood
        // when it was sent.
        let rows: Vec<SentOnConsent> = sqlx::query_as(
            "SELECT o.consent_id, o.sent_at, c.granted_at, c.revoked_at
             FROM alerts a JOIN outbox o ON o.id = a.outbox_id
             LEFT JOIN consents c ON c.id = o.consent_id
             WHERE a.circle_id IS NOT NULL AND o.state = 'sent'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(!rows.is_empty());
        for (consent, sent, granted, revoked) in rows {
            let sent = sent.unwrap();
            assert!(consent.is_some());
            assert!(granted.unwrap() <= sent);
            assert!(revoked.is_none_or(|r| r > sent));
        }
    });
}

#[test]
fn simulate_refuses_zero_members_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(dir.path(), &["--members", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--members must be at least 1"), "{err}");
}

#[test]
fn ctrl_c_prints_the_report_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let child = simulate(dir.path(), &["--members", "3000", "--days", "28"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let shown = ok(&out);
    assert!(shown.contains("PARTIAL (interrupted at"), "{shown}");
    assert!(shown.contains("limit violations 0"), "{shown}");
}

/// Runs a small cohort with `profile` written to `dir/profile.toml`; the report as JSON
/// without the wall time, and the text shown.
fn run_with_profile(
    dir: &Path,
    profile: &str,
    members: u32,
    days: u32,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let file = dir.join("profile.toml");
    std::fs::write(&file, profile).unwrap();
    let json = dir.join("report.json");
    let (members, days) = (members.to_string(), days.to_string());
    let mut args = vec![
        "--members",
        &members,
        "--days",
        &days,
        "--seed",
        "11",
        "--profile",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let shown = ok(&simulate(dir, &args).output().unwrap());
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    report.as_object_mut().unwrap().remove("wall_seconds");
    report.as_object_mut().unwrap().remove("peak_memory_mib");
    report.as_object_mut().unwrap().remove("wall_split_seconds");
    (report, shown)
}

#[test]
fn a_bad_profile_is_refused_with_exit_2_naming_the_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    for (profile, expected) in [
        // A probability outside 0..=1.
        (
            "# tuned for Lambeth\n[checkins]\nfull = -0.2\n",
            "bad.toml:3:8: error: checkins.full = -0.2: must be between 0 and 1",
        ),
        (
            "[supporters]\nacknowledge = 1.2\n",
            "bad.toml:2:15: error: supporters.acknowledge = 1.2: must be between 0 and 1",
        ),
        // A negative delay.
        (
            "[checkins.next_answer]\nmedian_seconds = -9\n",
            "bad.toml:2:18: error: checkins.next_answer.median_seconds = -9: must be 0 or more",
        ),
        // A negative rate.
        (
            "[onboarding]\njoin_spread_hours = -1\n",
            "bad.toml:2:21: error: onboarding.join_spread_hours = -1: must be between 0 and 24",
        ),
        // Weights that add up to nothing.
        (
            "[circle]\nsizes = [0, 0, 0, 0]\n",
            "bad.toml:2:9: error: circle.sizes = [0, 0, 0, 0]: the weights add up to 0",
        ),
        // A timezone that does not exist.
        (
            "[onboarding]\ntimezones = { \"Europe/Lndon\" = 1 }\n",
            "bad.toml:2:15: error: onboarding.timezones.\"Europe/Lndon\" = \"Europe/Lndon\": not a timezone",
        ),
        // More supporters in a circle than a circle holds.
        (
            "[circle]\n\nsizes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]\n",
            "bad.toml:3:9: error: circle.sizes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]: weights for circles of 0 to 11 supporters, but a circle holds at most 10",
        ),
        // A key that does not exist.
        (
            "[checkins]\nfull = 0.5\nignored = 0.5\n",
            "bad.toml:3:1: error: unknown key `ignored`; expected one of",
        ),
        // Not TOML at all.
        ("[checkins\nfull = 0.5\n", "bad.toml:1:10: error: "),
    ] {
        std::fs::write(&file, profile).unwrap();
        let out = simulate(
            dir.path(),
            &["--members", "5", "--days", "1", "--profile", "bad.toml"],
        )
        .output()
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{profile}\n{err}");
        assert!(
            err.starts_with(expected),
            "{profile}\n got: {err}\nwant: {expected}"
        );
        assert!(out.stdout.is_empty(), "nothing runs on a bad profile");
    }
    // A picture that could not be written is refused before the run, not after it.
    let out = simulate(
        dir.path(),
        &["--members", "5", "--png", "no/such/dir/load.png"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: --png: the directory no/such/dir does not exist"),
        "{err}"
    );
    // A profile that is not there.
    let out = simulate(dir.path(), &["--members", "5", "--profile", "missing.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot read missing.toml"), "{err}");
}

#[test]
fn a_partial_profile_is_taken_over_the_defaults_and_changes_what_people_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("world.db");
    // Nobody answers a scheduled check-in; half the members live in Lagos.
    let profile = "[checkins]\nfull = 0\npartial = 0\n\n[onboarding]\ntimezones = { \"Europe/London\" = 1, \"Africa/Lagos\" = 1 }\n";
    let (r, shown) = run_with_profile(dir.path(), profile, 12, 3, &["--db", db.to_str().unwrap()]);
    assert!(shown.contains("limit violations 0"), "{shown}");
    assert_eq!(r["setups_unfinished"], 0, "{r:#}");
    assert_eq!(r["unrecognised_keyboards"], 0, "{r:#}");
    assert!(r["checkins"].get("completed").is_none(), "{r:#}");
    assert!(r["checkins"].get("partial").is_none(), "{r:#}");
    assert!(r["checkins"]["missed"].as_i64().unwrap() >= 12, "{r:#}");
    // The members in Lagos said so in onboarding, as a person would.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let zones: Vec<(String, i64)> = rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query_as("SELECT timezone, count(*) FROM members GROUP BY timezone ORDER BY 1")
            .fetch_all(&pool)
            .await
            .unwrap()
    });
    assert_eq!(zones.len(), 2, "{zones:?}");
    assert_eq!(zones[0].0, "Africa/Lagos");
    assert_eq!(zones[1].0, "Europe/London");
    assert_eq!(zones[0].1 + zones[1].1, 12);
}

#[test]
fn members_who_ask_first_feel_unsafe_or_keep_notes_for_themselves_are_heard_with_consent() {
    let dir = tempfile::tempdir().unwrap();
    // Everyone has two supporters and a plan with every kind of sign; low days are common,
    // and half of the safety answers are "I don't feel safe".
    let profile = "[circle]\nsizes = [0, 0, 1]\ncarers = 0\nplan = 1\n\n\
        [plans]\nask_first = 1\nurgent = 1\nself_help = 1\n\n\
        [asked]\ntell = 0.4\ndont = 0.3\n\n\
        [checkins]\nfull = 1\npartial = 0\nunsure = 0.3\nnot_safe = 0.5\n\n\
        [mood]\nbase = [2.0, 4.0]\n";
    let (r, shown) = run_with_profile(dir.path(), profile, 16, 7, &[]);
    assert!(shown.contains("limit violations 0"), "{shown}");
    assert_eq!(r["setups_unfinished"], 0, "{r:#}");
    assert_eq!(r["unrecognised_keyboards"], 0, "{r:#}");
    assert_eq!(r["slots_closed_without_outcome"], 0, "{r:#}");
    assert_eq!(r["ticks_left_due"], 0, "{r:#}");
    assert_eq!(r["alerts_without_standing_consent"], 0, "{r:#}");
    let n = |k: &str| r[k].as_u64().unwrap();
    let not_safe = n("not_safe_answers");
    assert!(not_safe > 0 && n("unsure_answers") > 0, "{r:#}");
    // Everyone sees the crisis contacts at /start, and again at unsure and unsafe answers (a
    // lower bound: the count is of cards seen, not matched answer by answer).
    assert!(
        n("crisis_cards_seen") >= 16 + n("unsure_answers") + not_safe,
        "{r:#}"
    );
    // "Not safe" goes to both supporters at once, once per episode.
    let urgent = r["urgent"]["total"].as_u64().unwrap();
    assert!(urgent > 0 && urgent <= 2 * not_safe, "{r:#}");
    assert!(r["self_help"]["total"].as_u64().unwrap() > 0, "{r:#}");
    // Low mood asks first. Told and not told are counted from the bot's replies, so each
    // kind of answer had its effect; and the yeses reached supporters as alerts.
    let told = n("asked_first_told");
    assert!(told > 0 && n("asked_first_not_told") > 0, "{r:#}");
    assert!(
        told + n("asked_first_not_told") <= n("asked_first"),
        "{r:#}"
    );
    let alerts = r["alerts"]["total"].as_u64().unwrap();
    assert!(alerts >= 1, "{r:#}");
}

#[test]
fn the_same_seed_and_profile_give_the_same_report_and_png_draws_the_chart() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let profile = "[supporters]\nacknowledge = 1.0\n\n[mood.declines]\nchance = 0.8\nrecovery_days = 2\n\n[[onboarding.checkin_times]]\nweight = 1\nat = \"13:00\"\n";
    let png = a.path().join("load.png");
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| {
            run_with_profile(a.path(), profile, 12, 4, &["--png", png.to_str().unwrap()])
        });
        let second = s.spawn(|| run_with_profile(b.path(), profile, 12, 4, &[]));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_eq!(
        first.0, second.0,
        "the same seed and profile must give the same report"
    );
    let r = &first.0;
    // The report names the profile and fingerprints its text.
    assert_eq!(r["profile"]["name"], "profile.toml");
    assert_eq!(r["profile"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(r["limit_violations"], 0, "{r:#}");
    assert_eq!(r["setups_unfinished"], 0, "{r:#}");
    assert!(r["checkins"]["completed"].as_i64().unwrap() > 0, "{r:#}");
    assert_eq!(r["per_week"].as_array().unwrap().len(), 1, "{r:#}");
    // Everyone chose 13:00 (typed): the peak minute is at 13:00 London time.
    let peak = r["peak_minute"][0].as_str().unwrap();
    assert!(peak.contains("T13:0"), "{peak}");

    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let mut reader = decoder.read_info().expect("a valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("valid PNG data");
    assert_eq!((info.width, info.height), (1200, 900));
    // Not blank: axes, text and lines are drawn.
    let dark = buf.chunks(3).filter(|p| p.iter().all(|&c| c < 80)).count();
    assert!(dark > 2_000, "{dark} dark pixels");
}

#[test]
fn the_shipped_peak_profile_puts_every_check_in_in_the_evening_and_delivers_every_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let peak = std::fs::read_to_string(shipped_dialogs_dir().join("simulate-peak.toml")).unwrap();
    let (r, shown) = run_with_profile(dir.path(), &peak, 60, 2, &[]);
    assert!(shown.contains("limit violations 0"), "{shown}");
    assert_eq!(r["setups_unfinished"], 0, "{r:#}");
    // The load peaks in the evening only (the joining day's morning aside, setup is spread
    // over the day and is not a peak).
    let hours: Vec<u64> = r["peak_hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_u64().unwrap())
        .collect();
    assert!(
        !hours.is_empty() && hours.iter().all(|h| (18..=20).contains(h)),
        "{hours:?}"
    );
    // Every prompt and reminder went out; none is left waiting.
    assert!(
        r["prompt_delay_s"]["count"].as_u64().unwrap() >= 60,
        "{r:#}"
    );
    assert_eq!(r["prompts_waiting"], 0, "{r:#}");
    assert_eq!(r["slots_closed_without_outcome"], 0, "{r:#}");
    assert!(
        r["reply_latency_peak_s"]["count"].as_u64().unwrap() > 0,
        "{r:#}"
    );
}
