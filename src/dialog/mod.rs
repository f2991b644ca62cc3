//! Scripted dialogs (check-ins, weekly prompts): the `dialogs/*.toml` format, its validator,
//! and the pure engine that runs a session one input at a time.
//!
//! - `reader`: TOML with positions, collecting every problem;
//! - `expr`: the tiny expression language of `show_if`, `branches` and `compute`;
//! - `load`: file → validated [`Dialog`];
//! - `lock`: `dialogs.lock`, each dialog's version and fingerprint;
//! - `engine`: `advance(dialog, session, event)` → replies and answers to store.

pub mod engine;
pub mod expr;
pub mod load;
pub mod lock;
pub mod model;
pub mod reader;
pub mod registry;

pub use engine::{Answer, AnswerValue, ButtonAction, Event, Reply, Session};
pub use load::{Catalog, load_dir};
pub use model::{Dialog, Step, StepKind};
pub use registry::Registry;

/// The dialog `/checkin` runs.
pub const CHECKIN_DIALOG: &str = "daily_checkin";
/// The weekly *connect* and *give* check-in, which `/weekly` runs.
pub const WEEKLY_DIALOG: &str = "weekly_connect_give";
