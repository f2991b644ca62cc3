//! Our own long-polling loop. Each `getUpdates` batch is committed to the inbox together
//! with the next offset *before* the next `getUpdates` confirms it to Telegram, so a crash
//! can neither lose an update nor apply one twice.
//!
//! The answer is read update by update, so one update we cannot read never stops the
//! others: teloxide's `get_updates()` parses the whole answer at once, and an update
//! serde_json cannot read (an unknown field nested deeper than its recursion limit of 128)
//! made every answer fail, the offset never moved, and every chat went silent. We make the
//! HTTP call ourselves with teloxide's client, URL and token, split the answer's `result`
//! into its elements without parsing them, and read each one on its own
//! ([`convert::read`]): an unreadable one is stored already set aside (id and kind only)
//! and confirmed with the rest.
//!
//! [`convert::read`]: super::convert::read

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use teloxide::prelude::*;
use tokio::sync::{Notify, watch};

use super::convert::{self, Read};
use crate::clock::Clock;
use crate::config::CrashPoint;
use crate::domain::{Incoming, Unreadable};
use crate::store::Store;
use crate::store::prelude::*;

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
            let result = tokio::select! {
                r = self.get_updates(offset) => r,
                // Abandoning an unanswered poll is safe: nothing it returned was confirmed.
                _ = stop.changed() => break,
            };
            let answer = match result {
                Ok(body) => answer(&body),
                Err(e) => Answer::Failed(e),
            };
            match answer {
                Answer::Updates(reads) => {
                    if reads.is_empty() {
                        failures = 0;
                        continue;
                    }
                    let batch = Batch::of(reads, offset);
                    match self
                        .store
                        .save_batch(
                            &batch.updates,
                            &batch.unreadable,
                            batch.next,
                            self.clock.now(),
                        )
                        .await
                    {
                        Ok(new) => {
                            tracing::debug!(
                                received = batch.updates.len() + batch.unreadable.len(),
                                new,
                                next_offset = batch.next,
                                "updates stored"
                            );
                            if self.crash_at == Some(CrashPoint::AfterInboxCommit) {
                                tracing::warn!("STAYWELL_CRASH_AT=after_inbox_commit: aborting");
                                std::process::abort();
                            }
                            self.inbox_ready.notify_one();
                            if batch.nameless_at_end {
                                // It comes back at once on every poll until a readable update
                                // after it moves the offset past it: poll slowly meanwhile.
                                if wait_or_stop(&mut stop, backoff(&mut failures)).await {
                                    break;
                                }
                            } else {
                                failures = 0;
                            }
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
                Answer::RetryAfter(wait) => {
                    tracing::warn!(seconds = wait.as_secs(), "getUpdates rate limited");
                    if wait_or_stop(&mut stop, wait).await {
                        break;
                    }
                }
                Answer::Conflict => {
                    tracing::error!(
                        "another process is polling this bot token (409 Conflict); only one instance may poll"
                    );
                    if wait_or_stop(&mut stop, backoff(&mut failures)).await {
                        break;
                    }
                }
                Answer::Failed(why) => {
                    tracing::warn!(error = %why, "getUpdates failed");
                    if wait_or_stop(&mut stop, backoff(&mut failures)).await {
                        break;
                    }
                }
            }
        }
        tracing::info!("poller stopped");
    }

    /// One `getUpdates` call through teloxide's HTTP client (with its timeout, which outlasts
    /// the long poll), returning the answer's body whatever its HTTP status: Telegram's
    /// errors are JSON too. The error never holds the URL, which holds the token.
    async fn get_updates(&self, offset: i64) -> Result<String, String> {
        let mut url = self.bot.api_url();
        {
            // As teloxide builds it: `<api url>/bot<token>/<method>`.
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| "the Bot API URL cannot take a path".to_string())?;
            segments.push(&format!("bot{}", self.bot.token()));
            segments.push("getUpdates");
        }
        let body = serde_json::json!({
            "offset": offset,
            "timeout": self.timeout_secs,
            "limit": 100,
        });
        let response = self
            .bot
            .client()
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| transport_error(e.is_timeout(), e.is_connect()))?;
        response
            .text()
            .await
            .map_err(|e| transport_error(e.is_timeout(), e.is_connect()))
    }
}

/// A transport failure in a few words: the error itself names the URL, and so the token.
fn transport_error(timeout: bool, connect: bool) -> String {
    if timeout {
        "network timeout"
    } else if connect {
        "cannot connect to the Bot API"
    } else {
        "network error"
    }
    .to_string()
}

