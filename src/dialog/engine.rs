//! The check-in engine. Pure: `advance(dialog, session, event, ctx)` changes the session and
//! returns what to say and what to store. No I/O, no clock reads (`ctx` carries what it needs).

use super::expr::{Value, ValueEnv};
use super::model::{Action, Dialog, Step, StepKind, Target};
use crate::content::{Texts, fill};
pub use crate::domain::answer::{Answer, AnswerValue, Session, Stored};

impl Session {
    pub fn new() -> Self {
        Session::default()
    }

    pub fn is_finished(&self) -> bool {
        self.current.is_none()
    }
}

/// What a button does. Encoded in callback data as `c3`, `t2`, `d`, `s`, `l`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonAction {
    /// Choose option (or scale point) number n.
    Choose(usize),
    /// Tick or untick option n of a multi step.
    Toggle(usize),
    Done,
    Skip,
    Later,
}

impl ButtonAction {
    pub fn encode(self) -> String {
        match self {
            ButtonAction::Choose(i) => format!("c{i}"),
            ButtonAction::Toggle(i) => format!("t{i}"),
            ButtonAction::Done => "d".into(),
            ButtonAction::Skip => "s".into(),
            ButtonAction::Later => "l".into(),
        }
    }

    pub fn decode(s: &str) -> Option<ButtonAction> {
        let num = |rest: &str| rest.parse::<usize>().ok().filter(|n| *n < 1000);
        match s {
            "d" => Some(ButtonAction::Done),
            "s" => Some(ButtonAction::Skip),
            "l" => Some(ButtonAction::Later),
            _ => {
                if let Some(rest) = s.strip_prefix('c') {
                    num(rest).map(ButtonAction::Choose)
                } else if let Some(rest) = s.strip_prefix('t') {
                    num(rest).map(ButtonAction::Toggle)
                } else {
                    None
                }
            }
        }
    }
}

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Show the first question.
    Start,
    /// Show the current question again (after a pause or a restart).
    Resume,
    Text(String),
    Press {
        seq: u32,
        action: ButtonAction,
    },
}

/// A keyboard: rows of (label, action).
pub type Keys = Vec<Vec<(String, ButtonAction)>>;

/// Something to say, rendered by the conversation layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Say(String),
    /// A question; its buttons are bound to `seq`.
    Ask {
        text: String,
        keys: Keys,
        seq: u32,
    },
    /// Replace the buttons under the message that was pressed (`None`: show `chosen` as a
    /// single inert "✓ …" marker instead).
    Rekey {
        keys: Option<Keys>,
        chosen: Option<String>,
        seq: u32,
    },
    /// A small notice on the pressed button (callback answer).
    Notice(String),
    CrisisCard,
    CopingPlan,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Advance {
    pub replies: Vec<Reply>,
    pub stored: Vec<Stored>,
    /// The dialog reached its end in this call.
    pub completed: bool,
    /// The person asked to stop for now.
    pub paused: bool,
}

/// What the engine needs besides the dialog and the session.
pub struct Ctx<'a> {
    pub texts: &'a Texts,
    /// The name the person chose, for `{name}`.
    pub name: &'a str,
    /// When a paused session closes, already formatted in the person's timezone.
    pub until: &'a str,
}

/// Upper bound on steps visited in one call: a loop without input cannot spin forever.
const MAX_HOPS: usize = 1000;

/// Applies `event` to `session`.
pub fn advance(dialog: &Dialog, session: &mut Session, event: Event, ctx: &Ctx) -> Advance {
    let mut out = Advance::default();
    let Some(current) = session.current else {
        if let Event::Press { .. } = event {
            out.replies
                .push(Reply::Notice(ctx.texts.question_passed.clone()));
        }
        return out;
    };
    match event {
        Event::Start => enter(dialog, session, 0, ctx, &mut out),
        Event::Resume => {
            session.paused = false;
            ask(dialog, session, current, ctx, &mut out);
        }
        Event::Text(text) => {
            if is_pause_word(&text) {
                pause(session, ctx, &mut out);
            } else {
                session.paused = false;
                typed(dialog, session, current, text.trim(), ctx, &mut out);
            }
        }
        Event::Press { seq, action } => {
            if seq != session.seq {
                out.replies
                    .push(Reply::Notice(ctx.texts.question_passed.clone()));
            } else {
                session.paused = false;
                pressed(dialog, session, current, action, ctx, &mut out);
            }
        }
    }
    out
}

