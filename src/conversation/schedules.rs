//! Choosing when check-ins arrive: the first time in onboarding, `/schedule` (days, then
//! hour, then minutes, or typed), quiet hours, `/pause` and `/resume`.
//!
//! Button data carry the choices made so far (`sy:d:31` = daily check-in, weekdays); they
//! only ever change the presser's own schedule, so they carry no authority.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use super::{Change, Ctx, Member, Onboarding, Outcome, Person};
use crate::content::fill;
use crate::dialog::WEEKLY_DIALOG;
use crate::domain::{Button, ChatId, Outgoing};
use crate::schedule::{Days, LocalTime, QuietHours, Recurrence, resolve};

/// The dialogs a member can schedule, with their short codes in button data.
const SCHEDULABLE: &[(&str, &str)] = &[
    ("d", crate::dialog::CHECKIN_DIALOG),
    ("w", WEEKLY_DIALOG),
    ("r", crate::week::REPORT_SCHEDULE),
];
/// The weekly check-in offered at the end of onboarding comes at the daily one's time, or at
/// this time if they chose none yet.
const WEEKLY_OFFER_TIME: LocalTime = LocalTime {
    hour: 19,
    minute: 0,
};
/// Hours offered as buttons (others can be typed).
const HOURS: [u32; 15] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
/// A pause "until I resume" lasts until this instant.
const OPEN_ENDED: &str = "9999-12-31T00:00:00Z";

/// Codes of what comes once a week: one day is chosen for them, never several.
const WEEKLY: &[&str] = &["w", "r"];

/// Whether `bits` (a day selection) is a choice `code` accepts: any days for the daily
/// check-in, exactly one day for what comes weekly.
fn days_fit(code: &str, bits: u8) -> bool {
    !WEEKLY.contains(&code) || bits.count_ones() == 1
}

fn dialog_of(code: &str) -> Option<&'static str> {
    SCHEDULABLE
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, id)| *id)
}

pub(super) fn tz_of(m: &Member) -> Tz {
    m.timezone
}

fn title(ctx: &Ctx, dialog: &str) -> String {
    if dialog == crate::week::REPORT_SCHEDULE {
        return ctx.content.texts.week_schedule_title.clone();
    }
    ctx.titles
        .iter()
        .find(|(id, _)| id == dialog)
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| dialog.to_string())
}

/// Minutes from `a` to `b`, going forward round midnight.
fn length_minutes(a: LocalTime, b: LocalTime) -> u32 {
    let (a, b) = (a.hour * 60 + a.minute, b.hour * 60 + b.minute);
    (b + 24 * 60 - a) % (24 * 60)
}

fn quiet_text(q: &QuietHours) -> String {
    format!("{}–{}", q.start, q.end)
}

fn days_text(ctx: &Ctx, days: Days) -> String {
    let t = &ctx.content.texts;
    match days {
        Days::EVERY_DAY => t.days_every_day.to_lowercase(),
        Days::WEEKDAYS => t.days_weekdays.to_lowercase(),
        d => d.to_field().replace(',', ", "),
    }
}

/// The change that sets a schedule, with its next occurrence.
fn set(m: &Member, dialog: &str, days: Days, time: LocalTime, now: DateTime<Utc>) -> Change {
    let next = Recurrence {
        days,
        time,
        tz: tz_of(m),
    }
    .next_after(now)
    .map(|(_, t)| t);
    Change::SetSchedule {
        member: m.id,
        dialog_id: dialog.to_string(),
        days: days.to_field(),
        time: time.to_string(),
        next_due: next,
    }
}

/// A time that would only ever arrive in quiet hours is refused with a kind explanation.
fn in_quiet_hours(m: &Member, time: LocalTime) -> bool {
    let tz = tz_of(m);
    let some_day = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap_or_default();
    m.quiet.contains(resolve(tz, some_day, time), tz)
}

// ---- onboarding: the first check-in time ----------------------------------------------

