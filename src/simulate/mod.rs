//! `staywell simulate`: a synthetic cohort through the real processor, scheduler, store,
//! dialogs, plans and rules on a virtual clock, against a simulated Telegram that enforces
//! the real limits, with the real pacer. Prints a report (and writes it as JSON).
//!
//! People act only through inputs, as `staywell chat` does (commands, typed text, button
//! presses stored in the inbox). Virtual time jumps from one due moment to the next: a
//! person's action, a slot, a reminder, a window closing, the pacer allowing the next call.
//! How people behave comes from a [`Profile`] (`--profile FILE` over the shipped defaults).

pub mod chart;
pub mod people;
pub mod profile;
pub mod report;
pub mod telegram;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use self::people::{Person, Rng, Role, Step, Take, fingerprint, name};
use self::profile::Profile;
use self::report::{Observed, Report};
use self::telegram::SimTelegram;
use crate::chat::world::{Machinery, WorldOptions};
use crate::clock::Clock;
use crate::config::OutboxSettings;
use crate::domain::{ChatId, Incoming, Input, Outgoing, Sender, UpdateId, UserId};
use crate::pacing::Pacer;

pub struct SimOptions {
    pub members: u32,
    pub days: u32,
    pub seed: u64,
    pub db: Option<PathBuf>,
    pub json: Option<PathBuf>,
    /// The cohort's behaviour over the shipped defaults (TOML).
    pub profile: Option<PathBuf>,
    /// Also draw the message load over the day and alerts per week as a PNG.
    pub png: Option<PathBuf>,
    pub dialogs_dir: PathBuf,
    pub reminder_minutes: u32,
}

/// The virtual world starts on Sunday 1 March 2026, 08:00 in London; the report's times
/// are London times.
const TZ: Tz = chrono_tz::Europe::London;

fn start_time() -> DateTime<Utc> {
    // 08:00 GMT: London is on UTC until the end of March.
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0)
        .single()
        .unwrap_or_default()
}