/// A `getUpdates` answer, read.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Each element of `result`, read on its own.
    Updates(Vec<Read>),
    RetryAfter(Duration),
    Conflict,
    /// Why, without content (Telegram's error description, or what was wrong with the body).
    Failed(String),
}

/// Telegram's envelope: `{"ok":…,"result":[…],"description":…,"error_code":…,
/// "parameters":{"retry_after":…}}`.
///
/// `result` is taken as a list of `RawValue`s, each element's JSON text, not yet parsed.
/// serde_json reads a `RawValue` (like `IgnoredAny`, and any field we do not name here) with
/// its `ignore_value`, which walks nested arrays and objects with a heap stack of one byte
/// per level instead of recursion, and without the 128-level limit: a hostile body can
/// neither blow our stack nor, by one deep element, make the whole answer unreadable. (The
/// `unbounded_depth` feature with `disable_recursion_limit` would parse deep values by
/// recursion, trading the error for a possible stack overflow; a hand-written scanner would
/// repeat what `ignore_value` already does, string escapes included.) Each element is then
/// parsed on its own, under serde_json's usual limit.
#[derive(Deserialize)]
struct Envelope<'a> {
    ok: bool,
    #[serde(borrow, default)]
    result: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// Reads a `getUpdates` body. An answer that is not JSON, or not Telegram's envelope, is
/// `Failed` (nothing is confirmed, and it is fetched again after a pause): a truncated body
/// is healed by asking again, and Telegram never sends invalid JSON on purpose. Never
/// fails on an element: see [`convert::read`].
fn answer(body: &str) -> Answer {
    let envelope: Envelope = match serde_json::from_str(body) {
        Ok(e) => e,
        // serde_json's message may quote the body: say only how big it was.
        Err(_) => return Answer::Failed(format!("unreadable answer ({} bytes)", body.len())),
    };
    if envelope.ok {
        return match envelope.result {
            Some(elements) => {
                Answer::Updates(elements.iter().map(|e| convert::read(e.get())).collect())
            }
            None => Answer::Failed("an answer without a result".into()),
        };
    }
    let description = envelope.description.unwrap_or_default();
    if let Some(seconds) = envelope.parameters.and_then(|p| p.retry_after) {
        return Answer::RetryAfter(Duration::from_secs(seconds));
    }
    if envelope.error_code == Some(409)
        && description.starts_with("Conflict: terminated by other getUpdates")
    {
        return Answer::Conflict;
    }
    // Telegram's descriptions are fixed phrases about the request, never message content;
    // a long one is cut, all the same.
    let description: String = description.chars().take(200).collect();
    Answer::Failed(format!(
        "error {}: {description}",
        envelope.error_code.unwrap_or(0)
    ))
}

/// A batch split into what is stored, with the offset that confirms it.
struct Batch {
    updates: Vec<Incoming>,
    unreadable: Vec<Unreadable>,
    /// The highest update id read, plus one (`offset` if none could be read).
    next: i64,
    /// Whether an element without a readable id came after the last readable one.
    nameless_at_end: bool,
}