/// The first-check-in-time question (asked at the end of onboarding).
pub fn ask_first_time(o: &mut Outcome, chat: ChatId, content: &crate::content::Content) {
    let t = &content.texts;
    o.reply(
        chat,
        Outgoing::with_buttons(
            &t.ask_checkin_time,
            vec![
                vec![
                    Button::new("09:00", "ct:09:00"),
                    Button::new("13:00", "ct:13:00"),
                    Button::new("19:00", "ct:19:00"),
                ],
                vec![
                    Button::new(&t.time_other_button, "ct:other"),
                    Button::new(&t.not_now_button, "ct:none"),
                ],
            ],
        ),
    );
}

/// Finishes onboarding with (or without) a daily check-in time.
fn finish_onboarding(
    o: &mut Outcome,
    chat: ChatId,
    m: &Member,
    time: Option<LocalTime>,
    ctx: &Ctx,
) {
    let t = &ctx.content.texts;
    let when = match time {
        Some(time) => {
            o.changes.push(set(
                m,
                crate::dialog::CHECKIN_DIALOG,
                Days::EVERY_DAY,
                time,
                ctx.now,
            ));
            fill(&t.first_checkin_at, &[("time", &time.to_string())])
        }
        None => t.first_checkin_later.clone(),
    };
    o.changes.push(Change::SetOnboarding(Onboarding::Done));
    let name = m.name_or(&t.default_name);
    o.reply(
        chat,
        Outgoing::text(fill(
            &t.onboarding_done,
            &[
                ("name", name),
                ("timezone", m.timezone.name()),
                ("when", &when),
            ],
        )),
    );
    offer_weekly(o, chat, time.unwrap_or(WEEKLY_OFFER_TIME), ctx);
}

/// After the daily check-in time, one short optional question: the weekly connect/give
/// check-in, on which day (at the daily one's time), or not now.
fn offer_weekly(o: &mut Outcome, chat: ChatId, time: LocalTime, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let day = |i: usize| Button::new(DAY_NAMES[i], format!("ow:{i}"));
    let rows = vec![
        (0..4).map(day).collect(),
        (4..7).map(day).collect(),
        vec![Button::new(&t.not_now_button, "ow:none")],
    ];
    o.reply(
        chat,
        Outgoing::with_buttons(fill(&t.weekly_offer, &[("time", &time.to_string())]), rows),
    );
}

/// A typed answer to the first-time question.
pub fn first_time_text(o: &mut Outcome, chat: ChatId, m: &Member, text: &str, ctx: &Ctx) {
    let t = &ctx.content.texts;
    match LocalTime::parse(text) {
        None => o.reply(chat, Outgoing::text(&t.time_invalid)),
        Some(time) if in_quiet_hours(m, time) => o.reply(
            chat,
            Outgoing::text(fill(
                &t.time_in_quiet_hours,
                &[
                    ("time", &time.to_string()),
                    ("quiet", &quiet_text(&m.quiet)),
                ],
            )),
        ),
        Some(time) => finish_onboarding(o, chat, m, Some(time), ctx),
    }
}

// ---- /schedule -------------------------------------------------------------------------

