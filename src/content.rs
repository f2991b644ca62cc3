//! The bot's words, loaded from `dialogs/` (`core.toml`, `crisis.toml`) and validated.
//!
//! Texts are data so that clinicians, peer workers and service users can read and change them
//! without touching Rust. Problems are reported as `file:line:col`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::crisis::CrisisCard;
use crate::diagnostic::Diagnostic;

pub const CORE_FILE: &str = "core.toml";
pub const CRISIS_FILE: &str = "crisis.toml";
const SUPPORTED_FORMAT: i64 = 1;
/// Telegram allows 4096 characters; leave room for placeholders.
const MAX_TEXT_CHARS: usize = 3500;
const PLACEHOLDERS: &[&str] = &[
    "first_name",
    "name",
    "timezone",
    "min",
    "max",
    "min_label",
    "max_label",
    "until",
    "label",
    "when",
    "time",
    "quiet",
    "list",
    "title",
    "days",
    "hour",
    "person",
    "role",
    "receives",
    "link",
    "position",
    "what",
    "date",
    "reason",
    "notes",
    "people",
    "then",
    // /week
    "weeks",
    "range",
    "hours",
    "from",
    "count",
    "total",
    "give",
];

/// Every text the core conversation uses. Field names are the keys in `core.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub welcome: String,
    pub consent_question: String,
    pub consent_yes_button: String,
    pub consent_no_button: String,
    pub consent_declined: String,
    pub ask_name: String,
    pub use_telegram_name_button: String,
    pub name_invalid: String,
    pub ask_timezone: String,
    pub timezone_london_button: String,
    pub timezone_other_button: String,
    pub ask_timezone_other: String,
    pub timezone_invalid: String,
    pub onboarding_done: String,
    pub welcome_back: String,
    pub resumed: String,
    pub help: String,
    pub stopped: String,
    pub stopped_not_member: String,
    pub not_member_yet: String,
    pub unknown_command: String,
    pub unsupported_media: String,
    pub free_text: String,
    pub stale_button: String,
    pub not_private: String,
    pub continue_onboarding: String,
    /// Sent when an update could not be processed after several attempts.
    pub something_went_wrong: String,
    /// Put before an urgent message re-sent after an ambiguous failure.
    pub repeat_notice: String,
    pub checkin_resumed: String,
    /// `{name}` before the person has chosen one.
    pub default_name: String,
    /// How an answered question's button shows the answer (`{label}`).
    pub chosen: String,
    pub button_yes: String,
    pub button_no: String,
    pub button_skip: String,
    pub button_done: String,
    pub button_later: String,
    pub scale_legend: String,
    pub hint_scale: String,
    pub hint_choice: String,
    pub hint_multi: String,
    pub hint_multi_count: String,
    pub hint_number: String,
    pub hint_time: String,
    pub hint_text: String,
    pub tries_exhausted: String,
    pub tries_exhausted_not_skippable: String,
    pub session_paused: String,
    pub paused_reminder: String,
    pub question_passed: String,
    /// One gentle reminder per slot (`{name}`, `{until}`).
    pub reminder: String,
    /// After an outage longer than Telegram keeps updates.
    pub away_notice: String,
    pub coping_plan_default: String,
    // Schedules, quiet hours, pauses.
    pub ask_checkin_time: String,
    pub time_other_button: String,
    pub not_now_button: String,
    pub ask_checkin_time_typed: String,
    pub first_checkin_at: String,
    pub first_checkin_later: String,
    pub time_invalid: String,
    pub time_in_quiet_hours: String,
    pub schedule_overview: String,
    pub schedule_line_on: String,
    pub schedule_line_off: String,
    pub ask_days: String,
    pub days_every_day: String,
    pub days_weekdays: String,
    pub days_choose: String,
    pub ask_pick_days: String,
    pub ask_hour: String,
    pub ask_minute: String,
    pub schedule_off_button: String,
    pub schedule_set: String,
    pub schedule_cleared: String,
    pub quiet_set: String,
    pub quiet_invalid: String,
    pub ask_pause: String,
    pub pause_1d: String,
    pub pause_1w: String,
    pub pause_2w: String,
    pub pause_open: String,
    pub paused_until: String,
    pub paused_open: String,
    pub pause_invalid: String,
    pub pause_in_past: String,
    pub resumed_prompts: String,
    pub not_paused: String,
    pub quiet_covers_schedule: String,
    pub no_hours_outside_quiet: String,
    pub timezone_set: String,
    // The circle, consents, export and erasure.
    pub role_carer: String,
    pub role_supporter: String,
    pub role_both: String,
    pub receives_carer: String,
    pub receives_supporter: String,
    pub circle_empty: String,
    pub circle_list: String,
    pub circle_line: String,
    pub circle_awaiting: String,
    pub circle_away: String,
    pub invite_button: String,
    pub move_up_button: String,
    pub remove_button: String,
    pub ask_invite_role: String,
    pub role_carer_button: String,
    pub role_supporter_button: String,
    pub role_both_button: String,
    pub invite_link: String,
    pub invite_unavailable: String,
    pub invite_invalid: String,
    pub invite_rate_limited: String,
    pub invite_own: String,
    pub invite_already: String,
    pub invite_offer: String,
    pub accept_button: String,
    pub decline_button: String,
    pub invite_accepted: String,
    pub invite_declined: String,
    pub member_told_declined: String,
    pub confirm_ask: String,
    pub confirm_yes_button: String,
    pub confirm_no_button: String,
    pub confirm_done: String,
    pub confirm_told: String,
    pub reject_done: String,
    pub reject_told: String,
    pub moved_up: String,
    pub removed: String,
    pub link_ended: String,
    pub members_none: String,
    pub members_list: String,
    pub members_line: String,
    pub members_awaiting: String,
    pub leave_which: String,
    pub leave_button: String,
    pub left: String,
    pub left_told: String,
    pub ask_away: String,
    pub away_back_button: String,
    pub away_set: String,
    pub away_back: String,
    pub away_invalid: String,
    pub away_not_in_circle: String,
    pub what_nudges: String,
    pub what_alerts: String,
    pub what_store: String,
    pub consents_list: String,
    pub consents_none: String,
    pub consent_line_store: String,
    pub consent_line_person: String,
    pub revoke_store_button: String,
    pub revoke_button: String,
    pub revoked_person: String,
    pub revoked_store: String,
    pub mydata_summary: String,
    pub mydata_caption: String,
    pub mydata_nothing: String,
    pub delete_explain: String,
    pub erase_yes_button: String,
    pub erase_no_button: String,
    pub delete_sure: String,
    pub erase_now_button: String,
    pub delete_cancelled: String,
    pub delete_done: String,
    pub delete_nothing: String,
    // Early-warning plans and what they send.
    pub plan_none: String,
    pub plan_overview: String,
    pub plan_line_on: String,
    pub plan_line_off: String,
    pub plan_coping_button: String,
    pub plan_ask_value: String,
    pub plan_choose_button: String,
    pub plan_off_button: String,
    pub plan_ask_who: String,
    pub plan_nobody_yet: String,
    pub who_me_button: String,
    pub who_carers_button: String,
    pub who_supporters_button: String,
    pub who_urgent_button: String,
    pub plan_ask_first: String,
    pub ask_first_tell_button: String,
    pub ask_first_dont_button: String,
    pub no_ask_button: String,
    pub plan_do_self_help: String,
    pub plan_do_nudge: String,
    pub plan_do_alert: String,
    pub plan_do_urgent: String,
    pub plan_ask_first_tell: String,
    pub plan_ask_first_dont: String,
    pub plan_receipt: String,
    pub plan_share_wording: String,
    pub plan_turned_off: String,
    pub coping_show: String,
    pub coping_none: String,
    pub coping_set: String,
    pub coping_too_long: String,
    pub self_help: String,
    pub nudge: String,
    pub alert: String,
    pub alert_urgent: String,
    pub alert_escalated_note: String,
    pub ack_reach_out_button: String,
    pub ack_in_touch_button: String,
    pub ack_thanks: String,
    pub member_told_reach_out: String,
    pub member_told_in_touch: String,
    pub nobody_available: String,
    pub ask_first_question: String,
    pub ask_yes_button: String,
    pub ask_no_button: String,
    pub ask_later_button: String,
    pub ask_told: String,
    pub ask_not_told: String,
    pub ask_later: String,
    pub ask_then_tell: String,
    pub ask_then_dont: String,
    // /week: the chart's words, its caption, and the summary in words.
    pub week_chart_title: String,
    pub week_label_mood: String,
    pub week_label_anxiety: String,
    pub week_label_sleep: String,
    pub week_label_missed: String,
    pub week_label_unknown: String,
    pub week_label_paused: String,
    pub week_label_connect: String,
    pub week_label_give: String,
    pub week_caption: String,
    pub week_too_few: String,
    pub week_bad_args: String,
    pub week_summary: String,
    pub week_mood: String,
    pub week_anxiety: String,
    pub week_sleep: String,
    pub week_up_from: String,
    pub week_down_from: String,
    pub week_same_as_before: String,
    pub week_no_checkins_this_week: String,
    pub week_all_skipped: String,
    pub week_missed_one: String,
    pub week_missed_many: String,
    pub week_connect_give: String,
    pub week_weeks_one: String,
    pub week_weeks_many: String,
    /// The weekly `/week` report as `/schedule` names it.
    pub week_schedule_title: String,
    // Sharing a /week chart.
    pub week_share_offer: String,
    pub week_share_button: String,
    pub week_share_confirm: String,
    pub week_share_yes_button: String,
    pub week_share_no_button: String,
    pub week_shared: String,
    pub week_share_not_now: String,
    pub week_share_caption: String,
    // How the plan tells people.
    pub plan_settings_button: String,
    pub plan_settings_show: String,
    pub plan_settings_receipt: String,
    pub plan_setting_escalate: String,
    pub plan_setting_ack_on: String,
    pub plan_setting_ack_off: String,
    pub plan_setting_reason_on: String,
    pub plan_setting_reason_off: String,
    pub plan_setting_nudge_on: String,
    pub plan_setting_nudge_off: String,
    pub plan_escalate_button: String,
    pub plan_ask_hours_button: String,
    pub plan_setting_ask: String,
    pub plan_toggle_ack_button: String,
    pub plan_toggle_reason_button: String,
    pub plan_toggle_nudge_button: String,
    pub alert_no_reason: String,
    pub nudge_with_reason: String,
}

