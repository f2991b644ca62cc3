//! A soak of the real `staywell serve` process against the fake Bot API: many people pressing
//! what they are offered, `kill -9` at random moments (sometimes straight after a burst of
//! updates), restarts on the same database, then a drain and the promises checked as Telegram
//! and the people would see them (issue 20):
//!
//! - the global limit as Telegram counts it: no sliding second with more than 30 paced calls;
//! - every press answered (its `answerCallbackQuery` reached Telegram);
//! - nobody left waiting on a question they never received;
//! - the tidy backlog drained, and what a completed check-in costs in paced calls;
//! - nothing lost or doubled: every update stored once and processed, no answer stored twice,
//!   every completed check-in with all its answer rows, no chat sent more messages than the bot decided.
//!
//! Every figure is printed before anything is asserted (`-- --nocapture` shows them).
//!
//! The short soak runs with the suite. The long one (the size issue 20 asks for):
//! `cargo test --release --test it soak -- --ignored --nocapture`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fake_telegram::{BOT_TOKEN, FakeTelegram, PACED_METHODS, sliding_window_violations};
use crate::helpers::{buttons, query_i64, spawn_process};

/// Telegram's global limit: messages per sliding second.
const GLOBAL_LIMIT: usize = 30;

/// How big a soak is and how its people behave.
struct Sizes {
    chats: usize,
    /// SIGKILLs (each followed by a restart on the same database).
    kills: usize,
    /// Keep going (after the kills) until this many updates were pushed, or `time_cap`.
    updates: usize,
    /// Between kills.
    kill_every: (Duration, Duration),
    /// Reading what arrived before acting on it.
    think: (Duration, Duration),
    /// Between one check-in and the next `/checkin`.
    rest: (Duration, Duration),
    /// How long someone waits for a reply before they try again (`/checkin`, or `/start`).
    patience: (Duration, Duration),
    /// People start within this long of the beginning.
    stagger: Duration,
    /// Stop pushing after this long even if `updates` was not reached (printed, not asserted).
    time_cap: Duration,
    /// How long the last process may take to drain its inbox and outbox.
    drain: Duration,
    seed: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_with_kills_keeps_every_promise() {
    soak(Sizes {
        chats: 40,
        kills: 10,
        updates: 900,
        kill_every: (ms(3_000), ms(6_000)),
        think: (ms(300), ms(2_000)),
        rest: (ms(2_000), ms(12_000)),
        patience: (ms(5_000), ms(10_000)),
        stagger: ms(3_000),
        time_cap: ms(60_000),
        drain: ms(120_000),
        seed: 20,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the long soak of issue 20 (about 10 minutes): run with --release -- --ignored"]
async fn a_long_soak_with_kills_keeps_every_promise() {
    soak(Sizes {
        chats: 200,
        kills: 100,
        updates: 10_000,
        kill_every: (ms(2_000), ms(8_000)),
        // 200 people at once: reading a question and choosing takes a few seconds, and
        // someone waits a while before asking again (at 0.3–2 s and 5–10 s, 200 people asked
        // for six times Telegram's limit and spent it on asking again: 32 updates/s, nobody
        // finished a check-in, the backlog took 193 s to drain).
        think: (ms(1_000), ms(6_000)),
        rest: (ms(60_000), ms(140_000)),
        patience: (ms(20_000), ms(40_000)),
        stagger: ms(60_000),
        time_cap: ms(1_800_000),
        drain: ms(600_000),
        seed: 2020,
    })
    .await;
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- the people --------------------------------------------------------------------------

/// xorshift64*: seeded, small, good enough to pick buttons.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn between(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        let span = hi.saturating_sub(lo).as_millis() as u64;
        lo + Duration::from_millis(self.next() % (span + 1))
    }
}

/// What a person sees: the latest message in their chat, as it is now.
#[derive(Clone, PartialEq)]
struct Seen {
    count: usize,
    message_id: i64,
    text: String,
    markup: Option<Value>,
}

struct Person {
    chat: i64,
    started: bool,
    seen: Option<Seen>,
    /// When what they see last changed (or they started).
    changed_at: Instant,
    /// How long they look at it before acting.
    wait: Duration,
    /// They acted and nothing has changed since.
    awaiting: bool,
    acted_at: Instant,
    patience: Duration,
}

/// What a person does next.
enum Act {
    Press { message_id: i64, data: String },
    Type(String),
}

/// Callback data that leads away from the daily routine, never pressed: declining consent,
/// "another timezone/time" (typed answers we don't model), "later", deleting, stopping.
fn leads_away(data: &str) -> bool {
    data == "consent:no"
        || data == "tz:other"
        || data == "ct:other"
        || data == "ck:no"
        || data.ends_with(".l")
        || data.contains("delete")
        || data.contains("stop")
}

/// Chooses what to do about `seen`, as someone who wants to get through their check-in:
/// mostly the first options, "yes" to consent, "not now" to schedules (a prompt arriving at a
/// wall-clock hour would make the run depend on when it runs), a typed name and sometimes
/// typed hours or a note; with nothing open, `/checkin` (`/start` before they are a member).
fn choose(seen: Option<&Seen>, member: bool, rng: &mut Rng) -> Act {
    let command = |member: bool| Act::Type(if member { "/checkin" } else { "/start" }.into());
    let Some(seen) = seen else {
        return command(false);
    };
    let live: Vec<(String, String)> = buttons(seen.markup.as_ref())
        .into_iter()
        .filter(|(_, data)| data != "done" && !leads_away(data))
        .collect();
    let press = |data: &str| Act::Press {
        message_id: seen.message_id,
        data: data.to_string(),
    };
    let find = |prefix: &str| live.iter().find(|(_, d)| d.starts_with(prefix));
    if live.is_empty() {
        if seen.text.starts_with("Type your city") {
            return Act::Type("Lisbon".into());
        }
        return command(member);
    }
    if let Some((_, d)) = find("consent:yes") {
        return press(d);
    }
    if let Some((_, d)) = find("name:tg") {
        return if rng.chance(70) {
            Act::Type(["Sam", "Alex", "Jo", "Kit"][rng.below(4)].into())
        } else {
            press(d)
        };
    }
    for prefix in ["tz:london", "tz:is:", "ct:none", "ow:none", "ck:again"] {
        if let Some((_, d)) = find(prefix) {
            return press(d);
        }
    }
    let action = |d: &str| d.rsplit('.').next().unwrap_or("").to_string();
    let checkin: Vec<&(String, String)> = live.iter().filter(|(_, d)| d.starts_with('q')).collect();
    if checkin.is_empty() {
        return press(&live[0].1);
    }
    let toggles: Vec<&&(String, String)> = checkin
        .iter()
        .filter(|(_, d)| action(d).starts_with('t'))
        .collect();
    if !toggles.is_empty() {
        // Several choices, then Done: tick one ("None of these", last, most often).
        let ticked = toggles.iter().any(|(label, _)| label.starts_with('✓'));
        if let Some((_, done)) = checkin.iter().find(|(_, d)| action(d) == "d")
            && ticked
        {
            return press(done);
        }
        let pick = if rng.chance(60) {
            toggles.len() - 1
        } else {
            rng.below(toggles.len())
        };
        return press(&toggles[pick].1);
    }
    let answers: Vec<&&(String, String)> =
        checkin.iter().filter(|(_, d)| action(d) != "s").collect();
    let skip = checkin.iter().find(|(_, d)| action(d) == "s");
    if answers.is_empty() {
        // A typed question (hours, a note) with only Skip under it.
        if seen.text.contains("hours") && rng.chance(70) {
            return Act::Type(format!("{}", 5 + rng.below(5)));
        }
        if !seen.text.contains("hours") && rng.chance(35) {
            return Act::Type("Walked to the shop and had a cup of tea.".into());
        }
        return press(&skip.map_or(&checkin[0].1, |(_, d)| d).to_string());
    }
    let scale = answers
        .iter()
        .all(|(label, _)| label.parse::<u32>().is_ok());
    if scale {
        // Mostly a middling-to-good day; now and then a low one (the safety questions).
        let value = if rng.chance(85) {
            5 + rng.below(5)
        } else {
            rng.below(4)
        };
        let pick = answers
            .iter()
            .find(|(label, _)| label.parse::<usize>().ok() == Some(value))
            .unwrap_or(&answers[0]);
        return press(&pick.1);
    }
    let pick = if rng.chance(70) {
        0
    } else {
        rng.below(answers.len())
    };
    press(&answers[pick].1)
}

// ---- the run ---------------------------------------------------------------------------

/// One update pushed by a person.
struct Pushed {
    update_id: i64,
    chat: i64,
    at: Instant,
    /// The callback query id of a press.
    press: Option<String>,
}

async fn soak(sizes: Sizes) {
    let began = Instant::now();
    let fake = FakeTelegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("staywell.db");
    let mut rng = Rng::new(sizes.seed);
    let mut bot = spawn_process(&fake, dir.path(), None);

    let mut people: Vec<Person> = (0..sizes.chats)
        .map(|i| {
            let start = rng.between((Duration::ZERO, sizes.stagger));
            Person {
                chat: 5_000 + i as i64,
                started: false,
                seen: None,
                changed_at: began,
                wait: start,
                awaiting: false,
                acted_at: began,
                patience: rng.between(sizes.patience),
            }
        })
        .collect();
    let mut members: HashSet<i64> = HashSet::new();
    let mut pushed: Vec<Pushed> = Vec::new();
    let mut kills = 0;
    let mut bursts = 0;
    let mut next_kill = Instant::now() + rng.between(sizes.kill_every);
    let mut capped = false;
    // The process exited on its own (found dead at a kill, or at the end).
    let mut crashes: Vec<String> = Vec::new();
    // People about to send /checkin or /start (they gave up waiting, or see nothing to
    // answer) while the database has them on a question they were not offered and nothing is
    // on its way to them.
    let mut left_waiting: Vec<String> = Vec::new();
    let mut pool: Option<sqlx::SqlitePool> = None;
    let mut restarts: Vec<Instant> = Vec::new();

    loop {
        let now = Instant::now();
        if kills >= sizes.kills && pushed.len() >= sizes.updates {
            break;
        }
        if now.duration_since(began) >= sizes.time_cap {
            capped = true;
            break;
        }
        let latest = fake.latest_to_each_chat();
        // (person, whether they gave up waiting for a reply)
        let mut acting: Vec<(usize, bool)> = Vec::new();
        for (i, p) in people.iter_mut().enumerate() {
            let seen = latest.get(&p.chat).map(|(count, id, text, markup)| Seen {
                count: *count,
                message_id: *id,
                text: text.clone(),
                markup: markup.clone(),
            });
            if seen != p.seen {
                p.seen = seen;
                p.changed_at = now;
                p.awaiting = false;
                p.wait = rng.between(sizes.think);
                // Between check-ins, people get on with their day.
                let idle = p.seen.as_ref().is_some_and(|s| {
                    buttons(s.markup.as_ref())
                        .iter()
                        .all(|(_, d)| d == "done" || leads_away(d))
                });
                if idle && p.started && members.contains(&p.chat) {
                    p.wait = rng.between(sizes.rest);
                }
            }
            let ready = if p.awaiting {
                now.duration_since(p.acted_at) >= p.patience
            } else {
                now.duration_since(p.changed_at) >= p.wait
            };
            if ready {
                acting.push((i, p.awaiting));
            }
        }
        // Now and then, a burst of people at once and then the kill straight after it.
        let kill_now = now >= next_kill;
        if kill_now && rng.chance(35) {
            bursts += 1;
            // Whatever they see, even while waiting for a reply (a double tap).
            for _ in 0..(sizes.chats / 4).max(3) {
                acting.push((rng.below(people.len()), false));
            }
        }
        acting.sort_unstable();
        acting.dedup_by_key(|(i, _)| *i);
        for (i, gave_up) in acting {
            let p = &mut people[i];
            let act = if gave_up {
                // Nothing came back: ask again where they are.
                let cmd = if members.contains(&p.chat) {
                    "/checkin"
                } else {
                    "/start"
                };
                Act::Type(cmd.into())
            } else {
                choose(p.seen.as_ref(), members.contains(&p.chat), &mut rng)
            };
            // About to ask again where they are: were they left waiting?
            if let Act::Type(text) = &act
                && p.started
                && (text == "/checkin" || text == "/start")
                && let Some(why) = stranded(&db, &mut pool, &fake, p.chat).await
            {
                left_waiting.push(why);
            }
            let (update_id, press) = match act {
                Act::Press { message_id, data } => {
                    if data.starts_with("consent:yes") {
                        members.insert(p.chat);
                    }
                    let id = fake.push_callback(p.chat, p.chat, message_id, &data);
                    (id, Some(format!("cq{id}")))
                }
                Act::Type(text) => (fake.push_text(p.chat, &text), None),
            };
            pushed.push(Pushed {
                update_id,
                chat: p.chat,
                at: Instant::now(),
                press,
            });
            p.started = true;
            p.awaiting = true;
            p.acted_at = Instant::now();
            p.patience = rng.between(sizes.patience);
        }
        if kill_now {
            tokio::time::sleep(ms(rng.below(40) as u64)).await;
            if let Ok(Some(status)) = bot.child.try_wait() {
                crashes.push(format!("{status}"));
            }
            bot.kill_hard().await;
            kills += 1;
            bot = spawn_process(&fake, dir.path(), None);
            restarts.push(Instant::now());
            next_kill = Instant::now() + rng.between(sizes.kill_every);
        }
        tokio::time::sleep(ms(50)).await;
    }
    let pushing = began.elapsed();

    // Stop pushing; the last process finishes what is queued.
    let drained = drain(&fake, &db, sizes.drain).await;
    let mut report = Report::gather(&fake, &db, &pushed).await;
    if let Ok(Some(status)) = bot.child.try_wait() {
        crashes.push(format!("{status}"));
    } else {
        let status = bot.terminate().await;
        if !status.success() {
            crashes.push(format!("{status} on SIGTERM"));
        }
    }
    report.crashes = crashes;
    report.left_waiting_during = left_waiting;
    report.patience = sizes.patience;
    // Violations of arrivals at least 2 s after the latest restart: not only the restart.
    let arrivals = fake.paced_arrivals();
    let over = over_limit(&arrivals, GLOBAL_LIMIT, Duration::from_secs(1));
    report.violations_settled = arrivals
        .iter()
        .zip(&over)
        .filter(|(at, over)| {
            **over
                && restarts
                    .iter()
                    .rev()
                    .find(|r| *r <= *at)
                    .is_none_or(|r| at.duration_since(*r) >= Duration::from_secs(2))
        })
        .count();
    if let Some(pool) = pool {
        pool.close().await;
    }

    println!("\n== soak: {} chats, seed {} ==", sizes.chats, sizes.seed);
    println!(
        "pushed {} updates ({} presses) in {:.0?} ({:.1} updates/s){}; {} kills ({} straight after a burst); drained: {} after {:.0?}; wall time {:.0?}",
        pushed.len(),
        report.presses,
        pushing,
        pushed.len() as f64 / pushing.as_secs_f64(),
        if capped {
            ", stopped at the time cap"
        } else {
            ""
        },
        kills,
        bursts,
        drained.is_ok(),
        began.elapsed() - pushing,
        began.elapsed(),
    );
    let failures = report.print_and_judge(drained);
    assert!(
        failures.is_empty(),
        "the soak broke {} promise(s):\n  {}\n(stderr logs of each process were in {})",
        failures.len(),
        failures.join("\n  "),
        dir.path().display(),
    );
}

/// Waits until Telegram has handed out every update, the inbox is processed and no outbox
/// row is pending or in flight. `Err` with what was left when `timeout` passed.
async fn drain(fake: &FakeTelegram, db: &Path, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let undelivered = fake.undelivered();
        let inbox = query_i64(db, "SELECT count(*) FROM inbox WHERE processed_at IS NULL").await;
        let outbox = query_i64(
            db,
            "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')",
        )
        .await;
        if undelivered == 0 && inbox == 0 && outbox == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{undelivered} update(s) not fetched, {inbox} inbox row(s) unprocessed, {outbox} outbox row(s) pending or sending"
            ));
        }
        tokio::time::sleep(ms(250)).await;
    }
}