pub fn command(o: &mut Outcome, person: &Person, m: &Member, args: &str, ctx: &Ctx) {
    let chat = person.chat;
    let t = &ctx.content.texts;
    let args = args.trim();
    if let Some(zone) = args.strip_prefix("timezone") {
        match super::parse_timezone(zone) {
            Some(tz) => {
                o.changes.push(Change::SetTimezone(tz.name().to_string()));
                o.reply(
                    chat,
                    Outgoing::text(fill(&t.timezone_set, &[("timezone", tz.name())])),
                );
            }
            None => match super::suggest_timezone(zone) {
                Some(tz) => o.reply(
                    chat,
                    Outgoing::text(fill(
                        &t.timezone_did_you_mean_command,
                        &[("timezone", tz.name())],
                    )),
                ),
                None => o.reply(chat, Outgoing::text(&t.timezone_invalid)),
            },
        }
        return;
    }
    if let Some(range) = args.strip_prefix("quiet") {
        let parsed = range
            .trim()
            .split_once(['-', '–'])
            .and_then(|(a, b)| Some((LocalTime::parse(a)?, LocalTime::parse(b)?)))
            .filter(|(a, b)| a != b && length_minutes(*a, *b) <= 16 * 60);
        match parsed {
            Some((start, end)) => {
                let quiet = QuietHours { start, end };
                o.changes.push(Change::SetQuietHours(quiet));
                o.reply(
                    chat,
                    Outgoing::text(fill(&t.quiet_set, &[("quiet", &quiet_text(&quiet))])),
                );
                let moved = Member { quiet, ..m.clone() };
                for s in person
                    .schedules
                    .iter()
                    .filter(|s| s.active && in_quiet_hours(&moved, s.time))
                {
                    o.reply(
                        chat,
                        Outgoing::text(fill(
                            &t.quiet_covers_schedule,
                            &[
                                ("title", &title(ctx, &s.dialog_id)),
                                ("time", &s.time.to_string()),
                            ],
                        )),
                    );
                }
            }
            None => o.reply(chat, Outgoing::text(&t.quiet_invalid)),
        }
        return;
    }
    if !args.is_empty() {
        // `/schedule 19:30`: the daily check-in's time, keeping its days.
        let dialog = crate::dialog::CHECKIN_DIALOG;
        match LocalTime::parse(args) {
            None => o.reply(chat, Outgoing::text(&t.time_invalid)),
            Some(time) if in_quiet_hours(m, time) => o.reply(
                chat,
                Outgoing::text(fill(
                    &t.time_in_quiet_hours,
                    &[
                        ("time", &time.to_string()),
                        ("quiet", &quiet_text(&m.quiet)),
                    ],
                )),
            ),
            Some(time) => {
                let days = person
                    .schedules
                    .iter()
                    .find(|s| s.dialog_id == dialog)
                    .map(|s| s.days)
                    .unwrap_or(Days::EVERY_DAY);
                confirm(o, chat, m, dialog, days, time, ctx);
            }
        }
        return;
    }
    let list: Vec<String> = SCHEDULABLE
        .iter()
        .map(|(_, id)| {
            match person
                .schedules
                .iter()
                .find(|s| s.dialog_id == *id && s.active)
            {
                Some(s) => fill(
                    &t.schedule_line_on,
                    &[
                        ("title", &title(ctx, id)),
                        ("days", &days_text(ctx, s.days)),
                        ("time", &s.time.to_string()),
                    ],
                ),
                None => fill(&t.schedule_line_off, &[("title", &title(ctx, id))]),
            }
        })
        .collect();
    let buttons = SCHEDULABLE
        .iter()
        .map(|(code, id)| vec![Button::new(title(ctx, id), format!("sd:{code}"))])
        .collect();
    let tz = tz_of(m);
    let mut text = String::new();
    match m.paused_until.filter(|p| *p > ctx.now) {
        _ if m.stopped => text.push_str(&t.schedule_status_stopped),
        Some(until) if until >= open_ended() => text.push_str(&t.schedule_status_paused_open),
        Some(until) => text.push_str(&fill(
            &t.schedule_status_paused,
            &[("until", &local_until(until, m, ctx))],
        )),
        None => {}
    }
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&fill(
        &t.schedule_overview,
        &[
            ("list", &list.join("\n")),
            ("timezone", tz.name()),
            ("quiet", &quiet_text(&m.quiet)),
        ],
    ));
    o.reply(chat, Outgoing::with_buttons(text, buttons));
}

fn confirm(
    o: &mut Outcome,
    chat: ChatId,
    m: &Member,
    dialog: &str,
    days: Days,
    time: LocalTime,
    ctx: &Ctx,
) {
    o.changes.push(set(m, dialog, days, time, ctx.now));
    o.reply(
        chat,
        Outgoing::text(fill(
            &ctx.content.texts.schedule_set,
            &[
                ("title", &title(ctx, dialog)),
                ("days", &days_text(ctx, days)),
                ("time", &time.to_string()),
            ],
        )),
    );
}

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const DAY_FULL_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The day picker for a selection (bit 0 = Monday … bit 6 = Sunday).
fn day_buttons(code: &str, bits: u8, ctx: &Ctx) -> Vec<Vec<Button>> {
    let t = &ctx.content.texts;
    let button = |i: usize| {
        let label = if bits & (1 << i) != 0 {
            fill(&t.chosen, &[("label", DAY_NAMES[i])])
        } else {
            DAY_NAMES[i].to_string()
        };
        Button::new(label, format!("sx:{code}:{bits}:{i}"))
    };
    let mut rows = vec![
        (0..4).map(button).collect::<Vec<_>>(),
        (4..7).map(button).collect(),
    ];
    if bits != 0 {
        rows.push(vec![Button::new(
            &t.button_done,
            format!("sy:{code}:{bits}"),
        )]);
    }
    rows
}

