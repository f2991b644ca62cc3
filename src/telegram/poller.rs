//! Our own long-polling loop. Each `getUpdates` batch is committed to the inbox together
//! with the next offset *before* the next `getUpdates` confirms it to Telegram, so a crash
//! can neither lose an update nor apply one twice.

use std::sync::Arc;
use std::time::Duration;

use teloxide::RequestError;
use teloxide::prelude::*;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::config::CrashPoint;
use crate::store::Store;

pub struct Poller {
    pub bot: Bot,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub timeout_secs: u32,
    /// Woken after each stored batch.
    pub inbox_ready: Arc<Notify>,
    pub crash_at: Option<CrashPoint>,
}

impl Poller {
    /// Runs until `stop` turns true. Never panics on Telegram or database errors: it logs
    /// (without content), waits, and tries again.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            if *stop.borrow() {
                break;
            }
            let offset = match self.store.next_offset().await {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the update offset");
                    if wait_or_stop(&mut stop, backoff(&mut failures)).await {
                        break;
                    }
                    continue;
                }
            };
            let request = self
                .bot
                .get_updates()
                .offset(offset as i32)
                .timeout(self.timeout_secs)
                .limit(100);
            let result = tokio::select! {
                r = request.send() => r,
                // Abandoning an unanswered poll is safe: nothing it returned was confirmed.
                _ = stop.changed() => break,
            };
            match result {
                Ok(updates) => {
                    failures = 0;
                    if updates.is_empty() {
                        continue;
                    }
                    let next = updates
                        .iter()
                        .map(|u| u.id.0 as i64 + 1)
                        .max()
                        .unwrap_or(offset);
                    let batch: Vec<_> = updates.iter().map(super::convert::incoming).collect();
                    match self
                        .store
                        .save_updates(&batch, next, self.clock.now())
                        .await
                    {
                        Ok(new) => {
                            tracing::debug!(
                                received = batch.len(),
                                new,
                                next_offset = next,
                                "updates stored"
                            );
                            if self.crash_at == Some(CrashPoint::AfterInboxCommit) {
                                tracing::warn!("STAYWELL_CRASH_AT=after_inbox_commit: aborting");
                                std::process::abort();
                            }
                            self.inbox_ready.notify_one();
                        }
                        Err(e) => {
                            // Not stored, so not confirmed: the same batch comes again.
                            tracing::error!(error = %e, "cannot store updates; will fetch them again");
                            if wait_or_stop(&mut stop, backoff(&mut failures)).await {
                                break;
                            }
                        }
                    }
                }
                Err(RequestError::RetryAfter(secs)) => {
                    tracing::warn!(seconds = secs.seconds(), "getUpdates rate limited");
                    if wait_or_stop(&mut stop, secs.duration()).await {
                        break;
                    }
                }
                Err(e) => {
                    let conflict = matches!(
                        &e,
                        RequestError::Api(teloxide::ApiError::TerminatedByOtherGetUpdates)
                    );
                    if conflict {
                        tracing::error!(
                            "another process is polling this bot token (409 Conflict); only one instance may poll"
                        );
                    } else {
                        tracing::warn!(error = %super::messenger::describe(&e), "getUpdates failed");
                    }
                    if wait_or_stop(&mut stop, backoff(&mut failures)).await {
                        break;
                    }
                }
            }
        }
        tracing::info!("poller stopped");
    }
}

fn backoff(failures: &mut u32) -> Duration {
    *failures = (*failures + 1).min(6);
    Duration::from_millis(500 * (1 << (*failures - 1)))
}

/// Sleeps for `d` unless stopped first; returns whether we were stopped.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
