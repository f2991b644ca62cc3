//! The one wiring of the bot's loops: the inbox processor, the scheduler and the outbox
//! delivery, built from a store, the loaded content, dialogs and rules, a clock, a few
//! options and a messenger, and woken by each other as `serve` needs. `serve` runs them
//! until it is asked to stop ([`Loops::run_until_stopped`]); `staywell chat`, `staywell
//! simulate`, the tests and the benches step them by hand in virtual time ([`Machinery`]
//! builds such a world; [`Loops::wire`] alone when the world is built differently).
//!
//! Loading what the loops run on lives here too: the dialogs (snapshotted in the store, with
//! the older versions sessions may still be on) and the early-warning rule templates.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use tokio::sync::{Notify, watch};

use crate::clock::{Clock, ManualClock};
use crate::config::{CrashPoint, OutboxSettings, Settings};
use crate::content::Content;
use crate::dialog::{self, CHECKIN_DIALOG, Registry};
use crate::rules::Template;
use crate::scheduler::Scheduler;
use crate::store::prelude::*;
use crate::store::{InstanceLock, Store};
use crate::worker::delivery::{DRAIN_TIMEOUT, Delivery, Messenger};
use crate::worker::inbox::Processor;

/// What the loops are built from and share.
pub struct Parts {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub content: Arc<Content>,
    pub dialogs: Arc<Registry>,
    /// Early-warning rule templates.
    pub rules: Arc<BTreeMap<String, Template>>,
}

impl Parts {
    /// Loads the dialogs under `dir` (snapshotting their versions in `store`, see
    /// [`load_dialogs`]) and the rule templates beside them, refusing any error.
    pub async fn load(
        dir: &Path,
        store: Store,
        clock: Arc<dyn Clock>,
        content: Content,
    ) -> anyhow::Result<Parts> {
        let dialogs = load_dialogs(dir, &store, clock.now()).await?;
        let rules = load_templates(dir, &dialogs)?;
        Ok(Parts {
            store,
            clock,
            content: Arc::new(content),
            dialogs: Arc::new(dialogs),
            rules: Arc::new(rules),
        })
    }
}

/// How the loops wake each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeUps {
    /// As `serve` runs them: the poller wakes the processor, the processor and the scheduler
    /// wake delivery, and the processor wakes the scheduler after every batch.
    Linked,
    /// Each loop waits on wake-ups of its own that nothing else rings: for loops stepped by
    /// hand (the stepping calls wait on none of them).
    Apart,
}

/// What differs between the places the loops run.
pub struct Options {
    /// A reminder goes this long after a slot opens, if nothing was answered.
    pub reminder_delay: Duration,
    /// A gap between scheduler ticks longer than this means the bot was not running.
    pub down_after: Duration,
    pub outbox: OutboxSettings,
    pub crash_at: Option<CrashPoint>,
    /// Key for invite and button tokens.
    pub token_key: [u8; 32],
    /// The bot's Telegram username, for invite links.
    pub bot_username: Arc<RwLock<Option<String>>>,
    pub wake_ups: WakeUps,
}

impl Options {
    /// `serve`'s: from the settings, with the loops woken by each other.
    pub fn serve(
        settings: &Settings,
        token_key: [u8; 32],
        bot_username: Arc<RwLock<Option<String>>>,
    ) -> Options {
        Options {
            reminder_delay: Duration::minutes(settings.reminder_minutes as i64),
            down_after: crate::scheduler::DOWN_AFTER,
            outbox: settings.outbox.clone(),
            crash_at: settings.crash_at,
            token_key,
            bot_username,
            wake_ups: WakeUps::Linked,
        }
    }

    /// A virtual world's: loops stepped by hand, a fresh token key.
    pub fn virtual_time(reminder_minutes: u32, outbox: OutboxSettings) -> anyhow::Result<Options> {
        Ok(Options {
            reminder_delay: Duration::minutes(reminder_minutes as i64),
            // The virtual world never goes down: time jumps are not outages.
            down_after: Duration::days(36_500),
            outbox,
            crash_at: None,
            token_key: crate::token::os_key()?,
            // Links in a virtual world never reach Telegram.
            bot_username: Arc::new(RwLock::new(Some("staywell_bot".into()))),
            wake_ups: WakeUps::Apart,
        })
    }
}

