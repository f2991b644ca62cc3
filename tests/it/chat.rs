//! `staywell chat`: the transcripts run as scripts through the real binary, failures name
//! their line, the interactive mode works from piped stdin, and a kept database reopens.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use staywell::content::shipped_dialogs_dir;

use crate::helpers::query_i64;

fn chat(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_staywell"));
    cmd.arg("chat")
        .current_dir(dir)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("DATABASE_URL")
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir());
    cmd
}

fn with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn transcripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_transcript_runs_as_a_chat_script() {
    let dir = tempfile::tempdir().unwrap();
    for file in transcripts() {
        let out = chat(dir.path())
            .arg("--script")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}:\n{}\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains("[Mon 08:00] → alex"), "{shown}");
        assert!(!shown.contains("\x1b["), "no colours in scripts");
    }
}

/// The four main journeys as whole-output golden transcripts: everything `staywell chat
/// --script` prints (every message, button and time) equals `tests/transcripts/NAME.out`.
/// `UPDATE_GOLDEN=1 cargo test --test it golden` rewrites them.
#[test]
fn the_main_journeys_match_their_golden_transcripts() {
    let dir = tempfile::tempdir().unwrap();
    for file in transcripts() {
        // Files `chat` saves (charts, `/mydata`) go to a temporary directory of this run's
        // own, written as $TMPDIR in the golden file.
        let tmp = tempfile::tempdir().unwrap();
        let out = chat(dir.path())
            .env("TMPDIR", tmp.path())
            .arg("--script")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = masked(&String::from_utf8_lossy(&out.stdout), tmp.path());
        crate::golden::check(&file.with_extension("out"), &shown);
    }
}

#[test]
fn the_file_mydata_sends_is_saved_in_the_temporary_directory_and_its_path_shown() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");
    let onboarding = std::fs::read_to_string(&transcripts()[0]).unwrap();
    std::fs::write(
        &script,
        format!("{onboarding}\n/mydata\n:expect staywell-mydata.json\n"),
    )
    .unwrap();
    let out = chat(dir.path())
        .env("TMPDIR", tmp.path())
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    let saved = shown
        .lines()
        .find_map(|l| l.split("saved to ").nth(1))
        .map(|p| p.trim_end_matches(']'))
        .unwrap_or_else(|| panic!("no path shown: {shown}"));
    assert!(
        saved.starts_with(&tmp.path().display().to_string()),
        "{saved}"
    );
    assert!(saved.ends_with("staywell-mydata.json"), "{saved}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(saved).unwrap()).unwrap();
    assert_eq!(
        json["tables"]["members"].as_array().map(Vec::len),
        Some(1),
        "{json}"
    );
}

/// `chat`'s output without what differs from run to run: the temporary directory, and
/// invite tokens (random).
fn masked(shown: &str, tmp: &Path) -> String {
    let tmp = tmp.display().to_string();
    let shown = shown.replace(&format!("{tmp}/"), "$TMPDIR/");
    let mut out = String::with_capacity(shown.len());
    let mut rest = shown.as_str();
    while let Some(at) = rest.find("?start=") {
        let (head, tail) = rest.split_at(at + "?start=".len());
        out.push_str(head);
        out.push_str("<token>");
        rest = tail.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    }
    out.push_str(rest);
    out
}

#[test]
fn a_failed_expect_names_the_script_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.txt");
    std::fs::write(
        &script,
        "/start\n:expect not a crisis service\n# a comment\n:expect something the bot never says\n",
    )
    .unwrap();
    let out = chat(dir.path())
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("s.txt:4: expected the bot to say something containing"),
        "{err}"
    );
}

#[test]
fn the_interactive_mode_reads_typed_lines_and_bad_meta_commands_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = "3\n:frobnicate\n:wait soon\n:as s@m!\n/start\n1\nAlex\n:press UK time\n3\n:wait 2h\n:now\n:as sam\n/help\n:who\n";
    let out = with_stdin(chat(dir.path()), input);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("staywell chat — the bot in your terminal"),
        "a banner: {shown}"
    );
    assert!(shown.contains("! there are no buttons to press"), "{shown}");
    assert!(shown.contains("! unknown command `:frobnicate`"), "{shown}");
    assert!(shown.contains("! `:wait` takes a duration"), "{shown}");
    assert!(shown.contains("! a name is 1 to 32 letters"), "{shown}");
    assert!(
        shown.contains("All set, Alex"),
        "pressing 1 consented, the rest onboarded: {shown}"
    );
    assert!(shown.contains("[Mon 10:00] (2h later)"), "{shown}");
    assert!(
        shown.contains("[Mon 10:00] → sam"),
        "sam is another person: {shown}"
    );
    assert!(
        shown.contains("you are sam; people here: alex, sam"),
        "{shown}"
    );
}

