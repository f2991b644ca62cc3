//! `/week` end to end: a photo with a caption and then the summary in words through the fake
//! Telegram (`sendPhoto` with a real PNG), and the chart in `staywell chat` after days of
//! scheduled check-ins in virtual time, and the weekly picture arriving on its own.

use std::path::Path;
use std::process::Command;

use staywell::content::shipped_dialogs_dir;

use crate::helpers::*;

const PERSON: i64 = 5151;

/// A completed daily check-in `days_ago` days ago, written as the bot would have.
async fn stored_checkin(db: &Path, member: i64, days_ago: i64, mood: f64, sleep: f64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let at = chrono::Utc::now().timestamp_millis() - days_ago * 86_400_000;
    let session: i64 = sqlx::query_scalar(
        "INSERT INTO sessions (member_id, dialog_id, dialog_version, status, state, started_at,
                               updated_at, expires_at, completed_at)
         VALUES (?, 'daily_checkin', 2, 'completed', '{}', ?, ?, ?, ?) RETURNING id",
    )
    .bind(member)
    .bind(at)
    .bind(at)
    .bind(at)
    .bind(at)
    .fetch_one(&pool)
    .await
    .unwrap();
    for (step, state, value) in [
        ("happy", "answered", Some(format!("{{\"number\":{mood}}}"))),
        ("anxious", "skipped", None),
        (
            "sleep_hours",
            "answered",
            Some(format!("{{\"number\":{sleep}}}")),
        ),
        (
            "note",
            "answered",
            Some("{\"text\":\"private words\"}".to_string()),
        ),
    ] {
        sqlx::query(
            "INSERT INTO answers (session_id, member_id, dialog_id, dialog_version, step_id,
                                  state, value, answered_at)
             VALUES (?, ?, 'daily_checkin', 2, ?, ?, ?, ?)",
        )
        .bind(session)
        .bind(member)
        .bind(step)
        .bind(state)
        .bind(value)
        .bind(at)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn week_sends_a_png_chart_with_a_caption_then_the_summary_in_words() {
    let app = spawn_app().await;
    app.onboard(PERSON, "Alex").await;

    let too_few = app.say(PERSON, "/week", 1).await;
    assert!(too_few[0].text.contains("aren't enough check-ins"));
    assert!(app.fake.requests_for("sendphoto").is_empty());

    let member = app.query_i64("SELECT id FROM members").await;
    stored_checkin(&app.db_path, member, 2, 5.0, 6.0).await;
    stored_checkin(&app.db_path, member, 1, 7.0, 8.0).await;
    let summary = app.say(PERSON, "/week 8", 1).await;
    app.settle().await;

    let photos = app.fake.requests_for("sendphoto");
    assert_eq!(photos.len(), 1);
    let photo = &photos[0];
    assert_eq!(photo.status, 200);
    assert_eq!(photo.chat_id, Some(PERSON));
    let caption = photo
        .form
        .iter()
        .find(|(k, _)| k == "caption")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        caption,
        Some("Your last 8 weeks: mood, anxiety and sleep. The same in words is below.")
    );
    assert_eq!(photo.files.len(), 1);
    assert_eq!(photo.files[0].field, "photo");
    assert_eq!(photo.files[0].file_name, "week.png");
    assert!(
        photo.files[0].len > 10_000,
        "a real chart, not an empty file"
    );

    // The summary comes after the photo (one chat's messages arrive in order).
    assert_eq!(summary.len(), 1);
    assert!(summary[0].at > photo.at);
    assert_eq!(
        summary[0].text,
        "This week: mood mostly 5–7, sleep 7 h on average."
    );
    // The outbox row holds the series to draw, never the note.
    let leaked = app
        .query_i64("SELECT count(*) FROM outbox WHERE payload LIKE '%private words%'")
        .await;
    assert_eq!(leaked, 0);
    app.stop().await;
}

#[test]
fn the_week_script_draws_a_chart_in_the_terminal_after_days_of_check_ins() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chat/week.txt");
    let db = dir.path().join("world.db");
    let out = Command::new(env!("CARGO_BIN_EXE_staywell"))
        .arg("chat")
        .arg("--db")
        .arg(&db)
        .arg("--script")
        .arg(&script)
        .current_dir(dir.path())
        .env_remove("TELOXIDE_TOKEN")
        .env_remove("DATABASE_URL")
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir())
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The terminal saved each chart as a PNG and said where.
    let saved: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    assert_eq!(saved.len(), 3, "{stdout}");
    for png in &saved {
        let bytes = std::fs::read(png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(stdout.contains(&png.display().to_string()));
    }
    // Tuesday's check-in was missed; the weekly picture's slot was sent once.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = |sql: &'static str| rt.block_on(query_i64(&db, sql));
    assert_eq!(
        count(
            "SELECT count(*) FROM slots WHERE dialog_id = 'daily_checkin' AND outcome = 'missed'"
        ),
        1
    );
    assert_eq!(
        count("SELECT count(*) FROM slots WHERE dialog_id = 'week' AND outcome = 'sent'"),
        1
    );
}
