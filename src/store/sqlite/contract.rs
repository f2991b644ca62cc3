//! The storage contract, on SQLite: each operation is the SQL function of the same name in
//! this directory, its errors classified (`StoreError`).

use super::{Store, Work};
use crate::store::*;

impl People for Work {
    async fn load_person(&mut self, chat: ChatId) -> Result<StoredPerson, StoreError> {
        Ok(Store::load_person(&mut self.0, chat).await?)
    }
    async fn load_for_update(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> Result<UpdateRead, StoreError> {
        Ok(Store::load_for_update(&mut self.0, chat, now).await?)
    }
    async fn last_completed(
        &mut self,
        member: MemberId,
        dialog: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(Store::last_completed(&mut self.0, member, dialog).await?)
    }
    async fn create_member(
        &mut self,
        chat: ChatId,
        user: UserId,
        consent_wording: &str,
        consent_version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::create_member(
            &mut self.0,
            chat,
            user,
            consent_wording,
            consent_version,
            now,
        )
        .await?)
    }
    async fn reconsent(
        &mut self,
        chat: ChatId,
        consent_wording: &str,
        consent_version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::reconsent(&mut self.0, chat, consent_wording, consent_version, now).await?)
    }
    async fn set_name(&mut self, chat: ChatId, name: &str) -> Result<(), StoreError> {
        Ok(Store::set_name(&mut self.0, chat, name).await?)
    }
    async fn set_timezone(&mut self, chat: ChatId, tz: &str) -> Result<(), StoreError> {
        Ok(Store::set_timezone(&mut self.0, chat, tz).await?)
    }
    async fn set_onboarding(&mut self, chat: ChatId, step: Onboarding) -> Result<(), StoreError> {
        Ok(Store::set_onboarding(&mut self.0, chat, step).await?)
    }
    async fn set_stopped(
        &mut self,
        chat: ChatId,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_stopped(&mut self.0, chat, at).await?)
    }
    async fn set_quiet_hours(&mut self, chat: ChatId, quiet: QuietHours) -> Result<(), StoreError> {
        Ok(Store::set_quiet_hours(&mut self.0, chat, quiet).await?)
    }
    async fn set_paused_until(
        &mut self,
        chat: ChatId,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_paused_until(&mut self.0, chat, until).await?)
    }
    #[allow(clippy::too_many_arguments)]
    async fn insert_session(
        &mut self,
        chat: ChatId,
        id: SessionId,
        dialog_id: &str,
        version: i64,
        status: SessionStatus,
        state: Option<&Session>,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::insert_session(
            &mut self.0,
            chat,
            id,
            dialog_id,
            version,
            status,
            state,
            expires_at,
            now,
        )
        .await?)
    }
    async fn resume_session(
        &mut self,
        chat: ChatId,
        id: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::resume_session(&mut self.0, chat, id, now).await?)
    }
    async fn save_session(
        &mut self,
        id: SessionId,
        status: SessionStatus,
        state: &Session,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::save_session(&mut self.0, id, status, state, now).await?)
    }
    async fn store_answers(
        &mut self,
        session: SessionId,
        member: MemberId,
        dialog_id: &str,
        version: i64,
        answers: &[Stored],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::store_answers(
            &mut self.0,
            session,
            member,
            dialog_id,
            version,
            answers,
            now,
        )
        .await?)
    }
    async fn put_open_sessions_aside(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::put_open_sessions_aside(&mut self.0, chat, now).await?)
    }
    async fn active_schedules_of(
        &mut self,
        chat: ChatId,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        Ok(Store::active_schedules_of(&mut self.0, chat).await?)
    }
    async fn set_next_due_of(
        &mut self,
        schedule: i64,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_next_due_of(&mut self.0, schedule, next).await?)
    }
    async fn reopen_held_slots(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> Result<(), StoreError> {
        Ok(Store::reopen_held_slots(&mut self.0, chat, now, margin).await?)
    }
    async fn quiet_of(&mut self, chat: ChatId) -> Result<Option<(Tz, QuietHours)>, StoreError> {
        Ok(Store::quiet_of(&mut self.0, chat).await?)
    }
    async fn set_unreachable(
        &mut self,
        chat: ChatId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_unreachable(&mut self.0, chat, reason, now).await?)
    }
    async fn set_reachable(&mut self, chat: ChatId) -> Result<(), StoreError> {
        Ok(Store::set_reachable(&mut self.0, chat).await?)
    }
}

