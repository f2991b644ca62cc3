//! `/week`: the member's own trends as a chart and in words. The processor loads the
//! member's history (`Person::history`) only for this command; this module decides what
//! to say, and hands the chart over as data ([`Outgoing::Chart`]), drawn at delivery.

use super::{Ctx, Member, Outcome, Person};
use crate::content::fill;
use crate::domain::Outgoing;
use crate::week::{self, ChartLabels, History, MIN_CHECKINS, WeekData};

pub fn command(o: &mut Outcome, person: &Person, m: &Member, args: &str, ctx: &Ctx) {
    let chat = person.chat;
    let t = &ctx.content.texts;
    let Some(weeks) = week::parse_weeks(args) else {
        o.reply(chat, Outgoing::text(&t.week_bad_args));
        return;
    };
    let n = weeks.to_string();
    let none;
    let history = match &person.history {
        Some(h) => h,
        None => {
            // Not loaded: nothing to show (the processor always loads it for /week).
            let tz = m.timezone.parse().unwrap_or(chrono_tz::Europe::London);
            none = History::build(&[], &[], tz, ctx.now, |_, _| None);
            &none
        }
    };
    let chart = WeekData::build(history, weeks, ChartLabels::from_texts(t, weeks));
    if chart.checkins() < MIN_CHECKINS {
        o.reply(
            chat,
            Outgoing::text(fill(&t.week_too_few, &[("weeks", &n)])),
        );
        return;
    }
    o.reply(
        chat,
        Outgoing::Chart {
            chart: Box::new(chart),
            caption: fill(&t.week_caption, &[("weeks", &n)]),
        },
    );
    o.reply(chat, Outgoing::text(week::summary(history, weeks, t)));
}
