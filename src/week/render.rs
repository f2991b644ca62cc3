//! Draws a [`WeekData`] as a PNG: about 1000×600 so it reads on a phone, large labels, the
//! Okabe–Ito colour-blind-safe palette, and shapes as well as colours (circle, triangle,
//! square, cross) so no series depends on telling colours apart.
//!
//! The font (DejaVu Sans, `font/LICENSE-DejaVu.txt`) is compiled in (`crate::draw`): the
//! chart renders on a machine with no fonts installed.
//!
//! Layout: scores 0–10 on the left axis (mood, anxiety), hours of sleep on the right axis;
//! below zero, one row of day marks (missed ×, bot away ?) and a row each for *connected*
//! and *gave*; paused days are shaded. A line joins two values only when every day between
//! them had nothing due, so a missed, unknown, paused or skipped day breaks it: a gap is
//! never drawn as zero, nor bridged as if nothing happened.

use chrono::{Datelike, Weekday};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{DayStatus, WeekData};
use crate::draw::{
    Area, BLUE, DrawResult, GREEN, GREY, INK, ORANGE, PURPLE, RULE, SHADE, SKY, VERMILLION, style,
};

pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 600;

/// Scores run 0–10; below zero are the rows of marks.
const Y_MIN: f64 = -3.3;
const Y_MAX: f64 = 10.6;
/// Hours of sleep on the right axis: 0 h level with score 0, 14 h level with score 10.
const HOURS_PER_POINT: f64 = 1.4;
const ROW_STATUS: f64 = -1.0;
const ROW_CONNECT: f64 = -1.9;
const ROW_GIVE: f64 = -2.75;

/// The chart as PNG bytes.
pub fn png(data: &WeekData) -> anyhow::Result<Vec<u8>> {
    crate::draw::png(WIDTH, HEIGHT, |root| draw(root, data))
}

/// The chart as raw RGB pixels, `WIDTH × HEIGHT × 3` bytes.
pub fn rgb(data: &WeekData) -> anyhow::Result<Vec<u8>> {
    crate::draw::rgb(WIDTH, HEIGHT, |root| draw(root, data))
}

