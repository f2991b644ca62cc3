//! `/start` for someone new: who the bot is, crisis contacts, consent, name, timezone.

use super::{Change, Member, Onboarding, Outcome, data};
use crate::content::{Content, fill};
use crate::domain::{Button, ChatId, Envelope, Incoming, Outgoing};

const MAX_NAME_CHARS: usize = 40;

/// A name we can use: trimmed, 1–40 characters, no control characters, not a command.
pub fn validate_name(raw: &str) -> Option<String> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.starts_with('/')
        && !name.chars().any(|c| c.is_control());
    ok.then(|| name.to_string())
}

/// A timezone as people type it: an IANA name in any case ("europe/lisbon"), a city on its
/// own ("Lisbon", "new york", "Sao_Paulo"), or an everyday name for UK time.
pub fn parse_timezone(raw: &str) -> Option<chrono_tz::Tz> {
    let s = raw.trim();
    match s.to_ascii_lowercase().as_str() {
        "uk" | "london" | "gmt" | "bst" | "uk time" | "england" | "britain" | "scotland"
        | "wales" => return Some(chrono_tz::Europe::London),
        _ => {}
    }
    if let Ok(tz) = s.parse::<chrono_tz::Tz>() {
        return Some(tz);
    }
    let wanted = zone_key(s);
    if wanted.is_empty() {
        return None;
    }
    let zones = || {
        chrono_tz::TZ_VARIANTS
            .iter()
            .filter(|tz| tz.name().contains('/'))
    };
    zones()
        .find(|tz| zone_key(tz.name()) == wanted)
        .or_else(|| zones().find(|tz| zone_key(city(tz.name())) == wanted))
        .copied()
}

