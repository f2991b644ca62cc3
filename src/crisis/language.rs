//! Crisis-language detection: does a message contain one of `dialogs/crisis.toml`'s phrases,
//! however it was typed? Pure, and deliberately plain: a clinician reads the phrases in the
//! file, and this module only decides how loosely each is matched. No model, no scores.
//!
//! A message and every phrase go through the same [`Normalised`] form:
//! - lower case; apostrophes dropped ("don't" = "dont"); `@` read as `a` and `$` as `s`;
//!   anything else that is not a letter or digit separates words (emoji, punctuation);
//! - digits inside a word read as the letters they stand for ("k1ll", "d13", "w4nt"), and the
//!   words "2" and "4" as "to" and "for" ("i want 2 die");
//! - a word within one typing slip (a letter added, dropped, changed or two swapped) of one of
//!   the file's `stems` is read as that stem ("sucidal", "suiside", "mysefl"), unless the file
//!   lists it among `real_words` ("overdone" is not "overdose");
//! - spaces are then ignored and every run of one repeated letter counts as one ("killmyself",
//!   "kill my self", "diiiie"), but a phrase must still begin and end on a word boundary of the
//!   message (so "skill myself" is not "kill myself").
//!
//! A phrase may also begin after one of the file's `glued` short words run into it ("i",
//! "im", "to": "iwanttodie", "imgoingtokillmyself").
//!
//! A phrase matched inside one of the file's `not_crisis` phrases does not count ("killing
//! time" holds "killing", "not safe to drive" holds "not safe").

use aho_corasick::{AhoCorasick, MatchKind};

/// The compiled phrases of `crisis.toml`.
#[derive(Debug, Clone)]
pub struct CrisisLanguage {
    /// Crisis phrases first, then the `not_crisis` ones; `crisis_count` splits them.
    automaton: AhoCorasick,
    crisis_count: usize,
    /// The phrase as written in the file, for each crisis pattern (to explain a match).
    sources: Vec<String>,
    /// By pattern: ends with `*`, so it may end inside a word ("suicid*").
    open_ended: Vec<bool>,
    reading: Reading,
}

/// How loosely a message's words are read (the file's `stems`, `real_words` and `glued`).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Key words whose typing slips count as the word.
    stems: Vec<String>,
    /// Real words never read as a slip of a stem.
    real_words: Vec<String>,
    /// Short words that people run into the next one ("iwanttodie", "tokill"): a phrase may
    /// begin after them inside a word.
    glued: Vec<String>,
}

impl Reading {
    pub fn new(stems: &[String], real_words: &[String], glued: &[String]) -> Self {
        let prepare = |list: &[String]| -> Vec<String> {
            list.iter().map(|s| squeeze(&word_form(s))).collect()
        };
        Reading {
            stems: prepare(stems),
            real_words: prepare(real_words),
            glued: prepare(glued),
        }
    }
}

/// A phrase the file could not use, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseError(pub String);

impl CrisisLanguage {
    /// Compiles the phrases; messages will be read as `reading` says (phrases are taken as
    /// written).
    pub fn new(
        phrases: &[String],
        not_crisis: &[String],
        reading: Reading,
    ) -> Result<Self, PhraseError> {
        let as_written = Reading::default();
        let mut patterns = Vec::new();
        let mut sources = Vec::new();
        let mut open_ended = Vec::new();
        for (is_crisis, list) in [(true, phrases), (false, not_crisis)] {
            for p in list {
                for variant in expand(p)? {
                    let (variant, open) = match variant.trim_end().strip_suffix('*') {
                        Some(v) => (v.to_string(), true),
                        None => (variant, false),
                    };
                    let n = Normalised::new(&variant, &as_written);
                    if n.text.is_empty() {
                        continue;
                    }
                    patterns.push(n.text);
                    open_ended.push(open);
                    if is_crisis {
                        sources.push(p.clone());
                    }
                }
            }
        }
        let crisis_count = sources.len();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| PhraseError(format!("the phrases could not be compiled: {e}")))?;
        Ok(CrisisLanguage {
            automaton,
            crisis_count,
            sources,
            open_ended,
            reading,
        })
    }

    /// Whether `message` contains crisis language.
    pub fn matches(&self, message: &str) -> bool {
        self.find(message).is_some()
    }

    /// The phrase (as written in the file) that `message` matched, if any.
    pub fn find(&self, message: &str) -> Option<&str> {
        let n = Normalised::new(message, &self.reading);
        if n.text.is_empty() {
            return None;
        }
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        let mut excepted: Vec<(usize, usize)> = Vec::new();
        for m in self.automaton.find_overlapping_iter(n.text.as_str()) {
            let id = m.pattern().as_usize();
            let on_words = n.can_start[m.start()] && (self.open_ended[id] || n.can_end[m.end()]);
            let inside_run_together = m.len() >= MIN_LETTERS_INSIDE_RUN_TOGETHER
                && n.run_together
                    .iter()
                    .any(|&(s, e)| s <= m.start() && m.end() <= e);
            if !(on_words || inside_run_together) {
                continue;
            }
            if id < self.crisis_count {
                found.push((m.start(), m.end(), id));
            } else {
                excepted.push((m.start(), m.end()));
            }
        }
        found
            .into_iter()
            .find(|&(s, e, _)| !excepted.iter().any(|&(xs, xe)| xs <= s && e <= xe))
            .map(|(_, _, id)| self.sources[id].as_str())
    }

    /// How many patterns the phrases expanded to (alternatives multiply).
    pub fn pattern_count(&self) -> usize {
        self.crisis_count
    }

    /// The heap the compiled phrases take, in bytes.
    pub fn memory_usage(&self) -> usize {
        self.automaton.memory_usage()
    }
}