fn days_from_bits(bits: u8) -> Option<Days> {
    let field: Vec<&str> = (0..7)
        .filter(|d| bits & (1 << d) != 0)
        .map(|d| DAY_NAMES[d])
        .collect();
    Days::parse(&field.join(","))
}

/// A schedule, pause or first-time button. Returns false if the data is not ours or not
/// valid now (the caller answers it as stale).
pub fn press(
    o: &mut Outcome,
    person: &Person,
    m: &Member,
    data: &str,
    edit: &mut Option<Vec<Vec<Button>>>,
    ctx: &Ctx,
) -> bool {
    let chat = person.chat;
    let t = &ctx.content.texts;
    let parts: Vec<&str> = data.split(':').collect();
    let fits = |code: &str, bits: &str| bits.parse::<u8>().is_ok_and(|b| days_fit(code, b));
    match parts.as_slice() {
        // Onboarding: the first check-in time.
        ["ct", rest @ ..] if m.onboarding == Onboarding::CheckinTime => {
            let label = match rest {
                ["none"] => {
                    finish_onboarding(o, chat, m, None, ctx);
                    t.not_now_button.clone()
                }
                ["other"] => {
                    o.reply(chat, Outgoing::text(&t.ask_checkin_time_typed));
                    t.time_other_button.clone()
                }
                [h, mm] => match LocalTime::parse(&format!("{h}:{mm}")) {
                    Some(time) if !in_quiet_hours(m, time) => {
                        finish_onboarding(o, chat, m, Some(time), ctx);
                        time.to_string()
                    }
                    _ => return false,
                },
                _ => return false,
            };
            *edit = Some(super::used_keyboard(&label, t));
        }
        // The weekly check-in offered at the end of onboarding: a day, or not now. Only
        // while it is not scheduled (a later press is stale).
        ["ow", choice]
            if m.onboarding == Onboarding::Done
                && !person
                    .schedules
                    .iter()
                    .any(|s| s.dialog_id == WEEKLY_DIALOG && s.active) =>
        {
            let label = match choice.parse::<usize>() {
                Ok(i) if i < 7 => {
                    let time = person
                        .schedules
                        .iter()
                        .find(|s| s.dialog_id == crate::dialog::CHECKIN_DIALOG && s.active)
                        .map_or(WEEKLY_OFFER_TIME, |s| s.time);
                    let days = days_from_bits(1 << i).unwrap_or(Days::EVERY_DAY);
                    o.changes.push(set(m, WEEKLY_DIALOG, days, time, ctx.now));
                    o.reply(
                        chat,
                        Outgoing::text(fill(
                            &t.weekly_offer_set,
                            &[("days", DAY_FULL_NAMES[i]), ("time", &time.to_string())],
                        )),
                    );
                    DAY_NAMES[i]
                }
                _ if *choice == "none" => {
                    o.reply(chat, Outgoing::text(&t.weekly_offer_later));
                    t.not_now_button.as_str()
                }
                _ => return false,
            };
            *edit = Some(super::used_keyboard(label, t));
        }
        ["sd", code] if m.onboarding == Onboarding::Done => {
            let Some(dialog) = dialog_of(code) else {
                return false;
            };
            let weekly = WEEKLY.contains(code);
            let mut rows = if weekly {
                // Once a week: the day, and nothing that would make it daily.
                let day = |i: usize| Button::new(DAY_NAMES[i], format!("sy:{code}:{}", 1 << i));
                vec![(0..4).map(day).collect(), (4..7).map(day).collect()]
            } else {
                vec![
                    vec![
                        Button::new(&t.days_every_day, format!("sy:{code}:127")),
                        Button::new(&t.days_weekdays, format!("sy:{code}:31")),
                    ],
                    vec![Button::new(&t.days_choose, format!("sx:{code}:0:-"))],
                ]
            };
            if person
                .schedules
                .iter()
                .any(|s| s.dialog_id == dialog && s.active)
            {
                rows.push(vec![Button::new(
                    &t.schedule_off_button,
                    format!("so:{code}"),
                )]);
            }
            let ask = if weekly {
                &t.ask_weekly_day
            } else {
                &t.ask_days
            };
            o.reply(
                chat,
                Outgoing::with_buttons(fill(ask, &[("title", &title(ctx, dialog))]), rows),
            );
        }
        ["sx", code, bits, day] if m.onboarding == Onboarding::Done => {
            let (Some(dialog), Ok(bits)) = (dialog_of(code), bits.parse::<u8>()) else {
                return false;
            };
            if WEEKLY.contains(code) {
                return false; // one day, chosen from the day buttons
            }
            if bits >= 128 {
                return false;
            }
            match *day {
                // "Choose days": a fresh picker.
                "-" => o.reply(
                    chat,
                    Outgoing::with_buttons(
                        fill(&t.ask_pick_days, &[("title", &title(ctx, dialog))]),
                        day_buttons(code, bits, ctx),
                    ),
                ),
                // A day tapped: the picker is edited in place.
                d => match d.parse::<u8>() {
                    Ok(i) if i < 7 => *edit = Some(day_buttons(code, bits ^ (1 << i), ctx)),
                    _ => return false,
                },
            }
        }
        ["sy", code, bits] if m.onboarding == Onboarding::Done && fits(code, bits) => {
            let (Some(dialog), Some(days)) = (
                dialog_of(code),
                bits.parse::<u8>().ok().and_then(days_from_bits),
            ) else {
                return false;
            };
            let rows: Vec<Vec<Button>> = HOURS
                .chunks(5)
                .map(|c| {
                    c.iter()
                        .filter(|h| {
                            !in_quiet_hours(
                                m,
                                LocalTime {
                                    hour: **h,
                                    minute: 0,
                                },
                            )
                        })
                        .map(|h| Button::new(format!("{h:02}"), format!("sh:{code}:{bits}:{h}")))
                        .collect()
                })
                .filter(|r: &Vec<Button>| !r.is_empty())
                .collect();
            if rows.is_empty() {
                o.reply(chat, Outgoing::text(&t.no_hours_outside_quiet));
                return true;
            }
            let text = fill(
                &t.ask_hour,
                &[
                    ("title", &title(ctx, dialog)),
                    ("days", &days_text(ctx, days)),
                ],
            );
            o.reply(chat, Outgoing::with_buttons(text, rows));
        }
        ["sh", code, bits, hour] if m.onboarding == Onboarding::Done && fits(code, bits) => {
            let (Some(dialog), Some(days), Ok(h)) = (
                dialog_of(code),
                bits.parse::<u8>().ok().and_then(days_from_bits),
                hour.parse::<u32>(),
            ) else {
                return false;
            };
            if h > 23 {
                return false;
            }
            let row: Vec<Button> = [0, 15, 30, 45]
                .iter()
                .filter(|mm| {
                    !in_quiet_hours(
                        m,
                        LocalTime {
                            hour: h,
                            minute: **mm,
                        },
                    )
                })
                .map(|mm| {
                    Button::new(
                        format!("{h:02}:{mm:02}"),
                        format!("sm:{code}:{bits}:{h}:{mm}"),
                    )
                })
                .collect();
            if row.is_empty() {
                return false;
            }
            let text = fill(
                &t.ask_minute,
                &[
                    ("title", &title(ctx, dialog)),
                    ("days", &days_text(ctx, days)),
                    ("hour", &format!("{h:02}")),
                ],
            );
            o.reply(chat, Outgoing::with_buttons(text, vec![row]));
        }
        ["sm", code, bits, hour, minute]
            if m.onboarding == Onboarding::Done && fits(code, bits) =>
        {
            let parsed = (
                dialog_of(code),
                bits.parse::<u8>().ok().and_then(days_from_bits),
                hour.parse::<u32>()
                    .ok()
                    .zip(minute.parse::<u32>().ok())
                    .and_then(|(h, mm)| LocalTime::new(h, mm)),
            );
            let (Some(dialog), Some(days), Some(time)) = parsed else {
                return false;
            };
            if in_quiet_hours(m, time) {
                return false;
            }
            confirm(o, chat, m, dialog, days, time, ctx);
        }
        ["so", code] if m.onboarding == Onboarding::Done => {
            let Some(dialog) = dialog_of(code) else {
                return false;
            };
            let Some(current) = person.schedules.iter().find(|s| s.dialog_id == dialog) else {
                return false;
            };
            o.changes.push(Change::SetSchedule {
                member: m.id,
                dialog_id: dialog.to_string(),
                days: current.days.to_field(),
                time: current.time.to_string(),
                next_due: None,
            });
            o.reply(
                chat,
                Outgoing::text(fill(&t.schedule_cleared, &[("title", &title(ctx, dialog))])),
            );
        }
        ["pz", length] if m.onboarding == Onboarding::Done => {
            let (until, label) = match *length {
                "1d" => (ctx.now + Duration::days(1), &t.pause_1d),
                "1w" => (ctx.now + Duration::weeks(1), &t.pause_1w),
                "2w" => (ctx.now + Duration::weeks(2), &t.pause_2w),
                "open" => (open_ended(), &t.pause_open),
                _ => return false,
            };
            pause(o, chat, m, until, ctx);
            *edit = Some(super::used_keyboard(label, t));
        }
        _ => return false,
    }
    true
}

