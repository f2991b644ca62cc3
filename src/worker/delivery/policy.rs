//! The delivery policy, pure: what a call's result (or a crash in the middle of it) means
//! for its row — sent, tried again and when, given up, or left `ambiguous`. The table is in
//! the parent module's docs.

use chrono::{DateTime, Utc};

use super::Delivered;
use crate::domain::states::OutboxState;
use crate::domain::{Lane, OutboxId, Outgoing};
use crate::pacing::{Pacer, backoff};
use crate::store::{DeliveryRecord, Interrupted, OutboxRow};

/// Routine rows give up after this many failed attempts (about 20 minutes of backoff).
const MAX_ATTEMPTS: i64 = 12;
/// Urgent rows (crisis card, alerts) keep trying for this long, whatever the count.
const URGENT_GIVE_UP: chrono::Duration = chrono::Duration::hours(24);
/// A question interrupted by a crash is asked again only this soon after it was queued: after
/// a longer outage the moment has passed (and it could land in quiet hours or after a /stop).
const REASK_WITHIN: chrono::Duration = chrono::Duration::minutes(15);

/// Whether a row should still be tried after `attempts` failures.
fn keep_trying(lane: Lane, attempts: i64, created_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    if lane == Lane::Urgent {
        now - created_at < URGENT_GIVE_UP
    } else {
        attempts < MAX_ATTEMPTS
    }
}

fn ambiguous(
    id: OutboxId,
    lane: Lane,
    attempts: i64,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    error: String,
) -> DeliveryRecord {
    if lane == Lane::Urgent && keep_trying(lane, attempts, created_at, now) {
        // Better twice than never for a crisis card or an alert.
        DeliveryRecord::Retry {
            id,
            not_before: now,
            error,
            repeat: true,
            refund: false,
        }
    } else {
        // Telegram has no idempotency key: a routine message is not risked twice.
        DeliveryRecord::Final {
            id,
            state: OutboxState::Ambiguous,
            error,
        }
    }
}

/// What becomes of a row a crash left `sending` (it may or may not have reached Telegram):
/// - a callback answer or an edit (of the buttons, or of a question rewritten into the next
///   one) is sent again: twice does no harm (a second answer is refused, an edit to what is
///   already there changes nothing), never leaves a spinner turning, a keyboard live or the
///   next question unasked;
/// - a crisis card or an alert is sent again, marked as a repeat (better twice than never);
/// - a routine message that asks something (it has buttons: every question has, a free-text
///   one at least "skip") and was queued less than [`REASK_WITHIN`] ago is sent again marked
///   "in case this didn't arrive": nobody is left waiting on a question they never received;
/// - any other routine message is `ambiguous` and not risked twice.
pub(super) fn after_interruption(row: &Interrupted, now: DateTime<Utc>) -> DeliveryRecord {
    let error = "interrupted by a restart".to_string();
    let again = |repeat| DeliveryRecord::Retry {
        id: row.id,
        not_before: now,
        error: error.clone(),
        repeat,
        refund: false,
    };
    match &row.body {
        Some(body) if body.is_idempotent() => again(false),
        Some(body)
            if body.asks()
                && row.lane != Lane::Urgent
                && row.lane <= Lane::Scheduled
                && now - row.created_at < REASK_WITHIN =>
        {
            again(true)
        }
        _ => ambiguous(
            row.id,
            row.lane,
            row.attempts,
            row.created_at,
            now,
            error.clone(),
        ),
    }
}

/// Another attempt after exponential backoff with jitter.
fn retry_later(id: OutboxId, attempts: i64, error: String, now: DateTime<Utc>) -> DeliveryRecord {
    tracing::warn!(outbox_id = id.0, attempts, %error, "delivery will be retried");
    DeliveryRecord::Retry {
        id,
        not_before: now + backoff(attempts, id.0),
        error,
        repeat: false,
        refund: false,
    }
}

