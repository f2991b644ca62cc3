//! What the benches share: the app on a fresh database against the fake Bot API, with
//! Telegram's pacing lifted (the benches measure our stack, not Telegram's allowance).

use std::sync::Arc;

use staywell::app::Application;
use staywell::clock::{Clock, SystemClock};
use staywell::config::{OutboxSettings, Secret, Settings};
use staywell::content::shipped_dialogs_dir;
use tokio::sync::watch;

use crate::fake_telegram::{BOT_TOKEN, FakeTelegram};

pub struct Bench {
    pub fake: FakeTelegram,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

pub async fn start() -> Bench {
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        token: Some(Secret::new(BOT_TOKEN)),
        api_url: Some(fake.api_url()),
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        dialogs_dir: shipped_dialogs_dir(),
        poll_timeout_secs: 5,
        outbox: OutboxSettings {
            global_per_second: 1_000_000,
            per_chat_burst: 1_000_000,
            per_chat_interval_ms: 0,
            max_in_flight: 64,
            ..OutboxSettings::default()
        },
        ..Settings::default()
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let app = Application::build(settings, clock).await.unwrap();
    let (stop, rx) = watch::channel(false);
    let handle = tokio::spawn(app.run_until_stopped(rx));
    Bench {
        fake,
        stop,
        handle,
        _dir: dir,
    }
}

impl Bench {
    /// The bench's database, for looking inside while it runs.
    #[allow(dead_code)] // used by some benches only
    pub fn database_url(&self) -> String {
        format!("sqlite://{}", self._dir.path().join("bench.db").display())
    }

    pub async fn finish(self) {
        let _ = self.stop.send(true);
        self.handle.await.unwrap().unwrap();
    }
}