/// A moment as the member reads it: "Fri 20 Mar 00:00" (the year if not this one).
fn local_until(until: DateTime<Utc>, m: &Member, ctx: &Ctx) -> String {
    let tz = tz_of(m);
    let local = until.with_timezone(&tz);
    let today = ctx.now.with_timezone(&tz).date_naive();
    format!(
        "{} {}",
        crate::schedule::day_label(&local, today),
        local.format("%H:%M")
    )
}

fn open_ended() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(OPEN_ENDED)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn pause(o: &mut Outcome, chat: ChatId, m: &Member, until: DateTime<Utc>, ctx: &Ctx) {
    let t = &ctx.content.texts;
    o.changes.push(Change::SetPause { until: Some(until) });
    let text = if until >= open_ended() {
        t.paused_open.clone()
    } else {
        let local = local_until(until, m, ctx);
        fill(&t.paused_until, &[("until", &local)])
    };
    o.reply(chat, Outgoing::text(text));
}

// ---- /pause and /resume ----------------------------------------------------------------

pub fn command_pause(o: &mut Outcome, chat: ChatId, m: &Member, args: &str, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let args = args.trim();
    if args.is_empty() {
        let rows = vec![
            vec![
                Button::new(&t.pause_1d, "pz:1d"),
                Button::new(&t.pause_1w, "pz:1w"),
                Button::new(&t.pause_2w, "pz:2w"),
            ],
            vec![Button::new(&t.pause_open, "pz:open")],
        ];
        o.reply(chat, Outgoing::with_buttons(&t.ask_pause, rows));
        return;
    }
    let today = ctx.now.with_timezone(&tz_of(m)).date_naive();
    match crate::schedule::parse_day(args, today) {
        None => o.reply(chat, Outgoing::text(&t.pause_invalid)),
        Some(date) => {
            // Paused until the start of that day, in the member's timezone.
            let until = resolve(tz_of(m), date, LocalTime { hour: 0, minute: 0 });
            if until <= ctx.now {
                o.reply(chat, Outgoing::text(&t.pause_in_past));
            } else {
                pause(o, chat, m, until, ctx);
            }
        }
    }
}

pub fn command_resume(o: &mut Outcome, chat: ChatId, m: &Member, ctx: &Ctx) {
    let t = &ctx.content.texts;
    let paused = m.paused_until.is_some_and(|p| p > ctx.now);
    if m.stopped {
        // After /stop, /resume is what they mean by /start: everything comes back.
        o.changes.push(Change::Resume);
        if paused {
            o.changes.push(Change::SetPause { until: None });
        }
        o.reply(
            chat,
            Outgoing::text(fill(&t.resumed, &[("name", m.name_or(&t.default_name))])),
        );
    } else if paused {
        o.changes.push(Change::SetPause { until: None });
        o.reply(
            chat,
            Outgoing::text(fill(
                &t.resumed_prompts,
                &[("name", m.name_or(&t.default_name))],
            )),
        );
    } else {
        o.reply(chat, Outgoing::text(&t.not_paused));
    }
}