/// Expands `(a|b|)` alternatives (an empty one makes the group optional) into every phrase
/// they stand for; `{number}` stands for any number, and a `*` may end a phrase.
pub fn expand(phrase: &str) -> Result<Vec<String>, PhraseError> {
    if phrase.trim_end().trim_end_matches('*').contains('*') {
        return Err(PhraseError(
            "`*` may only end a phrase (\"suicid*\": any word that begins so)".into(),
        ));
    }
    let phrase = phrase.replace("{number}", NUMBER);
    if phrase.contains(['{', '}']) {
        return Err(PhraseError(
            "the only { } a phrase may hold is {number}".into(),
        ));
    }
    let phrase = phrase.as_str();
    let mut out = vec![String::new()];
    let mut rest = phrase;
    while let Some(open) = rest.find(['(', ')', '|']) {
        if !rest[open..].starts_with('(') {
            return Err(PhraseError(format!(
                "`{}` outside ( ): alternatives are written (one|two)",
                &rest[open..open + 1]
            )));
        }
        let before = &rest[..open];
        let after = &rest[open + 1..];
        let close = after
            .find(')')
            .ok_or_else(|| PhraseError("a ( without its )".into()))?;
        let inside = &after[..close];
        if inside.contains('(') {
            return Err(PhraseError("( ) inside ( ) is not supported".into()));
        }
        let options: Vec<&str> = inside.split('|').collect();
        if options.len() < 2 {
            return Err(PhraseError(
                "( ) needs at least two alternatives, like (want|wanna) or (really|)".into(),
            ));
        }
        out = out
            .iter()
            .flat_map(|so_far| options.iter().map(move |o| format!("{so_far}{before}{o}")))
            .collect();
        if out.len() > 4096 {
            return Err(PhraseError(
                "this phrase stands for more than 4,096 phrases: split it".into(),
            ));
        }
        rest = &after[close + 1..];
    }
    for s in &mut out {
        s.push_str(rest);
    }
    Ok(out)
}

/// A word this long (letters, repeats counted once) is taken as words run together
/// ("killmyselftonight"): a phrase of at least [`MIN_LETTERS_INSIDE_RUN_TOGETHER`] letters may
/// begin and end anywhere inside it. English words this long that hold such a phrase are
/// rare ("overburdened" holds "burden").
const RUN_TOGETHER_LETTERS: usize = 12;
const MIN_LETTERS_INSIDE_RUN_TOGETHER: usize = 6;

/// A text as the matcher sees it: words joined without spaces, repeated letters squeezed,
/// and where a phrase may begin and end.
#[derive(Debug)]
struct Normalised {
    text: String,
    /// Byte ranges of `text` that were one long word (see [`RUN_TOGETHER_LETTERS`]).
    run_together: Vec<(usize, usize)>,
    /// By byte offset into `text` (length + 1): a match may start / end here.
    can_start: Vec<bool>,
    can_end: Vec<bool>,
}