/// The zone a mistyped city most likely meant ("Lisbn" → Europe/Lisbon), if one is close.
pub fn suggest_timezone(raw: &str) -> Option<chrono_tz::Tz> {
    let wanted = zone_key(raw);
    if wanted.chars().count() < 4 {
        return None;
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .filter(|tz| tz.name().contains('/'))
        .map(|tz| {
            (
                strsim::osa_distance(&zone_key(city(tz.name())), &wanted),
                tz,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, tz)| *tz)
}

/// The city of a zone name: "America/Argentina/Buenos_Aires" → "Buenos_Aires".
fn city(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Lower case, letters and `/` only: "New York", "new_york" and "New-York" are alike.
fn zone_key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphabetic() || *c == '/')
        .flat_map(char::to_lowercase)
        .collect()
}

/// First contact: who we are, that we are not a crisis service, the crisis contacts, and the
/// consent question. Nothing is stored.
pub(super) fn welcome(o: &mut Outcome, chat: ChatId, content: &Content) {
    let t = &content.texts;
    o.reply(chat, Outgoing::text(&t.welcome));
    o.reply(chat, Outgoing::text(content.crisis.text()));
    ask_consent(o, chat, &t.consent_question, content);
}

/// "yes" or "no" typed by someone who has not consented: a "no" is the same as "No thanks";
/// a "yes" is asked to tap the button, so that what they agreed to is on record exactly
/// (the button carries the wording's version).
pub(super) fn typed_consent(o: &mut Outcome, chat: ChatId, yes: bool, content: &Content) {
    let t = &content.texts;
    if yes {
        ask_consent(o, chat, &t.consent_tap_to_agree, content);
    } else {
        o.reply(chat, Outgoing::text(&t.consent_declined));
    }
}

fn ask_consent(o: &mut Outcome, chat: ChatId, question: &str, content: &Content) {
    let t = &content.texts;
    o.reply(
        chat,
        Outgoing::with_buttons(
            question,
            vec![vec![
                Button::new(
                    &t.consent_yes_button,
                    format!("{}:{}", data::CONSENT_YES, content.texts_version),
                ),
                Button::new(&t.consent_no_button, data::CONSENT_NO),
            ]],
        ),
    );
}

/// Re-asks the question for the member's current onboarding step.
pub(super) fn ask_current(
    o: &mut Outcome,
    chat: ChatId,
    m: &Member,
    incoming: &Incoming,
    content: &Content,
) {
    let first_name = incoming
        .sender
        .as_ref()
        .map(|s| s.first_name.as_str())
        .unwrap_or("");
    match m.onboarding {
        Onboarding::Name => ask_name(o, chat, first_name, content),
        Onboarding::Timezone => {
            ask_timezone(o, chat, m.name_or(&content.texts.default_name), content)
        }
        Onboarding::TimezoneOther => {
            o.reply(chat, Outgoing::text(&content.texts.ask_timezone_other))
        }
        Onboarding::CheckinTime => super::schedules::ask_first_time(o, chat, content),
        Onboarding::Done => {}
    }
}

fn ask_name(o: &mut Outcome, chat: ChatId, first_name: &str, content: &Content) {
    let t = &content.texts;
    let buttons = match validate_name(first_name) {
        Some(n) => vec![vec![Button::new(
            fill(&t.use_telegram_name_button, &[("first_name", &n)]),
            data::NAME_FROM_TELEGRAM,
        )]],
        None => vec![],
    };
    o.reply(chat, Outgoing::with_buttons(&t.ask_name, buttons));
}

fn ask_timezone(o: &mut Outcome, chat: ChatId, name: &str, content: &Content) {
    let t = &content.texts;
    o.reply(
        chat,
        Outgoing::with_buttons(
            fill(&t.ask_timezone, &[("name", name)]),
            vec![vec![
                Button::new(&t.timezone_london_button, data::TZ_LONDON),
                Button::new(&t.timezone_other_button, data::TZ_OTHER),
            ]],
        ),
    );
}

/// The timezone is known: ask for the first check-in time (see `schedules`).
fn finish(o: &mut Outcome, chat: ChatId, _name: &str, tz: &str, content: &Content) {
    o.changes.push(Change::SetTimezone(tz.to_string()));
    o.changes
        .push(Change::SetOnboarding(Onboarding::CheckinTime));
    super::schedules::ask_first_time(o, chat, content);
}

/// Typed text during onboarding.
pub(super) fn text(o: &mut Outcome, chat: ChatId, m: &Member, text: &str, content: &Content) {
    let t = &content.texts;
    match m.onboarding {
        Onboarding::Name => match validate_name(text) {
            Some(name) => {
                o.changes.push(Change::SetName(name.clone()));
                o.changes.push(Change::SetOnboarding(Onboarding::Timezone));
                ask_timezone(o, chat, &name, content);
            }
            None => o.reply(chat, Outgoing::text(&t.name_invalid)),
        },
        Onboarding::Timezone | Onboarding::TimezoneOther => match parse_timezone(text) {
            Some(tz) => finish(
                o,
                chat,
                m.name_or(&content.texts.default_name),
                tz.name(),
                content,
            ),
            None => {
                let london = vec![Button::new(&t.timezone_london_button, data::TZ_LONDON)];
                let reply = match suggest_timezone(text) {
                    Some(tz) => Outgoing::with_buttons(
                        fill(&t.timezone_did_you_mean, &[("timezone", tz.name())]),
                        vec![
                            vec![Button::new(
                                fill(&t.timezone_yes_button, &[("timezone", tz.name())]),
                                format!("{}{}", data::TZ_IS, tz.name()),
                            )],
                            london,
                        ],
                    ),
                    None => Outgoing::with_buttons(&t.timezone_invalid, vec![london]),
                };
                o.reply(chat, reply);
            }
        },
        Onboarding::CheckinTime | Onboarding::Done => {}
    }
}

/// A button press. Always answered (so the client's spinner stops); acts only if the button
/// belongs to the presser's current step.
pub(super) fn callback(
    o: &mut Outcome,
    person: &super::Person,
    incoming: &Incoming,
    query_id: &str,
    data: Option<&str>,
    message_id: Option<i32>,
    content: &Content,
) {
    let chat = person.chat;
    let t = &content.texts;
    let member = person.member.as_ref();
    let step = member.map(|m| m.onboarding);
    // A member who withdrew consent to storing answers is asked again, like someone new.
    let needs_consent = member.is_none_or(|m| !m.consented);
    let presser_is_member = match (member, &incoming.sender) {
        (Some(m), Some(s)) => m.telegram_user == s.user_id,
        (None, _) => true,
        (Some(_), None) => false,
    };
    let chosen = |label: &str| -> Option<Envelope> {
        message_id.map(|id| {
            Envelope::reply(
                chat,
                Outgoing::EditButtons {
                    message_id: id,
                    buttons: super::used_keyboard(label, t),
                },
            )
        })
    };
    let answer = |text: Option<&str>| {
        Envelope::reply(
            chat,
            Outgoing::AnswerCallback {
                query_id: query_id.to_string(),
                text: text.map(str::to_string),
            },
        )
    };

    // A "yes" to wording older than what we now show is not consent to the new wording:
    // show the question again.
    let consent_version = data
        .and_then(|d| d.strip_prefix(data::CONSENT_YES))
        .map(|v| v.strip_prefix(':').and_then(|v| v.parse::<i64>().ok()));
    let data = match consent_version {
        Some(Some(v)) if v == content.texts_version => Some(data::CONSENT_YES),
        Some(_) if needs_consent && presser_is_member => {
            o.out.push(answer(Some(&t.stale_button)));
            welcome(o, chat, content);
            return;
        }
        Some(_) => None,
        None => data,
    };
    let acted = presser_is_member
        && match (data, step) {
            (Some(data::CONSENT_YES), None) => match &incoming.sender {
                Some(sender) => {
                    o.out.push(answer(None));
                    o.out.extend(chosen(&t.consent_yes_button));
                    o.changes.push(Change::CreateMember {
                        user: sender.user_id,
                        consent_wording: t.consent_question.clone(),
                        consent_version: content.texts_version,
                    });
                    ask_name(o, chat, &sender.first_name, content);
                    true
                }
                None => false,
            },
            (Some(data::CONSENT_YES), Some(_)) if needs_consent => {
                o.out.push(answer(None));
                o.out.extend(chosen(&t.consent_yes_button));
                o.changes.push(Change::Reconsent {
                    consent_wording: t.consent_question.clone(),
                    consent_version: content.texts_version,
                });
                let name = member.map(|m| m.name_or(&t.default_name)).unwrap_or("");
                o.reply(chat, Outgoing::text(fill(&t.resumed, &[("name", name)])));
                true
            }
            (Some(data::CONSENT_NO), _) if needs_consent => {
                o.out.push(answer(None));
                o.out.extend(chosen(&t.consent_no_button));
                o.reply(chat, Outgoing::text(&t.consent_declined));
                true
            }
            (Some(data::NAME_FROM_TELEGRAM), Some(Onboarding::Name)) => {
                match incoming
                    .sender
                    .as_ref()
                    .and_then(|s| validate_name(&s.first_name))
                {
                    Some(name) => {
                        o.out.push(answer(None));
                        o.out.extend(chosen(&name));
                        o.changes.push(Change::SetName(name.clone()));
                        o.changes.push(Change::SetOnboarding(Onboarding::Timezone));
                        ask_timezone(o, chat, &name, content);
                        true
                    }
                    None => false,
                }
            }
            (Some(data::TZ_LONDON), Some(Onboarding::Timezone | Onboarding::TimezoneOther)) => {
                let name = member
                    .map(|m| m.name_or(&t.default_name))
                    .unwrap_or(&t.default_name);
                o.out.push(answer(None));
                o.out.extend(chosen(&t.timezone_london_button));
                finish(o, chat, name, chrono_tz::Europe::London.name(), content);
                true
            }
            (Some(d), Some(Onboarding::Timezone | Onboarding::TimezoneOther))
                if d.starts_with(data::TZ_IS) =>
            {
                match d[data::TZ_IS.len()..].parse::<chrono_tz::Tz>() {
                    Ok(tz) => {
                        let name = member
                            .map(|m| m.name_or(&t.default_name))
                            .unwrap_or(&t.default_name);
                        o.out.push(answer(None));
                        o.out.extend(chosen(tz.name()));
                        finish(o, chat, name, tz.name(), content);
                        true
                    }
                    Err(_) => false,
                }
            }
            (Some(data::TZ_OTHER), Some(Onboarding::Timezone)) => {
                o.out.push(answer(None));
                o.out.extend(chosen(&t.timezone_other_button));
                o.changes
                    .push(Change::SetOnboarding(Onboarding::TimezoneOther));
                o.reply(chat, Outgoing::text(&t.ask_timezone_other));
                true
            }
            (Some(data::DONE), _) => {
                o.out.push(answer(None));
                true
            }
            _ => false,
        };
    if !acted {
        // Stale, foreign, forged or unknown: say so kindly and change nothing.
        o.out.push(answer(Some(&t.stale_button)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timezone_is_found_in_any_case_or_by_its_city() {
        for (typed, zone) in [
            ("Europe/Lisbon", "Europe/Lisbon"),
            ("europe/lisbon", "Europe/Lisbon"),
            ("Lisbon", "Europe/Lisbon"),
            ("LAGOS", "Africa/Lagos"),
            ("new york", "America/New_York"),
            ("Buenos Aires", "America/Argentina/Buenos_Aires"),
            ("uk", "Europe/London"),
        ] {
            assert_eq!(
                parse_timezone(typed).map(|tz| tz.name()),
                Some(zone),
                "{typed}"
            );
        }
        assert_eq!(parse_timezone("Atlantis"), None);
        assert_eq!(parse_timezone(""), None);
    }

    #[test]
    fn a_mistyped_city_is_offered_as_did_you_mean() {
        assert_eq!(
            suggest_timezone("Lisbn").map(|tz| tz.name()),
            Some("Europe/Lisbon")
        );
        assert_eq!(
            suggest_timezone("Warsw").map(|tz| tz.name()),
            Some("Europe/Warsaw")
        );
        assert_eq!(suggest_timezone("xyzzyq"), None);
        assert_eq!(suggest_timezone("ab"), None);
    }
}