fn draw(root: &Area, data: &WeekData) -> DrawResult {
    root.fill(&WHITE)?;
    let (chart_area, legend_area) = root.split_vertically(HEIGHT - 80);
    let n = data.days.len().max(1);
    let x_range = -0.5..(n as f64 - 0.5);

    let title = match (data.days.first(), data.days.last()) {
        (Some(a), Some(b)) => {
            let first = if a.date.year() == b.date.year() {
                a.date.format("%-d %b")
            } else {
                a.date.format("%-d %b %Y")
            };
            format!(
                "{} · {first} – {}",
                data.labels.title,
                b.date.format("%-d %b %Y")
            )
        }
        _ => data.labels.title.clone(),
    };
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(title, style(30.0, &INK))
        .margin(12)
        .margin_right(16)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .right_y_label_area_size(72)
        .build_cartesian_2d(x_range, Y_MIN..Y_MAX)?;

    // Paused days: shaded, behind everything.
    chart.draw_series(data.with_status(DayStatus::Paused).into_iter().map(|i| {
        Rectangle::new(
            [(i as f64 - 0.5, Y_MIN), (i as f64 + 0.5, Y_MAX)],
            SHADE.filled(),
        )
    }))?;

    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_labels(0)
        .axis_style(GREY)
        .draw()?;

    // Score rules and labels (0–10) on the left, hours on the right.
    for v in (0..=10).step_by(2) {
        let v = f64::from(v);
        let width = if v == 0.0 { 2 } else { 1 };
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(-0.5, v), (n as f64 - 0.5, v)],
            ShapeStyle::from(&RULE).stroke_width(width),
        )))?;
        let (x, y) = chart.backend_coord(&(-0.5, v));
        root.draw(&Text::new(
            format!("{v:.0}"),
            (x - 10, y),
            style(22.0, &INK).pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    for h in (0..=14).step_by(2) {
        let h = f64::from(h);
        let (x, y) = chart.backend_coord(&(n as f64 - 0.5, h / HOURS_PER_POINT));
        root.draw(&Text::new(
            format!("{h:.0} h"),
            (x + 10, y),
            style(22.0, &GREEN).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }

    // Weeks: a rule before each Monday, and the date under it (fewer labels on long ranges).
    let mondays: Vec<usize> = data
        .days
        .iter()
        .enumerate()
        .filter(|(_, d)| d.date.weekday() == Weekday::Mon)
        .map(|(i, _)| i)
        .collect();
    let every = mondays.len().div_ceil(9).max(1);
    let mut labelled: Vec<usize> = mondays.iter().copied().step_by(every).collect();
    if n <= 10 || labelled.is_empty() {
        labelled = (0..n).step_by(n.div_ceil(7).max(1)).collect();
    }
    for &i in &mondays {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(i as f64 - 0.5, Y_MIN), (i as f64 - 0.5, Y_MAX)],
            ShapeStyle::from(&RULE).stroke_width(1),
        )))?;
    }
    for &i in &labelled {
        if let Some(day) = data.days.get(i) {
            let (x, y) = chart.backend_coord(&(i as f64, Y_MIN));
            root.draw(&Text::new(
                day.date.format("%-d %b").to_string(),
                (x, y + 8),
                style(20.0, &INK).pos(Pos::new(HPos::Center, VPos::Top)),
            ))?;
        }
    }

    // The lines: broken wherever something was due and there is no value.
    let breaks: Vec<bool> = data
        .days
        .iter()
        .map(|d| d.status != DayStatus::Empty)
        .collect();
    let segments = |points: &[(usize, f64)]| -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut last: Option<usize> = None;
        for &(i, v) in points {
            let joined = last.is_some_and(|l| (l + 1..i).all(|k| !breaks[k]));
            if !joined {
                out.push(Vec::new());
            }
            if let Some(seg) = out.last_mut() {
                seg.push((i as f64, v));
            }
            last = Some(i);
        }
        out
    };
    // Long ranges get smaller points and thinner lines, so days stay apart.
    let (r, width) = match n {
        0..=31 => (7, 4),
        32..=70 => (5, 3),
        _ => (3, 2),
    };
    let line = |c: RGBColor| ShapeStyle::from(&c).stroke_width(width);

    let mood = data.mood();
    for seg in segments(&mood) {
        chart.draw_series(LineSeries::new(seg, line(BLUE)))?;
    }
    chart.draw_series(
        mood.iter()
            .map(|&(i, v)| Circle::new((i as f64, v), r, BLUE.filled())),
    )?;

    let anxiety = data.anxiety();
    for seg in segments(&anxiety) {
        chart.draw_series(LineSeries::new(seg, line(ORANGE)))?;
    }
    chart.draw_series(
        anxiety
            .iter()
            .map(|&(i, v)| TriangleMarker::new((i as f64, v), r + 2, ORANGE.filled())),
    )?;

    let sleep = data.sleep_hours();
    // Hours are drawn against the right axis: scaled onto the score axis.
    let sleep: Vec<(usize, f64)> = sleep
        .iter()
        .map(|&(i, h)| (i, h.min(Y_MAX * HOURS_PER_POINT) / HOURS_PER_POINT))
        .collect();
    for seg in segments(&sleep) {
        chart.draw_series(LineSeries::new(seg, line(GREEN)))?;
    }
    chart.draw_series(sleep.iter().map(|&(i, y)| {
        EmptyElement::at((i as f64, y))
            + Rectangle::new([(-r + 1, -r + 1), (r - 1, r - 1)], GREEN.filled())
    }))?;

    // The rows of marks along the bottom.
    chart.draw_series(data.with_status(DayStatus::Missed).into_iter().map(|i| {
        Cross::new(
            (i as f64, ROW_STATUS),
            r + 1,
            VERMILLION.stroke_width(width.max(3)),
        )
    }))?;
    chart.draw_series(data.with_status(DayStatus::Unknown).into_iter().map(|i| {
        Text::new(
            "?",
            (i as f64, ROW_STATUS),
            style(24.0, &GREY).pos(Pos::new(HPos::Center, VPos::Center)),
        )
    }))?;
    chart.draw_series(
        data.days
            .iter()
            .enumerate()
            .filter(|(_, d)| d.connect)
            .map(|(i, _)| Circle::new((i as f64, ROW_CONNECT), r + 2, SKY.filled())),
    )?;
    chart.draw_series(
        data.days
            .iter()
            .enumerate()
            .filter(|(_, d)| d.give)
            .map(|(i, _)| TriangleMarker::new((i as f64, ROW_GIVE), r + 3, PURPLE.filled())),
    )?;

    legend(&legend_area, data)
}