impl Normalised {
    fn new(s: &str, reading: &Reading) -> Self {
        let mut text = String::with_capacity(s.len());
        let mut can_start = Vec::with_capacity(s.len() + 1);
        let mut can_end = Vec::with_capacity(s.len() + 1);
        let mut run_together = Vec::new();
        let mut last: Option<char> = None;
        // A word ended inside a squeezed run: a match may end just after that letter.
        let mut end_after_last = false;
        for word in words(s) {
            let word = squeeze(&read_word(&word, reading));
            let glued = glued_starts(&word, &reading.glued);
            let word_at = text.len();
            for (i, c) in word.char_indices() {
                let word_start = i == 0;
                let start = word_start || glued.contains(&i);
                if last == Some(c) {
                    // Squeezed into the letter before: a word that ends or starts inside a
                    // run of one letter may end after it, or start at it.
                    if word_start {
                        can_start[text.len() - c.len_utf8()] = true;
                        end_after_last = true;
                    }
                    continue;
                }
                can_start.push(start);
                can_end.push(word_start || end_after_last);
                end_after_last = false;
                for _ in 1..c.len_utf8() {
                    can_start.push(false);
                    can_end.push(false);
                }
                text.push(c);
                last = Some(c);
            }
            if word.chars().count() >= RUN_TOGETHER_LETTERS {
                run_together.push((word_at, text.len()));
            }
        }
        can_start.push(false);
        can_end.push(true);
        Normalised {
            text,
            run_together,
            can_start,
            can_end,
        }
    }
}

/// Any number, as a word: "took {number} pills".
const NUMBER: &str = "znumberz";

/// The words of `s`: lower case, apostrophes dropped, `@` as `a` and `$` as `s`; inside a
/// word `!` is `i` ("k!ll") and `*` a letter left out ("s*icidal").
fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    let mut word = String::new();
    let mut chars = s.chars().chain(std::iter::once(' ')).peekable();
    std::iter::from_fn(move || {
        while let Some(c) = chars.next() {
            let next_is_letter = chars
                .peek()
                .is_some_and(|n| n.is_alphanumeric() || *n == '*');
            match c {
                '\'' | '’' | '‘' | '`' => {}
                '@' => word.push('a'),
                '$' => word.push('s'),
                '!' if !word.is_empty() && next_is_letter => word.push('i'),
                '*' if !word.is_empty() && (next_is_letter || word.ends_with('*')) => {
                    word.push('*')
                }
                c if c.is_alphanumeric() => word.extend(c.to_lowercase()),
                _ if !word.is_empty() => return Some(std::mem::take(&mut word)),
                _ => {}
            }
        }
        None
    })
}

/// Byte offsets inside `word` (squeezed) where a phrase may begin after glued words:
/// "imgoingtokill" may begin at "going", "to" and "kill".
fn glued_starts(word: &str, glued: &[String]) -> Vec<usize> {
    let mut reached = vec![0];
    let mut i = 0;
    while i < reached.len() {
        let at = reached[i];
        for g in glued {
            let next = at + g.len();
            if next < word.len() && word[at..].starts_with(g.as_str()) && !reached.contains(&next) {
                reached.push(next);
            }
        }
        i += 1;
    }
    reached
}

/// Digits read as letters, then a near miss of a stem read as the stem.
fn read_word(word: &str, reading: &Reading) -> String {
    let (stems, real_words) = (&reading.stems, &reading.real_words);
    let word = word_form(word);
    let squeezed = squeeze(&word);
    if squeezed.chars().count() < 4 || stems.contains(&squeezed) || real_words.contains(&squeezed) {
        return word;
    }
    match stems.iter().find(|stem| slip_of(&squeezed, stem)) {
        Some(stem) => stem.clone(),
        None => word,
    }
}

/// One typing slip away from `stem`: a letter added, dropped, changed or two swapped (a word
/// and stem of five letters or more: "live" is no slip of "alive"), two swapped (four
/// letters), or letters starred out.
fn slip_of(word: &str, stem: &str) -> bool {
    let (w, s) = (word.chars().count(), stem.chars().count());
    if word.contains('*') {
        return w == s
            && word
                .chars()
                .zip(stem.chars())
                .all(|(a, b)| a == '*' || a == b);
    }
    match s {
        0..=3 => false,
        4 => {
            w == 4 && strsim::osa_distance(word, stem) == 1 && {
                let (mut a, mut b): (Vec<char>, Vec<char>) =
                    (word.chars().collect(), stem.chars().collect());
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }
        }
        _ => w >= 5 && w.abs_diff(s) <= 1 && strsim::osa_distance(word, stem) <= 1,
    }
}

