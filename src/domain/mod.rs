//! Domain types: identifiers that parse once, what people send us ([`Input`]) and what we
//! send back ([`Outgoing`]). Nothing here knows about Telegram's wire format or SQL.

pub mod answer;
pub mod circle;
pub mod history;
pub mod ids;
pub mod input;
pub mod member;
pub mod outgoing;
pub mod plan;
pub mod states;

pub use ids::{ChatId, MemberId, OutboxId, SessionId, UpdateId, UserId};
pub use input::{Incoming, Input, Sender, Unreadable};
pub use outgoing::{Button, Envelope, Lane, Outgoing};
