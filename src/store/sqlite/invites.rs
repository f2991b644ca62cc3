//! SQL for invites: creating, looking up (by hash), accepting, declining, expiring, and
//! counting failed attempts.

use chrono::{DateTime, Duration, Utc};
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::circle::{Entry, audit};
use super::{from_ms, ms};
use crate::domain::circle::{InviteLookup, Role};
use crate::domain::{ChatId, MemberId, UserId};

/// Failed invite attempts allowed per chat in [`INVITE_WINDOW`] before even valid-looking
/// tokens are refused.
pub const INVITE_FAILURES_ALLOWED: i64 = 5;
pub const INVITE_WINDOW: Duration = Duration::hours(1);

impl Store {
    /// Looks up an invite token from `chat`. Every kind of bad token gives `Invalid`; a chat
    /// with too many recent failures gets `RateLimited` without any lookup.
    pub(in crate::store) async fn lookup_invite(
        tx: &mut SqliteConnection,
        chat: ChatId,
        token_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<InviteLookup> {
        let failures: i64 =
            sqlx::query_scalar("SELECT count(*) FROM invite_failures WHERE chat_id = ? AND at > ?")
                .bind(chat.0)
                .bind(ms(now - INVITE_WINDOW))
                .fetch_one(&mut *tx)
                .await?;
        if failures >= INVITE_FAILURES_ALLOWED {
            return Ok(InviteLookup::RateLimited);
        }
        let Some(token_hash) = token_hash else {
            return Ok(InviteLookup::Invalid);
        };
        // Compared by hash, inside the database's index: the token itself is never stored.
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM invites WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        match id {
            Some(id) => Self::invite_by_id(tx, id, now).await,
            None => Ok(InviteLookup::Invalid),
        }
    }

    /// An invite by id, if it is still open and unexpired.
    pub(in crate::store) async fn invite_by_id(
        tx: &mut SqliteConnection,
        id: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<InviteLookup> {
        let row = sqlx::query(
            "SELECT i.id, i.member_id, m.telegram_user_id, m.chat_id, m.display_name, i.role,
                    i.expires_at
             FROM invites i JOIN members m ON m.id = i.member_id
             WHERE i.id = ? AND i.state = 'open' AND i.expires_at > ? AND m.stopped_at IS NULL",
        )
        .bind(id)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row
            .and_then(|r| {
                Some(InviteLookup::Valid {
                    invite: r.get(0),
                    member: MemberId(r.get(1)),
                    member_user: UserId(r.get(2)),
                    member_chat: ChatId(r.get(3)),
                    member_name: r.get::<Option<String>, _>(4).unwrap_or_default(),
                    role: Role::parse(r.get(5))?,
                    expires_at: from_ms(r.get(6)),
                })
            })
            .unwrap_or(InviteLookup::Invalid))
    }

    pub(in crate::store) async fn create_invite(
        tx: &mut SqliteConnection,
        chat: ChatId,
        member: MemberId,
        token_hash: &str,
        role: Role,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO invites (member_id, token_hash, role, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(member.0)
        .bind(token_hash)
        .bind(role.as_str())
        .bind(ms(now))
        .bind(ms(expires_at))
        .fetch_one(&mut *tx)
        .await?;
        audit(
            tx,
            "invite_created",
            Entry {
                member: Some(member.0),
                invite: Some(id),
                actor: Some(chat),
                ..Entry::default()
            },
            now,
        )
        .await
    }

    pub(in crate::store) async fn invite_failed(
        tx: &mut SqliteConnection,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO invite_failures (chat_id, at) VALUES (?, ?)")
            .bind(chat.0)
            .bind(ms(now))
            .execute(tx)
            .await?;
        Ok(())
    }

    /// The invitee accepts: the invite is used up and they join the circle, awaiting the
    /// member's confirmation. Applies only to an invite still open.
    pub(in crate::store) async fn accept_invite(
        tx: &mut SqliteConnection,
        chat: ChatId,
        invite: i64,
        user: UserId,
        name: &str,
        username: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let row = sqlx::query(
            "UPDATE invites SET state = 'used', used_at = ?, used_by_chat = ?
             WHERE id = ? AND state = 'open' AND expires_at > ? RETURNING member_id, role",
        )
        .bind(ms(now))
        .bind(chat.0)
        .bind(invite)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            anyhow::bail!("invite {invite} is no longer open");
        };
        let member: i64 = row.get(0);
        let role: String = row.get(1);
        // Someone already in this member's circle (through another link) is not added twice.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT OR IGNORE INTO circle (member_id, invite_id, chat_id, user_id, name, username,
                                           role, status, position, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'awaiting',
                     (SELECT coalesce(max(position), 0) + 1 FROM circle WHERE member_id = ?), ?)
             RETURNING id",
        )
        .bind(member)
        .bind(invite)
        .bind(chat.0)
        .bind(user.0)
        .bind(name)
        .bind(username)
        .bind(&role)
        .bind(member)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        let e = Entry {
            member: Some(member),
            circle: id,
            invite: Some(invite),
            actor: Some(chat),
            ..Entry::default()
        };
        audit(tx, "invite_used", e, now).await
    }

    pub(in crate::store) async fn decline_invite(
        tx: &mut SqliteConnection,
        chat: ChatId,
        invite: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        // Someone who declines leaves nothing of theirs behind: not their chat on the invite
        // or in the audit trail, nor the buttons they were shown.
        let member: Option<i64> = sqlx::query_scalar(
            "UPDATE invites SET state = 'declined', used_at = ?
             WHERE id = ? AND state = 'open' RETURNING member_id",
        )
        .bind(ms(now))
        .bind(invite)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM buttons WHERE user_id = ? AND json_extract(action, '$.invite') = ?",
        )
        .bind(chat.0)
        .bind(invite)
        .execute(&mut *tx)
        .await?;
        let Some(member) = member else {
            return Ok(());
        };
        let e = Entry {
            member: Some(member),
            invite: Some(invite),
            ..Entry::default()
        };
        audit(tx, "invite_declined", e, now).await
    }

    /// Marks open invites past their time as expired (with an audit entry each).
    pub async fn expire_invites(
        tx: &mut SqliteConnection,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let rows = sqlx::query(
            "UPDATE invites SET state = 'expired' WHERE state = 'open' AND expires_at <= ?
             RETURNING id, member_id",
        )
        .bind(ms(now))
        .fetch_all(&mut *tx)
        .await?;
        for r in &rows {
            audit(
                tx,
                "invite_expired",
                Entry {
                    member: Some(r.get(1)),
                    invite: Some(r.get(0)),
                    ..Entry::default()
                },
                now,
            )
            .await?;
        }
        // A pairing the member never confirmed ends with its buttons (and the person's
        // details are blanked).
        let stale: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM circle WHERE status = 'awaiting' AND created_at < ?",
        )
        .bind(ms(now - crate::domain::circle::CONFIRM_TTL))
        .fetch_all(&mut *tx)
        .await?;
        for tie in stale {
            Self::close_tie(tx, tie, "not confirmed", None, now).await?;
        }
        sqlx::query("DELETE FROM invite_failures WHERE at < ?")
            .bind(ms(now - INVITE_WINDOW))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM buttons WHERE expires_at < ?")
            .bind(ms(now - Duration::days(1)))
            .execute(&mut *tx)
            .await?;
        Ok(rows.len() as u64)
    }

    // ---- the whole person ------------------------------------------------------------------
}