/// All loaded content.
#[derive(Debug, Clone)]
pub struct Content {
    pub texts: Texts,
    /// `core.toml`'s `version`: recorded with each consent so we know the wording shown.
    pub texts_version: i64,
    pub crisis: CrisisCard,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCore {
    format: Spanned<i64>,
    version: i64,
    text: Spanned<BTreeMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrisis {
    format: Spanned<i64>,
    last_verified: Spanned<toml::value::Datetime>,
    intro: String,
    outro: String,
    contact: Vec<RawContact>,
    phrases: Spanned<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    name: String,
    how: String,
}

/// The result of loading: content if there were no errors, and every diagnostic
/// (errors and warnings) found.
pub struct Loaded {
    pub content: Option<Content>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Content {
    /// Loads and validates the content under `dir`; `today` decides whether the crisis
    /// contacts are overdue for re-verification (a warning).
    pub fn load(dir: &Path, today: NaiveDate) -> Loaded {
        let mut diags = Vec::new();
        let texts = load_core(&dir.join(CORE_FILE), &mut diags);
        let crisis = load_crisis(&dir.join(CRISIS_FILE), today, &mut diags);
        let content = match (texts, crisis) {
            (Some((texts, texts_version)), Some(crisis)) if !diags.iter().any(|d| d.is_error()) => {
                Some(Content {
                    texts,
                    texts_version,
                    crisis,
                })
            }
            _ => None,
        };
        Loaded {
            content,
            diagnostics: diags,
        }
    }

    /// Loads, turning any error into one `anyhow` error listing them all.
    pub fn load_or_fail(dir: &Path, today: NaiveDate) -> anyhow::Result<Content> {
        let loaded = Content::load(dir, today);
        for w in loaded.diagnostics.iter().filter(|d| !d.is_error()) {
            tracing::warn!("{w}");
        }
        loaded.content.ok_or_else(|| {
            let all: Vec<String> = loaded
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.to_string())
                .collect();
            anyhow::anyhow!(
                "content under {} has errors:\n{}",
                dir.display(),
                all.join("\n")
            )
        })
    }
}

fn read(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) => {
            diags.push(Diagnostic::file(path, format!("cannot read: {e}")));
            None
        }
    }
}

