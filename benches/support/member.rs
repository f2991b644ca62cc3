//! Seeding for the benches that build large worlds (`schedules`, `memory`): an onboarded
//! member through the store's own changes.

use chrono::{DateTime, Utc};

use staywell::conversation::{Change, Onboarding};
use staywell::domain::{ChatId, MemberId, UserId};
use staywell::store::Work;
use staywell::store::prelude::*;

/// Member `i` at `chat`: consented, named `M{i}`, onboarded, plus `extra` changes. Its id.
pub async fn onboarded(
    tx: &mut Work,
    chat: ChatId,
    i: i64,
    extra: Vec<Change>,
    created: DateTime<Utc>,
) -> MemberId {
    let mut changes = vec![
        Change::CreateMember {
            user: UserId(chat.0),
            consent_wording: "bench".into(),
            consent_version: 1,
        },
        Change::SetName(format!("M{i}")),
        Change::SetOnboarding(Onboarding::Done),
    ];
    changes.extend(extra);
    staywell::effects::apply(tx, chat, &changes, created)
        .await
        .unwrap();
    tx.load_person(chat).await.unwrap().member.unwrap().id
}
