//! Long-running loops: inbox processing and outbox delivery. (The poller that fills the
//! inbox lives in `telegram::poller`: only `src/telegram/` speaks the Bot API.)

pub mod delivery;
pub mod inbox;