// ---- the figures -----------------------------------------------------------------------

#[derive(Default)]
struct Report {
    violations: usize,
    worst_second: usize,
    worst_800ms: usize,
    presses: usize,
    answered: usize,
    answered_twice: usize,
    answered_late: usize,
    unanswered: Vec<String>,
    waiting: usize,
    waiting_with_question: usize,
    left_waiting: Vec<String>,
    outbox_states: Vec<(String, i64)>,
    edits: usize,
    paced_calls: usize,
    completed: i64,
    onboarded: i64,
    pushed: usize,
    stored: usize,
    missing: Vec<i64>,
    unprocessed: Vec<i64>,
    set_aside: usize,
    doubled_answers: i64,
    short_sessions: Vec<String>,
    said_twice: Vec<String>,
    crashes: Vec<String>,
    left_waiting_during: Vec<String>,
    patience: (Duration, Duration),
    violations_settled: usize,
}

impl Report {
    async fn gather(fake: &FakeTelegram, db: &Path, pushed: &[Pushed]) -> Report {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let mut r = Report::default();
        let requests = fake.requests();

        // The global limit, as Telegram counts it.
        let arrivals = fake.paced_arrivals();
        (r.violations, r.worst_second) =
            sliding_window_violations(&arrivals, GLOBAL_LIMIT, Duration::from_secs(1));
        r.worst_800ms = sliding_window_violations(&arrivals, GLOBAL_LIMIT, ms(800)).1;
        r.paced_calls = arrivals.len();
        r.edits = requests
            .iter()
            .filter(|q| q.method.starts_with("editmessage"))
            .count();
        debug_assert!(PACED_METHODS.contains(&"editmessagereplymarkup"));

        // Every press answered: its answerCallbackQuery reached Telegram (whatever the process
        // did next), and when.
        let mut answers: HashMap<&str, Vec<Instant>> = HashMap::new();
        for q in requests
            .iter()
            .filter(|q| q.method == "answercallbackquery")
        {
            if let Some(id) = q.body.get("callback_query_id").and_then(Value::as_str) {
                answers.entry(id).or_default().push(q.at);
            }
        }
        for p in pushed {
            let Some(id) = &p.press else { continue };
            r.presses += 1;
            match answers.get(id.as_str()) {
                Some(at) => {
                    r.answered += 1;
                    r.answered_twice += usize::from(at.len() > 1);
                    // Telegram stops accepting an answer after about 15 s.
                    r.answered_late += usize::from(at[0].duration_since(p.at) > ms(15_000));
                }
                None => r.unanswered.push(format!("{id} (chat {})", p.chat)),
            }
        }

        // Nobody left waiting: whoever the database says is on a question was offered it.
        let started: HashSet<i64> = pushed.iter().map(|p| p.chat).collect();
        for chat in started {
            if let Some((what, question)) = question_of(&pool, chat).await {
                r.waiting += 1;
                if offered(fake, chat, &question) {
                    r.waiting_with_question += 1;
                } else {
                    r.left_waiting.push(format!("chat {chat}: {what}"));
                }
            }
        }
        let sent = fake.sent();

        // The backlog and what a check-in costs.
        r.outbox_states = sqlx::query_as(
            "SELECT state || ' ' || json_extract(payload, '$.type'), count(*) FROM outbox
             GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        r.completed = query_one(
            &pool,
            "SELECT count(*) FROM sessions WHERE status = 'completed'",
        )
        .await;
        r.onboarded = query_one(
            &pool,
            "SELECT count(*) FROM members WHERE onboarding = 'done'",
        )
        .await;

        // Nothing lost or doubled.
        let inbox: Vec<(i64, Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT update_id, processed_at, error FROM inbox")
                .fetch_all(&pool)
                .await
                .unwrap();
        let inbox: HashMap<i64, (Option<i64>, Option<String>)> = inbox
            .into_iter()
            .map(|(id, at, error)| (id, (at, error)))
            .collect();
        r.pushed = pushed.len();
        for p in pushed {
            match inbox.get(&p.update_id) {
                None => r.missing.push(p.update_id),
                Some((None, _)) => r.unprocessed.push(p.update_id),
                Some((Some(_), error)) => {
                    r.stored += 1;
                    r.set_aside += usize::from(error.is_some());
                }
            }
        }
        r.doubled_answers = query_one(
            &pool,
            "SELECT count(*) FROM (SELECT 1 FROM answers GROUP BY session_id, step_id
             HAVING count(*) > 1)",
        )
        .await;
        // A completed check-in has a row for every question (answered, skipped or not shown)
        // and every computed value: all completed sessions of one dialog version alike.
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT s.dialog_id, s.dialog_version, s.id, count(a.id) FROM sessions s
             LEFT JOIN answers a ON a.session_id = s.id
             WHERE s.status = 'completed' GROUP BY s.id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut full: HashMap<(String, i64), i64> = HashMap::new();
        for (dialog, version, _, n) in &rows {
            let e = full.entry((dialog.clone(), *version)).or_default();
            *e = (*e).max(*n);
        }
        for (dialog, version, session, n) in &rows {
            let want = full[&(dialog.clone(), *version)];
            if *n < want {
                r.short_sessions
                    .push(format!("session {session} ({dialog}): {n} of {want} rows"));
            }
        }
        // No message said twice: Telegram received no more messages in a chat than the bot
        // decided to send there and may have sent (outbox rows `sent`, or `ambiguous`: cut off
        // by a kill after the request left), apart from repeats marked "in case this didn't
        // arrive". (Payloads are erased once delivered, so this counts calls, not texts.)
        let decided: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT chat_id, count(*) FROM outbox WHERE json_extract(payload, '$.type') = 'message'
             AND state IN ('sent', 'ambiguous') GROUP BY chat_id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let decided: HashMap<i64, i64> = decided.into_iter().collect();
        let mut received: HashMap<i64, i64> = HashMap::new();
        for s in sent.iter().filter(|s| !s.text.starts_with("(Sent again")) {
            *received.entry(s.chat_id).or_default() += 1;
        }
        for (chat, n) in &received {
            let want = decided.get(chat).copied().unwrap_or(0);
            if *n > want {
                r.said_twice
                    .push(format!("chat {chat}: {n} messages, {want} decided"));
            }
        }
        pool.close().await;
        r
    }

    /// Prints every figure, then returns the promises broken.
    fn print_and_judge(&self, drained: Result<(), String>) -> Vec<String> {
        let per_checkin = if self.completed > 0 {
            format!("{:.1}", self.paced_calls as f64 / self.completed as f64)
        } else {
            "-".into()
        };
        let states: Vec<String> = self
            .outbox_states
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let outbox = |state: &str| -> i64 {
            self.outbox_states
                .iter()
                .filter(|(s, _)| s.split(' ').next() == Some(state))
                .map(|(_, n)| *n)
                .sum()
        };
        println!(
            "global limit: {} arrival(s) over {GLOBAL_LIMIT} in the second before them ({} of them 2 s or more after a restart); worst second {} calls (worst 0.8 s: {})",
            self.violations, self.violations_settled, self.worst_second, self.worst_800ms
        );
        println!(
            "presses: {} pushed, {} answered ({} unanswered, {} answered twice, {} answered more than 15 s after the press)",
            self.presses,
            self.answered,
            self.unanswered.len(),
            self.answered_twice,
            self.answered_late
        );
        println!(
            "waiting on a question: {} member(s) or newcomer(s), {} of them offered it ({} left waiting)",
            self.waiting,
            self.waiting_with_question,
            self.left_waiting.len()
        );
        println!(
            "left waiting during the run: {} time(s) someone (after thinking, or {:?}–{:?} of waiting) saw no question, had nothing on its way, and was on one the bot never showed them",
            self.left_waiting_during.len(),
            self.patience.0,
            self.patience.1,
        );
        println!(
            "backlog: {}; {} pending/sending at the end",
            match &drained {
                Ok(()) => "drained".to_string(),
                Err(left) => format!("NOT drained ({left})"),
            },
            outbox("pending") + outbox("sending")
        );
        println!(
            "calls: {} paced (sendMessage, edits, photos, documents), {} of them edits; {} check-ins completed, {} people onboarded; {per_checkin} paced calls per completed check-in (onboarding included)",
            self.paced_calls, self.edits, self.completed, self.onboarded
        );
        println!("outbox by state: {}", states.join(", "));
        println!(
            "updates: {} pushed, {} stored and processed ({} set aside), {} missing, {} unprocessed; {} question(s) with two answers; {} completed check-in(s) short of answer rows; {} chat(s) sent more messages than decided",
            self.pushed,
            self.stored,
            self.set_aside,
            self.missing.len(),
            self.unprocessed.len(),
            self.doubled_answers,
            self.short_sessions.len(),
            self.said_twice.len()
        );
        println!(
            "the process exited on its own {} time(s) {:?}",
            self.crashes.len(),
            self.crashes
        );
        let some = |v: &[String]| v.iter().take(8).cloned().collect::<Vec<_>>().join("; ");
        let mut failures = Vec::new();
        let mut fail = |broken: bool, what: String| {
            if broken {
                failures.push(what);
            }
        };
        fail(
            self.violations > 0,
            format!(
                "{} arrival(s) went over {GLOBAL_LIMIT} a sliding second (worst {})",
                self.violations, self.worst_second
            ),
        );
        fail(
            !self.unanswered.is_empty(),
            format!(
                "{} press(es) never answered: {}",
                self.unanswered.len(),
                some(&self.unanswered)
            ),
        );
        fail(
            self.answered_late > 0,
            format!(
                "{} press(es) answered more than 15 s after the press (the spinner had long given up)",
                self.answered_late
            ),
        );
        fail(
            !self.left_waiting.is_empty(),
            format!(
                "{} left waiting on a question they never received: {}",
                self.left_waiting.len(),
                some(&self.left_waiting)
            ),
        );
        fail(
            !self.left_waiting_during.is_empty(),
            format!(
                "{} time(s) someone was left waiting during the run: {}",
                self.left_waiting_during.len(),
                some(&self.left_waiting_during)
            ),
        );
        fail(
            drained.is_err() || outbox("pending") + outbox("sending") > 0,
            format!("the backlog did not drain: {drained:?}"),
        );
        fail(
            !self.missing.is_empty() || !self.unprocessed.is_empty(),
            format!(
                "updates lost: missing {:?}, unprocessed {:?}",
                &self.missing[..self.missing.len().min(8)],
                &self.unprocessed[..self.unprocessed.len().min(8)]
            ),
        );
        fail(
            self.doubled_answers > 0,
            format!("{} question(s) answered twice", self.doubled_answers),
        );
        fail(
            !self.short_sessions.is_empty(),
            format!("answers lost: {}", some(&self.short_sessions)),
        );
        fail(
            !self.said_twice.is_empty(),
            format!(
                "{} chat(s) got more messages than the bot decided to send: {}",
                self.said_twice.len(),
                some(&self.said_twice)
            ),
        );
        fail(
            !self.crashes.is_empty(),
            format!("the process crashed: {:?}", self.crashes),
        );
        failures
    }
}

/// For each arrival (sorted), whether the window ending at it held more than `limit`.
fn over_limit(arrivals: &[Instant], limit: usize, window: Duration) -> Vec<bool> {
    let mut start = 0;
    let mut over = Vec::with_capacity(arrivals.len());
    for (i, at) in arrivals.iter().enumerate() {
        while at.duration_since(arrivals[start]) >= window {
            start += 1;
        }
        over.push(i - start + 1 > limit);
    }
    over
}

/// A person who gave up waiting for a reply: `Some` (what they were on) if nothing is on its
/// way to their chat (no outbox row pending or sending) and the question the database has them
/// on is not what they were offered — the conversation did not recover by itself.
async fn stranded(
    db: &Path,
    pool: &mut Option<sqlx::SqlitePool>,
    fake: &FakeTelegram,
    chat: i64,
) -> Option<String> {
    if pool.is_none() {
        *pool = Some(
            sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap(),
        );
    }
    let pool = pool.as_ref()?;
    // The question first: anything processed after this read has rows pending below.
    let (what, question) = question_of(pool, chat).await?;
    let on_its_way: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE chat_id = ? AND state IN ('pending', 'sending')",
    )
    .bind(chat)
    .fetch_one(pool)
    .await
    .unwrap();
    (on_its_way == 0 && !offered(fake, chat, &question)).then(|| format!("chat {chat}: {what}"))
}

