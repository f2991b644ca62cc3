//! Intent-named helpers: start the bot against the fake Telegram, talk to it, look inside.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::Row;
use staywell::app::Application;
use staywell::clock::{Clock, SystemClock};
use staywell::config::{Secret, Settings};
use staywell::content::shipped_dialogs_dir;
use staywell::store::Store;
use staywell::store::prelude::*;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::fake_telegram::{BOT_TOKEN, FakeTelegram, Sent};

/// A bounded wait for something that should happen soon. Not a timing assertion.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn test_settings(fake: &FakeTelegram, db: &Path) -> Settings {
    let mut s = Settings {
        token: Some(Secret::new(BOT_TOKEN)),
        api_url: Some(fake.api_url()),
        database_url: format!("sqlite://{}", db.display()),
        dialogs_dir: shipped_dialogs_dir(),
        poll_timeout_secs: 5,
        ..Settings::default()
    };
    // Keep Telegram's shape (burst then interval) but shorter, so tests stay quick; the
    // pacing tests use the real values.
    s.outbox.per_chat_interval_ms = 50;
    s
}

/// The bot running in this process against a fresh database and a fresh fake Telegram.
pub struct TestApp {
    pub fake: FakeTelegram,
    pub store: Store,
    pub db_path: PathBuf,
    pub settings: Settings,
    stop: watch::Sender<bool>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `TEST_LOG=staywell=debug cargo test …` shows the bot's logs for in-process tests.
fn init_test_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    init_test_logging();
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("staywell.db");
    let mut settings = test_settings(&fake, &db_path);
    tweak(&mut settings);
    start_on(fake, settings, db_path, dir).await
}

async fn start_on(
    fake: FakeTelegram,
    settings: Settings,
    db_path: PathBuf,
    dir: tempfile::TempDir,
) -> TestApp {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = Application::build(settings.clone(), clock)
        .await
        .expect("the app builds");
    let store = app.store().clone();
    let (stop, rx) = watch::channel(false);
    let handle = tokio::spawn(app.run_until_stopped(rx));
    TestApp {
        fake,
        store,
        db_path,
        settings,
        stop,
        handle: Some(handle),
        _dir: dir,
    }
}

impl TestApp {
    /// Sends `text` from `chat` and waits until the bot has sent `replies` more messages there.
    pub async fn say(&self, chat: i64, text: &str, replies: usize) -> Vec<Sent> {
        let before = self.fake.sent_to(chat).len();
        self.fake.push_text(chat, text);
        let all = self.fake.wait_for_sent(chat, before + replies, WAIT).await;
        all[before..].to_vec()
    }

    /// Presses a button of one of the bot's messages and waits for `replies` more messages.
    pub async fn press(&self, chat: i64, message_id: i64, data: &str, replies: usize) -> Vec<Sent> {
        let before = self.fake.sent_to(chat).len();
        let answered = self.fake.requests_for("answercallbackquery").len();
        self.fake.push_callback(chat, chat, message_id, data);
        self.fake
            .wait_for(WAIT, "the callback query to be answered", |v| {
                v.count("answercallbackquery", 200) > answered
            })
            .await;
        let all = self.fake.wait_for_sent(chat, before + replies, WAIT).await;
        all[before..].to_vec()
    }

    /// Waits until every inbox row is processed and no outbox row is pending or in flight.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Read in the order things happen (confirmed by Telegram ⇒ stored in the inbox;
            // processed ⇒ its messages are in the outbox), so nothing slips between reads.
            let undelivered = self.fake.undelivered();
            let inbox = self.store.unprocessed_count().await.unwrap();
            let c = self.store.outbox_counts().await.unwrap();
            if undelivered == 0 && inbox == 0 && c.pending == 0 && c.sending == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot did not settle: inbox {inbox}, outbox {c:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Onboards `chat` as a member called `name` in UK time.
    pub async fn onboard(&self, chat: i64, name: &str) {
        let start = self.say(chat, "/start", 3).await;
        let consent = &start[2];
        self.press(chat, consent.message_id, "consent:yes:1", 1)
            .await;
        let tz = self.say(chat, name, 1).await;
        let when = self.press(chat, tz[0].message_id, "tz:london", 1).await;
        // No schedule: these tests run on the wall clock, and a prompt arriving by chance
        // would be noise (the scheduler is tested on a manual clock).
        // "All set", then the optional weekly check-in (left unanswered).
        self.press(chat, when[0].message_id, "ct:none", 2).await;
    }

    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        let _ = self.stop.send(true);
        if let Some(h) = self.handle.take() {
            h.await
                .expect("the app task")
                .expect("the app stops cleanly");
        }
    }

    /// Stops the bot and starts a new one on the same database and fake Telegram.
    pub async fn restart(mut self) -> TestApp {
        self.halt().await;
        let TestApp {
            fake,
            db_path,
            settings,
            _dir,
            ..
        } = self;
        start_on(fake, settings, db_path, _dir).await
    }

