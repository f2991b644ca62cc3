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

/// Runs 40 members for 7 days, the report as JSON without the wall time.
fn small_run(dir: &Path, db: Option<&Path>) -> serde_json::Value {
    let json = dir.join("report.json");
    let mut args = vec![
        "--members".to_string(),
        "40".into(),
        "--days".into(),
        "7".into(),
        "--seed".into(),
        "7".into(),
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
    assert_eq!(r["partial"], false);
    assert_eq!(r["limit_violations"], 0, "{r:#}");
    assert_eq!(r["slots_closed_without_outcome"], 0, "{r:#}");
    assert_eq!(r["alerts_without_standing_consent"], 0, "{r:#}");
    assert_eq!(r["setups_unfinished"], 0, "{r:#}");
    assert!(r["checkins"]["completed"].as_i64().unwrap() > 100, "{r:#}");
    assert!(r["checkins"]["missed"].as_i64().unwrap() > 0, "{r:#}");
    assert!(r["alerts"]["total"].as_u64().unwrap() > 0, "{r:#}");

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
