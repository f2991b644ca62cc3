//! SQL for `/week`: a member's answers and daily check-in slots since a moment.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::{from_ms, ms};
use crate::domain::answer::AnswerValue;
use crate::domain::history::{StoredAnswer, StoredSlot};
use crate::domain::{MemberId, SessionId};

impl Store {
    /// The member's answers given since `since` (free text left out: its value never leaves
    /// the store here) and their slots due since then, oldest first.
    pub(in crate::store) async fn week_history(
        conn: &mut SqliteConnection,
        member: MemberId,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(Vec<StoredAnswer>, Vec<StoredSlot>)> {
        let slot_rows = sqlx::query(
            "SELECT dialog_id, local_date, outcome, session_id FROM slots
             WHERE member_id = ? AND due_at >= ? ORDER BY due_at, id",
        )
        .bind(member.0)
        .bind(ms(since))
        .fetch_all(&mut *conn)
        .await?;
        let mut slots = Vec::with_capacity(slot_rows.len());
        let mut slot_of_session: HashMap<i64, NaiveDate> = HashMap::new();
        for r in slot_rows {
            let Ok(local_date) = r.get::<String, _>(1).parse::<NaiveDate>() else {
                continue;
            };
            if let Some(session) = r.get::<Option<i64>, _>(3) {
                slot_of_session.entry(session).or_insert(local_date);
            }
            slots.push(StoredSlot {
                dialog_id: r.get(0),
                local_date,
                outcome: r.get(2),
            });
        }
        let rows = sqlx::query(
            "SELECT a.session_id, a.dialog_id, a.dialog_version, a.step_id, a.state, a.value,
                    s.started_at
             FROM answers a JOIN sessions s ON s.id = a.session_id
             WHERE a.member_id = ? AND a.answered_at >= ?
             ORDER BY a.session_id, a.id",
        )
        .bind(member.0)
        .bind(ms(since))
        .fetch_all(&mut *conn)
        .await?;
        let answers = rows
            .into_iter()
            .map(|r| {
                let session: i64 = r.get(0);
                let state: String = r.get(4);
                let value = r
                    .get::<Option<String>, _>(5)
                    .and_then(|v| serde_json::from_str::<AnswerValue>(&v).ok())
                    .filter(|v| !matches!(v, AnswerValue::Text(_)));
                StoredAnswer {
                    session: SessionId(session),
                    dialog_id: r.get(1),
                    version: r.get(2),
                    step_id: r.get(3),
                    shown: state != "not_shown",
                    value,
                    slot_date: slot_of_session.get(&session).copied(),
                    started_at: from_ms(r.get(6)),
                }
            })
            .collect();
        Ok((answers, slots))
    }
}
