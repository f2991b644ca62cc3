//! SQL for early-warning plans: the member's chosen rules and their consents, the history
//! rules read, episodes, alerts, acknowledgement and escalation.

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::Store;
use super::circle::{Entry, audit};
use super::{from_ms, ms};
use crate::domain::circle::{Purpose, Role};
use crate::domain::member::{QuietHours, tz_or_london};
use crate::domain::plan::{Plan, PlanRule, PlanSettings, Recipient, Share, Tier, UnreadableRule};
use crate::domain::states::EpisodeState;
use crate::domain::{ChatId, MemberId, UserId};
use crate::store::{
    DueAsk, DueEscalation, HistoryAnswer, HistorySession, HistorySlot, MemberBasics, OpenEpisode,
    RawHistory,
};

/// Active plan rules; `plan_rule` reads one row of it.
const PLAN_RULES: &str =
    "SELECT id, member_id, rule_id, params, tier, ask_first, unanswered, consent_id
     FROM plan_rules WHERE active = 1";

/// One row of `PLAN_RULES`, or what identifies it if its settings cannot be read.
fn plan_rule(r: &SqliteRow) -> Result<PlanRule, UnreadableRule> {
    let read = || -> Option<PlanRule> {
        Some(PlanRule {
            rule_id: r.try_get(2).ok()?,
            params: serde_json::from_str(r.try_get::<&str, _>(3).ok()?).ok()?,
            tier: Tier::parse(r.try_get(4).ok()?)?,
            ask_first: r.try_get::<i64, _>(5).ok()? != 0,
            tell_if_unanswered: r.try_get::<&str, _>(6).ok()? == "tell",
        })
    };
    read().ok_or_else(|| UnreadableRule {
        id: r.try_get(0).unwrap_or_default(),
        member: MemberId(r.try_get(1).unwrap_or_default()),
        rule_id: r.try_get(2).unwrap_or_default(),
        consent: r.try_get(7).ok().flatten(),
    })
}

/// A member's history since a time: read whenever their plan is evaluated (every check-in
/// that completes or closes), so each must use an index on the member, never grow with the
/// whole service's history (`tests::a_members_history_is_read_by_index`).
pub(super) const HISTORY_SLOTS: &str = "SELECT due_at, local_date, outcome, session_id FROM slots
     WHERE member_id = ? AND due_at >= ? ORDER BY due_at";
pub(super) const HISTORY_SESSIONS: &str =
    "SELECT id, dialog_id, dialog_version, started_at, status FROM sessions
     WHERE member_id = ? AND started_at >= ? ORDER BY id";
/// An answer is never older than its session: bounding `answered_at` as well lets the read
/// use the member's answers index instead of every answer they ever gave.
pub(super) const HISTORY_ANSWERS: &str =
    "SELECT a.session_id, a.step_id, a.value, a.flags FROM answers a
     JOIN sessions s ON s.id = a.session_id
     WHERE a.member_id = ? AND a.answered_at >= ? AND s.started_at >= ? AND a.state = 'answered'";

/// An alert waiting to escalate (its time aside), with its episode as `e`: still sent, its
/// episode open and nobody in it has acknowledged. `due_escalations` and `next_due` share it,
/// so the scheduler is never woken for an escalation it would not make.
const ESCALATION_WAITING: &str = "a.state = 'sent' AND a.escalate_at IS NOT NULL
     AND e.closed_at IS NULL
     AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.episode_id = a.episode_id AND b.state = 'acked')";
/// An ask-first question still waiting for its answer (its time aside).
const ASK_WAITING: &str = "state = 'asking' AND closed_at IS NULL";

