//! The synthetic cohort: who is in it (`cohort`), and what each person does when they wake
//! (`Sim::act`: the next step of their script, an answer, an acknowledgement) or when a
//! message reaches them (`Sim::seen`). People act only through inputs, as `staywell chat`
//! does.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::people::{Person, Rng, Role, Step, Take, fingerprint, name};
use super::profile::Profile;
use super::report::Observed;
use super::telegram;
use crate::domain::{ChatId, Incoming, Input, Outgoing, Sender, UpdateId, UserId};

/// A person's action waits in this queue: (virtual ms, sequence, person).
pub(super) type Queue = BinaryHeap<Reverse<(i64, u64, usize)>>;

pub(super) struct Sim {
    pub(super) people: Vec<Person>,
    pub(super) by_chat: HashMap<ChatId, usize>,
    pub(super) rng: Rng,
    pub(super) queue: Queue,
    pub(super) seq: u64,
    pub(super) next_update: i64,
    pub(super) next_query: u64,
    pub(super) start: DateTime<Utc>,
    pub(super) obs: Observed,
    pub(super) profile: Profile,
}

impl Sim {
    fn at(&mut self, who: usize, when: DateTime<Utc>) {
        // Whole seconds: people's actions in the same second go in together.
        let ms = (when.timestamp_millis() + 999) / 1000 * 1000;
        self.seq += 1;
        self.queue.push(Reverse((ms, self.seq, who)));
        self.people[who].wake_pending = true;
    }

    fn day(&self, now: DateTime<Utc>) -> i64 {
        (now - self.start).num_days()
    }

    fn local_date(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
        now.with_timezone(&tz).date_naive()
    }

    fn incoming(&mut self, who: usize, input: Input, now: DateTime<Utc>) -> Incoming {
        let p = &self.people[who];
        self.next_update += 1;
        Incoming {
            update_id: UpdateId(self.next_update),
            chat: Some(p.chat),
            sender: Some(Sender {
                user_id: UserId(p.chat.0),
                first_name: p.name.clone(),
                username: None,
            }),
            kind: "message".into(),
            input,
            sent_at: Some(now),
        }
    }

    fn press(&mut self, who: usize, index: usize, now: DateTime<Utc>) -> Option<Incoming> {
        let (message_id, buttons) = self.people[who].keyboard.clone()?;
        let b = buttons.get(index)?;
        let p = &mut self.people[who];
        p.acted = fingerprint(message_id, &buttons);
        p.acted_on.push(p.acted);
        if p.acted_on.len() > 8 {
            p.acted_on.remove(0);
        }
        self.next_query += 1;
        let input = Input::Callback {
            query_id: format!("q{}", self.next_query),
            data: Some(b.data.clone()),
            message_id: Some(message_id),
        };
        Some(self.incoming(who, input, now))
    }

    fn fresh_keyboard(&self, who: usize) -> Option<&[crate::domain::Button]> {
        let p = &self.people[who];
        let (id, buttons) = p.keyboard.as_ref()?;
        (fingerprint(*id, buttons) != p.acted).then_some(buttons.as_slice())
    }

