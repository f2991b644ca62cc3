//! Early-warning plans and the history they read.

use std::future::Future;

use super::*;

/// Early-warning plans inside a unit of work: rules and their consents, the history rules read,
/// episodes, alerts, acknowledgement and escalation.
pub trait Plans {
    /// The member's active plan: the rules that can be read, and any whose stored settings
    /// cannot (never dropped in silence: `early_warning` tells the member, `check` reports).
    fn plan(&mut self, member: MemberId) -> impl Future<Output = Result<Plan, StoreError>> + Send;
    /// The rules of the member's plan that can be read.
    fn member_plan(
        &mut self,
        member: MemberId,
    ) -> impl Future<Output = Result<Vec<PlanRule>, StoreError>> + Send;
    /// Records, once per rule as the member consented to it, that its stored settings could
    /// not be read (an audit entry). True the first time: the member is to be told.
    fn note_unreadable_rule(
        &mut self,
        rule: &UnreadableRule,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn coping_notes(
        &mut self,
        member: MemberId,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    fn set_coping_notes(
        &mut self,
        chat: ChatId,
        notes: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Sets one rule of this chat's member's plan, with a consent for the rule itself and
    /// one per person told (each with the wording the member saw). Replaces what was there.
    #[allow(clippy::too_many_arguments)]
    fn set_plan_rule(
        &mut self,
        chat: ChatId,
        rule: &PlanRule,
        wording: &str,
        shares: &[Share],
        version: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Turns a rule off: its consents are revoked (anything pending is cancelled) and an
    /// open episode ends.
    fn turn_off_rule(
        &mut self,
        chat: ChatId,
        rule_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Slots, sessions and answers of a member since `since`.
    fn raw_history(
        &mut self,
        member: MemberId,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<RawHistory, StoreError>> + Send;
    fn open_episode(
        &mut self,
        member: MemberId,
        rule_id: &str,
    ) -> impl Future<Output = Result<Option<OpenEpisode>, StoreError>> + Send;
    fn last_fired(
        &mut self,
        member: MemberId,
        rule_id: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
    /// Opens an episode; `None` if one is already open for this rule (so nothing is sent
    /// twice, whatever raced).
    fn open_new_episode(
        &mut self,
        member: MemberId,
        rule_id: &str,
        evidence: &str,
        state: EpisodeState,
        ask_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    /// Closes an episode: its alerts will not escalate any more, and an ask-first question
    /// still unanswered has lapsed (its buttons tell no one; it leaves `episodes_asking`).
    fn close_episode(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Moves an open episode from state `from` to `to`; false if it was not open in `from`.
    fn set_episode_state(
        &mut self,
        id: i64,
        from: EpisodeState,
        to: EpisodeState,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn episode_evidence(
        &mut self,
        id: i64,
    ) -> impl Future<Output = Result<Option<(MemberId, String, String)>, StoreError>> + Send;
    /// An episode's state; `None` if there is no such episode, or its stored state cannot
    /// be read (which early warning treats as a state it does not act on).
    fn episode_state(
        &mut self,
        episode: i64,
    ) -> impl Future<Output = Result<Option<EpisodeState>, StoreError>> + Send;
    /// The people who may hear about `rule_id` at `tier`, in the member's order, with their
    /// standing consent (if any), away and reachability.
    fn recipients(
        &mut self,
        member: MemberId,
        rule_id: &str,
        tier: Tier,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Recipient>, StoreError>> + Send;
    /// Records one message of an episode; `None` if this person was already sent this
    /// episode at this tier (the unique key makes a duplicate impossible).
    #[allow(clippy::too_many_arguments)]
    fn record_alert(
        &mut self,
        episode: i64,
        member: MemberId,
        tie: Option<i64>,
        tier: Tier,
        consent: Option<i64>,
        step: i64,
        escalate_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    fn attach_alert_outbox(
        &mut self,
        alert: i64,
        outbox: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn due_escalations(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<DueEscalation>, StoreError>> + Send;
    fn mark_escalated(
        &mut self,
        alert: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The ties already sent this episode (so escalation moves on to someone new).
    fn episode_recipients(
        &mut self,
        episode: i64,
    ) -> impl Future<Output = Result<Vec<i64>, StoreError>> + Send;
    /// The names of the people told this episode who are still in the circle, in the order
    /// they were told (someone who left or was removed has no name any more).
    fn told_names(
        &mut self,
        episode: i64,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    fn due_asks(
        &mut self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<DueAsk>, StoreError>> + Send;
    /// Acknowledges an alert by the person it was addressed to (a second press, or anyone
    /// else's, changes nothing). What follows is read with `acked_alert`.
    fn ack_alert(
        &mut self,
        chat: ChatId,
        alert: i64,
        how: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn member_basics(
        &mut self,
        member: MemberId,
    ) -> impl Future<Output = Result<Option<MemberBasics>, StoreError>> + Send;
    /// (member's chat, supporter's name, how) of an acknowledged alert, if the member asked
    /// to be told when someone responds.
    fn acked_alert(
        &mut self,
        alert: i64,
    ) -> impl Future<Output = Result<Option<(ChatId, String, String)>, StoreError>> + Send;
    fn slot_member(
        &mut self,
        slot: i64,
    ) -> impl Future<Output = Result<Option<MemberId>, StoreError>> + Send;
    fn plan_settings(
        &mut self,
        member: MemberId,
    ) -> impl Future<Output = Result<PlanSettings, StoreError>> + Send;
    /// Sets how the plan tells people, recorded as a consent with the receipt shown.
    fn set_plan_settings(
        &mut self,
        chat: ChatId,
        settings: PlanSettings,
        wording: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// When an ask-first question's time runs out (if it is still being asked).
    fn episode_ask_until(
        &mut self,
        episode: i64,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, StoreError>> + Send;
    /// The member's answers given since `since` (free text left out: its value never leaves
    /// the store here) and their slots due since then, oldest first.
    fn week_history(
        &mut self,
        member: MemberId,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<(Vec<StoredAnswer>, Vec<StoredSlot>), StoreError>> + Send;
}