fn is_pause_word(text: &str) -> bool {
    matches!(
        text.trim()
            .trim_end_matches(['.', '!'])
            .to_lowercase()
            .as_str(),
        "stop" | "later" | "pause" | "not now" | "carry on later"
    )
}

fn pause(session: &mut Session, ctx: &Ctx, out: &mut Advance) {
    session.paused = true;
    out.paused = true;
    out.replies.push(Reply::Say(fill(
        &ctx.texts.session_paused,
        &[("until", ctx.until)],
    )));
}

/// Moves to step `i` (or past it, for steps not shown), saying message steps on the way,
/// and asks the first step that needs an answer.
fn enter(dialog: &Dialog, session: &mut Session, mut i: usize, ctx: &Ctx, out: &mut Advance) {
    for _ in 0..MAX_HOPS {
        let Some(step) = dialog.steps.get(i) else {
            return finish(dialog, session, out);
        };
        if let Some(cond) = &step.show_if
            && !cond.eval_bool(&Values { dialog, session })
        {
            record(session, out, step, Answer::NotShown, vec![]);
            i += 1;
            continue;
        }
        session.current = Some(i);
        session.tries = 0;
        session.selection.clear();
        if let StepKind::Message = step.kind {
            out.replies.push(Reply::Say(personal(&step.text, ctx)));
            match next(dialog, session, i) {
                Target::Step(n) => i = n,
                Target::End => return finish(dialog, session, out),
            }
            continue;
        }
        return ask(dialog, session, i, ctx, out);
    }
    // Only reachable with a loop of message steps, which validation warns about.
    finish(dialog, session, out);
}

fn finish(dialog: &Dialog, session: &mut Session, out: &mut Advance) {
    session.current = None;
    session.paused = false;
    // Questions jumped over by a branch were never shown: say so, so a completed session
    // has a row for every question.
    for step in &dialog.steps {
        if !matches!(step.kind, StepKind::Message) && !session.answers.contains_key(&step.id) {
            record(session, out, step, Answer::NotShown, vec![]);
        }
    }
    for c in &dialog.computes {
        let value = c.expr.eval_number(&Values { dialog, session });
        let answer = match value {
            Some(v) if v.is_finite() => Answer::Answered(AnswerValue::Number(v)),
            _ => Answer::Skipped,
        };
        session.answers.insert(c.id.clone(), answer.clone());
        out.stored.push(Stored {
            step_id: c.id.clone(),
            answer,
            flags: vec![],
        });
    }
    out.completed = true;
}

/// Where to go after step `i`: the first branch whose condition holds, else `goto`, else
/// the next step.
fn next(dialog: &Dialog, session: &Session, i: usize) -> Target {
    let step = &dialog.steps[i];
    let values = Values { dialog, session };
    for b in &step.branches {
        if b.cond.eval_bool(&values) {
            return b.target;
        }
    }
    step.goto.unwrap_or(Target::Step(i + 1))
}

/// The text of the question `session` is on, as it was asked (without a scale's legend):
/// what a message rewritten into the next question says was answered.
pub fn asked(dialog: &Dialog, session: &Session, ctx: &Ctx) -> Option<String> {
    let step = dialog.steps.get(session.current?)?;
    Some(personal(&step.text, ctx))
}

fn personal(text: &str, ctx: &Ctx) -> String {
    fill(text, &[("name", ctx.name), ("first_name", ctx.name)])
}

/// Asks step `i` (a new `seq`, so buttons of earlier questions go stale).
fn ask(dialog: &Dialog, session: &mut Session, i: usize, ctx: &Ctx, out: &mut Advance) {
    let step = &dialog.steps[i];
    session.seq += 1;
    let t = ctx.texts;
    let mut text = personal(&step.text, ctx);
    if let StepKind::Scale {
        min,
        max,
        min_label,
        max_label,
    } = &step.kind
    {
        let legend = fill(
            &t.scale_legend,
            &[
                ("min", &min.to_string()),
                ("max", &max.to_string()),
                ("min_label", min_label),
                ("max_label", max_label),
            ],
        );
        text = format!("{text}\n({legend})");
    }
    let keys = keys_for(step, &session.selection, ctx);
    out.replies.push(Reply::Ask {
        text,
        keys,
        seq: session.seq,
    });
}

