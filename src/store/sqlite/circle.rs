//! SQL for the circle: ties, away, server-side buttons and the audit trail. (Invites,
//! consents and the whole-person operations have their own files beside this one.)

use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::{from_ms, ms};
use crate::domain::circle::{
    Action, ConsentView, NewButton, Pressed, Purpose, Role, Supporting, Tie, TieStatus,
};
use crate::domain::{ChatId, Envelope, MemberId, OutboxId, UserId};
use crate::store::CircleRead;

pub(super) fn status(s: &str) -> TieStatus {
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
    pub(super) async fn close_tie(
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
}
