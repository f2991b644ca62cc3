//! A member's early-warning plan as the domain knows it: the rules they chose, how their plan
//! tells people, the consents a plan change records, and the people who may hear at a tier.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::circle::Role;
use super::member::QuietHours;
use super::{ChatId, MemberId, UserId};

/// Who hears when a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Just the member, with their own coping notes.
    SelfHelp,
    /// Their carers, with no health data.
    Nudge,
    /// Their supporters, one at a time in the member's order, with an Acknowledge button.
    Alert,
    /// Every supporter consented for urgent at once; the member gets the crisis card.
    Urgent,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::SelfHelp => "self_help",
            Tier::Nudge => "nudge",
            Tier::Alert => "alert",
            Tier::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        [Tier::SelfHelp, Tier::Nudge, Tier::Alert, Tier::Urgent]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// A rule in a member's plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRule {
    pub rule_id: String,
    pub params: BTreeMap<String, f64>,
    pub tier: Tier,
    pub ask_first: bool,
    /// With ask-first and no answer in time: tell (true) or not.
    pub tell_if_unanswered: bool,
}

/// A rule in a member's plan whose stored settings cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableRule {
    /// The `plan_rules` row.
    pub id: i64,
    pub member: MemberId,
    pub rule_id: String,
    /// The consent the member gave to the rule.
    pub consent: Option<i64>,
}

/// A member's active plan as stored.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rules: Vec<PlanRule>,
    pub unreadable: Vec<UnreadableRule>,
}

/// One consent to share a rule at a tier with a person, as the plan change records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub tie: i64,
    pub wording: String,
}

/// A person who may hear about one rule at one tier, in escalation order.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub tie: i64,
    pub chat: ChatId,
    pub user: UserId,
    pub name: String,
    pub role: Role,
    pub away: bool,
    pub unreachable: bool,
    /// The standing consent to tell them about this rule at this tier.
    pub consent: Option<i64>,
    /// Their own timezone and quiet hours, if they are a member too (read as a member's
    /// are: London's zone if the stored one cannot be read, the default for an unreadable
    /// time).
    pub own_quiet: Option<(Tz, QuietHours)>,
}

/// How a member's plan tells people (their choices in `/plan` → Settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanSettings {
    /// An alert nobody acknowledges goes to the next supporter after this many hours.
    pub escalate_hours: i64,
    /// Tell the member when a supporter acknowledges.
    pub tell_me_ack: bool,
    /// Supporters see the reason (else only that the member asked them to get in touch).
    pub alert_reason: bool,
    /// Carers' nudges carry the reason.
    pub nudge_reason: bool,
    /// An ask-first question waits this many hours for the member.
    pub ask_hours: i64,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            escalate_hours: 12,
            tell_me_ack: true,
            alert_reason: true,
            nudge_reason: false,
            ask_hours: 2,
        }
    }
}
