//! SQL for the two whole-person operations: export (`/mydata`) and erasure (`/delete`),
//! found from the schema by the columns that tie a row to a person.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::circle::{Entry, audit};
use crate::domain::{ChatId, Lane, MemberId, UpdateId, UserId};
use crate::store::Subject;

/// The columns that tie a row to a person: a member id, a chat, a Telegram user.
const MEMBER_COLUMNS: &[&str] = &["member_id"];
const CHAT_COLUMNS: &[&str] = &["chat_id", "actor_chat", "used_by_chat"];
const USER_COLUMNS: &[&str] = &["user_id", "telegram_user_id"];
/// Tables whose rows are about nobody in particular.
const NOT_PERSONAL: &[&str] = &["dialog_versions", "telegram_cursor", "scheduler_heartbeat"];
/// Tables that name a chat only to carry messages: the updates it sent (their content
/// erased once processed, the rows swept after 2 days), the messages to it (their text
/// replaced by their kind once delivered, swept after 7 days), and whether it can be
/// reached. Exported and erased with everything else, but on their own they are not data
/// stored *about* someone: `/mydata` and `/delete` say so (`mydata_nothing`,
/// `delete_nothing`) rather than offer a file or an erasure of them.
const OPERATIONAL: &[&str] = &["inbox", "outbox", "chats"];

