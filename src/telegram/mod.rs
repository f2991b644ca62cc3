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
            // teloxide waits 10 s before reading a 5xx answer, inside this timeout: without the
            // margin a plain server error would look like an ambiguous timeout.
            .timeout(Duration::from_secs(settings.send_timeout_secs as u64 + 10))
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

impl Bots {
    /// Checks the token with `getMe`. An invalid token is an error; an unreachable Bot API
    /// is only a warning (the loops keep trying). Returns the bot's username if known.
    pub async fn check_token(&self) -> anyhow::Result<Option<String>> {
        use teloxide::requests::Requester;
        match self.send.get_me().await {
            Ok(me) => {
                tracing::info!(bot_id = me.id.0, "connected to the Bot API");
                Ok(me.username.clone())
            }
            Err(teloxide::RequestError::Api(teloxide::ApiError::InvalidToken)) => {
                anyhow::bail!(
                    "Telegram rejected TELOXIDE_TOKEN (invalid token): check it with @BotFather"
                )
            }
            Err(e) => {
                tracing::warn!(error = %messenger::describe(&e), "cannot reach the Bot API yet; will keep trying");
                Ok(None)
            }
        }
    }
}