fn keys_for(step: &Step, selection: &[String], ctx: &Ctx) -> Keys {
    let t = ctx.texts;
    let mut rows: Keys = match &step.kind {
        StepKind::Scale { min, max, .. } => {
            let points: Vec<(String, ButtonAction)> = (*min..=*max)
                .enumerate()
                .map(|(n, v)| (v.to_string(), ButtonAction::Choose(n)))
                .collect();
            let half = points.len().div_ceil(2);
            points.chunks(half.max(1)).map(|c| c.to_vec()).collect()
        }
        StepKind::Choice { options } => options
            .iter()
            .enumerate()
            .map(|(n, o)| vec![(o.label.clone(), ButtonAction::Choose(n))])
            .collect(),
        StepKind::YesNo => vec![vec![
            (t.button_yes.clone(), ButtonAction::Choose(0)),
            (t.button_no.clone(), ButtonAction::Choose(1)),
        ]],
        StepKind::Multi { options, .. } => {
            let mut rows: Keys = options
                .iter()
                .enumerate()
                .map(|(n, o)| {
                    let label = if selection.contains(&o.code) {
                        fill(&t.chosen, &[("label", &o.label)])
                    } else {
                        o.label.clone()
                    };
                    vec![(label, ButtonAction::Toggle(n))]
                })
                .collect();
            rows.push(vec![(t.button_done.clone(), ButtonAction::Done)]);
            rows
        }
        _ => Vec::new(),
    };
    if step.skippable {
        rows.push(vec![(t.button_skip.clone(), ButtonAction::Skip)]);
    }
    rows
}

fn record(
    session: &mut Session,
    out: &mut Advance,
    step: &Step,
    answer: Answer,
    flags: Vec<String>,
) {
    let kept = match &answer {
        Answer::Answered(AnswerValue::Text(_)) => {
            Answer::Answered(AnswerValue::Text(String::new()))
        }
        other => other.clone(),
    };
    session.answers.insert(step.id.clone(), kept);
    out.stored.push(Stored {
        step_id: step.id.clone(),
        answer,
        flags,
    });
}

/// Stores the answer to the current step, runs its option's actions, and moves on.
fn answered(
    dialog: &Dialog,
    session: &mut Session,
    i: usize,
    answer: Answer,
    actions: &[Action],
    ctx: &Ctx,
    out: &mut Advance,
) {
    let step = &dialog.steps[i];
    let mut flags = Vec::new();
    for a in actions {
        match a {
            Action::ShowCrisisCard => out.replies.push(Reply::CrisisCard),
            Action::ShowCopingPlan => out.replies.push(Reply::CopingPlan),
            Action::Flag(f) => flags.push(f.clone()),
        }
    }
    record(session, out, step, answer, flags);
    match next(dialog, session, i) {
        Target::Step(n) => enter(dialog, session, n, ctx, out),
        Target::End => finish(dialog, session, out),
    }
}

