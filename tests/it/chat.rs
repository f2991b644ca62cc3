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