/// One word with its digits read as letters: "2" and "4" alone are "to" and "for"; inside a
/// word 0 1 3 4 5 7 are o i e a s t and 2 is "to". Any other number is a number.
fn word_form(word: &str) -> String {
    match word {
        "2" => return "to".into(),
        "4" => return "for".into(),
        _ => {}
    }
    if word.chars().all(|c| c.is_ascii_digit()) {
        return NUMBER.into();
    }
    if !word.chars().any(|c| c.is_alphabetic()) {
        return word.into();
    }
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        match c {
            '0' => out.push('o'),
            '1' => out.push('i'),
            '2' => out.push_str("to"),
            '3' => out.push('e'),
            '4' => out.push('a'),
            '5' => out.push('s'),
            '7' => out.push('t'),
            c => out.push(c),
        }
    }
    out
}

/// Every run of one repeated letter as one (a run of `*` stays: each stands for a letter).
fn squeeze(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '*' || !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(phrases: &[&str], not_crisis: &[&str]) -> CrisisLanguage {
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        CrisisLanguage::new(
            &v(phrases),
            &v(not_crisis),
            Reading::new(
                &v(&["suicide", "suicidal", "myself", "overdose"]),
                &v(&["overdone"]),
                &v(&["i", "im", "to"]),
            ),
        )
        .unwrap()
    }

    #[test]
    fn words_run_together_split_or_stretched_still_match() {
        let l = lang(&["kill myself", "want to die", "self harm"], &[]);
        for m in [
            "killmyself",
            "kill my self",
            "KILLLL MYSELFFF",
            "iwanttodie",
            "i want 2 die",
            "i w4nt to d1e",
            "i wanna... no, i want to diiiie",
            "selfharm",
            "self-harming again", // "harming" is not "harm": must not match
        ] {
            let expect = !m.contains("harming");
            assert_eq!(l.matches(m), expect, "{m}");
        }
    }

    #[test]
    fn a_phrase_must_begin_and_end_on_a_word_boundary() {
        let l = lang(&["kill myself", "die"], &[]);
        for m in [
            "skill myself up",
            "kill myselfish",
            "diet",
            "indie",
            "studied",
        ] {
            assert!(!l.matches(m), "{m}");
        }
        assert!(l.matches("i could just die"));
    }

    #[test]
    fn near_misses_of_a_stem_are_read_as_the_stem_but_listed_real_words_are_not() {
        let l = lang(&["suicidal", "kill myself", "overdose"], &[]);
        for m in [
            "sucidal",
            "suicdal",
            "suuuicidal",
            "kill mysefl",
            "overdoes",
        ] {
            assert!(l.matches(m), "{m}");
        }
        assert!(!l.matches("i overdone it at the gym"));
    }

    #[test]
    fn a_phrase_inside_a_not_crisis_phrase_does_not_count() {
        let l = lang(&["not safe"], &["not safe to drive"]);
        assert!(!l.matches("my car is not safe to drive"));
        assert!(l.matches("not safe to drive and not safe at home"));
        assert!(l.matches("im not safe"));
    }

    #[test]
    fn alternatives_expand_and_an_empty_one_is_optional() {
        assert_eq!(
            expand("(want|wanna) (to |)die").unwrap(),
            ["want to die", "want die", "wanna to die", "wanna die"]
        );
        assert!(expand("want (to").is_err());
        assert!(expand("want to) die").is_err());
        assert!(expand("(to)").is_err());
    }

    #[test]
    fn a_phrase_may_begin_after_short_words_run_into_it() {
        let l = lang(&["kill myself", "want to die"], &[]);
        for m in ["imtokill myself", "iwanttodie", "i want tokill myself"] {
            assert!(l.matches(m), "{m}");
        }
        assert!(!l.matches("skill myself"));
        assert!(!l.matches("idiotokill myself"));
    }

    #[test]
    fn a_long_phrase_is_found_anywhere_inside_words_run_together() {
        let l = lang(&["kill myself", "end my life", "kms"], &[]);
        for m in [
            "justwannakillmyselfrn",
            "wanttoendmylife",
            "killmyselftonight honestly",
        ] {
            assert!(l.matches(m), "{m}");
        }
        // Short phrases and short words keep to word boundaries.
        assert!(!l.matches("thekmsareoutoforder"));
        assert!(!l.matches("unkill myself"));
    }

    #[test]
    fn a_double_letter_where_two_words_meet_still_matches() {
        let l = lang(&["cant take it"], &[]);
        assert!(l.matches("i cant take it anymore"));
        assert!(l.matches("icanttakeit"));
        assert!(!l.matches("a cant takeitup"));
    }
}
