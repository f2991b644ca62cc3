//! The member's circle: the carers and supporters they chose, what each may receive, and the
//! server-side buttons that act on it. (`Debug` of anything holding a name prints ids only.)

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ChatId, MemberId, UserId};

/// What a person in the circle receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Gentle nudges ("a good week to say hello"), no health data.
    Carer,
    /// Alerts when a rule in the member's plan fires, with an Acknowledge button.
    Supporter,
    Both,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Carer => "carer",
            Role::Supporter => "supporter",
            Role::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Carer, Role::Supporter, Role::Both]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// The consent purposes a confirmed pairing in this role records.
    pub fn purposes(self) -> &'static [Purpose] {
        match self {
            Role::Carer => &[Purpose::Nudges],
            Role::Supporter => &[Purpose::Alerts],
            Role::Both => &[Purpose::Nudges, Purpose::Alerts],
        }
    }
}

/// What a consent allows. Stored as text in `consents.purpose`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// staywell may store my answers.
    StoreAnswers,
    /// This person may receive nudges about me.
    Nudges,
    /// This person may receive alerts about me.
    Alerts,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::StoreAnswers => "store_answers",
            Purpose::Nudges => "nudges",
            Purpose::Alerts => "alerts",
        }
    }

    pub fn parse(s: &str) -> Option<Purpose> {
        [Purpose::StoreAnswers, Purpose::Nudges, Purpose::Alerts]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// The pairing consent a person needs to receive a rule's messages at `tier` (none: a
    /// note to self reaches no one else).
    pub fn pairing(tier: crate::rules::Tier) -> Option<Purpose> {
        use crate::rules::Tier;
        match tier {
            Tier::Nudge => Some(Purpose::Nudges),
            Tier::Alert | Tier::Urgent => Some(Purpose::Alerts),
            Tier::SelfHelp => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieStatus {
    /// They accepted the invite; the member has not confirmed yet.
    Awaiting,
    Active,
}

/// One person in a member's circle, as the member sees them.
#[derive(Clone, PartialEq)]
pub struct Tie {
    pub id: i64,
    pub invite_id: Option<i64>,
    pub chat: ChatId,
    pub user: UserId,
    pub name: String,
    pub username: Option<String>,
    pub role: Role,
    pub status: TieStatus,
    pub position: i64,
    pub away_until: Option<DateTime<Utc>>,
    pub since: DateTime<Utc>,
}

impl std::fmt::Debug for Tie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tie({}, {:?}, {:?})", self.id, self.role, self.status)
    }
}

/// A member this chat supports, as the supporter sees them: a name and a role, nothing else.
#[derive(Clone, PartialEq)]
pub struct Supporting {
    pub tie: i64,
    pub member: MemberId,
    pub member_chat: ChatId,
    pub member_name: String,
    pub role: Role,
    pub status: TieStatus,
    pub since: DateTime<Utc>,
}

impl std::fmt::Debug for Supporting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Supporting({}, member {})", self.tie, self.member)
    }
}

/// A consent that stands (not revoked).
#[derive(Clone, PartialEq)]
pub struct ConsentView {
    pub id: i64,
    pub purpose: Purpose,
    /// The person in the circle it is about, if any.
    pub tie: Option<i64>,
    pub granted_at: DateTime<Utc>,
}

impl std::fmt::Debug for ConsentView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Consent({}, {:?})", self.id, self.purpose)
    }
}

/// What `/start <token>` found. Unknown, expired, used and malformed tokens are all
/// `Invalid`: the person cannot tell them apart.
#[derive(Clone, PartialEq)]
pub enum InviteLookup {
    Valid {
        invite: i64,
        member: MemberId,
        member_user: UserId,
        member_chat: ChatId,
        member_name: String,
        role: Role,
        expires_at: DateTime<Utc>,
    },
    Invalid,
    /// Too many failed attempts from this chat recently: not even looked up.
    RateLimited,
}

impl std::fmt::Debug for InviteLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InviteLookup::Valid { invite, .. } => write!(f, "Valid({invite})"),
            InviteLookup::Invalid => f.write_str("Invalid"),
            InviteLookup::RateLimited => f.write_str("RateLimited"),
        }
    }
}