impl Circle for Work {
    async fn load_circle(
        &mut self,
        chat: ChatId,
        member: Option<MemberId>,
        now: DateTime<Utc>,
    ) -> Result<CircleRead, StoreError> {
        Ok(Store::load_circle(&mut self.0, chat, member, now).await?)
    }
    async fn lookup_invite(
        &mut self,
        chat: ChatId,
        token_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<InviteLookup, StoreError> {
        Ok(Store::lookup_invite(&mut self.0, chat, token_hash, now).await?)
    }
    async fn invite_by_id(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<InviteLookup, StoreError> {
        Ok(Store::invite_by_id(&mut self.0, id, now).await?)
    }
    async fn pressed(
        &mut self,
        token: &str,
        user: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<Pressed, StoreError> {
        Ok(Store::pressed(&mut self.0, token, user, now).await?)
    }
    async fn register_buttons(
        &mut self,
        buttons: &[NewButton],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::register_buttons(&mut self.0, buttons, now).await?)
    }
    async fn use_buttons(&mut self, group: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(Store::use_buttons(&mut self.0, group, now).await?)
    }
    async fn create_invite(
        &mut self,
        chat: ChatId,
        member: MemberId,
        token_hash: &str,
        role: Role,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(
            Store::create_invite(&mut self.0, chat, member, token_hash, role, expires_at, now)
                .await?,
        )
    }
    async fn invite_failed(&mut self, chat: ChatId, now: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(Store::invite_failed(&mut self.0, chat, now).await?)
    }
    async fn accept_invite(
        &mut self,
        chat: ChatId,
        invite: i64,
        user: UserId,
        name: &str,
        username: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::accept_invite(&mut self.0, chat, invite, user, name, username, now).await?)
    }
    async fn decline_invite(
        &mut self,
        chat: ChatId,
        invite: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::decline_invite(&mut self.0, chat, invite, now).await?)
    }
    async fn confirm_tie(
        &mut self,
        chat: ChatId,
        tie: i64,
        role: Role,
        wording: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::confirm_tie(&mut self.0, chat, tie, role, wording, version, now).await?)
    }
    async fn end_tie(
        &mut self,
        chat: ChatId,
        tie: i64,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::end_tie(&mut self.0, chat, tie, why, now).await?)
    }
    async fn revoke_consent(
        &mut self,
        chat: ChatId,
        consent: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::revoke_consent(&mut self.0, chat, consent, now).await?)
    }
    async fn move_up(
        &mut self,
        chat: ChatId,
        tie: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::move_up(&mut self.0, chat, tie, now).await?)
    }
    async fn set_away(
        &mut self,
        chat: ChatId,
        until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_away(&mut self.0, chat, until, now).await?)
    }
    async fn share_chart(
        &mut self,
        chat: ChatId,
        tie: i64,
        wording: &str,
        version: i64,
        chart: &Envelope,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::share_chart(&mut self.0, chat, tie, wording, version, chart, now).await?)
    }
    async fn enqueue_consented(
        &mut self,
        envelope: &Envelope,
        consent: i64,
        about: MemberId,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<OutboxId, StoreError> {
        Ok(
            Store::enqueue_consented(&mut self.0, envelope, consent, about, now, not_before)
                .await?,
        )
    }
    async fn subject_of(&mut self, chat: ChatId) -> Result<Subject, StoreError> {
        Ok(Store::subject_of(&mut self.0, chat).await?)
    }
    async fn personal_tables(
        &mut self,
        who: Subject,
    ) -> Result<Vec<(String, String, Vec<i64>)>, StoreError> {
        Ok(Store::personal_tables(&mut self.0, who).await?)
    }
    async fn holds_data(&mut self, chat: ChatId) -> Result<bool, StoreError> {
        Ok(Store::holds_data(&mut self.0, chat).await?)
    }
    async fn export(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
    ) -> Result<(Value, Vec<(String, usize)>), StoreError> {
        Ok(Store::export(&mut self.0, chat, now).await?)
    }
    async fn erase(
        &mut self,
        chat: ChatId,
        through: UpdateId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::erase(&mut self.0, chat, through, now).await?)
    }
}