#[test]
fn a_script_from_stdin_works_and_a_kept_database_reopens_for_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("world.db");
    let script = std::fs::read_to_string(&transcripts()[0]).unwrap();
    let mut cmd = chat(dir.path());
    cmd.arg("--db").arg(&db).args(["--script", "-"]);
    let out = with_stdin(cmd, &script);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        rt.block_on(query_i64(&db, "SELECT count(*) FROM members")),
        1
    );
    // The same file passes `check` and would be served as is.
    let check = Command::new(env!("CARGO_BIN_EXE_staywell"))
        .arg("check")
        .current_dir(dir.path())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
    assert!(
        text.contains("database: reachable and up to date"),
        "{text}"
    );
}

#[test]
fn bad_start_or_timezone_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = chat(dir.path())
        .args(["--tz", "Mars/Olympus", "--script", "-"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tz `Mars/Olympus` is not a timezone"));
    let out = chat(dir.path())
        .args(["--start", "tomorrow", "--script", "-"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--start must look like 2026-03-02T08:00")
    );
}

/// Runs `tests/chat/<name>` with a kept database; fails unless the script succeeds.
fn run_kept(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("world.db");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/chat")
        .join(name);
    let out = chat(dir.path())
        .arg("--db")
        .arg(&db)
        .arg("--script")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (dir, db)
}

#[test]
fn the_schedules_script_counts_a_missed_slot_and_paused_days() {
    let (_dir, db) = run_kept("schedules.txt");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = |sql: &'static str| rt.block_on(query_i64(&db, sql));
    assert_eq!(
        count("SELECT count(*) FROM slots WHERE outcome = 'missed'"),
        1,
        "Monday"
    );
    assert_eq!(
        count("SELECT count(*) FROM slots WHERE outcome = 'paused'"),
        2,
        "Tuesday and Wednesday"
    );
    assert_eq!(count("SELECT count(*) FROM slots"), 3);
    assert_eq!(
        count("SELECT count(*) FROM slots WHERE reminded_at IS NOT NULL"),
        1
    );
}

#[test]
fn a_check_in_begun_before_its_slot_and_finished_after_its_expiry_counts_for_the_day() {
    let (_dir, db) = run_kept("joined_checkin.txt");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = |sql: &'static str| rt.block_on(query_i64(&db, sql));
    assert_eq!(count("SELECT count(*) FROM slots"), 1);
    assert_eq!(
        count("SELECT count(*) FROM slots WHERE outcome = 'completed'"),
        1,
        "the day's check-in was done"
    );
    assert_eq!(
        count("SELECT count(*) FROM sessions"),
        1,
        "one check-in, resumed"
    );
}

#[test]
fn a_weekly_prompt_left_open_neither_loses_the_daily_check_in_nor_counts_as_an_outage() {
    let (_dir, db) = run_kept("weekly_left_open.txt");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = |sql: &'static str| rt.block_on(query_i64(&db, sql));
    assert_eq!(
        count(
            "SELECT count(*) FROM slots sl JOIN schedules s ON s.id = sl.schedule_id
             WHERE s.dialog_id = 'daily_checkin' AND sl.outcome = 'completed'"
        ),
        1,
        "Monday's daily check-in"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM slots sl JOIN schedules s ON s.id = sl.schedule_id
             WHERE s.dialog_id = 'weekly_connect_give' AND sl.outcome = 'missed'"
        ),
        1,
        "the weekly prompt, left"
    );
    assert_eq!(
        count("SELECT count(*) FROM slots WHERE outcome = 'unknown'"),
        0
    );
}

#[test]
fn the_circle_script_invites_withdraws_expires_and_erases() {
    let (_dir, db) = run_kept("circle.txt");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = |sql: &'static str| rt.block_on(query_i64(&db, sql));
    assert_eq!(count("SELECT count(*) FROM members"), 0, "Alex erased");
    assert_eq!(count("SELECT count(*) FROM circle"), 0);
    assert_eq!(count("SELECT count(*) FROM invites"), 0);
    assert_eq!(count("SELECT count(*) FROM consents"), 0);
    assert_eq!(
        count("SELECT count(*) FROM audit WHERE event = 'erasure' AND member_id IS NULL"),
        1
    );
}

#[test]
fn every_chat_script_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chat");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        run_kept(&name);
    }
}

#[test]
fn the_backtest_replays_a_kept_world_and_finds_the_alert_that_fired() {
    let (dir, db) = run_kept("alert.txt");
    let out = Command::new(env!("CARGO_BIN_EXE_staywell"))
        .args(["rules", "backtest", "--since", "2026-03-01"])
        .current_dir(dir.path())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir())
        .env_remove("TELOXIDE_TOKEN")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("2026-03-04  low_mood_run       mood 3 or lower on 3 check-ins in a row"),
        "{shown}"
    );
    assert!(
        shown.contains("1 member(s) replayed since 2026-03-01: 1 alert(s)"),
        "{shown}"
    );
    // It reads only: no answers in its output, nothing written.
    assert!(!shown.contains("Fairly good"));
}