/// What someone is being asked, as the database has it.
enum Question {
    /// A keyboard whose buttons' callback data starts so.
    Buttons(String),
    /// A question without buttons, by the start of its text.
    Text(&'static str),
}

/// The question `chat` is on, per the database (its open check-in's current question, its
/// onboarding step, or consent for someone not a member yet), described; `None` if none.
async fn question_of(pool: &sqlx::SqlitePool, chat: i64) -> Option<(String, Question)> {
    let member: Option<(i64, String)> =
        sqlx::query_as("SELECT id, onboarding FROM members WHERE chat_id = ?")
            .bind(chat)
            .fetch_optional(pool)
            .await
            .unwrap();
    let Some((member, step)) = member else {
        return Some(("consent".into(), Question::Buttons("consent:yes".into())));
    };
    let question = match step.as_str() {
        "done" => None,
        "name" => Some(Question::Buttons("name:tg".into())),
        "timezone" => Some(Question::Buttons("tz:london".into())),
        "timezone_other" => Some(Question::Text("Type your city")),
        "checkin_time" => Some(Question::Buttons("ct:".into())),
        other => panic!("unknown onboarding step {other}"),
    };
    if let Some(q) = question {
        return Some((format!("onboarding step {step}"), q));
    }
    let open: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, state FROM sessions WHERE member_id = ? AND status = 'active'
         AND expires_at > ? ORDER BY id DESC LIMIT 1",
    )
    .bind(member)
    .bind(chrono::Utc::now().timestamp_millis())
    .fetch_optional(pool)
    .await
    .unwrap();
    let (session, state) = open?;
    let state: Value = serde_json::from_str(&state).unwrap();
    let seq = state["seq"].as_u64().unwrap_or(0);
    Some((
        format!("check-in {session}, question seq {seq}"),
        Question::Buttons(format!("q{session}.{seq}.")),
    ))
}

