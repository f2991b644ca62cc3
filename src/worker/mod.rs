//! Long-running loops: inbox processing and outbox delivery. (The poller that fills the
//! inbox lives in `telegram::poller`, the only place that may name teloxide.)

pub mod delivery;
pub mod inbox;