impl Plans for Work {
    async fn plan(&mut self, member: MemberId) -> Result<Plan, StoreError> {
        Ok(Store::plan(&mut self.0, member).await?)
    }
    async fn member_plan(&mut self, member: MemberId) -> Result<Vec<PlanRule>, StoreError> {
        Ok(Store::member_plan(&mut self.0, member).await?)
    }
    async fn note_unreadable_rule(
        &mut self,
        rule: &UnreadableRule,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(Store::note_unreadable_rule(&mut self.0, rule, now).await?)
    }
    async fn coping_notes(&mut self, member: MemberId) -> Result<Option<String>, StoreError> {
        Ok(Store::coping_notes(&mut self.0, member).await?)
    }
    async fn set_coping_notes(
        &mut self,
        chat: ChatId,
        notes: Option<&str>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_coping_notes(&mut self.0, chat, notes).await?)
    }
    #[allow(clippy::too_many_arguments)]
    async fn set_plan_rule(
        &mut self,
        chat: ChatId,
        rule: &PlanRule,
        wording: &str,
        shares: &[Share],
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_plan_rule(&mut self.0, chat, rule, wording, shares, version, now).await?)
    }
    async fn turn_off_rule(
        &mut self,
        chat: ChatId,
        rule_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::turn_off_rule(&mut self.0, chat, rule_id, now).await?)
    }
    async fn raw_history(
        &mut self,
        member: MemberId,
        since: DateTime<Utc>,
    ) -> Result<RawHistory, StoreError> {
        Ok(Store::raw_history(&mut self.0, member, since).await?)
    }
    async fn open_episode(
        &mut self,
        member: MemberId,
        rule_id: &str,
    ) -> Result<Option<OpenEpisode>, StoreError> {
        Ok(Store::open_episode(&mut self.0, member, rule_id).await?)
    }
    async fn last_fired(
        &mut self,
        member: MemberId,
        rule_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(Store::last_fired(&mut self.0, member, rule_id).await?)
    }
    async fn open_new_episode(
        &mut self,
        member: MemberId,
        rule_id: &str,
        evidence: &str,
        state: EpisodeState,
        ask_until: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(Store::open_new_episode(
            &mut self.0,
            member,
            rule_id,
            evidence,
            state,
            ask_until,
            now,
        )
        .await?)
    }
    async fn close_episode(&mut self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(Store::close_episode(&mut self.0, id, now).await?)
    }
    async fn set_episode_state(
        &mut self,
        id: i64,
        from: EpisodeState,
        to: EpisodeState,
    ) -> Result<bool, StoreError> {
        Ok(Store::set_episode_state(&mut self.0, id, from, to).await?)
    }
    async fn episode_evidence(
        &mut self,
        id: i64,
    ) -> Result<Option<(MemberId, String, String)>, StoreError> {
        Ok(Store::episode_evidence(&mut self.0, id).await?)
    }
    async fn episode_state(&mut self, episode: i64) -> Result<Option<EpisodeState>, StoreError> {
        Ok(Store::episode_state(&mut self.0, episode).await?)
    }
    async fn recipients(
        &mut self,
        member: MemberId,
        rule_id: &str,
        tier: Tier,
        now: DateTime<Utc>,
    ) -> Result<Vec<Recipient>, StoreError> {
        Ok(Store::recipients(&mut self.0, member, rule_id, tier, now).await?)
    }
    #[allow(clippy::too_many_arguments)]
    async fn record_alert(
        &mut self,
        episode: i64,
        member: MemberId,
        tie: Option<i64>,
        tier: Tier,
        consent: Option<i64>,
        step: i64,
        escalate_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(Store::record_alert(
            &mut self.0,
            episode,
            member,
            tie,
            tier,
            consent,
            step,
            escalate_at,
            now,
        )
        .await?)
    }
    async fn attach_alert_outbox(&mut self, alert: i64, outbox: i64) -> Result<(), StoreError> {
        Ok(Store::attach_alert_outbox(&mut self.0, alert, outbox).await?)
    }
    async fn due_escalations(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Vec<DueEscalation>, StoreError> {
        Ok(Store::due_escalations(&mut self.0, now).await?)
    }
    async fn mark_escalated(&mut self, alert: i64) -> Result<bool, StoreError> {
        Ok(Store::mark_escalated(&mut self.0, alert).await?)
    }
    async fn episode_recipients(&mut self, episode: i64) -> Result<Vec<i64>, StoreError> {
        Ok(Store::episode_recipients(&mut self.0, episode).await?)
    }
    async fn told_names(&mut self, episode: i64) -> Result<Vec<String>, StoreError> {
        Ok(Store::told_names(&mut self.0, episode).await?)
    }
    async fn due_asks(&mut self, now: DateTime<Utc>) -> Result<Vec<DueAsk>, StoreError> {
        Ok(Store::due_asks(&mut self.0, now).await?)
    }
    async fn ack_alert(
        &mut self,
        chat: ChatId,
        alert: i64,
        how: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::ack_alert(&mut self.0, chat, alert, how, now).await?)
    }
    async fn member_basics(
        &mut self,
        member: MemberId,
    ) -> Result<Option<MemberBasics>, StoreError> {
        Ok(Store::member_basics(&mut self.0, member).await?)
    }
    async fn acked_alert(
        &mut self,
        alert: i64,
    ) -> Result<Option<(ChatId, String, String)>, StoreError> {
        Ok(Store::acked_alert(&mut self.0, alert).await?)
    }
    async fn slot_member(&mut self, slot: i64) -> Result<Option<MemberId>, StoreError> {
        Ok(Store::slot_member(&mut self.0, slot).await?)
    }
    async fn plan_settings(&mut self, member: MemberId) -> Result<PlanSettings, StoreError> {
        Ok(Store::plan_settings(&mut self.0, member).await?)
    }
    async fn set_plan_settings(
        &mut self,
        chat: ChatId,
        settings: PlanSettings,
        wording: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_plan_settings(&mut self.0, chat, settings, wording, version, now).await?)
    }
    async fn episode_ask_until(
        &mut self,
        episode: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(Store::episode_ask_until(&mut self.0, episode).await?)
    }
    async fn week_history(
        &mut self,
        member: MemberId,
        since: DateTime<Utc>,
    ) -> Result<(Vec<StoredAnswer>, Vec<StoredSlot>), StoreError> {
        Ok(Store::week_history(&mut self.0, member, since).await?)
    }
}

