//! SQL for withdrawing consents, and what withdrawing one ends.

use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::circle::{Entry, audit};
use super::ms;
use crate::domain::ChatId;
use crate::domain::circle::Purpose;
use crate::store::StoreError;

impl Store {
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
}
