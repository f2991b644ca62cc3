//! The crisis card and crisis-language detection. Pure.
//!
//! Safety rule: the card is never gated — anyone, onboarded or not, at any point in any
//! conversation, who sends crisis language or `/crisis`, gets it at once on the urgent lane.

use chrono::NaiveDate;

/// The crisis contacts and the phrases that bring them up.
#[derive(Debug, Clone)]
pub struct CrisisCard {
    text: String,
    pub last_verified: NaiveDate,
    /// Normalised phrases, each padded with spaces for whole-word matching.
    phrases: Vec<String>,
}

impl CrisisCard {
    pub fn new(
        intro: String,
        contacts: Vec<(String, String)>,
        outro: String,
        last_verified: NaiveDate,
        phrases: &[String],
    ) -> Self {
        let mut text = intro;
        text.push('\n');
        for (name, how) in &contacts {
            text.push_str(&format!("\n• {name}: {how}"));
        }
        text.push_str("\n\n");
        text.push_str(&outro);
        let mut phrases: Vec<String> = phrases
            .iter()
            .map(|p| format!(" {} ", normalise(p).trim()))
            .filter(|p| p.trim() != "")
            .collect();
        phrases.sort();
        phrases.dedup();
        CrisisCard {
            text,
            last_verified,
            phrases,
        }
    }

    /// The card as one message.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `message` contains crisis language.
    pub fn matches(&self, message: &str) -> bool {
        let padded = format!(" {} ", normalise(message));
        self.phrases.iter().any(|p| padded.contains(p.as_str()))
    }
}

/// Lower-case, letters and digits only, words separated by single spaces. Apostrophes are
/// dropped (so "don't" and "dont" match alike); other punctuation separates words.
pub fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for c in s.chars() {
        if c == '\'' || c == '’' || c == '‘' {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
            space = false;
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> CrisisCard {
        CrisisCard::new(
            "intro".into(),
            vec![("Samaritans".into(), "116 123".into())],
            "outro".into(),
            NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            &[
                "kill myself".into(),
                "self-harm".into(),
                "don't feel safe".into(),
                "suicide".into(),
            ],
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