/// Whether `chat` was offered `question`: the latest message with a keyboard carries its
/// buttons (messages without one after it, a crisis card or a "welcome back", don't hide it),
/// or for a question without buttons, the latest message is it.
fn offered(fake: &FakeTelegram, chat: i64, question: &Question) -> bool {
    let sent = fake.sent_to(chat);
    let now = |id: i64| fake.message(chat, id);
    match question {
        Question::Buttons(prefix) => sent
            .iter()
            .rev()
            .filter_map(|s| now(s.message_id))
            .find(|(_, markup)| markup.is_some())
            .is_some_and(|(_, markup)| {
                buttons(markup.as_ref())
                    .iter()
                    .any(|(_, d)| d.starts_with(prefix.as_str()))
            }),
        Question::Text(start) => sent
            .last()
            .and_then(|s| now(s.message_id))
            .is_some_and(|(text, _)| text.starts_with(start)),
    }
}

async fn query_one(pool: &sqlx::SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

// ---- the fake's counter ----------------------------------------------------------------

#[test]
fn the_sliding_window_counts_every_arrival_against_the_second_before_it() {
    let t0 = Instant::now();
    let at = |ms: &[u64]| -> Vec<Instant> {
        ms.iter().map(|m| t0 + Duration::from_millis(*m)).collect()
    };
    // 30 in a second is within the limit; the 31st inside the same second is one over.
    let thirty: Vec<u64> = (0..30).map(|i| i * 30).collect();
    assert_eq!(
        sliding_window_violations(&at(&thirty), 30, Duration::from_secs(1)),
        (0, 30)
    );
    let mut thirty_one = thirty.clone();
    thirty_one.push(950);
    assert_eq!(
        sliding_window_violations(&at(&thirty_one), 30, Duration::from_secs(1)),
        (1, 31)
    );
    // Two bursts of 20 that meet across a fixed second's edge (0.6–0.99 s and 1.0–1.39 s)
    // break a sliding second though no fixed second holds more than 20.
    let edge: Vec<u64> = (0..20)
        .map(|i| 600 + i * 20)
        .chain((0..20).map(|i| 1000 + i * 20))
        .collect();
    let (violations, worst) = sliding_window_violations(&at(&edge), 30, Duration::from_secs(1));
    assert_eq!(worst, 40);
    assert_eq!(violations, 10, "the 31st to the 40th arrival");
    // An arrival exactly a second after another no longer shares its window.
    assert_eq!(
        sliding_window_violations(&at(&[0, 1000]), 1, Duration::from_secs(1)),
        (0, 1)
    );
    assert_eq!(
        sliding_window_violations(&[], 30, Duration::from_secs(1)),
        (0, 0)
    );
}

/// One Bot API call to the fake over plain HTTP/1.1.
async fn call(fake: &FakeTelegram, method: &str, body: Value) {
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(fake.addr()).await.unwrap();
    let request = format!(
        "POST /bot{BOT_TOKEN}/{method} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fake.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200"), "{method}");
}