impl Store {
    /// The member's active plan: the rules that can be read, and any whose stored settings
    /// cannot (never dropped in silence: `early_warning` tells the member, `check` reports).
    pub(in crate::store) async fn plan(
        tx: &mut SqliteConnection,
        member: MemberId,
    ) -> anyhow::Result<Plan> {
        let sql = format!("{PLAN_RULES} AND member_id = ? ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(member.0)
            .fetch_all(&mut *tx)
            .await?;
        let mut plan = Plan::default();
        for r in &rows {
            match plan_rule(r) {
                Ok(rule) => plan.rules.push(rule),
                Err(u) => plan.unreadable.push(u),
            }
        }
        Ok(plan)
    }

    /// The rules of the member's plan that can be read.
    pub(in crate::store) async fn member_plan(
        tx: &mut SqliteConnection,
        member: MemberId,
    ) -> anyhow::Result<Vec<PlanRule>> {
        Ok(Self::plan(tx, member).await?.rules)
    }

    /// Every active plan rule, of every member, whose stored settings cannot be read (for
    /// `staywell check`).
    pub async fn unreadable_plan_rules(&self) -> anyhow::Result<Vec<UnreadableRule>> {
        let sql = format!("{PLAN_RULES} ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().filter_map(|r| plan_rule(r).err()).collect())
    }

    /// Records, once per rule as the member consented to it, that its stored settings could
    /// not be read (an audit entry). True the first time: the member is to be told.
    pub(in crate::store) async fn note_unreadable_rule(
        tx: &mut SqliteConnection,
        rule: &UnreadableRule,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let noted: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM audit WHERE event = 'plan_rule_unreadable'
                            AND member_id = ? AND consent_id IS ?)",
        )
        .bind(rule.member.0)
        .bind(rule.consent)
        .fetch_one(&mut *tx)
        .await?;
        if noted {
            return Ok(false);
        }
        let e = Entry {
            member: Some(rule.member.0),
            consent: rule.consent,
            ..Entry::default()
        };
        audit(tx, "plan_rule_unreadable", e, now).await?;
        Ok(true)
    }