/// Random lives in virtual time, through the real binary, with a restart half way (a second
/// process on the same database): check-ins, days passing, acknowledgements or none,
/// a consent withdrawn. Then the alert lifecycle's invariants, read from the database.
#[test]
fn random_lives_in_virtual_time_keep_the_alert_lifecycle_invariants() {
    const SETUP: &str = "/start\n:press Yes, store my answers\nAlex\n:press UK time\n:press Not now\n\
        /supporters\n:press Invite someone\n:press Supporter: alerts\n:as sam\n:open\n:press Accept\n:as alex\n:press Yes, add Sam\n\
        /supporters\n:press Invite someone\n:press Supporter: alerts\n:as jo\n:open\n:press Accept\n:as alex\n:press Yes, add Jo\n\
        /plan\n:press Low mood several days running\n:press mood 3 or lower on 3\n:press My supporters\n:press Just tell them\n";
    let check_in = |mood: u64| {
        let mut s = format!(
            "/checkin\n:press-if Yes, another one\n:press {mood}\n:press 5\n:press Fairly good\n:press Skip\n:press None of these\n:press Done\n:press Yes\n"
        );
        if mood <= 3 {
            s.push_str(":press Yes, I feel safe\n:press Carry on with my check-in\n");
        }
        s.push_str(":press Skip\n");
        s
    };
    let mut alerts_seen = 0;
    for seed in [5u64, 17] {
        let mut x = seed;
        let mut next = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("world.db");
        let mut halves = [SETUP.to_string(), ":as sam\n:as jo\n:as alex\n".to_string()];
        let mut withdrawn = false;
        for step in 0..24 {
            let half = usize::from(step >= 12);
            let line = match next(8) {
                0..=3 => check_in(if next(4) == 0 { 8 } else { 2 }),
                4 => format!(":wait {}h\n", 1 + next(20)),
                5 => ":as sam\n:press-if I'll reach out\n:as alex\n".to_string(),
                6 => ":as jo\n:press-if I've been in touch\n:as alex\n".to_string(),
                _ if !withdrawn && step > 8 => {
                    withdrawn = true;
                    "/consents\n:press-if Withdraw: Sam, alerts\n".to_string()
                }
                _ => ":wait 13h\n".to_string(),
            };
            halves[half].push_str(&line);
        }
        // Long enough afterwards for every escalation to have happened.
        halves[1].push_str(":wait 2d\n");
        let starts = ["2026-03-02T08:00".to_string(), {
            // The first half's virtual time, carried over to the second process.
            let first: u64 = halves[0]
                .lines()
                .filter_map(|l| l.strip_prefix(":wait ").and_then(|h| h.strip_suffix('h')))
                .filter_map(|h| h.parse::<u64>().ok())
                .sum();
            let t = chrono::NaiveDate::from_ymd_opt(2026, 3, 2)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap()
                + chrono::Duration::hours(first as i64 + 1);
            t.format("%Y-%m-%dT%H:%M").to_string()
        }];
        for (half, start) in halves.iter().zip(&starts) {
            let script = dir.path().join("life.txt");
            std::fs::write(&script, half).unwrap();
            let out = chat(dir.path())
                .arg("--db")
                .arg(&db)
                .arg("--start")
                .arg(start)
                .arg("--script")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "seed {seed}:\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let count = |sql: &'static str| rt.block_on(query_i64(&db, sql));
        alerts_seen += count("SELECT count(*) FROM alerts");
        // Never sent without a consent standing when it was sent.
        assert_eq!(
            count(
                "SELECT count(*) FROM outbox o WHERE o.consent_id IS NOT NULL AND o.state = 'sent'
                 AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.id = o.consent_id
                     AND c.granted_at <= o.sent_at AND (c.revoked_at IS NULL OR c.revoked_at > o.sent_at))"
            ),
            0,
            "seed {seed}"
        );
        // At most one alert per episode and person, one open episode.
        assert_eq!(
            count(
                "SELECT count(*) FROM (SELECT 1 FROM alerts GROUP BY episode_id, circle_id, tier HAVING count(*) > 1)"
            ),
            0
        );
        assert!(count("SELECT count(*) FROM episodes WHERE closed_at IS NULL") <= 1);
        // Every alert was acknowledged or escalated by the end (escalation after nobody is
        // left tells the member), or its episode was acknowledged or ended: none is left
        // waiting, nor left in the escalation index to wake the scheduler for nothing.
        assert_eq!(
            count("SELECT count(*) FROM alerts WHERE state = 'sent' AND escalate_at IS NOT NULL"),
            0,
            "seed {seed}: an alert was left hanging"
        );
        assert_eq!(
            count("SELECT count(*) FROM audit WHERE event = 'alert_acknowledged'"),
            count("SELECT count(*) FROM alerts WHERE state = 'acked'")
        );
    }
    assert!(
        alerts_seen > 0,
        "the random lives should include some alerts"
    );
}
