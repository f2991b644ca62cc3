//! `serve`: build an [`Application`] from settings (Telegram, the database, the loaded
//! content) and run its loops, wired by [`crate::machinery`], until asked to stop.

use std::sync::Arc;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Settings;
use crate::content::Content;
use crate::machinery::{Loops, Options, Parts};
use crate::store::{InstanceLock, Store};
use crate::telegram::{Bots, messenger::TelegramMessenger, poller::Poller};

pub struct Application {
    settings: Settings,
    parts: Parts,
    bots: Bots,
    bot_username: Option<String>,
    token_key: [u8; 32],
    _lock: InstanceLock,
}

impl Application {
    /// Loads content (refusing to start on any error), opens and migrates the database, and
    /// prepares the Telegram clients. Checks the token with `getMe` when Telegram is reachable.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let bots = Bots::from_settings(&settings)?;
        let content = Content::load_or_fail(&settings.dialogs_dir, clock.now().date_naive())?;
        let lock = InstanceLock::acquire(&settings.database_url)?;
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        let parts = Parts::load(&settings.dialogs_dir, store, clock, content).await?;
        let bot_username = bots.check_token().await?;
        let token_key = crate::token::os_key()?;
        Ok(Application {
            bot_username,
            token_key,
            settings,
            parts,
            bots,
            _lock: lock,
        })
    }

    pub fn store(&self) -> &Store {
        &self.parts.store
    }

    /// Runs the poller, the inbox processor, the scheduler and the delivery worker until
    /// `stop` turns true; then stops polling, finishes the work in flight and returns.
    pub async fn run_until_stopped(self, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        // Invite links need the bot's username: if Telegram was unreachable at start, keep
        // asking (once a minute) until it answers.
        let username = Arc::new(std::sync::RwLock::new(self.bot_username.clone()));
        if self.bot_username.is_none() {
            let (bots, username, mut stop) = (self.bots.clone(), username.clone(), stop.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                        _ = stop.changed() => return,
                    }
                    if let Ok(Some(name)) = bots.check_token().await {
                        if let Ok(mut u) = username.write() {
                            *u = Some(name);
                        }
                        return;
                    }
                }
            });
        }
        let loops = Loops::wire(
            &self.parts,
            Options::serve(&self.settings, self.token_key, username),
            TelegramMessenger::new(self.bots.send.clone()),
        );
        let poller = Poller {
            bot: self.bots.poll.clone(),
            store: self.parts.store.clone(),
            clock: self.parts.clock.clone(),
            timeout_secs: self.settings.poll_timeout_secs,
            inbox_ready: loops.inbox_ready.clone(),
            crash_at: self.settings.crash_at,
        };
        tracing::info!("staywell is running");
        loops
            .run_until_stopped(poller.run(stop.clone()), stop)
            .await?;
        self.parts.store.close().await;
        tracing::info!("staywell stopped");
        Ok(())
    }
}

/// A receiver that turns true on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("stop requested: finishing work in flight");
        let _ = tx.send(true);
    });
    rx
}
