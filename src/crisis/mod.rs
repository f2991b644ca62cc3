//! The crisis card and crisis-language detection. Pure.
//!
//! Safety rule: the card is never gated — anyone, onboarded or not, at any point in any
//! conversation, who sends crisis language or `/crisis`, gets it at once on the urgent lane.

use chrono::NaiveDate;

mod language;
pub use language::{CrisisLanguage, Reading, expand};

/// The crisis contacts and the language that brings them up.
#[derive(Debug, Clone)]
pub struct CrisisCard {
    text: String,
    pub last_verified: NaiveDate,
    language: CrisisLanguage,
}

impl CrisisCard {
    pub fn new(
        intro: String,
        contacts: Vec<(String, String)>,
        outro: String,
        last_verified: NaiveDate,
        language: CrisisLanguage,
    ) -> Self {
        let mut text = intro;
        text.push('\n');
        for (name, how) in &contacts {
            text.push_str(&format!("\n• {name}: {how}"));
        }
        text.push_str("\n\n");
        text.push_str(&outro);
        CrisisCard {
            text,
            last_verified,
            language,
        }
    }

    /// The card as one message.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `message` contains crisis language.
    pub fn matches(&self, message: &str) -> bool {
        self.language.matches(message)
    }

    /// The detector itself (to explain a match, in tests and `staywell check`).
    pub fn language(&self) -> &CrisisLanguage {
        &self.language
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> CrisisCard {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        CrisisCard::new(
            "intro".into(),
            vec![("Samaritans".into(), "116 123".into())],
            "outro".into(),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            CrisisLanguage::new(
                &v(&["kill myself", "self-harm", "don't feel safe", "suicide"]),
                &[],
                Reading::new(&v(&["suicide"]), &[], &[]),
            )
            .unwrap(),
        )
    }

    #[test]
    fn crisis_language_is_found_whatever_the_case_punctuation_or_apostrophes() {
        let c = card();
        for msg in [
            "I want to KILL myself",
            "thinking about self harm again",
            "self-harm",
            "I dont feel safe",
            "i don’t feel safe tonight",
            "suicide.",
            "😞 kill   myself 😞",
        ] {
            assert!(c.matches(msg), "{msg}");
        }
    }

    #[test]
    fn ordinary_words_containing_a_phrase_do_not_match() {
        let c = card();
        for msg in ["skill myself up", "I feel safe", "", "🙂"] {
            assert!(!c.matches(msg), "{msg}");
        }
    }

    #[test]
    fn the_card_lists_every_contact() {
        assert!(card().text().contains("• Samaritans: 116 123"));
    }
}