/// Keeps the calling thread, and every thread it starts after (the store's SQLite worker),
/// on the CPU it runs on now. The simulation is one chain of statements, each handed to
/// sqlx's SQLite thread and back; measured on 2 cores, 60% of its time went on those
/// hand-overs between CPUs, and one CPU makes the whole run about a third faster.
/// Best effort: where it can't be done, nothing changes.
pub fn keep_to_one_cpu() {
    #[cfg(target_os = "linux")]
    // SAFETY: `sched_getcpu` takes nothing; `set` is a zeroed, owned `cpu_set_t` that
    // `CPU_SET` writes within and `sched_setaffinity` only reads, for this thread (pid 0).
    unsafe {
        let cpu = libc::sched_getcpu();
        if cpu < 0 {
            return;
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Checks the options; `Err` is one sentence for the operator.
pub fn validate(members: u32, days: u32) -> Result<(), String> {
    if members == 0 {
        return Err("--members must be at least 1 (try --members 50)".into());
    }
    if members > 1_000_000 {
        return Err("--members must be at most 1,000,000".into());
    }
    if days == 0 || days > 366 {
        return Err("--days must be between 1 and 366".into());
    }
    Ok(())
}

/// The profile to run: the shipped defaults, with `path` over them if given, and how the
/// report names it (the file's name and the SHA-256 of its text). `Err` is what to print,
/// one problem per item.
pub fn load_profile(
    path: Option<&std::path::Path>,
) -> Result<(Profile, report::ProfileUsed), Vec<String>> {
    use sha2::{Digest, Sha256};
    let shown = |d: Vec<crate::diagnostic::Diagnostic>| -> Vec<String> {
        d.iter().map(|d| d.to_string()).collect()
    };
    let used = |name: String, src: &str| report::ProfileUsed {
        name,
        sha256: Sha256::digest(src.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    let Some(path) = path else {
        let p = Profile::builtin().map_err(shown)?;
        return Ok((p, used("built-in".into(), profile::DEFAULT)));
    };
    let src = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("error: cannot read {}: {e}", path.display())])?;
    let p = Profile::load(path, &src).map_err(shown)?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    Ok((p, used(name, &src)))
}

/// Runs the simulation; exit 0 with a report, 1 on an error, 2 on bad options.
pub async fn run(opts: SimOptions) -> ExitCode {
    if let Err(e) = validate(opts.members, opts.days) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    // Where the report goes is checked before a run that may take an hour.
    for (flag, path) in [("--json", &opts.json), ("--png", &opts.png)] {
        if let Some(dir) = path.as_deref().and_then(std::path::Path::parent)
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            eprintln!(
                "error: {flag}: the directory {} does not exist",
                dir.display()
            );
            return ExitCode::from(2);
        }
    }
    let (profile, used) = match load_profile(opts.profile.as_deref()) {
        Ok(p) => p,
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    match simulate(&opts, &profile, &stop).await {
        Ok(mut report) => {
            report.profile = used;
            print!("{}", report.text());
            if let Some(path) = &opts.json {
                let json = match serde_json::to_string_pretty(&report) {
                    Ok(j) => j,
                    Err(e) => {
                        eprintln!("error: cannot write the report: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                if let Err(e) = std::fs::write(path, json + "\n") {
                    eprintln!("error: cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if let Some(path) = &opts.png {
                let written = chart::png(&report)
                    .and_then(|png| std::fs::write(path, png).map_err(anyhow::Error::from));
                if let Err(e) = written {
                    eprintln!("error: cannot write {}: {e:#}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A person's action waits in this queue: (virtual ms, sequence, person).
type Queue = BinaryHeap<Reverse<(i64, u64, usize)>>;

struct Sim {
    people: Vec<Person>,
    by_chat: HashMap<ChatId, usize>,
    rng: Rng,
    queue: Queue,
    seq: u64,
    next_update: i64,
    next_query: u64,
    start: DateTime<Utc>,
    obs: Observed,
    profile: Profile,
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
    fn act(&mut self, who: usize, now: DateTime<Utc>) -> Option<Incoming> {
        self.people[who].wake_pending = false;
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
        } else {
            has("Yes, I feel safe")
                .or_else(|| has("Carry on"))
                .or_else(|| has("None of these"))
                .or_else(|| has("Skip"))
                .or_else(|| has("Fairly good"))
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

    /// A call reached a person: remember keyboards and links, time replies, decide what
    /// they will do and when.
    fn seen(&mut self, s: telegram::Seen) {
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
                if let Some(t) = self.people[who].awaiting.take() {
                    let local = t.with_timezone(&self.people[who].tz);
                    self.obs
                        .reply_latency
                        .push((local, (now - t).num_milliseconds()));
                }
                if !buttons.is_empty() {
                    let flat: Vec<_> = buttons.iter().flatten().cloned().collect();
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

/// Times a member taps on the onboarding keyboard (`ask_first_time`); any other time is
/// typed. The keyboard also offers 13:00, but a member wanting 13:00 types it, as in the
/// first version of the cohort, so the default profile's reports stay the same seed for seed.
const TIME_BUTTONS: [&str; 2] = ["09:00", "19:00"];

/// Builds the cohort: members first (chats 1..), then their supporters.
fn cohort(members: u32, rng: &mut Rng, start: DateTime<Utc>, days: i64, profile: &Profile) -> Sim {
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
        people[m].plan = k > 0 && rng.chance(profile.circle.plan);
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
                Step::Press("Just tell them".into()),
            ]);
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
        p.script = script.into();
        // Everyone joins during the first day (by default between 08:00 and 20:00).
        let join = sim
            .rng
            .range(0.0, profile.onboarding.join_spread_hours * 3600.0);
        sim.at(m, start + ms(join));
    }
    sim
}

async fn simulate(
    opts: &SimOptions,
    profile: &Profile,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    let wall = std::time::Instant::now();
    let start = start_time();
    let end = start + chrono::Duration::days(opts.days as i64);
    let world = Machinery::build(
        WorldOptions {
            db: opts.db.clone(),
            dialogs_dir: &opts.dialogs_dir,
            start,
            reminder_minutes: opts.reminder_minutes,
            outbox: OutboxSettings::default(),
        },
        |clock, _| SimTelegram::new(clock.clone()),
    )
    .await?;
    let net = world.delivery.messenger.clone();
    let mut pacer = Pacer::new(world.delivery.settings.clone());
    let mut rng = Rng::new(opts.seed);
    let mut sim = cohort(opts.members, &mut rng, start, opts.days as i64, profile);
    let mut interrupted = false;
    let mut steps: u64 = 0;
    // Wall seconds spent: storing inputs, processing, the scheduler, delivery, the rest.
    let mut spent = [0.0f64; 5];
    // When the scheduler next has something to do (schedules, slots, escalations, asks).
    let mut due = world.store.next_due().await?;
    // Until when a due time the scheduler could not settle is left for the next minute.
    let mut held: Option<DateTime<Utc>> = None;
    // When the outbox next has something to send (from the last delivery round).
    let mut wake: Option<DateTime<Utc>> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        steps += 1;
        let now = world.clock.now();
        let mut batch = Vec::new();
        while let Some(Reverse((t, _, who))) = sim.queue.peek().copied() {
            if t > now.timestamp_millis() {
                break;
            }
            sim.queue.pop();
            if let Some(inc) = sim.act(who, now) {
                batch.push(inc);
            }
        }
        let mut lap = std::time::Instant::now();
        let mut split = |name: usize, lap: &mut std::time::Instant| {
            let t = std::time::Instant::now();
            spent[name] += (t - *lap).as_secs_f64();
            *lap = t;
        };
        if !batch.is_empty() {
            sim.obs.inputs += batch.len() as u64;
            world
                .store
                .save_updates(&batch, sim.next_update + 1, now)
                .await?;
        }
        split(0, &mut lap);
        let mut processed = 0;
        loop {
            let n = world.processor.process_batch().await?;
            processed += n;
            // A short batch was all there was (nothing else stores updates meanwhile).
            if n < crate::worker::inbox::BATCH {
                break;
            }
        }
        split(1, &mut lap);
        // What processing changed may be due now; otherwise the last step's answer stands.
        if processed > 0 {
            due = world.store.next_due().await?;
        }
        // As `Scheduler::run` does: something the last tick left due (it could not settle it
        // yet) is tried again at the next minute's tick, not at every step.
        if let Some(h) = held
            && now < h
            && due.is_some_and(|t| t <= now)
        {
            due = Some(h);
        }
        let ticked = due.is_some_and(|t| t <= now);
        if ticked {
            world.scheduler.tick(now).await?;
            due = world.store.next_due().await?;
            held = None;
            if due.is_some_and(|t| t <= now) {
                sim.obs.ticks_left_due += 1;
                held = Some(now + crate::scheduler::TICK_EVERY);
                due = held;
            }
        }
        split(2, &mut lap);
        // Nothing new queued and nothing waiting due: the outbox has nothing to send yet.
        if processed > 0 || ticked || wake.is_none_or(|w| w <= now) {
            wake = world.delivery.deliver_paced(&mut pacer).await?.1;
        }
        split(3, &mut lap);
        for s in net.take() {
            sim.seen(s);
        }
        let next = [
            sim.queue
                .peek()
                .and_then(|Reverse((t, _, _))| DateTime::from_timestamp_millis(*t)),
            due,
            wake,
        ]
        .into_iter()
        .flatten()
        .min();
        split(4, &mut lap);
        let Some(next) = next else { break };
        // Never stand still: something due now that nothing could move waits a second.
        let next = if next <= now {
            now + chrono::Duration::seconds(1)
        } else {
            next
        };
        if next >= end {
            break;
        }
        if steps.is_multiple_of(100_000) {
            pacer.forget_idle(now);
        }
        world.clock.set(next);
    }
    let at = if interrupted { world.clock.now() } else { end };
    if !interrupted {
        // Whatever closes by the end closes: every due slot gets its outcome.
        world.clock.set(at);
        while world.processor.process_batch().await? > 0 {}
        world.scheduler.tick(at).await?;
        world.delivery.deliver_paced(&mut pacer).await?;
        for s in net.take() {
            sim.seen(s);
        }
    }
    let report = report::build(
        &world.store,
        &net,
        &sim,
        opts,
        start,
        at,
        interrupted,
        steps,
        wall,
        spent,
    )
    .await?;
    world.store.close().await;
    Ok(report)
}
