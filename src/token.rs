//! Unguessable tokens: invite links (32 random bytes) and server-side button ids.
//!
//! The conversation stays pure: it draws fresh tokens from a [`Tokens`] it is given, as it
//! is given `now`. Each token is `base64url(SHA-256(key ‖ nonce ‖ counter))` with a 32-byte
//! key read from the operating system's random source at start-up and a nonce that never
//! repeats under that key, so tokens are unpredictable without the key.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Characters of a button token (12 bytes of a hash, base64url): 2^96 possibilities.
const BUTTON_BYTES: usize = 12;

pub struct Tokens {
    key: [u8; 32],
    nonce: u64,
    counter: AtomicU64,
}

/// A key from the operating system's random source (read once, at start-up).
pub fn os_key() -> anyhow::Result<[u8; 32]> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k)
        .map_err(|e| anyhow::anyhow!("the operating system's random source failed: {e}"))?;
    Ok(k)
}

impl Tokens {
    /// Tokens under `key` for one use site (`nonce`: e.g. the update being processed; the
    /// same key and nonce give the same tokens, so nonces must not repeat under one key).
    pub fn new(key: [u8; 32], nonce: u64) -> Tokens {
        Tokens {
            key,
            nonce,
            counter: AtomicU64::new(0),
        }
    }

    fn next_bytes(&self) -> [u8; 32] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(self.nonce.to_le_bytes());
        h.update(n.to_le_bytes());
        h.finalize().into()
    }

    /// An invite token: 32 bytes, base64url without padding (43 characters, fits a
    /// Telegram deep link's 64).
    pub fn invite(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.next_bytes())
    }

    /// A button token (16 characters).
    pub fn button(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.next_bytes()[..BUTTON_BYTES])
    }
}

/// What is stored for an invite token: its SHA-256, hex. The token itself is never stored.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` could be an invite token at all (43 characters of base64url). Anything else
/// is refused before any lookup.
pub fn looks_like_invite(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invite_tokens_fit_a_deep_link_and_differ() {
        let t = Tokens::new(os_key().unwrap(), 1);
        let (a, b) = (t.invite(), t.invite());
        assert_ne!(a, b);
        assert!(looks_like_invite(&a), "{a}");
        assert!(a.len() <= 64);
        assert_eq!(t.button().len(), 16);
    }

    #[test]
    fn different_nonces_or_keys_give_different_tokens() {
        let k = os_key().unwrap();
        assert_ne!(Tokens::new(k, 1).invite(), Tokens::new(k, 2).invite());
        assert_ne!(
            Tokens::new(k, 1).invite(),
            Tokens::new(os_key().unwrap(), 1).invite()
        );
    }

    #[test]
    fn the_hash_is_not_the_token() {
        let t = Tokens::new([7; 32], 0);
        let token = t.invite();
        assert_eq!(hash(&token).len(), 64);
        assert!(!hash(&token).contains(&token));
        assert!(!looks_like_invite("short"));
        assert!(!looks_like_invite(&"a/".repeat(22)[..43]));
    }
}