fn check_format(path: &Path, src: &str, format: &Spanned<i64>, diags: &mut Vec<Diagnostic>) {
    if *format.get_ref() != SUPPORTED_FORMAT {
        diags.push(Diagnostic::at(
            path,
            src,
            Some(format.span()),
            format!(
                "unsupported format {}; this version of staywell reads format {SUPPORTED_FORMAT}",
                format.get_ref()
            ),
        ));
    }
}

fn load_core(path: &Path, diags: &mut Vec<Diagnostic>) -> Option<(Texts, i64)> {
    let src = read(path, diags)?;
    let raw: RawCore = match toml::from_str(&src) {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diagnostic::from_toml(path, &src, &e));
            return None;
        }
    };
    check_format(path, &src, &raw.format, diags);
    let table_span = raw.text.span();
    let texts: BTreeMap<Spanned<String>, Spanned<String>> = raw.text.into_inner();
    let expected = expected_text_keys();
    for (key, value) in &texts {
        check_text(path, &src, key.get_ref(), value, diags);
        if !expected.contains(&key.get_ref().as_str()) {
            diags.push(Diagnostic::at(
                path,
                &src,
                Some(key.span()),
                format!(
                    "unknown text key `{}`; expected one of: {}",
                    key.get_ref(),
                    expected.join(", ")
                ),
            ));
        }
    }
    // Convert to the typed struct: this names missing and unknown keys.
    let plain: BTreeMap<&str, &str> = texts
        .iter()
        .map(|(k, v)| (k.get_ref().as_str(), v.get_ref().as_str()))
        .collect();
    for key in &expected {
        if !plain.contains_key(key) {
            diags.push(Diagnostic::at(
                path,
                &src,
                Some(table_span.clone()),
                format!("missing text key `{key}` in [text]"),
            ));
        }
    }
    let value = toml::Value::Table(
        plain
            .iter()
            .filter(|(k, _)| expected.contains(k))
            .map(|(k, v)| (k.to_string(), toml::Value::String(v.trim().to_string())))
            .collect(),
    );
    match Texts::deserialize(value) {
        Ok(t) => Some((t, raw.version)),
        Err(_) => None, // already reported key by key above
    }
}

