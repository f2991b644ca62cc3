//! The states things move through, stored as today's strings (`as_str` / `parse`): a
//! check-in session's status, how a scheduled slot ended, where an early-warning episode
//! is, and where a queued message is.

/// Generates a stored-as-text enum with `as_str`, `parse` and `ALL`.
macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// A check-in session's status (`sessions.status`).
    SessionStatus {
        /// Waiting for the member's next answer.
        Active = "active",
        /// The member asked to stop for now.
        Paused = "paused",
        /// Another check-in began while this one was still inside its window.
        Aside = "aside",
        /// Its window closed before it was finished.
        Expired = "expired",
        Completed = "completed",
    }
}

stored_enum! {
    /// How a scheduled slot ended (`slots.outcome`; none while its window is open).
    SlotOutcome {
        Completed = "completed",
        /// Some questions answered before the window closed.
        Partial = "partial",
        Missed = "missed",
        /// The bot was down when it was due.
        Unknown = "unknown",
        /// The member was paused or stopped.
        Paused = "paused",
        /// A `/week` report slot whose chart was sent.
        Sent = "sent",
    }
}

stored_enum! {
    /// Where an early-warning episode is (`episodes.state`).
    EpisodeState {
        /// The member is being asked first whether to tell.
        Asking = "asking",
        /// Their people were told (at once, after asking, or when the question went
        /// unanswered and the plan says tell).
        Told = "told",
        /// The member said not to tell.
        NotTold = "not_told",
        /// The question went unanswered (or the episode ended while asking).
        Lapsed = "lapsed",
        /// The rule was turned off or its consent withdrawn while the episode was open.
        Cancelled = "cancelled",
    }
}

stored_enum! {
    /// Where a queued message is (`outbox.state`).
    OutboxState {
        Pending = "pending",
        /// Handed to Telegram; the result is not recorded yet.
        Sending = "sending",
        Sent = "sent",
        /// Telegram refused it for good.
        Failed = "failed",
        /// It may or may not have arrived, and re-sending is not safe.
        Ambiguous = "ambiguous",
        /// The chat blocked the bot.
        Unreachable = "unreachable",
        /// Withdrawn before it was sent (a pause, a stop, a later edit, its time passed).
        Cancelled = "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_stored_text() {
        for s in SessionStatus::ALL {
            assert_eq!(SessionStatus::parse(s.as_str()), Some(*s));
        }
        for s in SlotOutcome::ALL {
            assert_eq!(SlotOutcome::parse(s.as_str()), Some(*s));
        }
        for s in EpisodeState::ALL {
            assert_eq!(EpisodeState::parse(s.as_str()), Some(*s));
        }
        for s in OutboxState::ALL {
            assert_eq!(OutboxState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(SessionStatus::parse("finished"), None);
    }
}