/// The delivery policy (see the module docs).
pub(super) fn policy(
    row: &OutboxRow,
    result: Delivered,
    now: DateTime<Utc>,
    pacer: &mut Pacer,
) -> DeliveryRecord {
    let attempts = row.attempts + 1;
    let id = row.id;
    match result {
        Delivered::Sent { message_id } => DeliveryRecord::Sent { id, message_id },
        Delivered::RetryAfter(secs) => {
            pacer.retry_after(row.chat, secs, now);
            tracing::warn!(
                outbox_id = id.0,
                chat = row.chat.0,
                secs,
                "rate limited by Telegram"
            );
            DeliveryRecord::Retry {
                id,
                not_before: now + chrono::Duration::seconds(secs.max(1) as i64),
                error: format!("429 retry after {secs}s"),
                repeat: false,
                refund: true,
            }
        }
        Delivered::Transient(error) if keep_trying(row.lane, attempts, row.created_at, now) => {
            retry_later(id, attempts, error, now)
        }
        Delivered::Transient(error) => {
            tracing::error!(outbox_id = id.0, attempts, %error, "delivery failed for good");
            DeliveryRecord::Final {
                id,
                state: OutboxState::Failed,
                error,
            }
        }
        // An edit or a callback answer may be made twice without harm: one that may not have
        // arrived is tried again like any failure (the next question edited in place must not
        // be lost to a timeout).
        Delivered::Ambiguous(error)
            if row.body.is_idempotent() && keep_trying(row.lane, attempts, row.created_at, now) =>
        {
            retry_later(id, attempts, error, now)
        }
        Delivered::Ambiguous(error) => {
            tracing::warn!(outbox_id = id.0, lane = ?row.lane, %error, "delivery ambiguous");
            ambiguous(id, row.lane, attempts, row.created_at, now, error)
        }
        Delivered::Unreachable(reason) => {
            tracing::info!(outbox_id = id.0, chat = row.chat.0, "chat unreachable");
            DeliveryRecord::Unreachable {
                id,
                chat: row.chat,
                reason,
            }
        }
        Delivered::Rejected(error) => {
            tracing::warn!(outbox_id = id.0, %error, "delivery rejected by Telegram");
            DeliveryRecord::Final {
                id,
                state: OutboxState::Failed,
                error,
            }
        }
    }
}

pub(super) fn mark_repeat(body: &Outgoing, notice: &str) -> Outgoing {
    match body {
        Outgoing::Message {
            text,
            buttons,
            protect,
            silent,
        } => Outgoing::Message {
            text: format!("{notice}\n\n{text}"),
            buttons: buttons.clone(),
            protect: *protect,
            silent: *silent,
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_a_crash_answers_edits_urgent_rows_and_questions_go_again_other_messages_do_not() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-02T19:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let buttons = |asks: bool| {
            if asks {
                vec![vec![crate::domain::Button::new("Yes", "q:1")]]
            } else {
                vec![]
            }
        };
        let row = |kind: &str, lane, asks: bool| Interrupted {
            id: OutboxId(1),
            lane,
            attempts: 1,
            created_at: now,
            body: Some(match kind {
                "answer_callback" => Outgoing::AnswerCallback {
                    query_id: "q".into(),
                    text: None,
                },
                "edit_buttons" => Outgoing::EditButtons {
                    message_id: 1,
                    buttons: buttons(asks),
                },
                "edit_message" => Outgoing::EditMessage {
                    message_id: 1,
                    text: "next".into(),
                    buttons: buttons(asks),
                },
                "message" => Outgoing::with_buttons("a question", buttons(asks)),
                _ => Outgoing::Document {
                    filename: "f".into(),
                    content: String::new(),
                    caption: String::new(),
                },
            }),
        };
        let again = |r: &DeliveryRecord| match r {
            DeliveryRecord::Retry { repeat, .. } => Some(*repeat),
            _ => None,
        };
        // (kind, lane, has buttons) → None: left ambiguous; Some(marked as a repeat)
        let table = [
            ("answer_callback", Lane::Reply, false, Some(false)),
            ("edit_buttons", Lane::Tidy, false, Some(false)),
            ("edit_buttons", Lane::Reply, false, Some(false)),
            ("edit_message", Lane::Reply, true, Some(false)),
            ("edit_message", Lane::Scheduled, true, Some(false)),
            ("message", Lane::Urgent, false, Some(true)),
            ("message", Lane::Urgent, true, Some(true)),
            ("message", Lane::Reply, true, Some(true)),
            ("message", Lane::Scheduled, true, Some(true)),
            ("message", Lane::Reply, false, None),
            ("message", Lane::Scheduled, false, None),
            ("message", Lane::Nudge, true, None),
            ("document", Lane::Reply, false, None),
            ("chart", Lane::Reply, false, None),
        ];
        // A question from before a long outage is not asked again.
        let mut stale = row("message", Lane::Scheduled, true);
        stale.created_at = now - chrono::Duration::hours(4);
        assert_eq!(again(&after_interruption(&stale, now)), None);
        for (kind, lane, asks, expected) in table {
            let record = after_interruption(&row(kind, lane, asks), now);
            assert_eq!(again(&record), expected, "{kind} {lane:?} asks={asks}");
            if expected.is_none() {
                assert!(matches!(
                    record,
                    DeliveryRecord::Final {
                        state: OutboxState::Ambiguous,
                        ..
                    }
                ));
            }
        }
    }
}