    /// What the person does when they wake: the next step of their script, an
    /// acknowledgement, or the next answer of a check-in.
    pub(super) fn act(&mut self, who: usize, now: DateTime<Utc>) -> Option<Incoming> {
        self.people[who].wake_pending = false;
        // An ask-first answer is given at its own time, not at a check-in's earlier wake.
        if let Some((message_id, data, _)) = self.people[who]
            .ask_answer
            .take_if(|(_, _, due)| *due <= now)
        {
            self.next_query += 1;
            let input = Input::Callback {
                query_id: format!("q{}", self.next_query),
                data: Some(data),
                message_id: Some(message_id),
            };
            // An answer they were about to give mid-check-in comes a little later.
            if self.people[who].in_checkin {
                let delay = self.profile.checkins.next_answer.draw(&mut self.rng);
                self.at(who, now + ms(delay));
            }
            return Some(self.incoming(who, input, now));
        }
        if let Some((message_id, data)) = self.people[who].ack.take() {
            self.next_query += 1;
            let input = Input::Callback {
                query_id: format!("q{}", self.next_query),
                data: Some(data),
                message_id: Some(message_id),
            };
            self.obs.acks_pressed += 1;
            return Some(self.incoming(who, input, now));
        }
        if let Some(step) = self.people[who].script.front().cloned() {
            return match step {
                Step::Say(text) => {
                    self.people[who].script.pop_front();
                    Some(self.incoming(who, Input::from_text(&text), now))
                }
                Step::Press(label) => {
                    let p = &self.people[who];
                    let found = p.recent.iter().rev().find_map(|(id, buttons)| {
                        if p.acted_on.contains(&fingerprint(*id, buttons)) {
                            return None;
                        }
                        // An answered keyboard collapsed to "✓ …" is a receipt, not a choice.
                        let i = buttons
                            .iter()
                            .position(|b| b.label.contains(&label) && !b.label.starts_with('✓'))?;
                        Some(((*id, buttons.clone()), i))
                    });
                    let (keyboard, i) = found?;
                    let p = &mut self.people[who];
                    p.script.pop_front();
                    p.keyboard = Some(keyboard);
                    self.press(who, i, now)
                }
            };
        }
        if self.people[who].role != Role::Member || !self.people[who].in_checkin {
            return None;
        }
        let buttons = self.fresh_keyboard(who)?.to_vec();
        let p = &self.people[who];
        if let Take::Partial(n) = p.take
            && p.answered_today >= n
        {
            self.people[who].in_checkin = false;
            return None;
        }
        let has = |s: &str| buttons.iter().position(|b| b.label.contains(s));
        let numeric = buttons.iter().all(|b| b.label.parse::<i64>().is_ok());
        let day = self.day(now);
        let choice = if numeric {
            let mood = self.people[who].mood(day, &mut self.rng, &self.profile.mood);
            let value = if self.people[who].scales_today == 0 {
                self.people[who].mood_today = mood;
                mood
            } else {
                let noise = self.rng.normal() * self.profile.mood.other_scales_noise;
                (10 - mood + noise.round() as i64).clamp(0, 10)
            };
            self.people[who].scales_today += 1;
            buttons.iter().position(|b| b.label == value.to_string())
        } else if buttons.iter().any(|b| b.label.starts_with('✓')) {
            // A choice made (several may be, then Done); without Done, the check-in is over.
            if has("Done").is_none() {
                self.people[who].in_checkin = false;
                return None;
            }
            has("Done")
        } else if let Some(safe) = has("Yes, I feel safe") {
            let r = self.rng.f64();
            let c = &self.profile.checkins;
            if r < c.not_safe {
                self.obs.not_safe_answers += 1;
                has("I don't feel safe")
            } else if r < c.not_safe + c.unsure {
                self.obs.unsure_answers += 1;
                has("I'm not sure")
            } else {
                Some(safe)
            }
        } else if has("Fairly good").is_some() {
            let poor =
                (self.people[who].mood_today as f64) <= self.profile.checkins.poor_sleep_at_mood;
            has(if poor { "Fairly bad" } else { "Fairly good" })
        } else {
            has("Carry on")
                .or_else(|| has("None of these"))
                .or_else(|| has("Skip"))
                .or_else(|| buttons.iter().position(|b| b.label == "Yes"))
        };
        let Some(i) = choice else {
            if std::env::var_os("SIM_DEBUG").is_some() {
                let labels: Vec<_> = buttons.iter().map(|b| b.label.as_str()).collect();
                eprintln!("unrecognised keyboard: {labels:?}");
            }
            self.obs.unrecognised_keyboards += 1;
            self.people[who].in_checkin = false;
            return None;
        };
        self.people[who].answered_today += 1;
        self.people[who].awaiting = Some(now);
        self.press(who, i, now)
    }

    /// An ask-first question reached member `who`: they answer yes or no after a while, or
    /// not at all (their advance decision applies when the wait is over). Their check-in
    /// keyboard, if any, stays the one they answer next.
    fn asked_first(
        &mut self,
        who: usize,
        message_id: i32,
        buttons: &[crate::domain::Button],
        yes: usize,
        now: DateTime<Utc>,
    ) {
        self.obs.asks_seen += 1;
        let r = self.rng.f64();
        let a = &self.profile.asked;
        // Told or not is counted from the bot's reply (`seen`): an answer given after the
        // wait has passed, and the advance decision stands.
        let answer = if r < a.tell {
            Some(yes)
        } else if r < a.tell + a.dont {
            buttons.iter().position(|b| b.label == ASK_NO)
        } else {
            None
        };
        if let Some(i) = answer {
            let delay = self.profile.asked.answer_delay.draw(&mut self.rng);
            let due = now + ms(delay);
            self.people[who].ask_answer = Some((message_id, buttons[i].data.clone(), due));
            self.at(who, due);
        }
    }

