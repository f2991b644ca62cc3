//! The integration test suite: one binary, real SQLite files, a fake Telegram Bot API server
//! on 127.0.0.1 that teloxide talks to over HTTP, and real child processes where a crash or
//! restart is the point.

mod bad_input;
mod chat;
mod circle;
mod cli;
mod conversation;
mod crisis;
mod delivery;
mod dialogs;
mod durability;
mod fake_telegram;
mod golden;
mod helpers;
mod plan;
mod schedules;
mod simulate;
mod soak;
mod store_story;
mod transcripts;
mod week;
