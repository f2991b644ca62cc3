//! Wiring: build an [`Application`] from settings and run its loops until asked to stop.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::Settings;
use crate::content::Content;
use crate::dialog::{self, CHECKIN_DIALOG, Registry};
use crate::rules::Template;
use crate::scheduler::Scheduler;
use crate::store::{InstanceLock, Store};
use crate::telegram::{Bots, messenger::TelegramMessenger, poller::Poller};
use crate::worker::delivery::{DRAIN_TIMEOUT, Delivery};
use crate::worker::inbox::Processor;

pub struct Application {
    settings: Settings,
    clock: Arc<dyn Clock>,
    store: Store,
    content: Arc<Content>,
    dialogs: Arc<Registry>,
    rules: Arc<BTreeMap<String, Template>>,
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
        let dialogs = load_dialogs(&settings.dialogs_dir, &store, clock.now()).await?;
        let rules = load_templates(&settings.dialogs_dir, &dialogs)?;
        let bot_username = bots.check_token().await?;
        let token_key = crate::token::os_key()?;
        Ok(Application {
            bot_username,
            token_key,
            settings,
            clock,
            store,
            content: Arc::new(content),
            dialogs: Arc::new(dialogs),
            rules: Arc::new(rules),
            bots,
            _lock: lock,
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
        let schedules_changed = Arc::new(Notify::new());
        let scheduler = Scheduler {
            store: self.store.clone(),
            content: self.content.clone(),
            dialogs: self.dialogs.clone(),
            clock: self.clock.clone(),
            outbox_ready: outbox_ready.clone(),
            wake: schedules_changed.clone(),
            reminder_delay: chrono::Duration::minutes(self.settings.reminder_minutes as i64),
            down_after: crate::scheduler::DOWN_AFTER,
            rules: self.rules.clone(),
        };
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
        let processor = Processor {
            store: self.store.clone(),
            content: self.content.clone(),
            dialogs: self.dialogs.clone(),
            clock: self.clock.clone(),
            inbox_ready: inbox_ready.clone(),
            outbox_ready: outbox_ready.clone(),
            schedules_changed: schedules_changed.clone(),
            crash_at: self.settings.crash_at,
            token_key: self.token_key,
            bot_username: username.clone(),
            rules: self.rules.clone(),
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
        let s = tokio::spawn(scheduler.run(stop.clone()));
        let (p, i, s) = (p.await, i.await, s.await);
        s.context("scheduler task failed")?;
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

/// Loads the dialogs (refusing any error), snapshots each version in the database (refusing a
/// changed dialog whose version was not bumped), and adds the older versions that sessions in
/// progress may still be on.
pub async fn load_dialogs(
    dir: &std::path::Path,
    store: &Store,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Registry> {
    let loaded = dialog::load_dir(dir);
    for w in loaded.diagnostics.iter().filter(|d| !d.is_error()) {
        tracing::warn!("{w}");
    }
    let Some(catalog) = loaded.catalog else {
        let errors: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        anyhow::bail!(
            "dialogs under {} have errors:\n{}",
            dir.display(),
            errors.join("\n")
        );
    };
    if !catalog.dialogs.contains_key(CHECKIN_DIALOG) {
        anyhow::bail!(
            "no dialog with id `{CHECKIN_DIALOG}` under {}: /checkin needs it",
            dir.display()
        );
    }
    let versions: Vec<_> = catalog
        .dialogs
        .values()
        .map(|d| {
            let source = catalog.sources.get(&d.id).cloned().unwrap_or_default();
            (d.id.clone(), d.version, d.content_hash(), source)
        })
        .collect();
    let conflicts = store.snapshot_dialogs(&versions, now).await?;
    if !conflicts.is_empty() {
        let list: Vec<String> = conflicts
            .iter()
            .map(|(id, v, _)| format!("`{id}` version {v}"))
            .collect();
        anyhow::bail!(
            "these dialogs changed but kept their version number, so answers could be read against the wrong wording: {}. Bump `version` in each file.",
            list.join(", ")
        );
    }
    with_stored_versions(catalog, store).await
}

/// The dialogs as `load_dialogs` gives them, without writing anything (for reading tools such
/// as the backtest).
pub async fn load_dialogs_readonly(
    dir: &std::path::Path,
    store: &Store,
) -> anyhow::Result<Registry> {
    let loaded = dialog::load_dir(dir);
    let Some(catalog) = loaded.catalog else {
        anyhow::bail!(
            "dialogs under {} have errors: run `staywell check`",
            dir.display()
        );
    };
    with_stored_versions(catalog, store).await
}

/// The current dialogs plus every older version the database has a snapshot of.
async fn with_stored_versions(catalog: dialog::Catalog, store: &Store) -> anyhow::Result<Registry> {
    let mut registry = Registry::new(catalog.clone());
    for (id, version, source) in store.dialog_snapshots().await? {
        if registry.get(&id, version).is_some() {
            continue;
        }
        let path = std::path::PathBuf::from(format!("<stored {id} v{version}>"));
        match dialog::load::parse_dialog(&path, &source, &catalog.tags).0 {
            Some(old) => registry.add_old(old),
            None => {
                tracing::warn!(dialog = %id, version, "a stored dialog version no longer loads; sessions on it cannot resume")
            }
        }
    }
    Ok(registry)
}

/// Loads the early-warning rule templates (`rules.toml`) against the dialogs' tags and
/// flags, refusing any error.
pub fn load_templates(
    dir: &std::path::Path,
    dialogs: &Registry,
) -> anyhow::Result<BTreeMap<String, Template>> {
    let (templates, diags) = crate::rules::load_rules(dir, dialogs.catalog());
    for w in diags.iter().filter(|d| !d.is_error()) {
        tracing::warn!("{w}");
    }
    templates.ok_or_else(|| {
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        anyhow::anyhow!(
            "{} has errors:\n{}",
            crate::rules::RULES_FILE,
            errors.join("\n")
        )
    })
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