    /// A call reached a person: remember keyboards and links, time replies, decide what
    /// they will do and when.
    pub(super) fn seen(&mut self, s: telegram::Seen) {
        let Some(&who) = self.by_chat.get(&s.chat) else {
            return;
        };
        let now = s.at;
        let mut new_keyboard = false;
        let mut alert = None;
        match &s.body {
            Outgoing::Message {
                text,
                buttons,
                protect,
                ..
            } => {
                if self.people[who].role == Role::Member {
                    if text.contains(CRISIS_MARK) {
                        self.obs.crisis_cards_seen += 1;
                    }
                    if text.contains(ASK_TOLD) {
                        self.obs.asks_told += 1;
                    } else if text.contains(ASK_NOT_TOLD) {
                        self.obs.asks_not_told += 1;
                    }
                }
                if let Some(t) = self.people[who].awaiting.take() {
                    let local = t.with_timezone(&self.people[who].tz);
                    self.obs
                        .reply_latency
                        .push((local, (now - t).num_milliseconds()));
                }
                let flat: Vec<_> = buttons.iter().flatten().cloned().collect();
                if self.people[who].role == Role::Member
                    && let Some(yes) = flat.iter().position(|b| b.label == ASK_YES)
                {
                    self.asked_first(who, s.message_id, &flat, yes, now);
                } else if !flat.is_empty() {
                    if *protect {
                        alert = flat.first().map(|b| (s.message_id, b.data.clone()));
                    }
                    remember(&mut self.people[who], s.message_id, flat.clone());
                    self.people[who].keyboard = Some((s.message_id, flat));
                    new_keyboard = true;
                }
                if let Some(pos) = text.find("start=") {
                    let token: String = text[pos + 6..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                        .collect();
                    if let Some(sup) = self.people[who].invites_for.pop_front() {
                        let p = &mut self.people[sup];
                        p.script.push_back(Step::Say(format!("/start {token}")));
                        p.script.push_back(Step::Press("Accept".into()));
                        let delay = self.profile.circle.invite_accept.draw(&mut self.rng);
                        self.at(sup, now + ms(delay));
                    }
                }
            }
            Outgoing::EditButtons {
                message_id,
                buttons,
            } => {
                let p = &mut self.people[who];
                let flat: Vec<_> = buttons.iter().flatten().cloned().collect();
                p.recent.retain(|(id, _)| id != message_id);
                if !flat.is_empty() {
                    remember(p, *message_id, flat);
                }
                if p.keyboard.as_ref().map(|k| k.0) == Some(*message_id) {
                    if buttons.is_empty() {
                        p.keyboard = None;
                    } else {
                        p.keyboard =
                            Some((*message_id, buttons.iter().flatten().cloned().collect()));
                        new_keyboard = true;
                    }
                }
            }
            // A question rewritten into the next one: read like a new message (the reply
            // to the press), with its keyboard now the one to press, on the same message.
            Outgoing::EditMessage {
                message_id,
                buttons,
                ..
            } => {
                let p = &mut self.people[who];
                if let Some(t) = p.awaiting.take() {
                    let local = t.with_timezone(&p.tz);
                    self.obs
                        .reply_latency
                        .push((local, (now - t).num_milliseconds()));
                }
                let flat: Vec<_> = buttons.iter().flatten().cloned().collect();
                p.recent.retain(|(id, _)| id != message_id);
                if flat.is_empty() {
                    if p.keyboard.as_ref().map(|k| k.0) == Some(*message_id) {
                        p.keyboard = None;
                    }
                } else {
                    remember(p, *message_id, flat.clone());
                    p.keyboard = Some((*message_id, flat));
                    new_keyboard = true;
                }
            }
            // A press answered with a notice only ("that question has passed"): no message
            // follows, so nothing is waited for.
            Outgoing::AnswerCallback { text: Some(_), .. }
                if self.people[who].awaiting.take().is_some() =>
            {
                self.obs.answered_with_a_notice += 1;
            }
            _ => {}
        }
        if self.people[who].wake_pending {
            return;
        }
        if let Role::Supporter { .. } = self.people[who].role
            && let Some(a) = alert
        {
            self.obs.alerts_seen += 1;
            if self.rng.chance(self.profile.supporters.acknowledge) {
                self.people[who].ack = Some(a);
                let delay = self
                    .profile
                    .supporters
                    .acknowledge_delay
                    .draw(&mut self.rng);
                self.at(who, now + ms(delay));
            }
            return;
        }

        if !self.people[who].script.is_empty() {
            let delay = self.profile.onboarding.step_delay.draw(&mut self.rng);
            self.at(who, now + ms(delay));
            return;
        }
        if self.people[who].role != Role::Member || !new_keyboard {
            return;
        }
        // A numeric keyboard on a new local date opens the day's check-in for this person.
        let numeric = self.people[who]
            .keyboard
            .as_ref()
            .is_some_and(|(_, b)| b.iter().all(|b| b.label.parse::<i64>().is_ok()));
        let tz = self.people[who].tz;
        let date = Sim::local_date(now, tz);
        let day = (date - Sim::local_date(self.start, tz)).num_days();
        if numeric && self.people[who].take_day != day {
            let r = self.rng.f64();
            let (full, partial) = (self.profile.checkins.full, self.profile.checkins.partial);
            let p = &mut self.people[who];
            p.take_day = day;
            p.answered_today = 0;
            p.scales_today = 0;
            p.take = if r < full {
                Take::Full
            } else if r < full + partial {
                Take::Partial(1 + (r * 1000.0) as u32 % 3)
            } else {
                Take::Ignore
            };
            p.in_checkin = p.take != Take::Ignore;
            if p.in_checkin {
                // The first answer: minutes, sometimes hours, after the prompt.
                let delay = self.profile.checkins.first_answer.draw(&mut self.rng);
                self.at(who, now + ms(delay));
            }
            return;
        }
        if self.people[who].in_checkin {
            let delay = self.profile.checkins.next_answer.draw(&mut self.rng);
            self.at(who, now + ms(delay));
        }
    }
}

fn remember(p: &mut Person, message_id: i32, buttons: Vec<crate::domain::Button>) {
    p.recent.retain(|(id, _)| *id != message_id);
    p.recent.push_back((message_id, buttons));
    if p.recent.len() > 6 {
        p.recent.pop_front();
    }
}

fn ms(secs: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((secs * 1000.0) as i64)
}

/// The answers to an ask-first question that a member taps (`ask_yes_button`,
/// `ask_no_button` in dialogs/core.toml).
const ASK_YES: &str = "Yes, tell them";
/// The bot's replies to an ask-first answer given in time.
const ASK_TOLD: &str = "OK — I've let them know.";
const ASK_NOT_TOLD: &str = "I won't tell anyone this time";
const ASK_NO: &str = "No, I'm OK";
/// A message carrying the crisis contacts (Samaritans' number, dialogs/crisis.toml).
const CRISIS_MARK: &str = "116 123";

/// Times a member taps on the onboarding keyboard (`ask_first_time`); any other time is
/// typed. The keyboard also offers 13:00, but a member wanting 13:00 types it, as in the
/// first version of the cohort, so the default profile's reports stay the same seed for seed.
const TIME_BUTTONS: [&str; 2] = ["09:00", "19:00"];

/// Builds the cohort: members first (chats 1..), then their supporters.
pub(super) fn cohort(
    members: u32,
    rng: &mut Rng,
    start: DateTime<Utc>,
    days: i64,
    profile: &Profile,
) -> Sim {
    let mood = &profile.mood;
    let declines = &mood.declines;
    let mut people = Vec::new();
    for i in 0..members as usize {
        let mut p = Person::new(ChatId(i as i64 + 1), name(i, "M"), Role::Member);
        p.checkin_minute = profile.checkin_minute(rng);
        p.base_mood = rng.range(mood.base.0, mood.base.1);
        let mut d = rng.range(declines.first_day.0, declines.first_day.1) as i64;
        while d < days {
            if rng.chance(declines.chance) {
                p.declines.push((
                    d,
                    rng.range(declines.length_days.0, declines.length_days.1) as i64,
                    rng.range(declines.depth.0, declines.depth.1),
                ));
            }
            d += rng.range(declines.every_days.0, declines.every_days.1) as i64;
        }
        p.tz = profile.timezone(rng);
        people.push(p);
    }
    let mut next_chat = 1_000_000_i64;
    for m in 0..members as usize {
        let k = profile.circle_size(rng);
        for j in 0..k {
            next_chat += 1;
            let s = people.len();
            let carer = rng.chance(profile.circle.carers);
            people.push(Person::new(
                ChatId(next_chat),
                name(j, &format!("{}s", people[m].name)),
                Role::Supporter { of: m, carer },
            ));
            people[m].supporters.push(s);
            people[m].has_carers |= carer;
            people[m].has_supporters |= !carer;
        }
        let p = &mut people[m];
        p.plan = k > 0 && rng.chance(profile.circle.plan);
        p.ask_first = p.plan && rng.chance(profile.plans.ask_first);
        p.urgent = p.plan && p.has_supporters && rng.chance(profile.plans.urgent);
        p.self_help = rng.chance(profile.plans.self_help);
    }
    let mut sim = Sim {
        by_chat: people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.chat, i))
            .collect(),
        people,
        rng: rng.clone(),
        queue: BinaryHeap::new(),
        seq: 0,
        next_update: 0,
        next_query: 0,
        start,
        obs: Observed::default(),
        profile: profile.clone(),
    };
    for m in 0..members as usize {
        let minute = sim.people[m].checkin_minute;
        let time = format!("{:02}:{:02}", minute / 60, minute % 60);
        let carers: Vec<bool> = sim.people[m]
            .supporters
            .iter()
            .map(|&s| matches!(sim.people[s].role, Role::Supporter { carer: true, .. }))
            .collect();
        let p = &mut sim.people[m];
        let mut script = vec![
            Step::Say("/start".into()),
            Step::Press("Yes, store my answers".into()),
            Step::Say(p.name.clone()),
        ];
        if p.tz == chrono_tz::Europe::London {
            script.push(Step::Press("UK time".into()));
        } else {
            script.push(Step::Press("Somewhere else".into()));
            script.push(Step::Say(p.tz.name().to_string()));
        }
        script.push(if TIME_BUTTONS.contains(&time.as_str()) {
            Step::Press(time)
        } else {
            Step::Say(time)
        });
        for (&s, carer) in p.supporters.iter().zip(&carers) {
            script.push(Step::Say("/supporters".into()));
            script.push(Step::Press("Invite someone".into()));
            script.push(Step::Press(
                if *carer {
                    "Carer: gentle nudges"
                } else {
                    "Supporter: alerts"
                }
                .into(),
            ));
            script.push(Step::Press("Yes, add".into()));
            p.invites_for.push_back(s);
        }
        if p.plan {
            // Low mood goes to the supporters, or to the carers when there are none.
            script.extend([
                Step::Say("/plan".into()),
                Step::Press("Low mood several days running".into()),
                Step::Press("mood 3 or lower on 3 check-ins in a row".into()),
                Step::Press(
                    if p.has_supporters {
                        "My supporters"
                    } else {
                        "My carers"
                    }
                    .into(),
                ),
                Step::Press(
                    if p.ask_first {
                        "Ask me first — tell them"
                    } else {
                        "Just tell them"
                    }
                    .into(),
                ),
            ]);
            if p.urgent {
                script.extend([
                    Step::Say("/plan".into()),
                    Step::Press("I don't feel safe".into()),
                    Step::Press("Choose this sign".into()),
                    Step::Press("at once".into()),
                ]);
            }
            if p.has_carers {
                script.extend([
                    Step::Say("/plan".into()),
                    Step::Press("Several check-ins missed".into()),
                    Step::Press("3 check-ins missed in a row".into()),
                    Step::Press("My carers".into()),
                    Step::Press("Just tell them".into()),
                ]);
            }
        }
        if p.self_help {
            script.extend([
                Step::Say("/coping a walk, music, texting my sister".into()),
                Step::Say("/plan".into()),
                Step::Press("Poor sleep on most nights".into()),
                Step::Press("poor sleep on 3 of the last 5".into()),
                Step::Press("Just me".into()),
            ]);
        }
        p.script = script.into();
        // Everyone joins during the first day (by default between 08:00 and 20:00).
        let join = sim
            .rng
            .range(0.0, profile.onboarding.join_spread_hours * 3600.0);
        sim.at(m, start + ms(join));
    }
    sim
}