impl Batch {
    /// Elements whose `update_id` cannot be read cannot be stored or named to Telegram;
    /// only an offset past a readable id after them confirms them. Telegram sends updates
    /// in id order, so one between readable ids is confirmed with the batch; one after the
    /// last readable id comes back at once on every poll until a later update arrives
    /// (an `offset` below it is all we can send: guessing its id could confirm, and lose,
    /// updates nobody has read). Telegram always sends an integer `update_id`, so this is
    /// the edge of an edge, logged as an error each time it is seen.
    fn of(reads: Vec<Read>, offset: i64) -> Batch {
        let mut batch = Batch {
            updates: Vec::new(),
            unreadable: Vec::new(),
            next: offset,
            nameless_at_end: false,
        };
        let mut max_id: Option<i64> = None;
        for (position, read) in reads.into_iter().enumerate() {
            match read {
                Read::Update(incoming) => {
                    max_id = max_id.max(Some(incoming.update_id.0));
                    batch.nameless_at_end = false;
                    batch.updates.push(incoming);
                }
                Read::Unreadable(u) => {
                    tracing::warn!(
                        update_id = u.update_id.0,
                        kind = %u.kind,
                        "an update could not be read; it is set aside"
                    );
                    max_id = max_id.max(Some(u.update_id.0));
                    batch.nameless_at_end = false;
                    batch.unreadable.push(u);
                }
                Read::Nameless { kind } => {
                    tracing::error!(
                        position,
                        kind = %kind,
                        "an update without a readable update_id cannot be stored"
                    );
                    batch.nameless_at_end = true;
                }
            }
        }
        if let Some(id) = max_id {
            batch.next = id + 1;
        }
        batch
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UpdateId;

    fn good(id: i64, chat: i64) -> String {
        format!(
            r#"{{"update_id":{id},"message":{{"message_id":1,"date":1700000000,"chat":{{"id":{chat},"type":"private","first_name":"A"}},"from":{{"id":{chat},"is_bot":false,"first_name":"A"}},"text":"/help"}}}}"#
        )
    }

    fn nested(depth: usize) -> String {
        let mut s = "[".repeat(depth);
        s.push_str(&"]".repeat(depth));
        s
    }

    fn ids(reads: &[Read]) -> Vec<Option<i64>> {
        reads
            .iter()
            .map(|r| match r {
                Read::Update(i) => Some(i.update_id.0),
                Read::Unreadable(u) => Some(u.update_id.0),
                Read::Nameless { .. } => None,
            })
            .collect()
    }

    #[test]
    fn one_unreadable_update_does_not_make_the_answer_unreadable() {
        let too_deep = format!(
            r#"{{"update_id":11,"message":{{"x":{}}}}}"#,
            nested(1_000_000)
        );
        let body = format!(
            r#"{{"ok":true,"result":[{},{too_deep},{},5,{}],"future":{}}}"#,
            good(10, 1),
            r#"{"update_id":12,"message":{"message_id":"x"}}"#,
            good(13, 2),
            nested(1_000_000)
        );
        let Answer::Updates(reads) = answer(&body) else {
            panic!("the answer was not read");
        };
        assert_eq!(
            ids(&reads),
            vec![Some(10), Some(11), Some(12), None, Some(13)]
        );
        assert!(matches!(&reads[1], Read::Unreadable(u) if u.kind == "message"));
        assert!(matches!(&reads[2], Read::Unreadable(u) if u.kind == "message"));
        let batch = Batch::of(reads, 10);
        assert_eq!(batch.next, 14);
        assert!(!batch.nameless_at_end);
        assert_eq!(
            batch
                .updates
                .iter()
                .map(|u| u.update_id)
                .collect::<Vec<_>>(),
            vec![UpdateId(10), UpdateId(13)]
        );
        assert_eq!(batch.unreadable.len(), 2);
    }

    #[test]
    fn an_update_without_a_readable_id_after_the_last_readable_one_keeps_the_offset_below_it() {
        let Answer::Updates(reads) = answer(&format!(
            r#"{{"ok":true,"result":[{},{{"message":{{}}}}]}}"#,
            good(20, 1)
        )) else {
            panic!("the answer was not read");
        };
        let batch = Batch::of(reads, 20);
        assert_eq!((batch.next, batch.nameless_at_end), (21, true));
        let Answer::Updates(reads) = answer(r#"{"ok":true,"result":[{"message":{}}]}"#) else {
            panic!("the answer was not read");
        };
        let batch = Batch::of(reads, 21);
        assert_eq!((batch.next, batch.nameless_at_end), (21, true));
        assert!(batch.updates.is_empty() && batch.unreadable.is_empty());
    }

    #[test]
    fn errors_are_told_apart_without_quoting_the_body() {
        assert_eq!(
            answer(
                r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#
            ),
            Answer::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(
            answer(&format!(
                r#"{{"ok":false,"error_code":409,"description":"{}"}}"#,
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
            )),
            Answer::Conflict
        );
        assert_eq!(
            answer(r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#),
            Answer::Failed("error 401: Unauthorized".into())
        );
        for body in [
            "<html>502 Bad Gateway, private words</html>",
            r#"{"ok":true,"result":[{"update_id":1,"text":"private words"}"#,
            r#"{"ok":"private words"}"#,
        ] {
            let Answer::Failed(why) = answer(body) else {
                panic!("{body} was read");
            };
            assert!(!why.contains("private"), "{why}");
        }
        assert_eq!(
            answer(r#"{"ok":true}"#),
            Answer::Failed("an answer without a result".into())
        );
        assert_eq!(
            answer(r#"{"ok":true,"result":[]}"#),
            Answer::Updates(vec![])
        );
    }
}
