//! SQL for the circle: invites, ties, away, consents, server-side buttons, the audit trail,
//! and the two whole-person operations, export (`/mydata`) and erasure (`/delete`).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::{from_ms, ms};
use crate::domain::circle::{
    Action, ConsentView, InviteLookup, NewButton, Pressed, Purpose, Role, Supporting, Tie,
    TieStatus,
};
use crate::domain::{ChatId, Envelope, Lane, MemberId, OutboxId, UpdateId, UserId};
use crate::store::Subject;
use crate::store::{CircleRead, StoreError};

/// Failed invite attempts allowed per chat in [`INVITE_WINDOW`] before even valid-looking
/// tokens are refused.
pub const INVITE_FAILURES_ALLOWED: i64 = 5;
pub const INVITE_WINDOW: Duration = Duration::hours(1);

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

fn status(s: &str) -> TieStatus {
    if s == "awaiting" {
        TieStatus::Awaiting
    } else {
        TieStatus::Active
    }
}

/// What an audit entry points at: ids only, never content.
#[derive(Default)]
pub(super) struct Entry {
    pub member: Option<i64>,
    pub circle: Option<i64>,
    pub invite: Option<i64>,
    pub consent: Option<i64>,
    pub actor: Option<ChatId>,
}

pub(super) async fn audit(
    tx: &mut SqliteConnection,
    event: &str,
    e: Entry,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Entry {
        member,
        circle,
        invite,
        consent,
        actor,
    } = e;
    sqlx::query(
        "INSERT INTO audit (at, event, member_id, circle_id, invite_id, consent_id, actor_chat)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ms(now))
    .bind(event)
    .bind(member)
    .bind(circle)
    .bind(invite)
    .bind(consent)
    .bind(actor.map(|c| c.0))
    .execute(tx)
    .await?;
    Ok(())
}

impl Store {
    /// The circle side of a chat: the member's circle and consents (if `member` is given),
    /// whom the chat supports, and whether it is away.
    pub(in crate::store) async fn load_circle(
        tx: &mut SqliteConnection,
        chat: ChatId,
        member: Option<MemberId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<CircleRead> {
        let mut read = CircleRead::default();
        if let Some(member) = member {
            let rows = sqlx::query(
                "SELECT c.id, c.invite_id, c.chat_id, c.user_id, c.name, c.username, c.role,
                        c.status, c.position, a.away_until, c.created_at
                 FROM circle c LEFT JOIN away a ON a.chat_id = c.chat_id
                 WHERE c.member_id = ? AND c.status != 'ended'
                 ORDER BY c.position, c.id",
            )
            .bind(member.0)
            .fetch_all(&mut *tx)
            .await?;
            read.circle = rows
                .into_iter()
                .filter_map(|r| {
                    Some(Tie {
                        id: r.get(0),
                        invite_id: r.get(1),
                        chat: ChatId(r.get(2)),
                        user: UserId(r.get(3)),
                        name: r.get(4),
                        username: r.get(5),
                        role: Role::parse(r.get(6))?,
                        status: status(r.get(7)),
                        position: r.get(8),
                        away_until: r.get::<Option<i64>, _>(9).map(from_ms),
                        since: from_ms(r.get(10)),
                    })
                })
                .collect();
            let rows = sqlx::query(
                "SELECT id, purpose, circle_id, granted_at FROM consents
                 WHERE member_id = ? AND revoked_at IS NULL ORDER BY id",
            )
            .bind(member.0)
            .fetch_all(&mut *tx)
            .await?;
            read.consents = rows
                .into_iter()
                .filter_map(|r| {
                    Some(ConsentView {
                        id: r.get(0),
                        purpose: Purpose::parse(r.get(1))?,
                        tie: r.get(2),
                        granted_at: from_ms(r.get(3)),
                    })
                })
                .collect();
        }
        let rows = sqlx::query(
            "SELECT c.id, c.member_id, m.chat_id, m.display_name, c.role, c.status,
                    coalesce(c.confirmed_at, c.created_at)
             FROM circle c JOIN members m ON m.id = c.member_id
             WHERE c.chat_id = ? AND c.status != 'ended' ORDER BY c.id",
        )
        .bind(chat.0)
        .fetch_all(&mut *tx)
        .await?;
        read.supporting = rows
            .into_iter()
            .filter_map(|r| {
                Some(Supporting {
                    tie: r.get(0),
                    member: MemberId(r.get(1)),
                    member_chat: ChatId(r.get(2)),
                    member_name: r.get::<Option<String>, _>(3).unwrap_or_default(),
                    role: Role::parse(r.get(4))?,
                    status: status(r.get(5)),
                    since: from_ms(r.get(6)),
                })
            })
            .collect();
        read.away_until = sqlx::query_scalar("SELECT away_until FROM away WHERE chat_id = ?")
            .bind(chat.0)
            .fetch_optional(&mut *tx)
            .await?
            .map(from_ms)
            .filter(|t| *t > now);
        Ok(read)
    }

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

    /// What a press on server-side button `token` by `user` may do: live only if it was
    /// made for that user, is unexpired and unused; used if it is theirs, unexpired, and
    /// was pressed already.
    pub(in crate::store) async fn pressed(
        tx: &mut SqliteConnection,
        token: &str,
        user: Option<UserId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Pressed> {
        let Some(user) = user else {
            return Ok(Pressed::Dead);
        };
        let row = sqlx::query(
            "SELECT grp, label, action, used_at IS NOT NULL FROM buttons
             WHERE token = ? AND user_id = ? AND expires_at > ?",
        )
        .bind(token)
        .bind(user.0)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row
            .and_then(|r| {
                let action: Action = serde_json::from_str(r.get::<&str, _>(2)).ok()?;
                Some(if r.get::<bool, _>(3) {
                    Pressed::Used { action }
                } else {
                    Pressed::Live {
                        group: r.get(0),
                        label: r.get(1),
                        action,
                    }
                })
            })
            .unwrap_or(Pressed::Dead))
    }

    pub(in crate::store) async fn register_buttons(
        tx: &mut SqliteConnection,
        buttons: &[NewButton],
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        for b in buttons {
            sqlx::query(
                "INSERT INTO buttons (token, grp, user_id, member_id, label, action, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&b.token)
            .bind(&b.group)
            .bind(b.user.0)
            .bind(b.member.map(|m| m.0))
            .bind(&b.label)
            .bind(serde_json::to_string(&b.action)?)
            .bind(ms(now))
            .bind(ms(b.expires_at))
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    pub(in crate::store) async fn use_buttons(
        tx: &mut SqliteConnection,
        group: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE buttons SET used_at = ? WHERE grp = ? AND used_at IS NULL")
            .bind(ms(now))
            .bind(group)
            .execute(tx)
            .await?;
        Ok(())
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

    /// The member confirms: the tie is active, with one consent per purpose of its role.
    pub(in crate::store) async fn confirm_tie(
        tx: &mut SqliteConnection,
        chat: ChatId,
        tie: i64,
        role: Role,
        wording: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let member: Option<i64> = sqlx::query_scalar(
            "UPDATE circle SET status = 'active', confirmed_at = ?
             WHERE id = ? AND status = 'awaiting'
               AND member_id = (SELECT id FROM members WHERE chat_id = ?)
             RETURNING member_id",
        )
        .bind(ms(now))
        .bind(tie)
        .bind(chat.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(member) = member else {
            anyhow::bail!("tie {tie} is not awaiting this member's confirmation");
        };
        audit(
            tx,
            "pairing_confirmed",
            Entry {
                member: Some(member),
                circle: Some(tie),
                actor: Some(chat),
                ..Entry::default()
            },
            now,
        )
        .await?;
        for purpose in role.purposes() {
            let consent: i64 = sqlx::query_scalar(
                "INSERT INTO consents (member_id, purpose, wording, wording_version, granted_at, circle_id)
                 VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(member)
            .bind(purpose.as_str())
            .bind(wording)
            .bind(version)
            .bind(ms(now))
            .bind(tie)
            .fetch_one(&mut *tx)
            .await?;
            audit(
                tx,
                "consent_granted",
                Entry {
                    member: Some(member),
                    circle: Some(tie),
                    consent: Some(consent),
                    actor: Some(chat),
                    ..Entry::default()
                },
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Ends a tie from `chat` (the member removing, or the person leaving or the member not
    /// confirming): see [`Self::close_tie`]. Only those two may end it.
    pub(in crate::store) async fn end_tie(
        tx: &mut SqliteConnection,
        chat: ChatId,
        tie: i64,
        why: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let allowed: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM circle
             WHERE id = ? AND status != 'ended'
               AND (chat_id = ? OR member_id = (SELECT id FROM members WHERE chat_id = ?))",
        )
        .bind(tie)
        .bind(chat.0)
        .bind(chat.0)
        .fetch_optional(&mut *tx)
        .await?;
        if allowed.is_none() {
            anyhow::bail!("tie {tie} cannot be ended from this chat");
        }
        Self::close_tie(tx, tie, why, Some(chat), now).await
    }

    /// Ends a tie: its consents are revoked and anything pending on them is cancelled, in this
    /// transaction; the person's name, username and chat are blanked on the row and detached
    /// from the member's audit trail (the member keeps that someone was there, not who).
    async fn close_tie(
        tx: &mut SqliteConnection,
        tie: i64,
        why: &str,
        by: Option<ChatId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let row = sqlx::query(
            "UPDATE circle SET status = 'ended', ended_at = ?, ended_why = ?
             WHERE id = ? AND status != 'ended' RETURNING member_id, chat_id",
        )
        .bind(ms(now))
        .bind(why)
        .bind(tie)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(()) };
        let (member, person): (i64, i64) = (row.get(0), row.get(1));
        // Who ended it, if it was the member (the person's own chat is not kept).
        let actor = by.filter(|c| c.0 != person);
        let event = match why {
            "left" => "left_circle",
            "removed" => "removed_from_circle",
            _ => "pairing_not_confirmed",
        };
        let e = Entry {
            member: Some(member),
            circle: Some(tie),
            actor,
            ..Entry::default()
        };
        audit(tx, event, e, now).await?;
        // An alert they have not acknowledged goes to the next person at once.
        Self::escalate_past(tx, Some(tie), None, now).await?;
        let consents: Vec<i64> = sqlx::query_scalar(
            "UPDATE consents SET revoked_at = ? WHERE circle_id = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(ms(now))
        .bind(tie)
        .fetch_all(&mut *tx)
        .await?;
        for c in consents {
            Self::after_revocation(tx, member, c, actor, now).await?;
        }
        sqlx::query(
            "UPDATE circle SET name = '', username = NULL, chat_id = 0, user_id = 0 WHERE id = ?",
        )
        .bind(tie)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE audit SET actor_chat = NULL WHERE actor_chat = ? AND member_id = ?")
            .bind(person)
            .bind(member)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE invites SET used_by_chat = NULL WHERE used_by_chat = ? AND member_id = ?",
        )
        .bind(person)
        .bind(member)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Audits a revoked consent and cancels what was waiting on it.
    pub async fn after_revocation(
        tx: &mut SqliteConnection,
        member: i64,
        consent: i64,
        actor: Option<ChatId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        audit(
            tx,
            "consent_revoked",
            Entry {
                member: Some(member),
                consent: Some(consent),
                actor,
                ..Entry::default()
            },
            now,
        )
        .await?;
        sqlx::query(
            "UPDATE outbox SET state = 'cancelled', last_error = 'consent withdrawn'
             WHERE consent_id = ? AND state = 'pending'",
        )
        .bind(consent)
        .execute(&mut *tx)
        .await?;
        // An alert that will now never reach its supporter goes to the next one at once.
        sqlx::query(
            "UPDATE alerts SET escalate_at = ?
             WHERE consent_id = ? AND state = 'sent' AND escalate_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM outbox o WHERE o.id = alerts.outbox_id
                           AND o.state = 'cancelled')",
        )
        .bind(ms(now))
        .bind(consent)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Revokes one of the member's (this chat's) consents.
    pub(in crate::store) async fn revoke_consent(
        tx: &mut SqliteConnection,
        chat: ChatId,
        consent: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let row = sqlx::query(
            "UPDATE consents SET revoked_at = ?
             WHERE id = ? AND revoked_at IS NULL
               AND member_id = (SELECT id FROM members WHERE chat_id = ?)
             RETURNING member_id, purpose",
        )
        .bind(ms(now))
        .bind(consent)
        .bind(chat.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("consent {consent} of this member")).into());
        };
        let member: i64 = row.get(0);
        let purpose = Purpose::parse(row.get::<&str, _>(1));
        // Withdrawing "Sam may receive alerts" withdraws every plan rule's alert to Sam too.
        let tiers = purpose.map(Purpose::tiers).unwrap_or_default();
        if !tiers.is_empty() {
            let tie: Option<i64> =
                sqlx::query_scalar("SELECT circle_id FROM consents WHERE id = ?")
                    .bind(consent)
                    .fetch_one(&mut *tx)
                    .await?;
            if let Some(tie) = tie {
                Self::revoke_shares_of(tx, member, tie, tiers, Some(chat), now).await?;
            }
        }
        if purpose == Some(Purpose::StoreAnswers) {
            // No answer is stored without consent: an open check-in ends here.
            sqlx::query(
                "UPDATE sessions SET status = 'expired', updated_at = ?
                 WHERE member_id = ? AND status IN ('active', 'paused', 'aside')",
            )
            .bind(ms(now))
            .bind(member)
            .execute(&mut *tx)
            .await?;
        }
        Self::after_revocation(tx, member, consent, Some(chat), now).await
    }

    pub(in crate::store) async fn move_up(
        tx: &mut SqliteConnection,
        chat: ChatId,
        tie: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT c.id FROM circle c JOIN members m ON m.id = c.member_id
             WHERE m.chat_id = ? AND c.status != 'ended' ORDER BY c.position, c.id",
        )
        .bind(chat.0)
        .fetch_all(&mut *tx)
        .await?;
        let Some(i) = ids.iter().position(|id| *id == tie).filter(|i| *i > 0) else {
            anyhow::bail!("tie {tie} cannot move up in this member's circle");
        };
        let mut order = ids.clone();
        order.swap(i - 1, i);
        for (pos, id) in order.iter().enumerate() {
            sqlx::query("UPDATE circle SET position = ? WHERE id = ?")
                .bind(pos as i64 + 1)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let member: Option<i64> = sqlx::query_scalar("SELECT member_id FROM circle WHERE id = ?")
            .bind(tie)
            .fetch_optional(&mut *tx)
            .await?;
        audit(
            tx,
            "circle_reordered",
            Entry {
                member,
                circle: Some(tie),
                actor: Some(chat),
                ..Entry::default()
            },
            now,
        )
        .await
    }

    pub(in crate::store) async fn set_away(
        tx: &mut SqliteConnection,
        chat: ChatId,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        match until {
            Some(u) => {
                sqlx::query(
                    "INSERT INTO away (chat_id, away_until) VALUES (?, ?)
                     ON CONFLICT (chat_id) DO UPDATE SET away_until = excluded.away_until",
                )
                .bind(chat.0)
                .bind(ms(u))
                .execute(&mut *tx)
                .await?;
                // Alerts waiting for them go to the next person in each circle at once.
                if u > now {
                    Self::escalate_past(tx, None, Some(chat), now).await?;
                }
            }
            None => {
                sqlx::query("DELETE FROM away WHERE chat_id = ?")
                    .bind(chat.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let event = if until.is_some() {
            "away_set"
        } else {
            "away_ended"
        };
        audit(
            tx,
            event,
            Entry {
                actor: Some(chat),
                ..Entry::default()
            },
            now,
        )
        .await
    }

    /// The member shares one chart with one person in their circle: a consent for exactly
    /// this (the wording they confirmed), then the chart, sent only on that consent.
    pub(in crate::store) async fn share_chart(
        tx: &mut SqliteConnection,
        chat: ChatId,
        tie: i64,
        wording: &str,
        version: i64,
        chart: &Envelope,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let row = sqlx::query(
            "INSERT INTO consents (member_id, purpose, wording, wording_version, granted_at, circle_id)
             SELECT m.id, 'share_chart', ?, ?, ?, c.id FROM members m
             JOIN circle c ON c.member_id = m.id AND c.id = ? AND c.status = 'active'
             WHERE m.chat_id = ? RETURNING id, member_id",
        )
        .bind(wording)
        .bind(version)
        .bind(ms(now))
        .bind(tie)
        .bind(chat.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            anyhow::bail!("tie {tie} is not in this member's circle");
        };
        let (consent, member): (i64, i64) = (row.get(0), row.get(1));
        let e = Entry {
            member: Some(member),
            circle: Some(tie),
            consent: Some(consent),
            actor: Some(chat),
            ..Entry::default()
        };
        audit(tx, "chart_shared", e, now).await?;
        Self::enqueue_consented(tx, chart, consent, MemberId(member), now, now).await?;
        Ok(())
    }

    /// Queues a message (not before `not_before`) that may only go out while `consent`
    /// stands: it is cancelled when the consent is revoked, and checked again when it is
    /// about to be sent.
    pub(in crate::store) async fn enqueue_consented(
        tx: &mut SqliteConnection,
        envelope: &Envelope,
        consent: i64,
        about: MemberId,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> anyhow::Result<OutboxId> {
        let ids =
            Self::enqueue_at(tx, std::slice::from_ref(envelope), None, now, not_before).await?;
        let id = ids[0];
        sqlx::query("UPDATE outbox SET consent_id = ?, member_id = ? WHERE id = ?")
            .bind(consent)
            .bind(about.0)
            .bind(id.0)
            .execute(tx)
            .await?;
        Ok(id)
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

    /// The tables that refer to nobody in particular (everything else is about someone).
    pub fn impersonal_tables() -> &'static [&'static str] {
        NOT_PERSONAL
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
}