impl Store {
    /// Whom this chat is, for export and erasure.
    pub(in crate::store) async fn subject_of(
        tx: &mut SqliteConnection,
        chat: ChatId,
    ) -> anyhow::Result<Subject> {
        let row = sqlx::query("SELECT id, telegram_user_id FROM members WHERE chat_id = ?")
            .bind(chat.0)
            .fetch_optional(&mut *tx)
            .await?;
        let user: Option<i64> = match &row {
            Some(r) => Some(r.get(1)),
            None => {
                sqlx::query_scalar("SELECT user_id FROM circle WHERE chat_id = ? LIMIT 1")
                    .bind(chat.0)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        Ok(Subject {
            chat,
            // In a private chat the chat id is the user's id.
            user: Some(UserId(user.unwrap_or(chat.0))),
            member: row.map(|r| MemberId(r.get(0))),
        })
    }

    /// Every table with a column that can point at a person, and the condition that finds
    /// this subject's rows in it (with its values). Derived from the schema itself, so a new
    /// table is covered by export and erasure without anyone remembering to add it.
    pub(in crate::store) async fn personal_tables(
        tx: &mut SqliteConnection,
        who: Subject,
    ) -> anyhow::Result<Vec<(String, String, Vec<i64>)>> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::new();
        for table in tables {
            if NOT_PERSONAL.contains(&table.as_str()) {
                continue;
            }
            let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{table}')"
            )))
            .fetch_all(&mut *tx)
            .await?;
            let mut terms = Vec::new();
            let mut values = Vec::new();
            for col in &columns {
                let c = col.as_str();
                let value = if (table == "members" && c == "id") || MEMBER_COLUMNS.contains(&c) {
                    who.member.map(|m| m.0)
                } else if CHAT_COLUMNS.contains(&c) {
                    Some(who.chat.0)
                } else if USER_COLUMNS.contains(&c) {
                    who.user.map(|u| u.0)
                } else {
                    None
                };
                if let Some(v) = value {
                    terms.push(format!("\"{col}\" = ?"));
                    values.push(v);
                }
            }
            if !terms.is_empty() {
                out.push((table, terms.join(" OR "), values));
            }
        }
        Ok(out)
    }

    /// Whether any row refers to this chat's person, beyond the [`OPERATIONAL`] rows that
    /// only carry messages to and from their chat.
    pub(in crate::store) async fn holds_data(
        tx: &mut SqliteConnection,
        chat: ChatId,
    ) -> anyhow::Result<bool> {
        let who = Self::subject_of(tx, chat).await?;
        for (table, condition, values) in Self::personal_tables(tx, who).await? {
            if OPERATIONAL.contains(&table.as_str()) {
                continue;
            }
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM \"{table}\" WHERE {condition})"
            )));
            for v in &values {
                q = q.bind(*v);
            }
            if q.fetch_one(&mut *tx).await? == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Everything stored about this chat's person, table by table, plus counts for the
    /// summary. Earlier exports waiting in the outbox are not repeated inside the new one.
    pub(in crate::store) async fn export(
        tx: &mut SqliteConnection,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(Value, Vec<(String, usize)>)> {
        let who = Self::subject_of(tx, chat).await?;
        let mut tables = Map::new();
        let mut counts = Vec::new();
        for (table, condition, values) in Self::personal_tables(tx, who).await? {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM \"{table}\" WHERE {condition}"
            )));
            for v in &values {
                q = q.bind(*v);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let mut list = Vec::with_capacity(rows.len());
            for r in &rows {
                let mut obj = Map::new();
                for (i, col) in sqlx::Row::columns(r).iter().enumerate() {
                    let name = sqlx::Column::name(col).to_string();
                    let v = if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
                        json!(v)
                    } else if let Ok(v) = r.try_get::<Option<f64>, _>(i) {
                        json!(v)
                    } else if let Ok(v) = r.try_get::<Option<String>, _>(i) {
                        // JSON columns (answers, sessions, messages) are shown as JSON.
                        match v.as_deref().map(serde_json::from_str::<Value>) {
                            Some(Ok(parsed)) if parsed.is_object() || parsed.is_array() => parsed,
                            _ => json!(v),
                        }
                    } else {
                        Value::Null
                    };
                    obj.insert(name, v);
                }
                if table == "outbox"
                    && obj
                        .get("payload")
                        .and_then(|p| p.get("type"))
                        .is_some_and(|t| t == "document")
                {
                    obj.insert("payload".into(), json!("(an earlier export)"));
                }
                list.push(Value::Object(obj));
            }
            if !list.is_empty() {
                counts.push((table.clone(), list.len()));
            }
            tables.insert(table, Value::Array(list));
        }
        audit(
            tx,
            "export",
            Entry {
                member: who.member.map(|m| m.0),
                actor: Some(chat),
                ..Entry::default()
            },
            now,
        )
        .await?;
        let doc = json!({
            "about": "Everything staywell stores about you, table by table. Times are milliseconds since 1970 (UTC).",
            "exported_at": now.to_rfc3339(),
            "tables": tables,
        });
        Ok((doc, counts))
    }

    /// Erases every row about this chat's person — as a member (answers, sessions, slots,
    /// schedules, consents, circle, invites, buttons, outbox, audit) and in anyone's circle —
    /// and leaves one audit entry without identity. Inbox rows (already without content)
    /// lose their chat. Messages queued after this (the goodbye, the notices) still go.
    pub(in crate::store) async fn erase(
        tx: &mut SqliteConnection,
        chat: ChatId,
        through: UpdateId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let who = Self::subject_of(tx, chat).await?;
        // In other members' circles: they leave (consents revoked and audited, the row
        // blanked), so the members keep their own history without this person in it.
        let ties: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM circle WHERE chat_id = ? AND status != 'ended'")
                .bind(chat.0)
                .fetch_all(&mut *tx)
                .await?;
        for tie in ties {
            Self::close_tie(tx, tie, "left", None, now).await?;
        }
        // Other members' rows that merely mention this chat lose the mention.
        sqlx::query("UPDATE audit SET actor_chat = NULL WHERE actor_chat = ?")
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE invites SET used_by_chat = NULL WHERE used_by_chat = ?")
            .bind(chat.0)
            .execute(&mut *tx)
            .await?;
        // Updates up to this one (all processed, or being processed now) lose their chat;
        // anything the person sends after this is new.
        sqlx::query(
            "UPDATE inbox SET chat_id = NULL, payload = NULL WHERE chat_id = ? AND update_id <= ?",
        )
        .bind(chat.0)
        .bind(through.0)
        .execute(&mut *tx)
        .await?;
        // Every message to them or about them goes, except a crisis card still on its way
        // (it holds nothing about them, and must never be lost).
        sqlx::query(
            "DELETE FROM outbox
             WHERE (chat_id = ?1 OR (?2 IS NOT NULL AND member_id = ?2))
               AND NOT (chat_id = ?1 AND lane = ?3 AND state IN ('pending', 'sending'))",
        )
        .bind(chat.0)
        .bind(who.member.map(|m| m.0))
        .bind(Lane::Urgent.as_i64())
        .execute(&mut *tx)
        .await?;
        let mut tables = Self::personal_tables(tx, who).await?;
        // `members` last (its children cascade, but explicit is clearer).
        tables.sort_by_key(|(t, _, _)| (t == "members", t.clone()));
        for (table, condition, values) in tables {
            if table == "inbox" || table == "outbox" {
                continue;
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM \"{table}\" WHERE {condition}"
            )));
            for v in &values {
                q = q.bind(*v);
            }
            q.execute(&mut *tx).await?;
        }
        audit(tx, "erasure", Entry::default(), now).await
    }

    /// The tables that refer to nobody in particular (everything else is about someone).
    pub fn impersonal_tables() -> &'static [&'static str] {
        NOT_PERSONAL
    }
}