fn pressed(
    dialog: &Dialog,
    session: &mut Session,
    i: usize,
    action: ButtonAction,
    ctx: &Ctx,
    out: &mut Advance,
) {
    let step = &dialog.steps[i];
    let passed = || Reply::Notice(ctx.texts.question_passed.clone());
    let chosen = |label: String, seq: u32| Reply::Rekey {
        keys: None,
        chosen: Some(label),
        seq,
    };
    let seq = session.seq;
    match (action, &step.kind) {
        (ButtonAction::Later, _) => {
            out.replies
                .push(chosen(ctx.texts.button_later.clone(), seq));
            pause(session, ctx, out);
        }
        (ButtonAction::Skip, _) if step.skippable => {
            out.replies.push(chosen(ctx.texts.button_skip.clone(), seq));
            answered(dialog, session, i, Answer::Skipped, &[], ctx, out);
        }
        (ButtonAction::Choose(n), StepKind::Scale { min, max, .. })
            if (*min + n as i64) <= *max =>
        {
            let v = *min + n as i64;
            out.replies.push(chosen(v.to_string(), seq));
            answered(
                dialog,
                session,
                i,
                Answer::Answered(AnswerValue::Number(v as f64)),
                &[],
                ctx,
                out,
            );
        }
        (ButtonAction::Choose(n), StepKind::Choice { options }) if n < options.len() => {
            let o = &options[n];
            out.replies.push(chosen(o.label.clone(), seq));
            let actions = o.actions.clone();
            answered(
                dialog,
                session,
                i,
                Answer::Answered(AnswerValue::Code(o.code.clone())),
                &actions,
                ctx,
                out,
            );
        }
        (ButtonAction::Choose(n), StepKind::YesNo) if n < 2 => {
            let (code, label) = if n == 0 {
                ("yes", &ctx.texts.button_yes)
            } else {
                ("no", &ctx.texts.button_no)
            };
            out.replies.push(chosen(label.clone(), seq));
            answered(
                dialog,
                session,
                i,
                Answer::Answered(AnswerValue::Code(code.into())),
                &[],
                ctx,
                out,
            );
        }
        (
            ButtonAction::Toggle(n),
            StepKind::Multi {
                options, exclusive, ..
            },
        ) if n < options.len() => {
            let code = options[n].code.clone();
            if let Some(pos) = session.selection.iter().position(|c| *c == code) {
                session.selection.remove(pos);
            } else if exclusive.as_deref() == Some(code.as_str()) {
                session.selection = vec![code];
            } else {
                if let Some(x) = exclusive {
                    session.selection.retain(|c| c != x);
                }
                session.selection.push(code);
            }
            out.replies.push(Reply::Rekey {
                keys: Some(keys_for(step, &session.selection, ctx)),
                chosen: None,
                seq,
            });
        }
        (
            ButtonAction::Done,
            StepKind::Multi {
                options,
                min_selected,
                max_selected,
                ..
            },
        ) => {
            let n = session.selection.len();
            if n < *min_selected || n > *max_selected {
                let hint = fill(
                    &ctx.texts.hint_multi_count,
                    &[
                        ("min", &min_selected.to_string()),
                        ("max", &max_selected.to_string()),
                    ],
                );
                out.replies.push(Reply::Notice(hint));
                return;
            }
            // Keep the options' order, whatever order they were ticked in.
            let picked: Vec<&super::model::Choice> = options
                .iter()
                .filter(|o| session.selection.contains(&o.code))
                .collect();
            let label = picked
                .iter()
                .map(|o| o.label.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let codes = picked.iter().map(|o| o.code.clone()).collect();
            let actions: Vec<Action> = picked.iter().flat_map(|o| o.actions.clone()).collect();
            out.replies.push(chosen(label, seq));
            session.selection.clear();
            answered(
                dialog,
                session,
                i,
                Answer::Answered(AnswerValue::Codes(codes)),
                &actions,
                ctx,
                out,
            );
        }
        _ => out.replies.push(passed()),
    }
}

/// Typed text for the current step.
fn typed(
    dialog: &Dialog,
    session: &mut Session,
    i: usize,
    text: &str,
    ctx: &Ctx,
    out: &mut Advance,
) {
    let step = &dialog.steps[i];
    let t = ctx.texts;
    if step.skippable && text.eq_ignore_ascii_case("skip") {
        return answered(dialog, session, i, Answer::Skipped, &[], ctx, out);
    }
    let result: Result<(AnswerValue, Vec<Action>), String> = match &step.kind {
        StepKind::Scale { min, max, .. } => parse_scale(text, *min, *max)
            .map(|v| (AnswerValue::Number(v as f64), vec![]))
            .ok_or_else(|| {
                fill(
                    &t.hint_scale,
                    &[("min", &min.to_string()), ("max", &max.to_string())],
                )
            }),
        StepKind::Choice { options } => {
            let wanted = text.to_lowercase();
            options
                .iter()
                .enumerate()
                .find(|(n, o)| {
                    is_label(&o.label, text) || o.code == wanted || (n + 1).to_string() == wanted
                })
                .map(|(_, o)| (AnswerValue::Code(o.code.clone()), o.actions.clone()))
                .ok_or_else(|| t.hint_choice.clone())
        }
        StepKind::YesNo => match yes_no(text) {
            Some(true) => Ok((AnswerValue::Code("yes".into()), vec![])),
            Some(false) => Ok((AnswerValue::Code("no".into()), vec![])),
            None => Err(t.hint_choice.clone()),
        },
        StepKind::Multi { .. } => Err(t.hint_multi.clone()),
        StepKind::Number {
            min, max, decimals, ..
        } => parse_number(text, *min, *max, *decimals)
            .map(|v| (AnswerValue::Number(v), vec![]))
            .ok_or_else(|| {
                fill(
                    &t.hint_number,
                    &[("min", &fmt_num(*min)), ("max", &fmt_num(*max))],
                )
            }),
        StepKind::Time => parse_time(text)
            .map(|m| {
                (
                    AnswerValue::Time {
                        hhmm: format!("{:02}:{:02}", m / 60, m % 60),
                        minutes: m,
                    },
                    vec![],
                )
            })
            .ok_or_else(|| t.hint_time.clone()),
        StepKind::Text { max_length } => {
            if text.is_empty() || text.chars().count() > *max_length {
                Err(fill(&t.hint_text, &[("max", &max_length.to_string())]))
            } else {
                Ok((AnswerValue::Text(text.to_string()), vec![]))
            }
        }
        StepKind::Message => Err(t.hint_choice.clone()),
    };
    match result {
        Ok((value, actions)) => answered(
            dialog,
            session,
            i,
            Answer::Answered(value),
            &actions,
            ctx,
            out,
        ),
        Err(generic) => {
            let hint = step
                .hint
                .as_deref()
                .map(|h| personal(h, ctx))
                .unwrap_or(generic);
            session.tries = session.tries.saturating_add(1);
            if session.tries >= 3 {
                session.tries = 0;
                let (text, mut keys) = if step.skippable {
                    (
                        t.tries_exhausted.clone(),
                        vec![vec![(t.button_skip.clone(), ButtonAction::Skip)]],
                    )
                } else {
                    (t.tries_exhausted_not_skippable.clone(), vec![])
                };
                keys.push(vec![(t.button_later.clone(), ButtonAction::Later)]);
                out.replies.push(Reply::Ask {
                    text,
                    keys,
                    seq: session.seq,
                });
            } else {
                out.replies.push(Reply::Say(hint));
            }
        }
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Whether typed `text` is a button's `label`: case aside, with a phone keyboard's curly
/// apostrophes and quotes taken as straight ones, and surrounding spaces and full stops.
pub fn is_label(label: &str, text: &str) -> bool {
    let plain = |s: &str| -> String {
        s.trim()
            .trim_end_matches('.')
            .chars()
            .map(|c| match c {
                '\u{2018}' | '\u{2019}' => '\'',
                '\u{201C}' | '\u{201D}' => '"',
                c => c,
            })
            .collect::<String>()
            .to_lowercase()
    };
    plain(label) == plain(text)
}

/// "yes" or "no" as people type them ("Yeah", "yes please", "nope", "no thanks.").
pub fn yes_no(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().trim_end_matches(['.', '!']) {
        "yes" | "y" | "yeah" | "yep" | "yes please" | "ok" | "okay" => Some(true),
        "no" | "n" | "nope" | "no thanks" | "no thank you" => Some(false),
        _ => None,
    }
}

/// A point on a scale as people type it: "7", " 7.", "7/10", "7 / 10", "7 out of 10" (the
/// "of" must be the scale's own top).
pub fn parse_scale(text: &str, min: i64, max: i64) -> Option<i64> {
    let t = text.trim().trim_end_matches(['.', '!']).to_lowercase();
    let (value, of) = match t.split_once('/').or_else(|| t.split_once("out of")) {
        Some((v, of)) => (v.trim(), Some(of.trim())),
        None => (t.trim(), None),
    };
    if of.is_some_and(|of| of.parse::<i64>().ok() != Some(max)) {
        return None;
    }
    value
        .parse::<i64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
}

/// "6", "6.5", "6,5" (a decimal comma), within bounds, rounded to `decimals`.
pub fn parse_number(text: &str, min: f64, max: f64, decimals: u32) -> Option<f64> {
    let t = text.trim().replace(',', ".");
    let t = t
        .trim_end_matches(|c: char| c.is_alphabetic() || c == ' ')
        .trim();
    let v: f64 = t.parse().ok().filter(|v: &f64| v.is_finite())?;
    let scale = 10f64.powi(decimals as i32);
    let v = (v * scale).round() / scale;
    (min..=max).contains(&v).then_some(v)
}

/// "07:30", "7.30", "7:30am", "7pm", "19:30", "730"? no: minutes since midnight.
pub fn parse_time(text: &str) -> Option<u32> {
    let t = text.trim().to_lowercase().replace(' ', "");
    let (body, suffix) = if let Some(b) = t.strip_suffix("am") {
        (b.to_string(), Some(false))
    } else if let Some(b) = t.strip_suffix("pm") {
        (b.to_string(), Some(true))
    } else {
        (t.clone(), None)
    };
    let (h, m) = match body.split_once([':', '.', 'h']) {
        Some((h, m)) => (
            h.parse::<u32>().ok()?,
            if m.is_empty() {
                0
            } else {
                m.parse::<u32>().ok()?
            },
        ),
        None => (body.parse::<u32>().ok()?, 0),
    };
    if body
        .split_once([':', '.', 'h'])
        .is_some_and(|(_, m)| !m.is_empty() && m.len() != 2)
        || m > 59
    {
        return None;
    }
    let h = match suffix {
        Some(pm) => {
            if !(1..=12).contains(&h) {
                return None;
            }
            (h % 12) + if pm { 12 } else { 0 }
        }
        None => h,
    };
    (h <= 23).then_some(h * 60 + m)
}

/// Answers as expression values.
struct Values<'a> {
    dialog: &'a Dialog,
    session: &'a Session,
}

impl ValueEnv for Values<'_> {
    fn value(&self, name: &str) -> Value {
        if let Some(answer) = self.session.answers.get(name) {
            return match answer {
                Answer::Answered(AnswerValue::Number(v)) => Value::Number(*v),
                Answer::Answered(AnswerValue::Code(c)) => Value::Code(c.clone()),
                Answer::Answered(AnswerValue::Codes(c)) => Value::Codes(c.clone()),
                Answer::Answered(AnswerValue::Time { minutes, .. }) => {
                    Value::Number(*minutes as f64)
                }
                Answer::Answered(AnswerValue::Text(_)) => Value::Text,
                Answer::Skipped | Answer::NotShown => Value::Null,
            };
        }
        // A computed value not stored yet: computes only refer to steps and earlier
        // computes (checked at load), so this terminates.
        match self.dialog.computes.iter().find(|c| c.id == name) {
            Some(c) => c
                .expr
                .eval_number(self)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            None => Value::Null,
        }
    }

    fn score(&self, name: &str) -> Option<f64> {
        let Some(Answer::Answered(AnswerValue::Code(code))) = self.session.answers.get(name) else {
            return None;
        };
        let step = self.dialog.steps.iter().find(|s| s.id == name)?;
        step.kind.options().iter().find(|o| &o.code == code)?.score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_on_a_scale_is_read_the_ways_people_type_it() {
        for (text, v) in [
            ("7", Some(7)),
            (" 7. ", Some(7)),
            ("7/10", Some(7)),
            ("7 / 10", Some(7)),
            ("7 out of 10", Some(7)),
            ("0/10", Some(0)),
            ("7/5", None),
            ("11", None),
            ("7/", None),
            ("seven", None),
            ("-1", None),
        ] {
            assert_eq!(parse_scale(text, 0, 10), v, "{text}");
        }
    }

    #[test]
    fn times_are_read_the_ways_people_type_them() {
        for (text, minutes) in [
            ("07:30", 450),
            ("7.30", 450),
            ("7:30am", 450),
            ("7:30 AM", 450),
            ("7pm", 1140),
            ("12am", 0),
            ("12pm", 720),
            ("19:30", 1170),
            ("0:05", 5),
        ] {
            assert_eq!(parse_time(text), Some(minutes), "{text}");
        }
        for bad in ["25:00", "7:3", "13pm", "tomorrow", "", "7:60", "-1"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_accept_a_decimal_comma_and_a_unit() {
        assert_eq!(parse_number("6,5", 0.0, 24.0, 1), Some(6.5));
        assert_eq!(parse_number("6.5 hours", 0.0, 24.0, 1), Some(6.5));
        assert_eq!(parse_number("7.25", 0.0, 24.0, 1), Some(7.3));
        assert_eq!(parse_number("25", 0.0, 24.0, 1), None);
        assert_eq!(parse_number("NaN", 0.0, 24.0, 1), None);
        assert_eq!(parse_number("lots", 0.0, 24.0, 1), None);
    }

    #[test]
    fn button_actions_round_trip_and_reject_garbage() {
        for a in [
            ButtonAction::Choose(0),
            ButtonAction::Choose(10),
            ButtonAction::Toggle(3),
            ButtonAction::Done,
            ButtonAction::Skip,
            ButtonAction::Later,
        ] {
            assert_eq!(ButtonAction::decode(&a.encode()), Some(a));
        }
        for bad in ["", "c", "c-1", "x1", "c99999999999", "t1.5"] {
            assert_eq!(ButtonAction::decode(bad), None, "{bad}");
        }
    }
}
