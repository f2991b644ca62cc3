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

/// One broken copy of `dialogs/` for `staywell check`: (file, text to find, its replacement);
/// a file that does not exist yet is created from `dialogs/<find>` with the replacement
/// appended (`find` names the file to copy).
type Edit = (&'static str, &'static str, &'static str);

/// Runs `check` on a copy of the shipped dialogs with `edits`, and returns the lines that
/// name a place (`dialogs/…: error|warning|note: …`) and the count line.
fn check_with(edits: &[Edit]) -> (Option<i32>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let dialogs = dir.path().join("dialogs");
    std::fs::create_dir(&dialogs).unwrap();
    for entry in std::fs::read_dir(shipped_dialogs_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dialogs.join(p.file_name().unwrap())).unwrap();
        }
    }
    for (file, find, replace) in edits {
        let path = dialogs.join(file);
        if !path.exists() {
            let text = std::fs::read_to_string(dialogs.join(find)).unwrap();
            std::fs::write(&path, format!("{text}{replace}")).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(find), "{file} has no {find:?}");
        std::fs::write(&path, text.replacen(find, replace, 1)).unwrap();
    }
    let out = staywell(dir.path())
        .args(["check", "--dialogs", "dialogs"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines = text
        .lines()
        .filter(|l| l.starts_with("dialogs/") || l.ends_with("error(s)") || l.starts_with("ok:"))
        .map(str::to_string)
        .collect();
    (out.status.code(), lines)
}

/// Data-driven: broken files in a copy of `dialogs/`, and every line `check` must print
/// about them, exactly (file:line:col, in words for the person who edits dialogs).
#[test]
fn check_prints_every_problem_in_every_file_in_plain_words() {
    let cases: &[(&str, &[Edit], &[&str])] = &[
        (
            "an error in a dialog hides neither the lock nor the rules",
            &[
                (
                    "daily_checkin.toml",
                    "title = \"Daily check-in\"",
                    "title = \"Daily check-in",
                ),
                ("weekly_connect_give.toml", "text = \"", "text = \"Hello. "),
                ("rules.toml", "reads = \"mood\"", "reads = \"moood\""),
            ],
            &[
                "dialogs/daily_checkin.toml:6:24: error: a text in quotes is not closed — check the quotes on this line",
                "dialogs/weekly_connect_give.toml:6:11: error: dialog `weekly_connect_give` was changed but its version is still 1: make it 2 here, then in dialogs.lock set [weekly_connect_give] version = 2, hash = \"c1ccfe9b325d7fdc\"",
                "dialogs/dialogs.lock:8:2: note: version 1 of `weekly_connect_give` is recorded here, with the fingerprint of its earlier words",
                "dialogs/rules.toml:13:9: error: `reads` names tag `moood`, which dialogs/tags.toml does not declare",
                "3 error(s)",
            ],
        ),
        (
            "a version bumped without the lock, and the lock's stale entry",
            &[("weekly_connect_give.toml", "version = 1", "version = 2")],
            &[
                "dialogs/dialogs.lock:9:11: error: dialog `weekly_connect_give` is now version 2: set [weekly_connect_give] version = 2, hash = \"447b321967c61e68\"",
                "dialogs/weekly_connect_give.toml:6:11: note: `weekly_connect_give` is version 2 here",
                "1 error(s)",
            ],
        ),
        (
            "a duplicate step id shows both places and no false 'never reached'",
            &[(
                "daily_checkin.toml",
                "id = \"medication\"",
                "id = \"sleep_hours\"",
            )],
            &[
                "dialogs/daily_checkin.toml:94:6: error: two steps have the id `sleep_hours`: give this one an id of its own",
                "dialogs/daily_checkin.toml:61:6: note: `sleep_hours` is first used here",
                "1 error(s)",
            ],
        ),
        (
            "a duplicate dialog id shows both files",
            &[("weekly_copy.toml", "weekly_connect_give.toml", "")],
            &[
                "dialogs/weekly_copy.toml:5:6: error: two dialogs have the id `weekly_connect_give`: give this one an id of its own",
                "dialogs/weekly_connect_give.toml:5:6: note: `weekly_connect_give` is first used here",
                "1 error(s)",
            ],
        ),
        (
            "a broken tags.toml is reported once, not as an undeclared tag in every step",
            &[("tags.toml", "format = 1", "format = 1\n[[tag]\n")],
            &[
                "dialogs/tags.toml:11:7: error: a [[heading]] is not closed — it needs ]] at its end",
                "1 error(s)",
            ],
        ),
        (
            "a mistyped key and a duplicate option code",
            &[
                ("daily_checkin.toml", "skippable = true", "skipable = true"),
                (
                    "daily_checkin.toml",
                    "code = \"fairly_bad\"",
                    "code = \"fairly_good\"",
                ),
            ],
            &[
                "dialogs/daily_checkin.toml:55:12: error: two options have the code `fairly_good`: give this one a code of its own",
                "dialogs/daily_checkin.toml:54:12: note: `fairly_good` is first used here",
                "dialogs/daily_checkin.toml:68:1: error: unknown key `skipable` in step `sleep_hours` (a `number` step); expected one of: allow_loop, branches, decimals, goto, hint, id, kind, max, min, show_if, skippable, tags, text, unit",
                "2 error(s)",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (name, edits, expected) in cases {
        let (code, got) = check_with(edits);
        if got != *expected || code != Some(1) {
            failures.push(format!(
                "{name}: exit {code:?}\n  expected:\n    {}\n  got:\n    {}",
                expected.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
