use super::fixtures::*;
use super::*;

#[test]
fn weeks_are_four_by_default_and_one_to_twenty_six_when_given() {
    assert_eq!(parse_weeks(""), Some(4));
    assert_eq!(parse_weeks(" 8 "), Some(8));
    assert_eq!(parse_weeks("8 weeks"), Some(8));
    assert_eq!(parse_weeks("1w"), Some(1));
    assert_eq!(parse_weeks("26"), Some(26));
    for bad in ["0", "27", "-3", "abc", "8 days", "4.5", "99999999999"] {
        assert_eq!(parse_weeks(bad), None, "{bad}");
    }
}

#[test]
fn the_plotted_series_equal_the_stored_answers() {
    let mut answers = Vec::new();
    answers.extend(checkin(
        1,
        date(2026, 3, 2),
        Some(5.0),
        Some(4.0),
        Some(6.5),
    ));
    answers.extend(checkin(2, date(2026, 3, 3), Some(6.0), None, None));
    answers.extend(checkin(3, date(2026, 3, 20), None, Some(8.0), Some(9.0)));
    answers.extend(weekly(4, date(2026, 3, 8), "few", "no"));
    answers.extend(weekly(5, date(2026, 3, 15), "none", "yes"));
    // Before the range: not drawn.
    answers.extend(checkin(
        6,
        date(2026, 3, 1),
        Some(9.0),
        Some(9.0),
        Some(9.0),
    ));
    let data = WeekData::build(&history(&answers, &[]), 4, labels(4));
    assert_eq!(data.days.len(), 28);
    assert_eq!(data.days[0].date, date(2026, 3, 2));
    assert_eq!(data.days[27].date, date(2026, 3, 29));
    assert_eq!(data.mood(), vec![(0, 5.0), (1, 6.0)]);
    assert_eq!(data.anxiety(), vec![(0, 4.0), (18, 8.0)]);
    assert_eq!(data.sleep_hours(), vec![(0, 6.5), (18, 9.0)]);
    let connect: Vec<usize> = data
        .series(|d| d.connect.then_some(1.0))
        .iter()
        .map(|p| p.0)
        .collect();
    let give: Vec<usize> = data
        .series(|d| d.give.then_some(1.0))
        .iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(connect, vec![6]);
    assert_eq!(give, vec![13]);
    assert_eq!(data.with_status(DayStatus::CheckedIn), vec![0, 1, 18]);
    assert_eq!(data.checkins(), 3);
}

#[test]
fn missed_unknown_and_paused_days_are_marked_and_have_no_values() {
    let mut answers = checkin(1, date(2026, 3, 23), Some(5.0), Some(4.0), Some(7.0));
    answers.extend(checkin(
        2,
        date(2026, 3, 27),
        Some(6.0),
        Some(3.0),
        Some(8.0),
    ));
    let slots = [
        slot(date(2026, 3, 23), "completed"),
        slot(date(2026, 3, 24), "missed"),
        slot(date(2026, 3, 25), "unknown"),
        slot(date(2026, 3, 26), "paused"),
        // A partial check-in is a check-in, whatever the slot says.
        slot(date(2026, 3, 27), "partial"),
    ];
    let data = WeekData::build(&history(&answers, &slots), 1, labels(1));
    let status: Vec<DayStatus> = data.days.iter().map(|d| d.status).collect();
    use DayStatus::*;
    assert_eq!(
        status,
        vec![CheckedIn, Missed, Unknown, Paused, CheckedIn, Empty, Empty]
    );
    assert_eq!(data.mood(), vec![(0, 5.0), (4, 6.0)]);
}

#[test]
fn the_later_of_two_check_ins_on_one_day_is_drawn() {
    let mut answers = checkin(7, date(2026, 3, 28), Some(2.0), Some(8.0), Some(4.0));
    answers.extend(checkin(
        3,
        date(2026, 3, 28),
        Some(6.0),
        Some(3.0),
        Some(7.0),
    ));
    let data = WeekData::build(&history(&answers, &[]), 1, labels(1));
    assert_eq!(data.mood(), vec![(5, 2.0)]);
    assert_eq!(data.checkins(), 1);
}

#[test]
fn an_unscheduled_check_in_falls_on_its_local_date() {
    use chrono::TimeZone;
    // 02:00 UTC on 28 March is 22:00 on the 27th in New York.
    let mut a = checkin(1, date(2026, 3, 28), Some(5.0), None, None);
    for x in &mut a {
        x.slot_date = None;
        x.started_at = Utc.with_ymd_and_hms(2026, 3, 28, 2, 0, 0).unwrap();
    }
    let h = History::build(&a, &[], chrono_tz::America::New_York, now(), |id, _| {
        catalog().dialogs.get(id).map(|d| d.as_ref())
    });
    let data = WeekData::build(&h, 1, labels(1));
    assert_eq!(data.days[4].date, date(2026, 3, 27));
    assert_eq!(data.mood(), vec![(4, 5.0)]);
}

#[test]
fn the_summary_reads_the_week_in_words() {
    let mut answers = Vec::new();
    // The week before: mood around 5.
    for (s, d) in [(1, 16), (2, 17), (3, 18)] {
        answers.extend(checkin(
            s,
            date(2026, 3, d),
            Some(5.0),
            Some(6.0),
            Some(6.0),
        ));
    }
    // This week (23–29 March): mood 6–7, sleep 7 h on average, one missed day.
    for (s, d, mood, sleep) in [
        (10, 23, 6.0, 6.5),
        (11, 24, 7.0, 7.5),
        (12, 25, 6.0, 7.0),
        (13, 27, 7.0, 7.0),
    ] {
        answers.extend(checkin(
            s,
            date(2026, 3, d),
            Some(mood),
            Some(4.0),
            Some(sleep),
        ));
    }
    answers.extend(weekly(20, date(2026, 3, 8), "few", "yes"));
    answers.extend(weekly(21, date(2026, 3, 15), "none", "no"));
    answers.extend(weekly(22, date(2026, 3, 22), "once", "no"));
    answers.extend(weekly(23, date(2026, 3, 29), "most_days", "yes"));
    let slots = [slot(date(2026, 3, 26), "missed")];
    let text = summary(&history(&answers, &slots), 4, &content().texts);
    assert_eq!(
        text,
        "This week: mood mostly 6–7 (up from 5), anxiety mostly 4 (down from 6), \
         sleep 7 h on average, missed 1 check-in. Over the last 4 weeks, your weekly \
         check-ins said you connected with someone in 3 of 4 weeks and gave time or \
         kindness in 2."
    );
}

#[test]
fn the_summary_is_kind_about_an_empty_or_skipped_week() {
    let old = checkin(1, date(2026, 3, 10), Some(5.0), Some(5.0), None);
    let slots = [
        slot(date(2026, 3, 27), "missed"),
        slot(date(2026, 3, 28), "missed"),
    ];
    let text = summary(&history(&old, &slots), 4, &content().texts);
    assert_eq!(text, "This week: no check-ins yet, missed 2 check-ins.");
    let skipped = checkin(2, date(2026, 3, 28), None, None, None);
    let text = summary(&history(&skipped, &[]), 1, &content().texts);
    assert_eq!(text, "This week: questions skipped, which is fine.");
}

#[test]
fn week_data_debug_shows_no_values() {
    let data = WeekData::build(&full(4), 4, labels(4));
    assert_eq!(format!("{data:?}"), "WeekData(28 days)");
    assert!(format!("{:?}", full(1)).starts_with("History("));
}