    /// The latest message the bot sent to `chat` as it reads now: a question answered in
    /// place reads as its answer and the next question.
    pub fn latest_text(&self, chat: i64) -> String {
        let last = self.fake.sent_to(chat).last().cloned().expect("a message");
        self.fake
            .message(chat, last.message_id)
            .map(|(text, _)| text)
            .unwrap_or(last.text)
    }

    /// The text of the latest message in `chat` with buttons, as it reads now: the question
    /// being asked, wherever it is (a question answered in place stays where it was, above
    /// anything said after it).
    pub fn latest_question(&self, chat: i64) -> Option<String> {
        self.fake.sent_to(chat).iter().rev().find_map(|sent| {
            let (text, markup) = self.fake.message(chat, sent.message_id)?;
            (!buttons(markup.as_ref()).is_empty()).then_some(text)
        })
    }

    /// The latest message in `chat` with buttons; the button on it whose label is `label`
    /// (or else contains it, ignoring case): (message id, callback data).
    pub fn find_button(&self, chat: i64, label: &str) -> Option<(i64, String)> {
        let wanted = label.to_lowercase();
        for sent in self.fake.sent_to(chat).iter().rev() {
            let Some((_, Some(markup))) = self.fake.message(chat, sent.message_id) else {
                continue;
            };
            let buttons: Vec<(String, String)> = buttons(Some(&markup))
                .into_iter()
                .map(|(label, data)| (label.to_lowercase(), data))
                .collect();
            if buttons.is_empty() {
                continue;
            }
            // Only the latest message with buttons counts, as in `staywell chat`.
            return buttons
                .iter()
                .find(|(l, _)| *l == wanted)
                .or_else(|| buttons.iter().find(|(l, _)| l.contains(&wanted)))
                .map(|(_, data)| (sent.message_id, data.clone()));
        }
        None
    }

    pub async fn query_i64(&self, sql: &'static str) -> i64 {
        query_i64(&self.db_path, sql).await
    }

    /// Runs one statement on the database file behind the bot's back (to damage stored data
    /// as a fault or a bad hand edit would).
    pub async fn execute(&self, sql: &'static str) {
        let store_url = format!("sqlite://{}", self.db_path.display());
        let pool = sqlx::SqlitePool::connect(&store_url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }

    /// `staywell check` on this bot's database and dialogs: (success, what it printed).
    pub fn check(&self) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_staywell"))
            .arg("check")
            .env_remove("TELOXIDE_TOKEN")
            .env_remove("TELOXIDE_API_URL")
            .env_remove("STAYWELL_CRASH_AT")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", self.db_path.display()),
            )
            .env("STAYWELL_DIALOGS", &self.settings.dialogs_dir)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

/// Reads one number from the database file (a separate connection, as an operator would).
pub async fn query_i64(db: &Path, sql: &'static str) -> i64 {
    let store_url = format!("sqlite://{}", db.display());
    let pool = sqlx::SqlitePool::connect(&store_url).await.unwrap();
    let v: i64 = sqlx::query(sql).fetch_one(&pool).await.unwrap().get(0);
    pool.close().await;
    v
}

/// Texts of messages, for readable assertions.
pub fn texts(sent: &[Sent]) -> Vec<&str> {
    sent.iter().map(|s| s.text.as_str()).collect()
}

/// Every inline button of a reply markup, as (label, callback data).
pub fn buttons(markup: Option<&Value>) -> Vec<(String, String)> {
    let Some(markup) = markup else {
        return vec![];
    };
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| {
            Some((
                b["text"].as_str()?.to_string(),
                b["callback_data"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// The callback data of every inline button under a message.
pub fn button_data(sent: &Sent) -> Vec<String> {
    buttons(sent.reply_markup.as_ref())
        .into_iter()
        .map(|(_, data)| data)
        .collect()
}

/// `staywell serve` as a real child process.
pub struct BotProcess {
    pub child: Child,
}

pub fn spawn_process(fake: &FakeTelegram, dir: &Path, crash_at: Option<&str>) -> BotProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_staywell"));
    cmd.arg("serve")
        .current_dir(dir)
        .env("TELOXIDE_TOKEN", BOT_TOKEN)
        .env("TELOXIDE_API_URL", fake.api_url())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("staywell.db").display()),
        )
        .env("STAYWELL_DIALOGS", shipped_dialogs_dir())
        .env("RUST_LOG", "staywell=debug")
        .env_remove("STAYWELL_CRASH_AT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("stderr-{}.log", unique()))).unwrap());
    if let Some(point) = crash_at {
        cmd.env("STAYWELL_CRASH_AT", point);
    }
    BotProcess {
        child: cmd.spawn().expect("the staywell binary starts"),
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

impl BotProcess {
    /// Waits for the process to exit on its own; returns its status.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the bot process did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no cleanup, no flush — a power cut as far as the process is concerned.
    pub async fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, as a service manager would send.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        self.wait_exit().await
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary copy of `dialogs/` to change in a test.
pub fn copy_of_shipped_dialogs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(shipped_dialogs_dir()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    dir
}
