//! What a line typed into `staywell chat` means. Pure.

use chrono::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Sent to the bot as a message (commands included).
    Say(String),
    /// A bare number: press that button of the latest message with buttons.
    PressNumber(usize),
    Press(String),
    /// Press it if there is such a button, else do nothing (for generated scripts).
    PressIf(String),
    As(String),
    Open(Option<String>),
    Wait(Duration),
    Expect(String),
    ExpectNone(String),
    Now,
    Who,
    Quit,
    Nothing,
    /// A meta-command we could not read: say this, change nothing.
    Problem(String),
}

const HELP: &str = "meta-commands: :as NAME, :open [LINK], :wait 30m|3h|2d, :press LABEL, :press-if LABEL, :expect TEXT, :expect-none TEXT, :now, :who, :quit";

pub fn parse(line: &str) -> Line {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Line::Nothing;
    }
    let Some(meta) = line.strip_prefix(':') else {
        return match line.parse::<usize>() {
            Ok(n) if line.chars().all(|c| c.is_ascii_digit()) && line.len() <= 3 => {
                Line::PressNumber(n)
            }
            _ => Line::Say(line.to_string()),
        };
    };
    let (word, rest) = match meta.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (meta, ""),
    };
    match (word, rest) {
        ("as", name) => match valid_name(name) {
            Some(n) => Line::As(n),
            None => Line::Problem(
                "a name is 1 to 32 letters, digits, - or _, starting with a letter (like sam or care_coordinator)".into(),
            ),
        },
        ("open", "") => Line::Open(None),
        ("open", link) => Line::Open(Some(link.to_string())),
        ("wait", d) => match parse_duration(d) {
            Some(d) => Line::Wait(d),
            None => Line::Problem("`:wait` takes a duration like 30m, 3h, 2d (up to 90 days)".into()),
        },
        ("press", "") => Line::Problem("`:press` needs a label, like :press Yes".into()),
        ("press", label) => Line::Press(label.to_string()),
        ("press-if", "") => Line::Problem("`:press-if` needs a label, like :press-if Yes".into()),
        ("press-if", label) => Line::PressIf(label.to_string()),
        ("expect", "") | ("expect-none", "") => Line::Problem(format!("`:{word}` needs some text to look for")),
        ("expect", text) => Line::Expect(text.to_string()),
        ("expect-none", text) => Line::ExpectNone(text.to_string()),
        ("now", "") => Line::Now,
        ("who", "") => Line::Who,
        ("quit", "") | ("q", "") | ("exit", "") => Line::Quit,
        _ => Line::Problem(format!("unknown command `:{word}`; {HELP}")),
    }
}

fn valid_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    ok.then(|| name.to_ascii_lowercase())
}

/// `30m`, `3h`, `2d`, `90s`, `1h30m`; at least a second, at most 90 days.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0i64;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    if !digits.is_empty() || !(1..=90 * 86_400).contains(&total) {
        return None;
    }
    Some(Duration::seconds(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_people_type_them() {
        assert_eq!(parse("/start"), Line::Say("/start".into()));
        assert_eq!(parse("I'm fine"), Line::Say("I'm fine".into()));
        assert_eq!(parse("2"), Line::PressNumber(2));
        assert_eq!(parse("6,5"), Line::Say("6,5".into()));
        assert_eq!(parse(":as Sam"), Line::As("sam".into()));
        assert_eq!(parse(":wait 1h30m"), Line::Wait(Duration::minutes(90)));
        assert_eq!(parse(":press Yes, store"), Line::Press("Yes, store".into()));
        assert_eq!(parse("  # a comment"), Line::Nothing);
        assert_eq!(parse(":quit"), Line::Quit);
    }

    #[test]
    fn bad_meta_commands_explain_themselves() {
        for bad in [
            ":as",
            ":as s@m",
            ":as 7up",
            ":wait",
            ":wait soon",
            ":wait 100d",
            ":wait 3x",
            ":wait 0m",
            ":frob",
            ":press",
            ":now please",
        ] {
            assert!(matches!(parse(bad), Line::Problem(_)), "{bad}");
        }
    }
}