#[tokio::test]
async fn the_fake_counts_messages_and_edits_but_not_callback_answers_or_polls() {
    let fake = FakeTelegram::start().await;
    for i in 0..20 {
        call(
            &fake,
            "SendMessage",
            serde_json::json!({ "chat_id": 1, "text": format!("m{i}") }),
        )
        .await;
    }
    for (method, body) in [
        (
            "EditMessageText",
            serde_json::json!({ "chat_id": 1, "message_id": 1000, "text": "e" }),
        ),
        (
            "EditMessageReplyMarkup",
            serde_json::json!({ "chat_id": 1, "message_id": 1001 }),
        ),
    ] {
        for _ in 0..6 {
            call(&fake, method, body.clone()).await;
        }
    }
    for _ in 0..10 {
        call(
            &fake,
            "AnswerCallbackQuery",
            serde_json::json!({ "callback_query_id": "cq1" }),
        )
        .await;
        call(&fake, "GetUpdates", serde_json::json!({ "timeout": 0 })).await;
    }
    // 32 paced calls within ten seconds: the 31st and the 32nd are over a limit of 30.
    assert_eq!(fake.paced_arrivals().len(), 32);
    assert_eq!(fake.window_violations(30, Duration::from_secs(10)), (2, 32));
    assert_eq!(fake.window_violations(40, Duration::from_secs(10)), (0, 32));
}
