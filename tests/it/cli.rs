//! The command line: clear errors naming what is wrong, `check` listing every problem.

use std::process::Command;

use staywell::content::shipped_dialogs_dir;

fn staywell(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_staywell"));
    cmd.current_dir(dir)
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("TELOXIDE_API_URL")
        .env_remove("STAYWELL_CRASH_AT")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        )
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir());
    cmd
}

#[test]
fn serve_without_a_token_says_which_variable_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = staywell(dir.path()).arg("serve").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TELOXIDE_TOKEN"), "{err}");
    assert!(err.contains("@BotFather"), "{err}");
}

#[test]
fn check_passes_on_the_shipped_content_and_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = staywell(dir.path()).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok: no errors"), "{text}");
    assert!(text.contains("dialogs: 2 loaded"), "{text}");
    assert!(
        text.contains("TELOXIDE_TOKEN is not set"),
        "a warning, not an error: {text}"
    );
}

#[test]
fn check_lists_every_problem_with_file_line_and_column_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let dialogs = dir.path().join("dialogs");
    std::fs::create_dir(&dialogs).unwrap();
    let core = std::fs::read_to_string(shipped_dialogs_dir().join("core.toml"))
        .unwrap()
        .replace("free_text =", "free_txt =");
    std::fs::write(dialogs.join("core.toml"), &core).unwrap();
    std::fs::write(
        dialogs.join("crisis.toml"),
        "format = 2\nlast_verified = 2026-11-01\n",
    )
    .unwrap();
    let out = staywell(dir.path())
        .args(["check", "--dialogs"])
        .arg(&dialogs)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = core
        .lines()
        .position(|l| l.starts_with("free_txt"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!(
            "core.toml:{line}:1: error: unknown text key `free_txt`"
        )),
        "{text}"
    );
    assert!(text.contains("missing text key `free_text`"), "{text}");
    assert!(text.contains("crisis.toml:"), "{text}");
}

#[test]
fn a_bad_config_file_names_the_key_and_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("staywell.toml");
    std::fs::write(
        &config,
        "[outbox]\nglobal_per_second = 0\n[telegram]\npoll_timeout = 3\n",
    )
    .unwrap();
    let out = staywell(dir.path()).args(["check"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("staywell.toml:4:1"), "{err}");
    assert!(err.contains("poll_timeout"), "{err}");

    std::fs::write(&config, "[outbox]\nglobal_per_second = 0\n").unwrap();
    let out = staywell(dir.path()).args(["check"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outbox.global_per_second"), "{err}");
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = staywell(dir.path()).arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("t.db").exists());
}

#[test]
fn a_token_in_a_broken_config_line_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("staywell.toml"),
        "[telegram]\ntoken = 123456:AAE-SUPERSECRET\n",
    )
    .unwrap();
    let out = staywell(dir.path()).arg("check").output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(all.contains("staywell.toml:2:"), "{all}");
    assert!(!all.contains("SUPERSECRET"), "{all}");
}

#[test]
fn check_does_not_create_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = staywell(dir.path()).arg("check").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not exist yet"));
    assert!(!dir.path().join("t.db").exists());
}

#[test]
fn check_refuses_what_serve_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    // A database that has seen the shipped dialogs (as after running the bot).
    let out = staywell(dir.path())
        .args(["chat", "--db"])
        .arg(&db)
        .args(["--script", "/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Reworded without a version bump, and the daily check-in gone.
    let dialogs = dir.path().join("dialogs");
    std::fs::create_dir(&dialogs).unwrap();
    for entry in std::fs::read_dir(shipped_dialogs_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() && p.file_name().unwrap() != "daily_checkin.toml" {
            std::fs::copy(&p, dialogs.join(p.file_name().unwrap())).unwrap();
        }
    }
    let weekly = dialogs.join("weekly_connect_give.toml");
    let changed =
        std::fs::read_to_string(&weekly)
            .unwrap()
            .replacen("text = \"", "text = \"Hello. ", 1);
    std::fs::write(&weekly, changed).unwrap();
    let out = staywell(dir.path())
        .args(["check", "--dialogs"])
        .arg(&dialogs)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("no dialog with id `daily_checkin`"), "{text}");
    assert!(
        text.contains("dialog `weekly_connect_give` changed but is still version 1"),
        "{text}"
    );
}

#[test]
fn a_broken_rule_file_fails_check_with_its_position_and_serve_refuses_it() {
    let dir = crate::helpers::copy_of_shipped_dialogs();
    let dialogs = dir.path().to_path_buf();
    let rules = std::fs::read_to_string(dialogs.join("rules.toml"))
        .unwrap()
        .replace("reads = \"mood\"", "reads = \"moood\"");
    std::fs::write(dialogs.join("rules.toml"), &rules).unwrap();
    let line = rules.lines().position(|l| l.contains("moood")).unwrap() + 1;
    let out = staywell(dir.path())
        .args(["check", "--dialogs"])
        .arg(&dialogs)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "rules.toml:{line}:9: error: `reads` names tag `moood`"
        )),
        "{text}"
    );
    // serve refuses to start on it (before it would need Telegram).
    let out = staywell(dir.path())
        .args(["serve", "--dialogs"])
        .arg(&dialogs)
        .env("TELOXIDE_TOKEN", "123:abc")
        .env("TELOXIDE_API_URL", "http://127.0.0.1:9/")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rules.toml has errors"), "{err}");
}