/// The keys `[text]` must have, derived from [`Texts`] itself so they cannot drift.
fn expected_text_keys() -> Vec<&'static str> {
    struct Collect(Vec<&'static str>);
    impl<'de> serde::Deserializer<'de> for &mut Collect {
        type Error = serde::de::value::Error;
        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("only structs"))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.extend_from_slice(fields);
            Err(serde::de::Error::custom("collected"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut c = Collect(Vec::new());
    let _ = Texts::deserialize(&mut c);
    c.0
}

fn check_text(
    path: &Path,
    src: &str,
    key: &str,
    value: &Spanned<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let text = value.get_ref().trim();
    if text.is_empty() {
        diags.push(Diagnostic::at(
            path,
            src,
            Some(value.span()),
            format!("`{key}` is empty"),
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        diags.push(Diagnostic::at(
            path,
            src,
            Some(value.span()),
            format!(
                "`{key}` is longer than {MAX_TEXT_CHARS} characters (Telegram's limit is 4096)"
            ),
        ));
    }
    for name in placeholders(text) {
        if !PLACEHOLDERS.contains(&name) {
            diags.push(Diagnostic::at(
                path,
                src,
                Some(value.span()),
                format!(
                    "`{key}` uses unknown placeholder {{{name}}}; known: {}",
                    PLACEHOLDERS.join(", ")
                ),
            ));
        }
    }
}

/// Names inside `{…}` in a text.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Fills `{name}`-style placeholders. Values are inserted as they are (never re-expanded).
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let key = &after[..close];
                match vars.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn load_crisis(path: &Path, today: NaiveDate, diags: &mut Vec<Diagnostic>) -> Option<CrisisCard> {
    let src = read(path, diags)?;
    let raw: RawCrisis = match toml::from_str(&src) {
        Ok(r) => r,
        Err(e) => {
            diags.push(Diagnostic::from_toml(path, &src, &e));
            return None;
        }
    };
    check_format(path, &src, &raw.format, diags);
    let verified = raw
        .last_verified
        .get_ref()
        .date
        .and_then(|d| NaiveDate::from_ymd_opt(d.year as i32, d.month as u32, d.day as u32));
    let last_verified = match verified {
        Some(d) => d,
        None => {
            diags.push(Diagnostic::at(
                path,
                &src,
                Some(raw.last_verified.span()),
                "last_verified must be a date like 2026-11-01",
            ));
            return None;
        }
    };
    if (today - last_verified).num_days() > 365 {
        diags.push(
            Diagnostic::at(
                path,
                &src,
                Some(raw.last_verified.span()),
                format!("crisis contacts were last verified on {last_verified}, over a year ago: please re-check every number"),
            )
            .warning(),
        );
    }
    if raw.contact.is_empty() {
        diags.push(Diagnostic::file(
            path,
            "at least one [[contact]] is required",
        ));
    }
    let phrases_span = raw.phrases.span();
    let mut phrases = Vec::new();
    for p in raw.phrases.into_inner() {
        if crate::crisis::normalise(p.get_ref()).trim().is_empty() {
            diags.push(Diagnostic::at(
                path,
                &src,
                Some(p.span()),
                "empty crisis phrase",
            ));
        } else {
            phrases.push(p.into_inner());
        }
    }
    if phrases.is_empty() {
        diags.push(Diagnostic::at(
            path,
            &src,
            Some(phrases_span),
            "at least one crisis phrase is required",
        ));
    }
    Some(CrisisCard::new(
        raw.intro.trim().to_string(),
        raw.contact.into_iter().map(|c| (c.name, c.how)).collect(),
        raw.outro.trim().to_string(),
        last_verified,
        &phrases,
    ))
}

/// The directory shipped with the source tree (used by tests and benches).
pub fn shipped_dialogs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dialogs")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    #[test]
    fn the_shipped_content_loads_without_problems() {
        let loaded = Content::load(&shipped_dialogs_dir(), today());
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        assert!(loaded.content.is_some());
    }

    #[test]
    fn missing_unknown_and_bad_keys_are_reported_with_positions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            shipped_dialogs_dir().join(CRISIS_FILE),
            dir.path().join(CRISIS_FILE),
        )
        .unwrap();
        let core = std::fs::read_to_string(shipped_dialogs_dir().join(CORE_FILE))
            .unwrap()
            .replace("help = \"\"\"", "hepl = \"\"\"")
            .replace("All set, {name}.", "All set, {nmae}.");
        std::fs::write(dir.path().join(CORE_FILE), &core).unwrap();
        let loaded = Content::load(dir.path(), today());
        assert!(loaded.content.is_none());
        let shown: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        let all = shown.join("\n");
        let hepl_line = core.lines().position(|l| l.starts_with("hepl")).unwrap() + 1;
        assert!(all.contains(&format!("core.toml:{hepl_line}:")), "{all}");
        assert!(all.contains("unknown text key `hepl`"), "{all}");
        assert!(all.contains("missing text key `help`"), "{all}");
        assert!(all.contains("unknown placeholder {nmae}"), "{all}");
    }

    #[test]
    fn toml_syntax_errors_point_at_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CORE_FILE), "format = 1\nversion = = 2\n").unwrap();
        std::fs::write(dir.path().join(CRISIS_FILE), "format = 1\n").unwrap();
        let loaded = Content::load(dir.path(), today());
        let all: Vec<String> = loaded.diagnostics.iter().map(|d| d.to_string()).collect();
        assert!(all[0].contains("core.toml:2:11"), "{all:?}");
        assert!(all[1].contains("crisis.toml"), "{all:?}");
    }

    #[test]
    fn old_crisis_contacts_warn_but_still_load() {
        let later = NaiveDate::from_ymd_opt(2028, 1, 1).unwrap();
        let loaded = Content::load(&shipped_dialogs_dir(), later);
        assert!(loaded.content.is_some());
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| !d.is_error() && d.message.contains("re-check"))
        );
    }

    #[test]
    fn fill_replaces_known_placeholders_only_once() {
        assert_eq!(
            fill("Hi {name}, {x}", &[("name", "{name}")]),
            "Hi {name}, {x}"
        );
    }
}