impl Schedules for Work {
    async fn due_schedules(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DueSchedule>, StoreError> {
        Ok(Store::due_schedules(&mut self.0, now, limit).await?)
    }
    async fn pending_slots(
        &mut self,
        now: DateTime<Utc>,
        done_since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PendingSlot>, StoreError> {
        Ok(Store::pending_slots(&mut self.0, now, done_since, limit).await?)
    }
    async fn open_slots(
        &mut self,
        batch: &SlotOpenings,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::open_slots(&mut self.0, batch, now).await?)
    }
    async fn set_schedule(
        &mut self,
        member: MemberId,
        dialog_id: &str,
        days: &str,
        local_time: &str,
        next_due_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::set_schedule(
            &mut self.0,
            member,
            dialog_id,
            days,
            local_time,
            next_due_at,
            now,
        )
        .await?)
    }
    async fn set_next_due(
        &mut self,
        next: &[(i64, Option<DateTime<Utc>>)],
    ) -> Result<(), StoreError> {
        Ok(Store::set_next_due(&mut self.0, next).await?)
    }
    async fn insert_slots(
        &mut self,
        slots: &[NewSlot<'_>],
    ) -> Result<Vec<Option<SlotOutcome>>, StoreError> {
        Ok(Store::insert_slots(&mut self.0, slots).await?)
    }
    async fn due_reminders(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DueReminder>, StoreError> {
        Ok(Store::due_reminders(&mut self.0, now, limit).await?)
    }
    async fn wake_waiting_slots(
        &mut self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::wake_waiting_slots(&mut self.0, session, now).await?)
    }
    async fn bring_back_reminders(
        &mut self,
        chat: ChatId,
        now: DateTime<Utc>,
        margin: chrono::Duration,
    ) -> Result<(), StoreError> {
        Ok(Store::bring_back_reminders(&mut self.0, chat, now, margin).await?)
    }
    async fn postpone_reminder(&mut self, slot: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(Store::postpone_reminder(&mut self.0, slot, at).await?)
    }
    async fn mark_reminded(&mut self, slot: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(Store::mark_reminded(&mut self.0, slot, now).await?)
    }
    async fn closing_slots(
        &mut self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClosingSlot>, StoreError> {
        Ok(Store::closing_slots(&mut self.0, now, limit).await?)
    }
    async fn close_slot(
        &mut self,
        slot: &ClosingSlot,
        outcome: SlotOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::close_slot(&mut self.0, slot, outcome, now).await?)
    }
    async fn advance_heartbeat(
        &mut self,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(Store::advance_heartbeat(&mut self.0, last, now).await?)
    }
    async fn chats_with_sessions_between(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(ChatId, String, String, String)>, StoreError> {
        Ok(Store::chats_with_sessions_between(&mut self.0, from, to).await?)
    }
}

impl Messages for Work {
    async fn enqueue(
        &mut self,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, StoreError> {
        Ok(Store::enqueue(&mut self.0, envelopes, cause, now).await?)
    }
    async fn enqueue_at(
        &mut self,
        envelopes: &[Envelope],
        cause: Option<UpdateId>,
        now: DateTime<Utc>,
        not_before: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, StoreError> {
        Ok(Store::enqueue_at(&mut self.0, envelopes, cause, now, not_before).await?)
    }
    async fn cancel_routine(&mut self, chat: ChatId, reason: &str) -> Result<(), StoreError> {
        Ok(Store::cancel_routine(&mut self.0, chat, reason).await?)
    }
    async fn routine_waiting(
        &mut self,
        chat: ChatId,
    ) -> Result<Vec<(OutboxId, DateTime<Utc>)>, StoreError> {
        Ok(Store::routine_waiting(&mut self.0, chat).await?)
    }
    async fn postpone(&mut self, id: OutboxId, at: DateTime<Utc>) -> Result<(), StoreError> {
        Ok(Store::postpone(&mut self.0, id, at).await?)
    }
}

impl Outbox for Store {
    async fn due_outbox(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<(Vec<OutboxRow>, bool), StoreError> {
        Ok(Store::due_outbox(self, now, limit).await?)
    }
    async fn expire_tidy(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(Store::expire_tidy(self, before).await?)
    }
    async fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(Store::next_outbox_due(self).await?)
    }
    async fn next_event(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(Store::next_event(self).await?)
    }
    async fn claim(
        &self,
        ids: &[OutboxId],
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxId>, StoreError> {
        Ok(Store::claim(self, ids, now).await?)
    }
    async fn recent_departures(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(ChatId, DateTime<Utc>)>, StoreError> {
        Ok(Store::recent_departures(self, since, now).await?)
    }
    async fn record(
        &self,
        records: &[DeliveryRecord],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Ok(Store::record(self, records, now).await?)
    }
    async fn interrupted(&self) -> Result<Vec<Interrupted>, StoreError> {
        Ok(Store::interrupted(self).await?)
    }
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        Ok(Store::outbox_counts(self).await?)
    }
}

impl Updates for Work {
    async fn mark_processed(
        &mut self,
        update: UpdateId,
        now: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(Store::mark_processed(&mut self.0, update, now, error).await?)
    }
    async fn next_session_id(&mut self) -> Result<SessionId, StoreError> {
        Ok(Store::next_session_id(&mut self.0).await?)
    }
}

impl Inbox for Store {
    async fn process(
        &self,
        rows: &[InboxRow],
        max_attempts: i64,
        handler: &dyn UpdateHandler,
        now: DateTime<Utc>,
    ) -> Result<Processed, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut blocked = std::collections::HashSet::new();
        let mut done = Processed::default();
        let mut failed = Vec::new();
        for row in rows {
            if let Some(chat) = row.chat
                && blocked.contains(&chat)
            {
                continue; // an earlier update of this chat failed: keep the order
            }
            let mut sp = tx.savepoint().await?;
            match handler
                .apply(&mut sp, row, now)
                .await
                .map_err(StoreError::from)
            {
                Ok(Some(touched)) => {
                    sp.commit().await?;
                    done.touched |= touched;
                }
                Ok(None) => sp.rollback().await?, // someone else processed it first
                Err(e) if e.is_unavailable() => return Err(e), // the whole batch rolls back
                Err(e) => {
                    sp.rollback().await?;
                    if let Some(chat) = row.chat {
                        blocked.insert(chat);
                    }
                    // Errors carry ids and kinds only, never content.
                    tracing::error!(update_id = row.update_id.0, attempts = row.attempts + 1, error = %e, "update failed");
                    if row.attempts + 1 >= max_attempts {
                        handler.set_aside(&mut tx, row, now).await?;
                    } else {
                        failed.push(row.update_id);
                    }
                }
            }
        }
        tx.commit().await?;
        done.failed = failed.len();
        for update in failed {
            Store::record_processing_failure(self, update, "processing failed").await?;
        }
        Ok(done)
    }

    async fn next_offset(&self) -> Result<i64, StoreError> {
        Ok(Store::next_offset(self).await?)
    }
    async fn save_updates(
        &self,
        batch: &[Incoming],
        next_offset: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(Store::save_updates(self, batch, next_offset, now).await?)
    }
    async fn save_batch(
        &self,
        batch: &[Incoming],
        unreadable: &[Unreadable],
        next_offset: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(Store::save_batch(self, batch, unreadable, next_offset, now).await?)
    }
    async fn unprocessed(&self, limit: i64) -> Result<Vec<InboxRow>, StoreError> {
        Ok(Store::unprocessed(self, limit).await?)
    }
    async fn sweep(&self, now: DateTime<Utc>) -> Result<(u64, u64), StoreError> {
        Ok(Store::sweep(self, now).await?)
    }
    async fn record_processing_failure(
        &self,
        update: UpdateId,
        error: &str,
    ) -> Result<(), StoreError> {
        Ok(Store::record_processing_failure(self, update, error).await?)
    }
    async fn set_aside_counts(&self) -> Result<(i64, i64), StoreError> {
        Ok(Store::set_aside_counts(self).await?)
    }
    async fn unprocessed_count(&self) -> Result<i64, StoreError> {
        Ok(Store::unprocessed_count(self).await?)
    }
}