/// What a server-side button does. Stored as JSON in `buttons.action`; only the user it
/// was made for can use it, once, before it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// Open the invite menu (choose a role).
    Invite,
    InviteRole {
        role: Role,
    },
    Accept {
        invite: i64,
    },
    Decline {
        invite: i64,
    },
    /// The member confirms the person who accepted `invite`, having been shown `wording`
    /// (of texts version `version`): the consent is recorded against exactly that.
    Confirm {
        invite: i64,
        wording: String,
        version: i64,
    },
    Reject {
        invite: i64,
    },
    MoveUp {
        tie: i64,
    },
    /// "Remove {name}" in `/supporters`: asks to confirm first.
    RemoveAsk {
        tie: i64,
    },
    Remove {
        tie: i64,
    },
    /// "No, keep {name}".
    RemoveKeep {
        tie: i64,
    },
    Leave {
        tie: i64,
    },
    /// Away for this many days (`None`: back now).
    Away {
        days: Option<u32>,
    },
    Revoke {
        consent: i64,
    },
    /// A supporter acknowledges an alert: `how` is `reach_out` or `in_touch`.
    Ack {
        alert: i64,
        how: String,
    },
    /// The member answers an ask-first question: tell (`Some(true)`), don't (`Some(false)`),
    /// or not now (`None`: their advance decision applies when the time is up).
    AskAnswer {
        episode: i64,
        tell: Option<bool>,
    },
    /// `/plan`: one rule chosen, then its value, who hears, and whether to ask first.
    PlanRule {
        rule: String,
    },
    PlanValue {
        rule: String,
        value: i64,
    },
    PlanWho {
        rule: String,
        value: i64,
        tier: String,
    },
    PlanAsk {
        rule: String,
        value: i64,
        tier: String,
        /// `no` (just tell), `tell` or `dont` (what happens if I don't answer in time).
        ask: String,
    },
    PlanOff {
        rule: String,
    },
    PlanCoping,
    /// `/plan` → Settings, and one setting changed (`what`: `escalate_6`, `escalate_12`,
    /// `escalate_24`, `tell_me_ack`, `alert_reason`, `nudge_reason` (the last three toggle)).
    PlanSettings,
    PlanSet {
        what: String,
    },
    /// `/week`: offer to share the chart of the last `weeks` with this person, then send it.
    ShareWeek {
        tie: i64,
        weeks: u32,
    },
    ShareWeekYes {
        tie: i64,
        weeks: u32,
        wording: String,
        version: i64,
    },
    ShareWeekNo,
    /// The first and second "yes" of `/delete`.
    EraseAsk,
    EraseNow,
    EraseCancel,
}

/// A press on a server-side button, looked up before the conversation sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Pressed {
    /// The presser's own live button.
    Live {
        group: String,
        label: String,
        action: Action,
    },
    /// The presser's own button, pressed already (a double tap, or a tap on the keyboard it
    /// collapsed to): changes nothing, but the reply can say what became of that choice.
    Used { action: Action },
    /// Unknown, someone else's or expired: changes nothing.
    Dead,
}

/// Callback data of a server-side button: `b:` and an opaque token.
pub const BUTTON_PREFIX: &str = "b:";

/// A button the store must remember: who may press it, what it does, until when.
#[derive(Clone, PartialEq)]
pub struct NewButton {
    pub token: String,
    pub group: String,
    pub user: UserId,
    pub member: Option<MemberId>,
    pub label: String,
    pub action: Action,
    pub expires_at: DateTime<Utc>,
}

/// A member has this long to confirm someone who accepted.
pub const CONFIRM_TTL: chrono::Duration = chrono::Duration::days(7);

impl Purpose {
    /// The plan tiers a consent of this purpose allows: withdrawing "Sam may receive
    /// alerts" withdraws every plan rule's alert (and urgent alert) to Sam too.
    pub fn tiers(self) -> &'static [super::plan::Tier] {
        use super::plan::Tier;
        match self {
            Purpose::Nudges => &[Tier::Nudge],
            Purpose::Alerts => &[Tier::Alert, Tier::Urgent],
            Purpose::StoreAnswers => &[],
        }
    }
}
