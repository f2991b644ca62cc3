//! The bot's machinery in virtual time, shared by `staywell chat` and `staywell simulate`:
//! the same store, dialogs, processor, scheduler and delivery as `serve`, on a [`ManualClock`],
//! delivering through any [`Messenger`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::app::load_dialogs;
use crate::clock::{Clock, ManualClock};
use crate::config::OutboxSettings;
use crate::content::Content;
use crate::scheduler::Scheduler;
use crate::store::prelude::*;
use crate::store::{InstanceLock, Store};
use crate::worker::delivery::{Delivery, Messenger};
use crate::worker::inbox::Processor;

/// What a virtual world is built from.
pub struct WorldOptions<'a> {
    /// A database file to keep (default: in memory).
    pub db: Option<PathBuf>,
    pub dialogs_dir: &'a Path,
    pub start: DateTime<Utc>,
    pub reminder_minutes: u32,
    pub outbox: OutboxSettings,
}

/// The bot's parts, wired together on one virtual clock.
pub struct Machinery<M: Messenger> {
    pub store: Store,
    pub processor: Processor,
    pub scheduler: Scheduler,
    pub delivery: Delivery<M>,
    pub clock: ManualClock,
    pub content: Arc<Content>,
    pub lock: InstanceLock,
}

impl<M: Messenger> Machinery<M> {
    /// Builds the world; `messenger` receives the clock and the loaded content.
    pub async fn build(
        opts: WorldOptions<'_>,
        messenger: impl FnOnce(&ManualClock, &Arc<Content>) -> M,
    ) -> anyhow::Result<Machinery<M>> {
        let start = opts.start;
        let clock = ManualClock::new(start);
        let url = match &opts.db {
            Some(p) => format!("sqlite://{}", p.display()),
            None => "sqlite::memory:".to_string(),
        };
        let lock = InstanceLock::acquire(&url)?;
        let store = Store::connect(&url).await?;
        store.migrate().await?;
        let content = Arc::new(Content::load_or_fail(opts.dialogs_dir, start.date_naive())?);
        let dialogs = Arc::new(load_dialogs(opts.dialogs_dir, &store, start).await?);
        let rules = Arc::new(crate::app::load_templates(opts.dialogs_dir, &dialogs)?);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let scheduler = Scheduler {
            store: store.clone(),
            content: content.clone(),
            dialogs: dialogs.clone(),
            clock: shared.clone(),
            outbox_ready: Arc::new(Notify::new()),
            wake: Arc::new(Notify::new()),
            reminder_delay: chrono::Duration::minutes(opts.reminder_minutes as i64),
            // The virtual world never goes down: time jumps are not outages.
            down_after: chrono::Duration::days(36_500),
            rules: rules.clone(),
        };
        let processor = Processor {
            store: store.clone(),
            content: content.clone(),
            dialogs,
            clock: shared.clone(),
            inbox_ready: Arc::new(Notify::new()),
            outbox_ready: Arc::new(Notify::new()),
            schedules_changed: Arc::new(Notify::new()),
            crash_at: None,
            token_key: crate::token::os_key()?,
            // Links in a virtual world never reach Telegram.
            bot_username: Arc::new(std::sync::RwLock::new(Some("staywell_bot".into()))),
            rules,
        };
        let delivery = Delivery {
            store: store.clone(),
            messenger: Arc::new(messenger(&clock, &content)),
            clock: shared,
            settings: opts.outbox,
            outbox_ready: Arc::new(Notify::new()),
            repeat_notice: content.texts.repeat_notice.clone(),
        };
        Ok(Machinery {
            store,
            processor,
            scheduler,
            delivery,
            clock,
            content,
            lock,
        })
    }

    /// The next moment something is due: a slot, a reminder, a window closing, a delivery.
    pub async fn next_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(self.store.next_event().await?)
    }
}
