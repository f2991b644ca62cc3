//! Identifier newtypes, so a chat id can never be passed where a member id is expected.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A Telegram chat (for a private chat, equal to the user's id).
    ChatId
);
id_type!(
    /// A Telegram user.
    UserId
);
id_type!(
    /// Telegram's `update_id`: unique and increasing per bot.
    UpdateId
);
id_type!(
    /// Our own id for a person who consented to use staywell.
    MemberId
);
id_type!(
    /// A row of the outbox.
    OutboxId
);
id_type!(
    /// One run of a dialog by a member.
    SessionId
);
