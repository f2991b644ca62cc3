//! `staywell simulate --png`: the report as a picture, 1200×900. Above, calls to Telegram
//! per minute across the day (London time, 5-minute buckets): the mean over the simulated
//! days and the busiest day, with Telegram's overall limit when the load comes near it.
//! Below, alerts, urgent alerts, nudges and self-help messages per week, as bars with their
//! counts. Drawn from the report's counts only (never message text).

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::TZ;
use super::report::{Report, WeekCounts};
use crate::draw::{Area, BLUE, DrawResult, GREEN, GREY, INK, ORANGE, RULE, VERMILLION, style};

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 900;

/// Telegram's overall allowance, 30 calls a second, per minute.
const LIMIT_PER_MINUTE: f64 = 1800.0;

/// The report's chart as PNG bytes.
pub fn png(report: &Report) -> anyhow::Result<Vec<u8>> {
    crate::draw::png(WIDTH, HEIGHT, |root| draw(root, report))
}

fn draw(root: &Area, r: &Report) -> DrawResult {
    root.fill(&WHITE)?;
    let (title, rest) = root.split_vertically(48);
    title.draw(&Text::new(
        format!(
            "staywell simulate · {} members, {} supporters, {} carers, {} days, seed {}{}",
            r.members,
            r.supporters.saturating_sub(r.carers),
            r.carers,
            r.days,
            r.seed,
            if r.partial { " (PARTIAL)" } else { "" }
        ),
        (WIDTH as i32 / 2, 26),
        style(26.0, &INK).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    let (top, bottom) = rest.split_vertically(440);
    load(&top, r)?;
    weeks(&bottom, r)
}

/// Calls per minute across the day.
fn load(area: &Area, r: &Report) -> DrawResult {
    let l = &r.load;
    let per_hour = 60.0 / f64::from(l.bucket_minutes.max(1));
    let points = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, c)| (i as f64 / per_hour, *c))
            .collect()
    };
    let peak = l.peak_day.as_ref();
    let top = l
        .mean
        .iter()
        .chain(peak.iter().flat_map(|p| p.2.iter()))
        .fold(0.0f64, |a, b| a.max(*b));
    let show_limit = top >= LIMIT_PER_MINUTE / 2.0;
    let y_max = if show_limit {
        LIMIT_PER_MINUTE * 1.1
    } else {
        (top * 1.15).max(1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Calls to Telegram per minute over the day (London time, 5-minute buckets)",
            style(22.0, &INK),
        )
        .margin(14)
        .margin_right(28)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..24.0, 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&|v: &f64| {
            if y_max < 10.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        })
        .label_style(style(17.0, &INK))
        .axis_style(GREY)
        .light_line_style(WHITE)
        .bold_line_style(RULE)
        .draw()?;
    // Every three hours: a rule and the time under the axis.
    for h in (0..=24).step_by(3) {
        let h = f64::from(h);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(h, 0.0), (h, y_max)],
            RULE.stroke_width(1),
        )))?;
        chart.draw_series(std::iter::once(
            EmptyElement::at((h, 0.0))
                + Text::new(
                    format!("{:02}:00", h as u32),
                    (0, 8),
                    style(17.0, &INK).pos(Pos::new(HPos::Center, VPos::Top)),
                ),
        ))?;
    }
    if show_limit {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, LIMIT_PER_MINUTE), (24.0, LIMIT_PER_MINUTE)],
                8,
                6,
                GREY.stroke_width(2),
            ))?
            .label("Telegram's limit (30 a second)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 28, y)], GREY.stroke_width(2)));
    }
    if let Some((date, calls, v)) = peak {
        chart
            .draw_series(DashedLineSeries::new(
                points(v),
                10,
                5,
                VERMILLION.stroke_width(2),
            ))?
            .label(format!(
                "busiest day, {} ({calls} calls)",
                date.format("%a %-d %b")
            ))
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 28, y)], VERMILLION.stroke_width(2))
            });
    }
    let days = if r.partial {
        "days simulated".to_string()
    } else {
        format!("{} days", r.days)
    };
    chart
        .draw_series(LineSeries::new(points(&l.mean), BLUE.stroke_width(3)))?
        .label(format!("mean over the {days}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 28, y)], BLUE.stroke_width(4)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(style(17.0, &INK))
        .background_style(WHITE.mix(0.9))
        .border_style(RULE)
        .draw()?;
    Ok(())
}

/// A tier's label, colour and count in a week.
type Series = (&'static str, RGBColor, fn(&WeekCounts) -> usize);

/// Alerts, urgent alerts, nudges and self-help messages per week: grouped bars.
fn weeks(area: &Area, r: &Report) -> DrawResult {
    let n = r.per_week.len().max(1);
    let series: [Series; 4] = [
        ("alerts (to supporters)", BLUE, |w| w.alerts),
        ("urgent (to supporters)", VERMILLION, |w| w.urgent),
        ("nudges (to carers)", ORANGE, |w| w.nudges),
        ("notes to self", GREEN, |w| w.self_help),
    ];
    let top = r
        .per_week
        .iter()
        .flat_map(|w| series.iter().map(move |s| (s.2)(w)))
        .max()
        .unwrap_or(0);
    let y_max = (top as f64 * 1.2).max(4.0);
    let (plot, legend) = area.split_vertically(area.dim_in_pixel().1 - 44);
    let mut chart = ChartBuilder::on(&plot)
        .caption(
            "Alerts, urgent alerts, nudges and self-help messages per week",
            style(22.0, &INK),
        )
        .margin(14)
        .margin_right(28)
        .x_label_area_size(34)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_label_formatter(&|v: &f64| format!("{v:.0}"))
        .label_style(style(17.0, &INK))
        .axis_style(GREY)
        .light_line_style(WHITE)
        .bold_line_style(RULE)
        .draw()?;
    let width = 0.8 / series.len() as f64;
    for (i, w) in r.per_week.iter().enumerate() {
        for (j, (_, colour, count)) in series.iter().enumerate() {
            let x0 = i as f64 - 0.4 + j as f64 * width;
            let c = count(w);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0 + 0.01, 0.0), (x0 + width - 0.01, c as f64)],
                colour.filled(),
            )))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at((x0 + width / 2.0, c as f64))
                    + Text::new(
                        c.to_string(),
                        (0, -4),
                        style(15.0, &INK).pos(Pos::new(HPos::Center, VPos::Bottom)),
                    ),
            ))?;
        }
        chart.draw_series(std::iter::once(
            EmptyElement::at((i as f64, 0.0))
                + Text::new(
                    {
                        let from = w.starts.with_timezone(&TZ).format("%-d %b");
                        let secs = (r.simulated_until - w.starts).num_seconds();
                        match (secs + 86_399) / 86_400 {
                            d if d < 7 => format!(
                                "week {} (from {from}, {d} day{})",
                                w.week,
                                if d == 1 { "" } else { "s" }
                            ),
                            _ => format!("week {} (from {from})", w.week),
                        }
                    },
                    (0, 8),
                    style(17.0, &INK).pos(Pos::new(HPos::Center, VPos::Top)),
                ),
        ))?;
    }
    let text = style(18.0, &INK);
    let mut x = 90;
    let y = 20;
    for (label, colour, _) in &series {
        legend.draw(&Rectangle::new(
            [(x, y - 9), (x + 18, y + 9)],
            colour.filled(),
        ))?;
        legend.draw(&Text::new(
            label.to_string(),
            (x + 26, y),
            text.clone().pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        let (w, _) = legend.estimate_text_size(label, &text)?;
        x += 26 + w as i32 + 36;
    }
    Ok(())
}
