//! The only module that names teloxide. It turns Telegram updates into [`Incoming`]s
//! (`convert`), owns the long-polling loop that stores them before confirming them
//! (`poller`), and performs outbox calls (`messenger`).
//!
//! [`Incoming`]: crate::domain::Incoming

pub mod convert;
pub mod messenger;
pub mod poller;

use std::time::Duration;

use anyhow::Context;
use teloxide::Bot;

use crate::config::Settings;

/// Two bots over one token: one whose HTTP timeout outlasts the long poll, one with a short
/// timeout for sending (so an ambiguous send is noticed quickly).
#[derive(Clone)]
pub struct Bots {
    pub poll: Bot,
    pub send: Bot,
}

impl Bots {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Bots> {
        let token = settings
            .token
            .as_ref()
            .context("TELOXIDE_TOKEN is not set: get a bot token from @BotFather and set TELOXIDE_TOKEN (or telegram.token in staywell.toml)")?;
        let poll_client = teloxide::net::default_reqwest_settings()
            .timeout(Duration::from_secs(settings.poll_timeout_secs as u64 + 15))
            .build()
            .context("cannot build the HTTP client")?;
        let send_client = teloxide::net::default_reqwest_settings()
            .timeout(Duration::from_secs(settings.send_timeout_secs as u64))
            .build()
            .context("cannot build the HTTP client")?;
        let mut poll = Bot::with_client(token.expose(), poll_client);
        let mut send = Bot::with_client(token.expose(), send_client);
        if let Some(url) = &settings.api_url {
            poll = poll.set_api_url(url.parse().context("TELOXIDE_API_URL is not a valid URL")?);
            send = send.set_api_url(url.parse().context("TELOXIDE_API_URL is not a valid URL")?);
        }
        Ok(Bots { poll, send })
    }
}

/// Removes the token from a text (error messages may carry request URLs).
pub fn redact(text: &str, token: &str) -> String {
    if token.is_empty() {
        text.to_string()
    } else {
        text.replace(token, "[token]")
    }
}