/// Two rows under the chart: the lines, then the marks.
fn legend(area: &Area, data: &WeekData) -> DrawResult {
    let l = &data.labels;
    let text = style(21.0, &INK);
    let rows: [Vec<(u8, &str)>; 2] = [
        vec![(0, &l.mood), (1, &l.anxiety), (2, &l.sleep)],
        vec![
            (3, &l.missed),
            (4, &l.unknown),
            (5, &l.paused),
            (6, &l.connect),
            (7, &l.give),
        ],
    ];
    for (r, items) in rows.iter().enumerate() {
        let y = 18 + 36 * r as i32;
        let mut x = 70;
        for &(kind, label) in items.iter().filter(|(_, label)| !label.is_empty()) {
            let c = (x + 12, y);
            match kind {
                0 => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 24, y)],
                        BLUE.stroke_width(4),
                    ))?;
                    area.draw(&Circle::new(c, 7, BLUE.filled()))?;
                }
                1 => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 24, y)],
                        ORANGE.stroke_width(4),
                    ))?;
                    area.draw(&TriangleMarker::new(c, 9, ORANGE.filled()))?;
                }
                2 => {
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 24, y)],
                        GREEN.stroke_width(4),
                    ))?;
                    area.draw(&Rectangle::new(
                        [(c.0 - 6, c.1 - 6), (c.0 + 6, c.1 + 6)],
                        GREEN.filled(),
                    ))?;
                }
                3 => area.draw(&Cross::new(c, 8, VERMILLION.stroke_width(4)))?,
                4 => area.draw(&Text::new(
                    "?",
                    c,
                    style(24.0, &GREY).pos(Pos::new(HPos::Center, VPos::Center)),
                ))?,
                5 => area.draw(&Rectangle::new(
                    [(x, y - 12), (x + 24, y + 12)],
                    SHADE.filled(),
                ))?,
                6 => area.draw(&Circle::new(c, 9, SKY.filled()))?,
                _ => area.draw(&TriangleMarker::new(c, 10, PURPLE.filled()))?,
            }
            let label_x = x + 34;
            area.draw(&Text::new(
                label.to_string(),
                (label_x, y),
                text.clone().pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            let (w, _) = area.estimate_text_size(label, &text)?;
            x = label_x + w as i32 + 36;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::{DayStatus, History, WeekData};
    use super::*;

    /// Decodes the PNG and returns its size (fails if it is not a valid PNG).
    fn decoded_size(bytes: &[u8]) -> (u32, u32) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("a valid PNG header");
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).expect("valid PNG data");
        (info.width, info.height)
    }

    fn renders(history: &History, weeks: u32) -> WeekData {
        let data = WeekData::build(history, weeks, labels(weeks));
        let bytes = png(&data).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(decoded_size(&bytes), (WIDTH, HEIGHT));
        data
    }

    #[test]
    fn the_chart_renders_with_no_data() {
        let data = renders(&history(&[], &[]), 4);
        assert!(data.mood().is_empty() && data.checkins() == 0);
    }

    #[test]
    fn the_chart_renders_for_one_day() {
        let a = checkin(1, date(2026, 3, 29), Some(6.0), Some(3.0), Some(7.5));
        let data = renders(&history(&a, &[]), 1);
        assert_eq!(data.mood(), vec![(6, 6.0)]);
    }

    #[test]
    fn the_chart_renders_for_a_full_26_weeks() {
        let data = renders(&full(26), 26);
        assert_eq!(data.days.len(), 182);
        assert!(data.checkins() > 120);
        assert!(!data.with_status(DayStatus::Missed).is_empty());
        assert!(!data.with_status(DayStatus::Unknown).is_empty());
        assert!(!data.with_status(DayStatus::Paused).is_empty());
    }

    #[test]
    fn the_chart_renders_when_every_answer_was_skipped() {
        let mut a = checkin(1, date(2026, 3, 27), None, None, None);
        a.extend(checkin(2, date(2026, 3, 28), None, None, None));
        let data = renders(&history(&a, &[]), 4);
        assert_eq!(data.checkins(), 2);
        assert!(
            data.mood().is_empty() && data.anxiety().is_empty() && data.sleep_hours().is_empty()
        );
    }

    #[test]
    fn the_chart_renders_for_days_with_only_missed_slots() {
        let slots: Vec<_> = (20..=29)
            .map(|d| slot(date(2026, 3, d), "missed"))
            .collect();
        let data = renders(&history(&[], &slots), 2);
        assert_eq!(data.with_status(DayStatus::Missed).len(), 10);
        assert_eq!(data.checkins(), 0);
    }

    #[test]
    fn the_chart_is_drawn_with_the_embedded_font_and_is_not_blank() {
        let data = WeekData::build(&full(4), 4, labels(4));
        let pixels = rgb(&data).unwrap();
        let dark = pixels
            .chunks(3)
            .filter(|p| p.iter().all(|&c| c < 80))
            .count();
        assert!(
            dark > 2_000,
            "text and axes should be drawn: {dark} dark pixels"
        );
        if let Ok(dir) = std::env::var("WEEK_PNG_DIR") {
            std::fs::write(format!("{dir}/week4.png"), png(&data).unwrap()).unwrap();
            let data = WeekData::build(&full(26), 26, labels(26));
            std::fs::write(format!("{dir}/week26.png"), png(&data).unwrap()).unwrap();
        }
    }
}