    pub(in crate::store) async fn coping_notes(
        tx: &mut SqliteConnection,
        member: MemberId,
    ) -> anyhow::Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT coping_notes FROM members WHERE id = ?")
                .bind(member.0)
                .fetch_optional(&mut *tx)
                .await?
                .flatten(),
        )
    }

    pub(in crate::store) async fn set_coping_notes(
        tx: &mut SqliteConnection,
        chat: ChatId,
        notes: Option<&str>,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE members SET coping_notes = ? WHERE chat_id = ?")
            .bind(notes)
            .bind(chat.0)
            .execute(tx)
            .await?;
        Ok(())
    }

    /// Revokes every consent about one rule of this member, cancelling what waits on them.
    async fn revoke_rule_consents(
        tx: &mut SqliteConnection,
        member: i64,
        rule_id: &str,
        actor: ChatId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE consents SET revoked_at = ?
             WHERE member_id = ? AND rule_id = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(ms(now))
        .bind(member)
        .bind(rule_id)
        .fetch_all(&mut *tx)
        .await?;
        for id in ids {
            Self::after_revocation(tx, member, id, Some(actor), now).await?;
        }
        Ok(())
    }

    /// Sets one rule of this chat's member's plan, with a consent for the rule itself and
    /// one per person told (each with the wording the member saw). Replaces what was there.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::store) async fn set_plan_rule(
        tx: &mut SqliteConnection,
        chat: ChatId,
        rule: &PlanRule,
        wording: &str,
        shares: &[Share],
        version: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let member: i64 = sqlx::query_scalar("SELECT id FROM members WHERE chat_id = ?")
            .bind(chat.0)
            .fetch_one(&mut *tx)
            .await?;
        Self::revoke_rule_consents(tx, member, &rule.rule_id, chat, now).await?;
        let consent: i64 = sqlx::query_scalar(
            "INSERT INTO consents (member_id, purpose, wording, wording_version, granted_at, rule_id, tier)
             VALUES (?, 'plan_rule', ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(member)
        .bind(wording)
        .bind(version)
        .bind(ms(now))
        .bind(&rule.rule_id)
        .bind(rule.tier.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let e = Entry {
            member: Some(member),
            consent: Some(consent),
            actor: Some(chat),
            ..Entry::default()
        };
        audit(tx, "consent_granted", e, now).await?;
        for share in shares {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO consents (member_id, purpose, wording, wording_version, granted_at,
                                       circle_id, rule_id, tier)
                 SELECT ?, 'share_rule', ?, ?, ?, id, ?, ? FROM circle
                 WHERE id = ? AND member_id = ? AND status = 'active' RETURNING id",
            )
            .bind(member)
            .bind(&share.wording)
            .bind(version)
            .bind(ms(now))
            .bind(&rule.rule_id)
            .bind(rule.tier.as_str())
            .bind(share.tie)
            .bind(member)
            .fetch_one(&mut *tx)
            .await?;
            let e = Entry {
                member: Some(member),
                circle: Some(share.tie),
                consent: Some(id),
                actor: Some(chat),
                ..Entry::default()
            };
            audit(tx, "consent_granted", e, now).await?;
        }
        sqlx::query(
            "INSERT INTO plan_rules (member_id, rule_id, params, tier, ask_first, unanswered, active,
                                     consent_id, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
             ON CONFLICT (member_id, rule_id) DO UPDATE SET
                 params = excluded.params, tier = excluded.tier, ask_first = excluded.ask_first,
                 unanswered = excluded.unanswered, active = 1, consent_id = excluded.consent_id,
                 updated_at = excluded.updated_at",
        )
        .bind(member)
        .bind(&rule.rule_id)
        .bind(serde_json::to_string(&rule.params)?)
        .bind(rule.tier.as_str())
        .bind(rule.ask_first)
        .bind(if rule.tell_if_unanswered { "tell" } else { "dont" })
        .bind(consent)
        .bind(ms(now))
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// Turns a rule off: its consents are revoked (anything pending is cancelled) and an
    /// open episode ends.
    pub(in crate::store) async fn turn_off_rule(
        tx: &mut SqliteConnection,
        chat: ChatId,
        rule_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let member: i64 = sqlx::query_scalar("SELECT id FROM members WHERE chat_id = ?")
            .bind(chat.0)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE plan_rules SET active = 0, updated_at = ? WHERE member_id = ? AND rule_id = ?",
        )
        .bind(ms(now))
        .bind(member)
        .bind(rule_id)
        .execute(&mut *tx)
        .await?;
        // At most one open episode per (member, rule): `episodes_open`.
        let ended: Option<i64> = sqlx::query_scalar(
            "UPDATE episodes SET closed_at = ?, state = 'cancelled'
             WHERE member_id = ? AND rule_id = ? AND closed_at IS NULL RETURNING id",
        )
        .bind(ms(now))
        .bind(member)
        .bind(rule_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(episode) = ended {
            Self::stop_escalating(tx, episode).await?;
        }
        Self::revoke_rule_consents(tx, member, rule_id, chat, now).await
    }

    /// Revokes consents that depend on a pairing consent (`tie`, for `tiers`).
    pub async fn revoke_shares_of(
        tx: &mut SqliteConnection,
        member: i64,
        tie: i64,
        tiers: &[Tier],
        actor: Option<ChatId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        for tier in tiers {
            let ids: Vec<i64> = sqlx::query_scalar(
                "UPDATE consents SET revoked_at = ?
                 WHERE member_id = ? AND circle_id = ? AND purpose = 'share_rule' AND tier = ?
                   AND revoked_at IS NULL RETURNING id",
            )
            .bind(ms(now))
            .bind(member)
            .bind(tie)
            .bind(tier.as_str())
            .fetch_all(&mut *tx)
            .await?;
            for id in ids {
                Self::after_revocation(tx, member, id, actor, now).await?;
            }
        }
        Ok(())
    }

    /// Slots, sessions and answers of a member since `since`.
    pub(in crate::store) async fn raw_history(
        tx: &mut SqliteConnection,
        member: MemberId,
        since: DateTime<Utc>,
    ) -> anyhow::Result<RawHistory> {
        let slots = sqlx::query(HISTORY_SLOTS)
            .bind(member.0)
            .bind(ms(since))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| HistorySlot {
                due: from_ms(r.get(0)),
                local_date: r.get(1),
                outcome: r.get(2),
                session: r.get(3),
            })
            .collect();
        let sessions = sqlx::query(HISTORY_SESSIONS)
            .bind(member.0)
            .bind(ms(since))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| HistorySession {
                id: r.get(0),
                dialog_id: r.get(1),
                version: r.get(2),
                started: from_ms(r.get(3)),
                status: r.get(4),
            })
            .collect();
        let answers = sqlx::query(HISTORY_ANSWERS)
            .bind(member.0)
            .bind(ms(since))
            .bind(ms(since))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|r| HistoryAnswer {
                session: r.get(0),
                step_id: r.get(1),
                value: r.get(2),
                flags: r.get(3),
            })
            .collect();
        Ok(RawHistory {
            slots,
            sessions,
            answers,
        })
    }

    pub(in crate::store) async fn open_episode(
        tx: &mut SqliteConnection,
        member: MemberId,
        rule_id: &str,
    ) -> anyhow::Result<Option<OpenEpisode>> {
        let row = sqlx::query(
            "SELECT id, clear_streak, opened_at FROM episodes
             WHERE member_id = ? AND rule_id = ? AND closed_at IS NULL",
        )
        .bind(member.0)
        .bind(rule_id)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.map(|r| OpenEpisode {
            id: r.get(0),
            clear_streak: r.get::<i64, _>(1).max(0) as u32,
            opened_at: from_ms(r.get(2)),
        }))
    }

    pub(in crate::store) async fn last_fired(
        tx: &mut SqliteConnection,
        member: MemberId,
        rule_id: &str,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT max(opened_at) FROM episodes WHERE member_id = ? AND rule_id = ?",
        )
        .bind(member.0)
        .bind(rule_id)
        .fetch_one(&mut *tx)
        .await?;
        Ok(v.map(from_ms))
    }

    /// Opens an episode; `None` if one is already open for this rule (so nothing is sent
    /// twice, whatever raced).
    pub(in crate::store) async fn open_new_episode(
        tx: &mut SqliteConnection,
        member: MemberId,
        rule_id: &str,
        evidence: &str,
        state: EpisodeState,
        ask_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "INSERT OR IGNORE INTO episodes (member_id, rule_id, opened_at, evidence, state, ask_until)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(member.0)
        .bind(rule_id)
        .bind(ms(now))
        .bind(evidence)
        .bind(state.as_str())
        .bind(ask_until.map(ms))
        .fetch_optional(&mut *tx)
        .await?)
    }

    /// Closes an episode: its alerts will not escalate any more, and an ask-first question
    /// still unanswered has lapsed (its buttons tell no one; it leaves `episodes_asking`).
    pub(in crate::store) async fn close_episode(
        tx: &mut SqliteConnection,
        id: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE episodes SET clear_streak = 0, closed_at = ?,
                    state = CASE state WHEN 'asking' THEN 'lapsed' ELSE state END
             WHERE id = ?",
        )
        .bind(ms(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Self::stop_escalating(tx, id).await
    }

    /// An episode that is over, or that someone acknowledged, escalates no further: its
    /// alerts leave the escalation index instead of lying in it, due, for ever.
    async fn stop_escalating(tx: &mut SqliteConnection, episode: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE alerts SET escalate_at = NULL WHERE episode_id = ? AND state = 'sent'")
            .bind(episode)
            .execute(tx)
            .await?;
        Ok(())
    }

    /// Moves an open episode from state `from` to `to`; false if it was not open in `from`.
    pub(in crate::store) async fn set_episode_state(
        tx: &mut SqliteConnection,
        id: i64,
        from: EpisodeState,
        to: EpisodeState,
    ) -> anyhow::Result<bool> {
        let r = sqlx::query(
            "UPDATE episodes SET state = ? WHERE id = ? AND state = ? AND closed_at IS NULL",
        )
        .bind(to.as_str())
        .bind(id)
        .bind(from.as_str())
        .execute(tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(in crate::store) async fn episode_evidence(
        tx: &mut SqliteConnection,
        id: i64,
    ) -> anyhow::Result<Option<(MemberId, String, String)>> {
        let row = sqlx::query("SELECT member_id, rule_id, evidence FROM episodes WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(row.map(|r| (MemberId(r.get(0)), r.get(1), r.get(2))))
    }

    /// An episode's state; `None` if there is no such episode or its stored state cannot be
    /// read (early warning acts on neither).
    pub(in crate::store) async fn episode_state(
        tx: &mut SqliteConnection,
        episode: i64,
    ) -> anyhow::Result<Option<EpisodeState>> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM episodes WHERE id = ?")
            .bind(episode)
            .fetch_optional(&mut *tx)
            .await?;
        Ok(state.as_deref().and_then(EpisodeState::parse))
    }

    /// The people who may hear about `rule_id` at `tier`, in the member's order, with their
    /// standing consent (if any), away and reachability.
    pub(in crate::store) async fn recipients(
        tx: &mut SqliteConnection,
        member: MemberId,
        rule_id: &str,
        tier: Tier,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<Recipient>> {
        let rows = sqlx::query(
            "SELECT c.id, c.chat_id, c.user_id, c.name, c.role,
                    EXISTS (SELECT 1 FROM away a WHERE a.chat_id = c.chat_id AND a.away_until > ?),
                    EXISTS (SELECT 1 FROM chats h WHERE h.chat_id = c.chat_id AND h.unreachable_at IS NOT NULL),
                    (SELECT k.id FROM consents k WHERE k.circle_id = c.id AND k.rule_id = ?
                        AND k.tier = ? AND k.purpose = 'share_rule' AND k.revoked_at IS NULL
                        AND EXISTS (SELECT 1 FROM consents p WHERE p.circle_id = c.id
                                    AND p.purpose = ? AND p.revoked_at IS NULL)
                     ORDER BY k.id DESC LIMIT 1),
                    o.timezone, o.quiet_start, o.quiet_end
             FROM circle c LEFT JOIN members o ON o.chat_id = c.chat_id
             WHERE c.member_id = ? AND c.status = 'active'
             ORDER BY c.position, c.id",
        )
        .bind(ms(now))
        .bind(rule_id)
        .bind(tier.as_str())
        // A rule's share stands only while the person's pairing consent does.
        .bind(Purpose::pairing(tier).map(Purpose::as_str))
        .bind(member.0)
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Recipient {
                    tie: r.get(0),
                    chat: ChatId(r.get(1)),
                    user: UserId(r.get(2)),
                    name: r.get(3),
                    role: Role::parse(r.get(4))?,
                    away: r.get(5),
                    unreachable: r.get(6),
                    consent: r.get(7),
                    own_quiet: match (r.get(8), r.get(9), r.get(10)) {
                        (Some(tz), Some(qs), Some(qe)) => {
                            Some((tz_or_london(tz), QuietHours::from_stored(qs, qe)))
                        }
                        _ => None,
                    },
                })
            })
            .collect())
    }

    /// Records one message of an episode; `None` if this person was already sent this
    /// episode at this tier (the unique key makes a duplicate impossible).
    #[allow(clippy::too_many_arguments)]
    pub(in crate::store) async fn record_alert(
        tx: &mut SqliteConnection,
        episode: i64,
        member: MemberId,
        tie: Option<i64>,
        tier: Tier,
        consent: Option<i64>,
        step: i64,
        escalate_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<i64>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT OR IGNORE INTO alerts (episode_id, member_id, circle_id, tier, consent_id, step,
                                           state, created_at, escalate_at)
             VALUES (?, ?, ?, ?, ?, ?, 'sent', ?, ?) RETURNING id",
        )
        .bind(episode)
        .bind(member.0)
        .bind(tie)
        .bind(tier.as_str())
        .bind(consent)
        .bind(step)
        .bind(ms(now))
        .bind(escalate_at.map(ms))
        .fetch_optional(&mut *tx)
        .await?;
        if id.is_some() {
            let e = Entry {
                member: Some(member.0),
                circle: tie,
                consent,
                ..Entry::default()
            };
            audit(tx, "alert_sent", e, now).await?;
        }
        Ok(id)
    }

    pub(in crate::store) async fn attach_alert_outbox(
        tx: &mut SqliteConnection,
        alert: i64,
        outbox: i64,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE alerts SET outbox_id = ? WHERE id = ?")
            .bind(outbox)
            .bind(alert)
            .execute(tx)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn due_escalations(
        tx: &mut SqliteConnection,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<DueEscalation>> {
        let sql = format!(
            "SELECT a.id, a.episode_id, a.member_id, e.rule_id, a.tier, a.step, e.evidence
             FROM alerts a JOIN episodes e ON e.id = a.episode_id
             WHERE {ESCALATION_WAITING} AND a.escalate_at <= ?
             ORDER BY a.escalate_at LIMIT 1000"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .fetch_all(&mut *tx)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(DueEscalation {
                    alert: r.get(0),
                    episode: r.get(1),
                    member: MemberId(r.get(2)),
                    rule_id: r.get(3),
                    tier: Tier::parse(r.get(4))?,
                    step: r.get(5),
                    evidence: r.get(6),
                })
            })
            .collect())
    }

    pub(in crate::store) async fn mark_escalated(
        tx: &mut SqliteConnection,
        alert: i64,
    ) -> anyhow::Result<bool> {
        let r =
            sqlx::query("UPDATE alerts SET state = 'escalated' WHERE id = ? AND state = 'sent'")
                .bind(alert)
                .execute(tx)
                .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Alerts waiting for an acknowledgement from tie `tie`, or from `away_chat` in any
    /// circle, escalate now: that person cannot respond (they left, were removed, or are
    /// away), so the next one is tried at once, or the member is told.
    pub async fn escalate_past(
        tx: &mut SqliteConnection,
        tie: Option<i64>,
        away_chat: Option<ChatId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE alerts SET escalate_at = ?
             WHERE state = 'sent' AND escalate_at > ?
               AND (circle_id = ? OR circle_id IN
                    (SELECT id FROM circle WHERE chat_id = ? AND status = 'active'))",
        )
        .bind(ms(now))
        .bind(ms(now))
        .bind(tie)
        .bind(away_chat.map(|c| c.0))
        .execute(tx)
        .await?;
        Ok(())
    }

    /// The ties already sent this episode (so escalation moves on to someone new).
    pub(in crate::store) async fn episode_recipients(
        tx: &mut SqliteConnection,
        episode: i64,
    ) -> anyhow::Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT circle_id FROM alerts WHERE episode_id = ? AND circle_id IS NOT NULL",
        )
        .bind(episode)
        .fetch_all(&mut *tx)
        .await?)
    }

    /// The names of the people told this episode who are still in the circle, in the order
    /// they were told (someone who left or was removed has no name any more).
    pub(in crate::store) async fn told_names(
        tx: &mut SqliteConnection,
        episode: i64,
    ) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT c.name FROM alerts a JOIN circle c ON c.id = a.circle_id
             WHERE a.episode_id = ? AND c.status = 'active' ORDER BY a.id",
        )
        .bind(episode)
        .fetch_all(&mut *tx)
        .await?)
    }

    pub(in crate::store) async fn due_asks(
        tx: &mut SqliteConnection,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Vec<DueAsk>> {
        let sql = format!(
            "SELECT id, member_id, rule_id FROM episodes
             WHERE {ASK_WAITING} AND ask_until <= ? LIMIT 1000"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ms(now))
            .fetch_all(&mut *tx)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| DueAsk {
                episode: r.get(0),
                member: MemberId(r.get(1)),
                rule_id: r.get(2),
            })
            .collect())
    }

    /// Acknowledges an alert by the person it was addressed to (a second press, or anyone
    /// else's, changes nothing). What follows is read with `acked_alert`.
    pub(in crate::store) async fn ack_alert(
        tx: &mut SqliteConnection,
        chat: ChatId,
        alert: i64,
        how: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let row = sqlx::query(
            "UPDATE alerts SET state = 'acked', acked_at = ?, acked_how = ?
             WHERE id = ? AND state IN ('sent', 'escalated')
               AND circle_id IN (SELECT id FROM circle WHERE chat_id = ? AND status = 'active')
             RETURNING member_id, circle_id, episode_id",
        )
        .bind(ms(now))
        .bind(how)
        .bind(alert)
        .bind(chat.0)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = row {
            Self::stop_escalating(tx, r.get(2)).await?;
            let e = Entry {
                member: Some(r.get(0)),
                circle: r.get(1),
                ..Entry::default()
            };
            audit(tx, "alert_acknowledged", e, now).await?;
        }
        Ok(())
    }

    pub(in crate::store) async fn member_basics(
        tx: &mut SqliteConnection,
        member: MemberId,
    ) -> anyhow::Result<Option<MemberBasics>> {
        let row = sqlx::query(
            "SELECT chat_id, telegram_user_id, display_name, timezone, quiet_start, quiet_end,
                    escalate_hours, tell_me_ack, alert_reason, nudge_reason, ask_hours
             FROM members WHERE id = ?",
        )
        .bind(member.0)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.map(|r| MemberBasics {
            chat: ChatId(r.get(0)),
            user: UserId(r.get(1)),
            name: r.get(2),
            timezone: tz_or_london(r.get(3)),
            quiet: QuietHours::from_stored(r.get(4), r.get(5)),
            settings: PlanSettings {
                escalate_hours: r.get(6),
                tell_me_ack: r.get(7),
                alert_reason: r.get(8),
                nudge_reason: r.get(9),
                ask_hours: r.get(10),
            },
        }))
    }

    /// (member's chat, supporter's name, how) of an acknowledged alert, if the member asked
    /// to be told when someone responds.
    pub(in crate::store) async fn acked_alert(
        tx: &mut SqliteConnection,
        alert: i64,
    ) -> anyhow::Result<Option<(ChatId, String, String)>> {
        let row = sqlx::query(
            "SELECT m.chat_id, c.name, a.acked_how FROM alerts a
             JOIN members m ON m.id = a.member_id JOIN circle c ON c.id = a.circle_id
             WHERE a.id = ? AND a.state = 'acked' AND m.tell_me_ack = 1",
        )
        .bind(alert)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(row.map(|r| {
            (
                ChatId(r.get(0)),
                r.get(1),
                r.get::<Option<String>, _>(2).unwrap_or_default(),
            )
        }))
    }

    pub(in crate::store) async fn slot_member(
        tx: &mut SqliteConnection,
        slot: i64,
    ) -> anyhow::Result<Option<MemberId>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT member_id FROM slots WHERE id = ?")
                .bind(slot)
                .fetch_optional(&mut *tx)
                .await?
                .map(MemberId),
        )
    }

    /// The scheduler's next wake-up, in one statement: schedules, slots (to open, remind,
    /// close), escalations, and ask-first questions running out.
    pub async fn next_due(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        let sql = format!(
            "SELECT min(t) FROM (
                 SELECT min(next_due_at) AS t FROM schedules WHERE next_due_at IS NOT NULL
                 UNION ALL SELECT min(opens_at) FROM slots WHERE outcome IS NULL AND session_id IS NULL
                 UNION ALL SELECT min(remind_at) FROM slots WHERE reminded_at IS NULL AND outcome IS NULL
                 UNION ALL SELECT min(closes_at) FROM slots WHERE outcome IS NULL
                 UNION ALL SELECT min(a.escalate_at) FROM alerts a JOIN episodes e ON e.id = a.episode_id
                           WHERE {ESCALATION_WAITING}
                 UNION ALL SELECT min(ask_until) FROM episodes WHERE {ASK_WAITING})"
        );
        let v: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await?;
        Ok(v.map(from_ms))
    }

    /// Every member's id, in order.
    pub async fn member_ids(&self) -> anyhow::Result<Vec<MemberId>> {
        Ok(
            sqlx::query_scalar::<_, i64>("SELECT id FROM members ORDER BY id")
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(MemberId)
                .collect(),
        )
    }

    pub(in crate::store) async fn plan_settings(
        tx: &mut SqliteConnection,
        member: MemberId,
    ) -> anyhow::Result<PlanSettings> {
        Ok(Self::member_basics(tx, member)
            .await?
            .map(|b| b.settings)
            .unwrap_or_default())
    }

    /// Sets how the plan tells people, recorded as a consent with the receipt shown.
    pub(in crate::store) async fn set_plan_settings(
        tx: &mut SqliteConnection,
        chat: ChatId,
        settings: PlanSettings,
        wording: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let member: i64 = sqlx::query_scalar(
            "UPDATE members SET escalate_hours = ?, tell_me_ack = ?, alert_reason = ?, nudge_reason = ?,
                    ask_hours = ?
             WHERE chat_id = ? RETURNING id",
        )
        .bind(settings.escalate_hours)
        .bind(settings.tell_me_ack)
        .bind(settings.alert_reason)
        .bind(settings.nudge_reason)
        .bind(settings.ask_hours)
        .bind(chat.0)
        .fetch_one(&mut *tx)
        .await?;
        let consent: i64 = sqlx::query_scalar(
            "INSERT INTO consents (member_id, purpose, wording, wording_version, granted_at)
             VALUES (?, 'plan_settings', ?, ?, ?) RETURNING id",
        )
        .bind(member)
        .bind(wording)
        .bind(version)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?;
        let e = Entry {
            member: Some(member),
            consent: Some(consent),
            actor: Some(chat),
            ..Entry::default()
        };
        audit(tx, "plan_settings_changed", e, now).await
    }

    /// When an ask-first question's time runs out (if it is still being asked).
    pub(in crate::store) async fn episode_ask_until(
        tx: &mut SqliteConnection,
        episode: i64,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let v: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT ask_until FROM episodes WHERE id = ? AND state = 'asking' AND closed_at IS NULL",
        )
        .bind(episode)
        .fetch_optional(&mut *tx)
        .await?;
        Ok(v.flatten().map(from_ms))
    }
}