/// The three loops, wired.
pub struct Loops<M: Messenger> {
    pub processor: Processor,
    pub scheduler: Scheduler,
    pub delivery: Delivery<M>,
    /// What wakes the processor: rung by whatever stores updates in the inbox (the poller).
    pub inbox_ready: Arc<Notify>,
}

impl<M: Messenger> Loops<M> {
    pub fn wire(parts: &Parts, opts: Options, messenger: M) -> Loops<M> {
        let inbox_ready = Arc::new(Notify::new());
        let outbox_ready = Arc::new(Notify::new());
        let schedules_changed = Arc::new(Notify::new());
        let wake_up = |shared: &Arc<Notify>| match opts.wake_ups {
            WakeUps::Linked => shared.clone(),
            WakeUps::Apart => Arc::new(Notify::new()),
        };
        let scheduler = Scheduler {
            store: parts.store.clone(),
            content: parts.content.clone(),
            dialogs: parts.dialogs.clone(),
            clock: parts.clock.clone(),
            outbox_ready: wake_up(&outbox_ready),
            wake: wake_up(&schedules_changed),
            reminder_delay: opts.reminder_delay,
            down_after: opts.down_after,
            rules: parts.rules.clone(),
        };
        let processor = Processor {
            store: parts.store.clone(),
            content: parts.content.clone(),
            dialogs: parts.dialogs.clone(),
            clock: parts.clock.clone(),
            inbox_ready: inbox_ready.clone(),
            outbox_ready: wake_up(&outbox_ready),
            schedules_changed: wake_up(&schedules_changed),
            crash_at: opts.crash_at,
            token_key: opts.token_key,
            bot_username: opts.bot_username.clone(),
            rules: parts.rules.clone(),
        };
        let delivery = Delivery {
            store: parts.store.clone(),
            messenger: Arc::new(messenger),
            clock: parts.clock.clone(),
            settings: opts.outbox.clone(),
            outbox_ready: wake_up(&outbox_ready),
            repeat_notice: parts.content.texts.repeat_notice.clone(),
        };
        Loops {
            processor,
            scheduler,
            delivery,
            inbox_ready,
        }
    }

    /// Runs the loops, and `poller` (what fills the inbox) beside them, until `stop` turns
    /// true; then waits for them to finish the work in flight, delivery's calls for at most
    /// [`DRAIN_TIMEOUT`] (calls still out then are reconciled on restart).
    pub async fn run_until_stopped(
        self,
        poller: impl Future<Output = ()> + Send + 'static,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let p = tokio::spawn(poller);
        let i = tokio::spawn(self.processor.run(stop.clone()));
        let d = tokio::spawn(self.delivery.run(stop.clone()));
        let s = tokio::spawn(self.scheduler.run(stop));
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
        Ok(())
    }
}

/// What a virtual world is built from.
pub struct WorldOptions<'a> {
    /// A database file to keep (default: in memory).
    pub db: Option<PathBuf>,
    pub dialogs_dir: &'a Path,
    pub start: DateTime<Utc>,
    pub reminder_minutes: u32,
    pub outbox: OutboxSettings,
}

/// The bot's machinery in virtual time, shared by `staywell chat` and `staywell simulate`:
/// the same store, dialogs and loops as `serve`, on a [`ManualClock`], delivering through
/// any [`Messenger`], stepped by hand.
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
        let content = Content::load_or_fail(opts.dialogs_dir, start.date_naive())?;
        let parts = Parts::load(opts.dialogs_dir, store, Arc::new(clock.clone()), content).await?;
        let options = Options::virtual_time(opts.reminder_minutes, opts.outbox)?;
        let messenger = messenger(&clock, &parts.content);
        let loops = Loops::wire(&parts, options, messenger);
        Ok(Machinery {
            store: parts.store,
            processor: loops.processor,
            scheduler: loops.scheduler,
            delivery: loops.delivery,
            clock,
            content: parts.content,
            lock,
        })
    }

    /// The next moment something is due: a slot, a reminder, a window closing, a delivery.
    pub async fn next_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(self.store.next_event().await?)
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
