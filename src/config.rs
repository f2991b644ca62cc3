//! Settings: built from an optional `staywell.toml` and the environment (env wins).
//!
//! Every problem names the key it is about. The bot token is a [`Secret`]: it never appears
//! in `Debug` output or logs.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::diagnostic::Diagnostic;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://staywell.db";
pub const DEFAULT_CONFIG_FILE: &str = "staywell.toml";

/// A string that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where a process deliberately stops dead, for crash tests (`STAYWELL_CRASH_AT`).
/// Never set in production; `staywell check` warns if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Right after a `getUpdates` batch is committed to the inbox, before processing.
    AfterInboxCommit,
    /// Right after processing committed state + outbox rows, before delivery.
    AfterProcessingCommit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxSettings {
    /// Messages per second to all chats together (Telegram: about 30).
    pub global_per_second: u32,
    /// Messages a chat may receive back to back before pacing starts.
    pub per_chat_burst: u32,
    /// After the burst, minimum milliseconds between messages to one chat (Telegram: about 1 s).
    pub per_chat_interval_ms: u64,
    /// Concurrent requests in flight to the Bot API.
    pub max_in_flight: usize,
    /// The global limit is held over a window this much longer than a second: a request
    /// leaves a little after it is counted (a task to start, a connection to write) and
    /// crosses the network with some jitter, and Telegram counts arrivals.
    pub window_margin_ms: u64,
    /// A keyboard collapse (the tidy lane) not sent within this many seconds is dropped: by
    /// then the person has moved on, a press on the old keyboard is answered as a stale
    /// button, and under sustained load the backlog stays bounded.
    pub tidy_expires_secs: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            global_per_second: 30,
            per_chat_burst: 3,
            per_chat_interval_ms: 1000,
            max_in_flight: 32,
            window_margin_ms: 100,
            tidy_expires_secs: 120,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Required by `serve`; optional for `check`/`migrate`.
    pub token: Option<Secret>,
    /// Where the Bot API lives (default: Telegram's).
    pub api_url: Option<String>,
    pub database_url: String,
    pub dialogs_dir: PathBuf,
    /// Long-poll timeout for `getUpdates`, seconds.
    pub poll_timeout_secs: u32,
    /// How long a send may take before it counts as ambiguous, seconds.
    pub send_timeout_secs: u32,
    pub outbox: OutboxSettings,
    /// Minutes after a check-in opens before one gentle reminder, if nothing was answered.
    pub reminder_minutes: u32,
    pub crash_at: Option<CrashPoint>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token: None,
            api_url: None,
            database_url: DEFAULT_DATABASE_URL.to_string(),
            dialogs_dir: PathBuf::from("dialogs"),
            poll_timeout_secs: 25,
            send_timeout_secs: 15,
            outbox: OutboxSettings::default(),
            reminder_minutes: 60,
            crash_at: None,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    telegram: Option<RawTelegram>,
    database: Option<RawDatabase>,
    content: Option<RawContent>,
    outbox: Option<RawOutbox>,
    schedule: Option<RawSchedule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    reminder_minutes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    token: Option<String>,
    api_url: Option<String>,
    poll_timeout_secs: Option<u32>,
    send_timeout_secs: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContent {
    dialogs_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutbox {
    global_per_second: Option<u32>,
    per_chat_burst: Option<u32>,
    per_chat_interval_ms: Option<u64>,
    max_in_flight: Option<usize>,
    window_margin_ms: Option<u64>,
    tidy_expires_secs: Option<u64>,
}

/// All configuration problems found, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl Settings {
    /// Loads settings. `file`: an explicit `--config` path (must exist), or `None` to read
    /// `staywell.toml` from the working directory if present. `env` looks up a variable
    /// (pass `|k| std::env::var(k).ok()` in production).
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigErrors> {
        let mut problems = Vec::new();
        let mut settings = Settings::default();

        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        if let Some(path) = path {
            match std::fs::read_to_string(&path) {
                Ok(src) => match toml::from_str::<RawFile>(&src) {
                    Ok(raw) => apply_file(&mut settings, raw, &path, &src, &mut problems),
                    Err(e) => {
                        let mut d = Diagnostic::from_toml(&path, &src, &e);
                        if d.snippet.to_lowercase().contains("token") {
                            // The line may hold the bot token: never print it.
                            d.snippet = String::new();
                        }
                        problems.push(d)
                    }
                },
                Err(e) => problems.push(Diagnostic::file(
                    &path,
                    format!("cannot read config file: {e}"),
                )),
            }
        }

        let envfile = Path::new("environment");
        if let Some(token) = env("TELOXIDE_TOKEN") {
            settings.token = Some(Secret::new(token));
        }
        if let Some(url) = env("TELOXIDE_API_URL") {
            settings.api_url = Some(url);
        }
        if let Some(url) = env("DATABASE_URL") {
            settings.database_url = url;
        }
        if let Some(dir) = env("STAYWELL_DIALOGS") {
            settings.dialogs_dir = PathBuf::from(dir);
        }
        if let Some(point) = env("STAYWELL_CRASH_AT") {
            settings.crash_at = match point.as_str() {
                "after_inbox_commit" => Some(CrashPoint::AfterInboxCommit),
                "after_processing_commit" => Some(CrashPoint::AfterProcessingCommit),
                _ => {
                    problems.push(Diagnostic::file(
                        envfile,
                        "STAYWELL_CRASH_AT: expected after_inbox_commit or after_processing_commit",
                    ));
                    None
                }
            };
        }

        for (key, problem) in settings.problems() {
            problems.push(Diagnostic::file(envfile, format!("{key}: {problem}")));
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Value checks that apply whatever the source of a value.
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(token) = &self.token
            && !looks_like_token(token.expose())
        {
            out.push((
                "TELOXIDE_TOKEN (telegram.token)",
                "does not look like a bot token from @BotFather (digits, a colon, then letters)"
                    .into(),
            ));
        }
        if let Some(url) = &self.api_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            out.push((
                "TELOXIDE_API_URL (telegram.api_url)",
                "must start with http:// or https://".into(),
            ));
        }
        if !(self.database_url.starts_with("sqlite:")) {
            out.push((
                "DATABASE_URL (database.url)",
                "only sqlite: URLs are supported so far (e.g. sqlite://staywell.db)".into(),
            ));
        }
        if !(1..=50).contains(&self.poll_timeout_secs) {
            out.push((
                "telegram.poll_timeout_secs",
                "must be between 1 and 50".into(),
            ));
        }
        if !(1..=120).contains(&self.send_timeout_secs) {
            out.push((
                "telegram.send_timeout_secs",
                "must be between 1 and 120".into(),
            ));
        }
        if !(1..=1_000_000).contains(&self.outbox.global_per_second) {
            out.push(("outbox.global_per_second", "must be at least 1".into()));
        }
        if !(5..=720).contains(&self.reminder_minutes) {
            out.push((
                "schedule.reminder_minutes",
                "must be between 5 and 720".into(),
            ));
        }
        if self.outbox.per_chat_burst == 0 {
            out.push(("outbox.per_chat_burst", "must be at least 1".into()));
        }
        if self.outbox.max_in_flight == 0 {
            out.push(("outbox.max_in_flight", "must be at least 1".into()));
        }
        if self.outbox.window_margin_ms > 1000 {
            out.push((
                "outbox.window_margin_ms",
                "must be between 0 and 1000".into(),
            ));
        }
        if !(10..=86_400).contains(&self.outbox.tidy_expires_secs) {
            out.push((
                "outbox.tidy_expires_secs",
                "must be between 10 and 86400".into(),
            ));
        }
        out
    }
}

fn looks_like_token(t: &str) -> bool {
    match t.split_once(':') {
        Some((id, rest)) => {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        None => false,
    }
}

fn apply_file(
    s: &mut Settings,
    raw: RawFile,
    _path: &Path,
    _src: &str,
    _problems: &mut Vec<Diagnostic>,
) {
    if let Some(t) = raw.telegram {
        if let Some(v) = t.token {
            s.token = Some(Secret::new(v));
        }
        if let Some(v) = t.api_url {
            s.api_url = Some(v);
        }
        if let Some(v) = t.poll_timeout_secs {
            s.poll_timeout_secs = v;
        }
        if let Some(v) = t.send_timeout_secs {
            s.send_timeout_secs = v;
        }
    }
    if let Some(v) = raw.database.and_then(|d| d.url) {
        s.database_url = v;
    }
    if let Some(v) = raw.content.and_then(|c| c.dialogs_dir) {
        s.dialogs_dir = v;
    }
    if let Some(v) = raw.schedule.and_then(|s| s.reminder_minutes) {
        s.reminder_minutes = v;
    }
    if let Some(o) = raw.outbox {
        if let Some(v) = o.global_per_second {
            s.outbox.global_per_second = v;
        }
        if let Some(v) = o.per_chat_burst {
            s.outbox.per_chat_burst = v;
        }
        if let Some(v) = o.per_chat_interval_ms {
            s.outbox.per_chat_interval_ms = v;
        }
        if let Some(v) = o.max_in_flight {
            s.outbox.max_in_flight = v;
        }
        if let Some(v) = o.window_margin_ms {
            s.outbox.window_margin_ms = v;
        }
        if let Some(v) = o.tidy_expires_secs {
            s.outbox.tidy_expires_secs = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_token_never_appears_in_debug_output() {
        let s = Settings {
            token: Some(Secret::new("123:SECRETSECRET")),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("SECRETSECRET"));
    }

    #[test]
    fn env_overrides_the_file_and_unknown_keys_are_named_with_their_position() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("staywell.toml");
        std::fs::write(&file, "[database]\nurl = \"sqlite://a.db\"\n").unwrap();
        let s = Settings::load(Some(&file), |k| {
            (k == "DATABASE_URL").then(|| "sqlite://b.db".to_string())
        })
        .unwrap();
        assert_eq!(s.database_url, "sqlite://b.db");

        std::fs::write(&file, "[outbox]\nglobal_per_secnd = 3\n").unwrap();
        let err = Settings::load(Some(&file), no_env).unwrap_err().to_string();
        assert!(err.contains("staywell.toml:2:1"), "{err}");
        assert!(err.contains("global_per_secnd"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Settings::load(None, |k| match k {
            "TELOXIDE_TOKEN" => Some("not a token".into()),
            "DATABASE_URL" => Some("mysql://x".into()),
            _ => None,
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("TELOXIDE_TOKEN"), "{err}");
        assert!(err.contains("DATABASE_URL"), "{err}");
        assert!(
            !err.contains("not a token"),
            "the bad token itself is not echoed: {err}"
        );
    }
}
