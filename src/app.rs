//! Wiring: build an [`Application`] from settings and run its loops until asked to stop.

use std::sync::Arc;

use anyhow::Context;
use teloxide::requests::Requester;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::Settings;
use crate::content::Content;
use crate::store::Store;
use crate::telegram::{Bots, messenger::TelegramMessenger, poller::Poller};
use crate::worker::delivery::{DRAIN_TIMEOUT, Delivery};
use crate::worker::inbox::Processor;

pub struct Application {
    settings: Settings,
    clock: Arc<dyn Clock>,
    store: Store,
    content: Arc<Content>,
    bots: Bots,
}

impl Application {
    /// Loads content (refusing to start on any error), opens and migrates the database, and
    /// prepares the Telegram clients. Checks the token with `getMe` when Telegram is reachable.
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Application> {
        let bots = Bots::from_settings(&settings)?;
        let content = Content::load_or_fail(&settings.dialogs_dir, clock.now().date_naive())?;
        let store = Store::connect(&settings.database_url).await?;
        store.migrate().await?;
        match bots.send.get_me().await {
            Ok(me) => tracing::info!(bot_id = me.id.0, "connected to the Bot API"),
            Err(teloxide::RequestError::Api(teloxide::ApiError::InvalidToken)) => {
                anyhow::bail!(
                    "Telegram rejected TELOXIDE_TOKEN (invalid token): check it with @BotFather"
                )
            }
            Err(e) => tracing::warn!(
                error = %crate::telegram::messenger::describe(&e),
                "cannot reach the Bot API yet; will keep trying"
            ),
        }
        Ok(Application {
            settings,
            clock,
            store,
            content: Arc::new(content),
            bots,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs the poller, the inbox processor and the delivery worker until `stop` turns true;
    /// then stops polling, finishes the work in flight and returns.
    pub async fn run_until_stopped(self, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let inbox_ready = Arc::new(Notify::new());
        let outbox_ready = Arc::new(Notify::new());
        let poller = Poller {
            bot: self.bots.poll.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            timeout_secs: self.settings.poll_timeout_secs,
            inbox_ready: inbox_ready.clone(),
            crash_at: self.settings.crash_at,
        };
        let processor = Processor {
            store: self.store.clone(),
            content: self.content.clone(),
            clock: self.clock.clone(),
            inbox_ready: inbox_ready.clone(),
            outbox_ready: outbox_ready.clone(),
            crash_at: self.settings.crash_at,
        };
        let delivery = Delivery {
            store: self.store.clone(),
            messenger: Arc::new(TelegramMessenger::new(self.bots.send.clone())),
            clock: self.clock.clone(),
            settings: self.settings.outbox.clone(),
            outbox_ready: outbox_ready.clone(),
            repeat_notice: self.content.texts.repeat_notice.clone(),
        };
        tracing::info!("staywell is running");
        let p = tokio::spawn(poller.run(stop.clone()));
        let i = tokio::spawn(processor.run(stop.clone()));
        let d = tokio::spawn(delivery.run(stop.clone()));
        let (p, i) = (p.await, i.await);
        let d = tokio::time::timeout(DRAIN_TIMEOUT, d).await;
        p.context("poller task failed")?;
        i.context("inbox task failed")?;
        match d {
            Ok(r) => r.context("delivery task failed")?,
            Err(_) => tracing::warn!(
                "calls still in flight after the drain timeout; they will be reconciled on restart"
            ),
        }
        self.store.close().await;
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
